//! A small interpreter of exactly the ONNX subset the importer accepts, in the exporters' own
//! precision: elementwise arithmetic in `f32` (IEEE, as numpy and onnxruntime do it), sums of
//! products accumulated in `f64` and rounded once (exact for the binary and 8-bit networks this
//! subset describes, whose products are integers times one scale), BatchNormalization in
//! onnxruntime's fused form. The importer proves its integer model against this interpreter on a
//! check set; its scalar functions ([`bin`], [`batchnorm`], [`quant`], ...) are the ones the
//! importer evaluates thresholds with, so both sides round alike.

use super::graph::{elems, Data, Domain, Graph, Node, Tensor};
use super::OnnxError;
use std::collections::HashMap;

/// A binary elementwise operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bin {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
    /// a ^ b
    Pow,
    /// max(a, b)
    Max,
    /// min(a, b)
    Min,
}

impl Bin {
    /// The operator of an ONNX op type.
    pub fn of(op: &str) -> Option<Bin> {
        Some(match op {
            "Add" => Bin::Add,
            "Sub" => Bin::Sub,
            "Mul" => Bin::Mul,
            "Div" => Bin::Div,
            "Pow" => Bin::Pow,
            "Max" => Bin::Max,
            "Min" => Bin::Min,
            _ => return None,
        })
    }
}

/// `a op b` in `f32`.
pub fn bin(op: Bin, a: f32, b: f32) -> f32 {
    match op {
        Bin::Add => a + b,
        Bin::Sub => a - b,
        Bin::Mul => a * b,
        Bin::Div => a / b,
        // onnxruntime special-cases these exponents; sqrt is correctly rounded, like powf(x, 0.5).
        Bin::Pow if b == 2.0 => a * a,
        Bin::Pow if b == 0.5 => a.sqrt(),
        Bin::Pow if b == 1.0 => a,
        Bin::Pow => a.powf(b),
        Bin::Max => a.max(b),
        Bin::Min => a.min(b),
    }
}

/// BatchNormalization of one value, as onnxruntime computes it: the per-channel scale and bias
/// are fused first, `y = x * (gamma / sqrt(var + eps)) + (beta - mean * that)`.
pub fn batchnorm(x: f32, gamma: f32, beta: f32, mean: f32, var: f32, eps: f32) -> f32 {
    let inv_std = 1.0 / (var + eps).sqrt();
    let scale = inv_std * gamma;
    let bias = beta - mean * scale;
    x * scale + bias
}

/// QONNX `BipolarQuant`: `scale * (x >= 0 ? +1 : -1)` (sign(0) = +1).
pub fn bipolar(x: f32, scale: f32) -> f32 {
    if x >= 0.0 {
        scale
    } else {
        -scale
    }
}

/// numpy's and ONNX's sign: 0 at 0 (unlike `f32::signum`), so the signed roundings keep 0.
fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Rounding of QONNX `Quant`, as qonnx's `resolve_rounding_mode` defines each name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// `ROUND` / `HALF_EVEN`: half to even (numpy's `round`).
    HalfEven,
    /// `FLOOR`: towards minus infinity.
    Floor,
    /// `CEIL`: towards plus infinity.
    Ceil,
    /// `DOWN` (numpy's `fix`): towards zero.
    Down,
    /// `UP`: away from zero.
    Up,
    /// `HALF_UP`: half away from zero, `sign(x) * floor(|x| + 0.5)`.
    HalfUp,
    /// `HALF_DOWN`: half towards zero, `sign(x) * ceil(|x| - 0.5)`.
    HalfDown,
}

impl Rounding {
    /// A QONNX rounding mode name (case-insensitive).
    pub fn parse(s: &str) -> Option<Rounding> {
        Some(match s.to_ascii_uppercase().as_str() {
            "ROUND" | "HALF_EVEN" => Rounding::HalfEven,
            "FLOOR" => Rounding::Floor,
            "CEIL" => Rounding::Ceil,
            "DOWN" | "ROUND_TO_ZERO" => Rounding::Down,
            "UP" => Rounding::Up,
            "HALF_UP" => Rounding::HalfUp,
            "HALF_DOWN" => Rounding::HalfDown,
            _ => return None,
        })
    }

    /// Rounds `x`.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Rounding::HalfEven => x.round_ties_even(),
            Rounding::Floor => x.floor(),
            Rounding::Ceil => x.ceil(),
            Rounding::Down => x.trunc(),
            Rounding::Up => sign(x) * x.abs().ceil(),
            Rounding::HalfUp => sign(x) * (x.abs() + 0.5).floor(),
            Rounding::HalfDown => sign(x) * (x.abs() - 0.5).ceil(),
        }
    }
}

/// The parameters of a QONNX `Quant` (`IntQuant`) node.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct QuantSpec {
    /// Bits of the integer.
    pub bits: u32,
    /// Two's complement.
    pub signed: bool,
    /// Signed range without its most negative value.
    pub narrow: bool,
    /// Rounding.
    pub rounding: Rounding,
}

impl QuantSpec {
    /// Smallest and largest integer.
    pub fn range(&self) -> (f32, f32) {
        let b = self.bits as i32;
        match (self.signed, self.narrow) {
            (true, false) => (-(2f32.powi(b - 1)), 2f32.powi(b - 1) - 1.0),
            (true, true) => (-(2f32.powi(b - 1)) + 1.0, 2f32.powi(b - 1) - 1.0),
            (false, false) => (0.0, 2f32.powi(b) - 1.0),
            (false, true) => (0.0, 2f32.powi(b) - 2.0),
        }
    }

