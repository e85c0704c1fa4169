//! `xnorflow board`: real images through a flashed board over its UART, checked against the
//! golden model, with the accuracy and the frames/s the port delivers.

use super::eval::{check_output, Images};
use super::sim::{open, predictions_csv};
use anyhow::{bail, Context, Result};
use reports::serial::{Port, Protocol};
use std::path::PathBuf;

/// Arguments of `xnorflow board`.
///
/// Example: `xnorflow bitstream build --board icebreaker && iceprog build/board/board.bin &&
/// xnorflow board build --port /dev/ttyUSB1`.
#[derive(clap::Args)]
pub struct Args {
    /// Build directory whose bitstream (`xnorflow bitstream`) the board runs.
    pub build: PathBuf,
    /// The board's UART: a serial device (the iCEBreaker's FTDI: its second port, e.g.
    /// /dev/ttyUSB1), set to 8N1 raw at --baud with `stty`.
    #[arg(long, required_unless_present = "simulate", conflicts_with = "simulate")]
    pub port: Option<PathBuf>,
    /// No board: simulate the board top (UART, quantizer, accelerator) at bit level in Verilator
    /// (else Icarus) and send it the images as UART bytes, before flashing anything.
    #[arg(long)]
    pub simulate: bool,
    /// Baud rate. Default: the one the build's bitstream was made for (`xnorflow bitstream
    /// --baud`), else 115200.
    #[arg(long, conflicts_with = "simulate")]
    pub baud: Option<u64>,
    /// The images to send.
    #[command(flatten)]
    pub images: Images,
    /// Do not send the weight image first (a design with weights in SPRAM whose board already
    /// holds them since power-on).
    #[arg(long, conflicts_with = "simulate")]
    pub skip_weights: bool,
    /// Write one CSV row per image: `index,label,predicted,correct,scores`, from the board.
    #[arg(long, value_name = "FILE.csv")]
    pub predictions: Option<PathBuf>,
}

/// Runs `xnorflow board`.
pub fn run(args: Args) -> Result<()> {
    if let Some(p) = &args.predictions {
        check_output("--predictions", p)?;
    }
    let b = open(&args.build)?;
    let data = args.images.load()?;
    if data.shape != b.model.input {
        bail!(
            "the design takes {} frames but the dataset's images are {}; send the dataset its model was built for",
            b.model.input,
            data.shape
        );
    }
    let p = Protocol::of(&b)?;
    let baud = args.baud.unwrap_or_else(|| match b.load::<reports::board::Bitstream>(&()) {
        reports::builddir::Loaded::Current(r) => r.baud,
        _ => 115_200,
    });
    let pb = super::progress(data.len() as u64, "frames");
    let (r, at) = match &args.port {
        Some(port) => {
            let mut serial = Port::open(port, baud)?;
            if p.weights.is_some() && !args.skip_weights {
                pb.println("sending the weight image (weights in SPRAM)");
            }
            let load = !args.skip_weights;
            let r = reports::serial::run(&b, &mut serial, &p, &data.images, &data.labels, load, &mut |n| {
                pb.set_position(n as u64)
            });
            (
                r.with_context(|| format!("on {}", port.display())),
                format!("on the board at {} ({baud} baud)", port.display()),
            )
        }
        None => {
            pb.set_message("simulating");
            let r = reports::serial::simulate(&b, &p, &data.images, &data.labels, &mut |n| {
                pb.set_position(n as u64)
            });
            let r = match r {
                Ok(Some(r)) => Ok(r),
                Ok(None) => bail!("--simulate needs Verilator or Icarus Verilog (apt-get install verilator iverilog, or `make deps`)"),
                Err(e) => Err(anyhow::Error::new(e)),
            };
            (r, format!("on the simulated board top ({})", b.dir.join("board-sim").display()))
        }
    };
    pb.finish_and_clear();
    let r = r?;
    let pct = |n: usize| 100.0 * n as f64 / r.frames.max(1) as f64;
    let what = args.images.name();
    println!("{} {what} images {at}", r.frames);
    if r.loaded_weights {
        println!("  weight image sent and acknowledged ({} bytes)", p.weights.as_ref().map_or(0, Vec::len));
    }
    println!(
        "  accuracy {:.2}% ({}/{}); the golden model (`xnorflow eval`): {:.2}%, {}",
        pct(r.correct),
        r.correct,
        r.frames,
        pct(r.golden_correct),
        if r.mismatches.is_empty() {
            "every class the same".to_string()
        } else {
            format!("DIFFERENT on {} images", r.mismatches.len())
        }
    );
    let wire = format!("{} bytes in, {} out a frame", p.frame_len, p.answer_len());
    if args.simulate {
        println!("  {:.1} s of bit-level simulation ({wire})", r.seconds);
    } else {
        let uart = baud as f64 / (10.0 * (p.frame_len + p.answer_len()) as f64);
        println!("  {:.1} frames/s over the port ({wire}; the UART allows {uart:.1})", r.fps());
    }
    if r.resent > 0 {
        println!("  {} frames abandoned by the board (0xEE) and sent again", r.resent);
    }
    if let Some(path) = &args.predictions {
        compiler::format::write_atomic(path, predictions_csv(&data.labels, &r.predictions).as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write predictions {}: {e}", path.display()))?;
        println!("wrote {} ({} rows)", path.display(), r.predictions.len());
    }
    if !r.mismatches.is_empty() {
        let first: Vec<String> = r.mismatches.iter().take(8).map(usize::to_string).collect();
        bail!(
            "the board disagrees with the golden model on images {}{}: is it flashed with this build's bitstream?",
            first.join(", "),
            if r.mismatches.len() > 8 { ", ..." } else { "" }
        );
    }
    Ok(())
}
