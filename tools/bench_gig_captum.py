#!/usr/bin/env python3
"""Peer benchmark for issue #6's speed target: per-image GIG edges on the demo model with PyTorch +
Captum against `gigtrace-bench gig`, same images, same concept banks, same quadrature and steps,
same run, interleaved (ours, peer, ours, peer, ...), two threads each.

What both compute, per image (METHOD §4), as `gigtrace trace` does: for traced layers l1, l2, l3
(default stage1/2/3 of models/fashion-resnet), GIG edges l1 → l2 and l2 → l3 concepts (masked
targets), and l1, l2, l3 → the 10 classes. Ours is `BatchTracer.trace`, the trace's per-batch step
(forward, coding, GIG, exemplar candidates), timed without data loading and database writes. The peer evaluates the ONNX weights in PyTorch (tools/onnx_torch.py; its logits
are checked against the ONNX reference evaluator) and takes Integrated Gradients over the concept
coefficients with Captum (tools/gig_captum.py), all active targets of the images of one call in
one Captum batch. Codes: the peer uses the codes gigtrace wrote (the banks' Lasso coding), so the
edges can be compared; coding is therefore *not* in the peer's time but is in ours (forward + coding
+ GIG; data loading excluded on both sides).

Check: for every image and layer pair, max |ours − peer| / max |peer| ≤ 1e-3.
Threads: torch.set_num_threads(2); gigtrace --threads 2 (two threads in all: one image per thread, OpenBLAS single-threaded inside).

Usage (release build first: swift build -c release --product gigtrace-bench):
  python3 tools/bench_gig_captum.py --banks B1.json,B2.json,B3.json [--images 1000] [--steps 16]
         [--quadrature gausslegendre] [--rounds 2] [--images-per-call 4] [--gigtrace .build/release/gigtrace-bench]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gig_captum import gig  # noqa: E402
from onnx_torch import OnnxTorch  # noqa: E402
from train_demo import MEAN, STD, load_split, preprocess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "fashion-resnet", "model.onnx")
DATA = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
LAYERS = "/stage1/relu/Relu_output_0,/stage2/relu/Relu_output_0,/stage3/relu/Relu_output_0"


def ours(args, out_dir):
    cmd = [args.gigtrace, "gig", "--model", MODEL, "--data", DATA, "--mean", str(MEAN), "--std", str(STD),
           "--limit", str(args.images), "--layers", args.layers, "--concept-bank", args.banks,
           "--quadrature", args.quadrature, "--steps", str(args.steps), "--threads", "2", "--quiet",
           "--edges-out", out_dir]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    print("+ OPENBLAS_NUM_THREADS=2", " ".join(cmd), file=sys.stderr, flush=True)
    text = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"([0-9.]+) images/s", text).group(1))
    return rate, text


def read_bank(path):
    with open(path) as f:
        bank = json.load(f)
    v = np.asarray(bank["concepts"]["data"], dtype=np.float32).reshape(bank["concepts"]["rows"], bank["concepts"]["cols"])
    mean = None if bank.get("mean") is None else np.asarray(bank["mean"], dtype=np.float32)
    return v, mean, bank["method"] == "pca"


def check_onnx(net, x):
    """The PyTorch evaluation of the ONNX weights gives the ONNX reference evaluator's logits."""
    reference = ReferenceEvaluator(onnx.load(MODEL)).run(None, {net.input_name: x.numpy()})[0]
    with torch.no_grad():
        mine = net.run({net.input_name: x}, net.output_name).numpy()
    err = float(np.abs(mine - reference).max())
    if err > 1e-4:
        sys.exit(f"torch logits differ from the ONNX reference by {err}")
    return err


def computations(layers):
    """The GIG computations of a trace, in ImageTrace order: layer i -> i+1, then every layer -> classes."""
    return [(i, i + 1) for i in range(len(layers) - 1)] + [(i, None) for i in range(len(layers))]


def peer(net, x, layers, banks, codes, args):
    """GIG edges of all images per computation: list of [N, S, T]; and the seconds it took."""
    comps = computations(layers)
    start = time.perf_counter()
    edges = [[] for _ in comps]
    for first in range(0, x.shape[0], args.images_per_call):
        xb = x[first:first + args.images_per_call]
        acts = net.activations(xb, layers)
        part = slice(first, first + xb.shape[0])
        for j, (i, t) in enumerate(comps):
            v, mean, _ = banks[i]
            shape = tuple(acts[i].shape[1:])
            if t is not None:
                vb, _, signed = banks[t]
                e = gig(net.subnetwork(layers[i], layers[t]), shape, v, mean, codes[i][part], vb.shape[0], args.steps,
                        args.quadrature, target_vectors=vb, target_codes=codes[t][part], signed_target=signed)
            else:
                e = gig(net.subnetwork(layers[i], net.output_name), shape, v, mean, codes[i][part], 10, args.steps,
                        args.quadrature)
            edges[j].append(e)
    seconds = time.perf_counter() - start
    return [np.concatenate(e) for e in edges], seconds


def compare(mine, theirs):
    """Worst over images of max|ours − peer| / max|peer| (per image and layer pair)."""
    worst = 0.0
    for a, b in zip(mine, theirs):
        for n in range(a.shape[0]):
            scale = max(float(np.abs(b[n]).max()), 1e-12)
            worst = max(worst, float(np.abs(a[n] - b[n]).max()) / scale)
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--banks", required=True, help="concept bank JSON files, comma-separated, one per layer")
    p.add_argument("--layers", default=LAYERS)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--quadrature", default="gausslegendre")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--images-per-call", type=int, default=4, help="images whose (image, target) pairs share one Captum batch")
    p.add_argument("--gigtrace", default=os.path.join(ROOT, ".build", "release", "gigtrace-bench"))
    args = p.parse_args()
    torch.set_num_threads(2)
    layers = args.layers.split(",")
    banks = [read_bank(b) for b in args.banks.split(",")]
    net = OnnxTorch(MODEL)
    images, _ = load_split("t10k")
    x = preprocess(images[:args.images])
    onnx_err = check_onnx(net, x[:8])
    print(f"uptime: {os.getloadavg()}", flush=True)
    rates_ours, rates_peer, worst = [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            rate, text = ours(args, tmp)
            print(text.strip(), flush=True)
            rates_ours.append(rate)
            codes = [np.load(os.path.join(tmp, f"codes_{i}.npy")) for i in range(len(layers))]
            mine = [np.load(os.path.join(tmp, f"edges_{j}.npy")) for j in range(len(computations(layers)))]
            theirs, seconds = peer(net, x, layers, banks, codes, args)
            rates_peer.append(x.shape[0] / seconds)
            worst = max(worst, compare(mine, theirs))
            print(f"round {r}: gigtrace {rate:.2f} images/s, PyTorch+Captum {rates_peer[-1]:.2f} images/s, "
                  f"edges max rel diff {worst:.2e}", flush=True)
    best_ours, best_peer = max(rates_ours), max(rates_peer)
    print(json.dumps({"images": args.images, "steps": args.steps, "quadrature": args.quadrature,
                      "gigtrace_images_per_s": rates_ours, "peer_images_per_s": rates_peer,
                      "ratio_best": best_ours / best_peer, "edges_max_relative_difference": worst,
                      "torch_vs_onnx_logits_max_abs": onnx_err, "load": os.getloadavg()}))
    if worst > 1e-3:
        sys.exit(f"edges differ: {worst:.2e} > 1e-3")


if __name__ == "__main__":
    main()
