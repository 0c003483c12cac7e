#!/usr/bin/env python3
"""Data-pipeline benchmark: decode + Resize(224) + CenterCrop(224) + ToTensor + Normalize of a folder
of ImageNet-sized JPEGs, GIGTrace against the PyTorch peer, in one run.

Peer: a torch Dataset doing exactly torchvision's PIL path (``Image.open(p).convert("RGB")``,
``img.resize((w, h), Image.BILINEAR)`` with torchvision's size rule, CenterCrop offsets, ToTensor
``.float().div(255)``, Normalize ``sub_/div_``; torchvision itself does not import here) in a
``DataLoader(batch_size=32, num_workers=0)`` with ``torch.set_num_threads(2)``.
Ours: ``gigtrace-bench dataset`` (release build) on the same folder and settings, with 0 prefetch
threads (everything on one thread), 1 prefetch thread (decoding on a background thread, the
consumer idle here), and 2 prefetch threads (two images decoded at once: both cores, which the peer's
num_workers=0 leaves unused -- reported separately, not as the headline).

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
    out = subprocess.run([gigtrace + "-bench", "dataset", "--data", folder, "--resize", "224", "--crop", "224",
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
    # Interleaved rounds (each measurement one pass, best of `repeats` rounds kept) so that load from
    # other processes on the shared machine hits peer and ours alike.
    runs = {
        "peer  PIL + torch DataLoader(num_workers=0), torch threads 2": lambda: bench_peer(args.folder, 1, 2),
        "peer  same, torch threads 1": lambda: bench_peer(args.folder, 1, 1),
        "ours  gigtrace-bench dataset --prefetch-threads 0": lambda: bench_ours(args.gigtrace, args.folder, 0, 1),
        "ours  gigtrace-bench dataset --prefetch-threads 1": lambda: bench_ours(args.gigtrace, args.folder, 1, 1),
        "ours  gigtrace-bench dataset --prefetch-threads 2 (both cores)": lambda: bench_ours(args.gigtrace, args.folder, 2, 1),
        "ours  decode only (libjpeg-turbo, 1 thread)": lambda: bench_ours(args.gigtrace, args.folder, 0, 1, True),
    }
    best = {name: 0.0 for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            best[name] = max(best[name], run())
    peer2, peer1 = best[list(runs)[0]], best[list(runs)[1]]
    for name, rate in best.items():
        ratios = "" if name.startswith("peer") else f"  ratio {rate / peer2:.2f}x vs peer (2 threads), {rate / peer1:.2f}x vs peer (1 thread)"
        print(f"{name}: {rate:.1f} images/s{ratios}")

if __name__ == "__main__":
    main()
