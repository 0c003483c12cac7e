#!/usr/bin/env python3
"""Fixtures for GIGTrace's dataset preprocessing: small images plus what torchvision makes of them.

torchvision cannot be imported against this machine's CPU torch, so this script reproduces its
PIL code path exactly, operation for operation (torchvision 0.2x, transforms on PIL images):

* ImageFolder's loader: ``Image.open(path).convert("RGB")`` (we also use ``convert("L")`` for a
  one-channel model, which is what ``transforms.Grayscale()`` does on a PIL image).
* ``transforms.Resize(size)`` with an int: ``_compute_resized_output_size`` keeps the aspect ratio,
  the shorter side becomes ``size`` and the longer ``int(size * long / short)`` (truncation), then
  ``F_pil.resize`` calls ``img.resize((w, h), Image.BILINEAR)`` -- Pillow's two-pass resampler with
  the triangle filter widened by the scale factor (antialiasing), 8-bit fixed point per pass.
* ``transforms.CenterCrop((th, tw))``: if the crop is larger than the image it first pads with 0
  (left/top ``(tw - w) // 2``, right/bottom ``(tw - w + 1) // 2``), then crops at
  ``top = int(round((h - th) / 2.0))``, ``left = int(round((w - tw) / 2.0))`` (Python's round,
  half to even).
* ``transforms.ToTensor()``: HWC uint8 -> CHW, ``.to(torch.float32).div(255)``.
* ``transforms.Normalize(mean, std)``: ``tensor.sub_(mean[:, None, None]).div_(std[:, None, None])``
  with mean/std as float32 tensors.

ToTensor and Normalize run in real torch below; the rest is Pillow itself. A float32 ("F" mode)
image is resized with Pillow's float path (no /255), the same as GIGTrace does for float arrays.

Writes Tests/Fixtures/preprocessing/: folder/<class>/<image> (PNG RGB/L/RGBA/P and JPEG RGB/L) and
one expected_<config>.npy per configuration, images stacked in ImageFolder order, plus
float_input.npy / expected_float.npy. Run from the repository root: python3 tools/make_preprocessing_fixtures.py
"""
import os
import shutil

import numpy as np
import torch
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "preprocessing")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# (name, channels, resize, crop (h, w), mean, std) -- the Swift test repeats these settings.
CONFIGS = [
    ("rgb_r24_c20", 3, 24, (20, 20), IMAGENET_MEAN, IMAGENET_STD),
    ("grey_r16_c16", 1, 16, (16, 16), [0.5], [0.25]),
    ("rgb_r40_c48", 3, 40, (48, 48), [], []),
    ("rgb_c21x27", 3, None, (21, 27), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
]


def smooth_pattern(rng, h, w, c):
    """A mix of gradients and noise, so resizing has both edges and ramps to get right."""
    y, x = np.mgrid[0:h, 0:w]
    base = [(np.sin(x / (2 + k) + y / (3 + k)) * 100 + 128 + rng.normal(0, 30, (h, w))) for k in range(c)]
    return np.clip(np.stack(base, axis=-1), 0, 255).astype(np.uint8)


def make_images():
    rng = np.random.default_rng(7)
    folder = os.path.join(ROOT, "folder")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "cat"))
    os.makedirs(os.path.join(folder, "dog"))
    Image.fromarray(smooth_pattern(rng, 29, 37, 3), "RGB").save(os.path.join(folder, "cat", "a_rgb.png"))
    Image.fromarray(smooth_pattern(rng, 41, 23, 1)[..., 0], "L").save(os.path.join(folder, "cat", "b_grey.png"))
    Image.fromarray(smooth_pattern(rng, 30, 40, 4), "RGBA").save(os.path.join(folder, "dog", "c_rgba.png"))
    Image.fromarray(smooth_pattern(rng, 33, 45, 3), "RGB").save(os.path.join(folder, "dog", "d_rgb.jpg"), quality=90)
    Image.fromarray(smooth_pattern(rng, 30, 30, 1)[..., 0], "L").save(os.path.join(folder, "dog", "e_grey.jpg"), quality=85)
    Image.fromarray(smooth_pattern(rng, 34, 26, 3), "RGB").quantize(16).save(os.path.join(folder, "dog", "f_palette.png"))
    files = []
    for cls in sorted(os.listdir(folder)):  # ImageFolder order
        for name in sorted(os.listdir(os.path.join(folder, cls))):
            files.append(os.path.join(folder, cls, name))
    return files


def resize(img, size):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    return img.resize((new_w, new_h), Image.BILINEAR)


def center_crop(img, th, tw):
    w, h = img.size
    if tw > w or th > h:
        ltrb = [(tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0]
        img = ImageOps.expand(img, border=tuple(ltrb), fill=0)
        w, h = img.size
        if (w, h) == (tw, th):
            return img
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return img.crop((left, top, left + tw, top + th))


def to_tensor(img):
    arr = np.array(img, np.uint8, copy=True)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    t = torch.from_numpy(arr).permute(2, 0, 1).contiguous()
    return t.to(torch.float32).div(255)


def normalize(t, mean, std):
    if not mean:
        return t
    m = torch.as_tensor(mean, dtype=torch.float32)
    s = torch.as_tensor(std, dtype=torch.float32)
    return t.sub_(m[:, None, None]).div_(s[:, None, None])


def main():
    files = make_images()
    for name, channels, size, crop, mean, std in CONFIGS:
        outs = []
        for path in files:
            img = Image.open(path).convert("RGB" if channels == 3 else "L")
            if size is not None:
                img = resize(img, size)
            img = center_crop(img, *crop)
            outs.append(normalize(to_tensor(img), mean, std))
        np.save(os.path.join(ROOT, f"expected_{name}.npy"), torch.stack(outs).numpy())

    # Float ("F" mode) path: one 13x17 float image in [0, 1], Resize(10), no crop, no normalisation.
    rng = np.random.default_rng(11)
    arr = rng.random((13, 17)).astype(np.float32)
    np.save(os.path.join(ROOT, "float_input.npy"), arr[None])
    out = np.array(resize(Image.fromarray(arr, "F"), 10), np.float32)
    np.save(os.path.join(ROOT, "expected_float.npy"), out[None, None])


if __name__ == "__main__":
    main()
