#!/usr/bin/env python3
"""Independent reference for the edges a trace stores (Tests/Fixtures/trace_edges/).

Reads the concept banks stored in a small trace of the demo model (Tests/Fixtures/trace_edges/trace.sqlite,
made by the command in manifest.json: stage 2 and stage 3, K = 4 k-means concepts, the error node on,
8 Gauss–Legendre steps, the first 4 Fashion-MNIST test images), and recomputes from scratch, in PyTorch
(the ONNX weights run by tools/onnx_torch.py) and Captum:

  - the layers' real activations X, and their codes with the non-negative Lasso
    u = argmin ½‖x − Vᵀu‖² + λ‖x‖‖u‖₁, u ≥ 0 (numpy coordinate descent, to convergence);
  - GIG with the error node (docs/METHOD.md §4): the path is α·X from 0 to the real X, written as
    Σ_q u_q v_q + s·E with E = X − X̃; Captum's IntegratedGradients over the inputs (codes, s) from a
    zero baseline; the attribution of s is the error node's edge, those of the codes summed over
    positions the concepts' edges;
  - stage 2 → stage 3 (masked concept targets, mask from the real stage-3 codes), and each stage →
    the predicted class's logit;
  - stage 2 → stage 3 with the coefficient target (docs/METHOD.md §4, `--target coefficient`): target r
    is Σ_p m_{p,r} u_{p,r}(Y_p), the Lasso's KKT solution on the active set S_p of the real stage-3 code,
    u_S(y) = G_S⁻¹(V_S y − λ‖y‖·1) with G_S = V_S V_Sᵀ (torch.linalg.solve per position).

Writes, per image (sources = 4 concepts + the error node):
  class_relevance_stage2.npy [4, 5], class_relevance_stage3.npy [4, 5], next_edges_stage2.npy [4, 5, 4],
  next_edges_coefficient_stage2.npy [4, 5, 4], predictions.npy [4].
Tests/GIGTraceTests/TraceEdgeReferenceTests.swift retraces the 4 images with the stored banks
(`--concept-bank trace.sqlite`) and compares what the new trace stores with these to 1e-3.

Usage: python3 tools/make_trace_edge_fixture.py   (needs torch, captum, onnx, dataset-fashion-mnist)
"""
import json
import os
import sqlite3
import sys

import numpy as np
import torch
from captum.attr import IntegratedGradients

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gig_concept_fixtures import nonnegative_lasso  # noqa: E402
from onnx_torch import OnnxTorch  # noqa: E402
from train_demo import load_split, preprocess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "fashion-resnet", "model.onnx")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "trace_edges")
TRACE = os.path.join(OUT, "trace.sqlite")
STAGE2, STAGE3 = "/stage2/relu/Relu_output_0", "/stage3/relu/Relu_output_0"
IMAGES = [0, 1, 2, 3]
STEPS = 8


def banks(path):
    db = sqlite3.connect(path)
    out = {}
    for name, k, c, lam, vectors in db.execute(
            "SELECT l.name, b.concept_count, b.channels, b.lambda, b.vectors FROM concept_banks b JOIN layers l USING(level)"):
        out[name] = (np.frombuffer(vectors, dtype="<f4").reshape(k, c).copy(), lam)
    return out


def codes_of(x, v, lam):
    """x [N, C, H, W] -> codes [N, P, K]."""
    n, c = x.shape[0], x.shape[1]
    p = x.reshape(n, c, -1).transpose(0, 2, 1).reshape(-1, c)
    return nonnegative_lasso(p, v, lam, sweeps=2000).reshape(n, -1, v.shape[0])


def gig_with_error_node(f, x, v, u, score, targets):
    """Edges [S = K + 1, T] for one image: IG over (codes, s) with x = Σ u v + s·E, E = X − X̃."""
    c, h, w = x.shape
    v = torch.as_tensor(v)
    u = torch.as_tensor(u)[None]                         # [1, P, K]
    recon = (u[0] @ v).t().reshape(c, h, w)
    e = (torch.as_tensor(x) - recon)[None]               # [1, C, H, W]

    def forward(codes, s, err):
        y = (codes @ v).transpose(1, 2).reshape(codes.shape[0], c, h, w) + s[:, :, None, None] * err
        return score(f(y))

    edges = np.zeros((v.shape[0] + 1, len(targets)), dtype=np.float64)
    ig = IntegratedGradients(forward)
    for j, t in enumerate(targets):
        a_u, a_s = ig.attribute((u, torch.ones(1, 1)), baselines=(torch.zeros_like(u), torch.zeros(1, 1)), target=t,
                                additional_forward_args=(e,), n_steps=STEPS, method="gausslegendre")
        edges[:-1, j] = a_u[0].sum(0).detach().numpy()
        edges[-1, j] = float(a_s[0, 0])
    return edges


