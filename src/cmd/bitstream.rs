//! `xnorflow bitstream`: a build on a board: the UART board top, Yosys, nextpnr-ice40 and
//! icepack to a `.bin` to flash with `iceprog`.

use super::sim::open;
use anyhow::{bail, Result};
use reports::board::{self, Board};
use std::path::PathBuf;

/// Boards on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum BoardArg {
    /// 1BitSquared iCEBreaker (iCE40UP5K, 12 MHz, the FTDI's UART).
    Icebreaker,
    /// tinyVision UPduino 3.0 (iCE40UP5K, 12 MHz oscillator jumper shorted, a USB-UART on
    /// gpio_3 (RX) and gpio_4 (TX)).
    Upduino3,
}

/// Arguments of `xnorflow bitstream`.
///
/// Example: `xnorflow compile model.xnf -o build --target-cycles 4096 && xnorflow bitstream build
/// --board icebreaker`, then `iceprog build/board/board.bin`. The board takes a frame's pixel
/// bytes (8N1) and answers the class byte; see the README's "On a board".
#[derive(clap::Args)]
pub struct Args {
    /// Build directory written by `xnorflow compile`.
    pub build: PathBuf,
    /// The board.
    #[arg(long, value_enum, default_value = "icebreaker")]
    pub board: BoardArg,
    /// UART baud rate.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u64,
}

/// Runs `xnorflow bitstream`.
pub fn run(args: Args) -> Result<()> {
    let b = open(&args.build)?;
    let board = match args.board {
        BoardArg::Icebreaker => Board::Icebreaker,
        BoardArg::Upduino3 => Board::Upduino3,
    };
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let r = board::bitstream(&b, board, args.baud, &mut |s| pb.set_message(s.to_string()));
    pb.finish_and_clear();
    let r = r?;
    println!("{} for {} at {} baud", r.bin.display(), board.name(), r.baud);
    for (cell, used, avail) in &r.utilisation {
        println!("  {cell:<14} {used:>6} / {avail}");
    }
    let clock = board.clock_hz() as f64 / 1e6;
    match r.fmax_mhz {
        Some(f) if f >= clock => println!("  Fmax {f:.1} MHz (the board runs at {clock} MHz)"),
        Some(f) => bail!(
            "timing fails: Fmax {f:.1} MHz below the board's {clock} MHz; fold the design further \
             (xnorflow compile --target-cycles with more cycles) and try again"
        ),
        None => println!("  Fmax: not reported by nextpnr"),
    }
    println!("  at most {:.0} frames/s over the UART (the frame's bytes in, 10 bits a byte)", r.uart_fps);
    println!("flash it: iceprog {}", r.bin.display());
    reports::report::save(&b, &r)?;
    Ok(())
}
