//! The training loop shared by every method: Adam with a cosine learning-rate schedule, the EDE
//! schedule per epoch, deterministic shuffling from the seed, a checkpoint after every epoch.

use crate::arch::Arch;
use crate::method::{Ede, Method};
use crate::net::{argmax, Dropout, Mode, Net};
use candle_core::{Tensor, Var};
use compiler::data::Dataset;
use compiler::model::limits::{self, grouped, MAX_CHECKPOINT_BYTES, MAX_TRAIN_ACTIVATIONS, MAX_TRAIN_PARAMS};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Revision of the training semantics: bumped whenever a change makes a given [`TrainConfig`]
/// train to a different network (2: IR-Net's activations gained the Hardtanh in front of the EDE
/// sign; 3: max-pool's gradient is shared equally by tied maxima, which changes networks with
/// pools only; 4: conv layers' BatchNorm is a fused kernel with f64 batch statistics, which rounds
/// differently, so conv networks train to slightly different weights while dense-only networks
/// train bit for bit as in 3). A checkpoint records it, so a run is never resumed under other
/// training math.
pub const TRAINING_REVISION: u32 = 4;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed.
    #[error("tensor: {0}")]
    Tensor(candle_core::Error),
    /// The configuration does not fit the data.
    #[error("{0}")]
    Config(String),
    /// The loss stopped being a finite number: the weights ran off.
    #[error(
        "training diverged: the loss became {loss} at epoch {epoch}, step {step}; the learning rate \
         is probably too high for this network (--lr {lr:?}): try a smaller one, such as {:?}",
        lr / 10.0
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss (NaN or infinite).
        loss: f64,
        /// The run's initial learning rate.
        lr: f64,
    },
    /// A checkpoint could not be read or written, or belongs to another run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

// By hand rather than `#[from]`, which would also make candle's error the `source`, printed
// twice by error chains.
impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Tensor(e)
    }
}

/// Largest initial learning rate accepted: Adam moves every weight by about `lr` per step, and the
/// latent weights live in [-1, 1], so a larger rate only throws them around.
pub const MAX_LR: f64 = 1.0;

/// Range of EDE's `t` (--t-min, --t-max): the IR-Net paper uses 0.1 to 10. Beyond it, `k t` and
/// `1 - tanh^2(t x)` leave f32's range and the surrogate gradient becomes 0, infinite or NaN.
pub const EDE_T_RANGE: (f64, f64) = (1e-4, 1e4);

/// Most epochs of a run (a model file records them as a 32-bit number).
pub const MAX_EPOCHS: usize = 100_000;

/// Everything that determines a training run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Network.
    pub arch: Arch,
    /// Binarization method.
    pub method: Method,
    /// Epochs.
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// Initial learning rate (cosine-decayed to 0).
    pub lr: f64,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// EDE's T_min.
    pub t_min: f64,
    /// EDE's T_max.
    pub t_max: f64,
    /// Dropout probability on the inputs of fully connected layers (0 = none).
    #[serde(default)]
    pub dropout: f64,
    /// Data augmentation: each training image is translated by a random whole number of pixels in
    /// `-shift..=shift` per axis, every epoch (0 = none).
    #[serde(default)]
    pub shift: usize,
    /// Decoupled weight decay (AdamW) on the latent weight matrices, not on BatchNorm or the
    /// logit scale (0 = none). Libra-PB standardizes each row, so IR-Net's forward pass ignores the
    /// weights' scale while Adam's steps grow it, shrinking the effective step; decay holds it.
    #[serde(default)]
    pub weight_decay: f64,
    /// Binarize the classifier layer as plain sign(w), without Libra-PB's balancing (methods with
    /// Libra-PB only). The IR-Net paper keeps that layer in full precision, so Libra-PB was never
    /// meant for it (on MNIST MLPs over ten seeds it makes no measurable difference).
    #[serde(default)]
    pub plain_head: bool,
    /// After the last epoch, BatchNorm's running statistics are recomputed as the plain average
    /// of the batch statistics over this many training batches with the final weights (0 = keep
    /// the moving averages). The moving averages lag the binary weights, whose signs still flip
    /// in the last epochs; a residual network's integer stream makes its later layers' statistics
    /// depend on every earlier layer's, so it suffers most.
    #[serde(default)]
    pub bn_recalibrate: usize,
}

