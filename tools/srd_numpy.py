#!/usr/bin/env python3
"""SRD iERF of single PFVs of the demo model in plain NumPy (docs/METHOD.md §2), written from the
sharing-ratio rule, as an independent reference for Tests/PFVTests/SRDNumpyReferenceTests.swift.

The sharing ratio of input PFV k in output PFV j of a convolution (its folded BN included), whose
pre-activation output is z_j = Σ_k c_{k→j} + b with c_{k→j} = W_tap(k→j) x_k, is
μ_{k→j} = ⟨c_{k→j} + b_k, z_j⟩ / ‖z_j‖², the bias split b_k = b ‖c_{k→j}‖ / Σ_k' ‖c_{k'→j}‖. At a residual
Add out = conv(x) + s the shortcut PFV s_j is one more contributor; the conv's bias is split over
the conv's own contributors only (the shortcut takes no bias share). ReLU keeps relevance in place; an iERF starts as a one-hot at PFV j of the
traced layer and goes down to the input image: R_k = Σ_j μ_{k→j} R_j.

Usage: python3 tools/srd_numpy.py IMAGES.npy POSITIONS.json OUT.npy
  IMAGES.npy: [1, 1, 28, 28] float32 preprocessed image; POSITIONS.json: {"layer": name, "positions":
  [[h, w], ...]}; writes [len(positions), 28, 28] float64 maps.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "fashion-resnet", "model.onnx")


def load():
    m = onnx.load(MODEL)
    weights = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    return m.graph, weights


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b, stride, pad):
    c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((o, ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i:i + stride * ho:stride, j:j + stride * wo:stride]
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], patch)
    return out + b[:, None, None]


def forward(graph, weights, image):
    env = {graph.input[0].name: image[0].astype(np.float64)}
    for n in graph.node:
        a = attrs(n)
        if n.op_type == "Conv":
            env[n.output[0]] = conv(env[n.input[0]], weights[n.input[1]], weights[n.input[2]], a["strides"][0], a["pads"][0])
        elif n.op_type == "Relu":
            env[n.output[0]] = np.maximum(env[n.input[0]], 0)
        elif n.op_type == "Add":
            env[n.output[0]] = env[n.input[0]] + env[n.input[1]]
        else:
            break
    return env


def conv_contributions(x, w, stride, pad, j):
    """c_{k→j} for output position j = (h, w): list of (input position, C_out vector)."""
    c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = []
    for i in range(kh):
        for jj in range(kw):
            hi, wi = j[0] * stride - pad + i, j[1] * stride - pad + jj
            if 0 <= hi < h and 0 <= wi < wd:
                out.append(((hi, wi), w[:, :, i, jj] @ x[:, hi, wi]))
    return out


def share(contribs, bias, z, biased=None):
    """μ for each contributor (list of C_out vectors) of pre-activation z (C_out); the bias is split
    over the first `biased` contributors (all by default) by their norms."""
    biased = len(contribs) if biased is None else biased
    norms = np.array([np.linalg.norm(c) if i < biased else 0.0 for i, c in enumerate(contribs)])
    total = norms.sum()
    zz = z @ z
    if zz == 0:
        return np.zeros(len(contribs))
    return np.array([(c + (bias * n / total if total > 0 else 0)) @ z / zz for c, n in zip(contribs, norms)])


def ierf(graph, weights, env, layer, position):
    producers = {n.output[0]: n for n in graph.node}
    relevance = {layer: {tuple(position): 1.0}}   # tensor -> {position: R}
    order = [n for n in graph.node if n.output[0] in env][::-1]
    for n in order:
        out = n.output[0]
        r_out = relevance.pop(out, None)
        if not r_out:
            continue

        def give(name, pos, value):
            relevance.setdefault(name, {})
            relevance[name][pos] = relevance[name].get(pos, 0.0) + value

        if n.op_type == "Relu":
            for p, v in r_out.items():
                give(n.input[0], p, v)
        elif n.op_type == "Conv":
            a, x = attrs(n), env[n.input[0]]
            w, b = weights[n.input[1]], weights[n.input[2]]
            for p, v in r_out.items():
                contribs = conv_contributions(x, w, a["strides"][0], a["pads"][0], p)
                mu = share([c for _, c in contribs], b, env[out][:, p[0], p[1]])
                for (q, _), m in zip(contribs, mu):
                    give(n.input[0], q, m * v)
        elif n.op_type == "Add":
            # One operand is a conv's output: its taps and the other operand's PFV share z_j.
            first, second = producers.get(n.input[0]), producers.get(n.input[1])
            conv_side = 0 if first is not None and first.op_type == "Conv" else 1
            cnode = producers[n.input[conv_side]]
            short = n.input[1 - conv_side]
            a, x = attrs(cnode), env[cnode.input[0]]
            w, b = weights[cnode.input[1]], weights[cnode.input[2]]
            for p, v in r_out.items():
                contribs = conv_contributions(x, w, a["strides"][0], a["pads"][0], p)
                s = env[short][:, p[0], p[1]]
                mu = share([c for _, c in contribs] + [s], b, env[out][:, p[0], p[1]], biased=len(contribs))
                for (q, _), m in zip(contribs, mu[:-1]):
                    give(cnode.input[0], q, m * v)
                give(short, p, mu[-1] * v)
    return relevance.get(graph.input[0].name, {})


def main():
    images, spec, out = sys.argv[1], sys.argv[2], sys.argv[3]
    graph, weights = load()
    image = np.load(images)
    env = forward(graph, weights, image)
    request = json.load(open(spec))
    h, w = image.shape[2], image.shape[3]
    maps = np.zeros((len(request["positions"]), h, w))
    for i, p in enumerate(request["positions"]):
        for (y, x), v in ierf(graph, weights, env, request["layer"], p).items():
            maps[i, y, x] += v
    np.save(out, maps)


if __name__ == "__main__":
    main()
