//! The float network that training optimises: binary layers (latent real weights), BatchNorm, sign,
//! and the forward passes of training (surrogate gradients) and inference (exact +-1 arithmetic).
//!
//! Inference mirrors the hardware: activations are exact +-1 (sign(0) = +1), or with k-bit
//! activations the exact integer levels `q` (whose value `q / m` the next layer applies by dividing
//! its integer dot products by `m`), weights are the method's exact signs, products are exact small
//! integers in f32, padding uses the hardware's pad bit, and max-pool is the hardware's OR over +-1
//! and its max over integers. A residual network's stream is the hardware's integers in training
//! too ([`residual_add`]), so that its sums saturate exactly where the hardware's do. Export ([`crate::export`]) reproduces the same f32
//! BatchNorm arithmetic per channel, which is what makes the exported thresholds bit-exact.

use crate::arch::{Arch, InputKind, LayerCfg, MAX_ACT_BITS};
use crate::fused;
use crate::method::{self, Ede, Method};
use candle_core::{DType, Device, Result, Tensor, Var};
use compiler::model::IntType;
use compiler::model::Shape;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// BatchNorm's epsilon.
pub const BN_EPS: f64 = 1e-4;
/// BatchNorm's running-statistics momentum.
pub const BN_MOMENTUM: f64 = 0.1;

/// BatchNorm over channels (dimension 1), learned affine, running statistics for inference.
pub struct BatchNorm {
    /// Scale, one per channel.
    pub gamma: Var,
    /// Shift, one per channel.
    pub beta: Var,
    /// Running mean (inference).
    pub mean: RefCell<Tensor>,
    /// Running variance (inference).
    pub var: RefCell<Tensor>,
    /// The weight of each batch in the running statistics: [`BN_MOMENTUM`] while training,
    /// `1 / (t + 1)` for batch `t` of a recalibration (a plain average).
    momentum: Cell<f64>,
}

impl BatchNorm {
    fn new(c: usize, dev: &Device) -> Result<Self> {
        Ok(BatchNorm {
            gamma: Var::ones(c, DType::F32, dev)?,
            beta: Var::zeros(c, DType::F32, dev)?,
            mean: RefCell::new(Tensor::zeros(c, DType::F32, dev)?),
            var: RefCell::new(Tensor::ones(c, DType::F32, dev)?),
            momentum: Cell::new(BN_MOMENTUM),
        })
    }

    /// `[c]` reshaped to broadcast over `y` (channels in dimension 1).
    fn shaped(t: &Tensor, y: &Tensor) -> Result<Tensor> {
        let mut dims = vec![1; y.rank()];
        dims[1] = t.dim(0)?;
        t.reshape(dims)
    }

    /// Training: batch statistics, and the running statistics move towards them.
    fn train(&self, y: &Tensor) -> Result<Tensor> {
        let dims: Vec<usize> = (0..y.rank()).filter(|&d| d != 1).collect();
        let count = dims.iter().map(|&d| y.dim(d)).product::<Result<usize>>()?;
        let (z, mean, var) = if y.rank() > 2 {
            // Conv activations: the fused kernel (training revision 4). Dense layers keep the
            // composed arithmetic below, so MLPs train bit for bit as in revision 3.
            let (z, moments) =
                fused::batch_norm_train(y, self.gamma.as_tensor(), self.beta.as_tensor(), BN_EPS)?;
            let column = |f: fn(&(f64, f64)) -> f64| -> Result<Tensor> {
                let v: Vec<f32> = moments.iter().map(|m| f(m) as f32).collect();
                Tensor::from_vec(v, moments.len(), y.device())
            };
            (z, column(|m| m.0)?, column(|m| m.1)?)
        } else {
            let mean = y.mean_keepdim(dims.as_slice())?;
            let centered = y.broadcast_sub(&mean)?;
            let var = centered.sqr()?.mean_keepdim(dims.as_slice())?;
            let z = centered.broadcast_div(&var.affine(1.0, BN_EPS)?.sqrt()?)?;
            let z = z.broadcast_mul(&Self::shaped(self.gamma.as_tensor(), y)?)?;
            let z = z.broadcast_add(&Self::shaped(self.beta.as_tensor(), y)?)?;
            (z, mean, var)
        };
        let m = self.momentum.get();
        let unbiased = count as f64 / (count.max(2) - 1) as f64;
        let new_mean =
            (self.mean.borrow().affine(1.0 - m, 0.0)? + mean.flatten_all()?.detach().affine(m, 0.0)?)?;
        let new_var = (self.var.borrow().affine(1.0 - m, 0.0)?
            + var.flatten_all()?.detach().affine(m * unbiased, 0.0)?)?;
        *self.mean.borrow_mut() = new_mean;
        *self.var.borrow_mut() = new_var;
        Ok(z)
    }

