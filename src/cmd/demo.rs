//! `xnorflow demo`: the built-in main job, on data carried in the binary.
//!
//! Until training (IR-Net) and the hardware stages land, the demo fits a nearest-binary-prototype
//! classifier to the bundled 8x8 digits, writes it in the model format (and its text form), loads it
//! back, prints its summary and evaluates it bit-exactly with the golden model.

use super::eval::{evaluate, load_dataset, report, DatasetArg, SplitArg};
use super::inspect::print_summary;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Arguments of `xnorflow demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for the demo's outputs.
    #[arg(long, default_value = "xnorflow-demo")]
    pub out: PathBuf,
}

/// Runs `xnorflow demo`.
pub fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    println!("xnorflow demo: built-in 8x8 digits (1797 images, 80/20 split), no data to fetch");
    println!("[1/4] fitting a nearest-binary-prototype BNN (training with IR-Net is not built yet)");
    let train = load_dataset(DatasetArg::Digits, None, SplitArg::Train)?;
    let test = load_dataset(DatasetArg::Digits, None, SplitArg::Test)?;
    let mut model = train::prototype::fit(&train, 128, "digits")?;
    let r = evaluate(&model, &test, 1024)?;
    model.provenance.accuracy = Some(r.accuracy());

    let path = args.out.join("digits-prototype.xnf");
    println!("[2/4] writing {} and its text form", path.display());
    compiler::format::save(&model, &path)?;
    std::fs::write(path.with_extension("txt"), model.to_string())?;

    println!("[3/4] loading it back and inspecting it");
    let loaded = compiler::format::load(&path)?;
    anyhow::ensure!(loaded == model, "the model read back differs from the one written");
    print_summary(&loaded)?;

    println!("[4/4] bit-exact evaluation with the golden model");
    report("digits test split", &evaluate(&loaded, &test, 1024)?);
    report("digits train split", &evaluate(&loaded, &train, 1024)?);
    println!("outputs in {}", args.out.display());
    Ok(())
}
