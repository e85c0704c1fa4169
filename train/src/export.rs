//! Export of a trained float network to the model IR: BatchNorm + sign become integer thresholds,
//! per-channel scales (XNOR-Net alpha, IR-Net 2^s) fold away, gamma < 0 channels get inverted weights.
//!
//! Rather than evaluating reference.md's closed form `T = ceil((N + (tau - c) / alpha) / 2)` in f64
//! (which can land one step off where the f32 network rounds differently), each threshold is found
//! by evaluating the inference path's own f32 arithmetic on every possible accumulator value (or by
//! bisection over an 8-bit layer's wide range): the channel's output bit is a monotone function of
//! the accumulator, so its switching point is the threshold, exactly as the float network computes.

use crate::arch::InputKind;
use crate::method;
use crate::net::{Net, NetLayer};
use candle_core::Tensor;
use compiler::model::{
    Activation, BinaryWeights, BitMatrix, Fixed8, Layer, Model, OutputMode, Padding, Provenance,
};

/// Why a network could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A tensor operation failed.
    #[error("tensor: {0}")]
    Tensor(candle_core::Error),
    /// A channel's bit is not monotone in its accumulator (a bug: BatchNorm + sign always is).
    #[error("layer {layer} channel {channel}: output bit is not monotone in the accumulator")]
    NotMonotone {
        /// Hidden layer index (1-based, as in the model IR).
        layer: usize,
        /// Channel.
        channel: usize,
    },
    /// The exported model does not verify.
    #[error(transparent)]
    Model(#[from] compiler::model::ModelError),
}

// By hand rather than `#[from]`, which would also make candle's error the `source`, printed
// twice by error chains.
impl From<candle_core::Error> for ExportError {
    fn from(e: candle_core::Error) -> Self {
        ExportError::Tensor(e)
    }
}

/// The threshold of a channel whose bit is `f(acc)` for accumulators in `[lo, hi]`:
/// `(invert, T)` such that bit = `[acc >= T]`, or, when `invert`, bit = `[acc' >= T]` with the
/// mirrored accumulator `acc' = lo + hi - acc` (the inverted weights' accumulator). `None` if the
/// bit is not monotone in the accumulator.
pub fn fold_threshold(lo: i64, hi: i64, f: impl Fn(i64) -> bool) -> Option<(bool, i64)> {
    let (a, b) = (f(lo), f(hi));
    if hi - lo <= 1 << 16 {
        // Small ranges (binary layers): evaluate every value and check monotonicity.
        let bits: Vec<bool> = (lo..=hi).map(&f).collect();
        let rising = bits.windows(2).all(|w| w[0] <= w[1]);
        let falling = bits.windows(2).all(|w| w[0] >= w[1]);
        return match (a, b) {
            (false, false) if rising => Some((false, hi + 1)),
            (true, true) if rising => Some((false, lo)),
            (false, true) if rising => Some((false, lo + bits.iter().position(|&x| x).unwrap_or(0) as i64)),
            (true, false) if falling => {
                let amax = lo + bits.iter().rposition(|&x| x).unwrap_or(0) as i64;
                Some((true, lo + hi - amax))
            }
            _ => None,
        };
    }
    match (a, b) {
        (false, false) => Some((false, hi + 1)),
        (true, true) => Some((false, lo)),
        (false, true) => Some((false, first_true(lo, hi, &f))),
        (true, false) => Some((true, lo + hi - (first_true(lo, hi, |a| !f(a)) - 1))),
    }
}

/// The smallest `a` in `(lo, hi]` with `p(a)`, by bisection, given `!p(lo)`, `p(hi)` and `p` monotone.
fn first_true(lo: i64, hi: i64, p: impl Fn(i64) -> bool) -> i64 {
    let (mut l, mut h) = (lo, hi);
    while h - l > 1 {
        let m = l + (h - l) / 2;
        if p(m) {
            h = m
        } else {
            l = m
        }
    }
    h
}

/// Per-row bits of `[out, n]` +-1 weights.
fn sign_rows(b: &Tensor) -> candle_core::Result<Vec<Vec<bool>>> {
    Ok(b.to_vec2::<f32>()?.into_iter().map(|r| r.into_iter().map(|v| v > 0.0).collect()).collect())
}

