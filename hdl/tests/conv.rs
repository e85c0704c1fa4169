//! The sliding-window unit and the max-pool unit: rust-hdl simulation with random stalls against
//! reference im2col / max pooling (OR over bits, the largest k-bit integer) computed here on
//! element tensors, their Verilog (lint-clean) matching rust-hdl cycle for cycle under Icarus,
//! both as stages of an accelerator, and Yosys.

mod common;

use common::{pack, verilog_agrees};
use compiler::dataflow::{Graph, Node};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::Shape;
use hdl::accel::Accelerator;
use hdl::harness::{self, Stalls};
use hdl::synth::{self, Target};
use hdl::testbench::{self, TbPorts, TbSpec};
use hdl::{HdlError, Pool, PoolConfig, Swu, SwuConfig};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[allow(clippy::too_many_arguments)]
fn swu_cfg(
    h: usize,
    w: usize,
    c: usize,
    simd: usize,
    k: usize,
    s: usize,
    p: usize,
    pad_bit: bool,
) -> SwuConfig {
    SwuConfig { name: "swu".into(), h, w, c, elem_bits: 1, simd, kernel: k, stride: s, pad: p, pad_bit }
}

fn pool_cfg(h: usize, w: usize, c: usize, simd: usize, k: usize) -> PoolConfig {
    PoolConfig { name: "pool".into(), h, w, c, simd, elem_bits: 1, signed: false, kernel: k }
}

/// A pool of `elem_bits`-bit integers.
fn kpool_cfg(
    h: usize,
    w: usize,
    c: usize,
    simd: usize,
    k: usize,
    elem_bits: usize,
    signed: bool,
) -> PoolConfig {
    PoolConfig { elem_bits, signed, ..pool_cfg(h, w, c, simd, k) }
}

/// `n` frames of `len` random elements of `bits` bits.
fn random_frames(n: usize, len: usize, bits: usize, seed: u64) -> Vec<Vec<u64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| (0..len).map(|_| rng.gen_range(0..1u64 << bits)).collect()).collect()
}

/// Reference im2col of one `(h, w, c)` frame: per output pixel, its window's elements in the order
/// kernel row, kernel column, channel, with the pad bit outside the frame.
fn im2col(c: &SwuConfig, frame: &[u64]) -> Vec<u64> {
    let (h, w, ch, k, s, p) = (c.h as i64, c.w as i64, c.c, c.kernel as i64, c.stride as i64, c.pad as i64);
    let oh = (h + 2 * p - k) / s + 1;
    let ow = (w + 2 * p - k) / s + 1;
    let mut out = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            for ky in 0..k {
                for kx in 0..k {
                    let (y, x) = (oy * s + ky - p, ox * s + kx - p);
                    for e in 0..ch {
                        out.push(if y < 0 || y >= h || x < 0 || x >= w {
                            u64::from(c.pad_bit)
                        } else {
                            frame[(y * w + x) as usize * ch + e]
                        });
                    }
                }
            }
        }
    }
    out
}

/// Reference max-pool of one `(h, w, c)` frame of raw elements: per output pixel, per channel,
/// the largest element of the `k x k` window (as two's complement when the pool is signed; over
/// bits the OR).
fn max_pool(c: &PoolConfig, frame: &[u64]) -> Vec<u64> {
    let k = c.kernel;
    let value = |raw: u64| if c.signed { hdl::words::sext(raw, c.elem_bits) } else { raw as i64 };
    let mut out = Vec::new();
    for oy in 0..c.h / k {
        for ox in 0..c.w / k {
            for e in 0..c.c {
                let mut v = frame[((oy * k) * c.w + ox * k) * c.c + e];
                for ky in 0..k {
                    for kx in 0..k {
                        let x = frame[((oy * k + ky) * c.w + ox * k + kx) * c.c + e];
                        if value(x) > value(v) {
                            v = x;
                        }
                    }
                }
                out.push(v);
            }
        }
    }
    out
}

