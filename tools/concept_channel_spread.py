#!/usr/bin/env python3
"""How many channels a trace's concepts spread over (the K study of docs/METHOD.md §3).

For every traced layer of each trace database given: the median, over the layer's concepts, of the
number of channels that hold 90 % of the concept vector's squared norm, and the largest cosine between
two concepts. A concept that lives on one channel is a neuron, not a decomposition: NMF with K close
to the channel count C finds (nearly) the channel basis, which is why its layers are rebuilt almost
exactly. Reads the stored banks (table concept_banks) with sqlite3 and NumPy only.

Usage: python3 tools/concept_channel_spread.py TRACE.sqlite [TRACE.sqlite ...]
"""
import sqlite3
import sys

import numpy as np


def spread(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = db.execute("SELECT l.name, b.concept_count, b.channels, b.vectors FROM concept_banks b "
                      "JOIN layers l USING(level) ORDER BY b.level").fetchall()
    out = []
    for name, k, c, blob in rows:
        v = np.frombuffer(blob, dtype="<f4").reshape(k, c).astype(np.float64)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)
        shares = np.sort(v ** 2, axis=1)[:, ::-1].cumsum(axis=1)
        channels = (shares < 0.9).sum(axis=1) + 1
        cosines = v @ v.T
        np.fill_diagonal(cosines, -np.inf)
        out.append((name, k, c, float(np.median(channels)), float(cosines.max()) if k > 1 else float("nan")))
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        layers = spread(path)
        print(path, " | ".join(f"K {k} of C {c}: {m:g} channels for 90 %, max cos {cos:.2f}" for _, k, c, m, cos in layers))


if __name__ == "__main__":
    main()
