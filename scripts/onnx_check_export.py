#!/usr/bin/env python3
"""Checks an ONNX model's predictions, as run by qonnx's executor, against a predictions CSV.

Usage (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install qonnx onnx onnxruntime
    .venv/bin/python scripts/onnx_check_export.py MODEL.onnx PREDICTIONS.csv \
        [--data MNIST_DIR] [--limit N] [--input-scale unit|raw]

PREDICTIONS.csv has a header with at least `index` (0-based MNIST t10k image) and `predicted` or
`class` (other columns are ignored). Each listed image (the first N rows with --limit) is fed alone
to the model as float32 (1,1,28,28): pixel/255 with --input-scale unit (default), raw 0..255 floats
with raw. The model's class is the argmax of its output (lowest index on ties), or the index itself
when the output is TopK's index tensor. Exits 0 with a summary when every class matches, 1 listing
the mismatching images otherwise (2 on bad arguments / unreadable CSV).
MNIST_DIR defaults to ../shared/data/mnist.
"""
import argparse
import csv
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_mnist import DEFAULT_DATA, load_mnist, model_input  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("predictions")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--input-scale", choices=["unit", "raw"], default="unit")
    a = ap.parse_args()

    with open(a.predictions, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        col = "predicted" if "predicted" in cols else "class" if "class" in cols else None
        if "index" not in cols or col is None:
            print(f"{a.predictions}: need columns index and predicted (or class), got {cols}", file=sys.stderr)
            return 2
        rows = [(int(r["index"]), int(r[col]), r.get("label")) for r in reader]
    if a.limit is not None:
        rows = rows[:a.limit]

    warnings.filterwarnings("ignore")
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    images, labels = load_mnist(a.data, "t10k")
    model = cleanup_model(ModelWrapper(a.model))
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    raw = onnx.load(a.model).graph
    topk = any(n.op_type == "TopK" and len(n.output) > 1 and n.output[1] == raw.output[0].name for n in raw.node)

    bad, agree_label, ref_correct = [], 0, 0
    for idx, pred, _ in rows:
        if not 0 <= idx < len(images):
            print(f"index {idx} out of range", file=sys.stderr)
            return 2
        o = np.asarray(execute_onnx(model, {iname: model_input(images[idx], a.input_scale)})[oname]).reshape(-1)
        cls = int(o[0]) if topk else int(np.argmax(o))
        if cls != pred:
            bad.append((idx, pred, cls, int(labels[idx])))
        agree_label += pred == int(labels[idx])
        ref_correct += cls == int(labels[idx])
    n = len(rows)
    if bad:
        print(f"{len(bad)}/{n} images differ ({a.model} vs {a.predictions}):")
        for idx, pred, cls, lab in bad:
            print(f"  index {idx}: csv {pred}, qonnx {cls}, label {lab}")
        return 1
    print(f"OK: {n} images, all classes match; accuracy {ref_correct / max(n, 1):.4f} "
          f"(input {a.input_scale}, {'TopK index' if topk else 'argmax'} output)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
