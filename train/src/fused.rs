//! Fused CPU kernels for the work every step does on whole weight matrices: the binarizing sign
//! with its surrogate gradient, and Libra-PB's per-row standardization; and for conv layers the
//! 3x3 convolution (im2col and one matrix product), training-mode BatchNorm and the 2x2 max-pool
//! whose gradient tied maxima share. candle's own conv and its reductions over strided dimensions
//! made a small conv net train at a quarter of this speed.
//!
//! Written as a chain of framework operations, each of these is five to fifteen passes over the
//! weights with an allocation per pass, forward and backward. On LFC's 1024 x 1024 matrices that
//! cost more than the matrix products themselves, because the weight work does not shrink with the
//! batch. Here each is one pass forward and one backward, split across threads. The maths is
//! exactly that of reference.md section 1; `tests/methods.rs` checks values and gradients against
//! hand-computed ones and finite differences.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use num_traits::Float;
use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs nothing next to the work.
const CHUNK: usize = 1 << 14;

/// The backward of a binarizing sign: the derivative of the method's smooth stand-in `g`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Surrogate {
    /// Clipped identity: 1 where |x| <= 1 (boundaries included), else 0.
    Ste,
    /// Bi-Real's ApproxSign: 2 - 2|x| on [-1, 1], else 0.
    ApproxSign,
    /// IR-Net's EDE: d/dx k tanh(t x) = k t (1 - tanh(t x)^2).
    Ede {
        /// Gain k.
        k: f64,
        /// Sharpness t.
        t: f64,
    },
    /// IR-Net's activations: EDE behind the Hardtanh the official code puts before every binary
    /// activation, so `k t (1 - tanh(t x)^2)` where |x| <= 1 (boundaries included, as [`Surrogate::Ste`])
    /// and 0 elsewhere. The forward is unchanged: sign(hardtanh(x)) = sign(x).
    HardtanhEde {
        /// Gain k.
        k: f64,
        /// Sharpness t.
        t: f64,
    },
}

impl Surrogate {
    /// `g'(x)`, in the precision of `x`.
    pub fn derivative<T: Float>(self, x: T) -> T {
        let one = T::one();
        let c = |v: f64| T::from(v).unwrap_or(one);
        match self {
            Surrogate::Ste => {
                if x.abs() <= one {
                    one
                } else {
                    T::zero()
                }
            }
            Surrogate::ApproxSign => {
                if x.abs() <= one {
                    c(2.0) - c(2.0) * x.abs()
                } else {
                    T::zero()
                }
            }
            Surrogate::Ede { k, t } => {
                // 1 - tanh(u)^2 = 4a / (1 + a)^2 with a = exp(-2|u|): one exp instead of tanh's
                // expm1 and division, on every weight at every step.
                let a = (c(-2.0 * t) * x.abs()).exp();
                c(4.0 * k * t) * a / ((one + a) * (one + a))
            }
            Surrogate::HardtanhEde { k, t } => {
                if x.abs() <= one {
                    Surrogate::Ede { k, t }.derivative(x)
                } else {
                    T::zero()
                }
            }
        }
    }
}

/// The contiguous elements of a tensor's storage, or an error naming the op.
fn slice<'a, T: WithDType>(s: &'a [T], l: &Layout, op: &str) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s[a..b]),
        None => candle_core::bail!("{op}: needs a contiguous tensor"),
    }
}

/// Applies `f` to each element of `x` (in parallel).
fn map1<T: WithDType>(x: &[T], f: impl Fn(T) -> T + Sync) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = f(x);
        }
    });
    out
}

/// Applies `f` to each pair of elements of `a` and `b` (in parallel).
fn map2<T: WithDType>(a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
    let mut out = vec![T::zero(); a.len()];
    out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(o, (a, b))| {
        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
            *o = f(a, b);
        }
    });
    out
}

/// Dispatches a one-input kernel on f32 / f64 storage.
macro_rules! float_storage {
    ($s:expr, $op:expr, |$v:ident| $body:expr) => {
        match $s {
            CpuStorage::F32($v) => CpuStorage::F32($body),
            CpuStorage::F64($v) => CpuStorage::F64($body),
            other => candle_core::bail!("{}: f32 or f64 only, got {:?}", $op, other.dtype()),
        }
    };
}