def coefficient_target(v, lam, codes):
    """Per position p and concept r in the active set S_p (codes > 0): the rows of G_S⁻¹V_S and λ·G_S⁻¹1, so
    that u_{p,r}(y) = a[p, r]·y − b[p, r]·‖y‖; zero outside S_p (those targets are masked out)."""
    p_count, k = codes.shape
    a = torch.zeros(p_count, k, v.shape[1], dtype=torch.float64)
    b = torch.zeros(p_count, k, dtype=torch.float64)
    vt = torch.as_tensor(v, dtype=torch.float64)
    for p in range(p_count):
        support = np.flatnonzero(codes[p] > 0)
        if support.size == 0:
            continue
        vs = vt[support]
        gram = vs @ vs.t()
        a[p, support] = torch.linalg.solve(gram, vs)
        b[p, support] = lam * torch.linalg.solve(gram, torch.ones(support.size, dtype=torch.float64))
    return a.float(), b.float()


def main():
    torch.set_num_threads(1)
    net = OnnxTorch(MODEL)
    images, _ = load_split("t10k")
    x = preprocess(images[IMAGES])
    stored = banks(TRACE)
    a2, a3 = [t.detach().numpy() for t in net.activations(x, [STAGE2, STAGE3])]
    with torch.no_grad():
        logits = net.subnetwork(STAGE3, "logits")(torch.as_tensor(a3)).numpy()
    predictions = logits.argmax(1)
    v2, lam2 = stored[STAGE2]
    v3, lam3 = stored[STAGE3]
    u2, u3 = codes_of(a2, v2, lam2), codes_of(a3, v3, lam3)
    f23, f2l, f3l = net.subnetwork(STAGE2, STAGE3), net.subnetwork(STAGE2, "logits"), net.subnetwork(STAGE3, "logits")
    k3 = v3.shape[0]
    class2, class3, next2, next2_coefficient = [], [], [], []
    for i, c in enumerate(predictions):
        logit = lambda y: y  # noqa: E731  (targets pick the logit)
        class2.append(gig_with_error_node(f2l, a2[i], v2, u2[i], logit, [int(c)])[:, 0])
        class3.append(gig_with_error_node(f3l, a3[i], v3, u3[i], logit, [int(c)])[:, 0])
        mask = torch.as_tensor((u3[i] > 0).astype(np.float32))           # [P3, K3]
        vb = torch.as_tensor(v3)

        def concept_scores(y, mask=mask, vb=vb):
            proj = y.reshape(y.shape[0], y.shape[1], -1).transpose(1, 2) @ vb.t()   # [B, P, K3]
            return (proj * mask[None]).sum(1)

        active = [r for r in range(k3) if mask[:, r].sum() > 0]
        edges = np.zeros((v2.shape[0] + 1, k3))
        if active:
            edges[:, active] = gig_with_error_node(f23, a2[i], v2, u2[i], concept_scores, active)
        next2.append(edges)

        coefficient_map, norm_weight = coefficient_target(v3, lam3, u3[i])

        def coefficient_scores(y, a=coefficient_map, b=norm_weight):
            y = y.reshape(y.shape[0], y.shape[1], -1).transpose(1, 2)                # [B, P, C]
            return torch.einsum("pkc,bpc->bk", a, y) - torch.einsum("pk,bp->bk", b, y.norm(dim=2))

        edges = np.zeros((v2.shape[0] + 1, k3))
        if active:
            edges[:, active] = gig_with_error_node(f23, a2[i], v2, u2[i], coefficient_scores, active)
        next2_coefficient.append(edges)
    np.save(os.path.join(OUT, "class_relevance_stage2.npy"), np.array(class2, dtype=np.float32))
    np.save(os.path.join(OUT, "class_relevance_stage3.npy"), np.array(class3, dtype=np.float32))
    np.save(os.path.join(OUT, "next_edges_stage2.npy"), np.array(next2, dtype=np.float32))
    np.save(os.path.join(OUT, "next_edges_coefficient_stage2.npy"), np.array(next2_coefficient, dtype=np.float32))
    np.save(os.path.join(OUT, "predictions.npy"), predictions.astype(np.int64))
    print("predictions", predictions.tolist(), "max |edge|", float(np.abs(np.array(next2)).max()))


if __name__ == "__main__":
    main()
