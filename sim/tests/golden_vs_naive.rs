//! Differential tests of the golden model against a naive reference executor.
//!
//! The reference executor below is written from the semantics alone and as plainly as possible:
//! tensors are `Vec<i32>` of +1 / -1 values (or plain integers after `quant.fixed8` or
//! `quant.table`), every layer is
//! a set of nested loops, nothing is bit-packed and nothing is shared with `sim::golden`. It reads
//! only the model's public fields and `BitMatrix::get`.
//!
//! Property tests draw random small networks with `compiler::model::random::random_model` (MLPs,
//! convolutional nets with and without padding, strides 1 and 2, max-pools, widths that are and are
//! not multiples of 64, 8-bit first layers, fixed-point or by table) and random frames, and check that `Golden::trace`,
//! `Golden::run` and `Golden::run_batch` agree with the reference on every bit and every score.
//! Deterministic tests cover edge cases, and hand-computed examples check that the reference itself
//! computes what the semantics say.

use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{
    Activation, BinaryWeights, BitMatrix, Fixed8, InputTable, IntType, Layer, Model, MultiThreshold,
    OutputMode, Padding, Provenance, Shape, Shortcut,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::golden::{Golden, IntKernel, LayerOutput};

// ---------------------------------------------------------------------------------------------
// The naive reference executor.
// ---------------------------------------------------------------------------------------------

/// One layer's output in the reference executor, (h, w, c) order, channel fastest.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Naive {
    /// Binary values as +1 / -1.
    Signs { shape: Shape, values: Vec<i32> },
    /// Integers: the 8-bit quantizer's output or the last layer's scores.
    Ints { shape: Shape, values: Vec<i32> },
}

impl Naive {
    fn shape(&self) -> Shape {
        match self {
            Naive::Signs { shape, .. } | Naive::Ints { shape, .. } => *shape,
        }
    }

    fn values(&self) -> &[i32] {
        match self {
            Naive::Signs { values, .. } | Naive::Ints { values, .. } => values,
        }
    }

    fn is_int(&self) -> bool {
        matches!(self, Naive::Ints { .. })
    }
}

/// +1 for a set weight bit, -1 for a clear one.
fn sign(bit: bool) -> i32 {
    if bit {
        1
    } else {
        -1
    }
}

/// What input element `x` adds to an accumulator when multiplied with weight bit `w`: for a binary
/// input, 1 when the two agree (xnor) and 0 otherwise; for an integer input, `w ? x : -x`.
fn contribution(x: i32, w: bool, int_input: bool) -> i32 {
    if int_input {
        if w {
            x
        } else {
            -x
        }
    } else {
        assert!(x == 1 || x == -1, "binary value {x} is not +-1");
        if x == sign(w) {
            1
        } else {
            0
        }
    }
}

/// The output value of channel `ch` with accumulator `acc`: a +-1 bit or the accumulator itself.
fn activate(acc: i32, activation: &Activation, ch: usize) -> i32 {
    match activation {
        Activation::Threshold(t) => {
            if acc >= t[ch] {
                1
            } else {
                -1
            }
        }
        Activation::Multi(m) => {
            let t = &m.thresholds[ch * m.levels..(ch + 1) * m.levels];
            m.bias + t.iter().filter(|&&t| acc >= t).count() as i32
        }
        Activation::Scores => acc,
    }
}

/// Wraps layer outputs according to the activation.
fn wrap(shape: Shape, values: Vec<i32>, activation: &Activation) -> Naive {
    match activation {
        Activation::Threshold(_) => Naive::Signs { shape, values },
        Activation::Multi(_) | Activation::Scores => Naive::Ints { shape, values },
    }
}

/// Runs `model` on one frame of `pixels` and returns every layer's output.
fn naive_trace(model: &Model, pixels: &[u8]) -> Vec<Naive> {
    let input = model.input;
    assert_eq!(pixels.len(), input.h * input.w * input.c, "frame size");
    let mut outs: Vec<Naive> = Vec::new();
    for layer in &model.layers {
        let out = match layer {
            Layer::QuantBinary { threshold } => Naive::Signs {
                shape: input,
                values: pixels.iter().map(|&p| if p >= *threshold { 1 } else { -1 }).collect(),
            },
            Layer::QuantFixed8(q) => Naive::Ints {
                shape: input,
                values: pixels
                    .iter()
                    .map(|&p| if q.signed { i32::from(p) - 128 } else { i32::from(p) })
                    .collect(),
            },
            Layer::QuantTable(t) => {
                let table = t.values();
                assert_eq!(table.len(), 256, "one value per pixel byte");
                Naive::Ints { shape: input, values: pixels.iter().map(|&p| table[usize::from(p)]).collect() }
            }
            Layer::Dense(w) => {
                let prev = outs.last().expect("dense is never the first layer");
                let x = prev.values();
                let n = x.len();
                assert_eq!(n, w.matrix.cols(), "dense fan-in");
                let mut values = Vec::new();
                for r in 0..w.matrix.rows() {
                    let mut acc = 0;
                    for (j, &xj) in x.iter().enumerate() {
                        acc += contribution(xj, w.matrix.get(r, j), prev.is_int());
                    }
                    values.push(activate(acc, &w.activation, r));
                }
                wrap(Shape::new(1, 1, w.matrix.rows()), values, &w.activation)
            }
            Layer::Conv2d { kernel, stride, padding, weights } => {
                let prev = outs.last().expect("conv2d is never the first layer");
                let (shape, values) = naive_conv(
                    prev.values(),
                    prev.shape(),
                    prev.is_int(),
                    *kernel,
                    *stride,
                    *padding,
                    weights,
                );
                wrap(shape, values, &weights.activation)
            }
            Layer::Residual { kernel, stride, padding, shortcut, weights } => {
                let prev = outs.last().expect("a residual block is never the first layer");
                assert!(prev.is_int(), "a residual block reads integers");
                let (s_in, x) = (prev.shape(), prev.values());
                // The branch: +1 where x >= 0, -1 elsewhere, a binary convolution, the multi-threshold.
                let signs: Vec<i32> = x.iter().map(|&v| if v >= 0 { 1 } else { -1 }).collect();
                let (shape, branch) = naive_conv(&signs, s_in, false, *kernel, *stride, *padding, weights);
                let Activation::Multi(m) = &weights.activation else { panic!("a residual branch is multi") };
                let (lo, hi) = if m.ty.signed {
                    (-(1i64 << (m.ty.bits - 1)), (1i64 << (m.ty.bits - 1)) - 1)
                } else {
                    (0, (1i64 << m.ty.bits) - 1)
                };
                let mut values = Vec::new();
                for oy in 0..shape.h {
                    for ox in 0..shape.w {
                        for c in 0..shape.c {
                            let short = match shortcut {
                                Shortcut::Identity => x[(oy * s_in.w + ox) * s_in.c + c],
                                // Zero channels appended after the input's.
                                Shortcut::PoolPad if c >= s_in.c => 0,
                                Shortcut::PoolPad => {
                                    let mut best = i32::MIN;
                                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                                        let (y, xx) = (2 * oy + dy, 2 * ox + dx);
                                        best = best.max(x[(y * s_in.w + xx) * s_in.c + c]);
                                    }
                                    best
                                }
                            };
                            let b = branch[(oy * shape.w + ox) * shape.c + c];
                            values.push((i64::from(short) + i64::from(b)).clamp(lo, hi) as i32);
                        }
                    }
                }
                Naive::Ints { shape, values }
            }
            Layer::MaxPool { kernel, stride } => {
                let prev = outs.last().expect("maxpool is never the first layer");
                let s_in = prev.shape();
                let x = prev.values();
                let (k, s) = (*kernel, *stride);
                let oh = (s_in.h - k) / s + 1;
                let ow = (s_in.w - k) / s + 1;
                let mut values = Vec::new();
                for oy in 0..oh {
                    for ox in 0..ow {
                        for c in 0..s_in.c {
                            // The largest element of the window; for +-1 values, the OR of the bits.
                            let mut best = i32::MIN;
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (y, xx) = (oy * s + ky, ox * s + kx);
                                    best = best.max(x[(y * s_in.w + xx) * s_in.c + c]);
                                }
                            }
                            values.push(best);
                        }
                    }
                }
                let shape = Shape::new(oh, ow, s_in.c);
                if prev.is_int() {
                    Naive::Ints { shape, values }
                } else {
                    Naive::Signs { shape, values }
                }
            }
        };
        outs.push(out);
    }
    outs
}