    /// Inference: `((y - mean) / sqrt(var + eps)) * gamma + beta`, in this order (export repeats it).
    fn eval(&self, y: &Tensor) -> Result<Tensor> {
        let mean = Self::shaped(&self.mean.borrow(), y)?;
        let std = Self::shaped(&self.var.borrow().affine(1.0, BN_EPS)?.sqrt()?, y)?;
        y.broadcast_sub(&mean)?
            .broadcast_div(&std)?
            .broadcast_mul(&Self::shaped(self.gamma.as_tensor(), y)?)?
            .broadcast_add(&Self::shaped(self.beta.as_tensor(), y)?)
    }

    /// The f32 BatchNorm of one value of channel `c`, exactly as [`BatchNorm::eval`] computes it.
    pub fn scalar(&self) -> Result<impl Fn(usize, f32) -> f32> {
        let v = |t: &Tensor| t.to_vec1::<f32>();
        let (mean, var) = (v(&self.mean.borrow())?, v(&self.var.borrow())?);
        let (gamma, beta) = (v(self.gamma.as_tensor())?, v(self.beta.as_tensor())?);
        let eps = BN_EPS as f32;
        Ok(move |c: usize, y: f32| ((y - mean[c]) / (var[c] + eps).sqrt()) * gamma[c] + beta[c])
    }
}

/// One layer of the float network.
pub enum NetLayer {
    /// Binary dense + BatchNorm + sign. `w` is `[out, in]` over the (h, w, c)-flattened input.
    Dense {
        /// Latent weights.
        w: Var,
        /// BatchNorm.
        bn: BatchNorm,
    },
    /// Binary 3x3 conv + BatchNorm + sign (or k-bit levels). `w` is `[out, in, 3, 3]`.
    Conv {
        /// Latent weights.
        w: Var,
        /// Padding bit (one pixel each side) or none.
        pad: Option<bool>,
        /// BatchNorm.
        bn: BatchNorm,
        /// True for a residual network's stem, whose output is the blocks' integer stream: the
        /// k-bit levels `-m..=m` as integers (in training too), typed as the stream.
        stem: bool,
    },
    /// A residual block over the integer stream `x` (see [`residual_add`]): the branch is
    /// `q = level(BN(scale * conv3x3(sign(x), w)))` with the k-bit quantizer's largest level `m`,
    /// the conv padded with +1 and of stride 2 when `down`; the output `saturate(shortcut(x) + q)`.
    Residual {
        /// Latent weights `[out, in, 3, 3]`.
        w: Var,
        /// BatchNorm.
        bn: BatchNorm,
        /// Stride 2 with the pool-and-pad shortcut, else stride 1 with the identity.
        down: bool,
    },
    /// 2x2 max-pool (OR of bits).
    Pool,
    /// The classifier: binary dense without per-row scale, one shared positive scale `exp(log_scale)`,
    /// so that the argmax of the logits is the argmax of the integer popcount scores.
    Head {
        /// Latent weights `[classes, in]`.
        w: Var,
        /// Log of the shared logit scale.
        log_scale: Var,
    },
}

/// Forward mode.
#[derive(Copy, Clone, Debug)]
pub enum Mode {
    /// Training: surrogate gradients with this EDE state, batch statistics, and optional dropout
    /// on the inputs of the fully connected layers.
    Train(Ede, Option<Dropout>),
    /// Inference: exact signs, running statistics.
    Eval,
}

/// Dropout on the inputs of fully connected layers (as Brevitas' TFC/SFC/LFC do), with masks
/// drawn from a seed so that a resumed run repeats the uninterrupted one exactly.
#[derive(Copy, Clone, Debug)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f32,
    /// Seed of this step's masks.
    pub seed: u64,
}

