#!/usr/bin/env python3
"""PyTorch peer for `gigtrace-bench engine`: a ResNet-18 (torchvision layout, from
tools/bench_cnn_engine.py) with random eval-mode BatchNorm statistics.

  python3 tools/bench_resnet18_engine.py export OUT_DIR   # OUT_DIR/r18.onnx (legacy exporter, opset 13,
                                                          # dynamic batch), x16.npy, logits16.npy
  python3 tools/bench_resnet18_engine.py bench [THREADS]  # images/s: inference_mode forward and
                                                          # forward + input gradient of one logit, batch 16
                                                          # (weights requires_grad=False, input True)
Then: .build/release/gigtrace-bench engine --model OUT_DIR/r18.onnx --threads THREADS
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn


# The network is tools/bench_cnn_engine.py's torchvision-layout ResNet-18 (same parameter order, so
# the same seeded weights as before that script existed); the BatchNorm statistics below are this
# script's own, as used for the BENCHMARKS figures that cite it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cnn_engine import BasicBlock, ResNet, bench  # noqa: E402


def model():
    torch.manual_seed(0)
    m = ResNet(BasicBlock, [2, 2, 2, 2]).eval()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    return m


def main():
    m = model()
    x = torch.randn(16, 3, 224, 224)
    if sys.argv[1] == "export":
        out = sys.argv[2]
        torch.onnx.export(m, x[:1], f"{out}/r18.onnx", dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        np.save(f"{out}/x16.npy", x.numpy())
        with torch.no_grad():
            np.save(f"{out}/logits16.npy", m(x).numpy())
        return
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    bench("resnet18", threads, 16)   # the same timing as bench_cnn_engine.py (speed does not depend on the weights)


if __name__ == "__main__":
    main()
