#!/usr/bin/env python3
"""Independent NumPy reference for GIG's coefficient target (docs/METHOD.md §4, issue 15).

Builds a tiny ONNX model  x → Relu (layer a) → Conv 3×3, pad 1, bias → Relu (layer b) → global
average pool → Gemm (3 logits), a source concept basis V_a with non-negative codes U, a target bank
V_b with coding λ, and computes in float64, from the formulas alone (no Swift, no PyTorch):

  * the real layer b, Y = F(X̃), X̃ = V_aᵀ U (the path end without the error node);
  * its non-negative Lasso codes u = argmin ½‖y − V_bᵀu‖² + λ‖y‖·‖u‖₁, u ≥ 0 (projected coordinate
    descent run to 1e-14) and their active sets S_p; with CODING = debiased (docs/METHOD.md §3) the
    codes are then refit on each S_p by non-negative least squares (scipy.optimize.nnls), S_p shrinks
    to the refit's non-zeros, and λ leaves the closed form below (λ_S = 0: u_S = G_S⁻¹V_S Y_p);
  * the coefficient target g_r(Y) = Σ_{p: r ∈ S_p} [G_S⁻¹(V_S Y_p − λ_S‖Y_p‖·1)]_r, G_S = V_S V_Sᵀ
    (np.linalg.inv; λ_S = λ for Lasso codes, 0 for debiased ones), its gradient a_{p,r} − β_{p,r}
    Y_p/‖Y_p‖, pulled back through ReLU and the convolution by hand;
  * GIG(q → r) = Σ_p u_{p,q} ⟨v_q, Σ_k w_k ∇_X g_r(F(α_k X̃))_p⟩ with Gauss–Legendre points on [0, 1]
    (numpy.polynomial.legendre.leggauss), and g_r(F(X̃)) − g_r(F(0)).

Usage: coefficient_target_reference.py OUTDIR [STEPS [lasso|debiased]]  — writes model.onnx, basis_a.npy (K_a×C_a),
codes_a.npy (P×K_a), basis_b.npy (K_b×C_b), codes_b.npy (P×K_b), edges.npy (K_a×K_b, 0 for
inactive targets), delta.npy (K_b), layer_b.npy (C_b×H×W) and meta.json (tensor names, λ, λ_S, coding, steps).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from scipy.optimize import nnls

CA, CB, H, W, KA, KB, CLASSES, LAMBDA = 3, 4, 4, 4, 4, 5, 3, 0.1
P = H * W


def unit_rows(m):
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def conv(x, weight, bias):
    """3×3 convolution, padding 1, stride 1: x C_a×H×W → C_b×H×W."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((weight.shape[0], H, W))
    for i in range(3):
        for j in range(3):
            out += np.einsum("oc,chw->ohw", weight[:, :, i, j], padded[:, i:i + H, j:j + W])
    return out + bias[:, None, None]


def conv_transpose(g, weight):
    """The convolution's adjoint: ∂⟨g, conv(x)⟩/∂x for g C_b×H×W."""
    out = np.zeros((CA, H + 2, W + 2))
    for i in range(3):
        for j in range(3):
            out[:, i:i + H, j:j + W] += np.einsum("oc,ohw->chw", weight[:, :, i, j], g)
    return out[:, 1:H + 1, 1:W + 1]


def lasso_codes(y, basis, lam):
    """Non-negative Lasso per position (rows of y: P×C) by projected coordinate descent."""
    gram, codes = basis @ basis.T, np.zeros((y.shape[0], basis.shape[0]))
    for p in range(y.shape[0]):
        b, penalty, u = basis @ y[p], lam * np.linalg.norm(y[p]), codes[p]
        for _ in range(100000):
            change = 0.0
            for j in range(len(u)):
                new = max(0.0, u[j] + (b[j] - gram[j] @ u - penalty) / gram[j, j])
                change, u[j] = max(change, abs(new - u[j])), new
            if change < 1e-14:
                break
    return codes