impl Dropout {
    /// Zeroes each element with probability `p` and scales the rest by `1/(1-p)`; `layer` picks
    /// an independent mask stream per layer.
    fn apply(&self, x: &Tensor, layer: usize) -> Result<Tensor> {
        if self.p <= 0.0 {
            return Ok(x.clone());
        }
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ (layer as u64 + 1).wrapping_mul(0xd134_2543_de82_ef95));
        let keep = 1.0 / (1.0 - self.p);
        let mask: Vec<f32> =
            (0..x.elem_count()).map(|_| if rng.gen::<f32>() < self.p { 0.0 } else { keep }).collect();
        x.mul(&Tensor::from_vec(mask, x.dims(), x.device())?)
    }
}

/// A binarized network being trained.
pub struct Net {
    /// The architecture.
    pub arch: Arch,
    /// The binarization method.
    pub method: Method,
    /// The method of the classifier layer: `method`, or `method` without Libra-PB
    /// ([`Method::without_libra`]) for a plain-sign classifier.
    pub head_method: Method,
    /// Input frame shape (u8 pixels).
    pub input: Shape,
    /// Layers in order; the last is the head.
    pub layers: Vec<NetLayer>,
    device: Device,
}

fn glorot(rng: &mut ChaCha8Rng, shape: &[usize], fan_in: usize, fan_out: usize, dev: &Device) -> Result<Var> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.gen_range(-limit..limit)).collect();
    Var::from_tensor(&Tensor::from_vec(data, shape, dev)?)
}

/// Output shape of each hidden layer of `arch` on `input`, or an error naming the layer.
pub fn layer_shapes(arch: &Arch, input: Shape) -> std::result::Result<Vec<Shape>, String> {
    if let (InputKind::Fixed8, Some(LayerCfg::Conv { pad: Some(_), .. })) = (arch.input, arch.layers.first())
    {
        return Err(
            "layer 1 (conv): an 8-bit input has no padding bit; use an unpadded conv (cN) first".into()
        );
    }
    if !(1..=MAX_ACT_BITS).contains(&arch.act_bits) {
        return Err(format!(
            "--act-bits must be 1 (binary activations) to {MAX_ACT_BITS}, got {}",
            arch.act_bits
        ));
    }
    if arch.is_residual() {
        check_stream_bits(arch)?;
    }
    let stem = arch.stem();
    let mut cur = input;
    let mut out = Vec::new();
    // Whether the layer reads the k-bit integers of an earlier layer (their model IR has no pad bit).
    let mut kbit_input = false;
    // Whether the layer reads a residual network's stream (after the stem).
    let mut stream = false;
    for (i, l) in arch.layers.iter().enumerate() {
        let name = format!("layer {} ({})", i + 1, crate::arch::token(l));
        if stream && matches!(l, LayerCfg::Dense(_) | LayerCfg::Conv { .. }) {
            return Err(format!(
                "{name}: after residual blocks only further blocks (rN, rNs) and 2x2 max-pools (p) may \
                 follow; the classifier reads the blocks' integer stream"
            ));
        }
        cur = match *l {
            LayerCfg::Residual { out, down } => {
                if !stream {
                    return Err(format!(
                        "{name}: a residual block needs a stem: put a conv (such as c{out}p0) right before \
                         the first block; its output becomes the blocks' integer stream"
                    ));
                }
                if !down && out != cur.c {
                    return Err(format!(
                        "{name}: an identity shortcut needs as many channels as the block's input {cur}: \
                         use r{}, or r{out}s to downsample",
                        cur.c
                    ));
                }
                if down && (cur.h % 2 != 0 || cur.w % 2 != 0) {
                    return Err(format!(
                        "{name}: a stride-2 block needs an even height and width, its input is {cur}"
                    ));
                }
                if down && out < cur.c {
                    return Err(format!(
                        "{name}: the pool-and-pad shortcut appends zero channels, so the block needs at \
                         least its input's {} channels",
                        cur.c
                    ));
                }
                if down {
                    Shape::new(cur.h / 2, cur.w / 2, out)
                } else {
                    cur
                }
            }
            LayerCfg::Dense(n) => Shape::new(1, 1, n),
            LayerCfg::Conv { out, pad } => {
                if kbit_input && pad.is_some() {
                    return Err(format!(
                        "layer {} (conv): its input is {}-bit activations, which have no padding bit; \
                         use an unpadded conv (c{out}) there, or --act-bits 1",
                        i + 1,
                        arch.act_bits
                    ));
                }
                let p = if pad.is_some() { 2 } else { 0 };
                if cur.h + p < 3 || cur.w + p < 3 {
                    return Err(format!("layer {} (conv): a 3x3 kernel does not fit {cur}", i + 1));
                }
                Shape::new(cur.h + p - 2, cur.w + p - 2, out)
            }
            LayerCfg::Pool => {
                if cur.h < 2 || cur.w < 2 {
                    return Err(format!("layer {} (pool): a 2x2 window does not fit {cur}", i + 1));
                }
                Shape::new(cur.h / 2, cur.w / 2, cur.c)
            }
        };
        kbit_input |= arch.act_bits > 1 && !matches!(l, LayerCfg::Pool);
        stream |= stem == Some(i);
        out.push(cur);
    }
    Ok(out)
}

