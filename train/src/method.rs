//! Binarization methods: how weights and activations become +-1 in the forward pass and what gradient
//! flows back (reference.md section 1).
//!
//! Every method is a sign whose forward value is the hardware's sign (sign(0) = +1, exactly +-1) and
//! whose backward is the derivative `g'(x)` of the method's smooth stand-in `g`: what the detach trick
//! `g(x) + stop_grad(sign(x) - g(x))` computes, fused into one kernel ([`crate::fused`]) because the
//! trick costs several passes over every weight matrix per step. Inference and export call
//! [`hard_sign`] on the same latent values. Hidden activations can instead be k-bit
//! ([`quantized_activation`], `--act-bits`), with binary weights from any method.

use crate::fused::{act_quantize, binary_sign, standardize_rows, Surrogate};
use candle_core::{DType, Result, Tensor};
use std::fmt;
use std::str::FromStr;

/// A binarization method, selectable by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// BNN (Courbariaux/Hubara): sign, clipped-identity gradient, weights clipped to [-1, 1].
    Ste,
    /// XNOR-Net: per-output-channel alpha = mean|w|, STE for activations.
    Xnor,
    /// Bi-Real: ApproxSign gradient for activations, XNOR-Net style weights.
    Bireal,
    /// IR-Net: Libra-PB (balance, standardize, 2^s shift scale) and the Error Decay Estimator.
    Irnet,
    /// IR-Net's ablation without EDE: Libra-PB weights, the clipped-identity backward of `ste`
    /// for weights and activations (the paper's "Libra-PB only" row).
    #[serde(rename = "irnet-libra")]
    IrnetLibra,
    /// IR-Net's ablation without Libra-PB: plain sign weights (no standardization, no scale, no
    /// clipping), EDE's backward for weights and activations (the paper's "EDE only" row).
    #[serde(rename = "irnet-ede")]
    IrnetEde,
}

impl Method {
    /// Every method, in the order results tables list them: the survey's four, then IR-Net's
    /// two ablations.
    pub const ALL: [Method; 6] =
        [Method::Ste, Method::Xnor, Method::Bireal, Method::Irnet, Method::IrnetLibra, Method::IrnetEde];

    /// The name used on the command line and in model provenance.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ste => "ste",
            Method::Xnor => "xnor",
            Method::Bireal => "bireal",
            Method::Irnet => "irnet",
            Method::IrnetLibra => "irnet-libra",
            Method::IrnetEde => "irnet-ede",
        }
    }

    /// True if weights go through Libra-PB (balance, standardize, 2^s) before the sign.
    pub fn libra(self) -> bool {
        matches!(self, Method::Irnet | Method::IrnetLibra)
    }

    /// This method with Libra-PB removed (`irnet` -> `irnet-ede`, `irnet-libra` -> `ste`'s sign
    /// and backward), for a classifier layer binarized as plain sign(w); others are unchanged.
    pub fn without_libra(self) -> Method {
        match self {
            Method::Irnet => Method::IrnetEde,
            Method::IrnetLibra => Method::Ste,
            m => m,
        }
    }

    /// True if the signs' backward is the Error Decay Estimator, whose schedule runs over epochs.
    pub fn ede(self) -> bool {
        matches!(self, Method::Irnet | Method::IrnetEde)
    }

    /// True if latent weights are clipped to [-1, 1] after every step (BNN's rule).
    pub fn clips_weights(self) -> bool {
        matches!(self, Method::Ste)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Method::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            format!("unknown method '{s}' (one of {})", names.join(", "))
        })
    }
}

/// The Error Decay Estimator's state for one epoch: `g(x) = k * tanh(t * x)`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Ede {
    /// Sharpness t.
    pub t: f64,
    /// Gain k = max(1 / t, 1).
    pub k: f64,
}

impl Ede {
    /// The schedule of IR-Net for epoch `i` of `n`: `t = T_min * 10^((i / n) * log10(T_max / T_min))`.
    pub fn at(i: usize, n: usize, t_min: f64, t_max: f64) -> Ede {
        let frac = i as f64 / n.max(1) as f64;
        let t = t_min * 10f64.powf(frac * (t_max / t_min).log10());
        Ede { t, k: (1.0 / t).max(1.0) }
    }
}

/// The hardware's sign: +1 where x >= 0, else -1 (so sign(0) = +1).
pub fn hard_sign(x: &Tensor) -> Result<Tensor> {
    x.ge(0f64)?.to_dtype(DType::F32)?.affine(2.0, -1.0)
}

impl Ede {
    /// This state as the backward of a weight sign.
    pub fn surrogate(self) -> Surrogate {
        Surrogate::Ede { k: self.k, t: self.t }
    }

