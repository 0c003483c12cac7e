#!/usr/bin/env python3
"""Benchmark of concept learning: our bisecting k-means / NMF / PCA vs scikit-learn, same data,
same run, two threads each (threadpoolctl for the peer, OPENBLAS_NUM_THREADS=2 for ours).

Data: N PFVs x C channels with planted non-negative structure (seeded): K0 sparse non-negative unit
atoms, each PFV a non-negative mix of 1-5 atoms plus |noise|; saved as raw little-endian float32.

Equal stopping rules:
  k-means  BisectingKMeans(init='k-means++', n_init=R, bisecting_strategy='biggest_inertia',
           max_iter=300, tol=1e-4, algorithm='lloyd')  vs ours restarts=R, 300 Lloyd iterations,
           tol 1e-4 x mean channel variance, stop on unchanged labels. Objective: SSE (inertia).
  NMF      NMF(solver='cd', init='nndsvd', tol=1e-4, max_iter=M, beta_loss='frobenius') vs ours:
           NNDSVD + HALS, same projected-gradient violation rule. Objective: ||X - UV||_F.
           --nmf-stop cap: both stop at tol or M iterations. --nmf-stop target: scikit-learn runs
           first (tol or M iterations); ours stops at tol, at --nmf-target-cap iterations, or as soon
           as its error is <= scikit-learn's (time to reach the peer's objective).
  PCA      PCA(n_components=K) (sklearn's own solver choice) vs ours (one syrk + dsyevr).
           Objective: explained variance of the K directions (higher is better), from each
           side's own solver and, for both sides' directions alike, re-measured in float64 here.
Usage:
  python3 tools/bench_concepts.py [--rows 100000 --cols 512 --k 256 --nmf-max-iter 200]
         [--binary .build/release/gigtrace-bench] [--methods kmeans,nmf,pca]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits


def make_data(path, n, c, atoms_k, seed):
    if path.exists() and path.stat().st_size == n * c * 4:
        return np.fromfile(path, dtype="<f4").reshape(n, c)
    rng = np.random.default_rng(seed)
    atoms = np.zeros((atoms_k, c), dtype=np.float64)
    for j in range(atoms_k):
        support = rng.choice(c, size=max(1, c // 16), replace=False)
        atoms[j, support] = rng.uniform(0.5, 1.5, support.size)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    active = rng.integers(1, 6, n)
    idx = rng.integers(0, atoms_k, (n, 5))
    weights = rng.uniform(0.5, 1.5, (n, 5)) * (np.arange(5)[None, :] < active[:, None])
    codes = np.zeros((n, atoms_k))
    np.add.at(codes, (np.repeat(np.arange(n), 5), idx.ravel()), weights.ravel())
    x = (codes @ atoms + 0.05 * np.abs(rng.standard_normal((n, c)))).astype("<f4")
    x.tofile(path)
    return x


def captured_variance(x, directions):
    """Sum over the rows v of `directions` of the variance of (x - mean) v, in float64, in chunks."""
    mean = x.mean(axis=0, dtype=np.float64)
    v = directions.astype(np.float64).T
    total = 0.0
    for start in range(0, x.shape[0], 10_000):
        proj = (x[start:start + 10_000].astype(np.float64) - mean) @ v
        total += float((proj * proj).sum())
    return total / (x.shape[0] - 1)


def ours(binary, path, args, method, nmf_target=0.0):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    max_iter = args.nmf_target_cap if nmf_target > 0 else args.nmf_max_iter
    cmd = [binary, "concepts", "--data", str(path), "--rows", str(args.rows), "--cols", str(args.cols),
           "--k", str(args.k), "--methods", method, "--restarts", str(args.restarts),
           "--nmf-max-iter", str(max_iter), "--tol", "1e-4", "--threads", "2",
           "--components-out", str(path) + ".ours", "--seed", str(args.model_seed)]
    if nmf_target > 0:
        cmd += ["--nmf-target-error", repr(nmf_target)]
    if args.lambdas and method in ("kmeans", "nmf"):
        cmd += ["--lambdas", args.lambdas]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def peer(x, args, method):
    from sklearn.cluster import BisectingKMeans
    from sklearn.decomposition import NMF, PCA
    with threadpool_limits(limits=2):
        start = time.perf_counter()
        if method == "kmeans":
            m = BisectingKMeans(n_clusters=args.k, init="k-means++", n_init=args.restarts, random_state=args.model_seed,
                                bisecting_strategy="biggest_inertia", max_iter=300, tol=1e-4, algorithm="lloyd").fit(x)
            return {"seconds": time.perf_counter() - start, "sse": float(m.inertia_)}
        if method == "nmf":
            m = NMF(n_components=args.k, solver="cd", init="nndsvd", tol=1e-4, max_iter=args.nmf_max_iter,
                    random_state=0).fit(x)
            return {"seconds": time.perf_counter() - start, "reconstruction_err": float(m.reconstruction_err_),
                    "iterations": int(m.n_iter_)}
        m = PCA(n_components=args.k, random_state=0).fit(x)
        return {"seconds": time.perf_counter() - start, "explained_variance_sum": float(m.explained_variance_.sum()),
                "solver": m._fit_svd_solver, "components": m.components_}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cols", type=int, default=512)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--atoms", type=int, default=256, help="planted atoms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--model-seed", type=int, default=0, help="k-means++ seed: ours --seed, scikit-learn random_state")
    ap.add_argument("--nmf-max-iter", type=int, default=200)
    ap.add_argument("--nmf-stop", choices=["cap", "target"], default="cap")
    ap.add_argument("--nmf-target-cap", type=int, default=200, help="our iteration cap in --nmf-stop target")
    ap.add_argument("--methods", default="kmeans,nmf,pca")
    ap.add_argument("--lambdas", default="0.02,0.05,0.1,0.2", help="λ values our side codes with after fitting")
    ap.add_argument("--data", default="/tmp/concepts_bench_{rows}x{cols}_s{seed}.f32")
    ap.add_argument("--binary", default=str(pathlib.Path(__file__).resolve().parent.parent / ".build/release/gigtrace-bench"))
    ap.add_argument("--json", default="", help="also write all results to this file")
    args = ap.parse_args()
    path = pathlib.Path(args.data.format(rows=args.rows, cols=args.cols, seed=args.seed))
    x = make_data(path, args.rows, args.cols, args.atoms, args.seed)
    print(f"data {path} {x.shape} float32, sklearn {sklearn.__version__}, numpy {np.__version__}", file=sys.stderr)
    results = []
    for method in args.methods.split(","):
        if method == "nmf" and args.nmf_stop == "target":
            b = peer(x, args, method)
            print(json.dumps({"sklearn": b}), file=sys.stderr, flush=True)
            a = ours(args.binary, path, args, method, nmf_target=b["reconstruction_err"])
            print(json.dumps({"ours": a}), file=sys.stderr, flush=True)
        else:
            a = ours(args.binary, path, args, method)
            print(json.dumps({"ours": a}), file=sys.stderr, flush=True)
            b = peer(x, args, method)
            print(json.dumps({k: v for k, v in b.items() if k != "components"}), file=sys.stderr, flush=True)
        if method == "pca":
            mine = np.fromfile(str(path) + ".ours.pca.f32", dtype="<f4").reshape(args.k, args.cols)
            a["captured_variance_f64"] = captured_variance(x, mine)
            b["captured_variance_f64"] = captured_variance(x, b.pop("components"))
            print(json.dumps({"captured_variance_f64": [a["captured_variance_f64"], b["captured_variance_f64"]]}),
                  file=sys.stderr, flush=True)
        results.append({"method": method, "ours": a, "sklearn": b, "speedup": b["seconds"] / a["seconds"]})
    print("| method | ours (s) | scikit-learn (s) | speed-up | objective: ours | objective: scikit-learn |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        key = {"kmeans": "sse", "nmf": "reconstruction_err", "pca": "explained_variance_sum"}[r["method"]]
        extra = ""
        if r["method"] == "nmf":
            extra = f" ({r['ours']['iterations']} / {r['sklearn']['iterations']} iterations)"
        if r["method"] == "pca":
            key = "captured_variance_f64"
        print(f"| {r['method']}{extra} | {r['ours']['seconds']:.2f} | {r['sklearn']['seconds']:.2f} | "
              f"{r['speedup']:.2f}x | {key} {r['ours'][key]:.9g} | {r['sklearn'][key]:.9g} |")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