/// A convolution of `x` (`s_in`, +-1 values or integers when `int`): output shape and values.
fn naive_conv(
    x: &[i32],
    s_in: Shape,
    int: bool,
    kernel: usize,
    stride: usize,
    padding: Padding,
    weights: &BinaryWeights,
) -> (Shape, Vec<i32>) {
    let (k, s) = (kernel, stride);
    let (p, fill) = match padding {
        Padding::None => (0, 0),
        Padding::Bit { amount, bit } => (amount, sign(bit)),
    };
    let oh = (s_in.h + 2 * p - k) / s + 1;
    let ow = (s_in.w + 2 * p - k) / s + 1;
    let out_c = weights.matrix.rows();
    assert_eq!(weights.matrix.cols(), k * k * s_in.c, "conv fan-in");
    let mut values = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            for oc in 0..out_c {
                let mut acc = 0;
                for ky in 0..k {
                    for kx in 0..k {
                        // Position in the unpadded input (may be outside it).
                        let y = (oy * s + ky) as isize - p as isize;
                        let xx = (ox * s + kx) as isize - p as isize;
                        for c in 0..s_in.c {
                            let inside = y >= 0 && xx >= 0 && (y as usize) < s_in.h && (xx as usize) < s_in.w;
                            let v = if inside {
                                x[((y as usize) * s_in.w + xx as usize) * s_in.c + c]
                            } else {
                                assert!(fill != 0, "read padding of an unpadded convolution");
                                fill
                            };
                            let wbit = weights.matrix.get(oc, (ky * k + kx) * s_in.c + c);
                            acc += contribution(v, wbit, int);
                        }
                    }
                }
                values.push(activate(acc, &weights.activation, oc));
            }
        }
    }
    (Shape::new(oh, ow, out_c), values)
}

/// The lowest index holding the largest score.
fn naive_argmax(scores: &[i32]) -> usize {
    let max = scores.iter().copied().max().expect("at least one score");
    scores.iter().position(|&s| s == max).expect("the maximum is present")
}

/// Scores and class of one frame.
fn naive_run(model: &Model, pixels: &[u8]) -> (Vec<i32>, usize) {
    let trace = naive_trace(model, pixels);
    let last = trace.last().expect("at least one layer");
    assert!(last.is_int(), "the last layer produces scores");
    let scores = last.values().to_vec();
    let class = naive_argmax(&scores);
    (scores, class)
}

// ---------------------------------------------------------------------------------------------
// Comparison with the golden model.
// ---------------------------------------------------------------------------------------------

/// The golden model's layer output in the reference executor's form.
fn from_golden(out: &LayerOutput) -> Naive {
    match out {
        LayerOutput::Bits { shape, bits } => {
            Naive::Signs { shape: *shape, values: bits.iter().map(|&b| sign(b)).collect() }
        }
        LayerOutput::Ints { shape, values } => Naive::Ints { shape: *shape, values: values.clone() },
    }
}

/// Describes the first difference between two layer outputs.
fn diff_layer(layer: usize, kind: &str, golden: &Naive, naive: &Naive) -> Option<String> {
    if golden == naive {
        return None;
    }
    let (gs, ns) = (golden.shape(), naive.shape());
    if gs != ns || golden.is_int() != naive.is_int() || golden.values().len() != naive.values().len() {
        return Some(format!(
            "L{layer} ({kind}): golden gives {gs} (int: {}, {} values), naive {ns} (int: {}, {} values)",
            golden.is_int(),
            golden.values().len(),
            naive.is_int(),
            naive.values().len()
        ));
    }
    let diffs: Vec<usize> = (0..gs.len()).filter(|&j| golden.values()[j] != naive.values()[j]).collect();
    let j = diffs[0];
    let (y, x, c) = (j / (gs.w * gs.c), (j / gs.c) % gs.w, j % gs.c);
    Some(format!(
        "L{layer} ({kind}) {gs}: {} of {} values differ; first at index {j} (y={y}, x={x}, c={c}): \
         golden {}, naive {}",
        diffs.len(),
        gs.len(),
        golden.values()[j],
        naive.values()[j]
    ))
}

/// The reference's trace of one frame, and its scores and class.
type Expected = (Vec<Naive>, (Vec<i32>, usize));

/// Checks `Golden::trace` and `Golden::run` on every frame and `Golden::run_batch` on all of them
/// (frames stored one after another) against the reference, with every integer-input kernel this
/// CPU runs.
fn compare(model: &Model, frames: &[u8]) -> Result<(), String> {
    let n = model.input.len();
    assert!(!frames.is_empty() && frames.len().is_multiple_of(n), "whole frames");
    let naive: Vec<Expected> =
        frames.chunks_exact(n).map(|px| (naive_trace(model, px), naive_run(model, px))).collect();
    for kernel in IntKernel::available() {
        compare_with(model, frames, &naive, kernel).map_err(|e| format!("{} kernel: {e}", kernel.name()))?;
    }
    Ok(())
}

