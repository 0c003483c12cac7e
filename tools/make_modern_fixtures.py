#!/usr/bin/env python3
"""Generate the committed fixtures for the "modern CNN" ops: a small ConvNeXt-style network and
a small EfficientNet/MobileNetV3-style network (squeeze-excitation gates, SiLU, Hardswish).

Usage (from the repository root):

    python3 tools/make_modern_fixtures.py      # writes Tests/Fixtures/convnext/ and Tests/Fixtures/se_net/

Both networks are seeded, random-weight, eval mode, input [2, 3, 32, 32], 10 classes, and exported
by both PyTorch exporters (see each manifest.json):
  convnext/legacy17.onnx  legacy exporter (dynamo=False), opset 17: LayerNormalization nodes,
                          GELU written as Div/Erf/Add/Mul
  convnext/legacy14.onnx  legacy exporter, opset 14: LayerNorm decomposed into
                          ReduceMean/Sub/Pow/Add/Sqrt/Div/Mul/Add (the form older exporters write)
  convnext/dynamo.onnx    torch.export-based exporter (dynamo=True), opset 18, optimize=True
  se_net/legacy.onnx      legacy exporter, opset 13
  se_net/dynamo.onnx      dynamo exporter, opset 18
Arrays (float32; "targets" in manifest.json):
  inputs.npy [2,3,32,32]  logits.npy [2,10]  input_grad.npy  d logits[i, targets[i]] / d inputs[i]
  block.npy               output of the network's first block (`manifest.json: block`)
  block_grad.npy          d logits[i, targets[i]] / d block[i]
  targets.npy             int64 [2]
Needs torch and onnxscript (tools only; the Swift tests read the committed files).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (export_dynamo, export_legacy, save_arrays, save_json, target_gradients,  # noqa: E402
                           write_export)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 2024
TARGETS = [3, 8]


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: NCHW -> NHWC, LayerNorm over C, back to NCHW."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """torchvision's ConvNeXt block: depthwise 7x7, permute, LayerNorm, Linear 4x, GELU, Linear,
    layer scale, permute back, residual add (stochastic depth is the identity in eval mode)."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + self.layer_scale * y.permute(0, 3, 1, 2)


class SmallConvNeXt(nn.Module):
    """[N,3,32,32] -> [N,10]: stem conv4x4/4 + LayerNorm2d, block(16), LayerNorm2d + conv2x2/2,
    block(32), global mean, LayerNorm, Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 4, 4), LayerNorm2d(16, eps=1e-6))
        self.block1 = CNBlock(16)
        self.down = nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Conv2d(16, 32, 2, 2))
        self.block2 = CNBlock(32)
        self.norm = nn.LayerNorm(32, eps=1e-6)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.block2(self.down(self.block1(self.stem(x))))
        return self.head(self.norm(x.mean(dim=(2, 3))))


class SqueezeExcitation(nn.Module):
    """torchvision's SE: x * gate(fc2(act(fc1(avgpool(x)))))."""

    def __init__(self, c, squeeze, gate):
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.gate = gate

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(F.relu(self.fc1(s))))


