#!/usr/bin/env python3
"""Render the best pathways into a class as one PNG: a row per pathway, for each concept on the
path its top exemplar patches (cropped from the raw, un-normalised dataset images at the boxes
the trace stored), then the class. Used for the README's demo figures.

    python3 tools/render_demo_pathways.py demo/trace.sqlite Sneaker docs/demo/sneaker.png \
        [--gigtrace .build/release/gigtrace] [--top 3]

Reads the pathways with `gigtrace query TRACE pathways --class NAME --json`; the images are the
Fashion-MNIST test set the demo traces (IDX from the Debian package dataset-fashion-mnist).
"""
import argparse, gzip, json, subprocess
import numpy as np
from PIL import Image, ImageDraw

IDX = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
CELL, PAD, LABEL = 56, 6, 14


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace"); p.add_argument("class_name"); p.add_argument("out")
    p.add_argument("--gigtrace", default=".build/release/gigtrace")
    p.add_argument("--top", type=int, default=3)
    p.add_argument("--exemplars", type=int, default=3)
    a = p.parse_args()
    paths = json.loads(subprocess.run(
        [a.gigtrace, "query", a.trace, "pathways", "--class", a.class_name, "--top", str(a.top), "--json"],
        check=True, capture_output=True, text=True).stdout)
    raw = gzip.open(IDX).read()
    images = np.frombuffer(raw[16:], np.uint8).reshape(-1, 28, 28)
    steps = max(len(q["steps"]) for q in paths)
    group = a.exemplars * (CELL + 2) + PAD
    width = steps * group + 140
    height = len(paths) * (CELL + 2 * LABEL + PAD) + PAD
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for row, path in enumerate(paths):
        y = PAD + row * (CELL + 2 * LABEL + PAD)
        draw.text((PAD, y), f"#{row + 1} score {path['score']:.3f}", fill="black")
        for s, step in enumerate(path["steps"]):
            x = PAD + s * group
            layer = step["name"].rsplit(":", 1)
            short = layer[0].strip("/").split("/")[0] + ":" + layer[1]
            weight = "start" if s == 0 else f"w={step['weightIn']:.3f}"
            draw.text((x, y + LABEL), f"{short}  {weight}", fill="black")
            for e, ex in enumerate(step["exemplars"][: a.exemplars]):
                b = ex["box"]
                crop = images[ex["image"]][b["y0"]:b["y1"], b["x0"]:b["x1"]]
                scale = CELL / max(crop.shape)   # keep the box's aspect ratio
                size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
                patch = Image.fromarray(crop).resize(size, Image.NEAREST).convert("RGB")
                canvas.paste(patch, (x + e * (CELL + 2), y + 2 * LABEL))
        draw.text((PAD + steps * group, y + 2 * LABEL + CELL // 2 - 6),
                  f"-> {path['className']} (w={path['classWeight']:.3f})", fill="black")
    canvas.save(a.out)


if __name__ == "__main__":
    main()
