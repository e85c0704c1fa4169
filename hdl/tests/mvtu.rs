//! The MVTU in rust-hdl simulation against the golden model's per-layer function.

use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Activation, Layer, Model, Shape};
use hdl::harness::{self, Stalls};
use hdl::words;
use hdl::{LaneInput, MemStyle, Mvtu, MvtuConfig, MvtuOutput, Popcount};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::golden::{Golden, LayerOutput};

/// A layer, its input frames as MVTU words, and the golden output words.
struct Case {
    mvtu: Mvtu,
    inputs: Vec<Vec<u64>>,
    expected: Vec<Vec<u64>>,
}

fn pack(values: &[u64], bits: usize, per_word: usize) -> Vec<Vec<u64>> {
    values
        .chunks(per_word)
        .map(|c| {
            let mut w = vec![0u64; words::words(c.len() * bits)];
            for (i, &v) in c.iter().enumerate() {
                words::set(&mut w, i * bits, bits, v);
            }
            w
        })
        .collect()
}

/// Builds a case from the golden model: layer 1 of `[quantizer, dense(mh), (dense(2))]`.
fn case(cfg: &MvtuConfig, frames: usize, seed: u64) -> Case {
    let quant = match cfg.input {
        LaneInput::Binary => LayerSpec::QuantBinary(128),
        LaneInput::Fixed8 { signed } => LayerSpec::QuantFixed8(signed),
    };
    let mut specs = vec![quant, LayerSpec::Dense(cfg.mh)];
    if cfg.output == MvtuOutput::Threshold {
        specs.push(LayerSpec::Dense(2));
    }
    let mut model: Model = random_model("t", Shape::new(1, 1, cfg.mw), &specs, seed).expect("model");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 77);
    if let Layer::Dense(w) = &mut model.layers[1] {
        if let Activation::Threshold(t) = &mut w.activation {
            // The ends of the legal range: always 1, never 1.
            let (lo, hi) = cfg.acc_range();
            for t in t.iter_mut() {
                match rng.gen_range(0..8) {
                    0 => *t = lo as i32,
                    1 => *t = hi as i32 + 1,
                    _ => {}
                }
            }
        }
    }
    let golden = Golden::new(&model).expect("golden");
    let Layer::Dense(w) = &model.layers[1] else { unreachable!() };
    let thresholds = match &w.activation {
        Activation::Threshold(t) => Some(t.as_slice()),
        Activation::Scores => None,
    };
    let mvtu = Mvtu::new(cfg, &w.matrix, thresholds).expect("mvtu");
    let (mut inputs, mut expected) = (Vec::new(), Vec::new());
    for _ in 0..frames {
        let pixels: Vec<u8> = match cfg.input {
            LaneInput::Binary => (0..cfg.mw).map(|_| if rng.gen() { 255 } else { 0 }).collect(),
            LaneInput::Fixed8 { .. } => (0..cfg.mw).map(|_| rng.gen()).collect(),
        };
        let trace = golden.trace(&pixels).expect("trace");
        let elems: Vec<u64> = match &trace[0] {
            LayerOutput::Bits { bits, .. } => bits.iter().map(|&b| u64::from(b)).collect(),
            LayerOutput::Ints { values, .. } => values.iter().map(|&v| v as u8 as u64).collect(),
        };
        inputs.extend(pack(&elems, cfg.input.bits(), cfg.simd));
        let out: Vec<u64> = match &trace[1] {
            LayerOutput::Bits { bits, .. } => bits.iter().map(|&b| u64::from(b)).collect(),
            LayerOutput::Ints { values, .. } => {
                values.iter().map(|&v| v as i64 as u64 & words::mask(cfg.acc_bits())).collect()
            }
        };
        let bits = if cfg.output == MvtuOutput::Threshold { 1 } else { cfg.acc_bits() };
        expected.extend(pack(&out, bits, cfg.pe));
    }
    Case { mvtu, inputs, expected }
}

fn config(
    mw: usize,
    mh: usize,
    pe: usize,
    simd: usize,
    input: LaneInput,
    output: MvtuOutput,
    pc: Popcount,
) -> MvtuConfig {
    MvtuConfig { name: "l1".into(), mw, mh, pe, simd, input, output, popcount: pc, mem_style: MemStyle::Auto }
}

fn check(cfg: &MvtuConfig, frames: usize, stalls: Stalls) -> harness::StreamRun {
    let mut c = case(cfg, frames, stalls.seed);
    let n = c.expected.len();
    let run = harness::run(&mut c.mvtu, &c.inputs, n, stalls, 200 + 20 * (c.inputs.len() * cfg.nf()) as u64)
        .unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    assert_eq!(run.outputs, c.expected, "{cfg:?} {stalls:?}");
    run
}

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
            let input = LaneInput::Fixed8 { signed };
            check(&config(mw, mh, pe, simd, input, MvtuOutput::Threshold, Popcount::AdderTree), 3, stalls);
            check(&config(mw, mh, pe, simd, input, MvtuOutput::Scores, Popcount::AdderTree), 2, stalls);
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