impl TrainConfig {
    /// Defaults: batch 100, lr 1e-3, EDE T_min 0.1, T_max 10 (the IR-Net paper's values), no dropout.
    pub fn new(arch: Arch, method: Method, epochs: usize, seed: u64) -> Self {
        TrainConfig {
            arch,
            method,
            epochs,
            batch: 100,
            lr: 1e-3,
            seed,
            t_min: 0.1,
            t_max: 10.0,
            dropout: 0.0,
            shift: 0,
            weight_decay: 0.0,
            plain_head: false,
            bn_recalibrate: 0,
        }
    }

    /// Checks the configuration against `data` without training: every error [`train`] would give
    /// before its first step, so that a caller can report it before announcing a run. Options are
    /// named as the CLI spells them.
    pub fn validate(&self, data: &Dataset) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if data.is_empty() {
            return bad("the training set has no images".into());
        }
        if data.shape.is_empty() || data.images.len() != data.len() * data.shape.len() {
            return bad(format!(
                "the training images are {} with {} pixels for {} images: empty or inconsistent images \
                 cannot be trained on",
                data.shape,
                data.images.len(),
                data.len()
            ));
        }
        if self.epochs == 0 || self.epochs > MAX_EPOCHS {
            return bad(format!("--epochs must be between 1 and {MAX_EPOCHS}, got {}", self.epochs));
        }
        if self.batch == 0 {
            return bad("--batch must be at least 1".into());
        }
        if self.arch.classes < data.classes {
            return bad(format!("{} classes for a dataset of {}", self.arch.classes, data.classes));
        }
        // Each float option on its own, so that a bad one is named rather than blamed on another.
        // `!(x > a)` rather than `x <= a` so that NaN is refused too.
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR) {
            return bad(format!(
                "--lr must be a finite number above 0 and at most {MAX_LR}, got {:?} (Adam's learning \
                 rates are usually between 1e-4 and 1e-1; the default is 1e-3)",
                self.lr
            ));
        }
        let (t_lo, t_hi) = EDE_T_RANGE;
        if !(self.t_min.is_finite() && self.t_min >= t_lo && self.t_min <= t_hi) {
            return bad(format!(
                "--t-min must be a finite number in [{t_lo}, {t_hi}], got {:?} (the IR-Net paper's is 0.1)",
                self.t_min
            ));
        }
        if !(self.t_max.is_finite() && self.t_max >= self.t_min && self.t_max <= t_hi) {
            return bad(format!(
                "--t-max must be a finite number in [--t-min ({:?}), {t_hi}], got {:?} (the IR-Net paper's is 10)",
                self.t_min, self.t_max
            ));
        }
        if !(self.dropout >= 0.0 && self.dropout < 1.0) {
            return bad(format!("--dropout must be in [0, 1), got {:?}", self.dropout));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("--weight-decay must be a finite number >= 0, got {:?}", self.weight_decay));
        }
        // The decay multiplies each weight by 1 - lr * decay per step: it must stay in (0, 1].
        if self.lr * self.weight_decay >= 1.0 {
            return bad(format!(
                "--lr x --weight-decay must be below 1 (each step multiplies the weights by 1 - lr x decay), \
                 got {:?} x {:?} = {:?}",
                self.lr,
                self.weight_decay,
                self.lr * self.weight_decay
            ));
        }
        let side = data.shape.h.max(data.shape.w);
        if self.shift >= side {
            return bad(format!(
                "--shift {} moves a {}x{} image entirely out of its frame; use at most {}",
                self.shift,
                data.shape.h,
                data.shape.w,
                side - 1
            ));
        }
        if self.plain_head && !self.method.libra() {
            return bad(format!(
                "--plain-head only changes methods with Libra-PB (irnet, irnet-libra), not {}",
                self.method
            ));
        }
        let size = self.arch.size(data.shape).map_err(TrainError::Config)?;
        if size.params > MAX_TRAIN_PARAMS as u64 {
            return bad(format!(
                "--arch {} has {} weights to train on {} images, more than the limit of {} \
                 (compiler::model::limits::MAX_TRAIN_PARAMS); use narrower layers",
                self.arch,
                grouped(size.params),
                data.shape,
                grouped(MAX_TRAIN_PARAMS as u64)
            ));
        }
        let per_step = size.activations.saturating_mul(self.batch.min(data.len()) as u64);
        if per_step > MAX_TRAIN_ACTIVATIONS as u64 {
            return bad(format!(
                "--arch {} with --batch {} holds {} activations per step, more than the limit of {} \
                 (compiler::model::limits::MAX_TRAIN_ACTIVATIONS); use a smaller --batch or narrower layers",
                self.arch,
                self.batch,
                grouped(per_step),
                grouped(MAX_TRAIN_ACTIVATIONS as u64)
            ));
        }
        Ok(())
    }

    /// The recipe in one line (for a model's provenance), with [`TRAINING_REVISION`], so that a
    /// model file says how to train it again.
    pub fn recipe(&self) -> String {
        let mut s = format!(
            "arch {}, method {}, input {}, epochs {}, batch {}, lr {}, seed {}",
            self.arch,
            self.method.name(),
            self.arch.input,
            self.epochs,
            self.batch,
            self.lr,
            self.seed
        );
        if self.arch.act_bits != 1 {
            s += &format!(", act bits {}", self.arch.act_bits);
        }
        if self.arch.is_residual() {
            s += &format!(", res bits {}", self.arch.res_bits);
        }
        if self.method.ede() {
            s += &format!(", EDE t {} -> {}", self.t_min, self.t_max);
        }
        for (name, v) in [("dropout", self.dropout), ("weight decay", self.weight_decay)] {
            if v != 0.0 {
                s += &format!(", {name} {v}");
            }
        }
        if self.shift != 0 {
            s += &format!(", shift {}", self.shift);
        }
        if self.plain_head {
            s += ", plain head";
        }
        s + &format!(", training revision {TRAINING_REVISION}")
    }
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy of the surrogate forward pass.
    pub train_accuracy: f64,
    /// Training images per second.
    pub images_per_sec: f64,
    /// EDE state of the epoch.
    pub ede: Ede,
}

