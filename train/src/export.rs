//! Export of a trained float network to the model IR: BatchNorm + sign become integer thresholds,
//! BatchNorm + a k-bit quantizer become FINN multi-thresholds, per-channel scales (XNOR-Net alpha,
//! IR-Net 2^s) fold away, gamma < 0 channels get inverted weights. A residual network's stem is a
//! `Conv2d` whose multi-threshold outputs the stream's signed type, each block a
//! `Layer::Residual` whose branch multi-threshold (same type) reads the accumulator of the
//! stream's sign.
//!
//! Rather than evaluating reference.md's closed form `T = ceil((N + (tau - c) / alpha) / 2)` in f64
//! (which can land one step off where the f32 network rounds differently), each threshold is found
//! by evaluating the inference path's own f32 arithmetic on every possible accumulator value (or by
//! bisection over an 8-bit layer's wide range): the channel's output is a monotone function of
//! the accumulator, so its switching points are the thresholds, exactly as the float network
//! computes them, ties at the quantizer's rounding boundaries included.

use crate::arch::InputKind;
use crate::fused::act_level;
use crate::method;
use crate::net::{stream_type, Net, NetLayer};
use candle_core::Tensor;
use compiler::model::{
    Activation, BinaryWeights, BitMatrix, Fixed8, IntType, Layer, Model, MultiThreshold, OutputMode, Padding,
    Provenance, Shortcut,
};

