#!/usr/bin/env python3
"""Peer benchmark for issue #16's speed targets: one image's input attribution on ResNet-18 at
224×224, `gigtrace attribute` against PyTorch, same run, interleaved (ours, peer, ours, peer…).

- IG, 50 steps, Gauss–Legendre, zero baseline: Captum `IntegratedGradients` (all 50 scaled copies
  in one batch; `gigtrace attribute` runs them in chunks of its automatic internal batch size,
  `--internal-batch-size` here overrides it).
- GGIG, m = 50 (51 points), zero baseline: PyTorch with all 51 points in one batch, the gradient
  per point, the per-feature maximum times (x − x').

The PyTorch side evaluates exactly the ONNX weights (tools/onnx_torch.py). Two timings of ours:
call-to-call, the attribution computation alone as `gigtrace attribute --timing` reports it (the
same scope as the peer's timed attribution call), and the whole `gigtrace attribute` process
(start-up, model load, target forward, attribution, .npy and PNG writing). Check: max |ours − peer| / max |peer| ≤ 1e-2 for IG (float32
rounding through 18 ReLU layers at 224×224; the committed small-model fixtures agree to 1e-4) and
≤ 5e-2 for GGIG, whose per-point maximum keeps the gradient jump of a ReLU gate that float32
rounding flips at a few of the 51 points (PyTorch float32 vs float64 differ as much;
tools/ggig_points.py shows it point by point).

Usage (release build first: swift build -c release --product gigtrace):
  python3 tools/bench_attribution.py --model Tests/Fixtures/generated/resnet18/resnet18.onnx \\
      --input Tests/Fixtures/generated/resnet18/input.npy [--threads 2] [--rounds 2] [--target 207]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_torch import OnnxTorch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True, help=".npy [N,3,224,224]; the first image is used")
    ap.add_argument("--target", type=int, default=207)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--methods", default="ig,ggig")
    ap.add_argument("--gigtrace", default=os.path.join(ROOT, ".build", "release", "gigtrace"))
    ap.add_argument("--internal-batch-size", type=int, default=None,
                    help="passed to gigtrace attribute (default: its own choice); the peers run all copies in one batch")
    args = ap.parse_args()
    from captum.attr import IntegratedGradients

    torch.set_num_threads(args.threads)
    net = OnnxTorch(args.model)

    def f(x):
        return net.run({net.input_name: x}, net.output_name)

    tmp = tempfile.mkdtemp(prefix="bench-attribution-")
    x_np = np.load(args.input)[:1].astype(np.float32)
    np.save(os.path.join(tmp, "image.npy"), x_np)
    x = torch.from_numpy(x_np)

    def ours(method):
        out = os.path.join(tmp, method)
        cmd = [args.gigtrace, "attribute", "--model", args.model, "--data", os.path.join(tmp, "image.npy"),
               "--method", method, "--steps", "50", "--target", str(args.target), "--threads", str(args.threads),
               "--out", out, "--quiet", "--timing"]
        if args.internal_batch_size:
            cmd += ["--internal-batch-size", str(args.internal_batch_size)]
        t = time.perf_counter()
        run = subprocess.run(cmd, check=True, stderr=subprocess.PIPE, text=True)
        whole = time.perf_counter() - t
        timing = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
        if len(timing) != 1:
            sys.exit(f"gigtrace attribute --timing printed no timing line: {run.stderr!r}")
        return timing[0]["attribution_seconds"], whole, np.load(os.path.join(out, f"{method}_maps.npy"))

    def peer_ig():
        t = time.perf_counter()
        a = IntegratedGradients(f).attribute(x, target=args.target, n_steps=50, method="gausslegendre")
        return time.perf_counter() - t, a.detach().numpy()

    def peer_ggig():
        t = time.perf_counter()
        alphas = (torch.arange(51, dtype=torch.float32) / 50).view(-1, 1, 1, 1)   # a_k = k/m in float32, as gigtrace
        z = (alphas * x).requires_grad_(True)
        g, = torch.autograd.grad(f(z)[:, args.target].sum(), z)
        a = x * g.max(dim=0, keepdim=True).values
        return time.perf_counter() - t, a.detach().numpy()

    print(f"# load {os.getloadavg()[0]:.2f}, threads {args.threads}, torch {torch.__version__}")
    for method, peer in [("ig", peer_ig), ("ggig", peer_ggig)]:
        if method not in args.methods.split(","):
            continue
        for r in range(args.rounds):
            t_ours, t_whole, a_ours = ours(method)
            t_peer, a_peer = peer()
            err = np.abs(a_ours - a_peer).max() / np.abs(a_peer).max()
            print(f"{method} round {r}: gigtrace {t_ours:.2f} s (whole process {t_whole:.2f} s), PyTorch {t_peer:.2f} s, "
                  f"ratio {t_peer / t_ours:.2f} call-to-call ({t_peer / t_whole:.2f} whole process), "
                  f"error {err:.2e} of max, load {os.getloadavg()[0]:.2f}")
            if err > (1e-2 if method == "ig" else 5e-2):
                print(f"WARNING: {method}: maps differ by {err:.2e} of the max")


if __name__ == "__main__":
    main()
