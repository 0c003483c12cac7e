"""GIG over concept coefficients with Captum (METHOD §4), shared by tools/make_gig_concept_fixtures.py
and tools/bench_gig_captum.py.

Layer a is rebuilt from its codes, X̃_p = Σ_q u_{p,q} v_q (+ mean, as one more source with code 1 at
every position), and Integrated Gradients is taken over the codes from a zero baseline: Captum's
attribution of code u_{p,q}, summed over positions p, is GIG(q → r). This is what
`LayerIntegratedGradients` with `attribute_to_layer_input=True` gives on a module that maps codes to
the reconstruction, and since X̃ is linear in the codes, the path in layer-a space is the straight
line from 0 to X̃ (METHOD: the path starts at zero in layer-a space).

Targets r: the logits (g_c = logit c), or the concepts of layer b,
g_r(Y) = Σ_p m_{p,r} ⟨Y_p, v^b_r⟩ with m_{p,r} = 1 where the real layer-b code u^b_{p,r} is active.
All (image, target) pairs of a call go through Captum as one batch (inputs repeated per target,
`target` a list), which is as far as Captum batches targets.
"""
import numpy as np
import torch
from captum.attr import IntegratedGradients


def augmented(vectors, mean, codes):
    """V_aug (S×C) and codes_aug (N×P×S): the mean becomes source S−1 with code 1 everywhere."""
    vectors = torch.as_tensor(vectors, dtype=torch.float32)
    codes = torch.as_tensor(codes, dtype=torch.float32)
    if mean is None:
        return vectors, codes
    mean = torch.as_tensor(mean, dtype=torch.float32)
    ones = torch.ones(codes.shape[0], codes.shape[1], 1)
    return torch.cat([vectors, mean[None, :]], 0), torch.cat([codes, ones], 2)


def concept_scores(y, target_vectors, mask):
    """g(Y) for every target concept: Y [B, C, H, W], V_b [K_b, C], mask [B, P, K_b] -> [B, K_b]."""
    b, c = y.shape[0], y.shape[1]
    projected = y.reshape(b, c, -1).transpose(1, 2) @ target_vectors.t()   # [B, P, K_b]
    return (projected * mask).sum(1)


def gig(f_ab, layer_shape, vectors, mean, codes, targets, n_steps, method, target_vectors=None,
        target_codes=None, signed_target=False, internal_batch_size=None):
    """GIG edges of N images: sources (K_a [+1 mean]) × targets, as a float32 array [N, S, T].

    f_ab: tensor a [B, C, H, W] -> tensor b (layer b, or the logits [B, classes]).
    layer_shape: (C, H, W) of layer a. vectors [K_a, C], mean [C] or None, codes [N, P, K_a].
    targets: number T of targets (classes, or K_b concepts of layer b).
    For concept targets: target_vectors [K_b, C_b] and target_codes [N, P_b, K_b] (mask: code > 0,
    or != 0 when `signed_target`); a target inactive in an image gets zero edges, as in gigtrace.
    """
    v_aug, u_aug = augmented(vectors, mean, codes)
    n, p, s = u_aug.shape
    c, h, w = layer_shape

    if target_vectors is None:
        def forward(u):
            x = (u @ v_aug).transpose(1, 2).reshape(u.shape[0], c, h, w)
            return f_ab(x)
        pairs = [(i, r) for i in range(n) for r in range(targets)]
        extra = ()
    else:
        vb = torch.as_tensor(target_vectors, dtype=torch.float32)
        ub = torch.as_tensor(target_codes, dtype=torch.float32)
        mask = (ub != 0).float() if signed_target else (ub > 0).float()
        active = mask.sum(1) > 0                     # [N, K_b]
        pairs = [(i, r) for i in range(n) for r in range(targets) if active[i, r]]

        def forward(u, m):
            x = (u @ v_aug).transpose(1, 2).reshape(u.shape[0], c, h, w)
            return concept_scores(f_ab(x), vb, m)
        extra = (mask[[i for i, _ in pairs]],) if pairs else ()

    out = np.zeros((n, s, targets), dtype=np.float32)
    if not pairs:
        return out
    rows = [i for i, _ in pairs]
    inputs = u_aug[rows]
    attributions = IntegratedGradients(forward).attribute(
        inputs, baselines=torch.zeros_like(inputs), target=[r for _, r in pairs], n_steps=n_steps, method=method,
        additional_forward_args=extra if extra else None, internal_batch_size=internal_batch_size)
    summed = attributions.sum(1).detach().numpy()    # [pairs, S]
    for k, (i, r) in enumerate(pairs):
        out[i, :, r] = summed[k]
    return out