    /// The integer level of `x` (before the zero point is subtracted and the scale applied), as
    /// QONNX computes it: divide, add the zero point, clamp, then round.
    pub fn level(&self, x: f32, scale: f32, zeropt: f32) -> f32 {
        let y = x / scale + zeropt;
        // qonnx's one-bit signed quantizer is bipolar, not the range [-1, 0].
        if self.bits == 1 && self.signed {
            return if y >= 0.0 { 1.0 } else { -1.0 };
        }
        let (lo, hi) = self.range();
        let y = if y > hi { hi } else { y };
        let y = if y < lo { lo } else { y };
        self.rounding.apply(y)
    }

    /// The value QONNX's `Quant` outputs: `(level - zeropt) * scale`.
    pub fn apply(&self, x: f32, scale: f32, zeropt: f32) -> f32 {
        (self.level(x, scale, zeropt) - zeropt) * scale
    }
}

/// Reads a `Quant`/`IntQuant` node's attributes.
pub fn quant_spec(node: &Node, bits: f32) -> Result<QuantSpec, OnnxError> {
    if bits.fract() != 0.0 || !(1.0..=32.0).contains(&bits) {
        return Err(node.bad(&format!("bit width {bits} must be an integer from 1 to 32")));
    }
    let mode = node.string("rounding_mode", "ROUND")?;
    let rounding = Rounding::parse(&mode).ok_or_else(|| {
        node.bad(&format!(
            "rounding_mode {mode:?} is not supported (ROUND/HALF_EVEN, FLOOR, CEIL, UP, DOWN, HALF_UP, HALF_DOWN are)"
        ))
    })?;
    Ok(QuantSpec {
        bits: bits as u32,
        signed: node.int("signed", 1)? != 0,
        narrow: node.int("narrow", 0)? != 0,
        rounding,
    })
}

/// FINN/QONNX `MultiThreshold` of one value against its channel's ascending thresholds.
pub fn multithreshold(x: f32, thresholds: &[f32], out_scale: f32, out_bias: f32) -> f32 {
    let count = thresholds.iter().filter(|&&t| x >= t).count() as f32;
    out_scale * count + out_bias
}