/// [`compare`] for one kernel, given the reference's trace and result of every frame.
fn compare_with(model: &Model, frames: &[u8], naive: &[Expected], kernel: IntKernel) -> Result<(), String> {
    let golden = Golden::with_int_kernel(model, kernel).map_err(|e| format!("Golden::new: {e}"))?;
    let n = golden.frame_len();
    assert_eq!(n, model.input.len(), "frame length");
    for (f, (px, (naive, (scores, class)))) in frames.chunks_exact(n).zip(naive).enumerate() {
        let trace = golden.trace(px).map_err(|e| format!("trace: {e}"))?;
        if trace.len() != naive.len() {
            return Err(format!("frame {f}: golden traced {} layers, naive {}", trace.len(), naive.len()));
        }
        for (i, (g, nv)) in trace.iter().zip(naive).enumerate() {
            if let Some(d) = diff_layer(i, model.layers[i].kind(), &from_golden(g), nv) {
                return Err(format!("frame {f}: trace: {d}\ninput: {px:?}"));
            }
        }
        let run = golden.run(px).map_err(|e| format!("run: {e}"))?;
        if run.scores != *scores || run.class != *class {
            return Err(format!(
                "frame {f}: run gives scores {:?} class {}, naive {scores:?} class {class}\ninput: {px:?}",
                run.scores, run.class
            ));
        }
    }
    let batch = golden.run_batch(frames).map_err(|e| format!("run_batch: {e}"))?;
    if batch.len() != naive.len() {
        return Err(format!("run_batch gives {} predictions for {} frames", batch.len(), naive.len()));
    }
    for (f, (p, (_, (scores, class)))) in batch.iter().zip(naive).enumerate() {
        if p.scores != *scores || p.class != *class {
            return Err(format!(
                "run_batch of {} frames, frame {f}: scores {:?} class {}, naive {scores:?} class {class}\n\
                 input: {:?}",
                naive.len(),
                p.scores,
                p.class,
                &frames[f * n..(f + 1) * n]
            ));
        }
    }
    Ok(())
}

/// [`compare`] for deterministic tests: panics with the model text on a difference.
fn assert_agree(model: &Model, frames: &[u8]) {
    if let Err(e) = compare(model, frames) {
        panic!("golden and naive disagree: {e}\nmodel:\n{model}");
    }
}

/// `count` random frames for `model`, stored one after another.
fn random_frames(model: &Model, count: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count * model.input.len()).map(|_| rng.gen()).collect()
}

// ---------------------------------------------------------------------------------------------
// Random architectures.
// ---------------------------------------------------------------------------------------------

/// A random network: input shape, layer specs, weight seed.
#[derive(Clone, Debug)]
struct Arch {
    input: Shape,
    specs: Vec<LayerSpec>,
    seed: u64,
}

/// A layer choice before it is known whether it fits; [`fit`] drops the ones that do not.
#[derive(Copy, Clone, Debug)]
enum Raw {
    Conv { out: usize, kernel: usize, stride: usize, pad: usize, bit: bool, act: Option<IntType> },
    Pool { kernel: usize, stride: usize },
}

/// A k-bit activation type, k = 2..=4, signed or not.
fn int_type() -> impl Strategy<Value = IntType> {
    (2u8..=4, any::<bool>()).prop_map(|(bits, signed)| IntType { bits, signed })
}

/// A dense layer of `out` units, k-bit when `act` is given.
fn dense(out: usize, act: Option<IntType>) -> LayerSpec {
    match act {
        Some(ty) => LayerSpec::DenseMulti { out, ty },
        None => LayerSpec::Dense(out),
    }
}

/// Output channels or units: mostly 1..=70 (around one word), sometimes 65..=130 (two or three words).
fn width() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 1usize..=70, 1 => 65usize..=130]
}

fn raw_layer() -> impl Strategy<Value = Raw> {
    prop_oneof![
        3 => (width(), 1usize..=4, 1usize..=2, 0usize..=2, any::<bool>())
            .prop_map(|(out, kernel, stride, pad, bit)| Raw::Conv { out, kernel, stride, pad, bit, act: None }),
        2 => prop_oneof![Just((2, 2)), Just((3, 1)), Just((3, 2))]
            .prop_map(|(kernel, stride)| Raw::Pool { kernel, stride }),
    ]
}

/// [`raw_layer`] with k-bit convolutions half of the time.
fn kbit_raw_layer() -> impl Strategy<Value = Raw> {
    (raw_layer(), prop::option::of(int_type())).prop_map(|(raw, ty)| match raw {
        Raw::Conv { out, kernel, stride, pad, bit, .. } => {
            Raw::Conv { out, kernel, stride, pad, bit, act: ty }
        }
        pool => pool,
    })
}

/// Appends the raw layers that fit after a tensor of `h x w x c` (`int`: integers), while the
/// reference executor's work per frame stays under `budget` multiply-accumulates. Returns the final
/// shape.
fn fit(specs: &mut Vec<LayerSpec>, raws: &[Raw], mut cur: Shape, mut int: bool, budget: usize) -> Shape {
    let mut spent = 0;
    for raw in raws {
        match *raw {
            Raw::Conv { out, kernel, stride, pad, bit, act } => {
                // An integer input has no padding bit; padding must be smaller than the kernel.
                let pad = if int { 0 } else { pad.min(kernel - 1) };
                let (h, w) = (cur.h + 2 * pad, cur.w + 2 * pad);
                if h < kernel || w < kernel {
                    continue;
                }
                let next = Shape::new((h - kernel) / stride + 1, (w - kernel) / stride + 1, out);
                let cost = next.len() * kernel * kernel * cur.c;
                if spent + cost > budget {
                    continue;
                }
                spent += cost;
                let padding = if pad == 0 { Padding::None } else { Padding::Bit { amount: pad, bit } };
                specs.push(match act {
                    Some(ty) => LayerSpec::Conv2dMulti { out, kernel, stride, padding, ty },
                    None => LayerSpec::Conv2d { out, kernel, stride, padding },
                });
                cur = next;
                int = act.is_some();
            }
            Raw::Pool { kernel, stride } => {
                if cur.h < kernel || cur.w < kernel {
                    continue;
                }
                specs.push(LayerSpec::MaxPool { kernel, stride });
                cur = Shape::new((cur.h - kernel) / stride + 1, (cur.w - kernel) / stride + 1, cur.c);
            }
        }
    }
    cur
}

/// Binary-input MLPs, including inputs and widths around and above 64 bits.
fn mlp_arch() -> impl Strategy<Value = Arch> {
    let input = prop_oneof![
        (1usize..=6, 1usize..=6, 1usize..=4).prop_map(|(h, w, c)| Shape::new(h, w, c)),
        (1usize..=130).prop_map(|c| Shape::new(1, 1, c)),
        (1usize..=130).prop_map(|h| Shape::new(h, 1, 1)),
        (1usize..=3, 1usize..=3, 60usize..=70).prop_map(|(h, w, c)| Shape::new(h, w, c)),
    ];
    (input, any::<u8>(), prop::collection::vec(width(), 0..=3), 1usize..=12, any::<u64>()).prop_map(
        |(input, threshold, hidden, classes, seed)| {
            let mut specs = vec![LayerSpec::QuantBinary(threshold)];
            specs.extend(hidden.into_iter().map(LayerSpec::Dense));
            specs.push(LayerSpec::Dense(classes));
            Arch { input, specs, seed }
        },
    )
}

