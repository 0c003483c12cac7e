#!/usr/bin/env python3
"""Train GIGTrace's built-in demo model: a small ResNet on Fashion-MNIST.

Usage (from the repository root; the Debian package `dataset-fashion-mnist` must be installed):

    python3 tools/train_demo.py [--epochs 3] [--seed 0] [--threads 1]

Reads /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, trains
with SGD + one-cycle learning rate, and writes
  models/fashion-resnet/{model.onnx, classes.txt, preprocessing.json, MODEL_CARD.md}
  Tests/Fixtures/demo/torch_test_predictions.npy   int64 [10000], argmax of the eval-mode model
  Tests/Fixtures/demo/torch_test_logits_first64.npy float32 [64, 10], logits of test images 0..63
The ONNX file is exported with the legacy TorchScript exporter (opset 17, eval mode, BatchNorm
folded into the convolutions), checked with onnx.checker and compared against the ONNX reference
evaluator on a few test images. Exits non-zero if test accuracy is below 90 %.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
WIDTHS = (16, 32, 64)


def read_idx(path):
    """Parses a gzipped IDX file (magic 0x0000_08_nd, big-endian dims, uint8 payload)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: payload has {data.size} bytes, header says {dims}")
    return data.reshape(dims)


def load_split(split):
    images = read_idx(os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz"))
    return images, labels.astype(np.int64)


def preprocess(images_u8):
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28], x = (u8/255 - MEAN)/STD."""
    x = (images_u8.astype(np.float32) / 255.0 - np.float32(MEAN)) / np.float32(STD)
    return torch.from_numpy(x[:, None, :, :].copy())


class Stem(nn.Module):
    def __init__(self, cout):
        super().__init__()
        self.conv = nn.Conv2d(1, cout, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet BasicBlock: relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut x)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))
        else:
            self.downsample = None
        self.relu = nn.ReLU()

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Head(nn.Module):
    def __init__(self, cin, classes):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(x), 1))


class FashionResNet(nn.Module):
    """[N,1,28,28] -> logits [N,10]. stage1 28x28x16, stage2 14x14x32, stage3 7x7x64."""

    def __init__(self, widths=WIDTHS, classes=10):
        super().__init__()
        w1, w2, w3 = widths
        self.stem = Stem(w1)
        self.stage1 = BasicBlock(w1, w1, 1)
        self.stage2 = BasicBlock(w1, w2, 2)
        self.stage3 = BasicBlock(w2, w3, 2)
        self.head = Head(w3, classes)

    def forward(self, x):
        return self.head(self.stage3(self.stage2(self.stage1(self.stem(x)))))


def evaluate(model, x, batch=1000):
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out.append(model(x[i:i + batch].contiguous(memory_format=torch.channels_last)))
    return torch.cat(out).float()


def write_atomic(path, write):
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.2, help="peak one-cycle learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "fashion-resnet"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "Tests", "Fixtures", "demo"))
    ap.add_argument("--state", default="/tmp/fashion_resnet_state.pt",
                    help="where the trained weights are saved (not committed)")
    ap.add_argument("--from-state", help="skip training, export the weights saved at this path")
    ap.add_argument("--train-seconds", type=float, default=float("nan"),
                    help="with --from-state: training time to record in the model card")
    args = ap.parse_args()
    training_args = []                       # the command that trains, without re-export flags
    skip = {"--from-state", "--train-seconds"}
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        flag = argv[i].split("=")[0]
        if flag in skip:
            i += 1 if "=" in argv[i] else 2
            continue
        training_args.append(argv[i])
        i += 1
    command = " ".join(["python3 tools/train_demo.py"] + training_args)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    train_u8, train_y = load_split("train")
    test_u8, test_y = load_split("t10k")
    x_train, y_train = preprocess(train_u8), torch.from_numpy(train_y)
    x_test, y_test = preprocess(test_u8), torch.from_numpy(test_y)

    model = FashionResNet().to(memory_format=torch.channels_last)
    steps_per_epoch = len(x_train) // args.batch
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.25)
    t0 = time.time()
    if args.from_state:                      # re-export a model trained earlier, no training
        model.load_state_dict(torch.load(args.from_state))
        args.epochs = 0
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        seen, loss_sum, correct = 0, 0.0, 0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch:(step + 1) * args.batch]
            xb, yb = x_train[idx], y_train[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5          # horizontal flip augmentation
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            xb = xb.contiguous(memory_format=torch.channels_last)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            if step % 50 == 0 or step == steps_per_epoch - 1:
                el = time.time() - t0
                done = epoch * steps_per_epoch + step + 1
                eta = el / done * (args.epochs * steps_per_epoch - done)
                print(f"epoch {epoch + 1}/{args.epochs} step {step + 1}/{steps_per_epoch} "
                      f"loss {loss_sum / seen:.4f} train acc {correct / seen:.4f} "
                      f"{done * args.batch / el:.0f} img/s elapsed {el:.0f}s eta {eta:.0f}s",
                      file=sys.stderr, flush=True)
        logits = evaluate(model, x_test)
        acc = (logits.argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f}", file=sys.stderr, flush=True)
    train_seconds = time.time() - t0
    if not args.from_state:
        torch.save(model.state_dict(), args.state)
        print(f"saved weights to {args.state}", file=sys.stderr)
    else:
        train_seconds = args.train_seconds

    model = model.to(memory_format=torch.contiguous_format).eval()
    logits = evaluate(model, x_test)
    preds = logits.argmax(1)
    acc = (preds == y_test).float().mean().item()
    print(f"final test accuracy {acc:.4f}, training {train_seconds:.0f}s", file=sys.stderr)
    if acc < 0.90:
        print("error: test accuracy below 90 %", file=sys.stderr)
        return 1

    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.fixtures, exist_ok=True)
    write_atomic(os.path.join(args.fixtures, "torch_test_predictions.npy"),
                 lambda p: np.save(open(p, "wb"), preds.numpy().astype(np.int64)))
    write_atomic(os.path.join(args.fixtures, "torch_test_logits_first64.npy"),
                 lambda p: np.save(open(p, "wb"), logits[:64].numpy().astype(np.float32)))

    onnx_path = os.path.join(args.out, "model.onnx")
    write_atomic(onnx_path, lambda p: torch.onnx.export(
        model, (x_test[:1],), p, dynamo=False, opset_version=17, do_constant_folding=True,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}))
    stage_names, op_types = check_onnx(onnx_path, model, x_test[:8])

    write_atomic(os.path.join(args.out, "classes.txt"),
                 lambda p: open(p, "w").write("\n".join(CLASSES) + "\n"))
    prep = {"input_name": "input", "input_shape": [1, 28, 28], "channels": 1, "color": "grayscale",
            "layout": "NCHW", "scale": 1.0 / 255.0, "mean": [MEAN], "std": [STD],
            "resize": None, "crop": None,
            "formula": "x = (pixel_uint8 / 255 - mean) / std"}
    write_atomic(os.path.join(args.out, "preprocessing.json"),
                 lambda p: open(p, "w").write(json.dumps(prep, indent=2) + "\n"))
    top2 = logits.topk(2, dim=1).values
    close = int(((top2[:, 0] - top2[:, 1]) < 1e-3).sum())
    card = model_card(acc, train_seconds, args, command, stage_names, op_types, close)
    write_atomic(os.path.join(args.out, "MODEL_CARD.md"), lambda p: open(p, "w").write(card))
    print(f"wrote {args.out} and {args.fixtures}", file=sys.stderr)
    return 0


def check_onnx(path, model, x):
    """Checks the export and compares the ONNX reference evaluator with torch; returns the
    ONNX tensor names of the stem/stage outputs and the sorted op types."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    op_types = sorted({n.op_type for n in m.graph.node})
    names = {}
    for module in ("stem", "stage1", "stage2", "stage3"):
        relus = [n.output[0] for n in m.graph.node
                 if n.op_type == "Relu" and n.name in (f"/{module}/relu/Relu",)]
        if len(relus) != 1:
            raise RuntimeError(f"cannot find the output Relu of {module} in {path}")
        names[module] = relus[0]
    # Expose the stage outputs as extra graph outputs and compare values with torch hooks.
    wanted = list(names.values())
    for t in wanted:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
    ref = ReferenceEvaluator(m)
    outs = ref.run(None, {"input": x.numpy()})
    captured = {}
    hooks = [getattr(model, k).register_forward_hook(
        lambda mod, i, o, k=k: captured.__setitem__(k, o.detach().numpy())) for k in names]
    with torch.inference_mode():
        torch_logits = model(x).numpy()
    for h in hooks:
        h.remove()
    diffs = {"logits": float(np.abs(outs[0] - torch_logits).max())}
    for k, o in zip(names, outs[1:]):
        diffs[k] = float(np.abs(o - captured[k]).max())
    print(f"ONNX reference vs torch max abs diff: {diffs}", file=sys.stderr)
    if max(diffs.values()) > 1e-3:
        raise RuntimeError(f"ONNX export disagrees with torch: {diffs}")
    return names, op_types