/// Exports `net` (trained) as a model named `name` with `provenance`.
pub fn export(net: &Net, name: &str, provenance: Provenance) -> Result<Model, ExportError> {
    let mut layers = vec![match net.arch.input {
        InputKind::Binary { threshold } => Layer::QuantBinary { threshold },
        InputKind::Fixed8 => Layer::QuantFixed8(Fixed8 { signed: false, frac_bits: 8 }),
    }];
    let mut int_input = matches!(net.arch.input, InputKind::Fixed8);
    let mut cin = net.input.c;
    for layer in &net.layers {
        let (w, bn) = match layer {
            NetLayer::Pool => {
                layers.push(Layer::MaxPool { kernel: 2, stride: 2 });
                continue;
            }
            NetLayer::Head { w, .. } => {
                let (b, _) = method::hard_weights(w.as_tensor(), net.head_method, false)?;
                let rows = sign_rows(&b)?;
                let matrix = BitMatrix::from_fn(rows.len(), rows[0].len(), |r, c| rows[r][c]);
                layers.push(Layer::Dense(BinaryWeights { matrix, activation: Activation::Scores }));
                continue;
            }
            NetLayer::Dense { w, bn } | NetLayer::Conv { w, bn, .. } => (w, bn),
        };
        let out = w.dim(0)?;
        let flat = w.as_tensor().reshape((out, ()))?;
        let n = flat.dim(1)?;
        let (b, scale) = method::hard_weights(&flat, net.method, true)?;
        let mut rows = sign_rows(&b)?;
        if let NetLayer::Conv { .. } = layer {
            // candle orders a kernel (channel, ky, kx); the model IR (ky, kx, channel).
            rows = rows.into_iter().map(|r| (0..n).map(|j| r[(j % cin) * 9 + j / cin]).collect()).collect();
            cin = out;
        }
        let scale: Option<Vec<f32>> = scale.map(|s| s.flatten_all()?.to_vec1()).transpose()?;
        let bn = bn.scalar()?;
        let (lo, hi) = if int_input { (-255 * n as i64, 255 * n as i64) } else { (0, n as i64) };
        let mut thresholds = Vec::with_capacity(out);
        for (o, row) in rows.iter_mut().enumerate() {
            // The inference path's pre-BatchNorm value for accumulator `acc`, in its f32 order.
            let y = |acc: i64| {
                let dot = if int_input { acc as f32 / 256.0 } else { (2 * acc - n as i64) as f32 };
                match &scale {
                    Some(s) => dot * s[o],
                    None => dot,
                }
            };
            let (invert, t) = fold_threshold(lo, hi, |acc| bn(o, y(acc)) >= 0.0)
                .ok_or(ExportError::NotMonotone { layer: layers.len(), channel: o })?;
            if invert {
                row.iter_mut().for_each(|b| *b = !*b);
            }
            thresholds.push(t as i32);
        }
        let matrix = BitMatrix::from_fn(out, n, |r, c| rows[r][c]);
        let weights = BinaryWeights { matrix, activation: Activation::Threshold(thresholds) };
        layers.push(match layer {
            NetLayer::Conv { pad, .. } => Layer::Conv2d {
                kernel: 3,
                stride: 1,
                padding: match pad {
                    Some(bit) => Padding::Bit { amount: 1, bit: *bit },
                    None => Padding::None,
                },
                weights,
            },
            _ => Layer::Dense(weights),
        });
        int_input = false;
    }
    let model = Model { name: name.into(), input: net.input, layers, output: OutputMode::Argmax, provenance };
    model.verify()?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::fold_threshold;

    #[test]
    fn thresholds_of_rising_falling_and_constant_bits() {
        assert_eq!(fold_threshold(0, 10, |a| a >= 4), Some((false, 4)));
        assert_eq!(fold_threshold(0, 10, |_| true), Some((false, 0)));
        assert_eq!(fold_threshold(0, 10, |_| false), Some((false, 11)));
        // bit = [acc <= 6] = [10 - acc >= 4].
        assert_eq!(fold_threshold(0, 10, |a| a <= 6), Some((true, 4)));
        assert_eq!(fold_threshold(0, 10, |a| a % 2 == 0), None);
        // Wide (8-bit) ranges bisect: [acc >= -1234]; [acc <= 999] = [-acc >= -999].
        let big = 255 * 784;
        assert_eq!(fold_threshold(-big, big, |a| a >= -1234), Some((false, -1234)));
        assert_eq!(fold_threshold(-big, big, |a| a <= 999), Some((true, -999)));
    }
}
