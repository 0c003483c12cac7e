#!/usr/bin/env python3
"""Runs README's "How do I use the results in Python?" snippets (python-sqlite, python-networkx)
exactly as README shows them, in a folder holding trace.sqlite, graph.graphml and graph.json, and
prints what they computed as JSON for Tests/CLITests/ReadmeHowToTests.swift to check against
gigtrace's own reading of the same trace.

    python3 tools/readme_python_snippets.py DIR      # needs numpy, pandas, networkx
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from readme_snippets import snippet  # noqa: E402


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    os.chdir(sys.argv[1])
    sqlite_part, networkx_part = {}, {}
    exec(compile(snippet("python-sqlite"), "README.md:python-sqlite", "exec"), sqlite_part)
    exec(compile(snippet("python-networkx"), "README.md:python-networkx", "exec"), networkx_part)
    s, x = sqlite_part, networkx_part
    result = {
        "images": int(s["n"]),
        "layers": [str(v) for v in s["layers"]["name"]],
        "first_image_concepts": s["images"]["concepts"][0],
        "edges": [[int(r.src_level), int(r.src), int(r.dst), float(r.mean), float(r.std)]
                  for r in s["edges"].itertuples()],
        "to_class0": [[int(r.src_level), int(r.src), float(r.mean)] for r in s["to_class0"].itertuples()],
        "bank0": [[float(v) for v in row] for row in s["bank0"]],
        "graphml_nodes": x["g"].number_of_nodes(),
        "graphml_edges": [[u, v, float(w)] for u, v, w in x["g"].edges(data="weight")],
        "strongest_into_class0": [[u, v, float(w)] for u, v, w in x["strongest_into_class0"]],
        "json_nodes": x["h"].number_of_nodes(),
        "json_edges": x["h"].number_of_edges(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
