//! `xnorflow export`: a model file as QONNX, runnable by qonnx's executor and FINN, and read back
//! exactly by `xnorflow import`.

use anyhow::{bail, Context, Result};
use compiler::onnx::export;
use std::path::{Path, PathBuf};

/// Arguments of `xnorflow export`.
///
/// Example: `xnorflow export model.xnf -o model.onnx` writes a QONNX graph whose input
/// `global_in` is the pixels divided by 255 as float32 NCHW `(1, C, H, W)` and whose output
/// `global_out` is the `(1, classes)` scores (argmax identical to the model's).
#[derive(clap::Args)]
pub struct Args {
    /// Model file (.xnf or the text form).
    pub model: PathBuf,
    /// Output ONNX file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `xnorflow export`.
pub fn run(args: Args) -> Result<()> {
    check_output(&args.output, args.force)?;
    let model = super::eval::load_model(&args.model)?;
    let proto = export::to_proto(&model)
        .with_context(|| format!("cannot export {} as ONNX", args.model.display()))?;
    let nodes = proto.graph.as_ref().map_or(0, |g| g.node.len());
    let bytes = export::encode(&proto);
    compiler::format::write_atomic(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let s = model.input;
    println!(
        "wrote {} (QONNX, {nodes} nodes, {} bytes); input: pixel/255 as float32 NCHW (1,{},{},{})",
        args.output.display(),
        super::thousands(bytes.len() as u64),
        s.c,
        s.h,
        s.w
    );
    Ok(())
}

/// Refuses an output that is a directory, or an existing file without `force` (as `train -o`),
/// before any work.
fn check_output(output: &Path, force: bool) -> Result<()> {
    let o = output.display();
    if output.is_dir() {
        bail!(
            "-o {o} is a directory; give an ONNX file path, such as {}",
            output.join("model.onnx").display()
        );
    }
    if output.exists() && !force {
        bail!("-o {o} already exists; pass --force to overwrite it, or choose another path");
    }
    Ok(())
}
