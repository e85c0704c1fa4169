//! Shape inference and the model verifier.

use super::limits::{grouped, MAX_FRAC_BITS, MAX_MATRIX_BITS, MAX_TENSOR_ELEMS};
use super::{
    Activation, BinaryWeights, BitMatrix, IntType, Layer, LayerId, Model, MultiThreshold, Padding, Shape,
    Shortcut, MAX_ACT_BITS, MIN_ACT_BITS,
};
use std::fmt;

/// Why `what` (a shape of `shape`) is too large for [`MAX_TENSOR_ELEMS`], or `None` if it fits.
fn tensor_too_large(what: &str, shape: Shape) -> Option<String> {
    let elems = match shape.checked_len() {
        Some(n) if n <= MAX_TENSOR_ELEMS => return None,
        Some(n) => grouped(n as u64),
        None => "more than 2^64".into(),
    };
    Some(format!(
        "{what} {shape} is too large: {elems} elements, more than the limit of {} per tensor \
         (compiler::model::limits::MAX_TENSOR_ELEMS)",
        grouped(MAX_TENSOR_ELEMS as u64)
    ))
}

/// Element type of a tensor between layers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    /// u8 pixels (the model input).
    Pixels,
    /// Binary values (1 = +1, 0 = -1).
    Bits,
    /// Integers of type `ty` with |x| <= max_abs: the 8-bit input of a fixed-point or table
    /// quantizer, or a k-bit multi-threshold activation.
    Int {
        /// The stream's element type.
        ty: IntType,
        /// Largest magnitude (at least 1).
        max_abs: i64,
    },
    /// Integer scores of the last layer.
    Scores,
}

/// Shape and element type of a layer's output.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Extents.
    pub shape: Shape,
    /// Element type.
    pub elem: Elem,
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Elem::Pixels => write!(f, "u8"),
            Elem::Bits => write!(f, "bit"),
            Elem::Int { ty, .. } => write!(f, "{ty}"),
            Elem::Scores => write!(f, "score"),
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.shape, self.elem)
    }
}

/// A model that does not make sense; names the layer and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A problem with one layer.
    #[error("layer {layer} ({kind}): {message}")]
    Layer {
        /// The offending layer.
        layer: LayerId,
        /// Its kind.
        kind: &'static str,
        /// What is wrong and, where possible, what would be right.
        message: String,
    },
    /// A problem with the model as a whole.
    #[error("model: {0}")]
    Model(String),
}

/// Accumulator range `[lo, hi]` of a binary layer with fan-in `n` reading `input`.
pub fn accumulator_range(input: Elem, n: usize) -> (i64, i64) {
    match input {
        Elem::Int { max_abs, .. } => (-max_abs * n as i64, max_abs * n as i64),
        _ => (0, n as i64),
    }
}

impl Model {
    /// Infers the output type of every layer, checking everything the golden model and the
    /// hardware rely on. `Ok` means the model is valid.
    pub fn infer(&self) -> Result<Vec<TensorType>, ModelError> {
        if self.input.is_empty() {
            return Err(ModelError::Model(format!("input shape {} has a zero extent", self.input)));
        }
        if let Some(m) = tensor_too_large("input", self.input) {
            return Err(ModelError::Model(m));
        }
        if self.layers.is_empty() {
            return Err(ModelError::Model("no layers".into()));
        }
        let mut cur = TensorType { shape: self.input, elem: Elem::Pixels };
        let mut types = Vec::with_capacity(self.layers.len());
        let last = self.layers.len() - 1;
        for (id, layer) in self.iter() {
            cur = infer_layer(id, layer, cur, id.index() == last)?;
            types.push(cur);
        }
        if cur.elem != Elem::Scores {
            return Err(ModelError::Model(format!(
                "the last layer must be dense with scores, but {} produces {cur}",
                LayerId(last as u32)
            )));
        }
        Ok(types)
    }

    /// Checks the model; `Ok` means the golden model, compiler and hardware can all run it.
    pub fn verify(&self) -> Result<(), ModelError> {
        self.infer().map(|_| ())
    }
}

