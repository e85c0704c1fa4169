//! The model IR: what a binarized network computes.
//!
//! A [`Model`] is an input shape (u8 pixels, height x width x channels, channel fastest) and a
//! sequence of [`Layer`]s addressed by typed [`LayerId`]s. Layer 0 is an input quantizer; the last
//! layer is a binary dense layer producing integer scores. Semantics (design.md):
//! bit 1 is +1 and bit 0 is -1; a binary layer's accumulator is `P = popcount(xnor(x, w))` over its
//! fan-in `N`; a thresholded output bit is `[acc >= T]`. A layer whose input is integers (the 8-bit
//! input quantizers, or a k-bit [`MultiThreshold`] activation) uses the integer dot product
//! `sum(w ? x : -x)` as its accumulator instead. Scores are the accumulators of the last layer;
//! argmax picks the lowest index among equal maxima.
//!
//! Tensors are laid out height, width, channel (channel fastest). A dense layer reads its input in
//! that order (an implicit flatten). A convolution's fan-in order is kernel row, kernel column,
//! channel fastest, the im2col order of the sliding-window unit.

mod bits;
pub mod limits;
pub mod random;
mod text;
mod verify;

pub use bits::{tail_mask, BitMatrix};
pub use limits::{MAX_MATRIX_BITS, MAX_TENSOR_ELEMS};
pub use text::ParseError;
pub use verify::{accumulator_range, Elem, ModelError, TensorType};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Typed index of a layer in [`Model::layers`]. Printed as `L3`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LayerId(pub u32);

impl LayerId {
    /// Position in [`Model::layers`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// A height x width x channels shape. Printed as `28x28x1`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels (fastest-varying in memory and on streams).
    pub c: usize,
}

impl Shape {
    /// A shape from its three extents.
    pub const fn new(h: usize, w: usize, c: usize) -> Self {
        Shape { h, w, c }
    }

    /// `h * w * c`, or `None` on overflow.
    pub fn checked_len(&self) -> Option<usize> {
        self.h.checked_mul(self.w)?.checked_mul(self.c)
    }

    /// `h * w * c`. Shapes of a verified model never overflow.
    pub fn len(&self) -> usize {
        self.checked_len().unwrap_or(usize::MAX)
    }

    /// True when any extent is zero.
    pub fn is_empty(&self) -> bool {
        self.h == 0 || self.w == 0 || self.c == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

/// Padding of a binary convolution. A binary tensor has no zero, so padding is a bit value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding ("valid" convolution).
    None,
    /// `amount` pixels on every side filled with `bit` (false = -1, true = +1).
    Bit {
        /// Pixels added on each of the four sides.
        amount: usize,
        /// The fill value.
        bit: bool,
    },
}

impl Padding {
    /// Pixels added on each side.
    pub fn amount(&self) -> usize {
        match self {
            Padding::None => 0,
            Padding::Bit { amount, .. } => *amount,
        }
    }
}

/// The integer type of a k-bit activation: `bits` wide, two's complement when `signed`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntType {
    /// Width in bits, [`MIN_ACT_BITS`]`..=`[`MAX_ACT_BITS`] for an activation.
    pub bits: u8,
    /// Two's complement (else unsigned).
    pub signed: bool,
}

/// Narrowest multi-bit activation.
pub const MIN_ACT_BITS: u8 = 2;
/// Widest multi-bit activation.
pub const MAX_ACT_BITS: u8 = 8;

impl IntType {
    /// Smallest value of the type.
    pub fn min(self) -> i64 {
        if self.signed {
            -(1i64 << (self.bits - 1))
        } else {
            0
        }
    }

    /// Largest value of the type.
    pub fn max(self) -> i64 {
        if self.signed {
            (1i64 << (self.bits - 1)) - 1
        } else {
            (1i64 << self.bits) - 1
        }
    }
}

impl fmt::Display for IntType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.signed { "int" } else { "uint" }, self.bits)
    }
}