/// Input and expected output words of `frames` random frames through an SWU.
fn swu_case(c: &SwuConfig, frames: usize, seed: u64) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    for f in random_frames(frames, c.h * c.w * c.c, c.elem_bits, seed) {
        ins.extend(pack(&f, c.elem_bits, c.simd));
        outs.extend(pack(&im2col(c, &f), c.elem_bits, c.simd));
    }
    assert_eq!((ins.len(), outs.len()), (frames * c.in_words(), frames * c.out_words()));
    (ins, outs)
}

/// Input and expected output words of `frames` random frames through a pool unit.
fn pool_case(c: &PoolConfig, frames: usize, seed: u64) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    for f in random_frames(frames, c.h * c.w * c.c, c.elem_bits, seed) {
        ins.extend(pack(&f, c.elem_bits, c.simd));
        outs.extend(pack(&max_pool(c, &f), c.elem_bits, c.simd));
    }
    assert_eq!((ins.len(), outs.len()), (frames * c.in_words(), frames * c.out_words()));
    (ins, outs)
}

fn max_cycles(ins: usize, outs: usize) -> u64 {
    200 + 8 * (ins + outs) as u64
}

const FRAMES: usize = 3;

fn check_swu(c: &SwuConfig, stalls: Stalls) -> harness::StreamRun {
    let (ins, outs) = swu_case(c, FRAMES, stalls.seed);
    let mut b = Swu::new(c).expect("swu");
    let run = harness::run(&mut b, &ins, outs.len(), stalls, max_cycles(ins.len(), outs.len()))
        .unwrap_or_else(|e| panic!("{c:?} {stalls:?}: {e}"));
    assert_eq!(run.outputs.len(), outs.len(), "{c:?}");
    assert_eq!(run.in_cycles.len(), ins.len(), "{c:?}");
    for (i, (got, want)) in run.outputs.iter().zip(&outs).enumerate() {
        assert_eq!(got, want, "{c:?} {stalls:?}: word {i} of {}", outs.len());
    }
    run
}

fn check_pool(c: &PoolConfig, stalls: Stalls) {
    let (ins, outs) = pool_case(c, FRAMES, stalls.seed);
    let mut b = Pool::new(c).expect("pool");
    let run = harness::run(&mut b, &ins, outs.len(), stalls, max_cycles(ins.len(), outs.len()))
        .unwrap_or_else(|e| panic!("{c:?} {stalls:?}: {e}"));
    assert_eq!(run.in_cycles.len(), ins.len(), "{c:?}");
    assert_eq!(run.outputs, outs, "{c:?} {stalls:?}");
}

/// The SWU shapes the simulation tests cover.
fn swu_shapes() -> Vec<SwuConfig> {
    let mut eight = swu_cfg(5, 5, 3, 3, 3, 1, 0, false);
    eight.elem_bits = 8; // CNV's first layer: 3 channels of 8 bits per word.
    let mut three = swu_cfg(6, 5, 4, 2, 2, 1, 0, false);
    three.elem_bits = 3; // a 3-bit activation, CF=2
    vec![
        three,
        swu_cfg(6, 6, 4, 4, 3, 1, 0, false),  // K=3 S=1 P=0, CF=1
        swu_cfg(7, 5, 8, 4, 3, 2, 1, true),   // K=3 S=2 P=1, pad bit 1, CF=2, H != W
        swu_cfg(6, 6, 8, 4, 2, 2, 0, false),  // K=2 S=2
        eight,                                // 8-bit elements
        swu_cfg(3, 4, 2, 1, 3, 1, 0, false),  // a frame smaller than the ring (R = H = 3), CF=2
        swu_cfg(3, 3, 4, 2, 3, 1, 1, true),   // R = H with padding
        swu_cfg(5, 8, 8, 2, 3, 1, 1, false),  // CF=4, pad bit 0
        swu_cfg(8, 8, 2, 2, 3, 2, 0, false),  // a trailing row and column outside every window
        swu_cfg(4, 6, 2, 2, 1, 2, 0, false),  // 1x1 windows with stride 2
        swu_cfg(10, 9, 2, 1, 5, 1, 2, true),  // K=5 P=2, R = H
        swu_cfg(12, 7, 4, 4, 2, 1, 1, false), // K=2 P=1, R = 4 < H
        swu_cfg(1, 3, 2, 2, 3, 1, 1, true),   // one row: R = 1
        swu_cfg(2, 2, 1, 1, 3, 1, 1, false),  // a window larger than the frame
    ]
}

