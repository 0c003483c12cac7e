#!/usr/bin/env python3
"""Writes the malformed-input corpus of Tests/Fixtures/fuzz (issue 12: hardening).

For every file format gigtrace reads it writes
  * hostile files made on purpose (names say what is wrong: huge declared sizes, negative or
    overflowing dimensions, wrong types, external data that runs past its file, header bombs), and
  * mutants of one small valid file: truncations, bit flips and 4-byte overwrites with 0xFF,
    drawn from a fixed seed so the corpus is reproducible.

Every reader must answer each file with a clean, one-line error (or read it, for harmless
mutants) in bounded time and memory: Tests/CNNTests/FuzzCorpusTests.swift runs them all.
The corpus stays well under 1 MB.

    python3 tools/make_fuzz_corpus.py Tests/Fixtures/fuzz

Needs numpy, onnx and Pillow (installed for the tests).
"""
import gzip
import io
import os
import random
import shutil
import struct
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

MUTANTS_PER_SEED = 24


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_with_header(descr, shape_text, body=b""):
    """A version-1.0 .npy whose header states `shape_text` verbatim, followed by `body`."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body


def idx_bytes(dims, body):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_bomb(width, height):
    """A PNG whose IHDR declares width×height (CRC correct) with one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_bytes(size=8):
    buf = io.BytesIO()
    Image.fromarray((np.arange(size * size * 3) % 251).astype(np.uint8).reshape(size, size, 3)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def jpeg_header_bomb(width, height):
    """A valid small JPEG whose SOF0 frame header is patched to declare width×height."""
    data = bytearray(jpeg_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 7] = struct.pack(">H", height)
    data[i + 7:i + 9] = struct.pack(">H", width)
    return bytes(data)


def png_bytes(size=4):
    buf = io.BytesIO()
    Image.fromarray((np.arange(size * size * 3) % 251).astype(np.uint8).reshape(size, size, 3)).save(buf, "PNG")
    return buf.getvalue()


def small_model(input_shape=(1, 1, 4, 4), weight=None, extra_initializers=(), nodes=None):
    """Conv(1→2, 3×3) → Relu → GlobalAveragePool → Flatten: logits of 2 classes."""
    w = weight if weight is not None else numpy_helper.from_array(np.linspace(-1, 1, 18, dtype=np.float32).reshape(2, 1, 3, 3), "w")
    graph_nodes = nodes or [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["y"]),
    ]
    graph = helper.make_graph(graph_nodes, "fuzz",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[w, *extra_initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fuzz")
    model.ir_version = 8
    return model.SerializeToString()


def external_weight(location, offset, length):
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([2, 1, 3, 3])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            e = t.external_data.add()
            e.key, e.value = key, str(value)
    return t


def raw_weight(dims, raw=b"\x00" * 8, data_type=TensorProto.FLOAT):
    t = TensorProto()
    t.name = "w"
    t.data_type = data_type
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def mutants(seed_bytes, rng):
    """Truncations, bit flips and 0xFF overwrites of `seed_bytes`."""
    out = []
    n = len(seed_bytes)
    for i in range(MUTANTS_PER_SEED):
        data = bytearray(seed_bytes)
        kind = i % 3
        if kind == 0:
            data = data[:rng.randrange(0, n)]
        elif kind == 1:
            for _ in range(rng.randrange(1, 9)):
                p = rng.randrange(n)
                data[p] ^= 1 << rng.randrange(8)
        else:
            p = rng.randrange(max(1, n - 4))
            data[p:p + 4] = b"\xff\xff\xff\xff"
        out.append(bytes(data))
    return out


def main(root):
    if os.path.isdir(root):
        shutil.rmtree(root)
    rng = random.Random(12)
    images = (np.arange(2 * 1 * 4 * 4) % 7).astype(np.float32).reshape(2, 1, 4, 4) / 7
    seeds = {
        "onnx/seed.onnx": small_model(),
        "npy/seed.npy": npy_bytes(images),
        "npy/seed_labels.npy": npy_bytes(np.array([0, 1], dtype=np.int64)),
        "idx/seed-images-idx3-ubyte": idx_bytes([2, 4, 4], bytes(range(32))),
        "idx/seed-labels-idx1-ubyte": idx_bytes([2], b"\x00\x01"),
        "cifar/seed.bin": bytes([3]) + bytes(range(256)) * 12,
        "png/seed.png": png_bytes(),
        "jpeg/seed.jpg": jpeg_bytes(),
        "classes/seed.txt": b"cat\ndog\n",
    }
    for name, data in seeds.items():
        write(os.path.join(root, name), data)
        folder, base = os.path.split(name)
        stem, ext = os.path.splitext(base)
        for i, m in enumerate(mutants(data, rng)):
            write(os.path.join(root, folder, "mut_%s_%02d%s" % (stem, i, ext)), m)

    hostile = {
        # ONNX: sizes and external data (weights beside the model in the same folder).
        "onnx/init_dims_overflow.onnx": small_model(weight=raw_weight([1 << 32, 1 << 32])),
        "onnx/init_negative_dim.onnx": small_model(weight=raw_weight([2, -1, 3, 3])),
        "onnx/init_huge.onnx": small_model(weight=raw_weight([1 << 20, 1 << 20])),
        "onnx/input_negative_dim.onnx": small_model(input_shape=(1, -3, 4, 4)),
        "onnx/input_100000x100000.onnx": small_model(input_shape=(1, 1, 100000, 100000)),
        "onnx/external_offset_overflow.onnx": small_model(weight=external_weight("weights.bin", (1 << 63) - 8, (1 << 63) - 8)),
        "onnx/external_past_end.onnx": small_model(weight=external_weight("weights.bin", 40, 72)),
        "onnx/external_dot.onnx": small_model(weight=external_weight(".", None, None)),
        "onnx/external_traversal.onnx": small_model(weight=external_weight("../weights.bin", None, None)),
        "onnx/cycle.onnx": small_model(nodes=[
            helper.make_node("Relu", ["g"], ["r"]),
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("GlobalAveragePool", ["r"], ["g"]),
            helper.make_node("Flatten", ["g"], ["y"]),
        ]),
        "onnx/missing_producer.onnx": small_model(nodes=[
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["nowhere"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["g"]),
            helper.make_node("Flatten", ["g"], ["y"]),
        ]),
        "onnx/weights.bin": np.zeros(18, dtype=np.float32).tobytes(),
        # .npy: declared shapes that overflow or exhaust memory, wrong dtypes, labels out of range.
        "npy/huge_dims.npy": npy_with_header("<f4", "(1099511627776, 1099511627776)"),
        "npy/overflow_dims.npy": npy_with_header("<f4", "(4294967296, 4294967296, 4294967296)"),
        "npy/big_but_truncated.npy": npy_with_header("<f4", "(1000, 3, 224, 224)", b"\x00" * 64),
        "npy/negative_dim.npy": npy_with_header("<f4", "(-2, 1, 4, 4)"),
        "npy/object_dtype.npy": npy_with_header("|O", "(2,)", b"\x00" * 16),
        "npy/one_image.npy": npy_bytes(images[:1]),
        "npy/nan_image.npy": npy_bytes(np.full((1, 1, 4, 4), np.nan, dtype=np.float32)),
        "npy/labels_2pow40.npy": npy_bytes(np.array([1 << 40], dtype=np.int64)),
        "npy/labels_1e8.npy": npy_bytes(np.array([100_000_000], dtype=np.int64)),
        "npy/labels_negative.npy": npy_bytes(np.array([-5], dtype=np.int64)),
        "npy/labels_float.npy": npy_bytes(np.array([0.5], dtype=np.float32)),
        # IDX: huge dimensions, plain and gzip; a gzip whose stream runs on far past its header.
        "idx/huge-images-idx3-ubyte": idx_bytes([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b""),
        "idx/huge-images-idx3-ubyte.gz": gzip.compress(idx_bytes([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b"")),
        "idx/bomb-images-idx3-ubyte.gz": gzip.compress(idx_bytes([2, 4, 4], bytes(range(32))) + b"\x00" * (64 << 20), 9),
        # Found by tools/fuzz.sh: N = 4·10⁹ images of 0×16777215 pixels pass a product check
        # (0 bytes) and used to size a 32 GB label list.
        "idx/empty_images_huge_n-images-idx3-ubyte": idx_bytes([0xF0000000, 0, 0xFFFFFF], b""),
        "npy/empty_images_huge_n.npy": npy_with_header("|u1", "(4000000000, 0, 4)"),
        "idx/truncated-gz-images-idx3-ubyte.gz": gzip.compress(idx_bytes([2, 4, 4], bytes(range(32))))[:30],
        # CIFAR: a partial record and labels above the variant's range.
        "cifar/partial_record.bin": bytes([3]) + bytes(100),
        "cifar/label_200.bin": bytes([200]) + bytes(3072),
        # Images: headers that declare more pixels than the limit, before any pixel data.
        "png/header_bomb_100000x100000.png": png_header_bomb(100000, 100000),
        "png/zero_width.png": png_header_bomb(0, 4),
        "jpeg/header_bomb_65500x65500.jpg": jpeg_header_bomb(65500, 65500),
        # classes.txt with whitespace that Unicode counts as line breaks inside a name.
        "classes/vertical_tab.txt": "cat\x0bdog\nbird\x0c\nfish\u2028eel\r\n".encode(),
    }
    for name, data in hostile.items():
        write(os.path.join(root, name), data)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print(f"wrote {sum(len(fs) for _, _, fs in os.walk(root))} files, {total} bytes, to {root}")
    assert total < 1 << 20, "the corpus must stay under 1 MB"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/fuzz")