/// Checks a residual network's branch levels (`--act-bits`) and stream width (`--res-bits`).
fn check_stream_bits(arch: &Arch) -> std::result::Result<(), String> {
    if arch.act_bits < 2 {
        return Err(format!(
            "a residual network's stem and blocks output k-bit levels -m..=m (m = 2^(k-1) - 1) that \
             its stream adds up: give --act-bits 2 to {MAX_ACT_BITS} (2: m = 1, 3: m = 3, 4: m = 7)"
        ));
    }
    if !(2..=MAX_RES_BITS).contains(&arch.res_bits) || arch.res_bits < arch.act_bits {
        return Err(format!(
            "--res-bits must be {} (--act-bits) to {MAX_RES_BITS}: the stream holds the stem's \
             {}-bit levels, got {}",
            arch.act_bits, arch.act_bits, arch.res_bits
        ));
    }
    Ok(())
}

/// Widest residual stream (the model IR's widest integer activation).
pub const MAX_RES_BITS: u8 = 8;

/// The signed `bits`-bit type of a residual network's stream.
pub fn stream_type(bits: u8) -> IntType {
    IntType { bits, signed: true }
}

/// A residual block's output from its input stream `x` (`[n, c, h, w]` integers) and its
/// branch's integer levels `q` (`[n, out, h', w']`), exactly as `compiler::model::Layer::Residual`
/// defines it: the shortcut is `x` (stride 1), or when `down` the largest value of each 2x2 window
/// with zero channels appended up to `out`; the sum is saturated to `ty`. In training
/// (`train`) the gradient passes the shortcut (shared equally by a window's tied maxima) and
/// the saturation straight through inside `ty`'s range, and is 0 where the sum saturated. Every
/// value is a small integer, exact in f32.
pub fn residual_add(x: &Tensor, q: &Tensor, down: bool, ty: IntType, train: bool) -> Result<Tensor> {
    // Inference has no gradient to carry: candle's clamp, which the fused op must equal.
    let shortcut = if down {
        let pooled = fused::max_pool_split_ties(x)?;
        let (cin, out) = (pooled.dim(1)?, q.dim(1)?);
        if out < cin {
            candle_core::bail!("residual: a pool-and-pad shortcut of {cin} channels onto {out}");
        }
        pooled.pad_with_zeros(1, 0, out - cin)?
    } else {
        x.clone()
    };
    let sum = (shortcut + q)?;
    let (lo, hi) = (ty.min() as f64, ty.max() as f64);
    if train {
        fused::saturate(&sum, lo, hi)
    } else {
        sum.clamp(lo, hi)
    }
}

