//! Random models from a layer list and a seed: the workloads of tests, benchmarks and
//! hardware experiments that do not need trained weights.

use super::verify::infer_layer;
use super::{
    accumulator_range, Activation, BinaryWeights, BitMatrix, Elem, Fixed8, InputTable, IntType, Layer,
    LayerId, Model, ModelError, MultiThreshold, OutputMode, Padding, Provenance, Shape, Shortcut, TensorType,
    INPUT_TABLE_LEN,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One layer of a random model; weights and thresholds are drawn by [`random_model`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    /// Binary input quantizer with this pixel threshold.
    QuantBinary(u8),
    /// 8-bit input; `true` for signed.
    QuantFixed8(bool),
    /// Input table of random values (not monotone, not injective); `true` for signed
    /// (`-128..=127`, with at least one negative value), else `0..=255`.
    QuantTable(bool),
    /// Dense layer with this many outputs (the last one produces scores).
    Dense(usize),
    /// Dense layer with this many outputs and a k-bit activation of type `ty` (see
    /// [`random_multi`] for its bias and levels).
    DenseMulti {
        /// Outputs.
        out: usize,
        /// Activation type.
        ty: IntType,
    },
    /// Convolution with a k-bit activation of type `ty`.
    Conv2dMulti {
        /// Output channels.
        out: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding (a bit: only for a binary input).
        padding: Padding,
        /// Activation type.
        ty: IntType,
    },
    /// Convolution.
    Conv2d {
        /// Output channels.
        out: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        padding: Padding,
    },
    /// A residual block over the signed integer stream before it (see [`Layer::Residual`]): stride
    /// 1 with an identity shortcut (then `out` must equal the input channels), or stride 2 with a
    /// pool-and-pad shortcut; padding `(kernel - 1) / 2` of `pad_bit`.
    Residual {
        /// Output channels.
        out: usize,
        /// Kernel size (odd).
        kernel: usize,
        /// 1 or 2.
        stride: usize,
        /// The padding fill.
        pad_bit: bool,
    },
    /// Binary max-pool.
    MaxPool {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
}

/// Draws a threshold for accumulators in `[lo, hi]`: mostly near the middle of the likely range so
/// that output bits are mixed, sometimes at the extremes (constant channels) to cover the edges.
fn draw_threshold(rng: &mut ChaCha8Rng, input: Elem, n: usize) -> i32 {
    let (lo, hi) = accumulator_range(input, n);
    let t = match rng.gen_range(0..20) {
        0 => lo,
        1 => hi + 1,
        2 => rng.gen_range(lo..=hi + 1),
        _ => {
            let (mid, spread) = match input {
                // Random +-x sums have mean 0 and a spread of about max|x| * sqrt(n) / 2.
                Elem::Int { max_abs, .. } => (0, (max_abs as f64 * (n as f64).sqrt() / 2.0) as i64),
                _ => ((n / 2) as i64, ((n as f64).sqrt() as i64).max(1)),
            };
            rng.gen_range(mid - spread..=mid + spread).clamp(lo, hi + 1)
        }
    };
    t as i32
}

/// A random multi-threshold of type `ty` for `out` channels of fan-in `n` reading `input`. The
/// bias and levels cover the forms met in practice: the whole type (`bias = min`, `2^k - 1`
/// levels), BNN-PYNQ's signed {-1, 0, +1} (`bias = -1`, 2 levels) and a random sub-range.
pub fn random_multi(rng: &mut ChaCha8Rng, ty: IntType, out: usize, input: Elem, n: usize) -> MultiThreshold {
    let (min, max) = (ty.min(), ty.max());
    let (bias, levels) = match rng.gen_range(0..4) {
        0 | 1 => (min, (max - min) as usize),
        2 if ty.signed => (-1, 2),
        _ => {
            let bias = rng.gen_range(min..max);
            (bias, rng.gen_range(1..=(max - bias) as usize))
        }
    };
    let mut thresholds = Vec::with_capacity(out * levels);
    for _ in 0..out {
        let mut t: Vec<i32> = (0..levels).map(|_| draw_threshold(rng, input, n)).collect();
        t.sort_unstable();
        thresholds.extend(t);
    }
    MultiThreshold { ty, bias: bias as i32, levels, thresholds }
}

/// A random input table: uniform values, so not monotone and (256 draws from at most 256 values)
/// almost surely not injective. A signed table has a negative value at a random pixel, so that
/// [`InputTable::signed`] holds whatever the draws.
fn random_table(rng: &mut ChaCha8Rng, signed: bool) -> Result<InputTable, ModelError> {
    let mut values: Vec<i32> = (0..INPUT_TABLE_LEN)
        .map(|_| if signed { rng.gen_range(-128..=127) } else { rng.gen_range(0..=255) })
        .collect();
    if signed {
        let at = rng.gen_range(0..INPUT_TABLE_LEN);
        values[at] = rng.gen_range(-128..0);
    }
    InputTable::new(values).map_err(ModelError::Model)
}

/// A model of `specs` on `input` with weights and thresholds drawn from `seed`. The last layer
/// (a dense layer) produces scores; every other dense or convolutional layer thresholds.
pub fn random_model(name: &str, input: Shape, specs: &[LayerSpec], seed: u64) -> Result<Model, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cur = TensorType { shape: input, elem: Elem::Pixels };
    let mut layers = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let is_last = i + 1 == specs.len();
        let weights = |rng: &mut ChaCha8Rng, out: usize, n: usize, ty: Option<IntType>| {
            let matrix = BitMatrix::from_fn(out, n, |_, _| rng.gen());
            let activation = match ty {
                _ if is_last => Activation::Scores,
                Some(ty) => Activation::Multi(random_multi(rng, ty, out, cur.elem, n)),
                None => Activation::Threshold((0..out).map(|_| draw_threshold(rng, cur.elem, n)).collect()),
            };
            BinaryWeights { matrix, activation }
        };
        let fan_in = |kernel: usize| kernel.saturating_mul(kernel).saturating_mul(cur.shape.c);
        let layer = match *spec {
            LayerSpec::QuantBinary(threshold) => Layer::QuantBinary { threshold },
            LayerSpec::QuantFixed8(signed) => Layer::QuantFixed8(Fixed8 { signed, frac_bits: 0 }),
            LayerSpec::QuantTable(signed) => Layer::QuantTable(random_table(&mut rng, signed)?),
            LayerSpec::Dense(out) => Layer::Dense(weights(&mut rng, out, cur.shape.len(), None)),
            LayerSpec::DenseMulti { out, ty } => {
                Layer::Dense(weights(&mut rng, out, cur.shape.len(), Some(ty)))
            }
            LayerSpec::Conv2d { out, kernel, stride, padding } => Layer::Conv2d {
                kernel,
                stride,
                padding,
                weights: weights(&mut rng, out, fan_in(kernel), None),
            },
            LayerSpec::Conv2dMulti { out, kernel, stride, padding, ty } => Layer::Conv2d {
                kernel,
                stride,
                padding,
                weights: weights(&mut rng, out, fan_in(kernel), Some(ty)),
            },
            LayerSpec::MaxPool { kernel, stride } => Layer::MaxPool { kernel, stride },
            LayerSpec::Residual { out, kernel, stride, pad_bit } => {
                let Elem::Int { ty, .. } = cur.elem else {
                    return Err(ModelError::Model(format!(
                        "random model: a residual block needs an integer input, layer {i} gets {}",
                        cur.elem
                    )));
                };
                let n = fan_in(kernel);
                let matrix = BitMatrix::from_fn(out, n, |_, _| rng.gen());
                let multi = random_multi(&mut rng, ty, out, Elem::Bits, n);
                Layer::Residual {
                    kernel,
                    stride,
                    padding: Padding::Bit { amount: kernel.saturating_sub(1) / 2, bit: pad_bit },
                    shortcut: if stride == 1 { Shortcut::Identity } else { Shortcut::PoolPad },
                    weights: BinaryWeights { matrix, activation: Activation::Multi(multi) },
                }
            }
        };
        cur = infer_layer(LayerId(i as u32), &layer, cur, is_last)?;
        layers.push(layer);
    }
    let model = Model {
        name: name.into(),
        input,
        layers,
        output: OutputMode::Argmax,
        provenance: Provenance { method: Some("random".into()), seed: Some(seed), ..Provenance::default() },
    };
    model.verify()?;
    Ok(model)
}