/// FINN's MultiThreshold on a layer's accumulators: channel `c` outputs the integer
/// `bias + #{j : acc >= t[c][j]}`, where each channel's `levels` thresholds ascend.
///
/// The integer is what the hardware streams, in `ty` (k bits). A real-valued model's activation is
/// `scale * out` for a positive per-layer `scale`; the scale is not stored: the next layer's
/// thresholds (or the argmax over the last layer's scores) absorb it, since a positive factor never
/// changes a comparison. BNN-PYNQ's W1A2 activation is `int2` with `bias = -1` and two
/// thresholds, so it takes only {-1, 0, +1}.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MultiThreshold {
    /// The output type.
    pub ty: IntType,
    /// Output of a channel whose accumulator is below all its thresholds.
    pub bias: i32,
    /// Thresholds per channel, at least 1 and at most `2^bits - 1`.
    pub levels: usize,
    /// `out * levels` thresholds, channel-major, ascending within a channel.
    pub thresholds: Vec<i32>,
}

impl MultiThreshold {
    /// Channel `c`'s thresholds.
    pub fn channel(&self, c: usize) -> &[i32] {
        &self.thresholds[c * self.levels..(c + 1) * self.levels]
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.thresholds.len() / self.levels.max(1)
    }

    /// The value channel `c` outputs for accumulator `acc`.
    pub fn apply(&self, c: usize, acc: i64) -> i32 {
        self.bias + self.channel(c).iter().filter(|&&t| acc >= i64::from(t)).count() as i32
    }

    /// Largest `|out|` the layer can produce, at least 1 (see [`InputTable::max_abs`]).
    pub fn max_abs(&self) -> i64 {
        let lo = i64::from(self.bias);
        lo.abs().max((lo + self.levels as i64).abs()).max(1)
    }
}

/// What a binary layer does with its accumulators.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// One integer threshold per output channel: bit = `[acc >= T]`.
    Threshold(Vec<i32>),
    /// A k-bit integer per output channel from several thresholds.
    Multi(MultiThreshold),
    /// The accumulators leave as integer scores (last layer only).
    Scores,
}

impl Activation {
    /// The per-channel thresholds of a binary (1-bit) activation; `None` for scores and for a
    /// multi-bit activation (see [`Activation::multi`]).
    pub fn thresholds(&self) -> Option<&[i32]> {
        match self {
            Activation::Threshold(t) => Some(t),
            Activation::Multi(_) | Activation::Scores => None,
        }
    }

    /// The multi-threshold of a k-bit activation.
    pub fn multi(&self) -> Option<&MultiThreshold> {
        match self {
            Activation::Multi(m) => Some(m),
            _ => None,
        }
    }

    /// Short name, as in the text form: `threshold`, `multi` or `scores`.
    pub fn kind(&self) -> &'static str {
        match self {
            Activation::Threshold(_) => "threshold",
            Activation::Multi(_) => "multi",
            Activation::Scores => "scores",
        }
    }
}

/// Binary weights of a dense or convolutional layer and what follows the accumulation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BinaryWeights {
    /// `out x fan_in` bits, one row per output channel (1 = +1).
    pub matrix: BitMatrix,
    /// Thresholds or scores.
    pub activation: Activation,
}

impl BinaryWeights {
    /// Output channels.
    pub fn out(&self) -> usize {
        self.matrix.rows()
    }

    /// Fan-in (matrix columns).
    pub fn fan_in(&self) -> usize {
        self.matrix.cols()
    }
}

/// How 8-bit pixels become the integers a first layer multiplies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fixed8 {
    /// False: x = pixel (0..=255). True: x = pixel - 128 (-128..=127).
    pub signed: bool,
    /// The real value is x / 2^frac_bits; hardware computes on x, thresholds absorb the scale.
    pub frac_bits: u8,
}

impl Fixed8 {
    /// The integer a pixel becomes.
    pub fn apply(&self, pixel: u8) -> i32 {
        if self.signed {
            i32::from(pixel) - 128
        } else {
            i32::from(pixel)
        }
    }

    /// Largest |x|.
    pub fn max_abs(&self) -> i64 {
        if self.signed {
            128
        } else {
            255
        }
    }
}

/// Entries of an [`InputTable`]: one per pixel byte.
pub const INPUT_TABLE_LEN: usize = 256;