/// Dispatches a two-input kernel on f32 / f64 storage of the same type.
macro_rules! float_storage2 {
    ($a:expr, $b:expr, $op:expr, |$x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (CpuStorage::F32($x), CpuStorage::F32($y)) => CpuStorage::F32($body),
            (CpuStorage::F64($x), CpuStorage::F64($y)) => CpuStorage::F64($body),
            (a, b) => {
                candle_core::bail!("{}: f32 or f64 of one type, got {:?} and {:?}", $op, a.dtype(), b.dtype())
            }
        }
    };
}

/// Dispatches a three-input kernel on f32 / f64 storage of one type.
macro_rules! float_storage3 {
    ($a:expr, $b:expr, $c:expr, $op:expr, |$x:ident, $y:ident, $z:ident| $body:expr) => {
        match ($a, $b, $c) {
            (CpuStorage::F32($x), CpuStorage::F32($y), CpuStorage::F32($z)) => CpuStorage::F32($body),
            (CpuStorage::F64($x), CpuStorage::F64($y), CpuStorage::F64($z)) => CpuStorage::F64($body),
            (a, ..) => candle_core::bail!("{}: f32 or f64 of one type, got {:?}", $op, a.dtype()),
        }
    };
}

/// Forward: the hardware's sign (+1 where x >= 0, else -1, so sign(0) = +1), exactly +-1 in the
/// input's type. Backward: the surrogate's derivative times the incoming gradient.
struct SignOp(Surrogate);

impl CustomOp1 for SignOp {
    fn name(&self) -> &'static str {
        "binary-sign"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn sign<T: WithDType + Float>(x: &[T]) -> Vec<T> {
            map1(x, |v| if v >= T::zero() { T::one() } else { -T::one() })
        }
        let out = float_storage!(s, self.name(), |v| sign(slice(v, l, self.name())?));
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &SignGrad(self.0))?))
    }
}

/// `g'(arg) * grad`, elementwise.
struct SignGrad(Surrogate);

impl CustomOp2 for SignGrad {
    fn name(&self) -> &'static str {
        "binary-sign-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn grad<T: WithDType + Float>(x: &[T], g: &[T], s: Surrogate) -> Vec<T> {
            map2(x, g, |x, g| s.derivative(x) * g)
        }
        let n = self.name();
        let out = float_storage2!(s1, s2, n, |x, g| grad(slice(x, l1, n)?, slice(g, l2, n)?, self.0));
        Ok((out, l1.shape().clone()))
    }
}

/// `sign(x)` forward (sign(0) = +1, exactly +-1), `surrogate`'s derivative backward.
pub fn binary_sign(x: &Tensor, surrogate: Surrogate) -> Result<Tensor> {
    x.contiguous()?.apply_op1(SignOp(surrogate))
}

/// The integer level of a k-bit activation with largest level `m`: `round(clamp(x, -1, 1) * m)`,
/// ties rounded away from zero (`Float::round`), so that `level(-x) = -level(x)` and every level
/// but the outermost covers an interval of width `1 / m`. Training, inference and export all call
/// this one function, which is what makes the exported thresholds exact at the ties too.
pub fn act_level<T: Float>(x: T, m: T) -> T {
    let one = T::one();
    (x.max(-one).min(one) * m).round()
}

/// Forward: the k-bit level [`act_level`] of each element, divided by `m` when `real` (the
/// activation's value in training) or left an integer (inference, whose next layer divides its
/// exact integer dot products by `m` instead; and a residual network's integer stream in
/// training too). Backward: straight-through on the clip range, the derivative of `clamp(x, -1, 1)`
/// (1 where |x| <= 1, else 0) for the value, `m` times that for the integer level.
struct LevelOp {
    m: f64,
    real: bool,
}

impl CustomOp1 for LevelOp {
    fn name(&self) -> &'static str {
        "act-level"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType + Float>(x: &[T], m: f64, real: bool) -> Vec<T> {
            let m = T::from(m).unwrap_or(T::one());
            if real {
                map1(x, |v| act_level(v, m) / m)
            } else {
                map1(x, |v| act_level(v, m))
            }
        }
        let out = float_storage!(s, self.name(), |v| run(slice(v, l, self.name())?, self.m, self.real));
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = arg.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &SignGrad(Surrogate::Ste))?;
        Ok(Some(if self.real { g } else { g.affine(self.m, 0.0)? }))
    }
}