class MBConv(nn.Module):
    """Inverted residual: expand 1x1 + BN + act, depthwise 3x3 + BN + act, SE, project 1x1 + BN."""

    def __init__(self, cin, cout, expand, stride, act, gate):
        super().__init__()
        mid = cin * expand
        self.expand = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), act())
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), act())
        self.se = SqueezeExcitation(mid, max(2, cin // 2), gate)
        self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


class SmallSENet(nn.Module):
    """[N,3,32,32] -> [N,10]: stem conv3x3/2 + BN + SiLU; block1 MBConv(8->8, SiLU, sigmoid gate,
    residual); block2 MBConv(8->16, stride 2, Hardswish, hard-sigmoid gate); 1x1 conv + BN + SiLU;
    global average pool; Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.SiLU())
        self.block1 = MBConv(8, 8, 4, 1, nn.SiLU, nn.Sigmoid())
        self.block2 = MBConv(8, 16, 4, 2, nn.Hardswish, nn.Hardsigmoid())
        self.last = nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU())
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.last(self.block2(self.block1(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def randomise(model, g):
    """Non-trivial weights everywhere: LayerNorm/BN affine and BN statistics, layer scales, biases."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif p.dim() == 1 and name.endswith("weight"):   # LayerNorm / BatchNorm scales
                p.copy_(0.7 + 0.6 * torch.rand(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    return model.eval()


def write(out_dir, model, block_module, block_desc, exports, description):
    os.makedirs(out_dir, exist_ok=True)
    g = torch.Generator().manual_seed(SEED + 1)
    x = torch.randn(2, 3, 32, 32, generator=g)
    logits, block, input_grad, block_grad = target_gradients(model, block_module, x, TARGETS)
    files = {name: write_export(out_dir, name, how, lambda p, e=export: e(x, p), x.numpy(), logits, block)
             for name, how, export in exports}
    save_arrays(out_dir, {"inputs": x.numpy(), "logits": logits, "block": block, "input_grad": input_grad,
                          "block_grad": block_grad, "targets": np.array(TARGETS, dtype=np.int64)})
    save_json(os.path.join(out_dir, "manifest.json"), {
        "generator": "python3 tools/make_modern_fixtures.py",
        "torch": torch.__version__,
        "model": description,
        "input_shape": [2, 3, 32, 32],
        "input_name": "input",
        "output_name": "logits",
        "block": block_desc,
        "targets": TARGETS,
        "gradients": "input_grad[i] = d logits[i, targets[i]] / d inputs[i]; "
                     "block_grad[i] = d logits[i, targets[i]] / d block[i] (eval mode)",
        "files": files,
    })
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"wrote {out_dir} ({total / 1e6:.2f} MB)", file=sys.stderr)


def main():
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    convnext = randomise(SmallConvNeXt(), g)
    write(os.path.join(ROOT, "Tests", "Fixtures", "convnext"), convnext, convnext.block1,
          "block1 output (after the residual add), shape [2, 16, 8, 8]", [
              ("legacy17.onnx", "legacy (dynamo=False), opset 17",
               lambda x, p: export_legacy(convnext, x, p, 17)),
              ("legacy14.onnx", "legacy (dynamo=False), opset 14 (LayerNorm decomposed)",
               lambda x, p: export_legacy(convnext, x, p, 14)),
              ("dynamo.onnx", "torch.export-based (dynamo=True), opset 18, optimize=True",
               lambda x, p: export_dynamo(convnext, x, p, 18)),
          ], "SmallConvNeXt: stem conv4x4/4 + LayerNorm2d(16), CNBlock(16), LayerNorm2d + conv2x2/2 (16->32), "
             "CNBlock(32), mean over H,W, LayerNorm(32), Linear 32->10; torchvision CNBlock (dwconv7x7, "
             "permute, LayerNorm, Linear 4x, exact GELU, Linear, layer scale, permute, residual)")
    torch.manual_seed(SEED + 10)
    g = torch.Generator().manual_seed(SEED + 10)
    senet = randomise(SmallSENet(), g)
    write(os.path.join(ROOT, "Tests", "Fixtures", "se_net"), senet, senet.block1,
          "block1 output (after the residual add), shape [2, 8, 16, 16]", [
              ("legacy.onnx", "legacy (dynamo=False), opset 13",
               lambda x, p: export_legacy(senet, x, p, 13)),
              ("dynamo.onnx", "torch.export-based (dynamo=True), opset 18, optimize=True",
               lambda x, p: export_dynamo(senet, x, p, 18)),
          ], "SmallSENet: stem conv3x3/2 + BN + SiLU; MBConv 8->8 x4 (SiLU, SE with sigmoid gate, residual); "
             "MBConv 8->16 x4 stride 2 (Hardswish, SE with hard-sigmoid gate); conv1x1 16->32 + BN + SiLU; "
             "GAP; Linear 32->10")


if __name__ == "__main__":
    main()
