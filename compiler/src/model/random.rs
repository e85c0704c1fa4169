//! Random models from a layer list and a seed: the workloads of tests, benchmarks and
//! hardware experiments that do not need trained weights.

use super::verify::infer_layer;
use super::{
    accumulator_range, Activation, BinaryWeights, BitMatrix, Elem, Fixed8, Layer, LayerId, Model, ModelError,
    OutputMode, Padding, Provenance, Shape, TensorType,
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
    /// Dense layer with this many outputs (the last one produces scores).
    Dense(usize),
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
                Elem::Int { max_abs } => (0, (max_abs as f64 * (n as f64).sqrt() / 2.0) as i64),
                _ => ((n / 2) as i64, ((n as f64).sqrt() as i64).max(1)),
            };
            rng.gen_range(mid - spread..=mid + spread).clamp(lo, hi + 1)
        }
    };
    t as i32
}

/// A model of `specs` on `input` with weights and thresholds drawn from `seed`. The last layer
/// (a dense layer) produces scores; every other dense or convolutional layer thresholds.
pub fn random_model(name: &str, input: Shape, specs: &[LayerSpec], seed: u64) -> Result<Model, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cur = TensorType { shape: input, elem: Elem::Pixels };
    let mut layers = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let is_last = i + 1 == specs.len();
        let mut weights = |out: usize, n: usize| {
            let matrix = BitMatrix::from_fn(out, n, |_, _| rng.gen());
            let activation = if is_last {
                Activation::Scores
            } else {
                Activation::Threshold((0..out).map(|_| draw_threshold(&mut rng, cur.elem, n)).collect())
            };
            BinaryWeights { matrix, activation }
        };
        let layer = match *spec {
            LayerSpec::QuantBinary(threshold) => Layer::QuantBinary { threshold },
            LayerSpec::QuantFixed8(signed) => Layer::QuantFixed8(Fixed8 { signed, frac_bits: 0 }),
            LayerSpec::Dense(out) => Layer::Dense(weights(out, cur.shape.len())),
            LayerSpec::Conv2d { out, kernel, stride, padding } => Layer::Conv2d {
                kernel,
                stride,
                padding,
                weights: weights(out, kernel.saturating_mul(kernel).saturating_mul(cur.shape.c)),
            },
            LayerSpec::MaxPool { kernel, stride } => Layer::MaxPool { kernel, stride },
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
