#!/usr/bin/env python3
"""Writes the PCA reference fixtures of Tests/ConceptsTests into Tests/Fixtures/concepts/.

Each fixture is JSON: the input PFVs (float32, row-major), K, and scikit-learn's PCA output
(components_, mean_, explained_variance_), computed in float64 from the same float32 values.
Two shapes exercise both of our solver paths: N >= 2C (Gram + dsyevd) and N < 2C (sgesdd).
Run:  python3 tools/make_concepts_fixtures.py
"""
import json
import pathlib

import numpy as np
from sklearn.decomposition import PCA

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "concepts"


def fixture(name, n, c, k, seed):
    rng = np.random.default_rng(seed)
    # Anisotropic data with well separated variances, a non-zero mean, and float32 values.
    scales = np.linspace(3.0, 0.3, c)
    basis, _ = np.linalg.qr(rng.standard_normal((c, c)))
    x = (rng.standard_normal((n, c)) * scales) @ basis.T + rng.uniform(0.5, 2.0, c)
    x = x.astype(np.float32)
    pca = PCA(n_components=k, svd_solver="full").fit(x.astype(np.float64))
    doc = {
        "description": f"PCA fixture {name}: sklearn {PCA.__module__} svd_solver=full, float64 on float32 input",
        "rows": n, "cols": c, "k": k,
        "data": [float(v) for v in x.ravel()],
        "components": [float(v) for v in pca.components_.ravel()],
        "mean": [float(v) for v in pca.mean_],
        "explained_variance": [float(v) for v in pca.explained_variance_],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(doc))


if __name__ == "__main__":
    fixture("pca_tall", n=400, c=10, k=4, seed=1)    # N >= 2C: covariance path
    fixture("pca_wide", n=12, c=9, k=5, seed=2)      # N < 2C: gesdd path
    print("wrote", sorted(p.name for p in OUT.glob("*.json")))