/// A k-bit activation with largest level `m` (`m = 2^(k-1) - 1`): forward `act_level(x) / m` when
/// `real`, else the integer `act_level(x)`; backward where |x| <= 1 the derivative of
/// `clamp(x, -1, 1)` (1), or of `clamp(x, -1, 1) * m` (m) for the integer, else 0.
pub fn act_quantize(x: &Tensor, m: i32, real: bool) -> Result<Tensor> {
    if m < 1 {
        candle_core::bail!("act-level: the largest level must be at least 1, got {m}");
    }
    x.contiguous()?.apply_op1(LevelOp { m: f64::from(m), real })
}

/// Saturation to `[lo, hi]`: forward `clamp(x, lo, hi)`, backward straight-through inside the
/// range (boundaries included) and 0 where the value was clamped.
struct Saturate {
    lo: f64,
    hi: f64,
}

impl CustomOp1 for Saturate {
    fn name(&self) -> &'static str {
        "saturate"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType + Float>(x: &[T], lo: f64, hi: f64) -> Vec<T> {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            map1(x, |v| Float::min(Float::max(v, lo), hi))
        }
        let out = float_storage!(s, self.name(), |v| run(slice(v, l, self.name())?, self.lo, self.hi));
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = arg.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &SaturateGrad(self.lo, self.hi))?;
        Ok(Some(g))
    }
}

/// The gradient of [`Saturate`] (`lo`, `hi`) from its input and its output's gradient.
struct SaturateGrad(f64, f64);

impl CustomOp2 for SaturateGrad {
    fn name(&self) -> &'static str {
        "saturate-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn grad<T: WithDType + Float>(x: &[T], g: &[T], lo: f64, hi: f64) -> Vec<T> {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            map2(x, g, |x, g| if x >= lo && x <= hi { g } else { T::zero() })
        }
        let n = self.name();
        let out = float_storage2!(s1, s2, n, |x, g| grad(slice(x, l1, n)?, slice(g, l2, n)?, self.0, self.1));
        Ok((out, l1.shape().clone()))
    }
}

/// `clamp(x, lo, hi)` forward; backward the gradient where `lo <= x <= hi`, 0 elsewhere (a
/// residual add saturating to its stream's type, straight-through inside the range).
pub fn saturate(x: &Tensor, lo: f64, hi: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Saturate { lo, hi })
}

/// The floor under a row's variance: a constant row would be 0 / 0; this keeps it 0 instead of NaN.
const VAR_FLOOR: f64 = 1e-20;

/// One row's mean and `sigma = sqrt(sum (w - mean)^2 / (n - 1) + floor)`, accumulated in f64.
fn row_stats<T: WithDType>(row: &[T]) -> (f64, f64) {
    let n = row.len();
    let mean = row.iter().map(|v| v.to_f64()).sum::<f64>() / n.max(1) as f64;
    let ss: f64 = row.iter().map(|v| (v.to_f64() - mean).powi(2)).sum();
    (mean, (ss / (n.max(2) - 1) as f64 + VAR_FLOOR).sqrt())
}

/// Libra-PB's balance and standardization of each row of a `[rows, n]` matrix.
struct Standardize;

impl CustomOp1 for Standardize {
    fn name(&self) -> &'static str {
        "libra-standardize"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = l.dims().last().copied().unwrap_or(1).max(1);
        fn run<T: WithDType>(w: &[T], n: usize) -> Vec<T> {
            let mut out = vec![T::zero(); w.len()];
            out.par_chunks_mut(n).zip(w.par_chunks(n)).for_each(|(o, row)| {
                let (mean, sigma) = row_stats(row);
                for (o, v) in o.iter_mut().zip(row) {
                    *o = T::from_f64((v.to_f64() - mean) / sigma);
                }
            });
            out
        }
        let out = float_storage!(s, self.name(), |v| run(slice(v, l, self.name())?, n));
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &StandardizeGrad)?))
    }
}

/// The gradient of [`Standardize`]: with `c = w - mean`, `sigma^2 = sum c^2 / (n - 1) + floor`,
/// `dw_i = (dy_i - mean(dy)) / sigma - c_i * sum_j(dy_j c_j) / ((n - 1) sigma^3)`.
struct StandardizeGrad;

