#!/usr/bin/env python3
"""Peer for `gigtrace bench-trace-db`: the same aggregates (per-edge Σ, Σ², Σ|·|, active count,
over all images and per label / per prediction; concept→class per class only for its own class)
accumulated with numpy, written as the same rows through Python's sqlite3 in one transaction,
and read back. Prints the same fields as the Swift command."""
import argparse, os, sqlite3, tempfile, time
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--layers", type=int, default=4)
p.add_argument("--concepts", type=int, default=64)
p.add_argument("--classes", type=int, default=10)
p.add_argument("--images", type=int, default=200)
a = p.parse_args()
L, K, C, N = a.layers, a.concepts, a.classes, a.images
rng = np.random.default_rng(1)
src = [K + 1] + [K] * (L - 1)

def matrix(r, c):
    u = rng.random((r, c), dtype=np.float32)
    return np.where(u < 0.5, 0, 4 * u - 3).astype(np.float32)

traces = [([matrix(src[l], K) for l in range(L - 1)], [matrix(s, C) for s in src]) for _ in range(N)]

def new(shape):
    return [np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=np.int64)]

def add(acc, m):
    m = m.astype(np.float64)
    acc[0] += m; acc[1] += m * m; acc[2] += np.abs(m); acc[3] += (m != 0)

start = time.time()
layer = [{("all", -1): new((src[l], K))} for l in range(L - 1)]
klass = [{("all", -1): new((s, C))} for s in src]
for n, (edges, cls) in enumerate(traces):
    label, pred = n % C, (n * 7) % C
    for l, m in enumerate(edges):
        for g in [("all", -1), ("label", label), ("prediction", pred)]:
            add(layer[l].setdefault(g, new(m.shape)), m)
    for l, m in enumerate(cls):
        add(klass[l][("all", -1)], m)
        for g, c in [("label", label), ("prediction", pred)]:
            add(klass[l].setdefault((g, c), new((m.shape[0], 1))), m[:, c:c + 1])
add_ms = (time.time() - start) / N * 1000

path = os.path.join(tempfile.gettempdir(), f"bench-peer-{os.getpid()}.sqlite")
db = sqlite3.connect(path)
for t, col in [("edges", "dst"), ("class_edges", "class")]:
    db.execute(f"""CREATE TABLE {t}(src_level INTEGER NOT NULL, src INTEGER NOT NULL, {col} INTEGER NOT NULL,
        grouping TEXT NOT NULL, group_class INTEGER NOT NULL, n_active INTEGER NOT NULL, sum REAL NOT NULL,
        sum_sq REAL NOT NULL, sum_abs REAL NOT NULL,
        PRIMARY KEY (src_level, src, {col}, grouping, group_class)) WITHOUT ROWID""")
start = time.time()
rows = 0
with db:
    for t, levels in [("edges", layer), ("class_edges", klass)]:
        for l, groups in enumerate(levels):
            for (g, c), (s, s2, sa, cnt) in groups.items():
                first = c if (t == "class_edges" and g != "all") else 0
                q, r = np.nonzero(cnt)
                data = [(l, int(i), int(j) + first, g, c, int(cnt[i, j]), float(s[i, j]), float(s2[i, j]), float(sa[i, j]))
                        for i, j in zip(q, r)]
                db.executemany(f"INSERT INTO {t} VALUES (?,?,?,?,?,?,?,?,?)", data)
                rows += len(data)
checkpoint = time.time() - start
db.close()
start = time.time()
db = sqlite3.connect(path)
for t, col in [("edges", "dst"), ("class_edges", "class")]:
    for row in db.execute(f"SELECT src_level, src, {col}, grouping, group_class, n_active, sum, sum_sq, sum_abs FROM {t}"):
        pass
load = time.time() - start
size = os.path.getsize(path)
os.remove(path)
print(f"images={N} edge_rows={rows} add_ms_per_image={add_ms:.3f} checkpoint_s={checkpoint:.3f} load_s={load:.3f} file_mb={size / 1e6:.1f}")
