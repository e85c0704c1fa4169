//! Fused CPU kernels for the work every step does on whole weight matrices: the binarizing sign
//! with its surrogate gradient, and Libra-PB's per-row standardization.
//!
//! Written as a chain of framework operations, each of these is five to fifteen passes over the
//! weights with an allocation per pass, forward and backward. On LFC's 1024 x 1024 matrices that
//! cost more than the matrix products themselves, because the weight work does not shrink with the
//! batch. Here each is one pass forward and one backward, split across threads. The maths is
//! exactly that of reference.md section 1; `tests/methods.rs` checks values and gradients against
//! hand-computed ones and finite differences.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, WithDType};
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