impl CustomOp2 for StandardizeGrad {
    fn name(&self) -> &'static str {
        "libra-standardize-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let n = l1.dims().last().copied().unwrap_or(1).max(1);
        fn run<T: WithDType>(w: &[T], dy: &[T], n: usize) -> Vec<T> {
            let mut out = vec![T::zero(); w.len()];
            out.par_chunks_mut(n).zip(w.par_chunks(n).zip(dy.par_chunks(n))).for_each(|(o, (row, dy))| {
                let (mean, sigma) = row_stats(row);
                let dy_mean = dy.iter().map(|g| g.to_f64()).sum::<f64>() / n as f64;
                let s: f64 = row.iter().zip(dy).map(|(v, g)| (v.to_f64() - mean) * g.to_f64()).sum();
                let k = s / ((n.max(2) - 1) as f64 * sigma.powi(3));
                for ((o, v), g) in o.iter_mut().zip(row).zip(dy) {
                    *o = T::from_f64((g.to_f64() - dy_mean) / sigma - (v.to_f64() - mean) * k);
                }
            });
            out
        }
        let name = self.name();
        let out = float_storage2!(s1, s2, name, |w, g| run(slice(w, l1, name)?, slice(g, l2, name)?, n));
        Ok((out, l1.shape().clone()))
    }
}

/// Libra-PB's balance and standardization of each row of `w` (`[out, n]`): `(w - mean) / std`,
/// std with n - 1, with its exact gradient.
pub fn standardize_rows(w: &Tensor) -> Result<Tensor> {
    if w.rank() != 2 {
        candle_core::bail!("libra-standardize: a [rows, n] matrix, got {:?}", w.dims());
    }
    w.contiguous()?.apply_op1(Standardize)
}

/// Per-channel batch mean and biased variance of a contiguous `[n, c, plane]` buffer (channels in
/// dimension 1), accumulated in f64.
fn channel_stats<T: WithDType>(y: &[T], c: usize, plane: usize) -> Vec<(f64, f64)> {
    let n = y.len() / (c * plane).max(1);
    let count = (n * plane).max(1) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let values = || (0..n).flat_map(move |i| &y[(i * c + ch) * plane..][..plane]).map(|v| v.to_f64());
            let mean = values().sum::<f64>() / count;
            let var = values().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
            (mean, var)
        })
        .collect()
}

/// `(c, plane)` of a `[n, c, ...]` layout.
fn channels_and_plane(l: &Layout) -> (usize, usize) {
    let dims = l.dims();
    (dims.get(1).copied().unwrap_or(1), dims.iter().skip(2).product())
}

/// Training-mode BatchNorm over every dimension but 1, with the batch statistics it was built with:
/// `z = (y - mean) / sqrt(var + eps) * gamma + beta`. Forward and backward are one pass each over
/// `y`, where the same maths composed of framework ops reduces over strided dimensions, which on
/// conv activations cost more than the convolutions.
struct BatchNormTrain {
    /// Per channel: batch mean and `1 / sqrt(var + eps)` (biased variance).
    stats: Vec<(f64, f64)>,
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (c, plane) = channels_and_plane(l1);
        fn run<T: WithDType>(y: &[T], g: &[T], b: &[T], st: &[(f64, f64)], c: usize, plane: usize) -> Vec<T> {
            let mut out = vec![T::zero(); y.len()];
            out.par_chunks_mut(plane.max(1)).zip(y.par_chunks(plane.max(1))).enumerate().for_each(
                |(j, (o, y))| {
                    let ch = j % c;
                    let ((mean, inv), g, b) = (st[ch], g[ch].to_f64(), b[ch].to_f64());
                    for (o, v) in o.iter_mut().zip(y) {
                        *o = T::from_f64((v.to_f64() - mean) * inv * g + b);
                    }
                },
            );
            out
        }
        let n = self.name();
        let st = &self.stats;
        let out = float_storage3!(s1, s2, s3, n, |y, g, b| {
            run(slice(y, l1, n)?, slice(g, l2, n)?, slice(b, l3, n)?, st, c, plane)
        });
        Ok((out, l1.shape().clone()))
    }

    /// With `x = (y - mean) * inv` over a channel's `m` values: `dbeta = sum dz`,
    /// `dgamma = sum dz x`, `dy = gamma inv (dz - dbeta / m - x dgamma / m)`.
    fn bwd(
        &self,
        y: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        dz: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (c, plane) = channels_and_plane(y.layout());
        let vals = |t: &Tensor| t.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>();
        let (yv, dzv, g) = (vals(y)?, vals(dz)?, vals(gamma)?);
        let count = (yv.len() / c.max(1)).max(1) as f64;
        let st = &self.stats;
        // Per channel: (sum dz, sum dz x).
        let sums: Vec<(f64, f64)> = channel_stats_with(&yv, &dzv, c, plane, st);
        let mut dy = vec![0f64; yv.len()];
        dy.par_chunks_mut(plane.max(1))
            .zip(yv.par_chunks(plane.max(1)).zip(dzv.par_chunks(plane.max(1))))
            .enumerate()
            .for_each(|(j, (o, (y, dz)))| {
                let ch = j % c;
                let ((mean, inv), (sb, sg)) = (st[ch], sums[ch]);
                let k = g[ch] * inv;
                for ((o, &y), &dz) in o.iter_mut().zip(y).zip(dz) {
                    *o = k * (dz - sb / count - (y - mean) * inv * sg / count);
                }
            });
        let dev = y.device();
        let dtype = y.dtype();
        let dy = Tensor::from_vec(dy, y.shape(), dev)?.to_dtype(dtype)?;
        let dgamma =
            Tensor::from_vec(sums.iter().map(|s| s.1).collect::<Vec<_>>(), c, dev)?.to_dtype(dtype)?;
        let dbeta =
            Tensor::from_vec(sums.iter().map(|s| s.0).collect::<Vec<_>>(), c, dev)?.to_dtype(dtype)?;
        Ok((Some(dy), Some(dgamma), Some(dbeta)))
    }
}