/// A 256-entry table from pixel byte to the 8-bit integer the first layer multiplies.
///
/// Any function of the pixel byte is exact as such a table (design.md), so this is the input
/// quantizer of imported models whose quantizer is neither a threshold nor `pixel - 128` (QONNX /
/// Brevitas: `clip(round(scale * (2v/255 - 1)))`, which need not be monotone or injective). Every
/// value fits one byte of the accelerator's input stream: all in `-128..=127` (two's complement) or
/// all in `0..=255`, checked by [`InputTable::new`], the only constructor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InputTable {
    /// `values[pixel]`; `i16` holds both the signed and the unsigned byte range.
    values: Vec<i16>,
}

impl InputTable {
    /// A table from its 256 values, `values[pixel]`. Errors (a message) unless there are exactly
    /// 256 values, all in `-128..=127` or all in `0..=255`: the hardware reads each as one byte.
    pub fn new(values: Vec<i32>) -> Result<Self, String> {
        if values.len() != INPUT_TABLE_LEN {
            return Err(format!(
                "an input table has {INPUT_TABLE_LEN} values (one per pixel byte), found {}",
                values.len()
            ));
        }
        let (lo, hi) = values.iter().fold((i32::MAX, i32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let fits = ((-128..=127).contains(&lo) && hi <= 127) || ((0..=255).contains(&lo) && hi <= 255);
        if !fits {
            let at = |x: i32| values.iter().position(|&v| v == x).unwrap_or(0);
            return Err(format!(
                "input table values must all be in -128..=127 (signed) or all in 0..=255 (unsigned) \
                 to fit one byte, found {lo} (pixel {}) and {hi} (pixel {})",
                at(lo),
                at(hi)
            ));
        }
        // In range, so the conversions are lossless.
        Ok(InputTable { values: values.into_iter().map(|v| v as i16).collect() })
    }

    /// The integer pixel `pixel` becomes.
    pub fn apply(&self, pixel: u8) -> i32 {
        i32::from(self.values[usize::from(pixel)])
    }

    /// True when a value is negative: the hardware then reads the stream as two's complement
    /// `i8`, else as unsigned bytes.
    pub fn signed(&self) -> bool {
        self.values.iter().any(|&v| v < 0)
    }

    /// Largest `|value|`, but at least 1. The verifier bounds accumulators and thresholds with it;
    /// an all-zero table would give the degenerate range `[0, 0]`, and 1 keeps every width and
    /// threshold range non-empty while staying inside what the hardware lanes (sized for any
    /// byte, `LaneInput::lane_range`) can hold.
    pub fn max_abs(&self) -> i64 {
        self.values.iter().map(|&v| i64::from(v).abs()).max().unwrap_or(0).max(1)
    }

    /// The 256 values, `values()[pixel]`.
    pub fn values(&self) -> Vec<i32> {
        self.values.iter().map(|&v| i32::from(v)).collect()
    }

    /// True when the values never decrease with the pixel (a monotone quantizer).
    pub fn is_monotone(&self) -> bool {
        self.values.windows(2).all(|w| w[0] <= w[1])
    }

    /// Smallest and largest value.
    pub fn range(&self) -> (i32, i32) {
        let lo = self.values.iter().copied().min().unwrap_or(0);
        let hi = self.values.iter().copied().max().unwrap_or(0);
        (i32::from(lo), i32::from(hi))
    }
}

/// What a residual block adds its branch to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shortcut {
    /// The block's input itself: a stride-1 block with as many output channels as input channels.
    Identity,
    /// A stride-2 block's downsampled input: the largest value of each 2x2 window (stride 2),
    /// then zero channels appended up to the branch's channel count (IR-Net's ResNet "option A",
    /// with a max-pool for its subsampling, which the hardware already has).
    PoolPad,
}

impl Shortcut {
    /// Name in the text form and the file format.
    pub fn name(self) -> &'static str {
        match self {
            Shortcut::Identity => "identity",
            Shortcut::PoolPad => "pool_pad",
        }
    }
}

/// Saturates `v` to `ty`'s range: the residual add's rule.
pub fn saturate(ty: IntType, v: i64) -> i64 {
    v.clamp(ty.min(), ty.max())
}

