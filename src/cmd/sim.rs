//! `xnorflow sim` and `xnorflow cosim`: run a build directory's design in the cycle model, or in
//! the golden model, the cycle model and Verilator side by side.

use super::eval::{check_output, load_dataset, DatasetArg, SplitArg};
use super::thousands;
use anyhow::{bail, Context, Result};
use compiler::data::Dataset;
use reports::builddir::BuildDir;
use reports::cosim::{self, CosimOptions, HwPrediction, SimFrames};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Real images for `sim` and `cosim` instead of random frames.
#[derive(clap::Args)]
pub struct DataArgs {
    /// Run this dataset's images (with their labels) instead of random frames, and report the
    /// accuracy. Example: --dataset mnist --data ../shared/data/mnist
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetArg>,
    /// Directory holding the dataset's files (MNIST: the four IDX files, gzip or raw). Optional
    /// for digits, which is built in.
    #[arg(long, requires = "dataset")]
    pub data: Option<PathBuf>,
    /// Which split to run.
    #[arg(long, value_enum, default_value = "test", requires = "dataset")]
    pub split: SplitArg,
    /// Run only the first N images.
    #[arg(long, requires = "dataset")]
    pub limit: Option<usize>,
}

impl DataArgs {
    /// The images, or `None` for random frames.
    fn load(&self) -> Result<Option<Dataset>> {
        let Some(kind) = self.dataset else { return Ok(None) };
        let mut data = load_dataset(kind, self.data.as_deref(), self.split)?;
        if let Some(n) = self.limit {
            data.truncate(n);
        }
        if data.is_empty() {
            bail!("no images to run");
        }
        Ok(Some(data))
    }

    /// Checks the dataset's images against the build's model.
    fn check(&self, data: &Dataset, b: &BuildDir) -> Result<()> {
        if data.shape != b.model.input {
            bail!(
                "the design takes {} frames but the dataset's images are {}; run it on the dataset its model was built for",
                b.model.input,
                data.shape
            );
        }
        Ok(())
    }

    fn name(&self) -> String {
        format!("{:?} {:?}", self.dataset.map_or(DatasetArg::Digits, |d| d), self.split).to_lowercase()
    }
}

