//! The iCE40 cost model's estimate of single blocks against Yosys `synth_ice40`: FIFOs, width
//! converters and MVTUs (binary and k-bit lanes), written as CSV. The per-node comparison on whole
//! designs is `scripts/ice40_estimate.sh`; this grid covers shapes those designs do not have.
//!
//! `cargo run --release -p xnorflow-hdl --example ice40_blocks [-- OUT.csv]` (default
//! `results/ice40_blocks.csv`). Columns: kind (`fifo` in flip-flops, `fifo-ebr` in EBR: a = width,
//! b = depth; `dwc`: a = input
//! bits, b = output bits; `mvtu-<input>`: a = SIMD, b = PE, NF = 8, SF = 4, one-bit outputs),
//! then the estimate and Yosys for LUT4, carry, flip-flops and EBR. MVTU thresholds are random in
//! the middle of the accumulator's range, so every ROM column varies, as the estimate without
//! thresholds assumes.

use compiler::dataflow::cost::ice40;
use compiler::dataflow::{LaneInput, MemStyle, MvtuConfig, MvtuOutput, Node, Popcount};
use compiler::passes::legalize;
use hdl::synth::{self, Target};
use std::io::Write;

#[path = "common/mod.rs"]
mod common;
use common::Rng;

#[derive(Clone, Copy)]
enum Job {
    Fifo(usize, usize),
    FifoEbr(usize, usize),
    Dwc(usize, usize),
    Mvtu(&'static str, LaneInput, usize, usize),
}

fn input_of(name: &str) -> LaneInput {
    match name {
        "binary" => LaneInput::Binary,
        "uint8" => LaneInput::Int { bits: 8, signed: false },
        k => LaneInput::Int { bits: k[3..].parse().expect("intN"), signed: true },
    }
}

fn describe(job: Job) -> String {
    match job {
        Job::Fifo(w, d) => format!("FIFO {w} x {d}"),
        Job::FifoEbr(w, d) => format!("EBR FIFO {w} x {d}"),
        Job::Dwc(i, o) => format!("converter {i} -> {o}"),
        Job::Mvtu(name, _, simd, pe) => format!("MVTU {name} SIMD {simd} PE {pe}"),
    }
}

fn measure(job: Job) -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (kind, a, b, est, rep) = match job {
        Job::Fifo(w, d) => {
            let m = hdl::rtl::fifo::design("blk", w, d, MemStyle::Distributed)?;
            std::fs::write(dir.path().join("blk.v"), m.verilog())?;
            (
                "fifo".to_string(),
                w,
                d,
                ice40::fifo(d, w, 1),
                synth::yosys(dir.path(), "blk.v", "blk", Target::Ice40, false)?,
            )
        }
        Job::FifoEbr(w, d) => {
            let m = hdl::rtl::fifo::design("blk", w, d, MemStyle::Block)?;
            std::fs::write(dir.path().join("blk.v"), m.verilog())?;
            (
                "fifo-ebr".to_string(),
                w,
                d,
                ice40::fifo_ebr(d, w, 1),
                synth::yosys(dir.path(), "blk.v", "blk", Target::Ice40, false)?,
            )
        }
        Job::Dwc(i, o) => {
            let m = hdl::rtl::width_converter::design("blk", i, o)?;
            std::fs::write(dir.path().join("blk.v"), m.verilog())?;
            let n = Node::width_converter("W", i, o, i * o);
            (
                "dwc".to_string(),
                i,
                o,
                ice40::node(&n),
                synth::yosys(dir.path(), "blk.v", "blk", Target::Ice40, false)?,
            )
        }
        Job::Mvtu(name, input, simd, pe) => {
            let cfg = MvtuConfig {
                name: "l0".into(),
                mw: 4 * simd,
                mh: 8 * pe,
                pe,
                simd,
                input,
                output: MvtuOutput::Threshold,
                popcount: Popcount::Compressor,
                mem_style: MemStyle::Auto,
            };
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (simd * 131 + pe) as u64 ^ input.bits() as u64);
            let (w, t) = common::random_layer(&cfg, &mut rng);
            let m = hdl::rtl::mvtu::design("blk", &cfg, &w, Some(&t))?;
            std::fs::write(dir.path().join("blk.v"), m.verilog())?;
            m.write_memories(dir.path())?;
            let est = ice40::mvtu_with(&cfg, &legalize::mvtu(&cfg), None);
            (
                format!("mvtu-{name}"),
                simd,
                pe,
                est,
                synth::yosys(dir.path(), "blk.v", "blk", Target::Ice40, false)?,
            )
        }
    };
    let y = &rep.total;
    let err = 100.0 * (est.lut4 as f64 - y.lut as f64) / y.lut.max(1) as f64;
    eprintln!("{kind} {a} {b}: estimate {} LUT4, Yosys {} ({err:+.1}%)", est.lut4, y.lut);
    Ok(format!(
        "{kind},{a},{b},{},{},{err:+.1},{},{},{},{},{},{}",
        est.lut4, y.lut, est.carry, y.carry, est.dff, y.ff, est.ebr, y.bram18
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "results/ice40_blocks.csv".into());
    let mut jobs = Vec::new();
    for (w, d) in
        [(1, 16), (2, 8), (2, 74), (4, 18), (4, 66), (8, 20), (8, 34), (16, 18), (16, 40), (32, 10), (64, 4)]
    {
        jobs.push(Job::Fifo(w, d));
    }
    for (w, d) in [
        (1, 1024),
        (2, 2000),
        (3, 700),
        (4, 512),
        (4, 1024),
        (8, 300),
        (8, 512),
        (12, 200),
        (16, 128),
        (16, 256),
        (20, 100),
        (32, 64),
        (64, 64),
    ] {
        jobs.push(Job::FifoEbr(w, d));
    }
    for (i, o) in [
        (1, 16),
        (2, 8),
        (2, 16),
        (4, 8),
        (4, 32),
        (8, 32),
        (16, 64),
        (8, 2),
        (16, 4),
        (32, 8),
        (64, 16),
        (6, 4),
        (4, 6),
    ] {
        jobs.push(Job::Dwc(i, o));
    }
    for simd in [2, 4, 8, 16, 32, 64, 128] {
        for pe in [1, 4] {
            jobs.push(Job::Mvtu("binary", input_of("binary"), simd, pe));
        }
    }
    for name in ["int2", "int4", "uint8"] {
        for simd in [4, 8, 16] {
            jobs.push(Job::Mvtu(name, input_of(name), simd, 1));
        }
    }
    let rows =
        common::run_all(&jobs, |&job| measure(job).unwrap_or_else(|e| panic!("{}: {e}", describe(job))));
    let mut f = std::fs::File::create(&out)?;
    writeln!(f, "kind,a,b,lut4_est,lut4,lut4_err_pct,carry_est,carry,dff_est,dff,ebr_est,ebr")?;
    for r in rows {
        writeln!(f, "{r}")?;
    }
    eprintln!("wrote {out}");
    Ok(())
}