/// A fully connected network: binary input quantizer, `hidden` thresholded layers, `classes` scores.
pub fn random_mlp(input: Shape, hidden: &[usize], classes: usize, seed: u64) -> Result<Model, ModelError> {
    let mut specs = vec![LayerSpec::QuantBinary(128)];
    specs.extend(hidden.iter().map(|&h| LayerSpec::Dense(h)));
    specs.push(LayerSpec::Dense(classes));
    let name = format!("mlp-{}", hidden.iter().map(usize::to_string).collect::<Vec<_>>().join("-"));
    random_model(&name, input, &specs, seed)
}

/// A random small residual network from `seed`, for tests: a binary or signed 8-bit quantizer, a
/// signed `k`-bit 3x3 stem (k = 2..=8), `blocks` residual blocks (kernel 1 or 3; stride 2 with a
/// pool-and-pad shortcut, 0, 2 or as many more channels, when the side is even, else stride 1),
/// an optional integer max-pool and dense scores, on an input of side 4, 6 or up to `max_side`.
pub fn random_resnet(seed: u64, blocks: usize, max_side: usize) -> Result<Model, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5e5);
    let ty = IntType { bits: rng.gen_range(2..=8), signed: true };
    let fixed8: bool = rng.gen();
    let sides: Vec<usize> = [4, 6, 8].into_iter().filter(|&s| s <= max_side.max(4)).collect();
    let side = sides[rng.gen_range(0..sides.len())];
    let mut ch = [2, 4][rng.gen_range(0..2)];
    let pad = if fixed8 { Padding::None } else { Padding::Bit { amount: 1, bit: rng.gen() } };
    let mut specs = vec![
        if fixed8 { LayerSpec::QuantFixed8(true) } else { LayerSpec::QuantBinary(100) },
        LayerSpec::Conv2dMulti { out: ch, kernel: 3, stride: 1, padding: pad, ty },
    ];
    let mut h = if fixed8 { side - 2 } else { side };
    for _ in 0..blocks {
        let down = rng.gen::<bool>() && h % 2 == 0;
        let (stride, out) = if down { (2, ch + [0, 2, ch][rng.gen_range(0..3)]) } else { (1, ch) };
        specs.push(LayerSpec::Residual {
            out,
            kernel: [1, 3][rng.gen_range(0..2)],
            stride,
            pad_bit: rng.gen(),
        });
        ch = out;
        h /= stride;
    }
    if rng.gen::<bool>() && h >= 2 {
        specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
    }
    specs.push(LayerSpec::Dense(rng.gen_range(2..=3)));
    let mut m = random_model("res", Shape::new(side, side, rng.gen_range(1..=2)), &specs, seed)?;
    m.output = OutputMode::Argmax;
    Ok(m)
}
