//! The cost model's estimate of one FIFO against Yosys `synth_xilinx` (7-series), for widths of
//! 8, 32 and 64 bits and depths from 8 to 512 words (the branch FIFOs `F<i>` are a few words to a
//! few rows deep, residual bypass FIFOs `R<i>` one to two output rows), written as CSV.
//!
//! `cargo run --release -p xnorflow-hdl --example fifo_estimate [-- OUT.csv]` (default
//! `results/fifo_estimate_vs_synth.csv`). The estimate is `cost::node` of the FIFO node, exactly
//! what `xnorflow compile` and `report` print for it.

use compiler::dataflow::{cost, Node};
use hdl::synth::{self, Target};
use std::io::Write;

fn measure(width: usize, depth: usize) -> Result<String, Box<dyn std::error::Error>> {
    let est = cost::node(&Node::fifo("fifo", width, 1024, depth));
    let d = hdl::rtl::fifo::design("fifo", width, depth, hdl::MemStyle::Distributed)?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("fifo.v"), d.verilog())?;
    let st = synth::yosys(dir.path(), "fifo.v", "fifo", Target::Xc7, false)?.total;
    let err = 100.0 * (est.lut as f64 - st.lut as f64) / st.lut.max(1) as f64;
    eprintln!("fifo {width:2} x {depth:3}: estimate {} LUT, Yosys {} ({err:+.1}%)", est.lut, st.lut);
    Ok(format!(
        "{width},{depth},{},{},{err:+.1},{},{},{},{}",
        est.lut, st.lut, est.ff, st.ff, est.bram18, st.bram18
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "results/fifo_estimate_vs_synth.csv".into());
    let mut f = std::fs::File::create(&out)?;
    writeln!(f, "width,depth,lut_est,lut,lut_err_pct,ff_est,ff,bram18_est,bram18")?;
    for width in [8, 32, 64] {
        for depth in [8, 16, 32, 48, 64, 65, 96, 123, 128, 131, 192, 256, 300, 512] {
            writeln!(f, "{}", measure(width, depth)?)?;
        }
    }
    eprintln!("wrote {out}");
    Ok(())
}