impl Net {
    /// A freshly initialised network (Glorot-uniform latent weights from `seed`).
    pub fn new(arch: &Arch, method: Method, input: Shape, seed: u64) -> std::result::Result<Self, String> {
        let shapes = layer_shapes(arch, input)?;
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let stem = arch.stem();
        let mut build = || -> Result<Vec<NetLayer>> {
            let mut layers = Vec::new();
            let mut cur = input;
            for (i, (l, &shape)) in arch.layers.iter().zip(&shapes).enumerate() {
                layers.push(match *l {
                    LayerCfg::Dense(n) => NetLayer::Dense {
                        w: glorot(&mut rng, &[n, cur.len()], cur.len(), n, &dev)?,
                        bn: BatchNorm::new(n, &dev)?,
                    },
                    LayerCfg::Conv { out, pad } => NetLayer::Conv {
                        w: glorot(&mut rng, &[out, cur.c, 3, 3], 9 * cur.c, 9 * out, &dev)?,
                        pad,
                        bn: BatchNorm::new(out, &dev)?,
                        stem: stem == Some(i),
                    },
                    LayerCfg::Residual { out, down } => NetLayer::Residual {
                        w: glorot(&mut rng, &[out, cur.c, 3, 3], 9 * cur.c, 9 * out, &dev)?,
                        bn: BatchNorm::new(out, &dev)?,
                        down,
                    },
                    LayerCfg::Pool => NetLayer::Pool,
                });
                cur = shape;
            }
            let n = cur.len();
            layers.push(NetLayer::Head {
                w: glorot(&mut rng, &[arch.classes, n], n, arch.classes, &dev)?,
                log_scale: Var::from_tensor(&Tensor::new(&[-0.5 * (n as f32).ln()], &dev)?)?,
            });
            Ok(layers)
        };
        let layers = build().map_err(|e| e.to_string())?;
        Ok(Net { arch: arch.clone(), method, head_method: method, input, layers, device: dev })
    }

    /// The input tensor `[n, c, h, w]` of `n` frames of u8 pixels (h, w, c order).
    pub fn input_tensor(&self, pixels: &[u8]) -> Result<Tensor> {
        let s = self.input;
        let n = pixels.len() / s.len();
        let data: Vec<f32> = match self.arch.input {
            InputKind::Binary { threshold } => {
                pixels.iter().map(|&p| if p >= threshold { 1.0 } else { -1.0 }).collect()
            }
            // pixel / 256 is exact in f32, so the float dot products are the integer ones / 256.
            InputKind::Fixed8 => pixels.iter().map(|&p| f32::from(p) / 256.0).collect(),
        };
        Tensor::from_vec(data, (n, s.h, s.w, s.c), &self.device)?.permute((0, 3, 1, 2))?.contiguous()
    }

