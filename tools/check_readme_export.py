#!/usr/bin/env python3
"""Runs README's export snippet ("How do I trace my model?", snippet export-onnx) exactly as README
shows it and checks that gigtrace reads both files it writes. Needs torch (CPU build) and onnx.

    python3 tools/check_readme_export.py [--gigtrace .build/release/gigtrace]

No weights can be downloaded here, so `torchvision` is a stand-in module whose
`models.resnet18(weights=...)` returns tools/make_fixtures.py's torchvision-layout ResNet-18 at
widths 8/16/32/64 (10 classes, seeded, BN calibrated); the snippet's own lines run unchanged.
Checks, per written ONNX file: onnx.reference's logits equal PyTorch's (batch of 2, 1e-4), and
with --gigtrace: `gigtrace inspect` loads it and suggests the layers README names for the
TorchScript export, and `gigtrace forward` gives PyTorch's logits (1e-4 of max |logit|).
"""
import argparse
import builtins
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import build_resnet18  # noqa: E402
from readme_snippets import snippet  # noqa: E402

README_LAYERS = ["/layer2/layer2.1/relu_1/Relu_output_0", "/layer3/layer3.1/relu_1/Relu_output_0",
                 "/layer4/layer4.1/relu_1/Relu_output_0"]


def builtins_with_stand_in_torchvision():
    """Builtins whose `import torchvision` gives a module with models.resnet18(weights=...) ->
    the small seeded ResNet-18; every other import is the usual one (the exporter still sees no
    torchvision installed)."""
    module = types.ModuleType("torchvision")
    module.models = types.SimpleNamespace(
        resnet18=lambda weights=None: build_resnet18(num_classes=10, widths=(8, 16, 32, 64), size=224))

    def importing(name, *args, **kwargs):
        return module if name == "torchvision" else builtins.__import__(name, *args, **kwargs)
    return dict(vars(builtins), __import__=importing)


def onnx_reference_logits(path, x):
    """Logits of `x` by onnx.reference, image by image (the dynamo export fixes the batch size of
    its final Reshape to the example's; gigtrace's engine does not need that)."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    m = onnx.load(path)      # loads a .onnx.data file beside it too
    onnx.checker.check_model(m)
    evaluator = ReferenceEvaluator(m)
    return np.concatenate([evaluator.run(None, {m.graph.input[0].name: x[i:i + 1]})[0] for i in range(len(x))])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gigtrace", help="a built gigtrace executable to load the exports with")
    args = ap.parse_args()
    gigtrace = os.path.abspath(args.gigtrace) if args.gigtrace else None
    torch.set_num_threads(1)
    failures = []
    with tempfile.TemporaryDirectory(prefix="readme-export-") as work:
        os.chdir(work)
        namespace = {"__builtins__": builtins_with_stand_in_torchvision()}
        exec(compile(snippet("export-onnx"), "README.md:export-onnx", "exec"), namespace)
        model = namespace["model"]
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            expected = model(x).numpy()
        np.save("x.npy", x.numpy())
        files = sorted(f for f in os.listdir(".") if f.endswith(".onnx"))
        if files != ["resnet18.onnx", "resnet18_dynamo.onnx"]:
            failures.append(f"the snippet wrote {files}, expected resnet18.onnx and resnet18_dynamo.onnx")
        for name in files:
            diff = float(np.abs(onnx_reference_logits(name, x.numpy()) - expected).max())
            print(f"{name}: onnx.reference vs torch max |diff| {diff:.2e}"
                  f" ({', '.join(sorted(os.listdir('.')))})", file=sys.stderr)
            if diff > 1e-4:
                failures.append(f"{name}: onnx.reference logits differ from torch by {diff}")
            if gigtrace is None:
                continue
            inspect = subprocess.run([gigtrace, "inspect", "--model", name], capture_output=True, text=True)
            if inspect.returncode != 0:
                failures.append(f"gigtrace inspect {name}: {inspect.stderr.strip()}")
                continue
            suggested = inspect.stdout.split("suggested trace layers:\n", 1)[-1]
            if name == "resnet18.onnx" and not all(f"  {layer} " in suggested for layer in README_LAYERS):
                failures.append(f"gigtrace inspect {name} does not suggest README's layers: {suggested}")
            out = f"forward-{name}"
            os.mkdir(out)
            run = subprocess.run([gigtrace, "forward", "--model", name, "--input", "x.npy", "--out", out,
                                  "--quiet"], capture_output=True, text=True)
            if run.returncode != 0:
                failures.append(f"gigtrace forward {name}: {run.stderr.strip()}")
                continue
            logits = np.load(os.path.join(out, "logits.npy"))
            worst = float(np.abs(logits - expected).max())
            print(f"{name}: gigtrace forward vs torch max |diff| {worst:.2e}", file=sys.stderr)
            if worst > 1e-4 * float(np.abs(expected).max()):
                failures.append(f"{name}: gigtrace logits differ from torch by {worst}")
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print("README export snippet: " + ("failed" if failures else "both exports checked"), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