    /// This state as the backward of an activation sign, behind the official code's Hardtanh
    /// (reference.md section 1, IR-Net item 5): without it nothing clips the gradient of saturated
    /// units, and early in the schedule (t = 0.1, k = 10) EDE's backward is the plain identity.
    pub fn activation_surrogate(self) -> Surrogate {
        Surrogate::HardtanhEde { k: self.k, t: self.t }
    }
}

/// Binarized activations for training (forward sign, the method's backward).
pub fn activation(x: &Tensor, method: Method, e: Ede) -> Result<Tensor> {
    let surrogate = match method {
        Method::Bireal => Surrogate::ApproxSign,
        m if m.ede() => e.activation_surrogate(),
        _ => Surrogate::Ste,
    };
    binary_sign(x, surrogate)
}

/// k-bit activations for training, with largest level `m = 2^(k-1) - 1`: forward
/// `round(clamp(x, -1, 1) * m) / m` ([`crate::fused::act_level`], ties away from zero), backward
/// straight-through on the clip range (1 where |x| <= 1, else 0) for every method. EDE is a smooth
/// stand-in for a sign, whose one step is what the backward must bridge; with k >= 2 the staircase
/// already follows the identity on [-1, 1] to within `1 / (2m)`, so the clipped identity is its
/// natural surrogate (the straight-through estimator of DoReFa-Net and of Brevitas' QuantHardTanh). Weights keep the method's
/// binarization and backward.
pub fn quantized_activation(x: &Tensor, m: i32) -> Result<Tensor> {
    act_quantize(x, m, true)
}

/// The integer levels `round(clamp(x, -1, 1) * m)` of k-bit activations, for inference and
/// export: exact small integers in f32, whose dot products with +-1 weights are exact.
pub fn hard_levels(x: &Tensor, m: i32) -> Result<Tensor> {
    act_quantize(&x.detach(), m, false)
}

/// IR-Net's Libra-PB balance and standardization of `[out, n]` weights, per output row:
/// `(w - mean) / std`, with n - 1 in the standard deviation.
pub fn libra_standardize(w: &Tensor) -> Result<Tensor> {
    standardize_rows(w)
}

/// Libra-PB's shift exponents `s_o = round(log2(mean|w~|))` (half to even), one per row, as plain
/// numbers: the paper treats them as constants.
pub fn libra_shift(std_w: &Tensor) -> Result<Vec<i32>> {
    let m: Vec<f32> = std_w.abs()?.mean_keepdim(1)?.flatten_all()?.to_vec1()?;
    Ok(m.iter().map(|&m| f64::from(m).log2().round_ties_even() as i32).collect())
}

/// The latent values whose sign gives the binary weights, and the positive per-row scale the
/// method applies (`None` = 1): what both training and export read.
pub fn weight_parts(w: &Tensor, method: Method, scaled: bool) -> Result<(Tensor, Option<Tensor>)> {
    let out = w.dim(0)?;
    Ok(match method {
        Method::Ste | Method::IrnetEde => (w.clone(), None),
        Method::Xnor | Method::Bireal => {
            let alpha = w.abs()?.mean_keepdim(1)?;
            (w.clone(), scaled.then_some(alpha))
        }
        Method::Irnet | Method::IrnetLibra => {
            let std_w = libra_standardize(w)?;
            let scale = if scaled {
                let s: Vec<f32> = libra_shift(&std_w)?.iter().map(|&s| 2f32.powi(s)).collect();
                Some(Tensor::from_vec(s, (out, 1), w.device())?)
            } else {
                None
            };
            (std_w, scale)
        }
    })
}

/// Binarized weights for training: `scale * sign(latent)` with the method's backward. `scaled` is
/// false for the last layer, whose scores must stay a plain popcount (one shared scale instead).
pub fn weights(w: &Tensor, method: Method, e: Ede, scaled: bool) -> Result<Tensor> {
    let (latent, scale) = weight_parts(w, method, scaled)?;
    let b = binary_sign(&latent, if method.ede() { e.surrogate() } else { Surrogate::Ste })?;
    match scale {
        Some(s) => b.broadcast_mul(&s),
        None => Ok(b),
    }
}

/// The exact +-1 weights and per-row scale of inference and export (no surrogate gradient).
pub fn hard_weights(w: &Tensor, method: Method, scaled: bool) -> Result<(Tensor, Option<Tensor>)> {
    let (latent, scale) = weight_parts(&w.detach(), method, scaled)?;
    Ok((hard_sign(&latent)?, scale))
}
