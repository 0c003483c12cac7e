"""Reference input attribution maps for the attribution tests (METHOD §7), on the committed
SmallResNet fixture (Tests/Fixtures/small_resnet/legacy_folded.onnx, evaluated in PyTorch by
tools/onnx_torch.py with exactly the ONNX weights):

- Captum's IntegratedGradients (several `method` / `n_steps` / `baselines` / `internal_batch_size`)
  and InputXGradient;
- GGIG (arXiv 2206.05903) written here from its definition, one scaled point at a time:
  S = (x - x') * max_k grad F_c(x' + (k/m)(x - x')), k = 0..m, and the gradient-ascent variant
  (T steps z <- z + eta grad F_c(z) from each point, maximum over the T gradients met).

    python3 tools/make_attribution_fixtures.py      # writes Tests/Fixtures/attribution/ (committed)

Needs torch and captum (pip install captum); the Swift tests only read the .npy outputs.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_torch import OnnxTorch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = os.path.join(ROOT, "Tests", "Fixtures", "small_resnet")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "attribution")
TARGETS = [3, 0, 7, 9]


def ggig(f, x, baseline, target, m=50, ascent=None):
    """GGIG of one image [1,C,H,W] from the definition, one point (and one ascent step) at a time."""
    best = torch.full_like(x, -float("inf"))
    for k in range(m + 1):
        z = (baseline + (k / m) * (x - baseline)).detach()
        steps = ascent[0] if ascent else 1
        for _ in range(steps):
            z.requires_grad_(True)
            g, = torch.autograd.grad(f(z)[0, target], z)
            best = torch.maximum(best, g)
            if ascent:
                z = (z + ascent[1] * g).detach()
    return ((x - baseline) * best).detach()


def main():
    from captum.attr import InputXGradient, IntegratedGradients
    torch.set_num_threads(1)
    net = OnnxTorch(os.path.join(SMALL, "legacy_folded.onnx"))

    def f(x):
        return net.run({net.input_name: x}, net.output_name)

    x = torch.from_numpy(np.load(os.path.join(SMALL, "inputs.npy")))
    logits = f(x).detach().numpy()
    assert np.allclose(logits, np.load(os.path.join(SMALL, "logits.npy")), atol=1e-4), "ONNX evaluator disagrees with logits.npy"
    g = torch.Generator().manual_seed(77)
    baseline = 0.5 * torch.randn(x.shape, generator=g)
    targets = TARGETS
    os.makedirs(OUT, exist_ok=True)
    files = {}

    def save(name, array, how):
        np.save(os.path.join(OUT, name), np.ascontiguousarray(array, dtype=np.float32))
        files[name] = how

    save("baseline.npy", baseline.numpy(), "0.5 * randn (torch.Generator seed 77), shape of inputs")
    ig = IntegratedGradients(f)
    cases = [("ig_gausslegendre_50_zero.npy", dict(method="gausslegendre", n_steps=50), None, None),
             ("ig_riemann_trapezoid_20_baseline_ibs7.npy", dict(method="riemann_trapezoid", n_steps=20), baseline, 7),
             ("ig_riemann_left_16_baseline.npy", dict(method="riemann_left", n_steps=16), baseline, None)]
    for name, kw, b, ibs in cases:
        a = ig.attribute(x, baselines=b, target=targets, internal_batch_size=ibs, **kw)
        save(name, a.detach().numpy(), f"captum IntegratedGradients {kw}, baselines={'baseline.npy' if b is not None else 'zero'}, internal_batch_size={ibs}")
    a = InputXGradient(f).attribute(x.clone().requires_grad_(True), target=targets)
    save("gradxinput.npy", a.detach().numpy(), "captum InputXGradient")

    zero = torch.zeros_like(x)
    for name, b, ascent in [("ggig_m50_zero.npy", zero, None), ("ggig_m50_baseline.npy", baseline, None),
                            ("ggig_m10_ascent_T4_eta0.05_zero.npy", zero, (4, 0.05))]:
        m = 10 if ascent else 50
        maps = [ggig(f, x[i:i + 1], b[i:i + 1], targets[i], m=m, ascent=ascent) for i in range(len(targets))]
        save(name, torch.cat(maps).numpy(), f"GGIG from the definition, m={m}, ascent (T, eta)={ascent}, baseline={'zero' if b is zero else 'baseline.npy'}")

    manifest = {"generator": "python3 tools/make_attribution_fixtures.py", "torch": torch.__version__,
                "captum": __import__("captum").__version__, "model": "Tests/Fixtures/small_resnet/legacy_folded.onnx",
                "inputs": "Tests/Fixtures/small_resnet/inputs.npy", "targets": targets, "files": files}
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")


if __name__ == "__main__":
    main()