/// Output type of `layer` (with id `id`) given its input type; checks everything about the layer.
pub fn infer_layer(
    id: LayerId,
    layer: &Layer,
    cur: TensorType,
    is_last: bool,
) -> Result<TensorType, ModelError> {
    let err = |message: String| ModelError::Layer { layer: id, kind: layer.kind(), message };
    let is_quant = layer.is_quantizer();
    if is_quant != (id.index() == 0) {
        return Err(err(if is_quant {
            "an input quantizer may only be the first layer".into()
        } else {
            "the first layer must be an input quantizer (quant.binary, quant.fixed8 or quant.table)".into()
        }));
    }
    let next = match layer {
        Layer::QuantBinary { .. } => TensorType { shape: cur.shape, elem: Elem::Bits },
        Layer::QuantFixed8(q) => {
            if q.frac_bits > MAX_FRAC_BITS {
                return Err(err(format!(
                    "frac_bits {} is more than {MAX_FRAC_BITS}: the input is an 8-bit integer, so at most \
                     its {MAX_FRAC_BITS} bits can be fractional",
                    q.frac_bits
                )));
            }
            let ty = IntType { bits: 8, signed: q.signed };
            TensorType { shape: cur.shape, elem: Elem::Int { ty, max_abs: q.max_abs() } }
        }
        // Every table is valid by construction (`InputTable::new`); only its range matters here.
        Layer::QuantTable(t) => {
            let ty = IntType { bits: 8, signed: t.signed() };
            TensorType { shape: cur.shape, elem: Elem::Int { ty, max_abs: t.max_abs() } }
        }
        Layer::Dense(w) => {
            let n = cur.shape.len();
            check_weights(w, cur.elem, n, is_last).map_err(err)?;
            let elem = out_elem(w);
            TensorType { shape: Shape::new(1, 1, w.out()), elem }
        }
        Layer::Conv2d { kernel, stride, padding, weights } => {
            if *kernel == 0 || *stride == 0 {
                return Err(err(format!("kernel {kernel} and stride {stride} must both be at least 1")));
            }
            if matches!(cur.elem, Elem::Int { .. }) && *padding != Padding::None {
                return Err(err(format!(
                    "an integer input ({}) has no padding bit; use padding none",
                    cur.elem
                )));
            }
            let p = padding.amount();
            if p >= *kernel {
                return Err(err(format!("padding {p} must be smaller than the kernel {kernel}")));
            }
            let padded = |d: usize| p.checked_mul(2).and_then(|p2| d.checked_add(p2));
            let (Some(h), Some(w)) = (padded(cur.shape.h), padded(cur.shape.w)) else {
                return Err(err(format!("padding {p} is too large")));
            };
            if h < *kernel || w < *kernel {
                return Err(err(format!(
                    "kernel {kernel} does not fit the padded input {h}x{w} (input {})",
                    cur.shape
                )));
            }
            // The sliding window reads the padded input, so it counts as a tensor of its own.
            if let Some(m) = tensor_too_large("padded input", Shape::new(h, w, cur.shape.c)) {
                return Err(err(m));
            }
            let n = kernel
                .checked_mul(*kernel)
                .and_then(|k| k.checked_mul(cur.shape.c))
                .ok_or_else(|| err("fan-in overflows".into()))?;
            if is_last {
                return Err(err("the last layer must be dense (it produces the scores)".into()));
            }
            check_weights(weights, cur.elem, n, false).map_err(err)?;
            let shape = Shape::new((h - kernel) / stride + 1, (w - kernel) / stride + 1, weights.out());
            TensorType { shape, elem: out_elem(weights) }
        }
        Layer::MaxPool { kernel, stride } => {
            if !matches!(cur.elem, Elem::Bits | Elem::Int { .. }) {
                return Err(err(format!("max-pool needs a binary or integer input, found {cur}")));
            }
            if *kernel == 0 || *stride == 0 {
                return Err(err(format!("kernel {kernel} and stride {stride} must both be at least 1")));
            }
            if cur.shape.h < *kernel || cur.shape.w < *kernel {
                return Err(err(format!("window {kernel}x{kernel} larger than the input {}", cur.shape)));
            }
            if is_last {
                return Err(err("the last layer must be dense (it produces the scores)".into()));
            }
            let shape = Shape::new(
                (cur.shape.h - kernel) / stride + 1,
                (cur.shape.w - kernel) / stride + 1,
                cur.shape.c,
            );
            TensorType { shape, elem: cur.elem }
        }
        Layer::Residual { kernel, stride, padding, shortcut, weights } => {
            let shape =
                check_residual(cur, *kernel, *stride, *padding, *shortcut, weights, is_last).map_err(err)?;
            let Elem::Int { ty, max_abs } = cur.elem else { unreachable!("checked: an integer input") };
            let branch = weights.activation.multi().map_or(1, MultiThreshold::max_abs);
            // The sum saturates, so it is never larger than the type allows.
            let bound = ty.min().abs().max(ty.max());
            TensorType { shape, elem: Elem::Int { ty, max_abs: (max_abs + branch).min(bound) } }
        }
    };
    if let Some(m) = tensor_too_large("output", next.shape) {
        return Err(err(m));
    }
    Ok(next)
}