#[test]
fn swu_matches_im2col_under_random_stalls() {
    for c in swu_shapes() {
        check_swu(&c, Stalls::default());
        for seed in [1, 2] {
            check_swu(&c, Stalls { gap: 0.3, backpressure: 0.3, seed });
        }
        check_swu(&c, Stalls { gap: 0.7, backpressure: 0.1, seed: 3 });
        check_swu(&c, Stalls { gap: 0.05, backpressure: 0.7, seed: 4 });
    }
}

/// Without stalls the output side runs at one word per cycle after the initial fill (the rows the
/// first output row needs), across frame boundaries too: the next frame's first rows load while
/// the last output row is read.
#[test]
fn swu_without_stalls_emits_a_word_per_cycle_across_frames() {
    for c in [swu_cfg(8, 8, 8, 4, 3, 1, 1, false), swu_cfg(9, 6, 4, 4, 3, 2, 0, false)] {
        let run = check_swu(&c, Stalls::default());
        let first = run.out_cycles[0];
        // The first output row's rows: K - P full rows, one cycle per word, plus the read register.
        let fill = ((c.kernel - c.pad) * c.w * c.cf() + 1) as u64;
        assert_eq!(first, fill, "{c:?}: first word");
        let span = run.out_cycles.last().copied().unwrap_or(0) - first + 1;
        let idle = span - run.outputs.len() as u64;
        // The next frame's first rows load while the last output row is read: no gap.
        assert_eq!(idle, 0, "{c:?}: {idle} idle output cycles");
        // Within a frame the output never waits.
        for f in 0..FRAMES {
            let o = &run.out_cycles[f * c.out_words()..(f + 1) * c.out_words()];
            assert_eq!(o[o.len() - 1] - o[0] + 1, o.len() as u64, "{c:?}: frame {f} is not back to back");
        }
    }
}

#[test]
fn pool_matches_max_pooling_under_random_stalls() {
    for c in [
        pool_cfg(4, 4, 4, 4, 2),             // K=2, even, CF=1
        pool_cfg(5, 7, 8, 4, 2),             // K=2, odd sizes, CF=2
        pool_cfg(6, 6, 6, 2, 3),             // K=3, CF=3
        pool_cfg(7, 5, 3, 3, 3),             // K=3, trailing rows and columns
        pool_cfg(3, 4, 2, 1, 1),             // K=1
        pool_cfg(3, 3, 64, 32, 2),           // wide words, one window per frame
        pool_cfg(2, 9, 6, 6, 2),             // one output row
        kpool_cfg(4, 4, 4, 4, 2, 2, true),   // int2, CF=1
        kpool_cfg(5, 7, 6, 3, 2, 3, false),  // uint3, odd sizes, CF=2
        kpool_cfg(6, 6, 4, 2, 3, 4, true),   // int4, K=3
        kpool_cfg(3, 3, 24, 24, 2, 3, true), // 72-bit words: elements across u64 words
        kpool_cfg(4, 5, 2, 1, 2, 8, false),  // uint8
    ] {
        check_pool(&c, Stalls::default());
        for seed in [1, 2] {
            check_pool(&c, Stalls { gap: 0.3, backpressure: 0.3, seed });
        }
        check_pool(&c, Stalls { gap: 0.05, backpressure: 0.7, seed: 4 });
    }
}

#[test]
fn pool_without_stalls_takes_a_word_per_cycle() {
    let c = pool_cfg(6, 6, 8, 4, 2);
    let (ins, outs) = pool_case(&c, FRAMES, 9);
    let mut b = Pool::new(&c).expect("pool");
    let run = harness::run(&mut b, &ins, outs.len(), Stalls::default(), 1000).expect("run");
    assert_eq!(run.outputs, outs);
    let n = ins.len() as u64;
    assert_eq!(run.in_cycles, (0..n).collect::<Vec<_>>());
    // The last window's last word enters on the last cycle; its result leaves on the next.
    assert_eq!(run.out_cycles.last().copied(), Some(n));
}

const VSTALLS: Stalls = Stalls { gap: 0.3, backpressure: 0.35, seed: 5 };

