#!/usr/bin/env python3
"""Writes tests/fixtures/onnx/<name>.expected.csv: qonnx's executor's outputs on MNIST test images
for every fixture model, the reference the Rust ONNX importer is tested against.

Usage (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install qonnx onnx onnxruntime
    .venv/bin/python scripts/onnx_expected.py [--data MNIST_DIR] [--jobs N] [NAME.onnx ...]

MNIST_DIR defaults to ../shared/data/mnist. Without names, every fixture in the table below.
CSV columns: index (0-based position in t10k), label, class, scores. scores are the model's float
outputs in order, joined with ';', each written as numpy's shortest decimal that parses back, as an
f32 (correctly rounded, e.g. Rust's str::parse::<f32>), to exactly the executor's float32 value
(parse as f64 and it differs from the widened f32 in the last digits); class is the
argmax, lowest index on ties. For a model whose output is TopK's index tensor, class is that index
and scores is empty.

Each image goes in alone as float32 (1,1,28,28): pixel/255 ("unit"), except finn_tfc_w1a1.onnx which
divides by 255 itself and takes raw 0..255 floats ("raw"; see its finn_input.npy). The graphs are
prepared with qonnx.util.cleanup.cleanup_model (shape inference, constant folding: the importer gets
the raw files), then run with qonnx.core.onnx_exec.execute_onnx.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_mnist import DEFAULT_DATA, FIXTURES, load_mnist, model_input  # noqa: E402

# name -> (input scaling, number of test images)
FIXTURE_TABLE = {
    "TFC_1W1A.onnx": ("unit", 10000),
    "TFC_1W2A.onnx": ("unit", 10000),
    "finn_tfc_w1a1.onnx": ("raw", 10000),
    "conv_w1a1_8bit.onnx": ("unit", 1000),
    "tfc_mixed.onnx": ("unit", 1000),
    "finn_style.onnx": ("unit", 1000),
    "binary01.onnx": ("unit", 1000),
}

_model = None


def _init(path):
    global _model
    import warnings

    warnings.filterwarnings("ignore")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    _model = cleanup_model(ModelWrapper(path))


def _run(args):
    from qonnx.core.onnx_exec import execute_onnx

    images, scale = args
    iname, oname = _model.graph.input[0].name, _model.graph.output[0].name
    return [execute_onnx(_model, {iname: model_input(im, scale)})[oname] for im in images]


def is_topk_output(path):
    import onnx

    g = onnx.load(path).graph
    out = g.output[0].name
    return any(n.op_type == "TopK" and len(n.output) > 1 and n.output[1] == out for n in g.node)


def run_model(path, images, scale, jobs):
    chunks = [images[i:i + 100] for i in range(0, len(images), 100)]
    with mp.Pool(jobs, initializer=_init, initargs=(path,)) as pool:
        outs = pool.map(_run, [(c, scale) for c in chunks])
    return [o for c in outs for o in c]


def write_csv(path, labels, outs, topk):
    correct = 0
    with open(path, "w") as f:
        f.write("index,label,class,scores\n")
        for i, (lab, o) in enumerate(zip(labels, outs)):
            o = np.asarray(o).reshape(-1)
            if topk:
                cls, scores = int(o[0]), ""
            else:
                cls = int(np.argmax(o))  # first maximum
                scores = ";".join(str(v) for v in o.astype(np.float32))  # shortest f32 round-trip
            correct += cls == int(lab)
            f.write(f"{i},{int(lab)},{cls},{scores}\n")
    return correct / len(outs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="fixture file names (default: all in the table)")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--fixtures", default=FIXTURES)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, help="override the number of test images")
    a = ap.parse_args()
    images, labels = load_mnist(a.data, "t10k")
    for name in a.names or FIXTURE_TABLE:
        scale, n = FIXTURE_TABLE.get(name, ("unit", 1000))
        n = min(a.limit or n, len(images))
        path = os.path.join(a.fixtures, name)
        t = time.time()
        outs = run_model(path, images[:n], scale, a.jobs)
        csv = os.path.join(a.fixtures, name[:-len(".onnx")] + ".expected.csv")
        acc = write_csv(csv, labels[:n], outs, is_topk_output(path))
        print(f"{name}: input {scale}, {n} test images, accuracy {acc:.4f} ({acc * n:.0f}/{n}), "
              f"{time.time() - t:.0f}s -> {os.path.basename(csv)}", flush=True)


if __name__ == "__main__":
    main()
