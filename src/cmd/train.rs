//! `xnorflow train`: train a BNN, export it bit-exactly, prove the export against the golden model.

use super::eval::{load_dataset, DatasetArg, SplitArg};
use super::progress;
use anyhow::{bail, Context, Result};
use compiler::data::Dataset;
use compiler::model::{Model, Provenance};
use indicatif::ProgressBar;
use sim::golden::Golden;
use std::path::{Path, PathBuf};
use train::arch::{Arch, InputKind};
use train::method::Method;
use train::net::{argmax, has_tie, Net};
use train::trainer::{self, EpochReport, TrainConfig};

/// Arguments of `xnorflow train`.
#[derive(clap::Args)]
pub struct Args {
    /// Dataset to train on (its training split; accuracy is measured on the test split).
    #[arg(long, value_enum)]
    pub dataset: DatasetArg,
    /// Directory holding the dataset's files (optional for digits, which is built in).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Architecture: tfc, sfc, lfc (three dense layers of 64/256/1024), resnet-mnist
    /// (c8p0-r8-r8-r16s-r16-r32s-r32-p, 28x28 inputs), resnet-digits (c16p0-r16-r16-r32s-r32-p,
    /// 8x8), or a layer list such as 256-256 or c16p0-p-c32-p-128 (cN: 3x3 conv, cNp0/cNp1: padded
    /// with bit 0/1, p: 2x2 max-pool, rN: residual block of N channels, the input's, rNs: stride-2
    /// residual block to N channels; blocks follow a conv, their stem, and need --act-bits 2..4).
    #[arg(long, default_value = "sfc")]
    pub arch: String,
    /// Binarization method: ste, xnor, bireal or irnet; irnet-libra (IR-Net without EDE) and
    /// irnet-ede (IR-Net without Libra-PB) reproduce the paper's ablation.
    #[arg(long, default_value = "irnet")]
    pub method: Method,
    /// Input layer: binary (pixel >= 128), binary:T (pixel >= T) or fixed8 (8-bit first layer).
    #[arg(long, default_value = "binary")]
    pub input: InputKind,
    /// Bits of every hidden activation: 1 is the sign (+-1, W1A1); 2 to 4 a uniform signed
    /// quantizer round(clamp(x, -1, 1) * m) / m with m = 2^(k-1) - 1 (levels -m..=m; 2 is
    /// BNN-PYNQ's W1A2 {-1, 0, +1}), exported as FINN multi-thresholds.
    #[arg(long, default_value_t = 1)]
    pub act_bits: u8,
    /// Bits of a residual network's signed integer stream (the stem's and every block's output,
    /// each block's sum saturated to it), 2 to 8 and at least --act-bits.
    #[arg(long, default_value_t = train::arch::DEFAULT_RES_BITS)]
    pub res_bits: u8,
    /// Training epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Seed of initialisation and shuffling (a run is deterministic for a given seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Images per step.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Initial learning rate (Adam, cosine-decayed to 0).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// IR-Net's EDE T_min: the sharpness t of EDE's backward, k tanh(t x), in the first epoch
    /// (the paper's 0.1); t rises geometrically to --t-max over the epochs.
    #[arg(long, default_value_t = 0.1)]
    pub t_min: f64,
    /// IR-Net's EDE T_max: t in the last epoch (the paper's 10; on the MNIST MLPs 1 scored
    /// better on held-out images, see the README).
    #[arg(long, default_value_t = 10.0)]
    pub t_max: f64,
    /// Dropout probability on the inputs of fully connected layers during training
    /// (0.2 is what Brevitas uses for TFC/SFC/LFC; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Data augmentation: translate each training image by up to N pixels per axis, drawn anew
    /// every epoch (0 = none).
    #[arg(long, default_value_t = 0)]
    pub shift: usize,
    /// Decoupled weight decay (AdamW) of the latent weights: each step multiplies them by
    /// 1 - lr x D (0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Binarize the classifier layer as plain sign(w), without Libra-PB (irnet, irnet-libra): the
    /// IR-Net paper keeps that layer in full precision, so Libra-PB was never meant for it.
    #[arg(long)]
    pub plain_head: bool,
    /// After training, recompute BatchNorm's running statistics as the plain average over the
    /// first N training batches with the final weights (0 = keep the moving averages). The moving
    /// averages lag the binary weights, whose signs still flip late in training; residual
    /// networks suffer most (see the README's residual section).
    #[arg(long, default_value_t = 0)]
    pub bn_recalibrate: usize,
    /// Train on only the first N training images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Hold the last N training images (after --limit) out of training and report the exported
    /// model's accuracy on them: a validation split for choosing a learning rate or a method
    /// without looking at the test split (0 = none).
    #[arg(long, default_value_t = 0)]
    pub holdout: usize,
    /// Checkpoint written after every epoch and resumed from when present
    /// (default: the output path with `.ckpt.safetensors`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Start from scratch even if a checkpoint exists (it is overwritten).
    #[arg(long)]
    pub fresh: bool,
    /// Output model file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Overwrite the output model file if it exists (without it, an existing file is refused
    /// before training starts).
    #[arg(long)]
    pub force: bool,
}

