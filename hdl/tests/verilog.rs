//! The emitted Verilog of the MVTU: Verilator-lint clean, and under Icarus the same words on the
//! same cycles as the rust-hdl simulation (and the golden model).

mod common;

use common::{case, case_cuts, case_with, config, max_cycles, verilog_agrees};
use compiler::dataflow::{Cut, StageCuts};
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

/// How many lane/output kinds [`lanes`] draws from.
const LANES: usize = 6;

/// The `kind`-th lane input, output mode and popcount of the proptests: binary and 8-bit lanes,
/// thresholds, scores and multi-bit outputs.
fn lanes(kind: usize) -> (LaneInput, MvtuOutput, Popcount) {
    match kind {
        0 => (LaneInput::Binary, MvtuOutput::Threshold, Popcount::Compressor),
        1 => (LaneInput::Binary, MvtuOutput::Scores, Popcount::AdderTree),
        2 => (LaneInput::Int { bits: 8, signed: false }, MvtuOutput::Threshold, Popcount::AdderTree),
        3 => (
            LaneInput::Int { bits: 2, signed: true },
            MvtuOutput::Multi { ty: IntType { bits: 2, signed: true }, bias: 0, levels: 1 },
            Popcount::AdderTree,
        ),
        4 => (
            LaneInput::Binary,
            MvtuOutput::Multi { ty: IntType { bits: 3, signed: false }, bias: 0, levels: 1 },
            Popcount::Compressor,
        ),
        _ => (LaneInput::Int { bits: 8, signed: true }, MvtuOutput::Scores, Popcount::AdderTree),
    }
}

proptest::proptest! {
    // Each case lints and runs a design under Icarus (about a second).
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// The pipelined MVTU (0 to 3 registers on the lane sums; iCE40's legalized designs have 1):
    /// lint-clean, and the Verilog gives the golden model's words on the rust-hdl unit's cycles
    /// (the blocks' controller), for random foldings, lane inputs, output modes and stalls.
    #[test]
    fn pipelined_mvtu_verilog_matches_rust_hdl_cycle_for_cycle(
        mw in 1usize..24, mh in 1usize..10, pe_i in 0usize..8, simd_i in 0usize..8,
        kind in 0usize..LANES, stages in 0usize..=3, gap in 0.0f64..0.5, bp in 0.0f64..0.5, seed in 0u64..1000,
    ) {
        let (pes, simds) = (hdl::mvtu::divisors(mh), hdl::mvtu::divisors(mw));
        let (pe, simd) = (pes[pe_i % pes.len()], simds[simd_i % simds.len()]);
        let (input, output, pc) = lanes(kind);
        let cfg = config(mw, mh, pe, simd, input, output, pc);
        let stalls = Stalls { gap, backpressure: bp, seed };
        let mut c = case_with(&cfg, 3, seed, stages);
        let m = max_cycles(&c) + 8 * stages as u64;
        let bits = (c.cfg.in_bits(), c.cfg.out_bits());
        verilog_agrees(&mut c.mvtu, &c.rtl, bits, &c.inputs, &c.expected, stalls, m);
    }

    /// Pipeline registers at the cuts before the lane sums (the input word and weight address,
    /// each lane's term; any subset, with 0 to 2 more on the sums): the Verilog places them
    /// there, the rust-hdl unit's controller only delays its control by as many, and both give
    /// the golden model's words on the same cycles under random stalls. A register that missed
    /// the shared enable, or a cut counted but not built, shifts the words against the control.
    #[test]
    fn mvtu_with_registers_at_the_cuts_matches_rust_hdl_cycle_for_cycle(
        mw in 1usize..24, mh in 1usize..10, pe_i in 0usize..8, simd_i in 0usize..8,
        kind in 0usize..LANES, cut_set in 1usize..4, sum_stages in 0usize..=2,
        gap in 0.0f64..0.5, bp in 0.0f64..0.5, seed in 0u64..1000,
    ) {
        let (pes, simds) = (hdl::mvtu::divisors(mh), hdl::mvtu::divisors(mw));
        let (pe, simd) = (pes[pe_i % pes.len()], simds[simd_i % simds.len()]);
        let (input, output, pc) = lanes(kind);
        let cuts: Vec<Cut> = Cut::ALL.into_iter().enumerate().filter(|(i, _)| cut_set >> i & 1 == 1).map(|(_, c)| c).collect();
        let cuts = StageCuts::of(&cuts);
        let cfg = config(mw, mh, pe, simd, input, output, pc);
        let stalls = Stalls { gap, backpressure: bp, seed };
        let mut c = case_cuts(&cfg, 3, seed, sum_stages, cuts);
        let m = max_cycles(&c) + 8 * (sum_stages + cuts.len()) as u64;
        let bits = (c.cfg.in_bits(), c.cfg.out_bits());
        verilog_agrees(&mut c.mvtu, &c.rtl, bits, &c.inputs, &c.expected, stalls, m);
    }
}
