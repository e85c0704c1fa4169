//! The cost model's estimate of one MVTU against Yosys `synth_xilinx` (7-series), for lane inputs
//! of 1, 2, 4 and 8 bits, binary or k-bit (multi-threshold) outputs, SIMD in {8, 16, 32, 64} and
//! PE in {1, 4}, written as CSV.
//!
//! `cargo run --release -p xnorflow-hdl --example mvtu_estimate [-- OUT.csv]` (default
//! `results/mvtu_estimate_vs_synth.csv`). Each unit has NF = 8 (MH = 8 * PE) and SF = 4
//! (MW = 4 * SIMD), thresholds spread over the middle of the accumulator's range as trained layers
//! have them, and the memory style the legalizer picks for `auto`. The estimate is
//! `cost::mvtu_with` with the thresholds, exactly what `xnorflow compile` and `report` print for
//! such a node.

use compiler::dataflow::{cost, LaneInput, MemStyle, MvtuConfig, MvtuOutput, Popcount};
use compiler::model::IntType;
use compiler::passes::legalize;
use hdl::synth::{self, Target};
use std::io::Write;

const NF: usize = 8;
const SF: usize = 4;

#[path = "common/mod.rs"]
mod common;
use common::Rng;

/// The lane input kinds measured, by name.
fn inputs() -> Vec<(&'static str, LaneInput)> {
    let int = |bits, signed| LaneInput::Int { bits, signed };
    vec![
        ("binary", LaneInput::Binary),
        ("int2", int(2, true)),
        ("int4", int(4, true)),
        ("uint4", int(4, false)),
        ("int8", int(8, true)),
    ]
}

/// The output kinds measured, by name: one bit, BNN-PYNQ's W1A2 {-1, 0, +1}, a full int4.
fn outputs() -> Vec<(&'static str, MvtuOutput)> {
    let multi = |bits, bias, levels| MvtuOutput::Multi { ty: IntType { bits, signed: true }, bias, levels };
    vec![("bit", MvtuOutput::Threshold), ("int2", multi(2, -1, 2)), ("int4", multi(4, -8, 15))]
}

fn measure(
    (kind, input): (&str, LaneInput),
    (out_kind, output): (&str, MvtuOutput),
    simd: usize,
    pe: usize,
) -> Result<String, Box<dyn std::error::Error>> {
    let cfg = MvtuConfig {
        name: "l0".into(),
        mw: SF * simd,
        mh: NF * pe,
        pe,
        simd,
        input,
        output,
        popcount: Popcount::Compressor,
        mem_style: MemStyle::Auto,
    };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (simd * 131 + pe) as u64 ^ input.bits() as u64);
    let (w, t) = common::random_layer(&cfg, &mut rng);
    let hw = legalize::mvtu(&cfg);
    let est = cost::mvtu_with(&cfg, &hw, Some(&t));
    let m = hdl::rtl::mvtu::design("mvtu", &cfg, &w, Some(&t))?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("mvtu.v"), m.verilog())?;
    m.write_memories(dir.path())?;
    let rep = synth::yosys(dir.path(), "mvtu.v", "mvtu", Target::Xc7, false)?;
    let st = &rep.total;
    let err = 100.0 * (est.lut as f64 - st.lut as f64) / st.lut.max(1) as f64;
    // One instance of the lanes (a module of its own, counted once by Yosys), against the model.
    let lanes = rep.sum_modules("_lanes_").lut;
    let lanes_est = cost::lanes_luts(simd, input, cfg.popcount);
    eprintln!(
        "{kind:6} -> {out_kind:4} simd {simd:2} pe {pe}: estimate {} LUT, Yosys {} ({err:+.1}%); lanes {lanes_est} vs {lanes}",
        est.lut, st.lut
    );
    Ok(format!(
        "{kind},{out_kind},{simd},{pe},{},{},{},{},{err:+.1},{},{},{},{},{lanes_est},{lanes}",
        cfg.mw, cfg.mh, est.lut, st.lut, est.ff, st.ff, est.bram18, st.bram18
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "results/mvtu_estimate_vs_synth.csv".into());
    let mut jobs = Vec::new();
    for input in inputs() {
        for output in outputs() {
            for simd in [8, 16, 32, 64] {
                for pe in [1, 4] {
                    jobs.push((input, output, simd, pe));
                }
            }
        }
    }
    let rows = common::run_all(&jobs, |&(input, output, simd, pe)| {
        measure(input, output, simd, pe)
            .unwrap_or_else(|e| panic!("{} -> {} simd {simd} pe {pe}: {e}", input.0, output.0))
    });
    let mut f = std::fs::File::create(&out)?;
    writeln!(
        f,
        "input,output,simd,pe,mw,mh,lut_est,lut,lut_err_pct,ff_est,ff,bram18_est,bram18,lanes_lut_est,lanes_lut"
    )?;
    for r in rows {
        writeln!(f, "{r}")?;
    }
    eprintln!("wrote {out}");
    Ok(())
}