/// The training progress bar and per-epoch log lines.
pub struct Bar {
    pb: ProgressBar,
    epochs: usize,
    /// Only IR-Net has an EDE schedule; other methods' lines would show a state that does nothing.
    show_ede: bool,
}

impl Bar {
    /// A bar over the `images` of each epoch of the run `cfg`.
    pub fn new(images: usize, cfg: &TrainConfig) -> Self {
        Bar { pb: progress(images as u64, "train"), epochs: cfg.epochs, show_ede: cfg.method.ede() }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.pb.finish_and_clear();
    }
}

impl trainer::Progress for Bar {
    fn step(&mut self, epoch: usize, done: usize, _total: usize, loss: f64) {
        self.pb.set_position(done as u64);
        self.pb.set_message(format!("epoch {}/{} loss {loss:.3}", epoch + 1, self.epochs));
    }
    fn epoch(&mut self, r: &EpochReport) {
        let mut line = format!(
            "epoch {:>3}/{}: loss {:.4}, train accuracy {:.2}%, {:.0} images/s",
            r.epoch + 1,
            self.epochs,
            r.loss,
            100.0 * r.train_accuracy,
            r.images_per_sec,
        );
        if self.show_ede {
            line += &format!(", EDE t={:.3} k={:.3}", r.ede.t, r.ede.k);
        }
        // A hidden bar (no terminal) drops println; the epoch lines are the run's log, keep them.
        if self.pb.is_hidden() {
            println!("{line}");
        } else {
            self.pb.println(line);
        }
        self.pb.set_position(0);
    }
}

/// How the float network and the golden model on its export compare on a dataset.
pub struct Exactness {
    /// Images on which both give the same class.
    pub agree: usize,
    /// Images compared.
    pub total: usize,
    /// Images whose float scores tie at the maximum (both sides then take the lowest index).
    pub ties: usize,
    /// First disagreeing image.
    pub first_mismatch: Option<usize>,
    /// Correct classifications by the golden model.
    pub golden_correct: usize,
}

/// Runs the float network's inference path and the golden model on every image of `data`.
pub fn check_exact(net: &Net, model: &Model, data: &Dataset) -> Result<Exactness> {
    let golden = Golden::new(model)?;
    let frame = data.shape.len();
    let mut r = Exactness { agree: 0, total: 0, ties: 0, first_mismatch: None, golden_correct: 0 };
    for (px, labels) in data.images.chunks(1000 * frame).zip(data.labels.chunks(1000)) {
        let float = net.predict(px)?;
        let gold = golden.run_batch(px)?;
        for ((f, g), &l) in float.iter().zip(&gold).zip(labels) {
            r.ties += usize::from(has_tie(f));
            if argmax(f) == g.class {
                r.agree += 1;
            } else if r.first_mismatch.is_none() {
                r.first_mismatch = Some(r.total);
            }
            r.golden_correct += usize::from(g.class == usize::from(l));
            r.total += 1;
        }
    }
    Ok(r)
}

fn default_checkpoint(output: &Path) -> PathBuf {
    output.with_extension("ckpt.safetensors")
}

