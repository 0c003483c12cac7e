#!/usr/bin/env python3
"""Generate the ONNX + numpy fixtures that GIGTrace's CNN engine is checked against.

Usage (from the repository root):

    python3 tools/make_fixtures.py                  # writes Tests/Fixtures/small_resnet/ (committed)
    python3 tools/make_fixtures.py --resnet18-small # writes Tests/Fixtures/resnet18_small/ (committed)
    python3 tools/make_fixtures.py --resnet18 DIR   # writes the full-size ResNet-18 set into DIR
                                                    # (~45 MB, not committed; an optional check,
                                                    # skipped by `swift test` when DIR is absent)

Small ResNet (committed, < 1 MB): input [4, 3, 32, 32]; stem conv3x3 3->8 + BN + ReLU + max-pool 2x2,
block1 = BasicBlock 8->8 (identity shortcut), block2 = BasicBlock 8->16 stride 2 (1x1 conv + BN
shortcut), global average pool, linear 16->10. Seeded random weights, BN running statistics and
affine parameters set to non-trivial values, eval mode. Exported three ways (see manifest.json):
  legacy_folded.onnx   legacy exporter, opset 13, do_constant_folding=True   (BN folded into Conv)
  legacy_bn.onnx       legacy exporter, opset 13, training=PRESERVE, do_constant_folding=False
                       (BatchNormalization nodes kept)
  dynamo.onnx          torch.export-based exporter (dynamo=True), opset 18
Arrays (all float32 unless noted; "target" is the class list in manifest.json):
  inputs.npy      [4,3,32,32]   logits.npy [4,10]
  block.npy       [4,8,16,16]   output of block1 (after its final ReLU)
  input_grad.npy  [4,3,32,32]   d logits[i, target[i]] / d inputs[i]
  block_grad.npy  [4,8,16,16]   d logits[i, target[i]] / d block[i]
  targets.npy     int64 [4]
manifest.json gives, per ONNX file, the op types, how BatchNorm appears, and the ONNX tensor name
holding block1's output (found by evaluating every node with onnx.reference and matching values).

ResNet-18 mode: torchvision-style ResNet-18 (BasicBlock [2,2,2,2], 1000 classes) written in plain
torch, seeded torchvision-style init, BN running statistics calibrated on seeded random batches,
eval mode; legacy export (opset 13, BN folded) to DIR/resnet18.onnx, plus DIR/{input.npy [2,3,224,224],
logits.npy [2,1000], targets.npy, input_grad.npy, layer4.npy [2,512,7,7], layer4_grad.npy,
manifest.json}. tools/bench_engine.py builds the same network with `build_resnet18()`.

Small ResNet-18 mode (committed, 2.4 MB, what `swift test` checks without PyTorch): the same
torchvision layout (conv1/bn1/relu/maxpool, layer1..layer4 of two BasicBlocks, avgpool, fc) at
widths 8/16/32/64 with 10 classes, built and calibrated like the full one, input [2,3,64,64]:
  legacy.onnx       legacy exporter, opset 13, BN folded, dynamic batch axis
  dynamo.onnx       torch.export-based exporter (dynamo=True), opset 18
  legacy_224.onnx   the same weights exported at [N,3,224,224] (no reference arrays: the network
                    is fully convolutional up to the global pool), for tracing ImageNet-sized
                    images with the README's preprocessing flags (README "How do I trace my model?")
  input.npy [2,3,64,64], logits.npy [2,10], layer4.npy [2,64,2,2], input_grad.npy, layer4_grad.npy,
  targets.npy, manifest.json (per ONNX file: op types and the tensor holding layer4's output).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_DIR = os.path.join(ROOT, "Tests", "Fixtures", "small_resnet")
SEED = 1234
SMALL_TARGETS = [3, 0, 7, 9]
RESNET18_TARGETS = [207, 818]
RESNET18_SMALL_DIR = os.path.join(ROOT, "Tests", "Fixtures", "resnet18_small")
RESNET18_SMALL = {"num_classes": 10, "widths": (8, 16, 32, 64), "size": 64}
RESNET18_SMALL_TARGETS = [2, 7]


class BasicBlock(nn.Module):
    """torchvision-style BasicBlock: relu(bn2(conv2(relu(bn1(conv1 x)))) + downsample(x))."""
    expansion = 1

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SmallResNet(nn.Module):
    """[N,3,32,32] -> [N,10]; block1 output is [N,8,16,16]."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2, 2)
        self.block1 = BasicBlock(8, 8, 1)
        self.block2 = BasicBlock(8, 16, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNet18(nn.Module):
    """torchvision.models.resnet18 architecture: [N,3,224,224] -> [N,1000]; layer4 is [N,512,7,7].
    `widths` scales the four stages (torchvision: 64/128/256/512); module names stay torchvision's."""

    def __init__(self, num_classes=1000, widths=(64, 128, 256, 512)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = widths[0]
        for i, (width, stride) in enumerate(zip(widths, [1, 2, 2, 2]), start=1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(cin, width, stride),
                                                     BasicBlock(width, width, 1)))
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():   # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_small_resnet(seed=SEED):
    """Seeded SmallResNet in eval mode whose outputs depend strongly on the input: Kaiming convs,
    BN running stats calibrated on random batches and then perturbed, random BN affine, fc std 0.5."""
    torch.manual_seed(seed)
    model = SmallResNet()
    g = torch.Generator().manual_seed(seed + 1)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
        for m in bns:
            m.momentum = None
        model.train()
        for _ in range(2):
            model(torch.randn(16, 3, 32, 32, generator=g))
        for m in bns:
            c = m.num_features
            m.momentum = 0.1
            m.running_mean.add_(0.2 * m.running_var.sqrt() * torch.randn(c, generator=g))
            m.running_var.mul_(0.5 + torch.rand(c, generator=g))
            m.weight.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.copy_(0.2 * torch.randn(c, generator=g))
        model.fc.weight.normal_(0.0, 0.5, generator=g)
        model.fc.bias.normal_(0.0, 0.1, generator=g)
    return model.eval()


def build_resnet18(seed=SEED, num_classes=1000, widths=(64, 128, 256, 512), size=224):
    """Seeded ResNet-18 in eval mode; BN running stats calibrated on 2 seeded random batches of
    size×size images."""
    torch.manual_seed(seed)
    model = ResNet18(num_classes, widths)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None            # cumulative average over the calibration batches
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 3, size, size, generator=g))
    return model.eval()


