//! `xnorflow explore`: foldings of one or more models swept with the cost model, as a CSV and plots.

use super::compile::{MemArg, PopcountArg};
use super::eval::{load_dataset, DatasetArg, SplitArg};
use super::{progress, thousands};
use anyhow::bail;
use anyhow::{Context, Result};
use reports::explore::{self, ExploreOptions, Images};
use std::path::PathBuf;

/// Arguments of `xnorflow explore`.
///
/// Examples: `xnorflow explore a1.xnf a2.xnf -o explore` (the cost model alone);
/// `xnorflow explore m.xnf --dataset digits --simulate 32` (also 32 real images through every
/// design's cycle model: measured frames/s, latency and accuracy next to the predicted ones).
#[derive(clap::Args)]
pub struct Args {
    /// Model files (.xnf): e.g. one topology trained with IR-Net and with STE, or several widths.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Directory for explore.csv and the plots.
    #[arg(short, long, default_value = "explore")]
    pub out: PathBuf,
    /// Clock for frames/s, MHz.
    #[arg(long, default_value_t = 100.0)]
    pub fclk_mhz: f64,
    /// Mark the designs within this many LUTs and chart the layers of the fastest of them.
    #[arg(long)]
    pub lut_budget: Option<u64>,
    /// Popcount structure.
    #[arg(long, value_enum, default_value_t = PopcountArg::Compressor)]
    pub popcount: PopcountArg,
    /// Weight memory style.
    #[arg(long, value_enum, default_value_t = MemArg::Auto)]
    pub mem_style: MemArg,
    /// Dataset of the images for --simulate.
    #[arg(long, value_enum, requires = "simulate")]
    pub dataset: Option<DatasetArg>,
    /// Directory holding the dataset's files (optional for digits, which is built in).
    #[arg(long, requires = "dataset")]
    pub data: Option<PathBuf>,
    /// Run the first N test images of --dataset through every design's cycle model (the cost
    /// grows with N x cycles per frame: a 1M-cycle design takes about a second per image).
    #[arg(long, value_name = "N", requires = "dataset", value_parser = clap::value_parser!(u32).range(1..))]
    pub simulate: Option<u32>,
}

/// Runs `xnorflow explore`.
pub fn run(args: Args) -> Result<()> {
    compiler::dataflow::fold::check_fclk_mhz(args.fclk_mhz).context("--fclk-mhz")?;
    if let Some(b) = args.lut_budget {
        compiler::dataflow::fold::check_target(compiler::dataflow::fold::FoldTarget::LutBudget(b))
            .context("--lut-budget")?;
    }
    let mut models = Vec::new();
    for p in &args.models {
        let m = super::eval::load_model(p)?;
        let label = p.file_stem().map_or("model".into(), |s| s.to_string_lossy().to_string());
        models.push((label, m));
    }
    let simulate = match (args.dataset, args.simulate) {
        (Some(kind), Some(n)) => {
            let mut d = load_dataset(kind, args.data.as_deref(), SplitArg::Test)?;
            d.truncate(n as usize);
            if let Some((label, m)) = models.iter().find(|(_, m)| m.input != d.shape) {
                bail!("{label} takes {} frames but the dataset's images are {}", m.input, d.shape);
            }
            Some(Images { pixels: d.images, labels: d.labels })
        }
        _ => None,
    };
    let o = ExploreOptions {
        fclk_mhz: args.fclk_mhz,
        lut_budget: args.lut_budget,
        popcount: args.popcount.into(),
        mem: args.mem_style.into(),
        simulate,
    };
    let mut total = 0;
    for (label, m) in &models {
        total += explore::targets(m).with_context(|| format!("{label}: cannot be folded"))?.len();
    }
    let pb = progress(total as u64, "folding");
    let mut designs = explore::explore(&models, &o, &|| pb.inc(1))?;
    pb.finish_and_clear();
    if let Some(images) = &o.simulate {
        let pb = progress(designs.len() as u64, "simulating");
        explore::simulate(&mut designs, &models, images, o.fclk_mhz, &|_| pb.inc(1))?;
        pb.finish_and_clear();
    }
    let files = explore::write(&args.out, &designs, &o)?;
    println!(
        "{} designs from {} model(s); Pareto-optimal (fewer LUTs, more frames/s, higher accuracy):",
        designs.len(),
        models.len()
    );
    for d in designs.iter().filter(|d| d.pareto) {
        println!(
            "  {:<24} {:>9} cycles/frame {:>12.0} frames/s {:>9} LUT {:>4} BRAM18  {}",
            d.model,
            thousands(d.cycles_per_frame),
            d.fps,
            thousands(d.lut),
            d.bram18,
            d.folding
        );
        if let Some(m) = &d.measured {
            println!(
                "  {:<24} measured on {} images: {} cycles/frame, latency {} cycles (median {} back to back), accuracy {:.2}%",
                "",
                m.frames,
                thousands(m.cycles_per_frame),
                thousands(m.latency_cycles),
                thousands(m.latency_median_cycles),
                m.accuracy
            );
        }
    }
    if let Some(d) = explore::chosen(&designs, args.lut_budget) {
        println!(
            "charted: {} at {} cycles/frame, {} LUT ({})",
            d.model,
            thousands(d.cycles_per_frame),
            thousands(d.lut),
            if args.lut_budget.is_some() {
                "the fastest within the budget"
            } else {
                "the middle of the front"
            }
        );
    } else if let Some(b) = args.lut_budget {
        println!("no design fits in {} LUTs", thousands(b));
    }
    println!("wrote {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(())
}