/// Binary-input convolutional nets: convolutions (padding none, 1:0, 1:1, 2:0, 2:1; strides 1 and 2)
/// and max-pools, then an optional hidden dense layer and the scores.
fn conv_arch(max_side: usize, budget: usize) -> impl Strategy<Value = Arch> {
    let channels = prop_oneof![3 => 1usize..=4, 1 => 1usize..=70];
    (
        3usize..=max_side,
        3usize..=max_side,
        channels,
        any::<u8>(),
        prop::collection::vec(raw_layer(), 1..=4),
        prop::option::of(width()),
        1usize..=12,
        any::<u64>(),
    )
        .prop_map(move |(h, w, c, threshold, raws, hidden, classes, seed)| {
            let input = Shape::new(h, w, c);
            let mut specs = vec![LayerSpec::QuantBinary(threshold)];
            fit(&mut specs, &raws, input, false, budget);
            specs.extend(hidden.map(LayerSpec::Dense));
            specs.push(LayerSpec::Dense(classes));
            Arch { input, specs, seed }
        })
}

/// An 8-bit first layer (signed or unsigned; `quant.fixed8`, or a random `quant.table` when `table`)
/// feeding a dense layer (possibly the scores layer) or an unpadded convolution, possibly followed
/// by more binary layers.
fn fixed8_arch(max_side: usize, budget: usize, table: bool) -> impl Strategy<Value = Arch> {
    (
        (any::<bool>(), 0usize..3, 1usize..=max_side, 1usize..=max_side, 1usize..=3),
        (1usize..=4, 1usize..=2, width()),
        prop::collection::vec(raw_layer(), 0..=3),
        prop::option::of(width()),
        1usize..=12,
        any::<u64>(),
    )
        .prop_map(
            move |((signed, first, h, w, c), (kernel, stride, out), raws, hidden, classes, seed)| {
                let input = Shape::new(h, w, c);
                let quant =
                    if table { LayerSpec::QuantTable(signed) } else { LayerSpec::QuantFixed8(signed) };
                let mut specs = vec![quant];
                let conv =
                    Raw::Conv { out, kernel: kernel.min(h).min(w), stride, pad: 0, bit: false, act: None };
                match first {
                    // The 8-bit layer feeds the scores directly.
                    0 => specs.push(LayerSpec::Dense(classes)),
                    // ... or a thresholded dense layer.
                    1 => {
                        specs.push(LayerSpec::Dense(out));
                        specs.extend(hidden.map(LayerSpec::Dense));
                        specs.push(LayerSpec::Dense(classes));
                    }
                    // ... or an unpadded convolution (whose kernel fits the input by construction).
                    _ => {
                        let cur = fit(&mut specs, &[conv], input, true, budget);
                        if specs.len() == 2 {
                            fit(&mut specs, &raws, cur, false, budget);
                        }
                        specs.extend(hidden.map(LayerSpec::Dense));
                        specs.push(LayerSpec::Dense(classes));
                    }
                }
                Arch { input, specs, seed }
            },
        )
}

/// k-bit networks (k = 2..=4, signed or unsigned, random bias and levels): a binary or 8-bit
/// input, convolutions and max-pools of binary or k-bit values (a pool after an integer layer
/// takes the max), then dense layers, each k-bit or binary at random.
fn kbit_arch(max_side: usize, budget: usize) -> impl Strategy<Value = Arch> {
    (
        (any::<bool>(), 3usize..=max_side, 3usize..=max_side, 1usize..=4, any::<u8>()),
        prop::collection::vec(kbit_raw_layer(), 0..=3),
        prop::collection::vec((width(), prop::option::of(int_type())), 0..=2),
        1usize..=12,
        any::<u64>(),
    )
        .prop_map(move |((fixed8, h, w, c, threshold), raws, hidden, classes, seed)| {
            let input = Shape::new(h, w, c);
            let quant = if fixed8 {
                LayerSpec::QuantFixed8(threshold % 2 == 0)
            } else {
                LayerSpec::QuantBinary(threshold)
            };
            let mut specs = vec![quant];
            fit(&mut specs, &raws, input, fixed8, budget);
            specs.extend(hidden.into_iter().map(|(out, act)| dense(out, act)));
            specs.push(LayerSpec::Dense(classes));
            Arch { input, specs, seed }
        })
}

/// Residual networks: a binary or 8-bit input, a stem convolution to a signed k-bit stream
/// (k = 2..=8), one to three residual blocks (stride 1 with an identity shortcut, or stride 2 with
/// a pool-and-pad shortcut when the side is even), an optional max-pool of the integers, then
/// dense layers over the integers.
fn resnet_arch(max_side: usize) -> impl Strategy<Value = Arch> {
    (
        (any::<bool>(), 2usize..=max_side / 2, 1usize..=3, 2u8..=8, any::<u8>()),
        (
            1usize..=12,
            prop::collection::vec(
                (any::<bool>(), 0usize..=3, prop_oneof![Just(1usize), Just(3)], any::<bool>()),
                1..=3,
            ),
        ),
        (any::<bool>(), prop::option::of(int_type()), 1usize..=8, 1usize..=12),
        any::<u64>(),
    )
        .prop_map(
            |(
                (fixed8, half, c, bits, threshold),
                (stem_c, blocks),
                (pool, hidden, hidden_n, classes),
                seed,
            )| {
                // An even side, so that the first stride-2 block fits.
                let input = Shape::new(2 * half, 2 * half, c);
                let quant = if fixed8 {
                    LayerSpec::QuantFixed8(threshold % 2 == 0)
                } else {
                    LayerSpec::QuantBinary(threshold)
                };
                let ty = IntType { bits, signed: true };
                let pad =
                    if fixed8 { Padding::None } else { Padding::Bit { amount: 1, bit: threshold % 3 == 0 } };
                let stem = LayerSpec::Conv2dMulti { out: stem_c, kernel: 3, stride: 1, padding: pad, ty };
                let mut side = if fixed8 { 2 * half - 2 } else { 2 * half };
                let mut specs = vec![quant, stem];
                let mut ch = stem_c;
                for (down, grow, kernel, pad_bit) in blocks {
                    let (stride, out) =
                        if down && side % 2 == 0 && side >= 2 { (2, ch + grow) } else { (1, ch) };
                    specs.push(LayerSpec::Residual { out, kernel, stride, pad_bit });
                    ch = out;
                    side /= stride;
                }
                if pool && side >= 2 {
                    specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
                }
                if let Some(ty) = hidden {
                    specs.push(dense(hidden_n, Some(ty)));
                }
                specs.push(LayerSpec::Dense(classes));
                Arch { input, specs, seed }
            },
        )
}

