//! `xnorflow eval`: bit-exact accuracy of a model file on a dataset, with the golden model.

use super::progress;
use anyhow::{bail, Result};
use compiler::data::{self, Dataset, DatasetKind, Split};
use compiler::model::Model;
use sim::golden::Golden;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The digits CSV bundled into the binary, so the demo and `--dataset digits` need no download.
pub const BUILTIN_DIGITS: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// Dataset names on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum DatasetArg {
    /// MNIST, 28x28 (IDX files in --data).
    Mnist,
    /// 8x8 digits (built in; or digits.csv[.gz] in --data).
    Digits,
}

/// Split names on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum SplitArg {
    /// Training images.
    Train,
    /// Held-out test images.
    Test,
}

/// Arguments of `xnorflow eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (.xnf).
    pub model: PathBuf,
    /// Dataset to evaluate on.
    #[arg(long, value_enum)]
    pub dataset: DatasetArg,
    /// Directory holding the dataset's files (MNIST: the four IDX files, gzip or raw).
    /// Optional for digits, which is built in.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which split to evaluate.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// Evaluate only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Frames per batch handed to the golden model.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
}

/// Loads a model file (`.xnf` or the text form) with errors that name it once.
pub fn load_model(path: &Path) -> Result<Model> {
    let context = format!("cannot load model {}", path.display());
    compiler::format::load(path).map_err(|e| match e {
        // Its own message names the file too; say it once.
        compiler::format::FormatError::File(e) => anyhow::anyhow!("{context}: {}", e.reason()),
        e => anyhow::Error::new(e).context(context),
    })
}

/// Loads a dataset split, from `dir` or (digits only) the built-in copy.
pub fn load_dataset(kind: DatasetArg, dir: Option<&Path>, split: SplitArg) -> Result<Dataset> {
    let split = match split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
    };
    let kind = match kind {
        DatasetArg::Mnist => DatasetKind::Mnist,
        DatasetArg::Digits => DatasetKind::Digits,
    };
    Ok(match (kind, dir) {
        (DatasetKind::Digits, None) => data::parse_digits(BUILTIN_DIGITS.to_vec(), "built-in digits", split)?,
        (DatasetKind::Mnist, None) => {
            bail!("MNIST needs --data DIR, a directory with train-images-idx3-ubyte.gz and friends")
        }
        (kind, Some(dir)) => data::load(kind, dir, split)?,
    })
}

/// What an evaluation measured.
pub struct EvalResult {
    /// Correctly classified images.
    pub correct: usize,
    /// Images evaluated.
    pub total: usize,
    /// Wall-clock seconds of golden-model inference.
    pub seconds: f64,
}

impl EvalResult {
    /// Fraction correct.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// Runs `model` over `data` with the golden model, in batches, with a progress bar.
pub fn evaluate(model: &Model, data: &Dataset, batch: usize) -> Result<EvalResult> {
    if data.shape != model.input {
        bail!(
            "model \"{}\" takes {} frames but the dataset's images are {}; evaluate it on the dataset it was built for",
            model.name,
            model.input,
            data.shape
        );
    }
    if model.classes() < data.classes {
        bail!("model \"{}\" has {} classes, the dataset {}", model.name, model.classes(), data.classes);
    }
    let golden = Golden::new(model)?;
    let frame = data.shape.len();
    let pb = progress(data.len() as u64, "eval");
    let start = Instant::now();
    let mut correct = 0;
    for (images, labels) in data.images.chunks(batch * frame).zip(data.labels.chunks(batch)) {
        let preds = golden.run_batch(images)?;
        correct += preds.iter().zip(labels).filter(|(p, &l)| p.class == usize::from(l)).count();
        pb.inc(labels.len() as u64);
    }
    let seconds = start.elapsed().as_secs_f64();
    pb.finish_and_clear();
    Ok(EvalResult { correct, total: data.len(), seconds })
}

/// Prints an evaluation's result line.
pub fn report(name: &str, r: &EvalResult) {
    println!(
        "{name}: accuracy {:.2}% ({}/{}), {:.0} frames/s (golden model, {} threads)",
        r.accuracy() * 100.0,
        r.correct,
        r.total,
        r.total as f64 / r.seconds.max(1e-9),
        rayon::current_num_threads()
    );
}

/// Runs `xnorflow eval`.
pub fn run(args: Args) -> Result<()> {
    let model = load_model(&args.model)?;
    let mut data = load_dataset(args.dataset, args.data.as_deref(), args.split)?;
    if let Some(n) = args.limit {
        data.truncate(n);
    }
    if data.is_empty() {
        bail!("no images to evaluate");
    }
    let r = evaluate(&model, &data, args.batch as usize)?;
    report(&format!("{} on {:?} {:?}", model.name, args.dataset, args.split).to_lowercase(), &r);
    Ok(())
}
