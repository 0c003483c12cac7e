#!/usr/bin/env python3
"""PyTorch peer for `gigtrace bench-engine`: a ResNet-18 (torchvision layout, defined here because
torchvision does not import against this CPU torch) with random eval-mode BatchNorm statistics.

  python3 tools/bench_resnet18_engine.py export OUT_DIR   # OUT_DIR/r18.onnx (legacy exporter, opset 13,
                                                          # dynamic batch), x16.npy, logits16.npy
  python3 tools/bench_resnet18_engine.py bench [THREADS]  # images/s: inference_mode forward and
                                                          # forward + input gradient of one logit, batch 16
                                                          # (weights requires_grad=False, input True)
Then: gigtrace bench-engine --model OUT_DIR/r18.onnx --threads THREADS
"""
import sys
import time

import numpy as np
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.down = None
        if stride != 1 or i != o:
            self.down = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + identity)


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, 2, 1)
        layers, i = [], 64
        for o, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Block(i, o, stride), Block(o, o, 1)]
            i = o
        self.layers = nn.Sequential(*layers)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avg(self.layers(x)), 1))


def model():
    torch.manual_seed(0)
    m = ResNet18().eval()
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
    torch.set_num_threads(threads)
    n = 3
    with torch.inference_mode():
        m(x)
        t = time.time()
        for _ in range(n):
            m(x)
        fwd = 16 * n / (time.time() - t)
    targets = torch.arange(16) % 10
    for p in m.parameters():     # input gradient only, as the engine computes (no weight gradients)
        p.requires_grad_(False)

    def step():
        xx = x.clone().requires_grad_(True)
        m(xx).gather(1, targets[:, None]).sum().backward()
        return xx.grad

    step()
    t = time.time()
    for _ in range(n):
        step()
    grad = 16 * n / (time.time() - t)
    print(f"torch forward {fwd:.2f} img/s, forward+input-gradient {grad:.2f} img/s (batch 16, {threads} threads)")


if __name__ == "__main__":
    main()