/// Arguments of `xnorflow sim`.
///
/// Examples: `xnorflow sim build --frames 64` (random frames), `xnorflow sim build --dataset
/// mnist --data ../shared/data/mnist --predictions preds.csv` (the test set through the cycle
/// model, with its accuracy, which must equal `xnorflow eval`'s, and each frame's latency),
/// `--jobs 2` to run it as two independent halves on both cores.
#[derive(clap::Args)]
pub struct SimArgs {
    /// Build directory written by `xnorflow compile`.
    pub build: PathBuf,
    /// Random frames to run (without --dataset).
    #[arg(long, default_value_t = 16, conflicts_with = "dataset")]
    pub frames: usize,
    /// Seed of the frames.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Real images instead of random frames.
    #[command(flatten)]
    pub data: DataArgs,
    /// With --dataset, write one CSV row per image: `index,label,predicted,correct,scores`, the
    /// class and scores decoded from the design's output words (scores empty when the design
    /// ends in an argmax, which streams only the class).
    #[arg(long, value_name = "FILE.csv", requires = "dataset")]
    pub predictions: Option<PathBuf>,
    /// Share the frames out to this many independent runs, one thread and one cycle model each,
    /// from reset (as on as many accelerators): the same words, classes and accuracy as one
    /// run, the steady state and first latency of the first share, the cycles of all. Default:
    /// one run, one stream.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Arguments of `xnorflow cosim`.
#[derive(clap::Args)]
pub struct CosimArgs {
    /// Build directory written by `xnorflow compile`.
    pub build: PathBuf,
    /// Random frames to run (without --dataset).
    #[arg(long, default_value_t = 16, conflicts_with = "dataset")]
    pub frames: usize,
    /// Real images instead of random frames.
    #[command(flatten)]
    pub data: DataArgs,
    /// Probability of an input gap and of output backpressure per cycle.
    #[arg(long, default_value_t = 0.0)]
    pub stall_prob: f64,
    /// Seed of the frames and the stalls.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write Verilator's waveforms (VCD) here; verilates a traced build.
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Opens a build directory, noting design files edited since `compile`.
pub fn open(dir: &std::path::Path) -> Result<BuildDir> {
    let b = BuildDir::open(dir).context("cannot open the build directory")?;
    if let Some(note) = b.modified_note() {
        eprintln!("{note}");
    }
    Ok(b)
}

fn write_json<T: serde::Serialize>(path: &Option<PathBuf>, value: &T) -> Result<()> {
    if let Some(p) = path {
        std::fs::write(p, serde_json::to_string_pretty(value)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// The hardware's predictions as CSV, as `xnorflow eval --predictions` writes the golden model's.
pub(crate) fn predictions_csv(labels: &[u8], preds: &[HwPrediction]) -> String {
    let mut out = String::from("index,label,predicted,correct,scores\n");
    for (i, ((class, scores), &l)) in preds.iter().zip(labels).enumerate() {
        let scores: Vec<String> = scores.iter().flatten().map(i32::to_string).collect();
        let ok = u8::from(*class == usize::from(l));
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{i},{l},{class},{ok},{}", scores.join(";"));
    }
    out
}

/// Runs `xnorflow sim`.
pub fn run_sim(args: SimArgs) -> Result<()> {
    if let Some(p) = &args.predictions {
        check_output("--predictions", p)?;
    }
    let b = open(&args.build)?;
    if let Some(p) = &args.json {
        reports::builddir::check_output_file(&b, p)?;
    }
    let data = args.data.load()?;
    let frames = match &data {
        Some(d) => {
            args.data.check(d, &b)?;
            SimFrames::Labelled { images: &d.images, labels: &d.labels }
        }
        None => SimFrames::Random { frames: args.frames, seed: args.seed },
    };
    let count = data.as_ref().map_or(args.frames, Dataset::len);
    let pb = indicatif::ProgressBar::new(count as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} frames, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let jobs = usize::from(args.jobs);
    let r = cosim::simulate_with(&b, frames, args.predictions.is_some(), jobs, &mut |done| {
        if done % 64 == 0 {
            pb.set_position(done as u64);
        }
    });
    pb.finish_and_clear();
    let (r, preds) = r?;
    let what = if data.is_some() { format!("{} images", args.data.name()) } else { "random frames".into() };
    println!(
        "{} {what} through the cycle model of {} ({} nodes)",
        r.frames,
        b.graph.name,
        b.graph.nodes.len()
    );
    if let Some(a) = &r.dataset {
        let pct = |n: usize| 100.0 * n as f64 / a.frames.max(1) as f64;
        println!(
            "  accuracy {:.2}% ({}/{}) from the design's output words; the golden model (`xnorflow eval`): {:.2}%, {}",
            pct(a.correct),
            a.correct,
            a.frames,
            pct(a.golden_correct),
            if a.class_mismatches == 0 && a.correct == a.golden_correct {
                "equal, every class the same".to_string()
            } else {
                format!("DIFFERENT on {} images", a.class_mismatches)
            }
        );
    }
    match r.steady_cycles_per_frame {
        Some(c) => println!(
            "  steady state: {} cycles/frame (predicted {}), {:.0} frames/s at {} MHz",
            thousands(c),
            thousands(r.predicted_cycles_per_frame),
            r.fps,
            b.info.fclk_mhz
        ),
        None => {
            println!("  one frame: no steady state (predicted {} cycles/frame)", r.predicted_cycles_per_frame)
        }
    }
    println!(
        "  latency: {} cycles ({:.2} us) from the first input word to the first frame's result",
        thousands(r.latency_cycles),
        r.latency_cycles as f64 / b.info.fclk_mhz
    );
    if let Some(l) = &r.frame_latency {
        println!(
            "  latency of each frame (first input word to last output word): min {}, median {}, max {} cycles",
            thousands(l.min),
            thousands(l.median),
            thousands(l.max)
        );
    }
    for (name, depth, hw) in &r.fifo_high_water {
        println!("  FIFO {name}: at most {hw} of {depth} words held");
    }
    let runs = if r.jobs > 1 { format!(" in {} runs on as many threads", r.jobs) } else { String::new() };
    println!(
        "  {} cycles simulated{runs} at {:.2} M cycles/s; outputs {} the golden model's",
        thousands(r.cycles),
        r.cycles_per_s / 1e6,
        if r.golden_agrees { "equal" } else { "DIFFER from" }
    );
    if let (Some(path), Some(d)) = (&args.predictions, &data) {
        compiler::format::write_atomic(path, predictions_csv(&d.labels, &preds).as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write predictions {}: {e}", path.display()))?;
        println!("wrote {} ({} rows)", path.display(), preds.len());
    }
    write_json(&args.json, &r)?;
    reports::report::save(&b, &r)?;
    if !r.golden_agrees {
        bail!("the cycle model disagrees with the golden model (run `xnorflow cosim` to locate it)");
    }
    Ok(())
}

/// Runs `xnorflow cosim`.
pub fn run_cosim(args: CosimArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.stall_prob) {
        bail!("--stall-prob must be in [0, 1), got {}", args.stall_prob);
    }
    let b = open(&args.build)?;
    if let Some(p) = &args.json {
        reports::builddir::check_output_file(&b, p)?;
    }
    let data = args.data.load()?;
    if let Some(d) = &data {
        args.data.check(d, &b)?;
    }
    let images: Vec<Vec<u8>> =
        data.as_ref().map_or_else(Vec::new, |d| d.images.chunks(d.shape.len()).map(<[u8]>::to_vec).collect());
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let o = CosimOptions {
        frames: args.frames,
        seed: args.seed,
        stall_prob: args.stall_prob,
        vcd: args.vcd.clone(),
        images,
    };
    let r = cosim::cosim(&b, &o, &mut |s| pb.set_message(s.to_string()))?;
    pb.finish_and_clear();
    let yes = |x: bool| if x { "agree" } else { "DISAGREE" };
    println!(
        "{} frames, {} output words, {} cycles, stall probability {}",
        r.frames,
        r.words,
        thousands(r.cycles),
        args.stall_prob
    );
    println!("  golden vs cycle model: bits {}", yes(r.cycle_vs_golden));
    if let Some(d) = &data {
        // Every executor's words are compared with the golden model's, so when they agree its
        // accuracy is theirs.
        let golden = sim::golden::Golden::new(&b.model)?;
        let preds = golden.run_batch(&d.images)?;
        let correct = preds.iter().zip(&d.labels).filter(|(p, &l)| p.class == usize::from(l)).count();
        println!(
            "  accuracy of the {} images {:.2}% ({correct}/{}) (the golden model's; the executors' words are compared with its words above)",
            args.data.name(),
            100.0 * correct as f64 / d.len().max(1) as f64,
            d.len()
        );
    }
    match (&r.verilator_skipped, r.verilator_vs_golden, r.verilator_vs_cycle_timing) {
        (Some(why), _, _) => println!("  Verilator: skipped: {why}"),
        (None, Some(g), Some(t)) => {
            println!("  golden vs Verilator: bits {}", yes(g));
            println!("  cycle model vs Verilator: cycle of every input and output word {}", yes(t));
            println!(
                "  time: cycle model {:.3} s, Verilator build {:.1} s, run {:.3} s",
                r.seconds.0, r.seconds.1, r.seconds.2
            );
        }
        _ => {}
    }
    if let Some(p) = &args.vcd {
        if r.verilator_skipped.is_none() {
            let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            if size == 0 {
                bail!("Verilator wrote no waveforms to {}", p.display());
            }
            println!("  waveforms: {} ({size} bytes)", p.display());
        }
    }
    write_json(&args.json, &r)?;
    reports::report::save(&b, &r)?;
    if let Some(m) = &r.first_mismatch {
        bail!(
            "first mismatch ({}): frame {}, output word {}, cycle {}, at {}: {}",
            m.between,
            m.frame,
            m.word,
            m.cycle.map_or("-".into(), |c| c.to_string()),
            m.at,
            m.detail
        );
    }
    println!("PASS");
    Ok(())
}
