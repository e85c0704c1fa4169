"""Shared helpers for the ONNX fixture scripts (scripts/onnx_*.py): MNIST IDX loading.

Not a script of its own. The MNIST directory holds the four IDX files, gzipped or not, named
either `t10k-images-idx3-ubyte[.gz]` or `t10k-images.idx3-ubyte[.gz]` (and likewise for labels and
train); the default is ../shared/data/mnist relative to the repository root, as in
scripts/mnist_results.sh.
"""
import gzip
import os
import struct

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data", "mnist")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "onnx")


def _open_idx(data_dir, split, kind):
    idx = "idx3" if kind == "images" else "idx1"
    for sep in ("-", "."):
        for gz in (".gz", ""):
            p = os.path.join(data_dir, f"{split}-{kind}{sep}{idx}-ubyte{gz}")
            if os.path.exists(p):
                return gzip.open(p, "rb") if gz else open(p, "rb")
    raise FileNotFoundError(f"no MNIST {split} {kind} in {data_dir}")


def load_mnist(data_dir=DEFAULT_DATA, split="t10k"):
    """Returns (images uint8 (N,28,28), labels uint8 (N,)); split is "t10k" or "train"."""
    with _open_idx(data_dir, split, "images") as f:
        d = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", d[:16])
    assert magic == 2051, "bad image IDX magic"
    images = np.frombuffer(d, np.uint8, offset=16).reshape(n, rows, cols)
    with _open_idx(data_dir, split, "labels") as f:
        d = f.read()
    magic, n2 = struct.unpack(">II", d[:8])
    assert magic == 2049 and n2 == n, "bad label IDX"
    labels = np.frombuffer(d, np.uint8, offset=8)
    return images, labels


def model_input(image_u8, scale="unit"):
    """One image as the float32 (1,1,28,28) model input: pixel/255 ("unit") or raw 0..255 ("raw")."""
    x = image_u8.astype(np.float32).reshape(1, 1, 28, 28)
    return x / np.float32(255.0) if scale == "unit" else x