impl Arch {
    fn model(&self) -> Option<Model> {
        random_model("prop", self.input, &self.specs, self.seed).ok()
    }
}

/// An architecture and `frames` (from `frame_counts`) random frames for it.
fn with_frames(
    arch: impl Strategy<Value = Arch>,
    frame_counts: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = (Arch, Vec<u8>)> {
    (arch, frame_counts).prop_flat_map(|(arch, frames)| {
        let n = arch.input.len() * frames;
        (Just(arch), prop::collection::vec(any::<u8>(), n))
    })
}

/// Builds the model of `arch` (rejecting the case when it does not verify) and compares.
fn check_arch(arch: &Arch, frames: &[u8]) -> Result<(), TestCaseError> {
    let model = arch.model();
    prop_assume!(model.is_some(), "random_model rejected the architecture");
    let model = model.expect("checked above");
    compare(&model, frames).map_err(|e| TestCaseError::fail(format!("{e}\nmodel:\n{model}")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 4096, ..ProptestConfig::default() })]

    #[test]
    fn mlp_matches_naive((arch, frames) in with_frames(mlp_arch(), 1..=2)) {
        check_arch(&arch, &frames)?;
    }

    #[test]
    fn convnet_matches_naive((arch, frames) in with_frames(conv_arch(12, 2_000_000), 1..=2)) {
        check_arch(&arch, &frames)?;
    }

    #[test]
    fn fixed8_first_layer_matches_naive((arch, frames) in with_frames(fixed8_arch(10, 2_000_000, false), 1..=2)) {
        check_arch(&arch, &frames)?;
    }

    #[test]
    fn table_first_layer_matches_naive((arch, frames) in with_frames(fixed8_arch(10, 2_000_000, true), 1..=2)) {
        check_arch(&arch, &frames)?;
    }

    #[test]
    fn kbit_activations_match_naive((arch, frames) in with_frames(kbit_arch(10, 2_000_000), 1..=2)) {
        check_arch(&arch, &frames)?;
    }

    #[test]
    fn residual_networks_match_naive((arch, frames) in with_frames(resnet_arch(10), 1..=2)) {
        check_arch(&arch, &frames)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 4096, ..ProptestConfig::default() })]

    /// Batches of 1..=20 frames: the golden model's four-frame blocks and their remainders.
    #[test]
    fn batches_match_naive((arch, frames) in with_frames(
        prop_oneof![
            mlp_arch(),
            conv_arch(8, 200_000),
            fixed8_arch(8, 200_000, false),
            fixed8_arch(8, 200_000, true),
            kbit_arch(8, 200_000),
            resnet_arch(8),
        ],
        1..=20,
    )) {
        check_arch(&arch, &frames)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-built models.
// ---------------------------------------------------------------------------------------------

/// Weights from one string of '0'/'1' per output channel (character `j` is column `j`).
fn hand_weights(rows: &[&str], activation: Activation) -> BinaryWeights {
    let cols = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == cols), "ragged rows");
    let matrix = BitMatrix::from_fn(rows.len(), cols, |r, c| rows[r].as_bytes()[c] == b'1');
    BinaryWeights { matrix, activation }
}

fn hand_model(input: Shape, layers: Vec<Layer>) -> Model {
    let model = Model {
        name: "hand".into(),
        input,
        layers,
        output: OutputMode::Argmax,
        provenance: Provenance::default(),
    };
    model.verify().expect("hand-built model verifies");
    model
}

fn naive_bits(out: &Naive) -> Vec<i32> {
    match out {
        Naive::Signs { values, .. } => values.clone(),
        Naive::Ints { .. } => panic!("expected a binary output"),
    }
}

/// Random weights for `rows x cols`.
fn random_weights(rng: &mut ChaCha8Rng, rows: usize, cols: usize, activation: Activation) -> BinaryWeights {
    BinaryWeights { matrix: BitMatrix::from_fn(rows, cols, |_, _| rng.gen()), activation }
}

#[test]
fn naive_reference_matches_hand_computed_dense() {
    // Input 1x2x2, pixels (10, 200, 200, 90) with threshold 100: bits 0 1 1 0 = (-1, +1, +1, -1).
    let model = hand_model(
        Shape::new(1, 2, 2),
        vec![
            Layer::QuantBinary { threshold: 100 },
            Layer::Dense(hand_weights(
                // P = 4 (all agree), P = 2 (positions 1, 2), P = 0 (none agree).
                &["0110", "1111", "1001"],
                Activation::Threshold(vec![4, 3, 0]),
            )),
            // Hidden bits: 4 >= 4 -> +1, 2 >= 3 -> -1, 0 >= 0 -> +1.
            Layer::Dense(hand_weights(&["101", "011", "010"], Activation::Scores)),
        ],
    );
    let pixels = [10u8, 200, 200, 90];
    let trace = naive_trace(&model, &pixels);
    assert_eq!(naive_bits(&trace[0]), vec![-1, 1, 1, -1]);
    assert_eq!(naive_bits(&trace[1]), vec![1, -1, 1]);
    // Scores against (+1, -1, +1): "101" agrees 3 times, "011" once (position 2), "010" never.
    let (scores, class) = naive_run(&model, &pixels);
    assert_eq!(scores, vec![3, 1, 0]);
    assert_eq!(class, 0);
    assert_agree(&model, &pixels);
}

#[test]
fn naive_reference_matches_hand_computed_fixed8() {
    let pixels = [130u8, 100, 255];
    let rows = ["110", "001", "111"];
    for (signed, want, want_class) in [
        // x = (2, -28, 127): 2 - 28 - 127, -2 + 28 + 127, 2 - 28 + 127.
        (true, vec![-153, 153, 101], 1),
        // x = (130, 100, 255): 130 + 100 - 255, -130 - 100 + 255, 130 + 100 + 255.
        (false, vec![-25, 25, 485], 2),
    ] {
        let model = hand_model(
            Shape::new(1, 1, 3),
            vec![
                Layer::QuantFixed8(Fixed8 { signed, frac_bits: 0 }),
                Layer::Dense(hand_weights(&rows, Activation::Scores)),
            ],
        );
        assert_eq!(naive_run(&model, &pixels), (want, want_class), "signed={signed}");
        assert_agree(&model, &pixels);
    }
}

/// BNN-PYNQ CNV's input quantizer (Brevitas): x = 2v/255 - 1, q = clip(round_half_even(128x),
/// -128, 127). Neither `v - 128` (127 gives -1, 128 gives 1: no pixel gives 0) nor injective (254
/// and 255 both give 127).
fn cnv_table() -> InputTable {
    let q =
        |v: u8| ((2.0 * f64::from(v) / 255.0 - 1.0) * 128.0).round_ties_even().clamp(-128.0, 127.0) as i32;
    InputTable::new((0..=255).map(q).collect()).expect("in -128..=127")
}