/// Per channel of `[n, c, plane]` buffers: `(sum dz, sum dz (y - mean) inv)`.
fn channel_stats_with(y: &[f64], dz: &[f64], c: usize, plane: usize, st: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let n = y.len() / (c * plane).max(1);
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mean, inv) = st[ch];
            (0..n).fold((0.0, 0.0), |(sb, sg), i| {
                let at = (i * c + ch) * plane;
                let (y, dz) = (&y[at..][..plane], &dz[at..][..plane]);
                y.iter().zip(dz).fold((sb, sg), |(sb, sg), (&y, &g)| (sb + g, sg + g * (y - mean) * inv))
            })
        })
        .collect()
}

/// Training-mode BatchNorm of `y` (`[n, c, ...]`, channels in dimension 1) with batch statistics,
/// `eps` added to the biased variance; returns the output and, per channel, the batch mean and
/// biased variance (for the running statistics).
pub fn batch_norm_train(
    y: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Vec<(f64, f64)>)> {
    let y = y.contiguous()?;
    if y.rank() < 2 || gamma.dims() != [y.dim(1)?] || beta.dims() != [y.dim(1)?] {
        candle_core::bail!(
            "batch-norm-train: y [n, c, ...] with gamma and beta [c], got {:?}, {:?}, {:?}",
            y.dims(),
            gamma.dims(),
            beta.dims()
        );
    }
    let (c, plane) = channels_and_plane(y.layout());
    let moments: Vec<(f64, f64)> = {
        let v = y.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
        channel_stats(&v, c, plane)
    };
    let stats = moments.iter().map(|&(m, v)| (m, 1.0 / (v + eps).sqrt())).collect();
    let z = y.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, BatchNormTrain { stats })?;
    Ok((z, moments))
}

/// The 3x3 patches (at the stride it holds) of an `[n, c, h, w]` tensor as the rows of an
/// `[n * ho * wo, c * 9]` matrix (`ho = (h - 3) / stride + 1`, likewise `wo`), columns in
/// `(c, ky, kx)` order (the order of a `[out, c, 3, 3]` kernel's rows), so that a convolution is
/// one matrix product. Backward adds each patch gradient back where the patch came from.
struct Im2Col(usize);

/// `(n, c, h, w, ho, wo)` of an im2col input layout at `stride`.
fn im2col_dims(l: &Layout, stride: usize) -> Result<(usize, usize, usize, usize, usize, usize)> {
    match *l.dims() {
        [n, c, h, w] if h >= 3 && w >= 3 && stride >= 1 => {
            Ok((n, c, h, w, (h - 3) / stride + 1, (w - 3) / stride + 1))
        }
        ref d => candle_core::bail!("im2col-3x3: [n, c, h >= 3, w >= 3] and a stride, got {d:?}"),
    }
}

