//! `xnorflow compile`: a model to a dataflow accelerator in Verilog, with a testbench and estimates.

use super::synth::ArchArg;
use super::{print_table, thousands};
use anyhow::{bail, Context, Result};
use compiler::dataflow::fold::{self, FoldTarget, Folding};
use compiler::dataflow::target::{Arch, Ice40Part};
use compiler::dataflow::{MemStyle, Popcount, VerilogIdent};
use reports::build::{self, BuildOptions};
use std::path::PathBuf;
use std::time::Instant;

/// Popcount structure on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum PopcountArg {
    /// 3:2 then 6:3 counters (LUT6-friendly, the default).
    Compressor,
    /// A binary tree of adders.
    AdderTree,
}

/// Weight memory style on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum MemArg {
    /// Block RAM from 1 Kb up, LUTs below.
    Auto,
    /// Block RAM.
    Block,
    /// LUTs.
    Distributed,
}

impl From<PopcountArg> for Popcount {
    fn from(p: PopcountArg) -> Self {
        match p {
            PopcountArg::Compressor => Popcount::Compressor,
            PopcountArg::AdderTree => Popcount::AdderTree,
        }
    }
}

impl From<MemArg> for MemStyle {
    fn from(m: MemArg) -> Self {
        match m {
            MemArg::Auto => MemStyle::Auto,
            MemArg::Block => MemStyle::Block,
            MemArg::Distributed => MemStyle::Distributed,
        }
    }
}

/// An iCE40 part on the command line, by [`Ice40Part::name`].
fn parse_part(s: &str) -> Result<Ice40Part, String> {
    Ice40Part::parse(s).ok_or_else(|| {
        let names: Vec<String> = Ice40Part::ALL
            .iter()
            .map(|p| format!("{p} ({} LC, {} EBR)", p.spec().lc, p.spec().ebr))
            .collect();
        format!("unknown iCE40 part {s:?}; known: {}", names.join(", "))
    })
}

/// Arguments of `xnorflow compile`.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (.xnf): fully connected or convolutional. `reference:lfc` and `reference:cnv`
    /// name BNN-PYNQ's LFC and CNV topologies with random weights (for hardware comparisons).
    pub model: PathBuf,
    /// Build directory to write.
    #[arg(short, long, default_value = "build")]
    pub out: PathBuf,
    /// Folding JSON: {"layers": {"L1": {"pe": 16, "simd": 49}, ...}} (popcount and mem_style
    /// optional per layer).
    #[arg(long, conflicts_with_all = ["target_fps", "target_cycles", "lut_budget"])]
    pub folding: Option<PathBuf>,
    /// Automatic folding: at least this many frames/s at --fclk-mhz, fewest LUTs (the default,
    /// with 100,000 frames/s, when no folding and no target is given).
    #[arg(long, conflicts_with_all = ["target_cycles", "lut_budget"])]
    pub target_fps: Option<f64>,
    /// Automatic folding: at most this many cycles per frame, fewest LUTs.
    #[arg(long, conflicts_with = "lut_budget")]
    pub target_cycles: Option<u64>,
    /// Automatic folding: the fastest design within this many LUTs (estimated).
    #[arg(long)]
    pub lut_budget: Option<u64>,
    /// Clock frequency for frames/s, MHz.
    #[arg(long, default_value_t = 100.0)]
    pub fclk_mhz: f64,
    /// Popcount structure for automatic folding.
    #[arg(long, value_enum, default_value_t = PopcountArg::Compressor)]
    pub popcount: PopcountArg,
    /// Weight memory style for automatic folding.
    #[arg(long, value_enum, default_value_t = MemArg::Auto)]
    pub mem_style: MemArg,
    /// Frames in the self-checking testbench.
    #[arg(long, default_value_t = 8)]
    pub frames: usize,
    /// Seed of the testbench frames and stalls.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Probability of an input gap and of output backpressure per cycle in the testbench.
    #[arg(long, default_value_t = 0.0)]
    pub stall_prob: f64,
    /// The FPGA the build is for, recorded in its graph (`synth`, `report` and `bitstream` use
    /// it). With ice40, automatic folding fits --part's logic cells and EBRs.
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// The iCE40 part (with --arch ice40): the fastest folding whose estimate fits it, or the
    /// cheapest at --target-cycles / --target-fps if that fits.
    /// Parts: lp1k, hx1k (1,280 LC, 16 EBR), u4k (3,520 LC, 20 EBR), up5k (5,280 LC, 30 EBR,
    /// 4 SPRAM), lp8k, hx8k (7,680 LC, 32 EBR).
    #[arg(long, value_parser = parse_part, default_value = "up5k", requires = "arch")]
    pub part: Ice40Part,
    /// Verilog top module name (a plain Verilog identifier, no keyword).
    #[arg(long, default_value = "xnorflow_top")]
    pub top: VerilogIdent,
}

