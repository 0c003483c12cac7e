#!/usr/bin/env python3
"""Extrapolated PyTorch + Captum peer time for GIG layer -> all classes on a large network (issue #13,
BENCHMARKS "GIG on ResNet-50 at 224×224"), where running the peer over 1,000 classes would take tens
of minutes and more memory than the machine has (tools/bench_gig_captum.py puts every (image, class)
pair into one Captum batch).

For each traced layer: tools/gig_captum.gig (Captum IntegratedGradients over the concept codes) from
that layer to the logits, one image, `--classes` classes, `--steps` Gauss–Legendre steps,
internal_batch_size = steps × classes, torch.set_num_threads(2); printed with the linear
extrapolation to all classes (Captum's reverse mode costs one backward pass per class and step, so
the time is linear in the class count: check by running two class counts). Codes are random and
sparse (the time does not depend on their values); the banks give K and the concept vectors.

  python3 tools/bench_gig_captum_classes.py --model /tmp/cnnbench/resnet50.onnx \\
      --layers /layer2/layer2.3/relu_2/Relu_output_0,/layer3/layer3.5/relu_2/Relu_output_0,/layer4/layer4.2/relu_2/Relu_output_0 \\
      --banks banks/r50_layer2.json,banks/r50_layer3.json,banks/r50_layer4.json --classes 10 --steps 16
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gig_captum import read_bank  # noqa: E402
from gig_captum import gig  # noqa: E402
from onnx_torch import OnnxTorch  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--layers", required=True, help="traced layer tensors, comma-separated")
    p.add_argument("--banks", required=True, help="concept bank JSON files, one per layer, comma-separated")
    p.add_argument("--classes", type=int, default=10, help="classes actually attributed (then extrapolated)")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--size", type=int, default=224, help="input height = width")
    args = p.parse_args()
    torch.set_num_threads(2)
    net = OnnxTorch(args.model)
    layers, banks = args.layers.split(","), args.banks.split(",")
    with torch.no_grad():
        x = torch.zeros(1, 3, args.size, args.size)
        shapes = [tuple(a.shape[1:]) for a in net.activations(x, layers)]
        total_classes = net.run({net.input_name: x}, net.output_name).shape[1]
    rng = np.random.default_rng(0)
    print(f"uptime: {os.getloadavg()}", flush=True)
    total = 0.0
    for layer, bank, shape in zip(layers, banks, shapes):
        v, mean, _ = read_bank(bank)
        positions = shape[1] * shape[2]
        codes = rng.random((1, positions, v.shape[0])) * (rng.random((1, positions, v.shape[0])) < 0.1)
        f = net.subnetwork(layer, net.output_name)
        start = time.perf_counter()
        gig(f, shape, v, mean, codes.astype(np.float32), args.classes, args.steps, "gausslegendre",
            internal_batch_size=args.steps * args.classes)
        seconds = time.perf_counter() - start
        total += seconds * total_classes / args.classes
        print(f"{layer} -> classes: {args.classes} classes, {args.steps} steps: {seconds:.2f} s; "
              f"{total_classes} classes (extrapolated): {seconds * total_classes / args.classes:.0f} s", flush=True)
    print(f"all layers -> {total_classes} classes, one image (extrapolated): {total:.0f} s")


if __name__ == "__main__":
    main()