/// One layer of a [`Model`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Binary input quantizer: bit = `[pixel >= threshold]`.
    QuantBinary {
        /// Pixel threshold.
        threshold: u8,
    },
    /// 8-bit fixed-point input: the next layer multiplies integers with binary weights.
    QuantFixed8(Fixed8),
    /// Input quantizer by table: pixel `p` becomes `table.apply(p)`, an 8-bit integer the next
    /// layer multiplies with binary weights (as after [`Layer::QuantFixed8`]).
    QuantTable(InputTable),
    /// Binary fully connected layer over the flattened (h, w, c) input.
    Dense(BinaryWeights),
    /// Binary 2-D convolution, square kernel.
    Conv2d {
        /// Kernel height and width.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
        /// Padding fill.
        padding: Padding,
        /// `out_channels x (kernel * kernel * in_channels)` weights and activation.
        weights: BinaryWeights,
    },
    /// Max-pool of each `kernel x kernel` window, per channel: OR of the bits of a binary input,
    /// the largest integer of a multi-bit one.
    MaxPool {
        /// Window height and width.
        kernel: usize,
        /// Step between windows.
        stride: usize,
    },
    /// A residual block in the Bi-Real style over a signed integer stream `x` of type `ty`: the
    /// branch binarizes `x` (`x >= 0` is +1), convolves it with binary weights, and turns each
    /// accumulator into an integer of the same type `ty` through a multi-threshold; the output is
    /// `saturate(ty, shortcut(x) + branch)`. Stride 1 keeps the shape (`padding = (kernel - 1) / 2`);
    /// stride 2 halves it, with a [`Shortcut::PoolPad`] shortcut.
    Residual {
        /// Kernel height and width of the branch convolution (odd).
        kernel: usize,
        /// 1, or 2 for a downsampling block.
        stride: usize,
        /// Padding fill of the binarized input, `(kernel - 1) / 2` pixels on each side.
        padding: Padding,
        /// What the branch is added to.
        shortcut: Shortcut,
        /// `out_channels x (kernel * kernel * in_channels)` weights and the multi-threshold (whose
        /// type is the stream's).
        weights: BinaryWeights,
    },
}

impl Layer {
    /// The weights of a dense or convolutional layer.
    pub fn weights(&self) -> Option<&BinaryWeights> {
        match self {
            Layer::Dense(w) | Layer::Conv2d { weights: w, .. } | Layer::Residual { weights: w, .. } => {
                Some(w)
            }
            _ => None,
        }
    }

    /// Mutable weights of a dense or convolutional layer.
    pub fn weights_mut(&mut self) -> Option<&mut BinaryWeights> {
        match self {
            Layer::Dense(w) | Layer::Conv2d { weights: w, .. } | Layer::Residual { weights: w, .. } => {
                Some(w)
            }
            _ => None,
        }
    }

    /// True for an input quantizer (the first layer, and only there).
    pub fn is_quantizer(&self) -> bool {
        matches!(self, Layer::QuantBinary { .. } | Layer::QuantFixed8(_) | Layer::QuantTable(_))
    }

    /// Short kind name, as in the text form.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::QuantBinary { .. } => "quant.binary",
            Layer::QuantFixed8(_) => "quant.fixed8",
            Layer::QuantTable(_) => "quant.table",
            Layer::Dense(_) => "dense",
            Layer::Conv2d { .. } => "conv2d",
            Layer::MaxPool { .. } => "maxpool",
            Layer::Residual { .. } => "residual",
        }
    }
}

/// What leaves the accelerator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// The integer scores of the last layer.
    Scores,
    /// The index of the largest score (lowest index on ties).
    #[default]
    Argmax,
}

/// Where a model came from.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Dataset it was trained or built on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Training or construction method (`irnet`, `ste`, `random`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Measured test accuracy in [0, 1], bit-exact on the exported model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Accuracy in [0, 1] on training images that were held out of training (a validation
    /// split, for choosing among runs without looking at the test split), bit-exact like `accuracy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f64>,
    /// Training epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
    /// Random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Free-form notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A binarized network: the input it takes and the layers that compute its scores.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Human-readable name.
    pub name: String,
    /// Shape of one input frame of u8 pixels.
    pub input: Shape,
    /// Layers in execution order; `layers[i]` has id `LayerId(i)`.
    pub layers: Vec<Layer>,
    /// Scores or argmax out.
    pub output: OutputMode,
    /// Where the model came from.
    pub provenance: Provenance,
}

