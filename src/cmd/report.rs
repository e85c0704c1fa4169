//! `xnorflow report`: one self-contained HTML page (and its Markdown twin) of a build, from what
//! `compile`, `sim`, `cosim` and `synth` left in its directory.

use anyhow::Result;
use std::path::PathBuf;

/// Arguments of `xnorflow report`.
#[derive(clap::Args)]
pub struct Args {
    /// Build directory written by `xnorflow compile` (and `sim`, `cosim`, `synth`).
    pub build: PathBuf,
}

/// Runs `xnorflow report`.
pub fn run(args: Args) -> Result<()> {
    let b = super::sim::open(&args.build)?;
    let (html, md, stale) = reports::report::write(&b)?;
    for why in stale {
        eprintln!("note: {why}");
    }
    println!("wrote {} and {}", html.display(), md.display());
    Ok(())
}