#[test]
fn naive_reference_matches_hand_computed_table() {
    let table = cnv_table();
    assert!(table.signed());
    let at = |p: &[u8]| p.iter().map(|&p| table.apply(p)).collect::<Vec<_>>();
    assert_eq!(at(&[0, 1, 127, 128, 254, 255]), vec![-128, -127, -1, 1, 127, 127]);
    let pixels = [0u8, 128, 255];
    let rows = ["110", "001", "111"];
    // x = (-128, 1, 127): -128 + 1 - 127, 128 - 1 + 127, -128 + 1 + 127.
    let model = hand_model(
        Shape::new(1, 1, 3),
        vec![Layer::QuantTable(table), Layer::Dense(hand_weights(&rows, Activation::Scores))],
    );
    assert_eq!(naive_run(&model, &pixels), (vec![-254, 254, 0], 1));
    assert_agree(&model, &pixels);
    // A non-monotone unsigned table: pixel p becomes (p * 37) mod 256.
    let table = InputTable::new((0..256).map(|p| p * 37 % 256).collect()).expect("in 0..=255");
    assert!(!table.signed());
    let model = hand_model(
        Shape::new(1, 1, 3),
        vec![Layer::QuantTable(table), Layer::Dense(hand_weights(&rows, Activation::Scores))],
    );
    // x = (0, 128 * 37 mod 256 = 128, 255 * 37 mod 256 = 219): 0 + 128 - 219, -128 + 219, 347.
    assert_eq!(naive_run(&model, &pixels), (vec![-91, 91, 347], 2));
    assert_agree(&model, &pixels);
}

#[test]
fn naive_reference_matches_hand_computed_conv() {
    // Input 2x2x1, pixels 255 0 / 0 255 with threshold 128: bits 1 0 / 0 1. Padding 1 with bit 1
    // gives the 4x4 grid
    //   1 1 1 1
    //   1 1 0 1
    //   1 0 1 1
    //   1 1 1 1
    // and a 2x2 kernel with stride 1 has 3x3 windows. Weight column j = ky * 2 + kx.
    let model = hand_model(
        Shape::new(2, 2, 1),
        vec![
            Layer::QuantBinary { threshold: 128 },
            Layer::Conv2d {
                kernel: 2,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: true },
                weights: hand_weights(
                    &["1111", "1111", "0100", "0010"],
                    Activation::Threshold(vec![4, 3, 2, 2]),
                ),
            },
            Layer::Dense(hand_weights(&[&"1".repeat(36), &"0".repeat(36)], Activation::Scores)),
        ],
    );
    let pixels = [255u8, 0, 0, 255];
    let trace = naive_trace(&model, &pixels);
    // All-ones weights: P = ones in the window = 4 3 3 / 3 2 3 / 3 3 4.
    let ch0 = [1, -1, -1, -1, -1, -1, -1, -1, 1]; // P >= 4
    let ch1 = [1, 1, 1, 1, -1, 1, 1, 1, 1]; // P >= 3
                                            // Only the top-right weight is +1: P = 1 2 2 / 2 1 2 / 0 2 1.
    let ch2 = [-1, 1, 1, 1, -1, 1, -1, 1, -1]; // P >= 2
                                               // Only the bottom-left weight is +1: P = 1 2 0 / 2 1 2 / 2 2 1.
    let ch3 = [-1, 1, -1, 1, -1, 1, 1, 1, -1]; // P >= 2
    let want: Vec<i32> = (0..9).flat_map(|p| [ch0[p], ch1[p], ch2[p], ch3[p]]).collect();
    assert_eq!(trace[1].shape(), Shape::new(3, 3, 4));
    assert_eq!(naive_bits(&trace[1]), want);
    // +1 bits: 2 + 8 + 5 + 5 = 20 of 36.
    assert_eq!(naive_run(&model, &pixels), (vec![20, 16], 0));
    assert_agree(&model, &pixels);

    // The same with padding bit 0: grid 0 0 0 0 / 0 1 0 0 / 0 0 1 0 / 0 0 0 0,
    // all-ones weights give P = 1 1 0 / 1 2 1 / 0 1 1.
    let model = hand_model(
        Shape::new(2, 2, 1),
        vec![
            Layer::QuantBinary { threshold: 128 },
            Layer::Conv2d {
                kernel: 2,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: false },
                weights: hand_weights(&["1111", "1111"], Activation::Threshold(vec![2, 1])),
            },
            Layer::MaxPool { kernel: 2, stride: 1 },
            Layer::Dense(hand_weights(&["11111111"], Activation::Scores)),
        ],
    );
    let trace = naive_trace(&model, &pixels);
    let want: Vec<i32> = [(-1, 1), (-1, 1), (-1, -1), (-1, 1), (1, 1), (-1, 1), (-1, -1), (-1, 1), (-1, 1)]
        .into_iter()
        .flat_map(|(a, b)| [a, b])
        .collect();
    assert_eq!(naive_bits(&trace[1]), want);
    // Every 2x2 window of the 3x3 output holds the centre (channel 0) and a +1 of channel 1.
    assert_eq!(naive_bits(&trace[2]), vec![1; 8]);
    assert_eq!(naive_run(&model, &pixels), (vec![8], 0));
    assert_agree(&model, &pixels);
}

#[test]
fn thresholds_at_the_extremes_give_constant_channels() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // Binary: a padded convolution (N = 2 * 2 * 3 = 12) and a dense layer (N = 3 * 3 * 4 = 36) with
    // thresholds 0 (always +1), N + 1 (always -1), N (all agree) and something in between.
    let conv_n = 12;
    let dense_n = 36;
    let model = hand_model(
        Shape::new(3, 3, 3),
        vec![
            Layer::QuantBinary { threshold: 128 },
            Layer::Conv2d {
                kernel: 2,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: true },
                weights: random_weights(
                    &mut rng,
                    4,
                    conv_n,
                    Activation::Threshold(vec![0, conv_n as i32 + 1, 12, 6]),
                ),
            },
            Layer::MaxPool { kernel: 2, stride: 1 },
            Layer::Dense(random_weights(
                &mut rng,
                4,
                dense_n,
                Activation::Threshold(vec![dense_n as i32 + 1, 0, dense_n as i32, 18]),
            )),
            Layer::Dense(random_weights(&mut rng, 5, 4, Activation::Scores)),
        ],
    );
    let frames = random_frames(&model, 40, 1);
    assert_agree(&model, &frames);
    for px in frames.chunks_exact(model.input.len()) {
        let trace = naive_trace(&model, px);
        let conv = naive_bits(&trace[1]);
        assert!(conv.chunks_exact(4).all(|c| c[0] == 1 && c[1] == -1), "constant conv channels");
        let dense = naive_bits(&trace[3]);
        assert_eq!((dense[0], dense[1]), (-1, 1), "constant dense channels");
    }

    // 8-bit: thresholds -max|x| * N (always +1) and max|x| * N + 1 (always -1), for both quantizers.
    for signed in [false, true] {
        let n = 2 * 2 * 2;
        let max_abs = if signed { 128 } else { 255 };
        let (lo, hi) = (-max_abs * n, max_abs * n);
        let model = hand_model(
            Shape::new(3, 3, 2),
            vec![
                Layer::QuantFixed8(Fixed8 { signed, frac_bits: 0 }),
                Layer::Conv2d {
                    kernel: 2,
                    stride: 1,
                    padding: Padding::None,
                    weights: random_weights(
                        &mut rng,
                        3,
                        n as usize,
                        Activation::Threshold(vec![lo, hi + 1, 0]),
                    ),
                },
                Layer::Dense(random_weights(&mut rng, 3, 12, Activation::Scores)),
            ],
        );
        let frames = random_frames(&model, 40, 2);
        assert_agree(&model, &frames);
        for px in frames.chunks_exact(model.input.len()) {
            let conv = naive_bits(&naive_trace(&model, px)[1]);
            assert!(
                conv.chunks_exact(3).all(|c| c[0] == 1 && c[1] == -1),
                "constant channels, signed={signed}"
            );
        }
    }
}