    /// Every trainable variable, in a fixed order (optimizer and checkpoints rely on it).
    pub fn vars(&self) -> Vec<(String, &Var)> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            match l {
                NetLayer::Dense { w, bn }
                | NetLayer::Conv { w, bn, .. }
                | NetLayer::Residual { w, bn, .. } => {
                    v.push((format!("l{i}.w"), w));
                    v.push((format!("l{i}.gamma"), &bn.gamma));
                    v.push((format!("l{i}.beta"), &bn.beta));
                }
                NetLayer::Head { w, log_scale } => {
                    v.push((format!("l{i}.w"), w));
                    v.push((format!("l{i}.log_scale"), log_scale));
                }
                NetLayer::Pool => {}
            }
        }
        v
    }

    /// The latent weight variables (clipped after each step by methods that clip).
    pub fn weight_vars(&self) -> Vec<&Var> {
        self.layers
            .iter()
            .filter_map(|l| match l {
                NetLayer::Dense { w, .. }
                | NetLayer::Conv { w, .. }
                | NetLayer::Residual { w, .. }
                | NetLayer::Head { w, .. } => Some(w),
                NetLayer::Pool => None,
            })
            .collect()
    }

    /// Sets every BatchNorm's running-statistics momentum (see [`BatchNorm`]).
    pub fn set_bn_momentum(&self, m: f64) {
        for l in &self.layers {
            if let NetLayer::Dense { bn, .. } | NetLayer::Conv { bn, .. } | NetLayer::Residual { bn, .. } = l
            {
                bn.momentum.set(m);
            }
        }
    }

    /// Running statistics by name, for checkpoints.
    pub fn running_stats(&self) -> Vec<(String, &RefCell<Tensor>)> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            if let NetLayer::Dense { bn, .. } | NetLayer::Conv { bn, .. } | NetLayer::Residual { bn, .. } = l
            {
                v.push((format!("l{i}.running_mean"), &bn.mean));
                v.push((format!("l{i}.running_var"), &bn.var));
            }
        }
        v
    }

    /// Every tensor of the network's state by name (variables and running statistics).
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut m: HashMap<String, Tensor> =
            self.vars().into_iter().map(|(k, v)| (k, v.as_tensor().clone())).collect();
        m.extend(self.running_stats().into_iter().map(|(k, t)| (k, t.borrow().clone())));
        m
    }

    /// Restores the state written by [`Net::state`]; every tensor must be present with its shape.
    pub fn load_state(&self, m: &HashMap<String, Tensor>) -> std::result::Result<(), String> {
        let get = |k: &str, shape: &[usize]| {
            let t = m.get(k).ok_or_else(|| format!("checkpoint lacks '{k}'"))?;
            if t.dims() != shape {
                return Err(format!("checkpoint '{k}' is {:?}, expected {shape:?}", t.dims()));
            }
            Ok(t.clone())
        };
        for (k, v) in self.vars() {
            v.set(&get(&k, v.dims())?).map_err(|e| e.to_string())?;
        }
        for (k, t) in self.running_stats() {
            let shape = t.borrow().dims().to_vec();
            *t.borrow_mut() = get(&k, &shape)?;
        }
        Ok(())
    }

    /// The forward pass: logits `[n, classes]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut outs = self.forward_trace(x, mode)?;
        outs.pop().ok_or_else(|| candle_core::Error::Msg("a network without layers".into()))
    }

    /// The forward pass, keeping every layer's output (the last is the logits). In [`Mode::Eval`]
    /// a hidden layer's output is what the exported model's layer computes: +-1, or with k-bit
    /// activations the integer levels `q` (the activation's value is `q / m`), or a residual
    /// network's stream integers (stem and blocks), so that it can be compared with the golden
    /// model's trace layer by layer.
    pub fn forward_trace(&self, x: &Tensor, mode: Mode) -> Result<Vec<Tensor>> {
        let mut x = x.clone();
        let mut outs = Vec::with_capacity(self.layers.len());
        let levels = self.arch.act_levels();
        // In inference, the largest level `m` when `x` holds k-bit integer levels: a layer reading
        // them divides its exact integer dot products by `m` (export repeats that f32 division).
        let mut int_levels: Option<i32> = None;
        let unscale = |y: Tensor, m: Option<i32>| -> Result<Tensor> {
            match m {
                Some(m) => y.broadcast_div(&Tensor::new(m as f32, y.device())?),
                None => Ok(y),
            }
        };
        // Hidden layers are scaled with `method`; the classifier is unscaled, with `head_method`.
        let binarize = |w: &Tensor, scaled: bool| -> Result<(Tensor, Option<Tensor>)> {
            let m = if scaled { self.method } else { self.head_method };
            match mode {
                Mode::Train(e, _) => Ok((method::weights(w, m, e, scaled)?, None)),
                Mode::Eval => method::hard_weights(w, m, scaled),
            }
        };
        let act = |z: &Tensor| match (mode, levels) {
            (Mode::Train(e, _), None) => method::activation(z, self.method, e),
            (Mode::Train(..), Some(m)) => method::quantized_activation(z, m),
            (Mode::Eval, None) => method::hard_sign(z),
            (Mode::Eval, Some(m)) => method::hard_levels(z, m),
        };
        let eval_levels = match mode {
            Mode::Train(..) => None,
            Mode::Eval => levels,
        };
        let bn = |bn: &BatchNorm, y: &Tensor| match mode {
            Mode::Train(..) => bn.train(y),
            Mode::Eval => bn.eval(y),
        };
        let drop = |x: Tensor, i: usize| match mode {
            Mode::Train(_, Some(d)) => d.apply(&x, i),
            _ => Ok(x),
        };
        // A residual network's stream: the largest branch level `m` once the stem has run. The
        // stream holds integers in both modes (so that the sums and their saturation are the
        // hardware's); the value a layer sees is the integer / m.
        let mut stream_m: Option<i32> = None;
        let ty = stream_type(self.arch.res_bits);
        let train = matches!(mode, Mode::Train(..));
        let int_levels_of = |z: &Tensor, m: i32| match mode {
            Mode::Train(..) => fused::act_quantize(z, m, false),
            Mode::Eval => method::hard_levels(z, m),
        };
        let no_stream = || candle_core::Error::Msg("a residual block without a stem".into());
        for (i, layer) in self.layers.iter().enumerate() {
            x = match layer {
                NetLayer::Conv { w, pad, bn: norm, stem } => {
                    let (out, cin) = (w.dim(0)?, w.dim(1)?);
                    let (wb, scale) = binarize(&w.as_tensor().reshape((out, cin * 9))?, true)?;
                    let wb = wb.reshape((out, cin, 3, 3))?;
                    let xp = match pad {
                        // Pad +-1 activations with the pad bit: shift so the bit's value is 0, pad
                        // with zeros, shift back (exact for +-1 values).
                        Some(bit) => {
                            let v = if *bit { 1.0 } else { -1.0 };
                            x.affine(1.0, -v)?
                                .pad_with_zeros(2, 1, 1)?
                                .pad_with_zeros(3, 1, 1)?
                                .affine(1.0, v)?
                        }
                        None => x,
                    };
                    let mut y = unscale(fused::conv3x3(&xp, &wb)?, int_levels)?;
                    int_levels = eval_levels;
                    if let Some(s) = scale {
                        y = y.broadcast_mul(&s.reshape((1, out, 1, 1))?)?;
                    }
                    let z = bn(norm, &y)?;
                    match (stem, levels) {
                        (true, Some(m)) => {
                            stream_m = Some(m);
                            int_levels_of(&z, m)?
                        }
                        _ => act(&z)?,
                    }
                }
                NetLayer::Residual { w, bn: norm, down } => {
                    let m = stream_m.ok_or_else(no_stream)?;
                    let (out, cin) = (w.dim(0)?, w.dim(1)?);
                    let (wb, scale) = binarize(&w.as_tensor().reshape((out, cin * 9))?, true)?;
                    let wb = wb.reshape((out, cin, 3, 3))?;
                    // The sign of the stream's value x / m: the hardware's sign of x (x >= 0 is
                    // +1), with the method's surrogate on the value, whose scale it is made for.
                    let u = x.affine(1.0 / f64::from(m), 0.0)?;
                    let b = match mode {
                        Mode::Train(e, _) => method::activation(&u, self.method, e)?,
                        Mode::Eval => method::hard_sign(&u)?,
                    };
                    // Padded with +1, the sign of a zero-padded stream (exact for +-1 values).
                    let bp = b
                        .affine(1.0, -1.0)?
                        .pad_with_zeros(2, 1, 1)?
                        .pad_with_zeros(3, 1, 1)?
                        .affine(1.0, 1.0)?;
                    let mut y = fused::conv3x3_strided(&bp, &wb, if *down { 2 } else { 1 })?;
                    if let Some(s) = scale {
                        y = y.broadcast_mul(&s.reshape((1, out, 1, 1))?)?;
                    }
                    let q = int_levels_of(&bn(norm, &y)?, m)?;
                    residual_add(&x, &q, *down, ty, train)?
                }
                NetLayer::Pool => match mode {
                    Mode::Train(..) => fused::max_pool_split_ties(&x)?,
                    Mode::Eval => x.max_pool2d(2)?,
                },
                NetLayer::Dense { w, bn: norm } => {
                    let xf = drop(flatten_hwc(&x)?, i)?;
                    let (wb, scale) = binarize(w.as_tensor(), true)?;
                    let mut y = unscale(xf.matmul(&wb.t()?)?, int_levels)?;
                    int_levels = eval_levels;
                    if let Some(s) = scale {
                        y = y.broadcast_mul(&s.t()?)?;
                    }
                    act(&bn(norm, &y)?)?
                }
                NetLayer::Head { w, log_scale } => {
                    let xf = drop(flatten_hwc(&x)?, i)?;
                    let (wb, _) = binarize(w.as_tensor(), false)?;
                    unscale(xf.matmul(&wb.t()?)?, stream_m.or(int_levels))?
                        .broadcast_mul(&log_scale.as_tensor().exp()?)?
                }
            };
            outs.push(x.clone());
        }
        Ok(outs)
    }

    /// Inference logits of a batch of frames, as rows of f32.
    pub fn predict(&self, pixels: &[u8]) -> Result<Vec<Vec<f32>>> {
        self.forward(&self.input_tensor(pixels)?, Mode::Eval)?.to_vec2()
    }
}

/// `[n, c, h, w]` to `[n, h*w*c]` in (h, w, c) order, the model IR's flatten; 2-D input passes.
fn flatten_hwc(x: &Tensor) -> Result<Tensor> {
    if x.rank() == 4 {
        x.permute((0, 2, 3, 1))?.flatten_from(1)
    } else {
        Ok(x.clone())
    }
}

pub use compiler::model::argmax;

/// True when the maximum of `v` is reached more than once.
pub fn has_tie(v: &[f32]) -> bool {
    let m = v[argmax(v)];
    v.iter().filter(|&&x| x == m).count() > 1
}
