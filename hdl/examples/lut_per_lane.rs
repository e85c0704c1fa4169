//! LUT, FF and BRAM per XNOR lane of one MVTU from Yosys `synth_xilinx` (7-series), for SIMD in
//! {8, 32, 64, 128}, PE in {1, 4, 16} and both popcount structures, written as CSV.
//!
//! `cargo run --release -p xnorflow-hdl --example lut_per_lane [-- OUT.csv]` (default
//! `results/hdl_lanes.csv`). Each unit has NF = SF = 8 (MH = 8*PE, MW = 8*SIMD): weights in block RAM,
//! thresholds in LUTs, an 8-word input buffer. Synthesis keeps the hierarchy: `lut` counts every
//! LUT of the unit (controller, input buffer and LUT RAM included); `datapath_lut` the per-PE
//! datapath only: XNOR lanes with popcount, accumulator and threshold memory.

use compiler::model::BitMatrix;
use hdl::synth::{self, Target};
use hdl::{LaneInput, MemStyle, MvtuConfig, MvtuOutput, Popcount};
use std::io::Write;
#[path = "common/mod.rs"]
mod common;

const FOLD: usize = 8;

fn measure(simd: usize, pe: usize, popcount: Popcount) -> Result<String, Box<dyn std::error::Error>> {
    let cfg = MvtuConfig {
        name: "l0".into(),
        mw: FOLD * simd,
        mh: FOLD * pe,
        pe,
        simd,
        input: LaneInput::Binary,
        output: MvtuOutput::Threshold,
        popcount,
        mem_style: MemStyle::Block,
    };
    // A fixed pseudo-random matrix: synthesis must not see structure it could exploit.
    let mut s = 0x2545_f491_4f6c_dd1du64 ^ (simd * 131 + pe) as u64;
    let w = BitMatrix::from_fn(cfg.mh, cfg.mw, |_, _| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s & 1 == 1
    });
    // Thresholds spread over the middle half of the accumulator's range, as trained layers have
    // them: the threshold memories hold no constant bits that synthesis could drop.
    let t: Vec<i32> = (0..cfg.mh)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (cfg.mw / 4 + (s as usize) % (cfg.mw / 2 + 1)) as i32
        })
        .collect();
    let m = hdl::rtl::mvtu::design("mvtu", &cfg, &w, Some(&t))?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("mvtu.v"), m.verilog())?;
    m.write_memories(dir.path())?;
    let t0 = std::time::Instant::now();
    let rep = synth::yosys(dir.path(), "mvtu.v", "mvtu", Target::Xc7, false)?;
    let st = &rep.total;
    // The per-PE datapath: XNOR lanes and popcount, accumulator, threshold memory.
    // Everything but the controller (with its input buffer) and the weight memories, counted
    // per instance: identical lanes are one module instantiated PE times.
    let own = rep.modules.get("mvtu").map_or(0, |m| m.lut);
    let dp = st.lut - own - rep.sum_modules("_ctl_").lut - rep.sum_modules("_wmem").lut;
    let lanes = (simd * pe) as f64;
    let name = match popcount {
        Popcount::AdderTree => "adder-tree",
        Popcount::Compressor => "compressor",
    };
    eprintln!(
        "simd {simd:3} pe {pe:2} {name:10}: {} LUT ({:.2}/lane, datapath {:.2}/lane) in {:.1} s",
        st.lut,
        st.lut as f64 / lanes,
        dp as f64 / lanes,
        t0.elapsed().as_secs_f64()
    );
    Ok(format!(
        "{simd},{pe},{name},{},{},{},{},{},{},{:.3},{:.3},{:.3},{:.4}",
        cfg.mw,
        cfg.mh,
        st.lut,
        dp,
        st.ff,
        st.bram18,
        st.lut as f64 / lanes,
        dp as f64 / lanes,
        st.ff as f64 / lanes,
        st.bram18 as f64 / lanes
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "results/hdl_lanes.csv".into());
    let mut jobs = Vec::new();
    for simd in [8, 32, 64, 128] {
        for pe in [1, 4, 16] {
            for pc in [Popcount::AdderTree, Popcount::Compressor] {
                jobs.push((simd, pe, pc));
            }
        }
    }
    let rows = common::run_all(&jobs, |&(simd, pe, pc)| {
        measure(simd, pe, pc).unwrap_or_else(|e| panic!("simd {simd} pe {pe}: {e}"))
    });
    let mut f = std::fs::File::create(&out)?;
    writeln!(f, "simd,pe,popcount,mw,mh,lut,datapath_lut,ff,bram18,lut_per_lane,datapath_lut_per_lane,ff_per_lane,bram18_per_lane")?;
    for r in rows {
        writeln!(f, "{r}")?;
    }
    eprintln!("wrote {out}");
    Ok(())
}