#[test]
fn accumulator_equal_to_threshold_gives_one() {
    // Weights equal to the input bits: P = N exactly; T = N gives +1, T = N + 1 gives -1.
    for n in [1usize, 63, 64, 65, 128, 129] {
        let pattern: String = (0..n).map(|j| if j % 3 == 0 { '1' } else { '0' }).collect();
        let pixels: Vec<u8> = pattern.bytes().map(|b| if b == b'1' { 255 } else { 0 }).collect();
        let model = hand_model(
            Shape::new(1, 1, n),
            vec![
                Layer::QuantBinary { threshold: 1 },
                Layer::Dense(hand_weights(
                    &[&pattern, &pattern],
                    Activation::Threshold(vec![n as i32, n as i32 + 1]),
                )),
                Layer::Dense(hand_weights(&["10", "01"], Activation::Scores)),
            ],
        );
        let trace = naive_trace(&model, &pixels);
        assert_eq!(naive_bits(&trace[1]), vec![1, -1], "n={n}");
        assert_eq!(naive_run(&model, &pixels), (vec![2, 0], 0), "n={n}");
        assert_agree(&model, &pixels);
    }
    // 8-bit: all pixels 255 and all weights +1 reach the top of the range exactly.
    let n = 5;
    let hi = 255 * n as i32;
    let model = hand_model(
        Shape::new(1, 1, n),
        vec![
            Layer::QuantFixed8(Fixed8 { signed: false, frac_bits: 0 }),
            Layer::Dense(hand_weights(&["11111", "11111"], Activation::Threshold(vec![hi, hi + 1]))),
            Layer::Dense(hand_weights(&["10", "01"], Activation::Scores)),
        ],
    );
    let pixels = [255u8; 5];
    assert_eq!(naive_bits(&naive_trace(&model, &pixels)[1]), vec![1, -1]);
    assert_agree(&model, &pixels);
}

#[test]
fn one_by_one_convolutions() {
    let input = Shape::new(5, 6, 3);
    for (i, specs) in [
        vec![
            LayerSpec::QuantBinary(100),
            LayerSpec::Conv2d { out: 70, kernel: 1, stride: 1, padding: Padding::None },
            LayerSpec::Conv2d { out: 65, kernel: 1, stride: 2, padding: Padding::None },
            LayerSpec::Conv2d { out: 64, kernel: 1, stride: 1, padding: Padding::None },
            LayerSpec::Dense(10),
        ],
        vec![
            LayerSpec::QuantFixed8(true),
            LayerSpec::Conv2d { out: 7, kernel: 1, stride: 2, padding: Padding::None },
            LayerSpec::MaxPool { kernel: 2, stride: 1 },
            LayerSpec::Dense(3),
        ],
        vec![
            LayerSpec::QuantFixed8(false),
            LayerSpec::Conv2d { out: 129, kernel: 1, stride: 1, padding: Padding::None },
            LayerSpec::Conv2d { out: 5, kernel: 1, stride: 1, padding: Padding::None },
            LayerSpec::Dense(4),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        for seed in 0..4 {
            let model = random_model("1x1", input, &specs, seed).expect("valid 1x1 model");
            let frames = random_frames(&model, 9, seed + 100 * i as u64);
            assert_agree(&model, &frames);
        }
    }
}

#[test]
fn padding_of_zero_pixels_is_no_padding() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for bit in [false, true] {
        let model = hand_model(
            Shape::new(4, 4, 2),
            vec![
                Layer::QuantBinary { threshold: 128 },
                Layer::Conv2d {
                    kernel: 3,
                    stride: 1,
                    padding: Padding::Bit { amount: 0, bit },
                    weights: random_weights(&mut rng, 3, 18, Activation::Threshold(vec![9, 8, 10])),
                },
                Layer::Dense(random_weights(&mut rng, 4, 12, Activation::Scores)),
            ],
        );
        assert_agree(&model, &random_frames(&model, 20, 4));
    }
}

#[test]
fn fan_in_around_word_boundaries() {
    for n in [63usize, 64, 65, 127, 128, 129] {
        let specs_dense =
            [LayerSpec::QuantBinary(128), LayerSpec::Dense(n), LayerSpec::Dense(n), LayerSpec::Dense(7)];
        let specs_conv = [
            LayerSpec::QuantBinary(128),
            LayerSpec::Conv2d {
                out: n,
                kernel: 1,
                stride: 1,
                padding: Padding::Bit { amount: 0, bit: true },
            },
            LayerSpec::Conv2d {
                out: 3,
                kernel: 2,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: true },
            },
            LayerSpec::Dense(5),
        ];
        for (input, specs) in [
            // Dense fan-in n from one pixel of n channels, and from n pixels of one channel.
            (Shape::new(1, 1, n), &specs_dense[..]),
            (Shape::new(n, 1, 1), &specs_dense[..]),
            // Convolution fan-in n (1x1 kernel), then 4n (2x2 kernel over n channels).
            (Shape::new(3, 3, n), &specs_conv[..]),
        ] {
            for seed in 0..3 {
                let model = random_model("fan-in", input, specs, seed).expect("valid model");
                assert_agree(&model, &random_frames(&model, 6, seed));
            }
        }
    }
    // Convolution fan-in exactly 64 (2x2x16, 4x4x4, 8x8x1), 65 (1x1x65) and 63 (3x3x7).
    for (input, kernel) in [
        (Shape::new(4, 4, 16), 2),
        (Shape::new(5, 5, 4), 4),
        (Shape::new(8, 8, 1), 8),
        (Shape::new(4, 4, 65), 1),
        (Shape::new(3, 3, 7), 3),
    ] {
        let specs = [
            LayerSpec::QuantBinary(128),
            LayerSpec::Conv2d { out: 9, kernel, stride: 1, padding: Padding::None },
            LayerSpec::Dense(6),
        ];
        for seed in 0..3 {
            let model = random_model("fan-in", input, &specs, seed).expect("valid model");
            assert_agree(&model, &random_frames(&model, 6, seed));
        }
    }
}