def target_gradients(model, block_module, x, targets):
    """Returns logits, block output, d logit[i,t_i]/d x, d logit[i,t_i]/d block (eval mode)."""
    captured = {}

    def hook(mod, inp, out):
        out.retain_grad()
        captured["block"] = out

    h = block_module.register_forward_hook(hook)
    x = x.clone().requires_grad_(True)
    logits = model(x)
    h.remove()
    t = torch.tensor(targets)
    logits.gather(1, t[:, None]).sum().backward()
    block = captured["block"]
    return (logits.detach().numpy(), block.detach().numpy(),
            x.grad.numpy(), block.grad.numpy())


def check_finite_differences(model, x, targets, input_grad, probes=20, eps=1e-4):
    """Compares input_grad with central differences of a float64 copy at random coordinates."""
    m64 = SmallResNet()
    m64.load_state_dict(model.state_dict())
    m64 = m64.double().eval()
    x64 = x.double()
    g = torch.Generator().manual_seed(SEED + 5)
    worst = 0.0
    with torch.no_grad():
        for _ in range(probes):
            i = int(torch.randint(0, x.shape[0], (1,), generator=g))
            c, h, w = (int(torch.randint(0, n, (1,), generator=g)) for n in x.shape[1:])
            plus, minus = x64[i:i + 1].clone(), x64[i:i + 1].clone()
            plus[0, c, h, w] += eps
            minus[0, c, h, w] -= eps
            fd = (m64(plus)[0, targets[i]] - m64(minus)[0, targets[i]]).item() / (2 * eps)
            ad = float(input_grad[i, c, h, w])
            worst = max(worst, abs(fd - ad) / (1e-3 + abs(ad)))
    if worst > 1e-3:
        raise RuntimeError(f"input gradient disagrees with finite differences by {worst}")
    print(f"finite-difference check of input_grad: max rel diff {worst:.2e}", file=sys.stderr)


def export_legacy(model, x, path, opset, **kw):
    torch.onnx.export(model, (x,), path, dynamo=False, opset_version=opset,
                      input_names=["input"], output_names=["logits"], **kw)


