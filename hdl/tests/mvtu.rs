//! The MVTU in rust-hdl simulation against the golden model's per-layer function.

mod common;

use common::{check, config};
use compiler::model::IntType;
use hdl::harness::Stalls;
use hdl::{LaneInput, MvtuOutput, Popcount};
use proptest::prelude::*;

const B: LaneInput = LaneInput::Binary;

#[test]
fn foldings_match_golden() {
    let stalls = Stalls { gap: 0.3, backpressure: 0.3, seed: 5 };
    for (mw, mh, pe, simd) in
        [(12, 6, 1, 1), (12, 6, 6, 12), (12, 6, 2, 4), (70, 9, 3, 7), (30, 10, 5, 30), (130, 4, 4, 65)]
    {
        for pc in [Popcount::AdderTree, Popcount::Compressor] {
            check(&config(mw, mh, pe, simd, B, MvtuOutput::Threshold, pc), 3, stalls);
            check(&config(mw, mh, pe, simd, B, MvtuOutput::Scores, pc), 2, stalls);
        }
    }
}

#[test]
fn fixed8_first_layer_matches_golden() {
    let stalls = Stalls { gap: 0.2, backpressure: 0.4, seed: 9 };
    for signed in [false, true] {
        for (mw, mh, pe, simd) in [(6, 4, 1, 1), (6, 4, 2, 3), (15, 6, 6, 15)] {
            let input = LaneInput::Int { bits: 8, signed };
            check(&config(mw, mh, pe, simd, input, MvtuOutput::Threshold, Popcount::AdderTree), 3, stalls);
            check(&config(mw, mh, pe, simd, input, MvtuOutput::Scores, Popcount::AdderTree), 2, stalls);
        }
    }
}

/// k-bit inputs and multi-threshold outputs (random bias and levels, thresholds at the ends of
/// the range) in rust-hdl, against the golden model.
#[test]
fn kbit_layers_match_golden() {
    let stalls = Stalls { gap: 0.3, backpressure: 0.2, seed: 4 };
    for bits in 2..=4u8 {
        for signed in [false, true] {
            let ty = IntType { bits, signed };
            let multi = MvtuOutput::Multi { ty, bias: 0, levels: 1 };
            for (mw, mh, pe, simd, input) in [
                (12, 6, 3, 4, B),
                (10, 8, 2, 5, LaneInput::Int { bits, signed }),
                (6, 4, 4, 6, LaneInput::Int { bits: 8, signed }),
            ] {
                check(&config(mw, mh, pe, simd, input, multi, Popcount::Compressor), 3, stalls);
            }
            let input = LaneInput::Int { bits, signed };
            check(&config(8, 6, 2, 2, input, MvtuOutput::Threshold, Popcount::AdderTree), 3, stalls);
            check(&config(8, 6, 3, 4, input, MvtuOutput::Scores, Popcount::AdderTree), 2, stalls);
        }
    }
}

#[test]
fn steady_state_is_nf_times_sf_cycles() {
    for (mw, mh, pe, simd) in [(24, 8, 2, 4), (24, 8, 8, 24), (9, 3, 1, 1)] {
        let cfg = config(mw, mh, pe, simd, B, MvtuOutput::Threshold, Popcount::Compressor);
        let run = check(&cfg, 4, Stalls::default());
        let (sf, nf) = (cfg.sf() as u64, cfg.nf() as u64);
        let start = run.in_cycles[0];
        for (g, &t) in run.out_cycles.iter().enumerate() {
            // Output word g leaves LATENCY cycles after the last input word of its pass entered.
            assert_eq!(t, start + (g as u64 + 1) * sf - 1 + hdl::mvtu::LATENCY as u64, "{cfg:?} word {g}");
        }
        let per_frame = run.out_cycles[(2 * nf - 1) as usize] - run.out_cycles[(nf - 1) as usize];
        assert_eq!(per_frame, sf * nf);
    }
}

#[test]
fn illegal_folding_names_layer_and_legal_values() {
    let cfg = config(12, 6, 4, 5, B, MvtuOutput::Threshold, Popcount::Compressor);
    let e = cfg.validate().expect_err("PE 4 does not divide 6").to_string();
    assert!(e.contains("l1") && e.contains("legal PE: 1, 2, 3, 6"), "{e}");
    let cfg = config(12, 6, 3, 5, B, MvtuOutput::Threshold, Popcount::Compressor);
    let e = cfg.validate().expect_err("SIMD 5 does not divide 12").to_string();
    assert!(e.contains("legal SIMD: 1, 2, 3, 4, 6, 12"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_foldings_and_stalls(mw in 1usize..40, mh in 1usize..12, pe_i in 0usize..8, simd_i in 0usize..8,
                                  gap in 0.0f64..0.6, bp in 0.0f64..0.6, seed in any::<u64>(), compressor in any::<bool>()) {
        let pes = hdl::mvtu::divisors(mh);
        let simds = hdl::mvtu::divisors(mw);
        let pc = if compressor { Popcount::Compressor } else { Popcount::AdderTree };
        let cfg = config(mw, mh, pes[pe_i % pes.len()], simds[simd_i % simds.len()], B, MvtuOutput::Threshold, pc);
        check(&cfg, 3, Stalls { gap, backpressure: bp, seed });
    }
}
