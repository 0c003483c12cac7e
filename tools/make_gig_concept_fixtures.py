#!/usr/bin/env python3
"""Captum reference for GIG with non-identity concept bases on the demo model (Tests/Fixtures/gig_concepts/).

For three Fashion-MNIST test images and the demo model (models/fashion-resnet/model.onnx, evaluated
in PyTorch from its ONNX weights by tools/onnx_torch.py), two bases per traced layer, K < C:

  nmf : random sparse non-negative unit vectors; codes are the bank's coding of each PFV,
        u = argmin ½‖x − Vᵀu‖² + λ‖x‖‖u‖₁, u ≥ 0 (λ = 0.1, coordinate descent to convergence);
        masks where the layer-b code is > 0.
  pca : top-K principal directions of the images' PFVs with their mean (the mean is one more
        source node with code 1); codes u = V(x − mean), signed; masks where the code is ≠ 0.

and GIG edges computed with Captum over the concept coefficients (tools/gig_captum.py):

  stage2 -> stage3  (concept -> concept, masked targets)   [N, S_a, K_b]
  stage3 -> logits  (concept -> class, all classes)         [N, S_b, 10]

for each quadrature in QUADRATURES. Every file holds our orientation (sources × targets). The codes
are written to the fixture, so the Swift test (Tests/GIGTraceTests/GIGConceptCaptumTests.swift)
feeds GIGComputation exactly the same codes and compares to 1e-4.

Usage: python3 tools/make_gig_concept_fixtures.py   (needs torch, captum, onnx; the Debian package
dataset-fashion-mnist)
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gig_captum import gig  # noqa: E402
from onnx_torch import OnnxTorch  # noqa: E402
from train_demo import load_split, preprocess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "fashion-resnet", "model.onnx")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gig_concepts")
STAGE2, STAGE3 = "/stage2/relu/Relu_output_0", "/stage3/relu/Relu_output_0"
IMAGES = [0, 1, 2]
K = {"stage2": 8, "stage3": 12}
LAMBDA = 0.1
QUADRATURES = [("gausslegendre", 16), ("riemann_middle", 8)]


def pfvs(x):
    """[N, C, H, W] -> [N, P, C] with p = h·W + w."""
    n, c = x.shape[0], x.shape[1]
    return x.reshape(n, c, -1).transpose(0, 2, 1)


def sparse_nonnegative_basis(rng, k, c):
    v = np.abs(rng.standard_normal((k, c))) * (rng.random((k, c)) < 0.3)
    v[np.arange(k), rng.integers(0, c, k)] += 1.0   # no all-zero row
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def nonnegative_lasso(x, v, lam, sweeps=500):
    """Codes [M, K] of PFVs x [M, C]: coordinate descent on VVᵀ (the same problem ConceptBank.encode solves)."""
    x, v = x.astype(np.float64), v.astype(np.float64)
    gram, linear = v @ v.T, x @ v.T
    lambdas = lam * np.linalg.norm(x, axis=1)
    u = np.zeros_like(linear)
    for _ in range(sweeps):
        for k in range(v.shape[0]):
            residual = linear[:, k] - u @ gram[:, k] + gram[k, k] * u[:, k]
            u[:, k] = np.maximum(0.0, (residual - lambdas) / gram[k, k])
    return u.astype(np.float32)


def pca_basis(x, k):
    mean = x.mean(0)
    _, _, vt = np.linalg.svd((x - mean).astype(np.float64), full_matrices=False)
    return vt[:k].astype(np.float32), mean.astype(np.float32)


def main():
    torch.set_num_threads(1)
    net = OnnxTorch(MODEL)
    images, _ = load_split("t10k")
    x = preprocess(images[IMAGES])
    a, b = [t.numpy() for t in net.activations(x, [STAGE2, STAGE3])]
    n = len(IMAGES)
    pa, pb = pfvs(a), pfvs(b)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "inputs.npy"), x.numpy())
    manifest = {"generator": "python3 tools/make_gig_concept_fixtures.py", "images": IMAGES,
                "layers": {"stage2": STAGE2, "stage3": STAGE3}, "lambda": LAMBDA, "k": K,
                "quadratures": [f"{m}/{s}" for m, s in QUADRATURES], "variants": {}}
    rng = np.random.default_rng(0)
    for variant in ("nmf", "pca"):
        bases, codes = {}, {}
        for name, p in (("stage2", pa), ("stage3", pb)):
            flat = p.reshape(-1, p.shape[2])
            if variant == "nmf":
                v = sparse_nonnegative_basis(rng, K[name], p.shape[2])
                bases[name] = (v, None)
                codes[name] = nonnegative_lasso(flat, v, LAMBDA).reshape(n, p.shape[1], -1)
            else:
                v, mean = pca_basis(flat, K[name])
                bases[name] = (v, mean)
                codes[name] = ((flat - mean) @ v.T).astype(np.float32).reshape(n, p.shape[1], -1)
            np.save(os.path.join(OUT, f"{variant}_{name}_basis.npy"), bases[name][0])
            if bases[name][1] is not None:
                np.save(os.path.join(OUT, f"{variant}_{name}_mean.npy"), bases[name][1])
            np.save(os.path.join(OUT, f"{variant}_{name}_codes.npy"), codes[name])
        files = {}
        for method, steps in QUADRATURES:
            to_stage3 = gig(net.subnetwork(STAGE2, STAGE3), a.shape[1:], bases["stage2"][0], bases["stage2"][1],
                            codes["stage2"], K["stage3"], steps, method, target_vectors=bases["stage3"][0],
                            target_codes=codes["stage3"], signed_target=(variant == "pca"))
            to_logits = gig(net.subnetwork(STAGE3, "logits"), b.shape[1:], bases["stage3"][0], bases["stage3"][1],
                            codes["stage3"], 10, steps, method)
            name_b, name_c = f"{variant}_stage2_to_stage3_{method}_{steps}.npy", f"{variant}_stage3_to_logits_{method}_{steps}.npy"
            np.save(os.path.join(OUT, name_b), to_stage3)
            np.save(os.path.join(OUT, name_c), to_logits)
            files[f"{method}/{steps}"] = {"stage3": name_b, "logits": name_c}
            print(variant, method, steps, "max |edge|", float(np.abs(to_stage3).max()), float(np.abs(to_logits).max()))
        manifest["variants"][variant] = files
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