/// The directory a file `path` goes into (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Checks that the model can be written to `output` once training is done, so that a run is
/// never lost to a bad path: not a directory, in an existing directory that can be written, and
/// not an existing file unless `force`.
pub fn check_output(output: &Path, force: bool) -> Result<()> {
    let o = output.display();
    if output.is_dir() {
        bail!(
            "-o {o} is a directory; give a model file path, such as {}",
            output.join("model.xnf").display()
        );
    }
    let dir = parent_dir(output);
    if !dir.is_dir() {
        bail!("-o {o}: the directory {} does not exist; create it first", dir.display());
    }
    if output.exists() && !force {
        bail!("-o {o} already exists; pass --force to overwrite it, or choose another path");
    }
    // Writing and removing a file is the one sure test of permissions (read-only mounts, ACLs).
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let probe = dir.join(format!(".{name}.{}.write-test", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            // Best effort: a leftover empty probe file is harmless.
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => bail!("-o {o}: cannot write in {}: {e}", dir.display()),
    }
}

/// The checkpoint's files, checked against the output before training: none may be another's.
fn check_checkpoint(ckpt: &Path, output: &Path) -> Result<()> {
    let meta = trainer::checkpoint_meta_path(ckpt)?;
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let out = abs(output);
    for (what, p) in [("checkpoint", ckpt), ("checkpoint metadata file", meta.as_path())] {
        if abs(p) == out {
            bail!(
                "the {what} {} is the output model file -o {}; give another --checkpoint",
                p.display(),
                output.display()
            );
        }
    }
    let dir = parent_dir(ckpt);
    if !dir.is_dir() {
        bail!(
            "--checkpoint {}: the directory {} does not exist; create it first",
            ckpt.display(),
            dir.display()
        );
    }
    if ckpt.is_dir() {
        bail!("--checkpoint {} is a directory; give a file path", ckpt.display());
    }
    Ok(())
}

/// Runs `xnorflow train`.
pub fn run(args: Args) -> Result<()> {
    // Paths first: a run of hours must not end in "cannot write".
    check_output(&args.output, args.force)?;
    let ckpt = args.checkpoint.clone().unwrap_or_else(|| default_checkpoint(&args.output));
    check_checkpoint(&ckpt, &args.output)?;
    let mut train_set = load_dataset(args.dataset, args.data.as_deref(), SplitArg::Train)?;
    let mut data_notes = String::new();
    if let Some(n) = args.limit {
        train_set.truncate(n);
        data_notes += &format!(", first {} training images", train_set.len());
    }
    if args.holdout >= train_set.len() {
        bail!(
            "--holdout {} leaves no images to train on (the training split has {})",
            args.holdout,
            train_set.len()
        );
    }
    let validation_set = (args.holdout > 0).then(|| train_set.split_off(args.holdout));
    if args.holdout > 0 {
        data_notes += &format!(", last {} training images held out", args.holdout);
    }
    let test_set = load_dataset(args.dataset, args.data.as_deref(), SplitArg::Test)?;
    let arch = Arch::parse(&args.arch, args.input, train_set.classes)
        .map_err(anyhow::Error::msg)?
        .with_act_bits(args.act_bits)
        .with_res_bits(args.res_bits);
    let cfg = TrainConfig {
        batch: args.batch,
        lr: args.lr,
        t_min: args.t_min,
        t_max: args.t_max,
        dropout: args.dropout,
        shift: args.shift,
        weight_decay: args.weight_decay,
        plain_head: args.plain_head,
        bn_recalibrate: args.bn_recalibrate,
        ..TrainConfig::new(arch, args.method, args.epochs, args.seed)
    };
    cfg.validate(&train_set)?;
    let dataset = format!("{:?}", args.dataset).to_lowercase();
    let held = validation_set.as_ref().map_or(String::new(), |v| format!(" (+{} held out)", v.len()));
    let acts = match (cfg.arch.act_bits, cfg.arch.is_residual()) {
        (1, _) => String::new(),
        (a, false) => format!(", {a}-bit activations"),
        (a, true) => format!(", {a}-bit branches, {}-bit stream", cfg.arch.res_bits),
    };
    println!(
        "training {} ({}{acts}) with {} on {dataset}: {} images{held}, {} epochs, batch {}, seed {}",
        args.arch,
        cfg.arch,
        cfg.method,
        train_set.len(),
        cfg.epochs,
        cfg.batch,
        cfg.seed
    );
    if args.fresh && ckpt.exists() {
        std::fs::remove_file(&ckpt).with_context(|| format!("cannot remove {}", ckpt.display()))?;
    }
    let mut bar = Bar::new(train_set.len(), &cfg);
    let (net, reports) = trainer::train(&cfg, &train_set, Some(&ckpt), &mut bar)?;
    bar.finish();

    let provenance = Provenance {
        dataset: Some(dataset.clone()),
        method: Some(cfg.method.name().into()),
        epochs: Some(cfg.epochs as u32),
        seed: Some(cfg.seed),
        notes: Some(cfg.recipe() + &data_notes),
        ..Provenance::default()
    };
    let bits = if args.act_bits == 1 { String::new() } else { format!("-w1a{}", args.act_bits) };
    let name = format!("{dataset}-{}{bits}-{}", args.arch, cfg.method);
    let mut model = train::export::export(&net, &name, provenance)?;
    let exact = |data: &Dataset, split: &str| -> Result<Exactness> {
        let ex = check_exact(&net, &model, data)?;
        if let Some(i) = ex.first_mismatch {
            bail!(
                "export is not exact: the float network and the golden model disagree on {} of {} {split} \
                 images (first: image {i}); this is a bug, please report it with the checkpoint {}",
                ex.total - ex.agree,
                ex.total,
                ckpt.display()
            );
        }
        Ok(ex)
    };
    let ex = exact(&test_set, "test")?;
    let validation = validation_set.as_ref().map(|v| exact(v, "held-out")).transpose()?;
    let accuracy = ex.golden_correct as f64 / ex.total as f64;
    model.provenance.accuracy = Some(accuracy);
    model.provenance.validation_accuracy =
        validation.as_ref().map(|v| v.golden_correct as f64 / v.total as f64);
    // Its errors name the file.
    compiler::format::save(&model, &args.output)?;
    let ips = reports.iter().map(|r| r.images_per_sec).sum::<f64>() / reports.len().max(1) as f64;
    println!(
        "exported {}: test accuracy {:.2}% (golden model, bit-exact: {}/{} test images agree with the float \
         network, {} float ties), {:.0} training images/s",
        args.output.display(),
        100.0 * accuracy,
        ex.agree,
        ex.total,
        ex.ties,
        ips
    );
    if let Some(v) = &validation {
        println!(
            "validation accuracy {:.2}% on the {} held-out training images (golden model, bit-exact, {} float ties)",
            100.0 * v.golden_correct as f64 / v.total as f64,
            v.total,
            v.ties
        );
    }
    Ok(())
}