/// Where tap `k` (`ky * 3 + kx`) of output `(oy, ox)` lies in a row-major plane `w` wide.
fn tap(w: usize, stride: usize, oy: usize, ox: usize, k: usize) -> usize {
    (oy * stride + k / 3) * w + ox * stride + k % 3
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col-3x3"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let stride = self.0;
        let (n, c, h, w, ho, wo) = im2col_dims(l, stride)?;
        fn run<T: WithDType>(
            x: &[T],
            c: usize,
            h: usize,
            w: usize,
            ho: usize,
            wo: usize,
            s: usize,
        ) -> Vec<T> {
            let mut out = vec![T::zero(); x.len() / (c * h * w).max(1) * ho * wo * c * 9];
            out.par_chunks_mut(ho * wo * c * 9).zip(x.par_chunks(c * h * w)).for_each(|(o, x)| {
                for (p, row) in o.chunks_mut(c * 9).enumerate() {
                    let (oy, ox) = (p / wo, p % wo);
                    for (ci, taps) in row.chunks_mut(9).enumerate() {
                        let plane = &x[ci * h * w..];
                        for (k, t) in taps.iter_mut().enumerate() {
                            *t = plane[tap(w, s, oy, ox, k)];
                        }
                    }
                }
            });
            out
        }
        let out = float_storage!(s, self.name(), |v| run(slice(v, l, self.name())?, c, h, w, ho, wo, stride));
        Ok((out, Shape::from((n * ho * wo, c * 9))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dims = arg.dims4()?;
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Col2Im(dims, self.0))?))
    }
}

/// The gradient of [`Im2Col`] (input dims, stride): patch rows summed back into an
/// `[n, c, h, w]` tensor.
struct Col2Im((usize, usize, usize, usize), usize);

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im-3x3"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = self.0;
        let stride = self.1;
        let (ho, wo) = ((h - 3) / stride + 1, (w - 3) / stride + 1);
        if l.dims() != [n * ho * wo, c * 9] {
            candle_core::bail!("col2im-3x3: [{}, {}], got {:?}", n * ho * wo, c * 9, l.dims());
        }
        fn run<T: WithDType>(
            g: &[T],
            dims: (usize, usize, usize, usize),
            ho: usize,
            wo: usize,
            s: usize,
        ) -> Vec<T> {
            let (n, c, h, w) = dims;
            let mut out = vec![T::zero(); n * c * h * w];
            out.par_chunks_mut(c * h * w).zip(g.par_chunks(ho * wo * c * 9)).for_each(|(dx, g)| {
                for (p, row) in g.chunks(c * 9).enumerate() {
                    let (oy, ox) = (p / wo, p % wo);
                    for (ci, taps) in row.chunks(9).enumerate() {
                        let plane = &mut dx[ci * h * w..];
                        for (k, &t) in taps.iter().enumerate() {
                            plane[tap(w, s, oy, ox, k)] += t;
                        }
                    }
                }
            });
            out
        }
        let out = float_storage!(s, self.name(), |v| run(slice(v, l, self.name())?, self.0, ho, wo, stride));
        Ok((out, Shape::from(self.0)))
    }
}

/// The 3x3, stride-1, unpadded convolution of `x` (`[n, c, h, w]`) with `k` (`[out, c, 3, 3]`):
/// `[n, out, h - 2, w - 2]`, as one matrix product over im2col patches.
pub fn conv3x3(x: &Tensor, k: &Tensor) -> Result<Tensor> {
    conv3x3_strided(x, k, 1)
}

/// The 3x3, unpadded convolution of `x` (`[n, c, h, w]`) with `k` (`[out, c, 3, 3]`) at `stride`:
/// `[n, out, (h - 3) / stride + 1, (w - 3) / stride + 1]`, windows starting at multiples of the
/// stride (the model IR's convolution), as one matrix product over im2col patches.
pub fn conv3x3_strided(x: &Tensor, k: &Tensor, stride: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (out, kc, kh, kw) = k.dims4()?;
    if (kc, kh, kw) != (c, 3, 3) {
        candle_core::bail!("conv3x3: kernel [out, {c}, 3, 3], got {:?}", k.dims());
    }
    let cols = x.contiguous()?.apply_op1(Im2Col(stride))?;
    // The op has checked h, w >= 3 and stride >= 1.
    let (ho, wo) = ((h - 3) / stride + 1, (w - 3) / stride + 1);
    cols.matmul(&k.reshape((out, c * 9))?.t()?)?
        .reshape((n, ho, wo, out))?
        .permute((0, 3, 1, 2))?
        .contiguous()
}

