//! `xnorflow synth`: Yosys synthesis of a build beside the estimates.

use super::thousands;
use anyhow::{Context, Result};
use hdl::synth::Target;
use reports::builddir::BuildDir;
use std::path::PathBuf;

/// Synthesis target on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum ArchArg {
    /// Xilinx 7-series (Yosys synth_xilinx).
    Xc7,
    /// Lattice iCE40 (Yosys synth_ice40; nextpnr-ice40 timing when it fits an up5k or hx8k).
    Ice40,
}

/// Arguments of `xnorflow synth`.
#[derive(clap::Args)]
pub struct Args {
    /// Build directory written by `xnorflow compile`.
    pub build: PathBuf,
    /// Target architecture (default: the one the build was compiled for, else xc7).
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
}

/// Runs `xnorflow synth`.
pub fn run(args: Args) -> Result<()> {
    let b = BuildDir::open(&args.build).context("cannot open the build directory")?;
    let target = match (args.arch, b.graph.arch) {
        (Some(ArchArg::Xc7), _) => Target::Xc7,
        (Some(ArchArg::Ice40), _) | (None, Some(compiler::dataflow::target::Arch::Ice40(_))) => Target::Ice40,
        (None, _) => Target::Xc7,
    };
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let r = reports::synth::synth(&b, target, &mut |s| pb.set_message(s.to_string()))?;
    pb.finish_and_clear();
    print!("{}", r.markdown());
    let t = &r.total;
    if let Some(e) = &r.ice40 {
        println!(
            "\nYosys: {} LUT4, {} DFF, {} carry, {} EBR in {:.1} s (iCE40 estimate: {} LUT4, {} DFF, {} EBR)",
            thousands(t.lut),
            thousands(t.ff),
            thousands(t.carry),
            t.bram18,
            r.seconds,
            thousands(e.lut4),
            thousands(e.dff),
            e.ebr
        );
    } else {
        println!(
            "\nYosys: {} LUT, {} FF, {} carry, {} BRAM18, {} DSP in {:.1} s (estimate: {} LUT, {} BRAM18)",
            thousands(t.lut),
            thousands(t.ff),
            thousands(t.carry),
            t.bram18,
            t.dsp,
            r.seconds,
            thousands(r.estimate.lut),
            r.estimate.bram18
        );
    }
    let files: Vec<String> = ["json", "csv", "md"]
        .iter()
        .map(|ext| args.build.join(reports::builddir::synth_file(target, ext)).display().to_string())
        .collect();
    println!("wrote {}", files.join(", "));
    Ok(())
}