/// Adam over the network's variables; its moments are part of the checkpoint. The update is one
/// fused pass per variable: written as tensor operations it was a dozen passes with an allocation
/// each, over every weight matrix at every step.
struct Adam {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    step: u64,
}

impl Adam {
    const B1: f32 = 0.9;
    const B2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    fn new(vars: &[(String, &Var)]) -> Self {
        let zeros = |v: &Var| vec![0f32; v.elem_count()];
        Adam {
            m: vars.iter().map(|(_, v)| zeros(v)).collect(),
            v: vars.iter().map(|(_, v)| zeros(v)).collect(),
            step: 0,
        }
    }

    /// One step at learning rate `lr`; variables named `*.w` (weight matrices) also decay by
    /// `lr * weight_decay` of their value.
    fn update(
        &mut self,
        vars: &[(String, &Var)],
        grads: &candle_core::backprop::GradStore,
        lr: f64,
        weight_decay: f64,
    ) -> candle_core::Result<()> {
        use rayon::prelude::*;
        self.step += 1;
        let t = self.step as i32;
        let (c1, c2) = (1.0 - Self::B1.powi(t), 1.0 - Self::B2.powi(t));
        let step = lr as f32 / c1;
        for (i, (name, var)) in vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let keep = if name.ends_with(".w") { 1.0 - (lr * weight_decay) as f32 } else { 1.0 };
            let g: Vec<f32> = g.flatten_all()?.to_vec1()?;
            let mut w: Vec<f32> = var.as_tensor().flatten_all()?.to_vec1()?;
            (w.par_chunks_mut(1 << 14), self.m[i].par_chunks_mut(1 << 14), self.v[i].par_chunks_mut(1 << 14))
                .into_par_iter()
                .zip(g.par_chunks(1 << 14))
                .for_each(|((w, m, v), g)| {
                    for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                        *m = Self::B1 * *m + (1.0 - Self::B1) * g;
                        *v = Self::B2 * *v + (1.0 - Self::B2) * g * g;
                        *w = keep * *w - step * *m / ((*v / c2).sqrt() + Self::EPS);
                    }
                });
            var.set(&Tensor::from_vec(w, var.shape(), var.device())?)?;
        }
        Ok(())
    }
}

