#!/usr/bin/env python3
"""PyTorch peer for GIGTrace's CNN-engine benchmark (ResNet-18 forward and input gradient).

Usage (from the repository root):

    python3 tools/make_fixtures.py --resnet18 /tmp/resnet18      # once: ONNX + reference arrays
    python3 tools/bench_engine.py --resnet18 /tmp/resnet18 [--batch 16] [--threads 2]
                                  [--warmup 2] [--runs 7]

Builds the same seeded torchvision-style ResNet-18 as `make_fixtures.py --resnet18` (the torch
module, not the ONNX file), checks that its logits on OUTDIR/input.npy match OUTDIR/logits.npy (so
the Swift side and this peer run the same network), then times on a seeded random batch:
  forward           under torch.inference_mode()
  forward+input-grad weights requires_grad=False, input requires_grad=True,
                    backward of the sum over the batch of each image's target logit
Each measurement: `--warmup` untimed runs, then the median of `--runs` timed runs.
Prints one JSON object on stdout (images/s and median milliseconds per batch); progress on stderr.
Run it with the same thread count as the Swift benchmark (OpenBLAS threads x own threads), on an
otherwise idle machine, in the same session as the Swift benchmark; the ratio is what is recorded.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import RESNET18_TARGETS, SEED, build_resnet18  # noqa: E402


def time_runs(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resnet18", metavar="OUTDIR", required=True,
                    help="directory written by `make_fixtures.py --resnet18 OUTDIR`")
    ap.add_argument("--batch", type=int, default=16, help="images per batch")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs before measuring")
    ap.add_argument("--runs", type=int, default=7, help="timed runs; the median is reported")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    manifest_path = os.path.join(args.resnet18, "manifest.json")
    if not os.path.exists(manifest_path):
        print(f"error: {manifest_path} not found; run tools/make_fixtures.py --resnet18 {args.resnet18}",
              file=sys.stderr)
        return 2
    manifest = json.load(open(manifest_path))
    if manifest.get("seed") != SEED:
        print(f"error: {manifest_path} was made with seed {manifest.get('seed')}, expected {SEED}",
              file=sys.stderr)
        return 2

    model = build_resnet18()
    for p in model.parameters():
        p.requires_grad_(False)
    ref_input = torch.from_numpy(np.load(os.path.join(args.resnet18, "input.npy")))
    ref_logits = np.load(os.path.join(args.resnet18, "logits.npy"))
    with torch.inference_mode():
        diff = float(np.abs(model(ref_input).numpy() - ref_logits).max())
    if diff > 1e-3 * max(1.0, float(np.abs(ref_logits).max())):
        print(f"error: this ResNet-18 differs from {args.resnet18}/logits.npy by {diff}", file=sys.stderr)
        return 1
    print(f"model matches {args.resnet18}/logits.npy (max abs diff {diff:.2e})", file=sys.stderr)

    g = torch.Generator().manual_seed(SEED + 10)
    x = torch.randn(args.batch, 3, 224, 224, generator=g)
    targets = torch.tensor([RESNET18_TARGETS[i % len(RESNET18_TARGETS)] for i in range(args.batch)])

    def forward():
        with torch.inference_mode():
            model(x)

    def forward_input_grad():
        xg = x.clone().requires_grad_(True)
        model(xg).gather(1, targets[:, None]).sum().backward()
        return xg.grad

    print(f"forward: {args.warmup} warm-up + {args.runs} runs of batch {args.batch}", file=sys.stderr)
    fwd, fwd_all = time_runs(forward, args.warmup, args.runs)
    print(f"forward+input-grad: {args.warmup} warm-up + {args.runs} runs", file=sys.stderr)
    bwd, bwd_all = time_runs(forward_input_grad, args.warmup, args.runs)
    result = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "model": "resnet18",
        "input_shape": [args.batch, 3, 224, 224],
        "threads": args.threads,
        "warmup": args.warmup,
        "runs": args.runs,
        "forward_ms_median": fwd * 1e3,
        "forward_images_per_s": args.batch / fwd,
        "forward_input_grad_ms_median": bwd * 1e3,
        "forward_input_grad_images_per_s": args.batch / bwd,
        "forward_ms_all": [round(t * 1e3, 2) for t in fwd_all],
        "forward_input_grad_ms_all": [round(t * 1e3, 2) for t in bwd_all],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
