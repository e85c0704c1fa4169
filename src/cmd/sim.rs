//! `xnorflow sim` and `xnorflow cosim`: run a build directory's design in the cycle model, or in
//! the golden model, the cycle model and Verilator side by side.

use super::thousands;
use anyhow::{bail, Context, Result};
use reports::builddir::BuildDir;
use reports::cosim::{self, CosimOptions};
use std::path::PathBuf;

/// Arguments of `xnorflow sim`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// Build directory written by `xnorflow compile`.
    pub build: PathBuf,
    /// Random frames to run.
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    /// Seed of the frames.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Arguments of `xnorflow cosim`.
#[derive(clap::Args)]
pub struct CosimArgs {
    /// Build directory written by `xnorflow compile`.
    pub build: PathBuf,
    /// Random frames to run.
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
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

/// Runs `xnorflow sim`.
pub fn run_sim(args: SimArgs) -> Result<()> {
    let b = open(&args.build)?;
    if let Some(p) = &args.json {
        reports::builddir::check_output_file(&b, p)?;
    }
    let pb = indicatif::ProgressBar::new(args.frames as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} frames, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let r = cosim::simulate_with(&b, args.frames, args.seed, &mut |done| {
        if done % 64 == 0 {
            pb.set_position(done as u64);
        }
    });
    pb.finish_and_clear();
    let r = r?;
    println!(
        "{} frames through the cycle model of {} ({} nodes)",
        r.frames,
        b.graph.name,
        b.graph.nodes.len()
    );
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
    for (name, depth, hw) in &r.fifo_high_water {
        println!("  FIFO {name}: at most {hw} of {depth} words held");
    }
    println!(
        "  {} cycles simulated at {:.2} M cycles/s; outputs {} the golden model's",
        thousands(r.cycles),
        r.cycles_per_s / 1e6,
        if r.golden_agrees { "equal" } else { "DIFFER from" }
    );
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
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let o = CosimOptions {
        frames: args.frames,
        seed: args.seed,
        stall_prob: args.stall_prob,
        vcd: args.vcd.clone(),
        images: Vec::new(),
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
