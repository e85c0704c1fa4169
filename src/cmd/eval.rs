//! `xnorflow eval`: bit-exact accuracy of a model file on a dataset, with the golden model.

use super::progress;
use anyhow::{bail, Result};
use compiler::data::{self, Dataset, DatasetKind, Split};
use compiler::model::Model;
use reports::confusion::{self, Confusion};
use sim::golden::{Golden, Prediction};
use std::fmt::Write as _;
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

/// Labelled images from a dataset split, for the commands that run a whole split.
#[derive(clap::Args)]
pub struct Images {
    /// The dataset (digits is built in).
    #[arg(long, value_enum, default_value = "digits")]
    pub dataset: DatasetArg,
    /// Directory holding the dataset's files (MNIST: the four IDX files, gzip or raw).
    /// Optional for digits, which is built in.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which split.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// Only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl Images {
    /// The split's images, at most `--limit` of them; none is an error.
    pub fn load(&self) -> Result<Dataset> {
        let mut data = load_dataset(self.dataset, self.data.as_deref(), self.split)?;
        if let Some(n) = self.limit {
            data.truncate(n);
        }
        if data.is_empty() {
            bail!("no images (--limit 0 or an empty split)");
        }
        Ok(data)
    }

    /// `digits test`, as the reports name it.
    pub fn name(&self) -> String {
        format!("{:?} {:?}", self.dataset, self.split).to_lowercase()
    }
}

/// Arguments of `xnorflow eval`.
///
/// Prints the accuracy, then the confusion matrix (rows: true label, columns: predicted) as a
/// table when it has at most 20 classes. For example,
/// `xnorflow eval model.xnf --dataset digits --predictions preds.csv --confusion confusion.svg`
/// also writes every image's prediction and scores, and draws the matrix.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (.xnf).
    pub model: PathBuf,
    /// The images.
    #[command(flatten)]
    pub images: Images,
    /// Frames per batch handed to the golden model.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Write one CSV row per image: `index,label,predicted,correct,scores`, the index in the
    /// split, `correct` 1 or 0, the golden model's integer scores joined with ';'.
    /// Example: --predictions preds.csv
    #[arg(long, value_name = "FILE.csv")]
    pub predictions: Option<PathBuf>,
    /// Draw the confusion matrix (rows: true label, columns: predicted), as SVG or PNG by the
    /// extension. Example: --confusion confusion.png
    #[arg(long, value_name = "FILE.png|FILE.svg")]
    pub confusion: Option<PathBuf>,
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
    /// Counts of (true label, predicted class), as many classes as the model has.
    pub confusion: Confusion,
    /// Every image's prediction, in dataset order; empty unless asked for (see [`evaluate_with`]).
    pub predictions: Vec<Prediction>,
}

impl EvalResult {
    /// Fraction correct.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// Runs `model` over `data` with the golden model, in batches, with a progress bar.
pub fn evaluate(model: &Model, data: &Dataset, batch: usize) -> Result<EvalResult> {
    evaluate_with(model, data, batch, false)
}

/// [`evaluate`], also keeping every image's prediction (scores included) when `keep_predictions`:
/// the scores take memory in proportion to the dataset, so only callers that write them ask.
pub fn evaluate_with(
    model: &Model,
    data: &Dataset,
    batch: usize,
    keep_predictions: bool,
) -> Result<EvalResult> {
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
    let mut matrix = Confusion::new(model.classes().max(data.classes));
    let mut kept = Vec::new();
    for (images, labels) in data.images.chunks(batch * frame).zip(data.labels.chunks(batch)) {
        let preds = golden.run_batch(images)?;
        for (p, &l) in preds.iter().zip(labels) {
            correct += usize::from(p.class == usize::from(l));
            matrix.add(usize::from(l), p.class);
        }
        if keep_predictions {
            kept.extend(preds);
        }
        pb.inc(labels.len() as u64);
    }
    let seconds = start.elapsed().as_secs_f64();
    pb.finish_and_clear();
    Ok(EvalResult { correct, total: data.len(), seconds, confusion: matrix, predictions: kept })
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

/// The largest confusion matrix printed as a table: wider ones wrap in a terminal.
const MAX_TABLE_CLASSES: usize = 20;

/// The predictions as CSV: `index,label,predicted,correct,scores`, scores joined with ';'.
fn predictions_csv(labels: &[u8], preds: &[Prediction]) -> String {
    let mut out = String::from("index,label,predicted,correct,scores\n");
    for (i, (p, &l)) in preds.iter().zip(labels).enumerate() {
        let scores: Vec<String> = p.scores.iter().map(i32::to_string).collect();
        let ok = u8::from(p.class == usize::from(l));
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{i},{l},{},{ok},{}", p.class, scores.join(";"));
    }
    out
}

/// Refuses an output path that cannot be written, before the run rather than after it.
pub fn check_output(flag: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{flag} {}: it is a directory; give a file path inside it", path.display());
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            bail!("{flag} {}: no directory {}", path.display(), dir.display())
        }
        _ => Ok(()),
    }
}

/// Runs `xnorflow eval`.
pub fn run(args: Args) -> Result<()> {
    if let Some(p) = &args.predictions {
        check_output("--predictions", p)?;
    }
    if let Some(p) = &args.confusion {
        reports::plot::check_path(p).map_err(|e| anyhow::anyhow!("--confusion: {e}"))?;
        check_output("--confusion", p)?;
    }
    let model = load_model(&args.model)?;
    let data = args.images.load()?;
    let r = evaluate_with(&model, &data, args.batch as usize, args.predictions.is_some())?;
    let name = format!("{} on {}", model.name.to_lowercase(), args.images.name());
    report(&name, &r);
    if r.confusion.classes() <= MAX_TABLE_CLASSES {
        println!("confusion matrix (rows: true label, columns: predicted):\n{}", r.confusion);
    }
    if let Some(path) = &args.predictions {
        compiler::format::write_atomic(path, predictions_csv(&data.labels, &r.predictions).as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write predictions {}: {e}", path.display()))?;
        println!("wrote {} ({} rows)", path.display(), r.predictions.len());
    }
    if let Some(path) = &args.confusion {
        let title = format!("{name}: accuracy {:.2}%", r.accuracy() * 100.0);
        confusion::draw(path, &r.confusion, &title)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
