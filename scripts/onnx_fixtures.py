#!/usr/bin/env python3
"""Builds xnorflow's own small QONNX / FINN-ONNX test fixtures for the ONNX importer.

Usage (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install qonnx onnx onnxruntime
    .venv/bin/python scripts/onnx_fixtures.py [--data MNIST_DIR] [--out DIR]

MNIST_DIR defaults to ../shared/data/mnist (the IDX files, gzipped or not); DIR defaults to
tests/fixtures/onnx. No torch: the graphs are written with onnx.helper from seeded numpy, the way
Brevitas / FINN export them, and the weights are fitted cheaply (no gradient training) on the first
5000 MNIST *training* images so that the nets have real accuracy:

  * hidden-layer weights are the signs of class-mean differences (45 class pairs + 10
    one-vs-rest + random directions) of the previous layer's binary features;
  * every BatchNormalization / threshold is put at the value splitting the two class groups its unit was built
    from (midpoint of their mean pre-activations; the median for random units / conv channels),
    offset by half a grid step (the pre-activations take values on a known grid), so no
    pre-activation ever lands on a threshold where float rounding could decide the sign;
    finn_style.onnx instead puts its integer thresholds exactly ON the grid on purpose (MatMul
    of +-1 values is exact), to test MultiThreshold's `>=`;
  * the last layer's +-1 weights are fitted by a few epochs of a sign-constrained perceptron.

Fixtures written (the raw graphs as built; each is checked to run under qonnx's executor after
qonnx.util.cleanup.cleanup_model, and the first 100 test images are compared with a numpy
re-implementation of the graph):

  conv_w1a1_8bit.onnx  Brevitas-CNV-like conv net, 8-bit input Quant, bipolar weights/activations,
                       dynamic Shape/Gather/Unsqueeze/Concat/Reshape flatten, TensorNorm tail.
  tfc_mixed.onnx       784-64-64-10 MLP: Flatten, Gemm(transB=1, one with bias), BipolarQuant with
                       scale 0.5 on activations, legacy undeclared domain "onnx.brevitas",
                       initializers also listed in graph.input, gammas exactly 1, -1 and 1e-3.
  finn_style.onnx      FINN-ONNX dialect 784-64-10: MultiThreshold (finn.custom_op.general),
                       MatMul with +-1 float weights annotated BIPOLAR, Mul, TopK (index output).

All take a float32 (1,1,28,28) input holding pixel/255.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_mnist import DEFAULT_DATA, FIXTURES, load_mnist  # noqa: E402

QDOM = "qonnx.custom_op.general"
EPS = np.float32(1e-5)
N_FIT = 5000


# ---------------------------------------------------------------- numpy reference pieces
def bipolar(x):
    return np.where(x >= 0, np.float32(1), np.float32(-1)).astype(np.float32)


def quant8(x, scale):
    y = x / scale
    y = np.clip(y, -128, 127)
    return (np.round(y) * scale).astype(np.float32)


def conv_valid(x, w):
    """x (N,C,H,W), w (O,C,3,3) -> (N,O,H-2,W-2), float32 (exact here: grid values)."""
    n, c, h, wd = x.shape
    o = w.shape[0]
    oh, ow = h - 2, wd - 2
    cols = np.empty((n, c, 3, 3, oh, ow), np.float32)
    for i in range(3):
        for j in range(3):
            cols[:, :, i, j] = x[:, :, i:i + oh, j:j + ow]
    return np.einsum("nckluv,ockl->nouv", cols, w, optimize=True).astype(np.float32)


def maxpool2(x):
    n, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    x = x[:, :, :h2 * 2, :w2 * 2].reshape(n, c, h2, 2, w2, 2)
    return x.max(axis=(3, 5))


def bn(x, g, b, m, v, axis=1):
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda a: a.reshape(shape)  # noqa: E731
    return ((x - r(m)) / np.sqrt(r(v) + EPS) * r(g) + r(b)).astype(np.float32)


# ---------------------------------------------------------------- fitting helpers
def directions(feat, labels, n_out, rng):
    """n_out float direction rows over feat's columns: class-pair and one-vs-rest mean differences
    of the binary features, then random ones; plus a little noise so the float weights are not
    already +-1 (BipolarQuant takes their signs). Also returns, per row, the pre-activation value
    that best splits the row's two groups (midpoint of their mean projections; median for random
    rows), to place the BatchNorm / threshold at."""
    mu = np.stack([feat[labels == c].mean(0) for c in range(10)])
    allm = feat.mean(0)
    rows = [(mu[i] - mu[j], labels == i, labels == j) for i in range(10) for j in range(i + 1, 10)]
    rows += [(mu[c] - allm, labels == c, labels != c) for c in range(10)]
    order = rng.permutation(len(rows))[:n_out]
    rows = [rows[k] for k in order]
    while len(rows) < n_out:
        rows.append((rng.standard_normal(feat.shape[1]), None, None))
    w = np.stack([r / (np.abs(r).max() + 1e-9) for r, _, _ in rows]).astype(np.float32)
    w = (w + np.float32(0.05) * rng.standard_normal(w.shape).astype(np.float32)).astype(np.float32)
    proj = feat @ bipolar(w).T
    centers = np.array([np.median(proj[:, k]) if a is None else 0.5 * (proj[a, k].mean() + proj[b, k].mean())
                        for k, (_, a, b) in enumerate(rows)])
    return w, centers


def bn_params(pre, step, rng, ch_axis=1, offset=0.5, special=(), centers=None):
    """BatchNorm params whose zero crossing sits at floor_to_grid(center) + offset*step, center being
    `centers` or each channel's median pre-activation (so off the value grid for offset 0.5); random gammas, ~30% negative; `special` overrides the
    first gammas (e.g. exactly 1.0, -1.0, 1e-3)."""
    x = np.moveaxis(pre, ch_axis, -1).reshape(-1, pre.shape[ch_axis]).astype(np.float64)
    c = x.shape[1]
    med = np.median(x, axis=0) if centers is None else centers
    # snap the center down to the value grid, then move half a step off it
    t = np.floor(med / step + 1e-9) * step + offset * step
    var = (x.var(axis=0) + 1.0).astype(np.float32)
    gamma = (rng.uniform(0.5, 2.0, c) * np.where(rng.random(c) < 0.3, -1, 1)).astype(np.float32)
    for i, s in enumerate(special):
        gamma[i] = s
    beta = (0.2 * rng.standard_normal(c)).astype(np.float32)
    mean = (t + beta.astype(np.float64) * np.sqrt(var.astype(np.float64) + EPS) / gamma).astype(np.float32)
    return gamma, beta, mean, var


def fit_sign_layer(h, labels, rng, epochs=8):
    """+-1 weights (10, D) for scores = h @ W.T, by a sign-constrained perceptron over latent
    float weights initialised with class correlations."""
    mu = np.stack([h[labels == c].mean(0) for c in range(10)]) - h.mean(0)
    lat = mu.astype(np.float64)
    best, best_acc = bipolar(lat), -1.0
    for _ in range(epochs):
        for i in rng.permutation(len(h)):
            w = bipolar(lat)
            s = w @ h[i]
            p = int(np.argmax(s))
            if p != labels[i]:
                lat[labels[i]] += 0.01 * h[i]
                lat[p] -= 0.01 * h[i]
        w = bipolar(lat)
        acc = float((np.argmax(h @ w.T, 1) == labels).mean())
        if acc > best_acc:
            best, best_acc = w, acc
    return best, best_acc


# ---------------------------------------------------------------- ONNX helpers
class G:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op, inputs, domain="", n_out=1, outputs=None, **attrs):
        self.n += 1
        outs = outputs or [f"{op}_{self.n}_out{i}" if n_out > 1 else f"{op}_{self.n}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"{op}_{self.n}", domain=domain, **attrs))
        return outs if n_out > 1 else outs[0]


def f32(x):
    return np.asarray(x, np.float32)


def save(model, path):
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_model(g, inp, outp, out_elem, out_shape, opsets, ir=7, inits_as_inputs=False, producer="pytorch"):
    inputs = [helper.make_tensor_value_info(inp, TensorProto.FLOAT, [1, 1, 28, 28])]
    if inits_as_inputs:
        for t in g.inits:
            inputs.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    graph = helper.make_graph(g.nodes, "torch-jit-export" if producer == "pytorch" else "finn_graph", inputs,
                              [helper.make_tensor_value_info(outp, out_elem, out_shape)], initializer=g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                          producer_name=producer, producer_version="1.13.1" if producer == "pytorch" else "")
    m.ir_version = ir
    return m


# ---------------------------------------------------------------- fixture a: conv_w1a1_8bit
def conv_fixture(xtr, ytr, rng):
    scale_in = np.float32(1.0 / 128)

    def inp(v):
        x = v.astype(np.float32)[:, None] / np.float32(255)
        return quant8(x * np.float32(2) - np.float32(1), scale_in)

    w1 = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    x0 = inp(xtr)
    p1 = conv_valid(x0, bipolar(w1))
    bn1 = bn_params(p1[:500], 1.0 / 128, rng)
    a1 = maxpool2(bipolar(bn(p1, *bn1)))
    p2 = conv_valid(a1, bipolar(w2))
    bn2 = bn_params(p2[:500], 2.0, rng)
    a2 = maxpool2(bipolar(bn(p2, *bn2))).reshape(len(xtr), -1)  # (N, 800)
    w3, c3 = directions(a2, ytr, 64, rng)
    p3 = a2 @ bipolar(w3).T
    bn3 = bn_params(p3[:500], 2.0, rng, centers=c3)
    a3 = bipolar(bn(p3, *bn3))
    w4b, acc = fit_sign_layer(a3, ytr, rng)
    w4 = (w4b * rng.uniform(0.1, 1.0, w4b.shape)).astype(np.float32)  # float latent, same signs
    print(f"conv_w1a1_8bit: fit accuracy on {len(xtr)} training images {acc:.4f}")
    tn = dict(mean=f32([0.37]), var=f32([311.5]), eps=f32([1e-4]), w=f32([0.71]), b=f32([-1.09]))

    g = G()
    x = g.node("Mul", ["inp.1", g.init("Mul_c", f32(2.0))])
    x = g.node("Sub", [x, g.init("Sub_c", f32([1.0]))])
    x = g.node("Quant", [x, g.init("in_scale", scale_in), g.init("in_zeropt", f32(0.0)),
                         g.init("in_bitwidth", f32(8.0))], domain=QDOM, signed=1, narrow=0, rounding_mode="ROUND")
    for i, (w, bnp) in enumerate([(w1, bn1), (w2, bn2)]):
        wq = g.node("BipolarQuant", [g.init(f"conv{i}.weight", w), g.init(f"conv{i}.w_scale", f32(1.0))], domain=QDOM)
        x = g.node("Conv", [x, wq], dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[1, 1])
        x = g.node("BatchNormalization", [x] + [g.init(f"bn{i}.{k}", a) for k, a in zip(
            ["weight", "bias", "running_mean", "running_var"], bnp)], epsilon=float(EPS), momentum=0.9)
        x = g.node("BipolarQuant", [x, g.init(f"act{i}.scale", f32(1.0))], domain=QDOM)
        x = g.node("MaxPool", [x], kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])
    s = g.node("Shape", [x])
    s = g.node("Gather", [s, g.init("gather_idx", np.array(0, np.int64))], axis=0)
    s = g.node("Unsqueeze", [s], axes=[0])
    s = g.node("Concat", [s, g.init("concat_c", np.array([-1], np.int64))], axis=0)
    x = g.node("Reshape", [x, s])
    for i, w in enumerate([w3, w4]):
        wq = g.node("BipolarQuant", [g.init(f"fc{i}.weight", w), g.init(f"fc{i}.w_scale", f32(1.0))], domain=QDOM)
        wt = g.node("Transpose", [wq], perm=[1, 0])
        x = g.node("MatMul", [x, wt])
        if i == 0:
            x = g.node("BatchNormalization", [x] + [g.init(f"bn2.{k}", a) for k, a in zip(
                ["weight", "bias", "running_mean", "running_var"], bn3)], epsilon=float(EPS), momentum=0.9)
            x = g.node("BipolarQuant", [x, g.init("act2.scale", f32(1.0))], domain=QDOM)
    x = g.node("Sub", [x, g.init("tn.mean", tn["mean"])])
    ve = g.node("Add", [g.init("tn.var", tn["var"]), g.init("tn.eps", tn["eps"])])
    sd = g.node("Pow", [ve, g.init("tn.half", f32(0.5))])
    x = g.node("Div", [x, sd])
    x = g.node("Mul", [x, g.init("tn.weight", tn["w"])])
    g.node("Add", [x, g.init("tn.bias", tn["b"])], outputs=["out"])
    model = make_model(g, "inp.1", "out", TensorProto.FLOAT, [1, 10], [("", 11), (QDOM, 1)])

    def ref(v):
        a = maxpool2(bipolar(bn(conv_valid(inp(v), bipolar(w1)), *bn1)))
        a = maxpool2(bipolar(bn(conv_valid(a, bipolar(w2)), *bn2))).reshape(len(v), -1)
        a = bipolar(bn(a @ bipolar(w3).T, *bn3))
        s = a @ bipolar(w4).T
        return ((s - tn["mean"]) / np.sqrt(tn["var"] + tn["eps"]) * tn["w"] + tn["b"]).astype(np.float32)
    return model, ref


# ---------------------------------------------------------------- fixture b: tfc_mixed
def tfc_mixed_fixture(xtr, ytr, rng):
    def inp(v):
        x = v.reshape(len(v), -1).astype(np.float32) / np.float32(255)
        return bipolar(x * np.float32(2) - np.float32(1))

    a0 = inp(xtr)
    w1, cen1 = directions(a0, ytr, 64, rng)
    c1 = (0.5 * rng.standard_normal(64)).astype(np.float32)
    p1 = a0 @ bipolar(w1).T + c1
    # pre-activation grid: even integers + c1 per channel; shift so the grid is 2Z, then shift back
    g1, b1, m1, v1 = bn_params(p1[:500] - c1, 2.0, rng, offset=0.5, special=(1.0, -1.0, 1e-3),
                                centers=cen1)
    m1 = (m1 + c1).astype(np.float32)
    s_act = np.float32(0.5)
    a1 = bipolar(bn(p1, g1, b1, m1, v1)) * s_act
    w2, cen2 = directions(a1, ytr, 64, rng)
    p2 = a1 @ bipolar(w2).T  # integers
    bn2 = bn_params(p2[:500], 1.0, rng, centers=cen2)
    a2 = bipolar(bn(p2, *bn2))
    w3b, acc = fit_sign_layer(a2, ytr, rng)
    w3 = (w3b * rng.uniform(0.1, 1.0, w3b.shape)).astype(np.float32)
    print(f"tfc_mixed: fit accuracy on {len(xtr)} training images {acc:.4f}")

    dom = "onnx.brevitas"
    g = G()
    x = g.node("Flatten", ["0"], axis=1)
    x = g.node("Mul", [x, g.init("32", f32(2.0))])
    x = g.node("Sub", [x, g.init("34", f32([1.0]))])
    x = g.node("BipolarQuant", [x, g.init("36", f32(1.0))], domain=dom)
    bns = [(g1, b1, m1, v1), bn2]
    ascales = [s_act, f32(1.0)]
    for i, w in enumerate([w1, w2, w3]):
        wq = g.node("BipolarQuant", [g.init(f"fc{i}.weight", w), g.init(f"fc{i}.w_scale", f32(1.0))], domain=dom)
        ins = [x, wq] + ([g.init("fc0.bias", c1)] if i == 0 else [])
        if i == 2:
            g.node("Gemm", ins, outputs=["out"], alpha=1.0, beta=1.0, transB=1)
            break
        x = g.node("Gemm", ins, alpha=1.0, beta=1.0, transB=1)
        x = g.node("BatchNormalization", [x] + [g.init(f"features.{i}.{k}", a) for k, a in zip(
            ["weight", "bias", "running_mean", "running_var"], bns[i])], epsilon=float(EPS), momentum=0.9)
        x = g.node("BipolarQuant", [x, g.init(f"act{i}.scale", f32(ascales[i]))], domain=dom)
    # legacy: "onnx.brevitas" deliberately NOT in opset_import; initializers also graph inputs
    model = make_model(g, "0", "out", TensorProto.FLOAT, [1, 10], [("", 11)], inits_as_inputs=True)

    def ref(v):
        a = bipolar(bn(inp(v) @ bipolar(w1).T + c1, g1, b1, m1, v1)) * s_act
        a = bipolar(bn(a @ bipolar(w2).T, *bn2))
        return (a @ bipolar(w3).T).astype(np.float32)
    return model, ref


# ---------------------------------------------------------------- fixture c: finn_style
def finn_fixture(xtr, ytr, rng):
    def inp(v):
        x = v.reshape(len(v), -1).astype(np.float32) / np.float32(255)
        return np.where(x >= np.float32(0.5), np.float32(1), np.float32(-1))

    a0 = inp(xtr)
    w1, t1 = directions(a0, ytr, 64, rng)
    w1 = bipolar(w1).T  # (784, 64) +-1
    p1 = a0 @ w1  # even integers
    t1 = (np.floor(t1 / 2) * 2).astype(np.float32).reshape(64, 1)  # ON the grid: tests >=
    a1 = np.where(p1 >= t1.T, np.float32(1), np.float32(-1))
    w2b, acc = fit_sign_layer(a1, ytr, rng)
    w2 = w2b.T.copy()  # (64, 10)
    print(f"finn_style: fit accuracy on {len(xtr)} training images {acc:.4f}")
    fdom = "finn.custom_op.general"

    g = G()
    x = g.node("MultiThreshold", ["global_in", g.init("MultiThreshold_0_param0", f32([[0.5]]))], domain=fdom,
               out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0)
    x = g.node("Reshape", [x, g.init("Reshape_0_param0", np.array([1, -1], np.int64))])
    x = g.node("MatMul", [x, g.init("MatMul_0_param0", w1)])
    x = g.node("MultiThreshold", [x, g.init("MultiThreshold_1_param0", t1)], domain=fdom,
               out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0)
    x = g.node("MatMul", [x, g.init("MatMul_1_param0", w2)])
    x = g.node("Mul", [x, g.init("Mul_0_param0", f32(0.25))])
    g.node("TopK", [x, g.init("TopK_0_param0", np.array([1], np.int64))], outputs=["TopK_0_out0", "global_out"],
           axis=-1, largest=1, sorted=1)
    model = make_model(g, "global_in", "global_out", TensorProto.INT64, [1, 1], [("", 11), (fdom, 1)],
                       producer="finn")
    for name, dt in [("MatMul_0_param0", "BIPOLAR"), ("MatMul_1_param0", "BIPOLAR"),
                     (g.nodes[0].output[0], "BIPOLAR"), (g.nodes[3].output[0], "BIPOLAR")]:
        qa = onnx.TensorAnnotation()
        qa.tensor_name = name
        qa.quant_parameter_tensor_names.append(onnx.StringStringEntryProto(key="finn_datatype", value=dt))
        model.graph.quantization_annotation.append(qa)

    def ref(v):
        a = np.where(inp(v) @ w1 >= t1.T, np.float32(1), np.float32(-1))
        return (a @ w2 * np.float32(0.25)).astype(np.float32)
    return model, ref


# ---------------------------------------------------------------- check under qonnx
def check(path, ref, xte, n=100, topk=False):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    m = cleanup_model(ModelWrapper(path))
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    r = ref(xte[:n])
    for i in range(n):
        o = execute_onnx(m, {iname: xte[i].astype(np.float32).reshape(1, 1, 28, 28) / np.float32(255)})[oname]
        if topk:
            want = int(np.argmax(r[i]))
            assert int(o.reshape(-1)[0]) == want, (path, i, o, r[i])
        else:
            assert np.array_equal(o.reshape(-1), r[i]), (path, i, o, r[i])
    print(f"{os.path.basename(path)}: qonnx executor == numpy reference on {n} test images")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=FIXTURES)
    ap.add_argument("--no-check", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    xtr, ytr = load_mnist(a.data, "train")
    xte, _ = load_mnist(a.data, "t10k")
    xtr, ytr = xtr[:N_FIT], ytr[:N_FIT].astype(np.int64)
    for name, fn, topk in [("conv_w1a1_8bit", conv_fixture, False), ("tfc_mixed", tfc_mixed_fixture, False),
                           ("finn_style", finn_fixture, True)]:
        rng = np.random.default_rng({"conv_w1a1_8bit": 1, "tfc_mixed": 2, "finn_style": 3}[name])
        model, ref = fn(xtr, ytr, rng)
        path = os.path.join(a.out, name + ".onnx")
        save(model, path)
        if not a.no_check:
            check(path, ref, xte, topk=topk)


if __name__ == "__main__":
    main()
