//! The emitted Verilog of the MVTU: Verilator-lint clean, and under Icarus the same words on the
//! same cycles as the rust-hdl simulation (and the golden model).

mod common;

use common::{case, config, max_cycles, verilog_agrees};
use compiler::model::IntType;
use hdl::harness::Stalls;
use hdl::{LaneInput, MvtuConfig, MvtuOutput, Popcount};

fn mvtu_agrees(cfg: &MvtuConfig, stalls: Stalls) {
    let mut c = case(cfg, 3, stalls.seed);
    let m = max_cycles(&c);
    let bits = (c.cfg.in_bits(), c.cfg.out_bits());
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
        let input = LaneInput::Int { bits: 8, signed };
        mvtu_agrees(&config(15, 6, 2, 5, input, MvtuOutput::Threshold, Popcount::AdderTree), stalls);
        mvtu_agrees(&config(15, 6, 3, 3, input, MvtuOutput::Scores, Popcount::AdderTree), stalls);
    }
}

/// k-bit lanes and the multi-threshold output stage (both threshold-ROM forms: NF <= 8 reads
/// through a registered address, NF = 12 into a registered word; k = 2 to 4 and 8), lint-clean
/// and cycle for cycle.
#[test]
fn kbit_mvtu_verilog_matches_rust_hdl_cycle_for_cycle() {
    let stalls = Stalls { gap: 0.3, backpressure: 0.3, seed: 13 };
    let int = |bits, signed| IntType { bits, signed };
    let multi = |ty| MvtuOutput::Multi { ty, bias: 0, levels: 1 };
    let b = LaneInput::Binary;
    for (mw, mh, pe, simd, input, output) in [
        (12, 6, 2, 4, b, multi(int(2, true))),
        (12, 12, 1, 3, LaneInput::Int { bits: 3, signed: false }, multi(int(4, false))),
        (10, 6, 3, 5, LaneInput::Int { bits: 2, signed: true }, MvtuOutput::Threshold),
        (8, 4, 2, 8, LaneInput::Int { bits: 4, signed: true }, multi(int(3, true))),
        (6, 4, 4, 2, LaneInput::Int { bits: 4, signed: false }, MvtuOutput::Scores),
        (9, 6, 2, 3, LaneInput::Int { bits: 8, signed: true }, multi(int(2, false))),
        // The widest activation: up to 255 comparators per PE, threshold words of kilobits.
        (6, 4, 2, 3, b, multi(int(8, true))),
    ] {
        mvtu_agrees(&config(mw, mh, pe, simd, input, output, Popcount::AdderTree), stalls);
    }
}