/// Checks a residual block reading `cur`; returns its output shape.
fn check_residual(
    cur: TensorType,
    kernel: usize,
    stride: usize,
    padding: Padding,
    shortcut: Shortcut,
    weights: &BinaryWeights,
    is_last: bool,
) -> Result<Shape, String> {
    if is_last {
        return Err("the last layer must be dense (it produces the scores)".into());
    }
    let Elem::Int { ty, .. } = cur.elem else {
        return Err(format!(
            "a residual block reads a signed integer stream (a multi-threshold stem or another block), found {cur}"
        ));
    };
    if !ty.signed {
        return Err(format!("a residual block reads a signed integer stream, found {ty}"));
    }
    if kernel == 0 || kernel % 2 == 0 {
        return Err(format!("the branch kernel must be odd (it keeps the shape), found {kernel}"));
    }
    let want = Padding::Bit { amount: (kernel - 1) / 2, bit: padding_bit(padding) };
    if padding != want {
        return Err(format!(
            "a {kernel}x{kernel} branch needs padding {}:0 or {}:1 to keep the shape, found {}",
            (kernel - 1) / 2,
            (kernel - 1) / 2,
            match padding {
                Padding::None => "none".to_string(),
                Padding::Bit { amount, bit } => format!("{amount}:{}", u8::from(bit)),
            }
        ));
    }
    let (h, w, c) = (cur.shape.h, cur.shape.w, cur.shape.c);
    let out = weights.out();
    let shape = match (stride, shortcut) {
        (1, Shortcut::Identity) => {
            if out != c {
                return Err(format!(
                    "an identity shortcut needs as many output channels as input channels ({c}), found {out}"
                ));
            }
            cur.shape
        }
        (2, Shortcut::PoolPad) => {
            if h % 2 != 0 || w % 2 != 0 {
                return Err(format!("a stride-2 block needs an even height and width, found {}", cur.shape));
            }
            if out < c {
                return Err(format!(
                    "a pool_pad shortcut appends zero channels, so the branch needs at least the input's {c} \
                     channels, found {out}"
                ));
            }
            Shape::new(h / 2, w / 2, out)
        }
        (1 | 2, s) => {
            let need = if stride == 1 { "an identity" } else { "a pool_pad" };
            return Err(format!("a stride-{stride} block has {need} shortcut, found {}", s.name()));
        }
        _ => return Err(format!("stride must be 1 or 2, found {stride}")),
    };
    let n = kernel
        .checked_mul(kernel)
        .and_then(|k| k.checked_mul(c))
        .ok_or_else(|| "fan-in overflows".to_string())?;
    check_weights(weights, Elem::Bits, n, false)?;
    match &weights.activation {
        Activation::Multi(m) if m.ty == ty => Ok(shape),
        Activation::Multi(m) => Err(format!(
            "the branch's multi-threshold outputs {} but the stream is {ty}: they must agree (the add saturates to the stream's type)",
            m.ty
        )),
        _ => Err(format!("the branch needs a multi-threshold activation of the stream's type {ty}")),
    }
}

fn padding_bit(p: Padding) -> bool {
    matches!(p, Padding::Bit { bit: true, .. })
}

fn out_elem(w: &BinaryWeights) -> Elem {
    match &w.activation {
        Activation::Threshold(_) => Elem::Bits,
        Activation::Multi(m) => Elem::Int { ty: m.ty, max_abs: m.max_abs() },
        Activation::Scores => Elem::Scores,
    }
}

