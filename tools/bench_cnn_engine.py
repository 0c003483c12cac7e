#!/usr/bin/env python3
"""PyTorch peer for `gigtrace-bench engine` on three ImageNet networks: ResNet-18, ResNet-50 and
MobileNetV2 (torchvision's layouts, written out in plain torch because torchvision does not import
against this CPU torch), random weights with random eval-mode BatchNorm statistics, 3x224x224.

  python3 tools/bench_cnn_engine.py export OUT_DIR            # OUT_DIR/{resnet18,resnet50,mobilenet_v2}.onnx
                                                              # (legacy exporter, opset 13, dynamic batch);
                                                              # not committed: ~45-100 MB each
  python3 tools/bench_cnn_engine.py bench NET [THREADS] [BATCH]
      images/s: inference_mode forward, and forward + input gradient of one logit per image
      (weights requires_grad=False, input requires_grad=True), as `gigtrace-bench engine` measures.
Then: .build/release/gigtrace-bench engine --model OUT_DIR/NET.onnx --threads THREADS --targets 0
Interleave the two in one shell loop (BENCHMARKS.md gives the loop).
"""
import sys
import time

import numpy as np
import torch
import torch.nn as nn


# ---- ResNet (torchvision.models.resnet: BasicBlock / Bottleneck, downsample = 1x1 conv + BN) ----
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or i != o:
            self.downsample = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, i, planes, stride):
        super().__init__()
        o = planes * 4
        self.conv1 = nn.Conv2d(i, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # torchvision V1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, o, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(o)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or i != o:
            self.downsample = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet(nn.Module):
    def __init__(self, block, counts):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        i = 64
        stages = []
        for planes, count, stride in zip([64, 128, 256, 512], counts, [1, 2, 2, 2]):
            blocks = []
            for b in range(count):
                blocks.append(block(i, planes, stride if b == 0 else 1))
                i = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(i, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---- MobileNetV2 (torchvision.models.mobilenetv2, width 1.0) ----
def conv_bn_relu6(i, o, k, stride, groups=1):
    return nn.Sequential(nn.Conv2d(i, o, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(o), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, i, o, stride, expand):
        super().__init__()
        hidden = i * expand
        self.use_res = stride == 1 and i == o
        layers = [] if expand == 1 else [conv_bn_relu6(i, hidden, 1, 1)]
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, o, 1, bias=False), nn.BatchNorm2d(o)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        layers, i = [conv_bn_relu6(3, 32, 3, 2)], 32
        for t, c, n, s in settings:
            for b in range(n):
                layers.append(InvertedResidual(i, c, s if b == 0 else 1, t))
                i = c
        layers.append(conv_bn_relu6(i, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


NETS = {"resnet18": lambda: ResNet(BasicBlock, [2, 2, 2, 2]),
        "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3]),
        "mobilenet_v2": MobileNetV2}


def model(name):
    torch.manual_seed(0)
    m = NETS[name]().eval()
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):   # Kaiming-normal fan-out, as torchvision initialises
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    return m


def export(out):
    x = torch.randn(2, 3, 224, 224)
    for name in NETS:
        m = model(name)
        torch.onnx.export(m, x[:1], f"{out}/{name}.onnx", dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        np.save(f"{out}/{name}_x2.npy", x.numpy())
        with torch.no_grad():
            np.save(f"{out}/{name}_logits2.npy", m(x).numpy())
        print(f"wrote {out}/{name}.onnx", file=sys.stderr)


def bench(name, threads, batch, n=3):
    torch.set_num_threads(threads)
    m = model(name)
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        m(x)
        t = time.time()
        for _ in range(n):
            m(x)
        fwd = batch * n / (time.time() - t)
    targets = torch.arange(batch) % 10
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
    grad = batch * n / (time.time() - t)
    print(f"torch {name} forward {fwd:.2f} img/s, forward+input-gradient {grad:.2f} img/s (batch {batch}, {threads} threads)")


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(sys.argv[2])
    else:
        bench(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2, int(sys.argv[4]) if len(sys.argv) > 4 else 16)