/// Progress callbacks of a run.
pub trait Progress {
    /// After each step: images done in this epoch.
    fn step(&mut self, _epoch: usize, _done: usize, _total: usize, _loss: f64) {}
    /// After each epoch.
    fn epoch(&mut self, _report: &EpochReport) {}
    /// Asked after each epoch's checkpoint: true stops the run there (it can be resumed).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// No progress output.
pub struct Quiet;
impl Progress for Quiet {}

fn ckpt_err(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Checkpoint { path: path.to_path_buf(), message: message.into() }
}

/// Trains a network on `data` with `cfg`. With `checkpoint`, the state after every epoch is written
/// there (`.safetensors` plus a `.json` beside it) and an existing checkpoint of the same
/// configuration is resumed; the result is the same as an uninterrupted run.
pub fn train(
    cfg: &TrainConfig,
    data: &Dataset,
    checkpoint: Option<&Path>,
    progress: &mut dyn Progress,
) -> Result<(Net, Vec<EpochReport>), TrainError> {
    cfg.validate(data)?;
    if let Some(path) = checkpoint {
        checkpoint_meta_path(path)?;
    }
    let mut net = Net::new(&cfg.arch, cfg.method, data.shape, cfg.seed).map_err(TrainError::Config)?;
    if cfg.plain_head {
        net.head_method = cfg.method.without_libra();
    }
    let vars = net.vars();
    let mut adam = Adam::new(&vars);
    let mut reports = Vec::new();
    let mut start = 0;
    if let Some(path) = checkpoint {
        if let Some(done) = load_checkpoint(path, cfg, data.len(), &net, &mut adam, &mut reports)? {
            start = done;
        }
    }
    let n = data.len();
    let frame = data.shape.len();
    for epoch in start..cfg.epochs {
        let ede = Ede::at(epoch, cfg.epochs, cfg.t_min, cfg.t_max);
        let lr = cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / cfg.epochs as f64).cos());
        let mut order: Vec<usize> = (0..n).collect();
        order
            .shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9)));
        let t0 = Instant::now();
        let (mut loss_sum, mut correct, mut done) = (0.0, 0usize, 0usize);
        for (step, idx) in order.chunks(cfg.batch).enumerate() {
            let mut pixels = Vec::with_capacity(idx.len() * frame);
            let mut rng = ChaCha8Rng::seed_from_u64(
                cfg.seed ^ ((epoch as u64) << 32 | step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            for &i in idx {
                if cfg.shift == 0 {
                    pixels.extend_from_slice(data.image(i));
                } else {
                    let r = cfg.shift as i64;
                    let (dy, dx) = (rng.gen_range(-r..=r), rng.gen_range(-r..=r));
                    pixels.extend(translate(data.image(i), data.shape, dy, dx));
                }
            }
            let labels: Vec<u32> = idx.iter().map(|&i| u32::from(data.labels[i])).collect();
            let x = net.input_tensor(&pixels)?;
            let y = Tensor::new(labels.as_slice(), x.device())?;
            let dropout = (cfg.dropout > 0.0).then(|| Dropout {
                p: cfg.dropout as f32,
                seed: cfg.seed ^ ((epoch as u64) << 32 | step as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
            });
            let logits = net.forward(&x, Mode::Train(ede, dropout))?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let l = f64::from(loss.to_scalar::<f32>()?);
            // Before the update, so that the weights (and the last checkpoint) stay finite.
            if !l.is_finite() {
                return Err(TrainError::Diverged { epoch: epoch + 1, step: step + 1, loss: l, lr: cfg.lr });
            }
            let grads = loss.backward()?;
            adam.update(&vars, &grads, lr, cfg.weight_decay)?;
            if cfg.method.clips_weights() {
                for w in net.weight_vars() {
                    w.set(&w.as_tensor().clamp(-1f64, 1f64)?)?;
                }
            }
            loss_sum += l * idx.len() as f64;
            let rows: Vec<Vec<f32>> = logits.to_vec2()?;
            correct += rows.iter().zip(&labels).filter(|(r, &l)| argmax(r) == l as usize).count();
            done += idx.len();
            progress.step(epoch, done, n, l);
        }
        let report = EpochReport {
            epoch,
            loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            images_per_sec: n as f64 / t0.elapsed().as_secs_f64(),
            ede,
        };
        progress.epoch(&report);
        reports.push(report);
        if let Some(path) = checkpoint {
            save_checkpoint(path, cfg, n, &net, &adam, &reports)?;
        }
        if progress.should_stop() {
            break;
        }
    }
    if cfg.bn_recalibrate > 0 {
        let last = reports.last().map_or(0, |r| r.epoch);
        recalibrate_bn(
            &net,
            data,
            cfg.bn_recalibrate,
            cfg.batch,
            Ede::at(last, cfg.epochs, cfg.t_min, cfg.t_max),
        )?;
    }
    Ok((net, reports))
}

/// Recomputes every BatchNorm's running statistics as the plain average of its batch statistics
/// over the first `batches` batches of `batch` training images (in dataset order, unaugmented),
/// with the network's current weights. The training forward pass computes the hardware's signs
/// (only its backward differs), so the statistics are those of the exported network's
/// accumulators. The result depends only on the weights and the data: recalibrating twice gives
/// the same statistics.
pub fn recalibrate_bn(
    net: &Net,
    data: &Dataset,
    batches: usize,
    batch: usize,
    ede: Ede,
) -> Result<(), TrainError> {
    let (frame, batch) = (data.shape.len(), batch.max(1));
    let n = data.len().min(batches.saturating_mul(batch));
    // Images are stored one after another: a batch in dataset order is one slice.
    for (t, start) in (0..n).step_by(batch).enumerate() {
        net.set_bn_momentum(1.0 / (t + 1) as f64);
        let x = net.input_tensor(&data.images[start * frame..(start + batch).min(n) * frame])?;
        net.forward(&x, Mode::Train(ede, None))?;
    }
    net.set_bn_momentum(crate::net::BN_MOMENTUM);
    Ok(())
}

/// `image` (`shape`, channel fastest) moved down by `dy` and right by `dx` pixels; pixels moved in
/// from outside are 0 (background).
pub fn translate(image: &[u8], shape: compiler::model::Shape, dy: i64, dx: i64) -> Vec<u8> {
    let (h, w, c) = (shape.h as i64, shape.w as i64, shape.c);
    let mut out = vec![0u8; image.len()];
    for y in 0..h {
        for x in 0..w {
            let (sy, sx) = (y - dy, x - dx);
            if (0..h).contains(&sy) && (0..w).contains(&sx) {
                let (d, s) = (((y * w + x) as usize) * c, ((sy * w + sx) as usize) * c);
                out[d..d + c].copy_from_slice(&image[s..s + c]);
            }
        }
    }
    out
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointMeta {
    /// [`TRAINING_REVISION`] of the code that wrote it; checkpoints from before the field are 1.
    #[serde(default = "first_revision")]
    revision: u32,
    config: TrainConfig,
    /// Training images of the run (`--limit` and `--holdout` change them, not the config); 0 in
    /// checkpoints from before the field, which are not checked.
    #[serde(default)]
    images: usize,
    epochs_done: usize,
    adam_step: u64,
    /// (loss, train accuracy, images/s) per finished epoch.
    history: Vec<(f64, f64, f64)>,
    /// [`checksum`] of the tensor file written with this metadata, so that a tensor file from
    /// another epoch (an interrupted write, a copy) is not resumed as this one; absent in older
    /// checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tensors_checksum: Option<String>,
}

fn first_revision() -> u32 {
    1
}

/// The metadata file of the checkpoint `path`: `path` with the extension `.json`. Refused when
/// that is `path` itself (a checkpoint named `*.json`), where the metadata would overwrite the
/// tensors.
pub fn checkpoint_meta_path(path: &Path) -> Result<PathBuf, TrainError> {
    let meta = path.with_extension("json");
    if meta == path {
        return Err(ckpt_err(
            path,
            format!(
                "its metadata is written beside it as {}, the same file; give the checkpoint another \
                 extension, such as {}",
                meta.display(),
                path.with_extension("safetensors").display()
            ),
        ));
    }
    Ok(meta)
}

/// FNV-1a (64 bits), in hex, of a checkpoint's tensor file and of the progress its metadata
/// claims: detects a tensor file that is not the one the metadata was written with, and a claim
/// edited afterwards (not an adversary, who can recompute it).
fn checksum(tensors: &[u8], epochs_done: usize, adam_step: u64) -> String {
    let claims = [(epochs_done as u64).to_le_bytes(), adam_step.to_le_bytes()];
    let h = tensors
        .iter()
        .chain(claims.iter().flatten())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{h:016x}")
}

fn save_checkpoint(
    path: &Path,
    cfg: &TrainConfig,
    images: usize,
    net: &Net,
    adam: &Adam,
    reports: &[EpochReport],
) -> Result<(), TrainError> {
    let meta_path = checkpoint_meta_path(path)?;
    let mut tensors = net.state();
    for (i, (name, var)) in net.vars().iter().enumerate() {
        for (kind, store) in [("m", &adam.m[i]), ("v", &adam.v[i])] {
            tensors
                .insert(format!("adam.{kind}.{name}"), Tensor::from_slice(store, var.shape(), var.device())?);
        }
    }
    // Tensors first, then the metadata that names their checksum: each file is replaced
    // atomically, and a crash between the two leaves a pair that the checksum tells apart.
    let tmp = compiler::format::temp_path(path);
    let written = candle_core::safetensors::save(&tensors, &tmp)
        .map_err(|e| ckpt_err(path, e.to_string()))
        .and_then(|()| std::fs::read(&tmp).map_err(|e| ckpt_err(path, e.to_string())))
        .and_then(|bytes| {
            std::fs::rename(&tmp, path).map_err(|e| ckpt_err(path, e.to_string()))?;
            Ok(bytes)
        });
    let bytes = match written {
        Ok(b) => b,
        Err(e) => {
            // Best effort: the write's own error is the one to report.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let meta = CheckpointMeta {
        revision: TRAINING_REVISION,
        config: cfg.clone(),
        images,
        epochs_done: reports.len(),
        adam_step: adam.step,
        history: reports.iter().map(|r| (r.loss, r.train_accuracy, r.images_per_sec)).collect(),
        tensors_checksum: Some(checksum(&bytes, reports.len(), adam.step)),
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| ckpt_err(path, e.to_string()))?;
    compiler::format::write_atomic(&meta_path, json.as_bytes())
        .map_err(|e| ckpt_err(path, format!("cannot write {}: {e}", meta_path.display())))
}

/// Resumes from `path` if it exists; returns the number of finished epochs. Everything the
/// metadata claims is checked against the run and the tensors, so that an edited or mismatched
/// checkpoint is refused rather than trusted.
fn load_checkpoint(
    path: &Path,
    cfg: &TrainConfig,
    images: usize,
    net: &Net,
    adam: &mut Adam,
    reports: &mut Vec<EpochReport>,
) -> Result<Option<usize>, TrainError> {
    if !path.exists() {
        return Ok(None);
    }
    let meta_path = checkpoint_meta_path(path)?;
    let fresh = "pass --fresh to start over, or give another --checkpoint";
    let json = limits::read_file(&meta_path, MAX_CHECKPOINT_BYTES, "checkpoint metadata file")
        .map_err(|e| ckpt_err(path, format!("its metadata cannot be read: {e}")))?;
    let meta: CheckpointMeta = compiler::json::from_slice(&json).map_err(|e| {
        ckpt_err(path, format!("its metadata {} is not valid: {e}; {fresh}", meta_path.display()))
    })?;
    if meta.revision != TRAINING_REVISION {
        return Err(ckpt_err(
            path,
            format!(
                "was written by training revision {}, this build trains with revision {TRAINING_REVISION} \
                 (other math); pass --fresh to start over, or use the build that wrote it",
                meta.revision
            ),
        ));
    }
    if meta.config != *cfg {
        return Err(ckpt_err(path, "belongs to a run with another configuration; pass --fresh to overwrite it, or another --checkpoint"));
    }
    if meta.images != 0 && meta.images != images {
        return Err(ckpt_err(
            path,
            format!(
                "belongs to a run on {} training images, this one has {images} (another --limit or \
                 --holdout?); pass --fresh to overwrite it, or another --checkpoint",
                meta.images
            ),
        ));
    }
    let steps_per_epoch = images.div_ceil(cfg.batch) as u64;
    let inconsistent = |what: String| ckpt_err(path, format!("{what}: edited or corrupt; {fresh}"));
    if meta.epochs_done > cfg.epochs {
        return Err(inconsistent(format!(
            "claims {} finished epochs of a {}-epoch run",
            meta.epochs_done, cfg.epochs
        )));
    }
    if meta.history.len() != meta.epochs_done {
        return Err(inconsistent(format!(
            "claims {} finished epochs but records {}",
            meta.epochs_done,
            meta.history.len()
        )));
    }
    if meta.adam_step != meta.epochs_done as u64 * steps_per_epoch {
        return Err(inconsistent(format!(
            "claims {} finished epochs of {steps_per_epoch} steps, but its optimizer took {} steps",
            meta.epochs_done, meta.adam_step
        )));
    }
    let bytes = limits::read_file(path, MAX_CHECKPOINT_BYTES, "checkpoint")
        .map_err(|e| ckpt_err(path, e.reason()))?;
    if let Some(sum) = &meta.tensors_checksum {
        if *sum != checksum(&bytes, meta.epochs_done, meta.adam_step) {
            return Err(inconsistent(format!(
                "its tensors do not match its metadata {} (the epochs it claims, or the tensor file, \
                 changed after they were written)",
                meta_path.display()
            )));
        }
    }
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu)
            .map_err(|e| ckpt_err(path, e.to_string()))?;
    net.load_state(&tensors).map_err(|e| ckpt_err(path, e))?;
    let vars = net.vars();
    let expected = net.state().len() + 2 * vars.len();
    if tensors.len() != expected {
        let known: std::collections::HashSet<String> = net
            .state()
            .into_keys()
            .chain(vars.iter().flat_map(|(n, _)| [format!("adam.m.{n}"), format!("adam.v.{n}")]))
            .collect();
        let extra = tensors.keys().find(|k| !known.contains(*k)).cloned().unwrap_or_default();
        return Err(inconsistent(format!("holds tensor '{extra}', which this network does not have")));
    }
    for (name, t) in &tensors {
        let values: Vec<f32> = t.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1()?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(inconsistent(format!("tensor '{name}' holds values that are not finite")));
        }
    }
    for (i, (name, v)) in vars.iter().enumerate() {
        for (store, kind) in [(&mut adam.m, "m"), (&mut adam.v, "v")] {
            let t = tensors
                .get(&format!("adam.{kind}.{name}"))
                .ok_or_else(|| ckpt_err(path, format!("lacks adam.{kind}.{name}")))?;
            if t.dims() != v.dims() {
                return Err(ckpt_err(path, format!("adam.{kind}.{name} has the wrong shape")));
            }
            store[i] = t.flatten_all()?.to_vec1()?;
        }
    }
    adam.step = meta.adam_step;
    reports.clear();
    for (epoch, &(loss, acc, ips)) in meta.history.iter().enumerate() {
        let ede = Ede::at(epoch, cfg.epochs, cfg.t_min, cfg.t_max);
        reports.push(EpochReport { epoch, loss, train_accuracy: acc, images_per_sec: ips, ede });
    }
    Ok(Some(meta.epochs_done))
}

/// Accuracy of the float network's inference path (exact signs) on `data`, in batches.
pub fn float_accuracy(net: &Net, data: &Dataset) -> Result<f64, TrainError> {
    let frame = data.shape.len();
    let mut correct = 0;
    for (px, labels) in data.images.chunks(1000 * frame).zip(data.labels.chunks(1000)) {
        let rows = net.predict(px)?;
        correct += rows.iter().zip(labels).filter(|(r, &l)| argmax(r) == usize::from(l)).count();
    }
    Ok(correct as f64 / data.len().max(1) as f64)
}

#[cfg(test)]
mod translate_tests {
    use super::translate;
    use compiler::model::Shape;

    #[test]
    fn translation_moves_pixels_and_fills_with_background() {
        let shape = Shape::new(3, 3, 1);
        let img: Vec<u8> = (1..=9).collect();
        assert_eq!(translate(&img, shape, 0, 0), img);
        assert_eq!(translate(&img, shape, 1, 0), vec![0, 0, 0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(translate(&img, shape, 0, -1), vec![2, 3, 0, 5, 6, 0, 8, 9, 0]);
        let two = Shape::new(1, 2, 2);
        assert_eq!(translate(&[1, 2, 3, 4], two, 0, 1), vec![0, 0, 1, 2]);
    }
}
