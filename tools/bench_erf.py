#!/usr/bin/env python3
"""PyTorch peer for GIGTrace's receptive-field benchmark: the gradient ERF of layer4 PFVs of
ResNet-18 by autograd, one PFV and all 7x7 positions, to compare with `gigtrace-bench erf`.

Usage (from the repository root):

    python3 tools/make_fixtures.py --resnet18 /tmp/resnet18     # once: ONNX + input.npy
    python3 tools/bench_erf.py --resnet18 /tmp/resnet18 [--threads 1] [--warmup 1] [--runs 5] [--one-only]

Gradient ERF of PFV x_p (p a position of layer4's 7x7 grid): sum over input channels of
|d<x_p, x_p>/d input|, on image 0 of OUTDIR/input.npy, with the same seeded network as
make_fixtures.py (checked against OUTDIR/logits.npy). Timed:
  one PFV         forward to layer4 + one backward (the centre position)
  all, looped     one forward, 49 backwards with retain_graph
  all, batched    one forward, one vmapped backward of 49 one-hot cotangents (is_grads_batched)
Median milliseconds of `--runs` runs after `--warmup`; one JSON object on stdout.
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
from make_fixtures import build_resnet18  # noqa: E402


BEST = {}


def median_ms(fn, warmup, runs, name=None):
    """Median wall ms of `runs` runs. With `name`, also BEST[name_min] (fastest run) and
    BEST[name_cpu] (median CPU time of the process, all threads): on a
    loaded machine other processes add wall time, not CPU time."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c0) * 1e3)
        times.append((time.perf_counter() - t0) * 1e3)
    if name:
        BEST[name + "_min"] = min(times)
        BEST[name + "_cpu"] = statistics.median(cpu)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resnet18", metavar="OUTDIR", required=True, help="directory from make_fixtures.py --resnet18")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs")
    ap.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported")
    ap.add_argument("--one-only", action="store_true", help="time only the single-PFV case (quick interleaved rounds)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = build_resnet18()
    for p in model.parameters():
        p.requires_grad_(False)
    x0 = torch.from_numpy(np.load(os.path.join(args.resnet18, "input.npy"))[:1].copy())
    with torch.inference_mode():
        ref = np.load(os.path.join(args.resnet18, "logits.npy"))[:1]
        diff = float(np.abs(model(x0).numpy() - ref).max())
    if diff > 1e-3:
        sys.exit(f"error: network differs from {args.resnet18}/logits.npy (max diff {diff})")

    def to_layer4(x):
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        return model.layer4(model.layer3(model.layer2(model.layer1(x))))

    def one():
        x = x0.clone().requires_grad_(True)
        y = to_layer4(x)
        (y[0, :, 3, 3] ** 2).sum().backward()
        return x.grad.abs().sum(1)

    def all_looped():
        x = x0.clone().requires_grad_(True)
        y = to_layer4(x)
        maps = []
        for h in range(7):
            for w in range(7):
                g, = torch.autograd.grad((y[0, :, h, w] ** 2).sum(), x, retain_graph=True)
                maps.append(g.abs().sum(1))
        return torch.cat(maps)

    def all_batched():
        x = x0.clone().requires_grad_(True)
        y = to_layer4(x)
        cot = torch.zeros((49,) + tuple(y.shape))
        for k in range(49):
            cot[k, 0, :, k // 7, k % 7] = 2 * y[0, :, k // 7, k % 7].detach()
        g, = torch.autograd.grad(y, x, cot, is_grads_batched=True)
        return g.abs().sum(2)

    result = {"threads": args.threads, "pfvs_all": 49,
              "torch_ms_one": median_ms(one, args.warmup, args.runs, "torch_ms_one")}
    if args.one_only:
        print(json.dumps({**result, **BEST}))
        return
    result["torch_ms_all_looped"] = median_ms(all_looped, args.warmup, args.runs)
    try:
        result["torch_ms_all_batched"] = median_ms(all_batched, args.warmup, args.runs)
    except Exception as e:  # vmap over some backward op may be unsupported
        result["torch_all_batched_error"] = str(e).splitlines()[0]
    best_all = min(v for k, v in result.items() if k.startswith("torch_ms_all"))
    result["torch_ms_per_pfv_all"] = best_all / 49
    print(json.dumps({**result, **BEST}))


if __name__ == "__main__":
    main()