impl Model {
    /// The layer with id `id`.
    pub fn layer(&self, id: LayerId) -> &Layer {
        &self.layers[id.index()]
    }

    /// `(id, layer)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (LayerId, &Layer)> {
        self.layers.iter().enumerate().map(|(i, l)| (LayerId(i as u32), l))
    }

    /// Bits of the widest hidden activation: 1 for a binary network, k for a W1Ak one (the input
    /// quantizer and the scores do not count).
    pub fn act_bits(&self) -> u8 {
        let bits = |l: &Layer| match l.weights().map(|w| &w.activation) {
            Some(Activation::Multi(m)) => m.ty.bits,
            _ => 1,
        };
        self.layers.iter().map(bits).max().unwrap_or(1)
    }

    /// Number of classes (scores) the model produces; 0 if the model is not valid.
    pub fn classes(&self) -> usize {
        self.layers.last().and_then(Layer::weights).map_or(0, BinaryWeights::out)
    }
}

/// Index of the largest score; the lowest index wins ties, as the hardware's argmax does.
/// (Incomparable values such as NaN never win.)
pub fn argmax<T: PartialOrd>(scores: &[T]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    best
}

/// Binary multiply-accumulates (XNOR + popcount lanes, or +-x additions for an 8-bit input) per
/// frame for a layer with output type `out` and weights `w`.
pub fn macs_per_frame(layer: &Layer, out: &TensorType) -> u64 {
    match layer.weights() {
        Some(w) => {
            let positions = match layer {
                Layer::Conv2d { .. } | Layer::Residual { .. } => (out.shape.h * out.shape.w) as u64,
                _ => 1,
            };
            positions * (w.out() as u64) * (w.fan_in() as u64)
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_table_needs_256_values() {
        for n in [0, 255, 257, 300] {
            let e = InputTable::new(vec![0; n]).expect_err("wrong length");
            assert!(e.contains(&format!("has 256 values (one per pixel byte), found {n}")), "{e}");
        }
        assert!(InputTable::new(vec![0; 256]).is_ok());
    }

    #[test]
    fn input_table_values_fit_one_byte_of_one_signedness() {
        // -1 needs two's complement and 200 needs unsigned: no byte reading holds both.
        let mut v = vec![0; 256];
        v[3] = -1;
        v[9] = 200;
        let e = InputTable::new(v).expect_err("mixed signedness");
        assert!(e.contains("found -1 (pixel 3) and 200 (pixel 9)"), "{e}");
        for bad in [-129, 256, i32::MIN, i32::MAX] {
            let mut v = vec![0; 256];
            v[255] = bad;
            let e = InputTable::new(v).expect_err("out of range");
            assert!(e.contains(&format!("{bad} (pixel 255)")), "{e}");
        }
        // The extremes of each range.
        let signed = InputTable::new((0..256).map(|p| p - 128).collect()).expect("-128..=127");
        assert!(signed.signed());
        assert_eq!((signed.range(), signed.max_abs()), ((-128, 127), 128));
        let unsigned = InputTable::new((0..256).rev().collect()).expect("0..=255");
        assert!(!unsigned.signed() && !unsigned.is_monotone());
        assert_eq!((unsigned.apply(0), unsigned.apply(255), unsigned.max_abs()), (255, 0, 255));
        // All values in 0..=127 read the same either way; with none negative the stream is unsigned.
        assert!(!InputTable::new(vec![127; 256]).expect("valid").signed());
    }

    #[test]
    fn input_table_apply_and_max_abs() {
        let values: Vec<i32> = (0..256).map(|p| if p % 2 == 0 { -(p / 4) } else { p / 8 }).collect();
        let t = InputTable::new(values.clone()).expect("in -128..=127");
        assert_eq!(t.values(), values);
        assert!((0..=255u8).all(|p| t.apply(p) == values[usize::from(p)]));
        assert!(t.signed() && !t.is_monotone());
        assert_eq!(t.max_abs(), 63);
        // An all-zero table still bounds accumulators by 1 (see `max_abs`).
        assert_eq!(InputTable::new(vec![0; 256]).expect("valid").max_abs(), 1);
    }
}