/// 2x2, stride-2 max-pool of an `[n, c, h, w]` tensor (odd edges dropped) whose gradient is shared
/// equally by a window's maxima: on +-1 activations ties are the rule, and a window's gradient
/// must neither grow nor shrink with the number of maxima.
struct MaxPoolSplitTies;

/// `(h, w)` of an `[n, c, h, w]` layout with both at least 2, and the pooled `(h / 2, w / 2)`.
fn pool_dims(l: &Layout) -> Result<(usize, usize, usize, usize)> {
    match *l.dims() {
        [_, _, h, w] if h >= 2 && w >= 2 => Ok((h, w, h / 2, w / 2)),
        ref d => candle_core::bail!("max-pool-2x2: [n, c, h >= 2, w >= 2], got {d:?}"),
    }
}

/// The four taps of output `(oy, ox)` of a 2x2 pool over a row-major plane `w` wide.
fn window(w: usize, oy: usize, ox: usize) -> [usize; 4] {
    let at = 2 * oy * w + 2 * ox;
    [at, at + 1, at + w, at + w + 1]
}

impl CustomOp1 for MaxPoolSplitTies {
    fn name(&self) -> &'static str {
        "max-pool-2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (h, w, ho, wo) = pool_dims(l)?;
        fn run<T: WithDType + Float>(x: &[T], h: usize, w: usize, ho: usize, wo: usize) -> Vec<T> {
            let mut out = vec![T::zero(); x.len() / (h * w) * ho * wo];
            out.par_chunks_mut(ho * wo).zip(x.par_chunks(h * w)).for_each(|(o, x)| {
                for (p, o) in o.iter_mut().enumerate() {
                    *o = window(w, p / wo, p % wo).iter().map(|&i| x[i]).fold(T::neg_infinity(), Float::max);
                }
            });
            out
        }
        let out = float_storage!(s, self.name(), |v| run(slice(v, l, self.name())?, h, w, ho, wo));
        let d = l.dims();
        Ok((out, Shape::from((d[0], d[1], ho, wo))))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let x = arg.contiguous()?;
        Ok(Some(x.apply_op3_no_bwd(&res.contiguous()?, &grad.contiguous()?, &MaxPoolGrad)?))
    }
}

/// The gradient of [`MaxPoolSplitTies`] from its input, its output and the output's gradient.
struct MaxPoolGrad;

impl CustomOp3 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "max-pool-2x2-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (h, w, ho, wo) = pool_dims(l1)?;
        fn run<T: WithDType>(x: &[T], m: &[T], g: &[T], h: usize, w: usize, ho: usize, wo: usize) -> Vec<T> {
            let mut dx = vec![T::zero(); x.len()];
            dx.par_chunks_mut(h * w)
                .zip(x.par_chunks(h * w).zip(m.par_chunks(ho * wo).zip(g.par_chunks(ho * wo))))
                .for_each(|(dx, (x, (m, g)))| {
                    for p in 0..ho * wo {
                        let taps = window(w, p / wo, p % wo);
                        let count = taps.iter().filter(|&&i| x[i] == m[p]).count().max(1);
                        let share = g[p] / T::from_f64(count as f64);
                        for i in taps.into_iter().filter(|&i| x[i] == m[p]) {
                            dx[i] = share;
                        }
                    }
                });
            dx
        }
        let n = self.name();
        let out = float_storage3!(s1, s2, s3, n, |x, m, g| {
            run(slice(x, l1, n)?, slice(m, l2, n)?, slice(g, l3, n)?, h, w, ho, wo)
        });
        Ok((out, l1.shape().clone()))
    }
}

/// 2x2 max-pool (stride 2, odd edges dropped) of `[n, c, h, w]` whose gradient is shared equally
/// by a window's maxima. candle's own `max_pool2d` backward multiplies each maximum's gradient by
/// (number of maxima) / 4, so on +-1 activations a window's single +1 got a quarter of its gradient
/// and an all -1 window four times the whole.
pub fn max_pool_split_ties(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPoolSplitTies)
}
