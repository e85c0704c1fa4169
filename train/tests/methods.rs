//! Unit tests of the binarization methods (`train::method`, reference.md section 1): every method's
//! forward value and the gradient that reverse-mode autodiff gives, checked against hand-computed
//! formulas and against central finite differences computed here in plain f64 arithmetic.
//!
//! Conventions the tests pin down: sign(0) = sign(-0) = +1, the detach trick's forward output is
//! exactly +-1 (bit for bit, no rounding residue), training's scaled forward equals export's
//! `hard_weights` signs times scale bit for bit, and the surrogate gradients are STE's 1[|x| <= 1],
//! Bi-Real's ApproxSign 2 -+ 2x and IR-Net's EDE k t (1 - tanh(t x)^2).

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use train::method::{
    activation, hard_sign, hard_weights, libra_shift, libra_standardize, weight_parts, weights, Ede, Method,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The EDE states the tests use: the paper's first and last-but-one epoch (t = 0.1, k = 10 and
/// t = 6.31, k = 1), the official ResNet-20 schedule's start (t = 1e-3, k = 1000) and a sharp one.
fn edes() -> Vec<Ede> {
    vec![
        Ede::at(0, 10, 0.1, 10.0),
        Ede::at(9, 10, 0.1, 10.0),
        Ede::at(0, 200, 1e-3, 10.0),
        Ede { t: 10.0, k: 1.0 },
    ]
}

/// Any EDE state, for the methods that ignore it.
fn some_ede() -> Ede {
    Ede::at(3, 10, 0.1, 10.0)
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` uniform values in `[lo, hi)`.
fn uniform(r: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| r.gen_range(lo..hi)).collect()
}

/// `n` values that are roughly Gaussian (sum of uniforms), scaled by `sigma`.
fn gaussianish(r: &mut ChaCha8Rng, n: usize, sigma: f64) -> Vec<f64> {
    (0..n).map(|_| (0..12).map(|_| r.gen_range(-0.5..0.5)).sum::<f64>() * sigma).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn flat_f32(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.to_vec1())
        .expect("a tensor readable as f32")
}

fn flat_f64(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.to_vec1())
        .expect("a tensor readable as f64")
}

/// Forward value of `f(x)` and the gradient of `L = sum(c .* f(x))` with respect to `x`, where `x`
/// has shape `shape` and is built from `x` in `dtype` (`c = 1` when `None`).
fn forward_and_grad<F>(
    x: &[f64],
    shape: &[usize],
    dtype: DType,
    c: Option<&[f64]>,
    f: F,
) -> (Vec<f64>, Vec<f64>)
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    let run = || -> Result<(Vec<f64>, Vec<f64>)> {
        let var = Var::from_tensor(&Tensor::new(x, &Device::Cpu)?.reshape(shape)?.to_dtype(dtype)?)?;
        let y = f(var.as_tensor())?;
        let loss = match c {
            Some(c) => {
                let c = Tensor::new(c, &Device::Cpu)?.reshape(y.shape())?.to_dtype(y.dtype())?;
                (&y * &c)?.sum_all()?
            }
            None => y.sum_all()?,
        };
        let grads = loss.backward()?;
        let g = grads.get(var.as_tensor()).cloned().unwrap_or(var.as_tensor().zeros_like()?);
        Ok((flat_f64(&y), flat_f64(&g)))
    };
    run().expect("forward and backward run")
}

/// `|got - want| <= rel * |want| + abs` elementwise, with a readable failure message.
fn assert_close(got: &[f64], want: &[f64], rel: f64, abs: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * w.abs() + abs,
            "{what}: element {i}: got {g:e}, want {w:e} (diff {:e})",
            (g - w).abs()
        );
    }
}

/// `|got - want| <= rel * max|want|` elementwise: for gradients where cancellation makes small
/// entries meaningless in relative terms.
fn assert_close_to_scale(got: &[f64], want: &[f64], rel: f64, what: &str) {
    let scale = want.iter().fold(0f64, |m, w| m.max(w.abs()));
    assert!(scale > 0.0, "{what}: the reference is all zero");
    assert_close(got, want, 0.0, rel * scale, what);
}

/// The hardware sign in f64: +1 for x >= 0 (so for -0 too), else -1.
fn sign(x: f64) -> f64 {
    if x >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// Libra-PB's standardization of one row in f64, n - 1 in the standard deviation.
fn standardize_row(w: &[f64]) -> Vec<f64> {
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let var = w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    w.iter().map(|x| (x - mean) / var.sqrt()).collect()
}

/// Row-by-row map over a row-major `[rows, n]` matrix.
fn per_row(w: &[f64], n: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    w.chunks(n).flat_map(f).collect()
}

/// Central finite differences of a scalar function of `x`, in f64.
fn finite_differences(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = x[i];
            x[i] = x0 + h;
            let up = f(&x);
            x[i] = x0 - h;
            let down = f(&x);
            x[i] = x0;
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A spread of f32 inputs for bit-exactness checks: special values, the neighbourhoods of 0, +-0.5,
/// +-1 and +-2, random values, and a strided sweep over every non-NaN bit pattern.
fn exactness_inputs() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::EPSILON,
        -f32::EPSILON,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-30,
        -1e-30,
        2f32.powi(-25),
        -(2f32.powi(-25)),
        1e30,
        -1e30,
    ];
    for centre in [0.5f32, 1.0, 2.0, 1.0 / 3.0, 0.1] {
        let bits = centre.to_bits();
        for d in 0..64u32 {
            for b in [bits + d, bits - d] {
                v.push(f32::from_bits(b));
                v.push(-f32::from_bits(b));
            }
        }
    }
    let mut r = rng(7);
    v.extend(uniform(&mut r, 20_000, -4.0, 4.0).iter().map(|&x| x as f32));
    v.extend(uniform(&mut r, 20_000, -1e-3, 1e-3).iter().map(|&x| x as f32));
    let mut bits = 0u32;
    while let Some(next) = bits.checked_add(4099) {
        let x = f32::from_bits(bits);
        if !x.is_nan() {
            v.push(x);
        }
        bits = next;
    }
    v
}

// ---------------------------------------------------------------------------------------------
// hard_sign
// ---------------------------------------------------------------------------------------------

#[test]
fn hard_sign_is_exactly_plus_minus_one_with_sign_of_zero_positive() {
    let xs = exactness_inputs();
    let y: Vec<f32> = flat_f32(&hard_sign(&Tensor::new(xs.as_slice(), &Device::Cpu).unwrap()).unwrap());
    for (&x, &y) in xs.iter().zip(&y) {
        let want: f32 = if x >= 0.0 { 1.0 } else { -1.0 };
        assert_eq!(y.to_bits(), want.to_bits(), "hard_sign({x:e}) = {y:e}");
    }
    // The hardware convention: sign(+0) = sign(-0) = +1 (PyTorch's sign(0) = 0 differs).
    let zeros = Tensor::new(&[0f32, -0.0], &Device::Cpu).unwrap();
    let y = flat_f32(&hard_sign(&zeros).unwrap());
    assert_eq!(y, vec![1.0, 1.0]);
    assert!(y.iter().all(|v| v.is_sign_positive()));
}

#[test]
fn hard_sign_accepts_f64_and_returns_f32() {
    let x = Tensor::new(&[-2.5f64, -0.0, 0.0, 1e-300, -1e-300], &Device::Cpu).unwrap();
    let y = hard_sign(&x).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    assert_eq!(flat_f32(&y), vec![-1.0, 1.0, 1.0, 1.0, -1.0]);
}

#[test]
fn hard_sign_keeps_shape() {
    let x = Tensor::new(&[[-1f32, 2.0, 0.0], [3.0, -0.0, -4.0]], &Device::Cpu).unwrap();
    let y = hard_sign(&x).unwrap();
    assert_eq!(y.dims(), &[2, 3]);
    assert_eq!(flat_f32(&y), vec![-1.0, 1.0, 1.0, 1.0, 1.0, -1.0]);
}

// ---------------------------------------------------------------------------------------------
// activation: forward
// ---------------------------------------------------------------------------------------------

#[test]
fn activation_forward_is_bit_exact_hard_sign_for_every_method() {
    let xs = exactness_inputs();
    let x = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
    let hard = flat_f32(&hard_sign(&x).unwrap());
    for method in Method::ALL {
        for e in edes() {
            let y = flat_f32(&activation(&x, method, e).unwrap());
            let misses: Vec<String> = xs
                .iter()
                .zip(y.iter().zip(&hard))
                .filter(|(_, (y, h))| y.to_bits() != h.to_bits())
                .take(8)
                .map(|(x, (y, h))| format!("x = {x:e} ({:#010x}): {y:e} instead of {h}", x.to_bits()))
                .collect();
            assert!(
                misses.is_empty(),
                "{method} with {e:?}: the detach trick is not exact:\n{}",
                misses.join("\n")
            );
        }
    }
}

#[test]
fn activation_forward_tracks_the_input_as_a_variable() {
    // Through a Var too (the training path), the values are exactly +-1.
    let xs = [-2.0, -1.0, -0.5, -1e-7, -0.0, 0.0, 1e-7, 0.3, 1.0, 1.5];
    for method in Method::ALL {
        for e in edes() {
            let (y, _) = forward_and_grad(&xs, &[xs.len()], DType::F32, None, |x| activation(x, method, e));
            let want: Vec<f64> = xs.iter().map(|&x| sign(x)).collect();
            assert_eq!(y, want, "{method} with {e:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// activation: backward
// ---------------------------------------------------------------------------------------------

#[test]
fn ste_and_xnor_activation_gradient_is_clipped_identity() {
    // Away from the boundary |x| = 1 (see the boundary test below).
    let xs =
        [-3.0, -2.0, -1.5, -1.0001, -0.999, -0.5, -1e-3, -0.0, 0.0, 1e-3, 0.3, 0.999, 1.0001, 1.5, 2.0, 3.0];
    let want: Vec<f64> = xs.iter().map(|&x: &f64| if x.abs() <= 1.0 { 1.0 } else { 0.0 }).collect();
    for method in [Method::Ste, Method::Xnor] {
        let (_, g) =
            forward_and_grad(&xs, &[xs.len()], DType::F32, None, |x| activation(x, method, some_ede()));
        assert_eq!(g, want, "{method}");
        // With a non-uniform upstream gradient c, the result is c .* g'.
        let c: Vec<f64> = (0..xs.len()).map(|i| 0.25 * i as f64 - 1.5).collect();
        let (_, g) =
            forward_and_grad(&xs, &[xs.len()], DType::F32, Some(&c), |x| activation(x, method, some_ede()));
        let want_c: Vec<f64> = want.iter().zip(&c).map(|(w, c)| w * c).collect();
        assert_eq!(g, want_c, "{method} with an upstream gradient");
    }
}

#[test]
fn ste_activation_gradient_at_the_clip_boundary_is_nonzero() {
    // reference.md: g'(x) = 1 for |x| <= 1, boundary included. candle's clamp is maximum + minimum,
    // whose backward splits a tie between the two operands, so exactly at x = +-1 the gradient is
    // 1/2, not 1. This test only insists the boundary still passes gradient (in (0, 1]).
    let xs = [-1.0, 1.0];
    let (_, g) = forward_and_grad(&xs, &[2], DType::F32, None, |x| activation(x, Method::Ste, some_ede()));
    for (x, g) in xs.iter().zip(&g) {
        assert!(*g > 0.0 && *g <= 1.0, "STE gradient at x = {x}: {g}");
    }
}

#[test]
fn bireal_activation_gradient_is_approx_sign() {
    let xs = [
        -3.0, -1.5, -1.0001, -0.999, -0.75, -0.5, -0.25, -1e-3, 0.0, 1e-3, 0.25, 0.6, 0.999, 1.0001, 1.5, 3.0,
    ];
    let approx_sign_grad = |x: f64| {
        if (-1.0..0.0).contains(&x) {
            2.0 + 2.0 * x
        } else if (0.0..1.0).contains(&x) {
            2.0 - 2.0 * x
        } else {
            0.0
        }
    };
    let want: Vec<f64> = xs.iter().map(|&x| approx_sign_grad(x)).collect();
    let (_, g) =
        forward_and_grad(&xs, &[xs.len()], DType::F32, None, |x| activation(x, Method::Bireal, some_ede()));
    assert_close(&g, &want, 1e-5, 1e-6, "Bi-Real ApproxSign");
    // At x = 0 the gradient is the peak, 2 (the [0, 1) branch), for -0 too.
    let (_, g0) =
        forward_and_grad(&[0.0, -0.0], &[2], DType::F32, None, |x| activation(x, Method::Bireal, some_ede()));
    assert_eq!(g0, vec![2.0, 2.0]);
    // And on random points, with a random upstream gradient.
    let mut r = rng(11);
    let xs = uniform(&mut r, 500, -1.5, 1.5);
    let c = uniform(&mut r, 500, -2.0, 2.0);
    let (_, g) =
        forward_and_grad(&xs, &[25, 20], DType::F32, Some(&c), |x| activation(x, Method::Bireal, some_ede()));
    let want: Vec<f64> = xs.iter().zip(&c).map(|(&x, c)| c * approx_sign_grad(f64::from(x as f32))).collect();
    assert_close(&g, &want, 1e-5, 1e-6, "Bi-Real ApproxSign, random");
}

#[test]
fn irnet_activation_gradient_is_ede_behind_hardtanh() {
    let mut r = rng(12);
    let mut xs = vec![-3.0, -1.0, -0.5, -0.1, -0.0, 0.0, 0.1, 0.5, 1.0, 3.0];
    xs.extend(uniform(&mut r, 400, -3.0, 3.0));
    let c = uniform(&mut r, xs.len(), -2.0, 2.0);
    for e in edes() {
        let (_, g) =
            forward_and_grad(&xs, &[xs.len()], DType::F32, Some(&c), |x| activation(x, Method::Irnet, e));
        let want: Vec<f64> = xs
            .iter()
            .zip(&c)
            .map(|(&x, c)| {
                let x = f64::from(x as f32);
                let hardtanh = if x.abs() <= 1.0 { 1.0 } else { 0.0 };
                c * e.k * e.t * (1.0 - (e.t * x).tanh().powi(2)) * hardtanh
            })
            .collect();
        // Relative 1e-5, plus an absolute floor at 1e-6 of the peak k t |c| for the saturated tails,
        // where f32's 1 - tanh^2 underflows to 0.
        assert_close(&g, &want, 1e-5, 2e-6 * e.k * e.t, &format!("EDE {e:?}"));
    }
}

#[test]
fn irnet_activation_gradient_matches_finite_differences_of_k_tanh() {
    // The same check against finite differences of g(x) = k tanh(t hardtanh(x)), not the closed
    // form (no sample lies within h of the Hardtanh's corners at +-1).
    let mut r = rng(13);
    let xs = uniform(&mut r, 64, -2.0, 2.0);
    for e in edes() {
        let (_, g) = forward_and_grad(&xs, &[64], DType::F32, None, |x| activation(x, Method::Irnet, e));
        let xs32: Vec<f64> = xs.iter().map(|&x| f64::from(x as f32)).collect();
        let fd: Vec<f64> = xs32
            .iter()
            .map(|&x| {
                let h = 1e-6;
                let g = |x: f64| e.k * (e.t * x.clamp(-1.0, 1.0)).tanh();
                (g(x + h) - g(x - h)) / (2.0 * h)
            })
            .collect();
        assert_close(&g, &fd, 1e-5, 2e-6 * e.k * e.t, &format!("EDE finite differences {e:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Ede::at
// ---------------------------------------------------------------------------------------------

fn assert_rel(got: f64, want: f64, rel: f64, what: &str) {
    assert!((got - want).abs() <= rel * want.abs(), "{what}: got {got:e}, want {want:e}");
}

#[test]
fn ede_schedule_endpoints_and_midpoints() {
    // i = 0: t = T_min, k = 1 / T_min (T_min < 1).
    let e = Ede::at(0, 10, 0.1, 10.0);
    assert_rel(e.t, 0.1, 1e-15, "t at i = 0");
    assert_rel(e.k, 10.0, 1e-15, "k at i = 0");
    let e = Ede::at(0, 200, 1e-3, 10.0);
    assert_rel(e.t, 1e-3, 1e-15, "t at i = 0, T_min = 1e-3");
    assert_rel(e.k, 1e3, 1e-12, "k at i = 0, T_min = 1e-3");
    // i = N: t = T_max, k = 1.
    let e = Ede::at(10, 10, 0.1, 10.0);
    assert_rel(e.t, 10.0, 1e-14, "t at i = N");
    assert_eq!(e.k, 1.0, "k at i = N");
    let e = Ede::at(200, 200, 1e-3, 10.0);
    assert_rel(e.t, 10.0, 1e-14, "t at i = N, T_min = 1e-3");
    assert_eq!(e.k, 1.0);
    // Midpoint: the geometric mean sqrt(T_min T_max).
    let e = Ede::at(5, 10, 0.1, 10.0);
    assert_rel(e.t, 1.0, 1e-14, "t at i = N / 2");
    assert_rel(e.k, 1.0, 1e-14, "k at i = N / 2");
    let e = Ede::at(100, 200, 1e-3, 10.0);
    assert_rel(e.t, 0.1, 1e-14, "t at i = N / 2, T_min = 1e-3");
    assert_rel(e.k, 10.0, 1e-14, "k at i = N / 2, T_min = 1e-3");
    // A quarter point, hand-computed: 0.1 * 10^(0.25 * 2) = 0.1 * sqrt(10).
    let e = Ede::at(1, 4, 0.1, 10.0);
    assert_rel(e.t, 0.1 * 10f64.sqrt(), 1e-14, "t at i = N / 4");
    assert_rel(e.k, 1.0 / (0.1 * 10f64.sqrt()), 1e-14, "k at i = N / 4");
    // i = 9 of 10: t = 0.1 * 10^1.8, k = 1.
    let e = Ede::at(9, 10, 0.1, 10.0);
    assert_rel(e.t, 0.1 * 10f64.powf(1.8), 1e-14, "t at i = 9 of 10");
    assert_eq!(e.k, 1.0);
    // T_min >= 1: k = 1 throughout.
    let e = Ede::at(0, 10, 2.0, 20.0);
    assert_rel(e.t, 2.0, 1e-15, "t with T_min = 2");
    assert_eq!(e.k, 1.0);
}

#[test]
fn ede_schedule_is_monotone_and_k_is_max_of_inverse_t_and_one() {
    for (t_min, t_max, n) in [(0.1, 10.0, 10), (1e-3, 10.0, 200), (0.5, 4.0, 7)] {
        let mut last = 0.0;
        for i in 0..=n {
            let e = Ede::at(i, n, t_min, t_max);
            assert!(e.t > last, "t must increase: i = {i}, t = {}", e.t);
            last = e.t;
            let frac = i as f64 / n as f64;
            assert_rel(e.t, t_min * (t_max / t_min).powf(frac), 1e-12, "t formula");
            assert_eq!(e.k, (1.0 / e.t).max(1.0), "k = max(1 / t, 1)");
            assert!(e.k >= 1.0);
        }
    }
    // n = 0 is accepted (no division by zero): it is the start of the schedule.
    let e = Ede::at(0, 0, 0.1, 10.0);
    assert_rel(e.t, 0.1, 1e-15, "n = 0");
}

// ---------------------------------------------------------------------------------------------
// libra_standardize
// ---------------------------------------------------------------------------------------------

#[test]
fn libra_standardize_rows_have_mean_zero_and_unit_sample_std() {
    let mut r = rng(21);
    let (rows, n) = (6, 37);
    let mut w = gaussianish(&mut r, rows * n, 0.05);
    // Make the rows differ in mean and spread.
    for (i, x) in w.iter_mut().enumerate() {
        let row = (i / n) as f64;
        *x = *x * (1.0 + row) + 0.1 * row - 0.2;
    }
    for dtype in [DType::F64, DType::F32] {
        let t = Tensor::new(w.as_slice(), &Device::Cpu)
            .unwrap()
            .reshape((rows, n))
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let z = libra_standardize(&t).unwrap();
        assert_eq!(z.dims(), &[rows, n]);
        assert_eq!(z.dtype(), dtype);
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
        for (o, row) in flat_f64(&z).chunks(n).enumerate() {
            let mean = row.iter().sum::<f64>() / n as f64;
            let std = (row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
            assert!(mean.abs() < tol, "{dtype:?} row {o}: mean {mean:e}");
            assert!((std - 1.0).abs() < tol, "{dtype:?} row {o}: std {std}");
        }
        // And elementwise against the f64 formula.
        let want = per_row(&w, n, standardize_row);
        assert_close(&flat_f64(&z), &want, 0.0, tol * 10.0, &format!("{dtype:?} standardization"));
    }
}

#[test]
fn libra_standardize_hand_case() {
    // [1, 2, 3, 4]: mean 2.5, centred [-1.5, -0.5, 0.5, 1.5], sum of squares 5, var 5/3 (n - 1).
    let t = Tensor::new(&[[1f64, 2.0, 3.0, 4.0]], &Device::Cpu).unwrap();
    let z = flat_f64(&libra_standardize(&t).unwrap());
    let s = (5.0f64 / 3.0).sqrt();
    assert_close(&z, &[-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], 1e-15, 0.0, "hand case");
    // Invariant under a per-row affine map with positive gain.
    let t2 = Tensor::new(&[[-7f64, 3.0, 13.0, 23.0]], &Device::Cpu).unwrap();
    assert_close(&flat_f64(&libra_standardize(&t2).unwrap()), &z, 1e-14, 1e-15, "affine invariance");
}

#[test]
fn libra_standardize_gradient_matches_finite_differences_in_f64() {
    let mut r = rng(22);
    let (rows, n) = (3, 9);
    let w = gaussianish(&mut r, rows * n, 0.3);
    let c = uniform(&mut r, rows * n, -1.0, 1.0);
    let loss = |w: &[f64]| dot(&per_row(w, n, standardize_row), &c);

    let (_, g) = forward_and_grad(&w, &[rows, n], DType::F64, Some(&c), libra_standardize);
    let fd = finite_differences(&w, 1e-6, loss);
    assert_close_to_scale(&g, &fd, 1e-7, "standardization gradient vs finite differences (f64)");

    // The closed form too: dL/dw = (c - mean(c) - z * sum(c z) / (n - 1)) / std, per row.
    let mut closed = Vec::new();
    for (wr, cr) in w.chunks(n).zip(c.chunks(n)) {
        let z = standardize_row(wr);
        let mean = wr.iter().sum::<f64>() / n as f64;
        let std = (wr.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let cbar = cr.iter().sum::<f64>() / n as f64;
        let cz = dot(cr, &z);
        closed.extend(cr.iter().zip(&z).map(|(ci, zi)| (ci - cbar - zi * cz / (n - 1) as f64) / std));
    }
    assert_close_to_scale(&g, &closed, 1e-12, "standardization gradient vs closed form (f64)");

    // The f32 path agrees to f32 precision.
    let w32: Vec<f64> = w.iter().map(|&x| f64::from(x as f32)).collect();
    let (_, g32) = forward_and_grad(&w32, &[rows, n], DType::F32, Some(&c), libra_standardize);
    let fd32 = finite_differences(&w32, 1e-6, |w| dot(&per_row(w, n, standardize_row), &c));
    assert_close_to_scale(&g32, &fd32, 1e-4, "standardization gradient (f32)");
}

// ---------------------------------------------------------------------------------------------
// libra_shift
// ---------------------------------------------------------------------------------------------

/// `n` values with one outlier: `[1, 0, ..., 0]`. Standardized, mean|w~| = 2 (n - 1) / n^1.5.
fn one_hot_row(n: usize) -> Vec<f64> {
    let mut v = vec![0.0; n];
    v[0] = 1.0;
    v
}

fn shift_of(rows: &[Vec<f64>]) -> Vec<i32> {
    let n = rows[0].len();
    let flat: Vec<f64> = rows.concat();
    Tensor::new(flat.as_slice(), &Device::Cpu)
        .and_then(|t| t.reshape((rows.len(), n)))
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| libra_standardize(&t))
        .and_then(|z| libra_shift(&z))
        .expect("standardize and shift an f32 matrix")
}

#[test]
fn libra_shift_hand_cases() {
    // [1, 2, 3, 4] (and any affine image): mean|w~| = 1 / sqrt(5/3) = 0.7746, log2 = -0.369 -> 0.
    assert_eq!(shift_of(&[vec![1.0, 2.0, 3.0, 4.0], vec![4.0, 3.0, 2.0, 1.0]]), vec![0, 0]);
    // Gaussian-like rows: mean|w~| ~ sqrt(2/pi) = 0.80 -> 0.
    let mut r = rng(31);
    let rows: Vec<Vec<f64>> = (0..4).map(|_| gaussianish(&mut r, 576, 0.1)).collect();
    assert_eq!(shift_of(&rows), vec![0; 4]);
    // Heavy-tailed: one outlier among 16 gives mean|w~| = 30 / 64 = 0.469, log2 = -1.09 -> -1.
    assert_eq!(shift_of(&[one_hot_row(16)]), vec![-1]);
    // Among 64: 126 / 512 = 0.246, log2 = -2.02 -> -2.
    assert_eq!(shift_of(&[one_hot_row(64)]), vec![-2]);
    // Rows are independent.
    assert_eq!(
        shift_of(&[
            one_hot_row(16),
            vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0, 9.0, 7.0, 9.0, 3.0]
        ]),
        vec![-1, 0]
    );
}

#[test]
fn libra_shift_rounds_at_the_half_exponents() {
    // libra_shift takes any tensor; rows [m, -m] have mean|.| = m exactly. The rounding boundaries
    // of log2 are at m = 2^(j + 1/2), irrational, so an exact tie cannot be constructed: instead the
    // f32 values either side of 2^-0.5 and 2^-1.5 must round to different exponents.
    let around = |target: f64| -> (f32, f32) {
        let m = target as f32;
        let (below, above) = if f64::from(m) < target {
            (m, f32::from_bits(m.to_bits() + 1))
        } else {
            (f32::from_bits(m.to_bits() - 1), m)
        };
        assert!(f64::from(below) < target && f64::from(above) > target);
        (below, above)
    };
    let (b1, a1) = around(0.5f64.sqrt());
    let (b2, a2) = around(0.125f64.sqrt());
    let (b3, a3) = around(2f64.sqrt());
    let rows: Vec<f32> = [a1, b1, a2, b2, a3, b3, 1.0, 0.5, 0.25].iter().flat_map(|&m| [m, -m]).collect();
    let t = Tensor::from_vec(rows, (9, 2), &Device::Cpu).unwrap();
    assert_eq!(libra_shift(&t).unwrap(), vec![0, -1, -1, -2, 1, 0, 0, -1, -2]);

    // The one natural near-tie: a standardized row of n = 2 is always [+-1/sqrt 2, -+1/sqrt 2], so
    // mean|w~| = 2^-0.5 in real arithmetic and f32 rounding alone picks s = 0 or s = -1.
    let mut r = rng(33);
    let rows: Vec<Vec<f64>> = (0..64).map(|_| uniform(&mut r, 2, -1.0, 1.0)).collect();
    let s = shift_of(&rows);
    assert!(s.iter().all(|&s| s == 0 || s == -1), "{s:?}");
}

#[test]
fn libra_shift_is_never_positive_after_standardization() {
    // mean|w~| <= sqrt(mean w~^2) = sqrt((n - 1) / n) < 1, so s <= 0 (reference.md).
    // (n = 2 is left to the test above: its mean|w~| is exactly the tie 2^-0.5 in real arithmetic.)
    let mut r = rng(32);
    for n in [3usize, 9, 64, 300] {
        let rows: Vec<Vec<f64>> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    gaussianish(&mut r, n, 1.0)
                } else {
                    uniform(&mut r, n, -1.0, 1.0).iter().map(|x| x.powi(7)).collect()
                }
            })
            .collect();
        let s = shift_of(&rows);
        // And equal to the f64 formula.
        let want: Vec<i32> = rows
            .iter()
            .map(|row| {
                let z = standardize_row(&f32s(row).iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
                (z.iter().map(|x| x.abs()).sum::<f64>() / n as f64).log2().round_ties_even() as i32
            })
            .collect();
        assert_eq!(s, want, "n = {n}");
        assert!(s.iter().all(|&s| s <= 0), "n = {n}: {s:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// weights: forward
// ---------------------------------------------------------------------------------------------

/// Random `[rows, n]` weights with no entry at 0 or +-1, some outside [-1, 1].
fn test_weights(seed: u64, rows: usize, n: usize) -> Vec<f64> {
    let mut r = rng(seed);
    let mut w = gaussianish(&mut r, rows * n, 0.6);
    for x in &mut w {
        let a = x.abs();
        if a < 1e-3 || (a - 1.0).abs() < 1e-3 {
            *x += 0.01;
        }
    }
    // Round to f32 so that the f64 references see the values candle sees.
    w.iter().map(|&x| f64::from(x as f32)).collect()
}

fn tensor2(w: &[f64], rows: usize, n: usize) -> Tensor {
    Tensor::new(w, &Device::Cpu)
        .and_then(|t| t.reshape((rows, n)))
        .and_then(|t| t.to_dtype(DType::F32))
        .expect("an f32 matrix")
}

fn mean_abs_rows(w: &[f64], n: usize) -> Vec<f64> {
    w.chunks(n).map(|r| r.iter().map(|x| x.abs()).sum::<f64>() / n as f64).collect()
}

#[test]
fn ste_weights_are_exactly_sign_scaled_or_not() {
    let (rows, n) = (4, 10);
    let w = test_weights(41, rows, n);
    let want: Vec<f32> = w.iter().map(|&x| sign(x) as f32).collect();
    for scaled in [false, true] {
        let y = flat_f32(&weights(&tensor2(&w, rows, n), Method::Ste, some_ede(), scaled).unwrap());
        assert_eq!(
            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "scaled = {scaled}"
        );
    }
    // Zeros are +1.
    let z = Tensor::new(&[[0f32, -0.0, 0.5, -0.5]], &Device::Cpu).unwrap();
    assert_eq!(flat_f32(&weights(&z, Method::Ste, some_ede(), true).unwrap()), vec![1.0, 1.0, 1.0, -1.0]);
}

#[test]
fn xnor_and_bireal_weights_are_alpha_times_sign() {
    let (rows, n) = (5, 12);
    let w = test_weights(42, rows, n);
    let t = tensor2(&w, rows, n);
    let alpha = mean_abs_rows(&w, n);
    for method in [Method::Xnor, Method::Bireal] {
        let y = flat_f32(&weights(&t, method, some_ede(), true).unwrap());
        let (_, scale) = hard_weights(&t, method, true).unwrap();
        let scale = flat_f32(&scale.expect("XNOR-style weights are scaled"));
        for (i, (&y, &x)) in y.iter().zip(&w).enumerate() {
            let o = i / n;
            // Bit for bit the per-row scale times +-1 ...
            assert_eq!(y.to_bits(), (sign(x) as f32 * scale[o]).to_bits(), "{method} element {i}");
            // ... and that scale is mean|w_o|.
            assert_rel(f64::from(y), sign(x) * alpha[o], 1e-6, &format!("{method} element {i}"));
        }
        // Unscaled: plain sign.
        let y = flat_f32(&weights(&t, method, some_ede(), false).unwrap());
        assert_eq!(y, w.iter().map(|&x| sign(x) as f32).collect::<Vec<_>>(), "{method} unscaled");
    }
}

#[test]
fn irnet_weights_are_power_of_two_times_sign_of_standardized() {
    let (rows, n) = (4, 16);
    let mut w = test_weights(43, rows, n);
    // Row 3 is heavy-tailed, so that both s = 0 and s = -1 occur.
    w[3 * n..].copy_from_slice(&one_hot_row(n));
    let t = tensor2(&w, rows, n);
    let z = per_row(&w, n, standardize_row);
    let s = shift_of(&w.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>());
    assert_eq!(s[3], -1);
    assert!(s[..3].iter().all(|&s| s == 0), "{s:?}");
    for e in edes() {
        let y = flat_f32(&weights(&t, Method::Irnet, e, true).unwrap());
        for (i, (&y, &z)) in y.iter().zip(&z).enumerate() {
            let want = sign(z) as f32 * 2f32.powi(s[i / n]);
            assert_eq!(y.to_bits(), want.to_bits(), "{e:?} element {i}: w~ = {z}");
        }
        let y = flat_f32(&weights(&t, Method::Irnet, e, false).unwrap());
        assert_eq!(y, z.iter().map(|&z| sign(z) as f32).collect::<Vec<_>>(), "{e:?} unscaled");
    }
    // The IR-Net sign is that of w - mean(w), not of w: an all-positive row still binarizes to a
    // balanced mix of +-1.
    let pos = Tensor::new(&[[1f32, 2.0, 3.0, 4.0]], &Device::Cpu).unwrap();
    let y = flat_f32(&weights(&pos, Method::Irnet, some_ede(), false).unwrap());
    assert_eq!(y, vec![-1.0, -1.0, 1.0, 1.0]);
}

// ---------------------------------------------------------------------------------------------
// weights: backward
// ---------------------------------------------------------------------------------------------

#[test]
fn ste_weights_gradient_is_clipped_identity() {
    let (rows, n) = (3, 10);
    let w = test_weights(51, rows, n);
    let c = uniform(&mut rng(52), rows * n, -1.0, 1.0);
    let c32: Vec<f64> = c.iter().map(|&c| f64::from(c as f32)).collect();
    for scaled in [false, true] {
        let (_, g) = forward_and_grad(&w, &[rows, n], DType::F32, Some(&c32), |w| {
            weights(w, Method::Ste, some_ede(), scaled)
        });
        let want: Vec<f64> = w.iter().zip(&c32).map(|(x, c)| if x.abs() <= 1.0 { *c } else { 0.0 }).collect();
        assert_eq!(g, want, "scaled = {scaled}");
    }
}

#[test]
fn xnor_weights_gradient_matches_the_xnor_net_formula() {
    // W' = alpha sign(W), alpha = mean|W| per row (both through autodiff), STE for sign. For
    // L = sum(c .* W'):  dL/dw_i = alpha c_i 1[|w_i| <= 1] + sign(w_i) / n * sum_j c_j sign(w_j).
    // The diagonal of the Jacobian, dW'_i / dw_i, is XNOR-Net's 1/n + alpha 1[|w_i| <= 1]
    // (reference.md); the second term is the coupling through alpha that XNOR-Net's official code
    // also adds.
    let (rows, n) = (3, 8);
    let w = test_weights(53, rows, n);
    assert!(w.iter().any(|x| x.abs() > 1.0), "the test wants some clipped weights");
    let alpha = mean_abs_rows(&w, n);
    let ind = |x: f64| if x.abs() <= 1.0 { 1.0 } else { 0.0 };
    for method in [Method::Xnor, Method::Bireal] {
        // L = sum(W'): c = 1.
        let (_, g) =
            forward_and_grad(&w, &[rows, n], DType::F32, None, |w| weights(w, method, some_ede(), true));
        let want: Vec<f64> = w
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let o = i / n;
                let s_row: f64 = w[o * n..(o + 1) * n].iter().map(|&x| sign(x)).sum();
                alpha[o] * ind(x) + sign(x) * s_row / n as f64
            })
            .collect();
        assert_close(&g, &want, 1e-6, 1e-7, &format!("{method}: gradient of sum(weights)"));

        // A random upstream gradient.
        let c = uniform(&mut rng(54), rows * n, -1.0, 1.0);
        let (_, g) =
            forward_and_grad(&w, &[rows, n], DType::F32, Some(&c), |w| weights(w, method, some_ede(), true));
        let want: Vec<f64> = w
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let o = i / n;
                let sc: f64 = (o * n..(o + 1) * n).map(|j| c[j] * sign(w[j])).sum();
                alpha[o] * c[i] * ind(x) + sign(x) * sc / n as f64
            })
            .collect();
        assert_close(&g, &want, 1e-5, 1e-6, &format!("{method}: gradient with upstream c"));

        // The Jacobian's diagonal, one element at a time: exactly XNOR-Net's 1/n + alpha 1[|w| <= 1].
        for i in 0..rows * n {
            let mut onehot = vec![0.0; rows * n];
            onehot[i] = 1.0;
            let (_, g) = forward_and_grad(&w, &[rows, n], DType::F32, Some(&onehot), |w| {
                weights(w, method, some_ede(), true)
            });
            let want = 1.0 / n as f64 + alpha[i / n] * ind(w[i]);
            assert_rel(g[i], want, 1e-6, &format!("{method}: dW'_{i} / dw_{i}"));
            // Off the diagonal, within the row: sign(w_j) sign(w_i) / n; other rows: 0.
            for j in 0..rows * n {
                if j == i {
                    continue;
                }
                let want = if j / n == i / n { sign(w[j]) * sign(w[i]) / n as f64 } else { 0.0 };
                assert_close(&[g[j]], &[want], 1e-6, 0.0, &format!("{method}: dW'_{i} / dw_{j}"));
            }
        }

        // Unscaled: plain STE.
        let (_, g) =
            forward_and_grad(&w, &[rows, n], DType::F32, None, |w| weights(w, method, some_ede(), false));
        assert_eq!(g, w.iter().map(|&x| ind(x)).collect::<Vec<_>>(), "{method} unscaled");
    }
}

/// IR-Net's smoothed weight function in f64: `2^s * k * tanh(t * w~)` per row, `s` held constant.
fn irnet_smooth(w: &[f64], n: usize, s: &[i32], e: Ede, scaled: bool) -> Vec<f64> {
    let z = per_row(w, n, standardize_row);
    z.iter()
        .enumerate()
        .map(|(i, &z)| {
            let scale = if scaled { 2f64.powi(s[i / n]) } else { 1.0 };
            scale * e.k * (e.t * z).tanh()
        })
        .collect()
}

/// IR-Net without EDE in f64: `2^s * hardtanh(w~)` per row, whose derivative is the clipped
/// identity of `ste` on the standardized weights.
fn libra_only_smooth(w: &[f64], n: usize, s: &[i32], scaled: bool) -> Vec<f64> {
    let z = per_row(w, n, standardize_row);
    z.iter()
        .enumerate()
        .map(|(i, &z)| if scaled { 2f64.powi(s[i / n]) } else { 1.0 } * z.clamp(-1.0, 1.0))
        .collect()
}

#[test]
fn irnet_ablations_take_one_part_each() {
    let (rows, n) = (4, 16);
    let w = test_weights(63, rows, n);
    let s = shift_of(&w.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>());
    let c = uniform(&mut rng(64), rows * n, -1.0, 1.0);
    let c32: Vec<f64> = c.iter().map(|&c| f64::from(c as f32)).collect();
    let z = per_row(&w, n, standardize_row);
    // The finite differences below must not straddle a corner of the Hardtanh.
    assert!(z.iter().all(|z| (z.abs() - 1.0).abs() > 1e-4), "pick another seed");
    for e in edes() {
        for scaled in [true, false] {
            // Libra-PB only: the standardization's gradient, clipped at |w~| = 1, no EDE.
            let (_, g) = forward_and_grad(&w, &[rows, n], DType::F32, Some(&c), |w| {
                weights(w, Method::IrnetLibra, e, scaled)
            });
            let fd = finite_differences(&w, 1e-6, |w| dot(&libra_only_smooth(w, n, &s, scaled), &c));
            assert_close_to_scale(&g, &fd, 2e-5, &format!("irnet-libra weights {e:?}, scaled = {scaled}"));

            // EDE only: k t (1 - tanh^2(t w)) on the raw weights, never scaled.
            let (y, g) = forward_and_grad(&w, &[rows, n], DType::F32, Some(&c32), |w| {
                weights(w, Method::IrnetEde, e, scaled)
            });
            assert_eq!(y, w.iter().map(|&x| sign(f64::from(x as f32))).collect::<Vec<_>>());
            let want: Vec<f64> = w
                .iter()
                .zip(&c32)
                .map(|(&x, c)| c * e.k * e.t * (1.0 - (e.t * f64::from(x as f32)).tanh().powi(2)))
                .collect();
            assert_close(&g, &want, 1e-5, 2e-6 * e.k * e.t, &format!("irnet-ede weights {e:?}"));
        }
        // Activations: the EDE ablation keeps IR-Net's backward, the Libra-PB one has STE's.
        let xs = uniform(&mut rng(65), 200, -2.0, 2.0);
        let up = uniform(&mut rng(66), 200, -2.0, 2.0);
        let grad =
            |m: Method| forward_and_grad(&xs, &[200], DType::F32, Some(&up), |x| activation(x, m, e)).1;
        assert_eq!(grad(Method::IrnetEde), grad(Method::Irnet), "{e:?}");
        assert_eq!(grad(Method::IrnetLibra), grad(Method::Ste), "{e:?}");
        assert_ne!(grad(Method::Irnet), grad(Method::Ste), "{e:?}: the comparison must tell them apart");
    }
}

#[test]
fn irnet_weights_gradient_matches_finite_differences() {
    let (rows, n) = (4, 16);
    let mut w = test_weights(61, rows, n);
    w[3 * n..].copy_from_slice(&one_hot_row(n));
    w[3 * n + 5] = 0.05; // Break the one-hot row's symmetry a little; it stays heavy-tailed.
    let s = shift_of(&w.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>());
    assert_eq!(s, vec![0, 0, 0, -1]);
    let c = uniform(&mut rng(62), rows * n, -1.0, 1.0);
    for e in edes() {
        for scaled in [true, false] {
            let (_, g) = forward_and_grad(&w, &[rows, n], DType::F32, Some(&c), |w| {
                weights(w, Method::Irnet, e, scaled)
            });
            let fd = finite_differences(&w, 1e-6, |w| dot(&irnet_smooth(w, n, &s, e, scaled), &c));
            // f32 autodiff against f64 differences; the standardization's gradient is a sum with
            // cancellation, so compare against the gradient's scale.
            assert_close_to_scale(&g, &fd, 2e-5, &format!("IR-Net weights {e:?}, scaled = {scaled}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// hard_weights
// ---------------------------------------------------------------------------------------------

#[test]
fn hard_weights_match_training_forward_and_per_row_scale() {
    let (rows, n) = (5, 16);
    let mut w = test_weights(71, rows, n);
    w[4 * n..].copy_from_slice(&one_hot_row(n));
    let t = tensor2(&w, rows, n);
    let z = per_row(&w, n, standardize_row);
    let alpha = mean_abs_rows(&w, n);
    let s = shift_of(&w.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>());
    for method in Method::ALL {
        for scaled in [false, true] {
            let (signs, scale) = hard_weights(&t, method, scaled).unwrap();
            assert_eq!(signs.dims(), &[rows, n]);
            assert_eq!(signs.dtype(), DType::F32);
            let signs = flat_f32(&signs);
            // Exact +-1, the sign of the method's latent values.
            let latent = if method.libra() { &z } else { &w };
            let want: Vec<f32> = latent.iter().map(|&x| sign(x) as f32).collect();
            assert_eq!(signs, want, "{method} scaled = {scaled}: signs");
            // The scale: none for STE or unscaled layers, alpha for XNOR-style, 2^s for IR-Net.
            let scale = scale.map(|s| {
                assert_eq!(s.dims(), &[rows, 1]);
                flat_f32(&s)
            });
            match (method, scaled) {
                (Method::Ste | Method::IrnetEde, _) | (_, false) => {
                    assert!(scale.is_none(), "{method} scaled = {scaled}")
                }
                (Method::Xnor | Method::Bireal, true) => {
                    let scale = scale.expect("a per-row alpha");
                    let got: Vec<f64> = scale.iter().map(|&v| f64::from(v)).collect();
                    assert_close(&got, &alpha, 1e-6, 0.0, &format!("{method} alpha"));
                }
                (Method::Irnet | Method::IrnetLibra, true) => {
                    let scale = scale.expect("a per-row 2^s");
                    let want: Vec<f32> = s.iter().map(|&s| 2f32.powi(s)).collect();
                    assert_eq!(scale, want, "{method} 2^s");
                }
            }
            // Training's forward value is export's sign times scale, bit for bit.
            let (_, scale) = hard_weights(&t, method, scaled).unwrap();
            let scale = scale.map(|s| flat_f32(&s));
            for e in edes() {
                let y = flat_f32(&weights(&t, method, e, scaled).unwrap());
                for (i, (&y, &b)) in y.iter().zip(&signs).enumerate() {
                    let want = match &scale {
                        Some(sc) => b * sc[i / n],
                        None => b,
                    };
                    assert_eq!(y.to_bits(), want.to_bits(), "{method} scaled = {scaled} {e:?} element {i}");
                }
            }
        }
    }
}

#[test]
fn hard_weights_scale_is_weight_parts_scale_and_carries_no_gradient() {
    let (rows, n) = (3, 8);
    let w = test_weights(72, rows, n);
    let var = Var::from_tensor(&tensor2(&w, rows, n)).unwrap();
    for method in Method::ALL {
        let (latent, scale) = weight_parts(var.as_tensor(), method, true).unwrap();
        let (signs, hard_scale) = hard_weights(var.as_tensor(), method, true).unwrap();
        assert_eq!(flat_f32(&signs), flat_f32(&hard_sign(&latent).unwrap()), "{method}");
        assert_eq!(scale.map(|s| flat_f32(&s)), hard_scale.as_ref().map(flat_f32), "{method}");
        // Export's tensors are detached: a loss built on them has no gradient for w.
        let mut loss = signs.sum_all().unwrap();
        if let Some(s) = hard_scale {
            loss = (loss + s.sum_all().unwrap()).unwrap();
        }
        let grads = loss.backward().unwrap();
        assert!(grads.get(var.as_tensor()).is_none(), "{method}: hard_weights leaks a gradient");
    }
}

// ---------------------------------------------------------------------------------------------
// Method
// ---------------------------------------------------------------------------------------------

#[test]
fn method_names_round_trip() {
    for m in Method::ALL {
        assert_eq!(m.name().parse::<Method>(), Ok(m));
        assert_eq!(m.to_string(), m.name());
        assert_eq!(m.clips_weights(), m == Method::Ste);
    }
    assert!("sign".parse::<Method>().is_err());
    // The ablations are IR-Net with one part removed.
    let parts = |m: Method| (m.libra(), m.ede());
    assert_eq!(parts(Method::Irnet), (true, true));
    assert_eq!(parts(Method::IrnetLibra), (true, false));
    assert_eq!(parts(Method::IrnetEde), (false, true));
    for m in [Method::Ste, Method::Xnor, Method::Bireal] {
        assert_eq!(parts(m), (false, false), "{m}");
    }
    // Removing Libra-PB keeps the rest of the method.
    for m in Method::ALL {
        let w = m.without_libra();
        assert!(!w.libra(), "{m}");
        assert_eq!(w.ede(), m.ede(), "{m}");
        if !m.libra() {
            assert_eq!(w, m);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Max-pool (training's gradient)
// ---------------------------------------------------------------------------------------------

#[test]
fn training_max_pool_gives_the_maximum_and_splits_its_gradient_among_tied_maxima() {
    // One channel, 2x5: two full 2x2 windows and an odd last column that the pool drops.
    // Window 0 has one maximum (+1 among -1s), window 1 is all -1 (four tied maxima).
    #[rustfmt::skip]
    let x = [
        -1f32, 1.0, -1.0, -1.0, 1.0,
        -1.0, -1.0, -1.0, -1.0, 1.0,
    ];
    let var = Var::from_tensor(&Tensor::from_vec(x.to_vec(), (1, 1, 2, 5), &Device::Cpu).unwrap()).unwrap();
    let y = train::fused::max_pool_split_ties(var.as_tensor()).unwrap();
    assert_eq!(flat_f32(&y), vec![1.0, -1.0], "the maximum of each window, bit for bit");
    assert_eq!(flat_f32(&y), flat_f32(&var.as_tensor().max_pool2d(2).unwrap()), "same as inference's pool");
    // Loss 3 y0 + 5 y1: the single maximum takes all of 3, the four tied ones 5/4 each.
    let coef = Tensor::from_vec(vec![3f32, 5.0], (1, 1, 1, 2), &Device::Cpu).unwrap();
    let grads = (y * coef).unwrap().sum_all().unwrap().backward().unwrap();
    let g = flat_f32(grads.get(var.as_tensor()).unwrap());
    #[rustfmt::skip]
    let want = vec![
        0f32, 3.0, 1.25, 1.25, 0.0,
        0.0, 0.0, 1.25, 1.25, 0.0,
    ];
    assert_eq!(g, want);
}

#[test]
fn training_max_pool_without_ties_is_candles_forward_and_routes_each_gradient_to_its_maximum() {
    // Distinct values, over batch, channels and an odd height and width whose last row and column
    // the pool drops. The gradient is computed here: candle's own max_pool2d backward is not a
    // reference (it scales by the number of maxima over 4 and misplaces odd edges).
    let mut r = rng(31);
    let (n, c, h, w) = (2usize, 3, 5, 7);
    let (ho, wo) = (h / 2, w / 2);
    let x = uniform(&mut r, n * c * h * w, -2.0, 2.0);
    let coef = uniform(&mut r, n * c * ho * wo, -1.0, 1.0);
    let (value, grad) =
        forward_and_grad(&x, &[n, c, h, w], DType::F64, Some(&coef), train::fused::max_pool_split_ties);
    let candle = Tensor::new(x.as_slice(), &Device::Cpu).unwrap().reshape((n, c, h, w)).unwrap();
    assert_eq!(value, flat_f64(&candle.max_pool2d(2).unwrap()));
    let mut want = vec![0.0; x.len()];
    for plane in 0..n * c {
        for p in 0..ho * wo {
            let (oy, ox) = (p / wo, p % wo);
            let taps = [(0, 0), (0, 1), (1, 0), (1, 1)]
                .map(|(dy, dx)| plane * h * w + (2 * oy + dy) * w + 2 * ox + dx);
            let best = taps.into_iter().fold(taps[0], |b, i| if x[i] > x[b] { i } else { b });
            want[best] = coef[plane * ho * wo + p];
        }
    }
    assert_eq!(grad, want);
}

/// A `[n, c, h, w]` variable and its values, for the conv and BatchNorm kernels.
fn var4(v: &[f64], shape: (usize, usize, usize, usize)) -> Var {
    let t = Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).expect("a tensor of the given shape");
    Var::from_tensor(&t).expect("a variable")
}

#[test]
fn conv3x3_equals_candle_conv2d_exactly_on_plus_minus_one_and_in_value_and_gradient_on_reals() {
    // Stride 1 (every conv layer) and 2 (residual downsampling blocks). candle's stride-2
    // backward gets the input's shape wrong when the last row or column is in no window (as in a
    // padded even side), so the gradients are compared where every pixel is used; the values on
    // an even side too.
    for (stride, h, out_hw) in [(1, 6, [4, 3]), (2, 7, [3, 2])] {
        let mut r = rng(32);
        let (xs, ks) = ((3, 4, h, 5), (7, 4, 3, 3));
        let signs = |v: Vec<f64>| v.into_iter().map(sign).collect::<Vec<_>>();
        // +-1 activations and weights: integer sums, exact in f32 in any order.
        let x = Tensor::new(f32s(&signs(uniform(&mut r, 3 * 4 * h * 5, -1.0, 1.0))), &Device::Cpu).unwrap();
        let k = Tensor::new(f32s(&signs(uniform(&mut r, 7 * 4 * 9, -1.0, 1.0))), &Device::Cpu).unwrap();
        let (x, k) = (x.reshape(xs).unwrap(), k.reshape(ks).unwrap());
        let ours = train::fused::conv3x3_strided(&x, &k, stride).unwrap();
        assert_eq!(ours.dims(), [3, 7, out_hw[0], out_hw[1]]);
        assert_eq!(flat_f32(&ours), flat_f32(&x.conv2d(&k, 0, stride, 1, 1).unwrap()));
        let even =
            Tensor::new(f32s(&signs(uniform(&mut r, 2 * 4 * 6 * 6, -1.0, 1.0))), &Device::Cpu).unwrap();
        let even = even.reshape((2, 4, 6, 6)).unwrap();
        let (ours, theirs) = (
            train::fused::conv3x3_strided(&even, &k, stride).unwrap(),
            even.conv2d(&k, 0, stride, 1, 1).unwrap(),
        );
        assert_eq!(
            (ours.dims(), flat_f32(&ours)),
            (theirs.dims(), flat_f32(&theirs)),
            "stride {stride}, 6x6"
        );
        // Real values in f64: the same value and both gradients as candle's conv2d.
        let (xv, kv) = (uniform(&mut r, 3 * 4 * h * 5, -1.0, 1.0), uniform(&mut r, 7 * 4 * 9, -1.0, 1.0));
        let c = Tensor::new(uniform(&mut r, 3 * 7 * out_hw[0] * out_hw[1], -1.0, 1.0), &Device::Cpu)
            .unwrap()
            .reshape((3, 7, out_hw[0], out_hw[1]))
            .unwrap();
        let run = |conv: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>| {
            let (x, k) = (var4(&xv, xs), var4(&kv, ks));
            let y = conv(x.as_tensor(), k.as_tensor()).unwrap();
            let g = (&y * &c).unwrap().sum_all().unwrap().backward().unwrap();
            [flat_f64(&y), flat_f64(g.get(x.as_tensor()).unwrap()), flat_f64(g.get(k.as_tensor()).unwrap())]
        };
        let ours = run(&|x, k| train::fused::conv3x3_strided(x, k, stride));
        let theirs = run(&|x, k| x.conv2d(k, 0, stride, 1, 1));
        for (what, (o, t)) in ["value", "d/dx", "d/dk"].iter().zip(ours.iter().zip(&theirs)) {
            assert_close(o, t, 1e-12, 1e-12, &format!("stride {stride}: {what}"));
        }
    }
}

#[test]
fn conv3x3_rejects_a_kernel_that_is_not_3x3_over_the_input_channels() {
    let x = Tensor::zeros((1, 2, 5, 5), DType::F32, &Device::Cpu).unwrap();
    for k in [(4, 3, 3, 3), (4, 2, 5, 5)] {
        assert!(train::fused::conv3x3(&x, &Tensor::zeros(k, DType::F32, &Device::Cpu).unwrap()).is_err());
    }
    let small = Tensor::zeros((1, 2, 2, 5), DType::F32, &Device::Cpu).unwrap();
    let k = Tensor::zeros((4, 2, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(train::fused::conv3x3(&small, &k).is_err(), "a 3x3 kernel does not fit 2 rows");
}

/// Training BatchNorm in f64 by definition: per channel of `[n, c, plane]`, batch mean and biased
/// variance, `(y - mean) / sqrt(var + eps) * gamma + beta`.
fn batch_norm_f64(y: &[f64], g: &[f64], b: &[f64], c: usize, plane: usize, eps: f64) -> Vec<f64> {
    let n = y.len() / (c * plane);
    let idx = |ch: usize| (0..n).flat_map(move |i| (0..plane).map(move |p| (i * c + ch) * plane + p));
    let mut out = vec![0.0; y.len()];
    for ch in 0..c {
        let m = (n * plane) as f64;
        let mean = idx(ch).map(|i| y[i]).sum::<f64>() / m;
        let var = idx(ch).map(|i| (y[i] - mean).powi(2)).sum::<f64>() / m;
        for i in idx(ch) {
            out[i] = (y[i] - mean) / (var + eps).sqrt() * g[ch] + b[ch];
        }
    }
    out
}

#[test]
fn batch_norm_train_value_statistics_and_gradients_match_the_definition_in_f64() {
    let mut r = rng(33);
    let (n, c, h, w) = (3, 4, 2, 3);
    let plane = h * w;
    // Channels on different scales and offsets; eps large enough to matter.
    let y: Vec<f64> = uniform(&mut r, n * c * plane, -1.0, 1.0)
        .iter()
        .enumerate()
        .map(|(i, v)| v * (1.0 + (i / plane % c) as f64) + (i / plane % c) as f64)
        .collect();
    let (g, b) = (uniform(&mut r, c, -2.0, 2.0), uniform(&mut r, c, -1.0, 1.0));
    let coef = uniform(&mut r, y.len(), -1.0, 1.0);
    let eps = 1e-2;
    let loss = |y: &[f64], g: &[f64], b: &[f64]| dot(&batch_norm_f64(y, g, b, c, plane, eps), &coef);

    let (yv, gv, bv) = (
        var4(&y, (n, c, h, w)),
        Var::new(g.as_slice(), &Device::Cpu).unwrap(),
        Var::new(b.as_slice(), &Device::Cpu).unwrap(),
    );
    let (z, moments) =
        train::fused::batch_norm_train(yv.as_tensor(), gv.as_tensor(), bv.as_tensor(), eps).unwrap();
    assert_close(&flat_f64(&z), &batch_norm_f64(&y, &g, &b, c, plane, eps), 1e-12, 1e-12, "value");
    for (ch, &(mean, var)) in moments.iter().enumerate() {
        let vals: Vec<f64> = (0..n).flat_map(|i| y[(i * c + ch) * plane..][..plane].to_vec()).collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        assert_rel(mean, m, 1e-12, "batch mean");
        assert_rel(
            var,
            vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64,
            1e-12,
            "batch variance",
        );
    }
    let coef_t = Tensor::new(coef.as_slice(), &Device::Cpu).unwrap().reshape((n, c, h, w)).unwrap();
    let grads = (&z * &coef_t).unwrap().sum_all().unwrap().backward().unwrap();
    let got = |v: &Var| flat_f64(grads.get(v.as_tensor()).unwrap());
    let fd_y = finite_differences(&y, 1e-6, |y| loss(y, &g, &b));
    let fd_g = finite_differences(&g, 1e-6, |g| loss(&y, g, &b));
    let fd_b = finite_differences(&b, 1e-6, |b| loss(&y, &g, b));
    assert_close_to_scale(&got(&yv), &fd_y, 1e-6, "d/dy");
    assert_close_to_scale(&got(&gv), &fd_g, 1e-6, "d/dgamma");
    assert_close_to_scale(&got(&bv), &fd_b, 1e-6, "d/dbeta");
}

#[test]
fn batch_norm_train_rejects_mismatched_parameters() {
    let y = Tensor::zeros((2, 3, 2, 2), DType::F32, &Device::Cpu).unwrap();
    let p = |c: usize| Tensor::ones(c, DType::F32, &Device::Cpu).unwrap();
    assert!(train::fused::batch_norm_train(&y, &p(2), &p(3), 1e-4).is_err());
    assert!(train::fused::batch_norm_train(&y, &p(3), &p(4), 1e-4).is_err());
    assert!(train::fused::batch_norm_train(&y, &p(3), &p(3), 1e-4).is_ok());
}
