//! The emitted Verilog of the MVTU: Verilator-lint clean, and under Icarus the same words on the
//! same cycles as the rust-hdl simulation (and the golden model).

mod common;

use common::{case, config, max_cycles, verilog_agrees};
use hdl::harness::Stalls;
use hdl::{LaneInput, MvtuConfig, MvtuOutput, Popcount};

fn mvtu_agrees(cfg: &MvtuConfig, stalls: Stalls) {
    let mut c = case(cfg, 3, stalls.seed);
    let m = max_cycles(&c, cfg);
    let bits = (cfg.in_bits(), cfg.out_bits());
    verilog_agrees(&mut c.mvtu, &c.rtl, bits, &c.inputs, &c.expected, stalls, m);
}

#[test]
fn mvtu_verilog_matches_rust_hdl_cycle_for_cycle() {
    let stalls = Stalls { gap: 0.3, backpressure: 0.3, seed: 11 };
    let b = LaneInput::Binary;
    for (mw, mh, pe, simd) in [(12, 6, 1, 1), (12, 6, 6, 12), (70, 9, 3, 7), (130, 4, 2, 65)] {
        for pc in [Popcount::AdderTree, Popcount::Compressor] {
            mvtu_agrees(&config(mw, mh, pe, simd, b, MvtuOutput::Threshold, pc), stalls);
        }
        mvtu_agrees(&config(mw, mh, pe, simd, b, MvtuOutput::Scores, Popcount::Compressor), stalls);
    }
    for signed in [false, true] {
        let input = LaneInput::Fixed8 { signed };
        mvtu_agrees(&config(15, 6, 2, 5, input, MvtuOutput::Threshold, Popcount::AdderTree), stalls);
        mvtu_agrees(&config(15, 6, 3, 3, input, MvtuOutput::Scores, Popcount::AdderTree), stalls);
    }
}