/// Why a network could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A tensor operation failed.
    #[error("tensor: {0}")]
    Tensor(candle_core::Error),
    /// A channel's output is not monotone in its accumulator, or leaves its type (a bug: BatchNorm
    /// followed by a sign or a clamped rounding always is monotone and in range).
    #[error("layer {layer} channel {channel}: output is not a monotone function of the accumulator within its type")]
    NotMonotone {
        /// Hidden layer index (1-based, as in the model IR).
        layer: usize,
        /// Channel.
        channel: usize,
    },
    /// A threshold does not fit the model IR's 32-bit thresholds (beyond the size limits).
    #[error("layer {layer} channel {channel}: threshold {threshold} does not fit 32 bits")]
    Range {
        /// Hidden layer index (1-based, as in the model IR).
        layer: usize,
        /// Channel.
        channel: usize,
        /// The threshold.
        threshold: i64,
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

/// The thresholds of a channel whose output is the integer `f(acc)` in `bias..=bias + levels`
/// for accumulators in `[lo, hi]`: `(invert, [t_1, ..., t_levels])`, ascending, such that
/// `f(acc) = bias + #{j : acc >= t_j}`, or, when `invert`, the same of the mirrored accumulator
/// `acc' = lo + hi - acc` (the inverted weights' accumulator). A threshold of `hi + 1` is never
/// reached, one of `lo` always is. `None` if `f` is not monotone or leaves its range.
pub fn fold_thresholds(
    lo: i64,
    hi: i64,
    bias: i64,
    levels: usize,
    f: impl Fn(i64) -> i64,
) -> Option<(bool, Vec<i64>)> {
    let invert = f(lo) > f(hi);
    let g = |a: i64| if invert { f(lo + hi - a) } else { f(a) };
    let top = bias + levels as i64;
    let in_range = |v: i64| (bias..=top).contains(&v);
    let targets = (1..=levels as i64).map(|j| bias + j);
    if hi - lo <= 1 << 16 {
        // Small ranges (binary and k-bit inputs): evaluate every value and check monotonicity.
        let values: Vec<i64> = (lo..=hi).map(g).collect();
        if !values.iter().all(|&v| in_range(v)) || values.windows(2).any(|w| w[0] > w[1]) {
            return None;
        }
        return Some((invert, targets.map(|v| lo + values.partition_point(|&x| x < v) as i64).collect()));
    }
    if !in_range(g(lo)) || !in_range(g(hi)) {
        return None;
    }
    let t = targets
        .map(|v| match (g(lo) >= v, g(hi) >= v) {
            (true, _) => lo,
            (false, false) => hi + 1,
            (false, true) => first_true(lo, hi, |a| g(a) >= v),
        })
        .collect();
    Some((invert, t))
}

/// The threshold of a channel whose bit is `f(acc)` for accumulators in `[lo, hi]`:
/// `(invert, T)` such that bit = `[acc >= T]`, or, when `invert`, bit = `[acc' >= T]` with the
/// mirrored accumulator `acc' = lo + hi - acc`; [`fold_thresholds`] with one level. `None` if the
/// bit is not monotone in the accumulator.
pub fn fold_threshold(lo: i64, hi: i64, f: impl Fn(i64) -> bool) -> Option<(bool, i64)> {
    fold_thresholds(lo, hi, 0, 1, |a| i64::from(f(a))).map(|(invert, t)| (invert, t[0]))
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

/// What a layer reads.
#[derive(Copy, Clone)]
enum Reads {
    /// +-1 bits: the accumulator is the popcount of XNOR.
    Bits,
    /// The 8-bit input quantizer's pixels (value `p / 256`).
    Pixels,
    /// k-bit activations' integer levels `q` with largest level `m` (value `q / m`).
    Levels(i32),
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
    let mut input = match net.arch.input {
        InputKind::Binary { .. } => Reads::Bits,
        InputKind::Fixed8 => Reads::Pixels,
    };
    let levels = net.arch.act_levels();
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
            NetLayer::Dense { w, bn } | NetLayer::Conv { w, bn, .. } | NetLayer::Residual { w, bn, .. } => {
                (w, bn)
            }
        };
        // A residual block reads the sign of the stream; the stem and the blocks output the
        // stream's type.
        let (reads, stream) = match layer {
            NetLayer::Residual { .. } => (Reads::Bits, true),
            NetLayer::Conv { stem, .. } => (input, *stem),
            _ => (input, false),
        };
        let out = w.dim(0)?;
        let flat = w.as_tensor().reshape((out, ()))?;
        let n = flat.dim(1)?;
        let (b, scale) = method::hard_weights(&flat, net.method, true)?;
        let mut rows = sign_rows(&b)?;
        if let NetLayer::Conv { .. } | NetLayer::Residual { .. } = layer {
            // candle orders a kernel (channel, ky, kx); the model IR (ky, kx, channel).
            rows = rows.into_iter().map(|r| (0..n).map(|j| r[(j % cin) * 9 + j / cin]).collect()).collect();
            cin = out;
        }
        let scale: Option<Vec<f32>> = scale.map(|s| s.flatten_all()?.to_vec1()).transpose()?;
        let bn = bn.scalar()?;
        let (lo, hi) = match reads {
            Reads::Bits => (0, n as i64),
            Reads::Pixels => (-255 * n as i64, 255 * n as i64),
            Reads::Levels(m) => (-i64::from(m) * n as i64, i64::from(m) * n as i64),
        };
        // One sign, or the k-bit levels -m..=m: FINN's bias -m and 2m thresholds.
        let (bias, count) = match levels {
            None => (0, 1),
            Some(m) => (-i64::from(m), 2 * m as usize),
        };
        let mut thresholds = Vec::with_capacity(out * count);
        for (o, row) in rows.iter_mut().enumerate() {
            // The inference path's pre-BatchNorm value for accumulator `acc`, in its f32 order.
            let y = |acc: i64| {
                let dot = match reads {
                    Reads::Bits => (2 * acc - n as i64) as f32,
                    Reads::Pixels => acc as f32 / 256.0,
                    Reads::Levels(m) => acc as f32 / m as f32,
                };
                match &scale {
                    Some(s) => dot * s[o],
                    None => dot,
                }
            };
            // The channel's output, as the inference path computes it.
            let output = |acc: i64| {
                let z = bn(o, y(acc));
                match levels {
                    None => i64::from(z >= 0.0),
                    Some(m) => act_level(z, m as f32) as i64,
                }
            };
            let layer = layers.len();
            let (invert, t) = fold_thresholds(lo, hi, bias, count, output)
                .ok_or(ExportError::NotMonotone { layer, channel: o })?;
            if invert {
                row.iter_mut().for_each(|b| *b = !*b);
            }
            for t in t {
                thresholds.push(i32::try_from(t).map_err(|_| ExportError::Range {
                    layer,
                    channel: o,
                    threshold: t,
                })?);
            }
        }
        let activation = match (net.arch.act_bits, levels) {
            (bits, Some(m)) => Activation::Multi(MultiThreshold {
                ty: if stream { stream_type(net.arch.res_bits) } else { IntType { bits, signed: true } },
                bias: -m,
                levels: count,
                thresholds,
            }),
            (_, None) => Activation::Threshold(thresholds),
        };
        let matrix = BitMatrix::from_fn(out, n, |r, c| rows[r][c]);
        let weights = BinaryWeights { matrix, activation };
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
            NetLayer::Residual { down, .. } => Layer::Residual {
                kernel: 3,
                stride: if *down { 2 } else { 1 },
                padding: Padding::Bit { amount: 1, bit: true },
                shortcut: if *down { Shortcut::PoolPad } else { Shortcut::Identity },
                weights,
            },
            _ => Layer::Dense(weights),
        });
        input = levels.map_or(Reads::Bits, Reads::Levels);
    }
    let model = Model { name: name.into(), input: net.input, layers, output: OutputMode::Argmax, provenance };
    model.verify()?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::{fold_threshold, fold_thresholds};

    #[test]
    fn multi_thresholds_of_rising_falling_constant_and_wide_staircases() {
        // Levels -1, 0, 1 (W1A2): -1 below 3, 0 from 3, 1 from 7.
        let stair = |a: i64| {
            if a >= 7 {
                1
            } else if a >= 3 {
                0
            } else {
                -1
            }
        };
        assert_eq!(fold_thresholds(0, 10, -1, 2, stair), Some((false, vec![3, 7])));
        // Falling: the mirrored accumulator a' = 10 - a sees the rising staircase.
        assert_eq!(fold_thresholds(0, 10, -1, 2, |a| stair(10 - a)), Some((true, vec![3, 7])));
        // Levels that are never reached (hi + 1) or always (lo); a skipped level shares a threshold.
        assert_eq!(fold_thresholds(0, 10, -3, 6, stair), Some((false, vec![0, 0, 3, 7, 11, 11])));
        assert_eq!(
            fold_thresholds(0, 10, -3, 6, |a| if a >= 5 { 2 } else { -2 }),
            Some((false, vec![0, 5, 5, 5, 5, 11]))
        );
        // Constant (gamma = 0): every threshold lo or hi + 1, never inverted.
        assert_eq!(fold_thresholds(-4, 4, -1, 2, |_| 0), Some((false, vec![-4, 5])));
        // Not monotone, or outside bias ..= bias + levels.
        assert_eq!(fold_thresholds(0, 10, -1, 2, |a| if a == 5 { 1 } else { 0 }), None);
        assert_eq!(fold_thresholds(0, 10, -1, 2, |a| a - 5), None);
        // Wide (8-bit) ranges bisect, rising and falling.
        let big = 255 * 784;
        let wide = |a: i64| (a / 1000).clamp(-3, 3);
        let rising = fold_thresholds(-big, big, -3, 6, wide);
        assert_eq!(rising, Some((false, vec![-2999, -1999, -999, 1000, 2000, 3000])));
        assert_eq!(fold_thresholds(-big, big, -3, 6, |a| wide(-a)), rising.map(|(_, t)| (true, t)));
    }

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