/// Runs `xnorflow compile`.
pub fn run(args: Args) -> Result<()> {
    let t0 = Instant::now();
    let model = match args.model.to_str() {
        Some("reference:lfc") => reports::reference::lfc_random(1)?,
        Some("reference:cnv") => reports::reference::cnv_random(1)?,
        Some(r) if r.starts_with("reference:") => {
            bail!("unknown reference network {r}: reference:lfc or reference:cnv")
        }
        _ => super::eval::load_model(&args.model)?,
    };
    if !(0.0..1.0).contains(&args.stall_prob) {
        bail!("--stall-prob must be in [0, 1), got {}", args.stall_prob);
    }
    fold::check_fclk_mhz(args.fclk_mhz).context("--fclk-mhz")?;
    let (popcount, mem): (Popcount, MemStyle) = (args.popcount.into(), args.mem_style.into());
    let target = match (args.target_fps, args.target_cycles, args.lut_budget) {
        (Some(f), _, _) if f.is_finite() && f > 0.0 => {
            Some(FoldTarget::Cycles(fold::cycles_for_fps(f, args.fclk_mhz)))
        }
        (Some(f), _, _) => bail!("--target-fps must be a positive number of frames/s, got {f}"),
        (_, Some(c), _) => Some(FoldTarget::Cycles(c)),
        (_, _, Some(b)) => Some(FoldTarget::LutBudget(b)),
        _ => None,
    };
    if let Some(t) = target {
        fold::check_target(t).context(match t {
            FoldTarget::Cycles(_) if args.target_fps.is_some() => "--target-fps",
            FoldTarget::Cycles(_) => "--target-cycles",
            FoldTarget::LutBudget(_) => "--lut-budget",
        })?;
    }
    let arch = args.arch.map(|a| match a {
        ArchArg::Xc7 => Arch::Xc7,
        ArchArg::Ice40 => Arch::Ice40(args.part),
    });
    if let Some(Arch::Ice40(part)) = arch {
        if args.lut_budget.is_some() {
            bail!("--lut-budget is a 7-series LUT6 budget; with --arch ice40 the part (--part {part}) is the budget");
        }
    }
    // No folding and no target: 100,000 frames/s at the clock, or the fastest folding if that is
    // out of reach (a convolution's first layer may need thousands of cycles at any folding).
    let default_target = args.folding.is_none() && target.is_none();
    let target = match (&args.folding, target) {
        (None, None) => Some(FoldTarget::Cycles(fold::cycles_for_fps(100_000.0, args.fclk_mhz))),
        (_, t) => t,
    };
    let folding: Folding = match (&args.folding, target, arch) {
        (None, _, Some(Arch::Ice40(part))) => {
            // The part is the budget: no target means the fastest design that fits it.
            let cycles = match target {
                Some(FoldTarget::Cycles(c)) if !default_target => Some(c),
                _ => None,
            };
            fold::auto_fold_ice40(&model, part, cycles, popcount, mem)?
        }
        (Some(p), _, _) => {
            let text = reports::builddir::read_text(p, 1 << 20).context("cannot read the folding")?;
            compiler::json::from_str(&text)
                .with_context(|| format!("{} is not a folding (see --help)", p.display()))?
        }
        (None, Some(t), _) => match fold::auto_fold(&model, t, popcount, mem) {
            Err(_)
                if default_target
                    && fold::fastest_cycles(&model)? > fold::cycles_for_fps(100_000.0, args.fclk_mhz) =>
            {
                let fastest = fold::fastest_cycles(&model)?;
                println!(
                    "note: the default target, 100,000 frames/s ({} cycles/frame at {} MHz), is out of reach; \
                     using the fastest folding, {} cycles/frame (--target-fps, --target-cycles or \
                     --lut-budget choose another)",
                    thousands(fold::cycles_for_fps(100_000.0, args.fclk_mhz)),
                    args.fclk_mhz,
                    thousands(fastest)
                );
                fold::auto_fold(&model, FoldTarget::Cycles(fastest), popcount, mem)?
            }
            r => r?,
        },
        (None, None, _) => unreachable!("a default target is set above"),
    };
    let pb = indicatif::ProgressBar::new_spinner();
    let opts = BuildOptions {
        top: args.top.clone(),
        frames: args.frames,
        seed: args.seed,
        stall_prob: args.stall_prob,
        fclk_mhz: args.fclk_mhz,
        images: Vec::new(),
        arch,
    };
    let b = build::compile(&model, &folding, &args.out, &opts, &mut |step| pb.set_message(step.to_string()))?;
    pb.finish_and_clear();
    print!("{}", b.graph);
    let rows: Vec<Vec<String>> = b
        .report
        .nodes
        .iter()
        .map(|n| {
            let e = &n.estimate;
            vec![
                n.name.clone(),
                n.what.clone(),
                thousands(e.cycles),
                thousands(e.lut),
                thousands(e.ff),
                e.bram18.to_string(),
            ]
        })
        .collect();
    println!();
    print_table(&["node", "what", "cycles/frame", "LUT", "FF", "BRAM18"], &rows);
    let t = &b.report.total;
    println!(
        "total: {} cycles/frame ({:.0} frames/s at {} MHz), latency {} cycles, {} LUT, {} FF, {} BRAM18 (estimates)",
        thousands(t.cycles),
        b.report.fps,
        args.fclk_mhz,
        thousands(t.latency),
        thousands(t.lut),
        thousands(t.ff),
        t.bram18
    );
    if let Some(Arch::Ice40(part)) = arch {
        let (_, e) = compiler::dataflow::cost::ice40::graph_with(&b.graph, &model);
        let board = compiler::dataflow::cost::ice40::board_top(&b.graph, &model);
        let spec = part.spec();
        println!(
            "iCE40 {part} (estimates): {} LUT4, {} carry, {} DFF; {} logic cells ({} the accelerator, {} the \
             board top of `xnorflow bitstream`) of {}, {} of {} EBR (the board top's input queue included)",
            thousands(e.lut4),
            thousands(e.carry),
            thousands(e.dff),
            thousands((e + board).lc()),
            thousands(e.lc()),
            thousands(board.lc()),
            thousands(spec.lc),
            (e + board).ebr,
            spec.ebr
        );
    } else if let (None, Some(FoldTarget::Cycles(c))) = (&args.folding, target) {
        let finn = fold::finn_fold(&model, c, popcount, mem)?;
        println!(
            "FINN's folding heuristic at the same target: {} LUT (estimate)",
            thousands(fold::folding_luts(&model, &finn)?)
        );
    }
    println!(
        "wrote {} in {:.2} s: design.v, memory files, tb.v (run `make -C {} sim`), folding.json, report.md, report.json",
        args.out.display(),
        t0.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