/// Checks a multi-threshold against the layer's `out` channels and accumulator range `[lo, hi]`.
fn check_multi(m: &MultiThreshold, out: usize, lo: i64, hi: i64) -> Result<(), String> {
    let ty = m.ty;
    if !(MIN_ACT_BITS..=MAX_ACT_BITS).contains(&ty.bits) {
        return Err(format!(
            "a multi-threshold activation has {MIN_ACT_BITS} to {MAX_ACT_BITS} bits, found {}              (1 bit is act=threshold)",
            ty.bits
        ));
    }
    let most = (1usize << ty.bits) - 1;
    if m.levels == 0 || m.levels > most {
        return Err(format!(
            "{} thresholds per channel: a {ty} output has 1 to {most} (2^bits - 1)",
            m.levels
        ));
    }
    let (bias, top) = (i64::from(m.bias), i64::from(m.bias) + m.levels as i64);
    if bias < ty.min() || top > ty.max() {
        return Err(format!(
            "outputs bias {bias} ..= bias + levels = {top} do not fit {ty} ({} ..= {})",
            ty.min(),
            ty.max()
        ));
    }
    if m.thresholds.len() != out * m.levels {
        return Err(format!(
            "has {} thresholds for {out} output channels x {} levels (expected {})",
            m.thresholds.len(),
            m.levels,
            out * m.levels
        ));
    }
    for c in 0..out {
        let t = m.channel(c);
        if let Some(j) = t.windows(2).position(|p| p[0] > p[1]) {
            return Err(format!(
                "thresholds of channel {c} must ascend, but level {j} is {} and level {} is {}",
                t[j],
                j + 1,
                t[j + 1]
            ));
        }
        if let Some(j) = t.iter().position(|&t| i64::from(t) < lo || i64::from(t) > hi + 1) {
            return Err(format!(
                "threshold {} (channel {c}, level {j}) is outside [{lo}, {}] (accumulator range [{lo}, {hi}])",
                t[j],
                hi + 1
            ));
        }
    }
    Ok(())
}

fn check_weights(w: &BinaryWeights, input: Elem, n: usize, is_last: bool) -> Result<(), String> {
    let (lo, hi) = match input {
        Elem::Bits | Elem::Int { .. } => accumulator_range(input, n),
        other => return Err(format!("needs a binary or integer input, found {other:?}")),
    };
    if n == 0 {
        return Err("fan-in is zero".into());
    }
    if w.out() == 0 {
        return Err("has no output channels".into());
    }
    if !BitMatrix::fits(w.out(), n) {
        return Err(format!(
            "{}x{n} weight matrix is more than the limit of {} bits (MAX_MATRIX_BITS)",
            w.out(),
            grouped(MAX_MATRIX_BITS as u64)
        ));
    }
    if w.fan_in() != n {
        return Err(format!(
            "weight matrix is {}x{} but the input gives a fan-in of {n} (expected {}x{n})",
            w.out(),
            w.fan_in(),
            w.out()
        ));
    }
    if hi >= i64::from(i32::MAX) {
        return Err(format!("accumulator range +-{hi} does not fit 32 bits"));
    }
    match (&w.activation, is_last) {
        (Activation::Scores, false) => {
            Err("only the last layer may produce scores; give it thresholds".into())
        }
        (Activation::Threshold(_) | Activation::Multi(_), true) => {
            Err("the last layer must produce scores, not thresholded bits".into())
        }
        (Activation::Multi(m), false) => check_multi(m, w.out(), lo, hi),
        (Activation::Threshold(t), false) => {
            if t.len() != w.out() {
                return Err(format!("has {} thresholds for {} output channels", t.len(), w.out()));
            }
            match t.iter().position(|&t| i64::from(t) < lo || i64::from(t) > hi + 1) {
                Some(c) => Err(format!(
                    "threshold {} of channel {c} is outside [{lo}, {}] (accumulator range [{lo}, {hi}])",
                    t[c],
                    hi + 1
                )),
                None => Ok(()),
            }
        }
        (Activation::Scores, true) => Ok(()),
    }
}
