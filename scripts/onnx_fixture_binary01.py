#!/usr/bin/env python3
"""Builds tests/fixtures/onnx/binary01.onnx: a QONNX graph whose activations are 0 and s (one-bit
UNSIGNED quantizers), not +-s, to test that xnorflow imports two-valued activations exactly.

    MultiThreshold(pixel/255 >= 0.5; out_scale 1, out_bias 0)  -> {0, 1}
    Conv 3x3, 8 channels, +-1 weights, pads 1 (Conv's zero padding = the value of bit 0)
    BatchNormalization -> Quant(scale 1, zeropt 0, 1 bit, signed 0)  -> {0, 1}
    MaxPool 2x2 -> Flatten -> MatMul (+-1) 1568 -> 32 -> BatchNormalization
    Quant(scale 0.5, 1 bit, signed) -> +-0.5 -> MatMul (+-1) 32 -> 10
(The last layer reads +-s: with 0/s inputs its scores would differ from the XNOR popcount by a
per-class offset, which xnorflow refuses.)

Hidden weights are seeded random signs; each BatchNorm's mean is the median of its channel's
pre-activation on 2000 training images so that bits are about half ones; the last layer's signs
follow each class's mean feature. Not trained: it is for exactness.

    python3 -m venv .venv && .venv/bin/pip install qonnx onnx onnxruntime
    .venv/bin/python scripts/onnx_fixture_binary01.py [--data MNIST_DIR]
    .venv/bin/python scripts/onnx_expected.py binary01.onnx
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_mnist import DEFAULT_DATA, FIXTURES, load_mnist  # noqa: E402

Q = "qonnx.custom_op.general"


def conv2d(x, w, pad):
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, o, h + 2 * pad - k + 1, wd + 2 * pad - k + 1), np.float32)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.tensordot(xp[:, :, i : i + k, j : j + k], w, axes=([1, 2, 3], [1, 2, 3]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DEFAULT_DATA)
    a = ap.parse_args()
    rng = np.random.default_rng(7)
    images, labels = load_mnist(a.data, "train")
    x = (images[:2000].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    labels = np.asarray(labels[:2000])
    bits0 = (x >= 0.5).astype(np.float32)
    w1 = rng.choice([-1.0, 1.0], size=(8, 1, 3, 3)).astype(np.float32)
    y1 = conv2d(bits0, w1, 1)
    # Medians plus half a step: a BN zero never sits on a reachable value.
    m1 = np.median(y1, axis=(0, 2, 3)).astype(np.float32) + 0.5
    g1 = rng.choice([-1.0, 1.0], size=8).astype(np.float32) * rng.uniform(0.5, 2.0, 8).astype(np.float32)
    b1 = np.zeros(8, np.float32)
    v1 = np.ones(8, np.float32)
    z1 = g1[None, :, None, None] * (y1 - m1[None, :, None, None]) / np.sqrt(1 + 1e-5)
    a1 = (z1 >= 0).astype(np.float32)
    p1 = a1.reshape(-1, 8, 14, 2, 14, 2).max(axis=(3, 5))
    f1 = p1.reshape(len(p1), -1)
    w2 = rng.choice([-1.0, 1.0], size=(f1.shape[1], 32)).astype(np.float32)
    y2 = f1 @ w2
    m2 = np.median(y2, axis=0).astype(np.float32) + 0.5
    g2 = rng.choice([-1.0, 1.0], size=32).astype(np.float32)
    a2 = np.where(g2 * (y2 - m2) >= 0, 1.0, -1.0)
    means = np.stack([a2[labels == c].mean(axis=0) for c in range(10)], axis=1)
    w3 = np.where(means - a2.mean(axis=0)[:, None] >= 0, 1.0, -1.0).astype(np.float32)

    def t(name, arr):
        return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)

    inits = [
        t("thr0", [[0.5]]),
        t("w1", w1),
        t("g1", g1), t("b1", b1), t("m1", m1), t("v1", v1),
        t("s1", 1.0), t("zp", 0.0), t("bw", 1.0),
        t("w2", w2),
        t("g2", g2), t("b2", np.zeros(32)), t("m2", m2), t("v2", np.ones(32)),
        t("s2", 0.5),
        t("w3", w3),
    ]
    nodes = [
        helper.make_node("MultiThreshold", ["global_in", "thr0"], ["a0"], domain=Q,
                         out_scale=1.0, out_bias=0.0, out_dtype="BINARY", data_layout="NCHW"),
        helper.make_node("Conv", ["a0", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g1", "b1", "m1", "v1"], ["n1"], epsilon=1e-5),
        helper.make_node("Quant", ["n1", "s1", "zp", "bw"], ["a1"], domain=Q, signed=0, narrow=0,
                         rounding_mode="ROUND"),
        helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p1"], ["f1"], axis=1),
        helper.make_node("MatMul", ["f1", "w2"], ["y2"]),
        helper.make_node("BatchNormalization", ["y2", "g2", "b2", "m2", "v2"], ["n2"], epsilon=1e-5),
        helper.make_node("Quant", ["n2", "s2", "zp", "bw"], ["a2"], domain=Q, signed=1, narrow=0,
                         rounding_mode="ROUND"),
        helper.make_node("MatMul", ["a2", "w3"], ["global_out"]),
    ]
    graph = helper.make_graph(
        nodes, "binary01",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="xnorflow-fixtures",
                              opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid(Q, 1)])
    model.ir_version = 7
    out = os.path.join(FIXTURES, "binary01.onnx")
    onnx.save(model, out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
