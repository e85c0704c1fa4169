//! `xnorflow demo`: the built-in main job, on data carried in the binary.
//!
//! Trains an IR-Net BNN (8-bit first layer, two binary hidden layers of 256) on the bundled 8x8
//! digits, exports it bit-exactly, proves the export against the golden model on
//! every test image, writes the model file and its text form, reads it back and prints its summary,
//! then compiles it to a dataflow accelerator and runs the Verilog testbench on real test images
//! with Icarus when it is installed. The cycle model, co-simulation and synthesis join when they
//! are built.

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
    println!("[1/5] training IR-Net (Libra-PB + EDE) 64-256-256-10, 8-bit input, {} epochs", cfg.epochs);
    let start = Instant::now();
    let mut bar = Bar::new(train_set.len(), cfg.epochs);
    let (net, _) = train::trainer::train(&cfg, &train_set, None, &mut bar)?;
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();

    println!("[2/5] exporting BatchNorm + sign as integer thresholds and proving the export");
    let provenance = Provenance {
        dataset: Some("digits".into()),
        method: Some("irnet".into()),
        epochs: Some(cfg.epochs as u32),
        seed: Some(cfg.seed),
        notes: Some(format!("arch {}, 8-bit input, xnorflow demo", cfg.arch)),
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
    println!("[3/5] writing {} and its text form, reading it back", path.display());
    compiler::format::save(&model, &path)?;
    std::fs::write(path.with_extension("txt"), model.to_string())?;
    let loaded = compiler::format::load(&path)?;
    ensure!(loaded == model, "the model read back differs from the one written");
    print_summary(&loaded)?;

    println!("[4/5] bit-exact evaluation with the golden model");
    report("digits test split", &evaluate(&loaded, &test_set, 1024)?);
    report("digits train split", &evaluate(&loaded, &train_set, 1024)?);

    let build = args.out.join("build");
    println!(
        "[5/5] compiling to a dataflow accelerator in {} (100,000 frames/s at 100 MHz)",
        build.display()
    );
    let target = FoldTarget::Cycles(fold::cycles_for_fps(100_000.0, 100.0));
    let folding = fold::auto_fold(&loaded, target, Popcount::Compressor, MemStyle::Auto)?;
    let images: Vec<Vec<u8>> = (0..test_set.len().min(16)).map(|i| test_set.image(i).to_vec()).collect();
    let opts = BuildOptions { images, ..BuildOptions::default() };
    let b = reports::build::compile(&loaded, &folding, &build, &opts, &mut |_| {})?;
    let t = &b.report.total;
    println!(
        "      {} cycles/frame, {:.0} frames/s at 100 MHz, estimated {} LUT, {} FF, {} BRAM18",
        t.cycles, b.report.fps, t.lut, t.ff, t.bram18
    );
    if hdl::testbench::have("iverilog") {
        let log = hdl::testbench::run_icarus(&build, &["design.v"])?;
        let tb = hdl::testbench::parse_log(&log, b.graph.out_bits());
        ensure!(tb.pass, "the Verilog testbench failed: {}", tb.failure.unwrap_or_default());
        println!(
            "      Verilog testbench (Icarus): PASS, {} test images classified as the golden model does",
            tb.outputs.len()
        );
    } else {
        println!(
            "      Icarus Verilog is not installed (`make deps`): run `make -C {} sim` later",
            build.display()
        );
    }
    println!("outputs in {}", args.out.display());
    Ok(())
}
