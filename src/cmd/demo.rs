//! `xnorflow demo`: the built-in main job, on data carried in the binary.
//!
//! Trains an IR-Net BNN (8-bit first layer, two binary hidden layers of 256) on the bundled 8x8
//! digits, exports it bit-exactly, proves the export against the golden model on
//! every test image, writes the model file and its text form, reads it back and prints its summary,
//! then compiles it to a dataflow accelerator, runs the cycle model, co-simulates the golden model,
//! the cycle model and the Verilog (Verilator) on test images with random stalls, synthesizes it
//! with Yosys, and writes the HTML report. Missing tools are skipped with a message.

use super::eval::{evaluate, load_dataset, report, DatasetArg, SplitArg};
use super::inspect::print_summary;
use super::train::{check_exact, Bar};
use anyhow::{ensure, Context, Result};
use compiler::dataflow::fold::{self, FoldTarget};
use compiler::dataflow::{MemStyle, Popcount};
use compiler::model::Provenance;
use reports::build::BuildOptions;
use std::path::PathBuf;
use std::time::Instant;
use train::arch::{Arch, InputKind};
use train::method::Method;
use train::trainer::TrainConfig;

/// Arguments of `xnorflow demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for the demo's outputs.
    #[arg(long, default_value = "xnorflow-demo")]
    pub out: PathBuf,
    /// Training epochs.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Seed of initialisation and shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs `xnorflow demo`.
pub fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    println!("xnorflow demo: built-in 8x8 digits (1797 images, 80/20 split), no data to fetch");
    let train_set = load_dataset(DatasetArg::Digits, None, SplitArg::Train)?;
    let test_set = load_dataset(DatasetArg::Digits, None, SplitArg::Test)?;
    let arch = Arch::parse("256-256", InputKind::Fixed8, 10).map_err(anyhow::Error::msg)?;
    let cfg = TrainConfig::new(arch, Method::Irnet, args.epochs, args.seed);
    println!("[1/8] training IR-Net (Libra-PB + EDE) 64-256-256-10, 8-bit input, {} epochs", cfg.epochs);
    let start = Instant::now();
    let mut bar = Bar::new(train_set.len(), &cfg);
    let (net, _) = train::trainer::train(&cfg, &train_set, None, &mut bar)?;
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();

    println!("[2/8] exporting BatchNorm + sign as integer thresholds and proving the export");
    let provenance = Provenance {
        dataset: Some("digits".into()),
        method: Some("irnet".into()),
        epochs: Some(cfg.epochs as u32),
        seed: Some(cfg.seed),
        notes: Some(format!("xnorflow demo: {}", cfg.recipe())),
        ..Provenance::default()
    };
    let mut model = train::export::export(&net, "digits-irnet", provenance)?;
    let ex = check_exact(&net, &model, &test_set)?;
    ensure!(
        ex.first_mismatch.is_none(),
        "export is not exact on {} test images (a bug)",
        ex.total - ex.agree
    );
    model.provenance.accuracy = Some(ex.golden_correct as f64 / ex.total as f64);
    println!(
        "      trained in {seconds:.1} s; {}/{} test images give the same class in the float network and the golden model",
        ex.agree, ex.total
    );

    let path = args.out.join("digits-irnet.xnf");
    println!("[3/8] writing {} and its text form, reading it back", path.display());
    compiler::format::save(&model, &path)?;
    std::fs::write(path.with_extension("txt"), model.to_string())?;
    let loaded = compiler::format::load(&path)?;
    ensure!(loaded == model, "the model read back differs from the one written");
    print_summary(&loaded)?;

    println!("[4/8] bit-exact evaluation with the golden model");
    report("digits test split", &evaluate(&loaded, &test_set, 1024)?);
    report("digits train split", &evaluate(&loaded, &train_set, 1024)?);

    let build = args.out.join("build");
    println!(
        "[5/8] compiling to a dataflow accelerator in {} (100,000 frames/s at 100 MHz)",
        build.display()
    );
    let target = FoldTarget::Cycles(fold::cycles_for_fps(100_000.0, 100.0));
    let folding = fold::auto_fold(&loaded, target, Popcount::Compressor, MemStyle::Auto)?;
    let images: Vec<Vec<u8>> = (0..test_set.len().min(16)).map(|i| test_set.image(i).to_vec()).collect();
    let opts = BuildOptions { images: images.clone(), ..BuildOptions::default() };
    let b = reports::build::compile(&loaded, &folding, &build, &opts, &mut |_| {})?;
    let t = &b.report.total;
    println!(
        "      {} cycles/frame, {:.0} frames/s at 100 MHz, estimated {} LUT, {} FF, {} BRAM18",
        t.cycles, b.report.fps, t.lut, t.ff, t.bram18
    );
    let bopen = reports::builddir::BuildDir::open(&build)?;
    println!("[6/8] cycle-accurate model: 64 random frames");
    let sim = reports::cosim::simulate(&bopen, 64, 1)?;
    reports::report::save(&bopen, &sim)?;
    ensure!(sim.golden_agrees, "the cycle model disagrees with the golden model (a bug)");
    println!(
        "      {} cycles/frame in steady state (predicted {}), latency {} cycles, outputs equal the golden model's",
        sim.steady_cycles_per_frame.unwrap_or(sim.predicted_cycles_per_frame),
        sim.predicted_cycles_per_frame,
        sim.latency_cycles
    );
    println!(
        "[7/8] co-simulation on {} test images with random stalls: golden model, cycle model, Verilator",
        images.len()
    );
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let co = reports::cosim::CosimOptions { stall_prob: 0.2, seed: 1, images, ..Default::default() };
    let cr = reports::cosim::cosim(&bopen, &co, &mut |s| pb.set_message(s.to_string()))?;
    pb.finish_and_clear();
    reports::report::save(&bopen, &cr)?;
    if let Some(m) = &cr.first_mismatch {
        anyhow::bail!(
            "co-simulation mismatch ({}): frame {}, cycle {:?}, {}: {}",
            m.between,
            m.frame,
            m.cycle,
            m.at,
            m.detail
        );
    }
    match &cr.verilator_skipped {
        None => println!(
            "      PASS: bits and cycles agree on {} frames ({} cycles; Verilator build {:.0} s)",
            cr.frames, cr.cycles, cr.seconds.1
        ),
        Some(why) => println!("      golden and cycle model agree; Verilator skipped: {why}"),
    }
    println!("[8/8] synthesis (Yosys synth_xilinx) and the report");
    if tools::installed("yosys") {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        let sy =
            reports::synth::synth(&bopen, hdl::synth::Target::Xc7, &mut |s| pb.set_message(s.to_string()))?;
        pb.finish_and_clear();
        println!(
            "      Yosys: {} LUT, {} FF, {} BRAM18 (estimated {} LUT, {} BRAM18) in {:.0} s",
            sy.total.lut, sy.total.ff, sy.total.bram18, sy.estimate.lut, sy.estimate.bram18, sy.seconds
        );
    } else {
        println!("      Yosys is not installed (`make deps`): synthesis skipped");
    }
    let (html, _, _) = reports::report::write(&bopen)?;
    println!("      report: {}", html.display());
    println!("outputs in {}", args.out.display());
    Ok(())
}