#[test]
fn swu_verilog_matches_rust_hdl_cycle_for_cycle() {
    let mut eight = swu_cfg(4, 5, 3, 3, 3, 1, 0, false);
    eight.elem_bits = 8;
    let mut two = swu_cfg(5, 4, 4, 2, 2, 1, 0, false);
    two.elem_bits = 2;
    for c in [
        two,
        swu_cfg(7, 5, 8, 4, 3, 2, 1, true),
        swu_cfg(6, 6, 4, 4, 3, 1, 0, false),
        swu_cfg(3, 4, 2, 1, 3, 1, 1, false),
        swu_cfg(6, 5, 8, 4, 2, 2, 0, false),
        swu_cfg(1, 3, 2, 2, 3, 1, 1, true),  // one row, R = 1
        swu_cfg(1, 1, 1, 1, 1, 1, 0, false), // a one-word ring
        eight,
    ] {
        let (ins, outs) = swu_case(&c, FRAMES, 7);
        let mut b = Swu::new(&c).expect("swu");
        let m = max_cycles(ins.len(), outs.len());
        let v = hdl::rtl::swu::design("dut", &c).expect("swu verilog");
        verilog_agrees(&mut b, &v, (c.bits(), c.bits()), &ins, &outs, VSTALLS, m);
    }
}

#[test]
fn pool_verilog_matches_rust_hdl_cycle_for_cycle() {
    for c in [
        pool_cfg(5, 7, 8, 4, 2),
        pool_cfg(7, 5, 3, 3, 3),
        pool_cfg(4, 4, 4, 4, 2),
        pool_cfg(3, 4, 2, 1, 1),
        pool_cfg(2, 3, 1, 1, 2),
        kpool_cfg(5, 5, 4, 2, 2, 2, true),
        kpool_cfg(4, 6, 3, 3, 2, 3, false),
        kpool_cfg(6, 6, 2, 2, 3, 4, true),
        kpool_cfg(3, 3, 24, 24, 2, 3, false),
    ] {
        let (ins, outs) = pool_case(&c, FRAMES, 8);
        let mut b = Pool::new(&c).expect("pool");
        let m = max_cycles(ins.len(), outs.len());
        let v = hdl::rtl::pool::design("dut", &c).expect("pool verilog");
        verilog_agrees(&mut b, &v, (c.bits(), c.bits()), &ins, &outs, VSTALLS, m);
    }
}

/// An accelerator of an SWU with 1x1 windows (the identity on the stream) and a pool unit: the
/// stages' wiring in rust-hdl and in the AXI4-Stream top's Verilog, under Icarus.
#[test]
fn accelerator_chains_swu_and_pool_stages() {
    let s = swu_cfg(6, 5, 4, 2, 1, 1, 0, false);
    let p = pool_cfg(6, 5, 4, 2, 2);
    let mut graph =
        Graph { name: "conv".into(), nodes: vec![Node::swu(s.clone()), Node::pool(p.clone())], arch: None };
    let specs = [LayerSpec::QuantBinary(128), LayerSpec::Dense(2)];
    let model = random_model("t", Shape::new(1, 1, 8), &specs, 1).expect("model");
    // A graph built by hand gets its hardware decisions as the compiler's would.
    compiler::passes::legalize::run(&mut graph, &model).expect("legalize");
    let mut acc = Accelerator::new(&graph, &model).expect("accelerator");
    assert!(acc.memories().is_empty());
    let (ins, outs) = pool_case(&p, FRAMES, 10);
    let m = max_cycles(ins.len(), outs.len());
    let run = harness::run(&mut acc, &ins, outs.len(), VSTALLS, m).expect("run");
    assert_eq!(run.outputs, outs);
    let dir = tempfile::tempdir().expect("tempdir");
    let v = hdl::rtl::accel::design(&graph, &model, "top").expect("verilog");
    assert!(v.files.is_empty());
    std::fs::write(dir.path().join("top.v"), v.verilog()).expect("write");
    testbench::lint(dir.path(), "top.v", "top").unwrap_or_else(|e| panic!("{e}"));
    let spec = TbSpec {
        dut: "top",
        ports: TbPorts::Axis,
        in_bits: p.bits(),
        out_bits: p.bits(),
        inputs: &ins,
        expected: &outs,
        stalls: VSTALLS,
        max_cycles: m as usize,
        tied_low: &[],
    };
    testbench::write(dir.path(), &spec).expect("testbench");
    let log = testbench::run_icarus(dir.path(), &["top.v"]).unwrap_or_else(|e| panic!("{e}"));
    let tb = testbench::parse_log(&log, p.bits());
    assert!(tb.pass, "{:?}\n{log}", tb.failure);
    let rust: Vec<(u64, Vec<u64>)> = run.out_cycles.iter().copied().zip(run.outputs).collect();
    assert_eq!(tb.outputs, rust, "Verilog and rust-hdl disagree");
}

