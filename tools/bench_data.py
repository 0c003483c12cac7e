#!/usr/bin/env python3
"""Data-pipeline benchmark: decode + Resize(224) + CenterCrop(224) + ToTensor + Normalize of a folder
of ImageNet-sized JPEGs, GIGTrace against the PyTorch peer, in one run.

Peer: a torch Dataset doing exactly torchvision's PIL path (``Image.open(p).convert("RGB")``,
``img.resize((w, h), Image.BILINEAR)`` with torchvision's size rule, CenterCrop offsets, ToTensor
``.float().div(255)``, Normalize ``sub_/div_``; torchvision itself does not import here) in a
``DataLoader(batch_size=32, num_workers=0)`` with ``torch.set_num_threads(2)``.
Ours: ``gigtrace dataset bench`` (release build) on the same folder and settings, with 0 prefetch
threads (everything on one thread) and with 1 prefetch thread (two threads in all: the 2 cores).

Usage: python3 tools/bench_data.py [--images 300] [--folder /tmp/gigtrace-bench-jpegs]
       [--gigtrace .build/release/gigtrace] [--repeats 3]
Also checks that both produce the same tensor for the first 16 images (max |difference|).
"""
import argparse
import os
import subprocess
import time

import numpy as np
import torch
from PIL import Image

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def make_jpegs(folder, count):
    """`count` photo-like 500×375 / 375×500 JPEGs (smooth shapes + noise), in 4 class folders."""
    if os.path.isdir(folder) and sum(len(f) for _, _, f in os.walk(folder)) == count:
        return
    rng = np.random.default_rng(0)
    for i in range(count):
        cls = os.path.join(folder, f"class{i % 4}")
        os.makedirs(cls, exist_ok=True)
        h, w = (375, 500) if i % 3 else (500, 375)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        channels = []
        for c in range(3):
            fx, fy, ph = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.28)]
            channels.append(128 + 90 * np.sin(x * fx + y * fy + ph) + rng.normal(0, 12, (h, w)))
        img = np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)
        Image.fromarray(img, "RGB").save(os.path.join(cls, f"img{i:05d}.jpg"), quality=90)


class PeerFolder(torch.utils.data.Dataset):
    """torchvision.datasets.ImageFolder + Resize(224) + CenterCrop(224) + ToTensor + Normalize."""

    def __init__(self, root):
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        self.samples = []
        for label, cls in enumerate(classes):
            for r, _, files in sorted(os.walk(os.path.join(root, cls))):
                for f in sorted(files):
                    if f.lower().endswith((".jpg", ".jpeg", ".png")):
                        self.samples.append((os.path.join(r, f), label))
        self.mean = torch.tensor(MEAN)[:, None, None]
        self.std = torch.tensor(STD)[:, None, None]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        with open(path, "rb") as f:
            img = Image.open(f).convert("RGB")
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        nl = int(224 * long / short)
        img = img.resize((224, nl) if w <= h else (nl, 224), Image.BILINEAR)
        w, h = img.size
        top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
        img = img.crop((left, top, left + 224, top + 224))
        t = torch.from_numpy(np.array(img, np.uint8, copy=True)).permute(2, 0, 1).contiguous()
        t = t.to(torch.float32).div(255)
        return t.sub_(self.mean).div_(self.std), label


def bench_peer(folder, repeats, threads):
    torch.set_num_threads(threads)
    loader = torch.utils.data.DataLoader(PeerFolder(folder), batch_size=32, num_workers=0, shuffle=False)
    best = 0.0
    for _ in range(repeats):
        start, n = time.perf_counter(), 0
        for x, _ in loader:
            n += x.shape[0]
        best = max(best, n / (time.perf_counter() - start))
    return best


def bench_ours(gigtrace, folder, threads, repeats, decode_only=False):
    out = subprocess.run([gigtrace, "dataset", "bench", "--data", folder, "--resize", "224", "--crop", "224",
                          "--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)),
                          "--batch-size", "32", "--prefetch-threads", str(threads), "--repeats", str(repeats)]
                         + (["--decode-only"] if decode_only else []),
                         check=True, capture_output=True, text=True).stdout
    return float(out.split("images_per_s=")[1])


def check_equal(gigtrace, folder):
    subprocess.run([gigtrace, "dataset", "export", "--data", folder, "--resize", "224", "--crop", "224",
                    "--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)), "--limit", "16",
                    "--out", "/tmp/gigtrace-bench-check.npy", "--quiet"], check=True)
    ours = np.load("/tmp/gigtrace-bench-check.npy")
    ds = PeerFolder(folder)
    peer = np.stack([ds[i][0].numpy() for i in range(16)])
    return float(np.abs(ours - peer).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--folder", default="/tmp/gigtrace-bench-jpegs")
    ap.add_argument("--gigtrace", default=".build/release/gigtrace")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    make_jpegs(args.folder, args.images)
    print(f"images: {args.images} JPEGs (500x375 / 375x500) in {args.folder}")
    print(f"max |ours - peer| on 16 images: {check_equal(args.gigtrace, args.folder):.3g}")
    peer = bench_peer(args.folder, args.repeats, 2)
    print(f"peer  PIL + torch DataLoader(num_workers=0), torch threads 2: {peer:.1f} images/s")
    for threads in (0, 1):
        ours = bench_ours(args.gigtrace, args.folder, threads, args.repeats)
        print(f"ours  gigtrace dataset bench --prefetch-threads {threads}: {ours:.1f} images/s  ratio {ours / peer:.2f}x")
    # Sanity figures: the peer with one torch thread (torch's 2-thread elementwise ops are slow on a
    # loaded 2-core machine), and our decoder alone.
    peer1 = bench_peer(args.folder, args.repeats, 1)
    ours0 = bench_ours(args.gigtrace, args.folder, 0, args.repeats)
    print(f"peer  same, torch threads 1: {peer1:.1f} images/s; ours --prefetch-threads 0 again: {ours0:.1f} images/s  ratio {ours0 / peer1:.2f}x")
    print(f"ours  decode only (libjpeg-turbo): {bench_ours(args.gigtrace, args.folder, 0, args.repeats, True):.1f} images/s")


if __name__ == "__main__":
    main()
