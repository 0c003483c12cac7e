"""Writes Tests/Fixtures/quadrature/captum.json: Captum's integration points and weights.

For every method Captum supports and a few step counts, records
`approximation_parameters(method)` -> (step_sizes(n), alphas(n)), the reference that
GIGTrace's `Quadrature` is tested against.

Usage: python3 tools/make_quadrature_fixture.py   (needs torch and captum)
"""
import json
import pathlib

from captum.attr._utils.approximation_methods import SUPPORTED_METHODS, approximation_parameters

out = {}
for method in SUPPORTED_METHODS:
    step_sizes, alphas = approximation_parameters(method)
    out[method] = {str(n): {"alphas": [float(a) for a in alphas(n)], "weights": [float(w) for w in step_sizes(n)]}
                   for n in (2, 5, 16, 32, 50)}
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/Fixtures/quadrature/captum.json"
path.write_text(json.dumps(out, indent=1))
print("wrote", path)