#[test]
fn argmax_ties_pick_the_lowest_index() {
    // Input bits 1 0 1 0. Rows 1 and 2 are identical and agree everywhere (score 4); row 0 agrees
    // twice, row 3 never.
    let pixels = [200u8, 0, 200, 0];
    let model = hand_model(
        Shape::new(1, 1, 4),
        vec![
            Layer::QuantBinary { threshold: 128 },
            Layer::Dense(hand_weights(&["0000", "1010", "1010", "0101"], Activation::Scores)),
        ],
    );
    assert_eq!(naive_run(&model, &pixels), (vec![2, 4, 4, 0], 1));
    assert_agree(&model, &pixels);

    // All rows identical: every frame is a four-way tie, class 0.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let row: String = (0..70).map(|_| if rng.gen() { '1' } else { '0' }).collect();
    let model = hand_model(
        Shape::new(2, 5, 7),
        vec![
            Layer::QuantBinary { threshold: 128 },
            Layer::Dense(hand_weights(&[&row, &row, &row, &row], Activation::Scores)),
        ],
    );
    let frames = random_frames(&model, 13, 5);
    assert_agree(&model, &frames);
    let golden = Golden::new(&model).expect("valid model");
    for p in golden.run_batch(&frames).expect("whole frames") {
        assert_eq!(p.class, 0);
    }

    // A tie between the last two of several rows after a hidden layer, on an 8-bit input: rows 2 and
    // 3 are copies of the best row, row 1 its complement (the lowest score).
    let pixels = [255u8, 0, 17, 240];
    let model = hand_model(
        Shape::new(2, 2, 1),
        vec![
            Layer::QuantFixed8(Fixed8 { signed: true, frac_bits: 0 }),
            Layer::Dense(hand_weights(&["1001", "0110", "1011", "1011"], Activation::Scores)),
        ],
    );
    // x = (127, -128, -111, 112): 127 + 128 + 111 + 112, its negation, 127 + 128 - 111 + 112 twice.
    assert_eq!(naive_run(&model, &pixels), (vec![478, -478, 256, 256], 0));
    let model = hand_model(
        Shape::new(2, 2, 1),
        vec![
            Layer::QuantFixed8(Fixed8 { signed: true, frac_bits: 0 }),
            Layer::Dense(hand_weights(&["0110", "1000", "1001", "1001"], Activation::Scores)),
        ],
    );
    // -478, 127 + 128 + 111 - 112 = 254, 478, 478.
    assert_eq!(naive_run(&model, &pixels), (vec![-478, 254, 478, 478], 2));
    assert_agree(&model, &pixels);
}

/// Every value of every integer input type, read by a layer under every kernel: an 8-bit input
/// (`quant.fixed8`, signed and unsigned) feeds a k-bit activation (k = 2..=8, signed and unsigned)
/// whose 70 channels step through the whole type as the pixel goes 0..=255, and a scores layer
/// reads them. A wrong bit-plane weight, a top plane of the wrong sign, or a wrong digit split or
/// bias in the table kernel changes a score (checked against the reference and against
/// hand-computed sums).
#[test]
fn every_value_of_every_input_type_is_read_exactly() {
    const C: usize = 70;
    let mut rng = ChaCha8Rng::seed_from_u64(27);
    let frames: Vec<u8> = (0..=255).collect();
    for signed_input in [false, true] {
        let (lo, hi) = if signed_input { (-128i64, 127) } else { (0, 255) };
        for bits in 2..=8u8 {
            for signed in [false, true] {
                let ty = IntType { bits, signed };
                let levels = (ty.max() - ty.min()) as usize;
                // Channel c's output: min + clamp(x - lo + shift_c, 0, levels), x the 8-bit input.
                let shift = |c: usize| (c * 37 % (levels + 1)) as i64;
                let mut thresholds = Vec::with_capacity(C * levels);
                for c in 0..C {
                    // Accumulator range of fan-in 1 is [-max|x|, max|x|]; thresholds at its ends
                    // are constant levels.
                    let (amin, amax) = (-hi.max(-lo), hi.max(-lo));
                    thresholds.extend(
                        (1..=levels as i64).map(|j| (lo + j - shift(c)).clamp(amin, amax + 1) as i32),
                    );
                }
                let multi = MultiThreshold { ty, bias: ty.min() as i32, levels, thresholds };
                let scores = random_weights(&mut rng, 3, C, Activation::Scores);
                let model = hand_model(
                    Shape::new(1, 1, 1),
                    vec![
                        Layer::QuantFixed8(Fixed8 { signed: signed_input, frac_bits: 0 }),
                        Layer::Dense(BinaryWeights {
                            matrix: BitMatrix::from_fn(C, 1, |_, _| true),
                            activation: Activation::Multi(multi),
                        }),
                        Layer::Dense(scores.clone()),
                    ],
                );
                let mut seen = std::collections::BTreeSet::new();
                for &p in &frames {
                    let x = i64::from(p) + if signed_input { -128 } else { 0 };
                    let v: Vec<i64> =
                        (0..C).map(|c| ty.min() + (x - lo + shift(c)).clamp(0, levels as i64)).collect();
                    seen.extend(v.iter().copied());
                    let want: Vec<i32> = (0..3)
                        .map(|r| {
                            (0..C).map(|c| if scores.matrix.get(r, c) { v[c] } else { -v[c] }).sum::<i64>()
                                as i32
                        })
                        .collect();
                    assert_eq!(naive_run(&model, &[p]).0, want, "{ty} after {lo}..={hi}, pixel {p}");
                }
                assert_eq!(seen.len() as i64, ty.max() - ty.min() + 1, "{ty}: every value occurs");
                if let Err(e) = compare(&model, &frames) {
                    panic!("{ty} after an 8-bit input {lo}..={hi}: {e}");
                }
            }
        }
    }
}

/// Multi-threshold activations whose accumulators do not fit 16 bits (8-bit inputs over a fan-in
/// of 200) next to ones that do (k-bit inputs over 64), each read by a further k-bit layer, on
/// batches of 1 to 11 frames.
#[test]
fn multi_thresholds_on_wide_and_narrow_accumulators() {
    for (seed, signed) in [(1u64, false), (2, true), (3, false)] {
        let ty = IntType { bits: 4, signed };
        let specs = [
            LayerSpec::QuantFixed8(signed),
            LayerSpec::DenseMulti { out: 64, ty },
            LayerSpec::DenseMulti { out: 37, ty: IntType { bits: 3, signed: !signed } },
            LayerSpec::Dense(5),
        ];
        let model = random_model("wide", Shape::new(10, 10, 2), &specs, seed).expect("valid model");
        for frames in [1, 4, 11] {
            assert_agree(&model, &random_frames(&model, frames, seed));
        }
    }
}
