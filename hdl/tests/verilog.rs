//! The emitted Verilog of the MVTU: Verilator-lint clean, and under Icarus the same words on the
//! same cycles as the rust-hdl simulation (and the golden model).

mod common;

use common::{case, config, max_cycles};
use hdl::harness::{self, Stalls};
use hdl::testbench::{self, TbSpec};
use hdl::{LaneInput, MvtuConfig, MvtuOutput, Popcount};

fn verilog_agrees(cfg: &MvtuConfig, stalls: Stalls) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = case(cfg, 3, stalls.seed);
    let m = max_cycles(&c, cfg);
    let v = hdl::emit::verilog(&mut c.mvtu, "dut").expect("verilog");
    std::fs::write(dir.path().join("dut.v"), &v).expect("write");
    hdl::emit::write_memories(dir.path(), c.mvtu.memories()).expect("memories");
    testbench::lint(dir.path(), "dut.v", "dut").unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    let run = harness::run(&mut c.mvtu, &c.inputs, c.expected.len(), stalls, m).expect("rust-hdl run");
    let spec = TbSpec {
        dut: "dut",
        in_bits: cfg.in_bits(),
        out_bits: cfg.out_bits(),
        inputs: &c.inputs,
        expected: &c.expected,
        stalls,
        max_cycles: m as usize,
    };
    testbench::write(dir.path(), &spec).expect("testbench");
    let log = testbench::run_icarus(dir.path(), &["dut.v"]).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    let tb = testbench::parse_log(&log, cfg.out_bits());
    assert!(tb.pass, "{cfg:?}: {:?}\n{log}", tb.failure);
    let rust: Vec<(u64, Vec<u64>)> = run.out_cycles.iter().copied().zip(run.outputs).collect();
    assert_eq!(tb.outputs, rust, "{cfg:?}: Verilog and rust-hdl disagree");
}

#[test]
fn mvtu_verilog_matches_rust_hdl_cycle_for_cycle() {
    let stalls = Stalls { gap: 0.3, backpressure: 0.3, seed: 11 };
    let b = LaneInput::Binary;
    for (mw, mh, pe, simd) in [(12, 6, 1, 1), (12, 6, 6, 12), (70, 9, 3, 7), (130, 4, 2, 65)] {
        for pc in [Popcount::AdderTree, Popcount::Compressor] {
            verilog_agrees(&config(mw, mh, pe, simd, b, MvtuOutput::Threshold, pc), stalls);
        }
        verilog_agrees(&config(mw, mh, pe, simd, b, MvtuOutput::Scores, Popcount::Compressor), stalls);
    }
    for signed in [false, true] {
        let input = LaneInput::Fixed8 { signed };
        verilog_agrees(&config(15, 6, 2, 5, input, MvtuOutput::Threshold, Popcount::AdderTree), stalls);
        verilog_agrees(&config(15, 6, 3, 3, input, MvtuOutput::Scores, Popcount::AdderTree), stalls);
    }
}