#[test]
fn bad_configurations_are_errors() {
    let e = Swu::new(&swu_cfg(8, 8, 12, 5, 3, 1, 0, false)).err().expect("5 does not divide 12");
    assert!(matches!(e, HdlError::Dataflow(_)) && e.to_string().contains("swu"), "{e}");
    assert!(Swu::new(&swu_cfg(8, 8, 4, 4, 3, 1, 3, false)).is_err(), "padding as large as the kernel");
    assert!(Swu::new(&swu_cfg(2, 8, 4, 4, 3, 1, 0, false)).is_err(), "a window taller than the frame");
    let e = Pool::new(&pool_cfg(4, 4, 8, 3, 2)).err().expect("3 does not divide 8");
    assert!(Pool::new(&kpool_cfg(4, 4, 8, 8, 2, 9, false)).is_err(), "9-bit elements");
    assert!(Pool::new(&kpool_cfg(4, 4, 8, 8, 2, 1, true)).is_err(), "signed bits");
    assert!(matches!(e, HdlError::Dataflow(_)) && e.to_string().contains("pool"), "{e}");
    assert!(Pool::new(&pool_cfg(4, 1, 8, 8, 2)).is_err(), "a window wider than the frame");
}

fn synthesize(v: &str) -> synth::SynthStats {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("dut.v"), v).expect("write");
    synth::yosys(dir.path(), "dut.v", "dut", Target::Xc7, true).unwrap_or_else(|e| panic!("{e}")).total
}