def main():
    out = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    coding = sys.argv[3] if len(sys.argv) > 3 else "lasso"
    assert coding in ("lasso", "debiased"), f"unknown coding {coding}"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(15)
    weight = rng.normal(0, 0.5, (CB, CA, 3, 3))
    bias = rng.normal(0.1, 0.2, CB)
    head = rng.normal(0, 1, (CLASSES, CB))
    # Round to float32 so the Swift engine runs exactly this model.
    weight, bias, head = (a.astype(np.float32).astype(np.float64) for a in (weight, bias, head))
    basis_a = unit_rows(rng.uniform(0, 1, (KA, CA))).astype(np.float32).astype(np.float64)
    codes_a = (rng.uniform(0, 1, (P, KA)) * (rng.uniform(0, 1, (P, KA)) < 0.6)).astype(np.float32).astype(np.float64)
    # Correlated non-negative target concepts (as k-means centroids of post-ReLU PFVs are).
    basis_b = unit_rows(rng.uniform(0, 1, (KB, CB)) + 0.3).astype(np.float32).astype(np.float64)

    x_tilde = (codes_a @ basis_a).T.reshape(CA, H, W)
    z = conv(x_tilde, weight, bias)
    y = np.maximum(z, 0)
    codes_b = lasso_codes(y.reshape(CB, P).T, basis_b, LAMBDA)
    support_lambda = LAMBDA
    if coding == "debiased":
        for p in range(P):
            s = np.flatnonzero(codes_b[p] > 0)
            if len(s):
                codes_b[p, s] = nnls(basis_b[s].T, y.reshape(CB, P)[:, p])[0]
        support_lambda = 0.0
    active = codes_b > 0

    # Per position: a_{p,r} (C_b) and β_{p,r} for r ∈ S_p.
    a = np.zeros((KB, CB, P))
    beta = np.zeros((KB, P))
    for p in range(P):
        s = np.flatnonzero(active[p])
        if len(s) == 0:
            continue
        inverse = np.linalg.inv(basis_b[s] @ basis_b[s].T)
        for i, r in enumerate(s):
            a[r, :, p] = inverse[i] @ basis_b[s]
            beta[r, p] = support_lambda * inverse[i].sum()

    def g(yy):
        flat = yy.reshape(CB, P)
        norms = np.linalg.norm(flat, axis=0)
        return np.einsum("rcp,cp->r", a, flat) - beta @ norms

    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1) / 2, weights / 2
    gradient = np.zeros((KB, CA, P))
    for alpha, w in zip(alphas, weights):
        zk = conv(alpha * x_tilde, weight, bias)
        yk = np.maximum(zk, 0).reshape(CB, P)
        norms = np.linalg.norm(yk, axis=0)
        unit = np.divide(yk, norms, out=np.zeros_like(yk), where=norms > 0)
        for r in range(KB):
            gy = (a[r] - beta[r] * unit) * (zk.reshape(CB, P) > 0)
            gradient[r] += w * conv_transpose(gy.reshape(CB, H, W), weight).reshape(CA, P)
    edges = np.einsum("pq,qc,rcp->qr", codes_a, basis_a, gradient)
    edges[:, ~active.any(axis=0)] = 0
    delta = g(y) - g(np.maximum(conv(np.zeros_like(x_tilde), weight, bias), 0))
    delta[~active.any(axis=0)] = 0

    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["a"]),
         helper.make_node("Conv", ["a", "w", "b"], ["z"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["z"], ["layer_b"]),
         helper.make_node("GlobalAveragePool", ["layer_b"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Gemm", ["flat", "head"], ["logits"], transB=1)],
        "coefficient_target",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", CA, H, W])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        [numpy_helper.from_array(weight.astype(np.float32), "w"), numpy_helper.from_array(bias.astype(np.float32), "b"),
         numpy_helper.from_array(head.astype(np.float32), "head")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), os.path.join(out, "model.onnx"))
    for name, value in [("basis_a", basis_a), ("codes_a", codes_a), ("basis_b", basis_b), ("codes_b", codes_b),
                        ("edges", edges), ("delta", delta), ("layer_b", y)]:
        np.save(os.path.join(out, name + ".npy"), value.astype(np.float32))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"from": "a", "to": "layer_b", "lambda": LAMBDA, "supportLambda": support_lambda, "coding": coding,
                   "steps": steps,
                   "activeTargets": [int(r) for r in np.flatnonzero(active.any(axis=0))]}, f)


if __name__ == "__main__":
    main()