def export_dynamo(model, x, path, opset):
    program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, optimize=True,
                                input_names=["input"], output_names=["logits"])
    import onnx
    proto = program.model_proto
    for n in proto.graph.node:       # stack traces hold local paths; keep namespace/name_scopes
        keep = [p for p in n.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del n.metadata_props[:]
        n.metadata_props.extend(keep)
    onnx.save_model(proto, path, save_as_external_data=False)


def describe(path, x, logits, block, block_hint, evaluate_all=True):
    """Checks the ONNX file, runs onnx.reference on it, returns manifest info: op types, BN form,
    the tensor holding `block` (matched by value), and max |onnx - torch| for logits and block."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer):
        raise RuntimeError(f"{path} uses external data")
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    if evaluate_all:
        candidates = [o for n in m.graph.node for o in n.output if o]
    else:
        candidates = [o for n in m.graph.node for o in n.output if n.name == block_hint]
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    # onnx.reference's BatchNormalization-9 uses batch statistics whenever `momentum` is set (and it
    # fills in the schema default 0.9), although BN-9..13 are inference-only in the ONNX spec. In the
    # probe copy only, raise the opset to 15 (BN-15: training_mode defaults to 0 = inference; the
    # other ops used here have the same semantics in opsets 13 and 15).
    for o in probe.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 14 and "BatchNormalization" in {
                n.op_type for n in m.graph.node}:
            o.version = 15
    existing = {o.name for o in probe.graph.output}
    for c in candidates:
        if c not in existing:
            probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(c))
    names = [o.name for o in probe.graph.output]
    outs = dict(zip(names, ReferenceEvaluator(probe).run(None, {m.graph.input[0].name: x})))
    logits_diff = float(np.abs(outs[m.graph.output[0].name] - logits).max())
    tol = 1e-4 * max(1.0, float(np.abs(block).max()))
    matches = [c for c in candidates
               if outs[c].shape == block.shape and np.abs(outs[c] - block).max() < tol]
    relu_matches = [c for c in matches
                    if any(n.op_type == "Relu" and c in n.output for n in m.graph.node)]
    if not matches:
        raise RuntimeError(f"{path}: no tensor matches the block output")
    chosen = relu_matches[0] if relu_matches else matches[0]
    node = next(n for n in m.graph.node if chosen in n.output)
    info = {
        "opset": next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
        "op_types": dict(sorted(ops.items())),
        "batchnorm_nodes": ops.get("BatchNormalization", 0),
        "block_tensor": chosen,
        "block_node": {"name": node.name, "op_type": node.op_type},
        "block_tensor_all_matches": matches,
        "max_abs_diff_logits_onnx_reference_vs_torch": logits_diff,
        "max_abs_diff_block_onnx_reference_vs_torch": float(np.abs(outs[chosen] - block).max()),
        "producer": f"{m.producer_name} {m.producer_version}",
    }
    if logits_diff > 1e-3:
        raise RuntimeError(f"{path}: onnx.reference logits differ from torch by {logits_diff}")
    return info


def save_npy(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def save_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def write_export(out_dir, name, how, export, x, logits, block, evaluate_all=True, hint=None):
    """Writes one ONNX export (via a temp file), checks it with describe() against the PyTorch
    `logits` and `block` for input `x`, and returns its manifest entry."""
    path = os.path.join(out_dir, name)
    tmp = path + ".tmp.onnx"
    export(tmp)
    os.replace(tmp, path)
    info = describe(path, x, logits, block, hint, evaluate_all=evaluate_all)
    info["exporter"] = how
    print(f"{name}: {info['op_types']} block={info['block_tensor']}", file=sys.stderr)
    return info


def save_arrays(out_dir, arrays):
    """Saves name -> array as OUT_DIR/NAME.npy (float arrays as float32)."""
    for name, array in arrays.items():
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        save_npy(os.path.join(out_dir, name + ".npy"), array)


def make_small(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = build_small_resnet()
    g = torch.Generator().manual_seed(SEED + 2)
    x = torch.randn(4, 3, 32, 32, generator=g)
    logits, block, input_grad, block_grad = target_gradients(model, model.block1, x, SMALL_TARGETS)
    check_finite_differences(model, x, SMALL_TARGETS, input_grad)

    exports = [
        ("legacy_folded.onnx", "legacy (dynamo=False), opset 13, do_constant_folding=True",
         lambda p: export_legacy(model, x, p, 13, do_constant_folding=True)),
        ("legacy_bn.onnx", "legacy (dynamo=False), opset 13, "
                           "training=TrainingMode.PRESERVE, do_constant_folding=False",
         lambda p: export_legacy(model, x, p, 13, do_constant_folding=False,
                                 training=torch.onnx.TrainingMode.PRESERVE)),
        ("dynamo.onnx", "torch.export-based (dynamo=True), opset 18, optimize=True",
         lambda p: export_dynamo(model, x, p, 18)),
    ]
    for name, how, export in exports:
        files[name] = write_export(out_dir, name, how, export, x.numpy(), logits, block)
    save_arrays(out_dir, {"inputs": x.numpy(), "logits": logits, "block": block, "input_grad": input_grad,
                          "block_grad": block_grad, "targets": np.array(SMALL_TARGETS, dtype=np.int64)})
    manifest = {
        "generator": "python3 tools/make_fixtures.py",
        "torch": torch.__version__,
        "model": "SmallResNet: conv3x3(3->8)+BN+ReLU+MaxPool2x2, block1 BasicBlock 8->8, "
                 "block2 BasicBlock 8->16 stride 2 (1x1 conv+BN downsample), GAP, Linear 16->10; eval mode",
        "input_shape": [4, 3, 32, 32],
        "input_name": "input",
        "output_name": "logits",
        "block": "block1 output after its final ReLU, shape [4, 8, 16, 16]",
        "targets": SMALL_TARGETS,
        "argmax": [int(i) for i in logits.argmax(1)],
        "gradients": "input_grad[i] = d logits[i, targets[i]] / d inputs[i]; "
                     "block_grad[i] = d logits[i, targets[i]] / d block[i] (eval-mode BN)",
        "files": files,
        "notes": [
            "legacy_folded/dynamo: BatchNorm is folded into the Conv weights and biases; "
            "legacy_bn keeps 6 BatchNormalization-9 nodes (inference semantics; the exporter writes "
            "epsilon and momentum=0.9 attributes, momentum must be ignored).",
            "onnx.reference (onnx 1.23) evaluates BatchNormalization-9 with batch statistics when "
            "momentum is present; describe() evaluates a copy with the opset raised to 15.",
            "dynamo.onnx: global average pooling is ReduceMean (axes [-1,-2] as an input tensor, "
            "keepdims=1) then Reshape to the constant shape [4,16] (allowzero=1: the batch size is baked "
            "in, no dynamic axes); tensor names are torch.export node names "
            "(relu, relu_1, ...). With optimize=False the dynamo exporter keeps BatchNormalization "
            "but adds Expand/CastLike/Shape/Concat/Constant nodes (not exported here).",
        ],
    }
    save_json(os.path.join(out_dir, "manifest.json"), manifest)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"wrote {out_dir} ({total / 1e6:.2f} MB)", file=sys.stderr)


def make_resnet18(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = build_resnet18()
    g = torch.Generator().manual_seed(SEED + 3)
    x = torch.randn(2, 3, 224, 224, generator=g)
    logits, layer4, input_grad, layer4_grad = target_gradients(model, model.layer4, x,
                                                              RESNET18_TARGETS)
    info = write_export(
        out_dir, "resnet18.onnx", "legacy (dynamo=False), opset 13, do_constant_folding=True, dynamic batch",
        lambda p: export_legacy(model, x, p, 13, do_constant_folding=True,
                                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}),
        x.numpy(), logits, layer4, evaluate_all=False, hint="/layer4/layer4.1/relu_1/Relu")
    save_arrays(out_dir, {"input": x.numpy(), "logits": logits, "layer4": layer4, "input_grad": input_grad,
                          "layer4_grad": layer4_grad, "targets": np.array(RESNET18_TARGETS, dtype=np.int64)})
    manifest = {
        "generator": f"python3 tools/make_fixtures.py --resnet18 {out_dir}",
        "torch": torch.__version__,
        "model": "torchvision-style ResNet-18 (BasicBlock [2,2,2,2], 1000 classes), seeded init, "
                 "BN stats calibrated on random batches, eval mode",
        "seed": SEED,
        "input_shape": [2, 3, 224, 224],
        "input_name": "input",
        "output_name": "logits",
        "targets": RESNET18_TARGETS,
        "argmax": [int(i) for i in logits.argmax(1)],
        "layer4": "output of layer4 (after the last block's final ReLU), shape [2, 512, 7, 7]",
        "gradients": "input_grad[i] = d logits[i, targets[i]] / d input[i]; layer4_grad likewise",
        "files": {"resnet18.onnx": info},
    }
    save_json(os.path.join(out_dir, "manifest.json"), manifest)
    print(f"wrote {out_dir}: layer4 tensor {info['block_tensor']}, ops {info['op_types']}",
          file=sys.stderr)


def make_resnet18_small(out_dir):
    """The committed width-reduced ResNet-18 (see the module docstring)."""
    os.makedirs(out_dir, exist_ok=True)
    size = RESNET18_SMALL["size"]
    model = build_resnet18(**RESNET18_SMALL)
    g = torch.Generator().manual_seed(SEED + 3)
    x = torch.randn(2, 3, size, size, generator=g)
    logits, layer4, input_grad, layer4_grad = target_gradients(model, model.layer4, x,
                                                              RESNET18_SMALL_TARGETS)
    batch_axis = {"input": {0: "batch"}, "logits": {0: "batch"}}
    x224 = torch.randn(1, 3, 224, 224, generator=g)
    exports = [
        ("legacy.onnx", "legacy (dynamo=False), opset 13, do_constant_folding=True, dynamic batch",
         lambda p: export_legacy(model, x, p, 13, do_constant_folding=True, dynamic_axes=batch_axis)),
        ("dynamo.onnx", "torch.export-based (dynamo=True), opset 18, optimize=True",
         lambda p: export_dynamo(model, x, p, 18)),
    ]
    files = {name: write_export(out_dir, name, how, export, x.numpy(), logits, layer4)
             for name, how, export in exports}
    # The same weights at ImageNet's input size, checked against torch at that size.
    logits224, layer4_224, _, _ = target_gradients(model, model.layer4, x224, RESNET18_SMALL_TARGETS[:1])
    files["legacy_224.onnx"] = write_export(
        out_dir, "legacy_224.onnx",
        "legacy (dynamo=False), opset 13, do_constant_folding=True, dynamic batch, input [N,3,224,224]",
        lambda p: export_legacy(model, x224, p, 13, do_constant_folding=True, dynamic_axes=batch_axis),
        x224.numpy(), logits224, layer4_224)
    save_arrays(out_dir, {"input": x.numpy(), "logits": logits, "layer4": layer4, "input_grad": input_grad,
                          "layer4_grad": layer4_grad, "targets": np.array(RESNET18_SMALL_TARGETS, dtype=np.int64)})
    widths = "/".join(str(w) for w in RESNET18_SMALL["widths"])
    manifest = {
        "generator": "python3 tools/make_fixtures.py --resnet18-small",
        "torch": torch.__version__,
        "model": f"torchvision-style ResNet-18 (BasicBlock [2,2,2,2]) at widths {widths}, "
                 f"{RESNET18_SMALL['num_classes']} classes, seeded init, BN stats calibrated on "
                 "random batches, eval mode",
        "seed": SEED,
        "input_shape": list(x.shape),
        "input_name": "input",
        "output_name": "logits",
        "targets": RESNET18_SMALL_TARGETS,
        "argmax": [int(i) for i in logits.argmax(1)],
        "layer4": f"output of layer4 (after the last block's final ReLU), shape {list(layer4.shape)}",
        "gradients": "input_grad[i] = d logits[i, targets[i]] / d input[i]; layer4_grad likewise",
        "files": files,
    }
    save_json(os.path.join(out_dir, "manifest.json"), manifest)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"wrote {out_dir} ({total / 1e6:.2f} MB)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resnet18", metavar="OUTDIR", help="write the full-size ResNet-18 fixture set to OUTDIR")
    ap.add_argument("--resnet18-small", metavar="OUTDIR", nargs="?", const=RESNET18_SMALL_DIR,
                    help=f"write the width-reduced ResNet-18 set (default {RESNET18_SMALL_DIR})")
    ap.add_argument("--out", default=SMALL_DIR, help="directory for the small ResNet fixtures")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    if args.resnet18:
        make_resnet18(args.resnet18)
    elif args.resnet18_small:
        make_resnet18_small(args.resnet18_small)
    else:
        make_small(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
