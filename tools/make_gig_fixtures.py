#!/usr/bin/env python3
"""Captum reference for GIG with the identity concept basis (Tests/Fixtures/gig/).

With V = I (every channel its own concept, codes = the activations), GIG from traced layer a is
Integrated Gradients at layer a with a zero baseline there, summed over positions per channel.
This script computes exactly that with Captum's `IntegratedGradients`, applied to the
sub-network of the small ResNet (tools/make_fixtures.py) that starts at block1's output:

  block1 -> logits   : attributions for every class c, summed over positions -> [N, classes, C_a]
  block1 -> block2   : target r is g_r(Y) = sum_p m[p,r] * Y[r,p] with m = (real block2 output != 0),
                       the identity-basis case of METHOD §4's masked target -> [N, C_b, C_a]

for each quadrature in QUADRATURES (Captum method names and n_steps). The Swift test computes the
same numbers with `GIGComputation` on the ONNX export of the same network and compares to 1e-4.

Usage: python3 tools/make_gig_fixtures.py   (needs torch, captum; reads Tests/Fixtures/small_resnet)
"""
import json
import os
import sys

import numpy as np
import torch
from captum.attr import IntegratedGradients

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import SMALL_DIR, build_small_resnet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gig")
QUADRATURES = [("gausslegendre", 16), ("riemann_trapezoid", 20), ("riemann_middle", 8)]


def main():
    torch.set_num_threads(1)
    model = build_small_resnet()
    model.eval()
    x = torch.from_numpy(np.load(os.path.join(SMALL_DIR, "inputs.npy")))
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        block1 = model.block1(stem)
        block2 = model.block2(block1)
        logits = model(x)
    np.testing.assert_allclose(logits.numpy(), np.load(os.path.join(SMALL_DIR, "logits.npy")), rtol=1e-5, atol=1e-5)

    def to_logits(b):
        return model.fc(torch.flatten(model.avgpool(model.block2(b)), 1))

    mask = (block2 != 0).float()
    classes, c_a, c_b = logits.shape[1], block1.shape[1], block2.shape[1]
    manifest = {"generator": "python3 tools/make_gig_fixtures.py", "source": "block1 output",
                "targets": {"logits": "all classes", "block2": "identity concepts, masked by block2 != 0"},
                "files": {}}
    os.makedirs(OUT, exist_ok=True)
    for method, steps in QUADRATURES:
        ig = IntegratedGradients(to_logits)
        to_classes = np.zeros((x.shape[0], classes, c_a), dtype=np.float32)
        for c in range(classes):
            a = ig.attribute(block1, baselines=torch.zeros_like(block1), target=c, n_steps=steps, method=method)
            to_classes[:, c, :] = a.sum(dim=(2, 3)).detach().numpy()
        to_block2 = np.zeros((x.shape[0], c_b, c_a), dtype=np.float32)
        for r in range(c_b):
            def g_r(b, m, r=r):  # Captum tiles `m` along the batch like the scaled inputs
                return (model.block2(b) * m)[:, r].sum(dim=(1, 2))
            a = IntegratedGradients(g_r).attribute(block1, baselines=torch.zeros_like(block1), n_steps=steps,
                                                   method=method, additional_forward_args=(mask,))
            to_block2[:, r, :] = a.sum(dim=(2, 3)).detach().numpy()
        name_c = f"ig_block1_to_logits_{method}_{steps}.npy"
        name_b = f"ig_block1_to_block2_{method}_{steps}.npy"
        np.save(os.path.join(OUT, name_c), to_classes)
        np.save(os.path.join(OUT, name_b), to_block2)
        manifest["files"][f"{method}/{steps}"] = {"logits": name_c, "block2": name_b}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