def model_card(acc, seconds, args, command, names, op_types, close):
    w1, w2, w3 = WIDTHS
    return f"""# fashion-resnet — GIGTrace demo model

A small ResNet trained on Fashion-MNIST, shipped as GIGTrace's built-in demo model.

## Files
- `model.onnx` — ONNX opset 17, legacy TorchScript exporter (`torch.onnx.export(..., dynamo=False)`),
  eval mode, BatchNorm folded into the convolutions (`do_constant_folding=True`).
  Input `input` float32 [batch, 1, 28, 28], output `logits` float32 [batch, 10] (dynamic batch).
  Op types: {", ".join(op_types)}.
- `classes.txt` — the 10 class names, line i = class index i.
- `preprocessing.json` — the exact input transform (below).

## Architecture
| module | content | output shape | ONNX tensor name of the output |
|---|---|---|---|
| stem | conv 3×3 1→{w1}, BN, ReLU | {w1}×28×28 | `{names["stem"]}` |
| stage1 | BasicBlock {w1}→{w1}, stride 1 (identity shortcut) | {w1}×28×28 | `{names["stage1"]}` |
| stage2 | BasicBlock {w1}→{w2}, stride 2 (1×1 conv + BN shortcut) | {w2}×14×14 | `{names["stage2"]}` |
| stage3 | BasicBlock {w2}→{w3}, stride 2 (1×1 conv + BN shortcut) | {w3}×7×7 | `{names["stage3"]}` |
| head | global average pool, flatten, linear {w3}→10 | 10 | `logits` |

BasicBlock = ReLU(BN(conv3×3(ReLU(BN(conv3×3(x))))) + shortcut(x)); the stage output is the
tensor after the final ReLU.

## Data
Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the Debian package `dataset-fashion-mnist`
(`/usr/share/datasets/fashion-mnist/*.gz`): 60 000 training images, 10 000 test images, 28×28 grayscale.

## Preprocessing
`x = (pixel / 255 − 0.2860) / 0.3530` on the uint8 pixel, one channel, NCHW [1, 28, 28];
no resize, no crop, no colour conversion.

## Training
SGD (momentum 0.9, Nesterov, weight decay 5e-4), batch {args.batch}, one-cycle learning rate with
peak {args.lr}, {args.epochs} epochs, random horizontal flips, seed {args.seed}, {args.threads} CPU thread(s),
PyTorch {torch.__version__}. Training time: {seconds:.0f} s wall clock (shared 2-core machine).

Command (from the repository root):

    {command}

## Result
Test accuracy (10 000 test images, eval mode): **{acc * 100:.2f} %**.
`Tests/Fixtures/demo/torch_test_predictions.npy` holds the PyTorch argmax for every test image and
`torch_test_logits_first64.npy` the logits of the first 64 test images. {close} test image(s) have a
top-2 logit margin below 1e-3, where a different summation order may legitimately flip the argmax.
"""


if __name__ == "__main__":
    sys.exit(main())
