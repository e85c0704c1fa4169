//! FIFO, width converter and argmax: rust-hdl simulation with random stalls against the expected
//! stream, and their Verilog (lint-clean) matching rust-hdl cycle for cycle under Icarus.

mod common;

use common::verilog_agrees;
use compiler::dataflow::Flags;
use hdl::harness::{self, Stalls};
use hdl::rtl::argmax::ArgmaxParams;
use hdl::stream::{Argmax, Fifo, WidthConverter};
use hdl::words;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_words(n: usize, bits: usize, seed: u64) -> Vec<Vec<u64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut w: Vec<u64> = (0..words::words(bits)).map(|_| rng.gen()).collect();
            if let Some(last) = w.last_mut() {
                *last &= words::mask(bits - (words::words(bits) - 1) * 64);
            }
            w
        })
        .collect()
}

/// The bit stream of `ws` (`bits` each) regrouped into words of `out` bits.
fn regroup(ws: &[Vec<u64>], bits: usize, out: usize) -> Vec<Vec<u64>> {
    let total = ws.len() * bits;
    let mut all = vec![0u64; words::words(total)];
    for (i, w) in ws.iter().enumerate() {
        for b in 0..bits {
            words::set(&mut all, i * bits + b, 1, u64::from(words::bit(w, b)));
        }
    }
    (0..total / out)
        .map(|k| {
            let mut w = vec![0u64; words::words(out)];
            for b in 0..out {
                words::set(&mut w, b, 1, u64::from(words::bit(&all, k * out + b)));
            }
            w
        })
        .collect()
}

/// Scores (`pe` fields of `bits` per word, `nw` words per vector) and the golden argmax.
fn scores(
    vectors: usize,
    pe: usize,
    nw: usize,
    bits: usize,
    signed: bool,
    seed: u64,
) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    for _ in 0..vectors {
        // Few distinct values, so that ties happen.
        let vals: Vec<i64> = (0..pe * nw)
            .map(|_| {
                let v: i64 = rng.gen_range(0..4);
                if signed {
                    v - 2
                } else {
                    v
                }
            })
            .collect();
        for c in vals.chunks(pe) {
            let mut w = vec![0u64; words::words(pe * bits)];
            for (p, &v) in c.iter().enumerate() {
                words::set(&mut w, p * bits, bits, v as u64 & words::mask(bits));
            }
            ins.push(w);
        }
        outs.push(vec![compiler::model::argmax(&vals) as u64]);
    }
    (ins, outs)
}

const STALLS: Stalls = Stalls { gap: 0.35, backpressure: 0.35, seed: 3 };

/// Both memory forms show the block's words on its cycles: in flip-flops or LUT RAM, and in block
/// RAM, whose registered read needs the bypass for the word written as it is read (every push
/// into an empty FIFO, and a push with a pop at one word held). With registered flags (iCE40's
/// form) too: the same block, the same cycles.
#[test]
fn fifo_verilog_matches() {
    for flags in [Flags::Combinational, Flags::Registered] {
        for ram in [hdl::MemStyle::Distributed, hdl::MemStyle::Block] {
            for (w, d) in [(1, 1), (8, 2), (70, 5), (3, 17)] {
                let ins = random_words(60, w, 1);
                let mut f = Fifo::new(w, d).expect("fifo");
                let v = hdl::rtl::fifo::design_flags("dut", w, d, ram, flags).expect("fifo verilog");
                verilog_agrees(&mut f, &v, (w, w), &ins, &ins, STALLS, 3000);
            }
        }
    }
}

/// Both forms of the flags show the block's words on its cycles.
#[test]
fn width_converter_verilog_matches() {
    for flags in [Flags::Combinational, Flags::Registered] {
        for (i, o) in [(1, 8), (8, 1), (12, 8), (8, 12), (64, 64), (70, 3)] {
            let n = 24 * o / gcd(i, o);
            let ins = random_words(n, i, 2);
            let outs = regroup(&ins, i, o);
            let mut c = WidthConverter::new(i, o).expect("dwc");
            let v = hdl::rtl::width_converter::design_flags("dut", i, o, flags).expect("dwc verilog");
            verilog_agrees(&mut c, &v, (i, o), &ins, &outs, STALLS, 20_000);
        }
    }
}

#[test]
fn argmax_verilog_matches() {
    // (2, 1, ..): a one-bit index whose dead increment by PE = 2 once printed as `1'b2`.
    for (pe, nw, bits, signed) in
        [(1, 10, 4, false), (10, 1, 4, true), (2, 5, 3, true), (3, 3, 5, false), (2, 1, 3, false)]
    {
        let (ins, outs) = scores(12, pe, nw, bits, signed, 4);
        let mut a = Argmax::new(pe, bits, nw, signed).expect("argmax");
        let ob = a.m_data.len();
        let params = ArgmaxParams { pe, bits, words: nw, signed };
        assert_eq!(params.out_bits(), ob);
        let v = hdl::rtl::argmax::design("dut", params).expect("argmax verilog");
        verilog_agrees(&mut a, &v, (pe * bits, ob), &ins, &outs, STALLS, 5000);
    }
}

#[test]
fn fifo_at_full_rate_passes_a_word_per_cycle() {
    let ins = random_words(50, 9, 5);
    let mut f = Fifo::new(9, 2).expect("fifo");
    let run = harness::run(&mut f, &ins, ins.len(), Stalls::default(), 1000).expect("run");
    assert_eq!(run.outputs, ins);
    assert_eq!(run.out_cycles.last().copied(), Some(ins.len() as u64), "one word per cycle after one cycle");
}

#[test]
fn bad_parameters_are_errors() {
    assert!(Fifo::new(0, 4).is_err());
    assert!(Fifo::new(4, 0).is_err());
    assert!(WidthConverter::new(0, 4).is_err());
    assert!(Argmax::new(0, 4, 1, false).is_err());
    assert!(hdl::rtl::fifo::design("dut", 0, 4, hdl::MemStyle::Distributed).is_err());
    assert!(hdl::rtl::width_converter::design("dut", 4, 0).is_err());
    let params = ArgmaxParams { pe: 1, bits: 64, words: 1, signed: false };
    assert!(hdl::rtl::argmax::design("dut", params).is_err());
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn streams_survive_random_stalls(i in 1usize..20, o in 1usize..20, depth in 1usize..6, gap in 0.0f64..0.7,
                                     bp in 0.0f64..0.7, seed in any::<u64>()) {
        let stalls = Stalls { gap, backpressure: bp, seed };
        let n = 6 * o / gcd(i, o);
        let ins = random_words(n, i, seed);
        let mut f = Fifo::new(i, depth).expect("fifo");
        prop_assert_eq!(&harness::run(&mut f, &ins, n, stalls, 100_000).expect("fifo").outputs, &ins);
        let mut c = WidthConverter::new(i, o).expect("dwc");
        let outs = regroup(&ins, i, o);
        prop_assert_eq!(harness::run(&mut c, &ins, outs.len(), stalls, 100_000).expect("dwc").outputs, outs);
        let (si, so) = scores(4, o % 4 + 1, i % 3 + 1, 4, seed % 2 == 0, seed);
        let mut a = Argmax::new(o % 4 + 1, 4, i % 3 + 1, seed % 2 == 0).expect("argmax");
        prop_assert_eq!(harness::run(&mut a, &si, so.len(), stalls, 100_000).expect("argmax").outputs, so);
    }
}