/// Yosys 0.23 `synth_xilinx -flatten`:
/// - SWU 32x32, C=64, SIMD=32, K=3 (ring of 6 x 32 x 2 = 384 words of 32 bits, 12 Kb): one
///   RAMB18E1 (384 x 32 in 512 x 36) whose output register is `q`, 95 LUTs, 38 FFs (the counters
///   and flags; `padr` is constant without padding), 20 CARRY4.
/// - Pool 28x28, C=64, 32-bit words, K=2 (row buffer of 14 x 2 = 28 words): LUT RAM, 4 RAM32M
///   (read and write share the address, so all four ports' bits are data), 75 LUTs with the
///   RAM32Ms' 16, 50 FFs, no block RAM.
#[test]
fn swu_and_pool_synthesize_for_7_series() {
    let s = swu_cfg(32, 32, 64, 32, 3, 1, 0, false);
    assert!(s.ring_words() * s.bits() >= 1024);
    let st = synthesize(&hdl::rtl::swu::design("dut", &s).expect("verilog").verilog());
    eprintln!("SWU {st:?}");
    let lutram = st.cells.keys().any(|c| c.starts_with("RAM"));
    assert!(st.bram18 >= 1 || lutram, "the ring is a RAM: {st:?}");
    assert!(st.ff > 0 && st.ff < 200 && st.lut > 0, "{st:?}");
    let p = pool_cfg(28, 28, 64, 32, 2);
    let st = synthesize(&hdl::rtl::pool::design("dut", &p).expect("verilog").verilog());
    eprintln!("Pool {st:?}");
    assert!(st.ff >= 32 && st.lut > 0, "{st:?}");
    assert!(st.bram18 == 0 && st.cells.keys().any(|c| c.starts_with("RAM")), "row buffer in LUT RAM: {st:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    #[test]
    fn random_windows_and_pools_match_the_references(
        h in 1usize..9, w in 1usize..9, k in 1usize..5, s in 1usize..4, p in 0usize..3, cf in 1usize..4,
        simd in 1usize..4, pad_bit in any::<bool>(), gap in 0.0f64..0.6, bp in 0.0f64..0.6,
        seed in any::<u64>(), elem_bits in prop::sample::select(vec![1usize, 2, 3, 4]), signed in any::<bool>(),
    ) {
        let c = swu_cfg(h, w, cf * simd, simd, k, s, p.min(k - 1), pad_bit);
        prop_assume!(c.validate().is_ok());
        let stalls = Stalls { gap, backpressure: bp, seed };
        let (ins, outs) = swu_case(&c, FRAMES, seed);
        let mut b = Swu::new(&c).expect("swu");
        let run = harness::run(&mut b, &ins, outs.len(), stalls, max_cycles(ins.len(), outs.len()) * 2);
        prop_assert_eq!(run.map_err(|e| TestCaseError::fail(format!("{c:?}: {e}")))?.outputs, outs, "{:?}", c);
        let pc = kpool_cfg(h, w, cf * simd, simd, k, elem_bits, signed && elem_bits > 1);
        if pc.validate().is_ok() {
            let (ins, outs) = pool_case(&pc, FRAMES, seed);
            let mut b = Pool::new(&pc).expect("pool");
            let run = harness::run(&mut b, &ins, outs.len(), stalls, max_cycles(ins.len(), outs.len()) * 2);
            prop_assert_eq!(run.map_err(|e| TestCaseError::fail(format!("{pc:?}: {e}")))?.outputs, outs, "{:?}", pc);
        }
    }
}

/// A whole small CNN (8-bit input, padded and strided convolutions, max-pool, dense scores,
/// argmax; binary or k-bit activations) as rust-hdl blocks, simulated under random stalls: the class of every frame is the
/// golden model's.
#[test]
fn a_cnn_accelerator_in_rust_hdl_matches_the_golden_model() {
    use compiler::dataflow::fold::{self, Folding, LayerFold};
    use compiler::dataflow::{MemStyle, Popcount};
    use compiler::model::IntType;
    use compiler::model::Padding;
    let conv = |out, kernel, stride, padding, act: Option<IntType>| match act {
        Some(ty) => LayerSpec::Conv2dMulti { out, kernel, stride, padding, ty },
        None => LayerSpec::Conv2d { out, kernel, stride, padding },
    };
    // The third: k-bit activations (signed 3-bit, unsigned 2-bit) and a k-bit max-pool.
    let kbit = (Some(IntType { bits: 3, signed: true }), Some(IntType { bits: 2, signed: false }));
    for (fixed8, seed, (a1, a3)) in [(true, 3u64, (None, None)), (false, 4, (None, None)), (true, 5, kbit)] {
        let specs = [
            if fixed8 { LayerSpec::QuantFixed8(false) } else { LayerSpec::QuantBinary(100) },
            conv(8, 3, 1, if fixed8 { Padding::None } else { Padding::Bit { amount: 1, bit: true } }, a1),
            LayerSpec::MaxPool { kernel: 2, stride: 2 },
            conv(8, 2, 2, Padding::None, a3),
            LayerSpec::Dense(5),
        ];
        let model = random_model("cnn", Shape::new(8, 8, 2), &specs, seed).expect("model");
        let mut f = Folding::default();
        for (name, pe, simd) in [("L1", 4, 2), ("L3", 2, 4), ("L4", 5, 8)] {
            let lf = LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Auto };
            f.layers.insert(fold::layer_id(name).expect("layer name"), lf);
        }
        let g = fold::lower(&model, &f).expect("lower");
        let images = sim::stream::random_images(model.input.len(), 3, seed);
        let v = sim::stream::vectors(&model, &g, &images).expect("vectors");
        let (ins, outs) = (v.flat_inputs(), v.flat_expected());
        let mut acc = Accelerator::new(&g, &model).expect("accelerator");
        let stalls = Stalls { gap: 0.3, backpressure: 0.3, seed };
        let run = harness::run(&mut acc, &ins, outs.len(), stalls, 200_000).expect("run");
        assert_eq!(run.outputs, outs, "rust-hdl against the golden model\n{g}");
    }
}