/// The numpy broadcast of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// For every element of `out` (row-major), the index of the element of a tensor of shape `shape`
/// that numpy broadcasting reads.
pub fn broadcast_index(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let n = out.len();
    let total: usize = out.iter().product();
    // Strides of `shape` aligned right, zero where it is broadcast.
    let mut strides = vec![0usize; n];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let j = i + n - shape.len();
        strides[j] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    let mut idx = vec![0usize; total];
    let mut pos = vec![0usize; n];
    for v in idx.iter_mut() {
        *v = pos.iter().zip(&strides).map(|(p, s)| p * s).sum();
        for d in (0..n).rev() {
            pos[d] += 1;
            if pos[d] < out[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    idx
}

fn broadcast2(node: &Node, a: &Tensor, b: &Tensor, op: Bin) -> Result<Tensor, OnnxError> {
    let shape = broadcast_shape(&a.shape, &b.shape)
        .ok_or_else(|| node.bad(&format!("shapes {:?} and {:?} do not broadcast", a.shape, b.shape)))?;
    elems(&shape, &node.describe())?;
    let (ia, ib) = (broadcast_index(&a.shape, &shape), broadcast_index(&b.shape, &shape));
    Ok(match (&a.data, &b.data) {
        (Data::I64(x), Data::I64(y)) => {
            let f = |p: i64, q: i64| -> Option<i64> {
                match op {
                    Bin::Add => p.checked_add(q),
                    Bin::Sub => p.checked_sub(q),
                    Bin::Mul => p.checked_mul(q),
                    Bin::Div => p.checked_div(q),
                    Bin::Max => Some(p.max(q)),
                    Bin::Min => Some(p.min(q)),
                    Bin::Pow => u32::try_from(q).ok().and_then(|q| p.checked_pow(q)),
                }
            };
            let v: Option<Vec<i64>> = ia.iter().zip(&ib).map(|(&i, &j)| f(x[i], y[j])).collect();
            Tensor::i64(shape, v.ok_or_else(|| node.bad("integer overflow or division by zero"))?)
        }
        _ => {
            let (x, y) = (a.floats(), b.floats());
            Tensor::f32(shape, ia.iter().zip(&ib).map(|(&i, &j)| bin(op, x[i], y[j])).collect())
        }
    })
}

fn map(t: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    Tensor::f32(t.shape.clone(), t.floats().into_iter().map(f).collect())
}

/// Row-major strides.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// An axis attribute (negative counts from the end) checked against `rank`.
fn axis(node: &Node, a: i64, rank: usize) -> Result<usize, OnnxError> {
    let r = rank as i64;
    let x = if a < 0 { a + r } else { a };
    if (0..r).contains(&x) {
        Ok(x as usize)
    } else {
        Err(node.bad(&format!("axis {a} is out of range for rank {rank}")))
    }
}

/// The permutation of a Transpose node (default: reversed axes).
pub fn transpose_perm(node: &Node, rank: usize) -> Result<Vec<usize>, OnnxError> {
    let perm: Vec<usize> = match node.ints("perm")? {
        Some(p) => p.iter().map(|&x| axis(node, x, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    if perm.len() != rank || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
        return Err(node.bad(&format!("perm {perm:?} is not a permutation of {rank} axes")));
    }
    Ok(perm)
}

/// Transposes a tensor: output axis i is input axis `perm[i]`. Also used on index maps.
pub fn transpose<T: Copy>(data: &[T], shape: &[usize], perm: &[usize]) -> (Vec<T>, Vec<usize>) {
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let in_strides = strides(shape);
    let n = data.len();
    let mut out = Vec::with_capacity(n);
    let mut pos = vec![0usize; shape.len()];
    for _ in 0..n {
        let src: usize = pos.iter().zip(perm).map(|(&p, &a)| p * in_strides[a]).sum();
        out.push(data[src]);
        for d in (0..out_shape.len()).rev() {
            pos[d] += 1;
            if pos[d] < out_shape[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    (out, out_shape)
}

/// The output shape of a Reshape to `target` (with ONNX's 0 = copy and -1 = infer).
pub fn reshape_shape(node: &Node, input: &[usize], target: &[i64]) -> Result<Vec<usize>, OnnxError> {
    let n: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        out.push(match d {
            0 => *input.get(i).ok_or_else(|| node.bad("a 0 in the target shape past the input's rank"))?,
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            d if d > 0 => d as usize,
            d => return Err(node.bad(&format!("target dimension {d} is not valid"))),
        });
    }
    let known: usize = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(0);
    if let Some(i) = infer {
        if known == 0 || n % known != 0 {
            return Err(node.bad(&format!("cannot reshape {input:?} to {target:?}")));
        }
        out[i] = n / known;
    } else if known != n {
        return Err(node.bad(&format!("cannot reshape {input:?} ({n} elements) to {target:?}")));
    }
    Ok(out)
}

/// Kernel, stride and symmetric padding of a Conv or MaxPool on a 4-D NCHW tensor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Strides.
    pub stride: (usize, usize),
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
}

/// Reads the window attributes of a Conv (`weight_hw` from its weights) or MaxPool.
pub fn window(node: &Node, weight_hw: Option<(usize, usize)>) -> Result<Window, OnnxError> {
    let two = |name: &str, default: Option<(usize, usize)>| -> Result<(usize, usize), OnnxError> {
        match (node.ints(name)?, default) {
            (Some(v), _) if v.len() == 2 && v.iter().all(|&x| (1..=4096).contains(&x)) => {
                Ok((v[0] as usize, v[1] as usize))
            }
            (Some(v), _) => {
                Err(node.bad(&format!("{name} {v:?}: two values from 1 to 4096 expected (2-D only)")))
            }
            (None, Some(d)) => Ok(d),
            (None, None) => Err(node.bad(&format!("attribute {name} is missing"))),
        }
    };
    let kernel = two("kernel_shape", weight_hw)?;
    if let Some(hw) = weight_hw {
        if kernel != hw {
            return Err(node.bad(&format!("kernel_shape {kernel:?} differs from the weights' {hw:?}")));
        }
    }
    let stride = two("strides", Some((1, 1)))?;
    if let Some(d) = node.ints("dilations")? {
        if d.iter().any(|&x| x != 1) {
            return Err(node.bad(&format!("dilations {d:?} are not supported (1 only)")));
        }
    }
    if node.int("ceil_mode", 0)? != 0 {
        return Err(node.bad("ceil_mode 1 is not supported"));
    }
    let auto = node.string("auto_pad", "NOTSET")?;
    if auto != "NOTSET" && auto != "VALID" {
        return Err(node.bad(&format!("auto_pad {auto} is not supported (give explicit pads)")));
    }
    let pads = match node.ints("pads")? {
        None => [0; 4],
        Some(p) if p.len() == 4 && p.iter().all(|&x| (0..=4096).contains(&x)) => {
            [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
        }
        Some(p) => return Err(node.bad(&format!("pads {p:?}: four values from 0 to 4096 expected"))),
    };
    Ok(Window { kernel, stride, pads })
}

impl Window {
    /// Output height and width for an input of `h` x `w`.
    pub fn out(&self, node: &Node, h: usize, w: usize) -> Result<(usize, usize), OnnxError> {
        let (ph, pw) = (h + self.pads[0] + self.pads[2], w + self.pads[1] + self.pads[3]);
        if ph < self.kernel.0 || pw < self.kernel.1 {
            return Err(
                node.bad(&format!("kernel {:?} is larger than the padded input {ph}x{pw}", self.kernel))
            );
        }
        Ok(((ph - self.kernel.0) / self.stride.0 + 1, (pw - self.kernel.1) / self.stride.1 + 1))
    }
}

fn nchw(node: &Node, t: &Tensor) -> Result<(usize, usize, usize, usize), OnnxError> {
    match t.shape[..] {
        [n, c, h, w] => Ok((n, c, h, w)),
        _ => Err(node.bad(&format!("a 4-D NCHW input is expected, not {:?}", t.shape))),
    }
}

fn conv(node: &Node, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor, OnnxError> {
    let (n, c, h, wd) = nchw(node, x)?;
    let (o, ci, kh, kw) = nchw(node, w)?;
    if node.int("group", 1)? != 1 {
        return Err(node.bad("grouped convolutions are not supported"));
    }
    if ci != c {
        return Err(node.bad(&format!("weights for {ci} input channels, input has {c}")));
    }
    let win = window(node, Some((kh, kw)))?;
    let (oh, ow) = win.out(node, h, wd)?;
    elems(&[n, o, oh, ow], &node.describe())?;
    let (xs, ws) = (x.floats(), w.floats());
    let bias = b.map(Tensor::floats);
    let mut out = Vec::with_capacity(n * o * oh * ow);
    for b_ in 0..n {
        for oc in 0..o {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = 0f64;
                    for ic in 0..c {
                        for ky in 0..kh {
                            let iy = (y * win.stride.0 + ky) as isize - win.pads[0] as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (xx * win.stride.1 + kx) as isize - win.pads[1] as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xv = xs[((b_ * c + ic) * h + iy as usize) * wd + ix as usize];
                                let wv = ws[((oc * c + ic) * kh + ky) * kw + kx];
                                acc += f64::from(xv * wv);
                            }
                        }
                    }
                    let mut v = acc as f32;
                    if let Some(bias) = &bias {
                        v += bias.get(oc).copied().unwrap_or(0.0);
                    }
                    out.push(v);
                }
            }
        }
    }
    Ok(Tensor::f32(vec![n, o, oh, ow], out))
}

fn maxpool(node: &Node, x: &Tensor) -> Result<Tensor, OnnxError> {
    let (n, c, h, w) = nchw(node, x)?;
    let win = window(node, None)?;
    let (oh, ow) = win.out(node, h, w)?;
    let xs = x.floats();
    let mut out = Vec::with_capacity(n * c * oh * ow);
    for p in 0..n * c {
        for y in 0..oh {
            for xx in 0..ow {
                let mut m = f32::NEG_INFINITY;
                for ky in 0..win.kernel.0 {
                    for kx in 0..win.kernel.1 {
                        let iy = (y * win.stride.0 + ky) as isize - win.pads[0] as isize;
                        let ix = (xx * win.stride.1 + kx) as isize - win.pads[1] as isize;
                        if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                            m = m.max(xs[(p * h + iy as usize) * w + ix as usize]);
                        }
                    }
                }
                out.push(m);
            }
        }
    }
    Ok(Tensor::f32(vec![n, c, oh, ow], out))
}

/// A 2-D matrix product with `f64` accumulation.
fn matmul2(node: &Node, a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Result<Vec<f32>, OnnxError> {
    elems(&[m, n], &node.describe())?;
    let mut out = vec![0f32; m * n];
    let mut acc = vec![0f64; n];
    for i in 0..m {
        acc.iter_mut().for_each(|x| *x = 0.0);
        for kk in 0..k {
            let av = a[i * k + kk];
            for (j, s) in acc.iter_mut().enumerate() {
                *s += f64::from(av * b[kk * n + j]);
            }
        }
        for j in 0..n {
            out[i * n + j] = acc[j] as f32;
        }
    }
    Ok(out)
}

fn matmul(node: &Node, a: &Tensor, b: &Tensor) -> Result<Tensor, OnnxError> {
    let (m, k, lead) = match a.shape[..] {
        [k] => (1, k, vec![]),
        ref s if s.len() >= 2 => {
            let k = s[s.len() - 1];
            (s[..s.len() - 1].iter().product(), k, s[..s.len() - 1].to_vec())
        }
        _ => return Err(node.bad("a scalar operand")),
    };
    let (k2, n) = match b.shape[..] {
        [k2, n] => (k2, n),
        _ => return Err(node.bad(&format!("the second operand must be a 2-D matrix, not {:?}", b.shape))),
    };
    if k != k2 {
        return Err(node.bad(&format!("shapes {:?} and {:?} do not multiply", a.shape, b.shape)));
    }
    let out = matmul2(node, &a.floats(), &b.floats(), m, k, n)?;
    let mut shape = lead;
    shape.push(n);
    Ok(Tensor::f32(shape, out))
}

fn gemm(node: &Node, a: &Tensor, b: &Tensor, c: Option<&Tensor>) -> Result<Tensor, OnnxError> {
    let t = |x: &Tensor, flag: &str| -> Result<(Vec<f32>, usize, usize), OnnxError> {
        let [r, cc] = x.shape[..] else { return Err(node.bad("Gemm operands must be 2-D")) };
        if node.int(flag, 0)? != 0 {
            let (d, _) = transpose(&x.floats(), &x.shape, &[1, 0]);
            Ok((d, cc, r))
        } else {
            Ok((x.floats(), r, cc))
        }
    };
    let (av, m, k) = t(a, "transA")?;
    let (bv, k2, n) = t(b, "transB")?;
    if k != k2 {
        return Err(node.bad(&format!("shapes {:?} and {:?} do not multiply", a.shape, b.shape)));
    }
    let (alpha, beta) = (node.float("alpha", 1.0)?, node.float("beta", 1.0)?);
    let mut y = Tensor::f32(vec![m, n], matmul2(node, &av, &bv, m, k, n)?);
    if alpha != 1.0 {
        y = map(&y, |v| v * alpha);
    }
    if let Some(c) = c {
        let c = if beta != 1.0 { map(c, |v| v * beta) } else { c.clone() };
        y = broadcast2(node, &y, &c, Bin::Add)?;
        if y.shape != [m, n] {
            return Err(node.bad("the bias C does not broadcast to the output"));
        }
    }
    Ok(y)
}

/// The channel axis of BatchNormalization: 1 (NC, NCL, NCHW).
fn channel_axis(node: &Node, rank: usize) -> Result<usize, OnnxError> {
    if rank >= 2 {
        Ok(1)
    } else {
        Err(node.bad(&format!("per-channel op on a rank-{rank} tensor (rank 2 or more expected)")))
    }
}

/// The channel axis of a MultiThreshold, as qonnx finds it: the position of `C` in its
/// `data_layout`, else by rank (NC, NWC, NCHW), else 1.
pub fn threshold_axis(node: &Node, rank: usize) -> Result<usize, OnnxError> {
    let layout = node.string("data_layout", "")?;
    let layout = if layout.is_empty() {
        match rank {
            2 => "NC",
            3 => "NWC",
            4 => "NCHW",
            _ => "",
        }
        .to_string()
    } else {
        layout
    };
    let axis = layout.find('C').unwrap_or(1);
    if axis < rank {
        Ok(axis)
    } else {
        Err(node.bad(&format!("data_layout {layout:?} does not fit a rank-{rank} input")))
    }
}

/// The channel of every element of a tensor of `shape` with channels on `axis`.
fn channels(shape: &[usize], axis: usize) -> impl Iterator<Item = usize> + '_ {
    let inner: usize = shape[axis + 1..].iter().product();
    let c = shape[axis];
    (0..shape.iter().product::<usize>()).map(move |i| (i / inner) % c)
}

fn per_channel(node: &Node, t: &Tensor, c: usize, what: &str) -> Result<Vec<f32>, OnnxError> {
    let v = t.floats();
    match v.len() {
        n if n == c => Ok(v),
        1 => Ok(vec![v[0]; c]),
        n => Err(node.bad(&format!("{what} has {n} values for {c} channels"))),
    }
}

/// Evaluates one node on its input tensors (`None` for an omitted optional input).
pub fn eval_node(node: &Node, ins: &[Option<&Tensor>], opset: i64) -> Result<Vec<Tensor>, OnnxError> {
    let arg = |i: usize| -> Result<&Tensor, OnnxError> {
        ins.get(i).copied().flatten().ok_or_else(|| node.bad(&format!("input {i} is missing")))
    };
    let scalar = |i: usize, what: &str| -> Result<f32, OnnxError> {
        arg(i)?.scalar().ok_or_else(|| node.bad(&format!("{what} must be a single value (per-tensor)")))
    };
    let op = node.op.as_str();
    let out = match (&node.domain, op) {
        (Domain::Onnx, _) if Bin::of(op).is_some() => {
            let b = Bin::of(op).ok_or_else(|| node.bad("operator"))?;
            broadcast2(node, arg(0)?, arg(1)?, b)?
        }
        (Domain::Onnx, "Identity" | "Dropout") => arg(0)?.clone(),
        (Domain::Onnx, "Relu") => map(arg(0)?, |v| v.max(0.0)),
        (Domain::Onnx, "Neg") => map(arg(0)?, |v| -v),
        (Domain::Onnx, "Sqrt") => map(arg(0)?, f32::sqrt),
        (Domain::Onnx, "Floor") => map(arg(0)?, f32::floor),
        (Domain::Onnx, "Round") => map(arg(0)?, f32::round_ties_even),
        (Domain::Onnx, "Sign") => map(arg(0)?, sign),
        (Domain::Onnx, "Clip") => {
            let lo = match ins.get(1).copied().flatten() {
                Some(t) => t.scalar().ok_or_else(|| node.bad("min must be a scalar"))?,
                None => node.float("min", f32::NEG_INFINITY)?,
            };
            let hi = match ins.get(2).copied().flatten() {
                Some(t) => t.scalar().ok_or_else(|| node.bad("max must be a scalar"))?,
                None => node.float("max", f32::INFINITY)?,
            };
            map(arg(0)?, |v| v.max(lo).min(hi))
        }
        (Domain::Onnx, "Cast") => {
            let x = arg(0)?;
            match node.int("to", 1)? {
                1 | 11 => Tensor::f32(x.shape.clone(), x.floats()),
                6 | 7 => {
                    Tensor::i64(x.shape.clone(), x.floats().into_iter().map(|v| v.trunc() as i64).collect())
                }
                t => {
                    return Err(
                        node.bad(&format!("Cast to element type {t} is not supported (float, int32, int64)"))
                    )
                }
            }
        }
        (Domain::Onnx, "Shape") => {
            let x = arg(0)?;
            Tensor::i64(vec![x.shape.len()], x.shape.iter().map(|&d| d as i64).collect())
        }
        (Domain::Onnx, "Gather") => {
            let (data, idx) = (arg(0)?, arg(1)?);
            let ax = axis(node, node.int("axis", 0)?, data.shape.len())?;
            let idx_v = idx.ints().ok_or_else(|| node.bad("indices must be integers"))?;
            let d = data.shape[ax] as i64;
            let idx_v: Vec<usize> = idx_v
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + d } else { i };
                    if (0..d).contains(&j) {
                        Ok(j as usize)
                    } else {
                        Err(node.bad(&format!("index {i} is out of range for {d}")))
                    }
                })
                .collect::<Result<_, _>>()?;
            let outer: usize = data.shape[..ax].iter().product();
            let inner: usize = data.shape[ax + 1..].iter().product();
            let mut shape = data.shape[..ax].to_vec();
            shape.extend(&idx.shape);
            shape.extend(&data.shape[ax + 1..]);
            elems(&shape, &node.describe())?;
            let pick = |o: usize, i: usize, r: usize| (o * data.shape[ax] + i) * inner + r;
            let order: Vec<usize> = (0..outer)
                .flat_map(|o| idx_v.iter().flat_map(move |&i| (0..inner).map(move |r| (o, i, r))))
                .map(|(o, i, r)| pick(o, i, r))
                .collect();
            match &data.data {
                Data::F32(v) => Tensor::f32(shape, order.iter().map(|&i| v[i]).collect()),
                Data::I64(v) => Tensor::i64(shape, order.iter().map(|&i| v[i]).collect()),
            }
        }
        (Domain::Onnx, "Unsqueeze" | "Squeeze") => {
            let x = arg(0)?;
            let axes = match ins.get(1).copied().flatten() {
                Some(t) if opset >= 13 => t.ints().ok_or_else(|| node.bad("axes must be integers"))?,
                _ => node.ints("axes")?.unwrap_or_default(),
            };
            let mut shape = x.shape.clone();
            if op == "Unsqueeze" {
                let rank = shape.len() + axes.len();
                let mut ax: Vec<usize> =
                    axes.iter().map(|&a| axis(node, a, rank)).collect::<Result<_, _>>()?;
                ax.sort_unstable();
                for a in ax {
                    shape.insert(a, 1);
                }
            } else {
                let mut ax: Vec<usize> = if axes.is_empty() {
                    (0..shape.len()).filter(|&i| shape[i] == 1).collect()
                } else {
                    axes.iter().map(|&a| axis(node, a, shape.len())).collect::<Result<_, _>>()?
                };
                ax.sort_unstable();
                for a in ax.into_iter().rev() {
                    if shape[a] != 1 {
                        return Err(node.bad(&format!("cannot squeeze axis {a} of size {}", shape[a])));
                    }
                    shape.remove(a);
                }
            }
            Tensor { shape, data: x.data.clone() }
        }
        (Domain::Onnx, "Concat") => {
            let parts: Vec<&Tensor> = ins.iter().copied().flatten().collect();
            let first = parts.first().ok_or_else(|| node.bad("no inputs"))?;
            let rank = first.shape.len();
            let ax = axis(node, node.int("axis", 0)?, rank.max(1))?;
            let outer: usize = first.shape[..ax.min(rank)].iter().product();
            let mut shape = first.shape.clone();
            if rank == 0 {
                return Err(node.bad("cannot concatenate scalars"));
            }
            shape[ax] = 0;
            for p in &parts {
                if p.shape.len() != rank
                    || p.shape.iter().enumerate().any(|(i, &d)| i != ax && d != first.shape[i])
                {
                    return Err(node.bad("inputs of different shapes"));
                }
                shape[ax] += p.shape[ax];
            }
            elems(&shape, &node.describe())?;
            let all_int = parts.iter().all(|p| matches!(p.data, Data::I64(_)));
            let chunk = |p: &Tensor, o: usize| {
                let inner: usize = p.shape[ax..].iter().product();
                o * inner..(o + 1) * inner
            };
            if all_int {
                let v: Vec<i64> = (0..outer)
                    .flat_map(|o| {
                        parts.iter().flat_map(move |p| p.ints().unwrap_or_default()[chunk(p, o)].to_vec())
                    })
                    .collect();
                Tensor::i64(shape, v)
            } else {
                let v: Vec<f32> = (0..outer)
                    .flat_map(|o| parts.iter().flat_map(move |p| p.floats()[chunk(p, o)].to_vec()))
                    .collect();
                Tensor::f32(shape, v)
            }
        }
        (Domain::Onnx, "Reshape") => {
            let x = arg(0)?;
            let target = arg(1)?.ints().ok_or_else(|| node.bad("the shape must be integers"))?;
            Tensor { shape: reshape_shape(node, &x.shape, &target)?, data: x.data.clone() }
        }
        (Domain::Onnx, "Flatten") => {
            let x = arg(0)?;
            let ax = node.int("axis", 1)?;
            let a = if ax == x.shape.len() as i64 { x.shape.len() } else { axis(node, ax, x.shape.len())? };
            let outer: usize = x.shape[..a].iter().product();
            let inner: usize = x.shape[a..].iter().product();
            Tensor { shape: vec![outer, inner], data: x.data.clone() }
        }
        (Domain::Onnx, "Transpose") => {
            let x = arg(0)?;
            let perm = transpose_perm(node, x.shape.len())?;
            match &x.data {
                Data::F32(v) => {
                    let (d, s) = transpose(v, &x.shape, &perm);
                    Tensor::f32(s, d)
                }
                Data::I64(v) => {
                    let (d, s) = transpose(v, &x.shape, &perm);
                    Tensor::i64(s, d)
                }
            }
        }
        (Domain::Onnx, "MatMul") => matmul(node, arg(0)?, arg(1)?)?,
        (Domain::Onnx, "Gemm") => gemm(node, arg(0)?, arg(1)?, ins.get(2).copied().flatten())?,
        (Domain::Onnx, "Conv") => conv(node, arg(0)?, arg(1)?, ins.get(2).copied().flatten())?,
        (Domain::Onnx, "MaxPool") => maxpool(node, arg(0)?)?,
        (Domain::Onnx, "Pad") => {
            let x = arg(0)?;
            let pads = match ins.get(1).copied().flatten() {
                Some(t) => t.ints().ok_or_else(|| node.bad("pads must be integers"))?,
                None => node.ints("pads")?.unwrap_or_default(),
            };
            let value = match ins.get(2).copied().flatten() {
                Some(t) => t.scalar().ok_or_else(|| node.bad("the constant value must be a scalar"))?,
                None => node.float("value", 0.0)?,
            };
            if node.string("mode", "constant")? != "constant" {
                return Err(node.bad("only constant padding is supported"));
            }
            pad(node, x, &pads, value)?
        }
        (Domain::Onnx, "BatchNormalization") => {
            let x = arg(0)?;
            let ax = channel_axis(node, x.shape.len())?;
            let c = x.shape[ax];
            let eps = node.float("epsilon", 1e-5)?;
            let p: Vec<Vec<f32>> = (1..5)
                .map(|i| per_channel(node, arg(i)?, c, ["scale", "bias", "mean", "var"][i - 1]))
                .collect::<Result<_, _>>()?;
            let xs = x.floats();
            let v = channels(&x.shape, ax)
                .zip(xs)
                .map(|(ch, v)| batchnorm(v, p[0][ch], p[1][ch], p[2][ch], p[3][ch], eps))
                .collect();
            Tensor::f32(x.shape.clone(), v)
        }
        (Domain::Onnx, "TopK" | "ArgMax") => {
            let x = arg(0)?;
            let ax = axis(node, node.int("axis", -1)?, x.shape.len())?;
            if x.shape.iter().enumerate().any(|(i, &d)| i != ax && d != 1) {
                return Err(
                    node.bad(&format!("{op} over a batch of one frame is supported, not {:?}", x.shape))
                );
            }
            let k = if op == "ArgMax" {
                1
            } else {
                match ins.get(1).copied().flatten() {
                    Some(t) => t.ints().and_then(|v| v.first().copied()).unwrap_or(0),
                    None => node.int("k", 1)?,
                }
            };
            if k != 1 || node.int("largest", 1)? != 1 || node.int("select_last_index", 0)? != 0 {
                return Err(
                    node.bad("only the top-1 largest value (an argmax, first index on ties) is supported")
                );
            }
            let v = x.floats();
            if v.is_empty() {
                return Err(node.bad("takes the argmax of an empty tensor"));
            }
            let best = crate::model::argmax(&v);
            let mut shape = x.shape.clone();
            shape[ax] = 1;
            if op == "ArgMax" {
                if node.int("keepdims", 1)? == 0 {
                    shape.remove(ax);
                }
                return Ok(vec![Tensor::i64(shape, vec![best as i64])]);
            }
            return Ok(vec![
                Tensor::f32(shape.clone(), vec![v[best]]),
                Tensor::i64(shape, vec![best as i64]),
            ]);
        }
        (Domain::Qonnx, "BipolarQuant") => {
            let s = scalar(1, "the scale")?;
            map(arg(0)?, |v| bipolar(v, s))
        }
        (Domain::Qonnx, "Quant" | "IntQuant") => {
            let spec = quant_spec(node, scalar(3, "the bit width")?)?;
            let (s, z) = (scalar(1, "the scale")?, scalar(2, "the zero point")?);
            map(arg(0)?, |v| spec.apply(v, s, z))
        }
        (Domain::Qonnx, "MultiThreshold") => {
            let (x, t) = (arg(0)?, arg(1)?);
            let ax = threshold_axis(node, x.shape.len())?;
            let c = x.shape[ax];
            let [tc, tb] = t.shape[..] else {
                return Err(node.bad("thresholds must be 2-D (channels, steps)"));
            };
            if tc != c && tc != 1 {
                return Err(node.bad(&format!("thresholds for {tc} channels, input has {c}")));
            }
            let tv = t.floats();
            let (scale, bias) = (node.float("out_scale", 1.0)?, node.float("out_bias", 0.0)?);
            let v = channels(&x.shape, ax)
                .zip(x.floats())
                .map(|(ch, v)| {
                    let row = if tc == 1 { 0 } else { ch };
                    multithreshold(v, &tv[row * tb..(row + 1) * tb], scale, bias)
                })
                .collect();
            Tensor::f32(x.shape.clone(), v)
        }
        _ => return Err(unsupported(node)),
    };
    Ok(vec![out])
}

/// The error for an operator outside the supported subset.
pub fn unsupported(node: &Node) -> OnnxError {
    node.bad(&format!("is not supported. {SUPPORTED}"))
}

/// The supported subset, as error messages list it.
pub const SUPPORTED: &str =
    "xnorflow imports: ONNX Add, Sub, Mul, Div, Pow, Max, Min, Relu, Neg, Sqrt, Floor, \
Round, Sign, Clip, Cast, Identity, Dropout, Shape, Gather, Unsqueeze, Squeeze, Concat, Reshape, Flatten, \
Transpose, MatMul, Gemm, Conv, MaxPool, Pad, BatchNormalization, TopK, ArgMax; QONNX/FINN BipolarQuant, \
Quant (IntQuant), MultiThreshold (domains qonnx.custom_op.general, onnx.brevitas, finn.custom_op.general)";

fn pad(node: &Node, x: &Tensor, pads: &[i64], value: f32) -> Result<Tensor, OnnxError> {
    let r = x.shape.len();
    if pads.len() != 2 * r || pads.iter().any(|&p| !(0..=4096).contains(&p)) {
        return Err(node.bad(&format!("pads {pads:?}: {} values from 0 to 4096 expected", 2 * r)));
    }
    let shape: Vec<usize> = (0..r).map(|i| x.shape[i] + pads[i] as usize + pads[i + r] as usize).collect();
    let n = elems(&shape, &node.describe())?;
    let xs = x.floats();
    let st = strides(&shape);
    let mut out = vec![value; n];
    let mut pos = vec![0usize; r];
    for v in xs {
        let dst: usize = (0..r).map(|i| (pos[i] + pads[i] as usize) * st[i]).sum();
        out[dst] = v;
        for d in (0..r).rev() {
            pos[d] += 1;
            if pos[d] < x.shape[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    Ok(Tensor::f32(shape, out))
}

/// Runs `graph` on `input`; returns every tensor computed (by name), constants included.
pub fn run(graph: &Graph, input: Tensor) -> Result<HashMap<String, Tensor>, OnnxError> {
    let mut values: HashMap<String, Tensor> = HashMap::new();
    values.insert(graph.input.clone(), input);
    for node in &graph.nodes {
        let outs = {
            let ins: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|n| if n.is_empty() { None } else { values.get(n).or_else(|| graph.consts.get(n)) })
                .collect();
            eval_node(node, &ins, graph.opset)?
        };
        for (name, t) in node.outputs.iter().zip(outs) {
            if !name.is_empty() {
                values.insert(name.clone(), t);
            }
        }
    }
    Ok(values)
}

/// Runs `graph` on `input` and returns its output tensor.
pub fn output(graph: &Graph, input: Tensor) -> Result<Tensor, OnnxError> {
    let mut v = run(graph, input)?;
    v.remove(&graph.output)
        .or_else(|| graph.consts.get(&graph.output).cloned())
        .ok_or_else(|| OnnxError::Invalid(format!("the output \"{}\" is never computed", graph.output)))
}

/// Folds every node whose inputs are all constants (including `Shape` of the input, whose shape is
/// static) into [`Graph::consts`]; returns the nodes left, which all depend on the input.
pub fn fold_constants(graph: &mut Graph) -> Result<(), OnnxError> {
    let original = std::mem::take(&mut graph.nodes);
    let mut kept = Vec::new();
    // Shapes of the dynamic tensors, from one run on zeros, made the first time a Shape needs one.
    let mut shapes: Option<HashMap<String, Vec<usize>>> = None;
    for node in &original {
        let shape_of_dynamic = node.op == "Shape"
            && node.domain == Domain::Onnx
            && node.inputs.len() == 1
            && !graph.consts.contains_key(&node.inputs[0]);
        let constant =
            shape_of_dynamic || node.inputs.iter().all(|n| n.is_empty() || graph.consts.contains_key(n));
        if !constant {
            kept.push(node.clone());
            continue;
        }
        let outs = if shape_of_dynamic {
            if shapes.is_none() {
                let probe =
                    Tensor::f32(graph.input_shape.clone(), vec![0.0; graph.input_shape.iter().product()]);
                let g = Graph { nodes: original.clone(), ..graph.clone() };
                shapes = Some(run(&g, probe)?.into_iter().map(|(k, v)| (k, v.shape)).collect());
            }
            let s = shapes
                .as_ref()
                .and_then(|m| m.get(&node.inputs[0]))
                .ok_or_else(|| node.bad("its input is not computed before it"))?;
            vec![Tensor::i64(vec![s.len()], s.iter().map(|&d| d as i64).collect())]
        } else {
            let ins: Vec<Option<&Tensor>> =
                node.inputs.iter().map(|n| if n.is_empty() { None } else { graph.consts.get(n) }).collect();
            eval_node(node, &ins, graph.opset)?
        };
        for (name, t) in node.outputs.iter().zip(outs) {
            if !name.is_empty() {
                graph.consts.insert(name.clone(), t);
            }
        }
    }
    graph.nodes = kept;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::graph::Attr;
    use std::collections::BTreeMap;

    fn node(op: &str, attrs: Vec<(&str, Attr)>) -> Node {
        Node {
            name: "n".into(),
            op: op.into(),
            domain_name: String::new(),
            domain: Domain::Onnx,
            inputs: vec![],
            outputs: vec![],
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn rounding_modes_are_qonnx_s() {
        use Rounding::*;
        let cases = [
            (HalfEven, [2.5, -2.5, 1.5, -0.5], [2.0, -2.0, 2.0, -0.0]),
            (HalfUp, [2.5, -2.5, 1.4, -1.6], [3.0, -3.0, 1.0, -2.0]),
            (HalfDown, [2.5, -2.5, 1.6, -1.4], [2.0, -2.0, 2.0, -1.0]),
            (Up, [2.1, -2.1, 3.0, 0.0], [3.0, -3.0, 3.0, 0.0]),
            (Down, [2.9, -2.9, 3.0, -0.2], [2.0, -2.0, 3.0, -0.0]),
            (Floor, [2.9, -2.1, 3.0, -0.2], [2.0, -3.0, 3.0, -1.0]),
            (Ceil, [2.1, -2.9, 3.0, 0.2], [3.0, -2.0, 3.0, 1.0]),
        ];
        for (mode, xs, want) in cases {
            for (x, w) in xs.iter().zip(want) {
                assert_eq!(mode.apply(*x), w, "{mode:?}({x})");
            }
        }
    }

    #[test]
    fn quant_clamps_before_rounding_and_one_signed_bit_is_bipolar() {
        let q8 = QuantSpec { bits: 8, signed: true, narrow: false, rounding: Rounding::HalfEven };
        // BNN-PYNQ CNV's input: 128 * (2v/255 - 1), clamped to [-128, 127], rounded.
        assert_eq!(q8.level(1.0, 1.0 / 128.0, 0.0), 127.0);
        assert_eq!(q8.level(-1.0, 1.0 / 128.0, 0.0), -128.0);
        assert_eq!(q8.level(0.5 / 128.0, 1.0 / 128.0, 0.0), 0.0);
        let narrow = QuantSpec { narrow: true, ..q8 };
        assert_eq!(narrow.level(-1.0, 1.0 / 128.0, 0.0), -127.0);
        let u4 = QuantSpec { bits: 4, signed: false, narrow: false, rounding: Rounding::Floor };
        assert_eq!(u4.range(), (0.0, 15.0));
        let b1 = QuantSpec { bits: 1, signed: true, narrow: false, rounding: Rounding::HalfEven };
        assert_eq!(
            (b1.apply(0.0, 0.5, 0.0), b1.apply(-1e-30, 0.5, 0.0), b1.apply(3.0, 0.5, 0.0)),
            (0.5, -0.5, 0.5)
        );
    }

    #[test]
    fn multithreshold_finds_its_channel_axis_as_qonnx_does() {
        let n = |layout: Option<&str>| {
            node("MultiThreshold", layout.map(|l| ("data_layout", Attr::Str(l.into()))).into_iter().collect())
        };
        assert_eq!(threshold_axis(&n(None), 2).ok(), Some(1));
        assert_eq!(threshold_axis(&n(None), 3).ok(), Some(2));
        assert_eq!(threshold_axis(&n(None), 4).ok(), Some(1));
        assert_eq!(threshold_axis(&n(Some("NHWC")), 4).ok(), Some(3));
        assert_eq!(threshold_axis(&n(Some("NC")), 2).ok(), Some(1));
        assert!(threshold_axis(&n(Some("NHWC")), 2).is_err());
        // Counting: out_scale * #(x >= t) + out_bias.
        assert_eq!(multithreshold(2.0, &[1.0, 2.0, 3.0], 2.0, -1.0), 3.0);
    }

    #[test]
    fn batchnorm_is_onnxruntime_s_fused_form() {
        let (g, b, m, v, e) = (0.7f32, 0.1f32, 0.37f32, 2.3f32, 1e-5f32);
        let inv = 1.0 / (v + e).sqrt();
        let s = inv * g;
        assert_eq!(batchnorm(5.0, g, b, m, v, e), 5.0 * s + (b - m * s));
        assert_eq!(batchnorm(m, 1.0, 0.0, m, 1.0 - e, e), m * 1.0 + (0.0 - m * 1.0));
    }
}
