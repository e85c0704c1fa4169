//! Shared test helpers: MVTU cases built from the golden model.
#![allow(dead_code)]

use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Activation, IntType, Layer, Model, Shape};
use hdl::harness::{self, Stalls};
use hdl::words;
use hdl::{LaneInput, MemStyle, Mvtu, MvtuConfig, MvtuOutput, Popcount};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::golden::{Golden, LayerOutput};

/// A layer, its input frames as MVTU words, and the golden output words.
pub struct Case {
    /// The unit's configuration (in multi mode with the model layer's bias and levels).
    pub cfg: MvtuConfig,
    pub mvtu: Mvtu,
    /// The same unit's Verilog, module `dut`.
    pub rtl: hdl::rtl::Design,
    pub inputs: Vec<Vec<u64>>,
    pub expected: Vec<Vec<u64>>,
}

pub fn pack(values: &[u64], bits: usize, per_word: usize) -> Vec<Vec<u64>> {
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

/// The elements of a golden layer output as stream fields of `bits` bits.
fn fields(out: &LayerOutput, bits: usize) -> Vec<u64> {
    match out {
        LayerOutput::Bits { bits, .. } => bits.iter().map(|&b| u64::from(b)).collect(),
        LayerOutput::Ints { values, .. } => {
            values.iter().map(|&v| v as i64 as u64 & words::mask(bits)).collect()
        }
    }
}

/// Builds a case from the golden model: the layer of `cfg` in `[quantizer, (k-bit producer),
/// dense(mh), (dense(2))]`. A k-bit input (k < 8) comes from a multi-threshold dense layer of
/// `mw` outputs on a signed 8-bit input; a multi-threshold output takes `random_multi`'s bias and
/// levels for `cfg`'s output type, which the returned configuration carries.
pub fn case(cfg: &MvtuConfig, frames: usize, seed: u64) -> Case {
    case_with(cfg, frames, seed, 0)
}

/// [`case`] with `stages` pipeline stages after the lanes, in the rust-hdl unit and the Verilog.
pub fn case_with(cfg: &MvtuConfig, frames: usize, seed: u64, stages: usize) -> Case {
    case_cuts(cfg, frames, seed, stages, compiler::dataflow::StageCuts::NONE)
}

/// [`case`] with a pipeline register at each of `cuts` and `sum_stages` on the lane sums: the
/// rust-hdl unit's controller delays by all of them, the Verilog places them as `cuts` say.
pub fn case_cuts(
    cfg: &MvtuConfig,
    frames: usize,
    seed: u64,
    sum_stages: usize,
    cuts: compiler::dataflow::StageCuts,
) -> Case {
    let stages = sum_stages + cuts.len();
    let mut specs = match cfg.input {
        LaneInput::Binary => vec![LayerSpec::QuantBinary(128)],
        LaneInput::Int { bits: 8, signed } => vec![LayerSpec::QuantFixed8(signed)],
        LaneInput::Int { bits, signed } => vec![
            LayerSpec::QuantFixed8(true),
            LayerSpec::DenseMulti { out: cfg.mw, ty: IntType { bits, signed } },
        ],
    };
    let at = specs.len();
    specs.push(match cfg.output {
        MvtuOutput::Multi { ty, .. } => LayerSpec::DenseMulti { out: cfg.mh, ty },
        _ => LayerSpec::Dense(cfg.mh),
    });
    if cfg.output != MvtuOutput::Scores {
        specs.push(LayerSpec::Dense(2));
    }
    let input = if at == 1 { Shape::new(1, 1, cfg.mw) } else { Shape::new(1, 1, 5) };
    let mut model: Model = random_model("t", input, &specs, seed).expect("model");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 77);
    let cfg = {
        let Layer::Dense(w) = &model.layers[at] else { unreachable!() };
        MvtuConfig { output: MvtuOutput::of(&w.activation), ..cfg.clone() }
    };
    let types = model.infer().expect("types");
    if let Layer::Dense(w) = &mut model.layers[at] {
        // The ends of the model's legal range: always met, never met.
        let (lo, hi) = compiler::model::accumulator_range(types[at - 1].elem, cfg.mw);
        let mut edge = |t: &mut i32| match rng.gen_range(0..8) {
            0 => *t = lo as i32,
            1 => *t = hi as i32 + 1,
            _ => {}
        };
        match &mut w.activation {
            Activation::Threshold(t) => t.iter_mut().for_each(&mut edge),
            Activation::Multi(m) => {
                let levels = m.levels;
                for row in m.thresholds.chunks_mut(levels) {
                    row.iter_mut().for_each(&mut edge);
                    row.sort_unstable();
                }
            }
            Activation::Scores => {}
        }
    }
    model.verify().expect("edited thresholds stay legal");
    let golden = Golden::new(&model).expect("golden");
    let Layer::Dense(w) = &model.layers[at] else { unreachable!() };
    let thresholds = compiler::dataflow::activation_thresholds(&w.activation);
    let mvtu = Mvtu::new(&cfg, &w.matrix, thresholds).expect("mvtu").pipelined(stages);
    let base = compiler::passes::legalize::mvtu(&cfg);
    let hw = compiler::dataflow::MvtuHw { latency: base.latency + stages, cuts, ..base };
    let rtl = hdl::rtl::mvtu::design_hw("dut", &cfg, &hw, &w.matrix, thresholds).expect("mvtu verilog");
    let (mut inputs, mut expected) = (Vec::new(), Vec::new());
    for _ in 0..frames {
        let pixels: Vec<u8> = match cfg.input {
            LaneInput::Binary => (0..cfg.mw).map(|_| if rng.gen() { 255 } else { 0 }).collect(),
            LaneInput::Int { .. } => (0..input.len()).map(|_| rng.gen()).collect(),
        };
        let trace = golden.trace(&pixels).expect("trace");
        inputs.extend(pack(&fields(&trace[at - 1], cfg.input.bits()), cfg.input.bits(), cfg.simd));
        expected.extend(pack(&fields(&trace[at], cfg.field_bits()), cfg.field_bits(), cfg.pe));
    }
    Case { cfg, mvtu, rtl, inputs, expected }
}

pub fn config(
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

pub fn max_cycles(c: &Case) -> u64 {
    200 + 20 * (c.inputs.len() * c.cfg.nf()) as u64
}

pub fn check(cfg: &MvtuConfig, frames: usize, stalls: Stalls) -> harness::StreamRun {
    let mut c = case(cfg, frames, stalls.seed);
    let n = c.expected.len();
    let m = max_cycles(&c);
    let cfg = &c.cfg;
    let run = harness::run(&mut c.mvtu, &c.inputs, n, stalls, m).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    assert_eq!(run.outputs, c.expected, "{cfg:?} {stalls:?}");
    run
}

/// Writes `rtl` (the Verilog of `block`, top module `dut`) and its memory files, lints it with
/// Verilator, runs a self-checking Icarus testbench with the same stall pattern as a rust-hdl run
/// of `block`, and requires the same words on the same cycles, equal to `expected`.
pub fn verilog_agrees<B: harness::StreamBlock>(
    block: &mut B,
    rtl: &hdl::rtl::Design,
    (in_bits, out_bits): (usize, usize),
    inputs: &[Vec<u64>],
    expected: &[Vec<u64>],
    stalls: Stalls,
    max_cycles: u64,
) {
    use hdl::testbench::{self, TbSpec};
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(rtl.top, "dut");
    std::fs::write(dir.path().join("dut.v"), rtl.verilog()).expect("write");
    rtl.write_memories(dir.path()).expect("memory files");
    testbench::lint(dir.path(), "dut.v", "dut").unwrap_or_else(|e| panic!("{e}"));
    let run = harness::run(block, inputs, expected.len(), stalls, max_cycles).expect("rust-hdl run");
    assert_eq!(run.outputs, expected, "rust-hdl run against expected");
    let spec = TbSpec {
        dut: "dut",
        ports: testbench::TbPorts::Block,
        in_bits,
        out_bits,
        inputs,
        expected,
        stalls,
        max_cycles: max_cycles as usize,
        tied_low: &[],
    };
    testbench::write(dir.path(), &spec).expect("testbench");
    let log = testbench::run_icarus(dir.path(), &["dut.v"]).unwrap_or_else(|e| panic!("{e}"));
    let tb = testbench::parse_log(&log, out_bits);
    assert!(tb.pass, "{:?}\n{log}", tb.failure);
    let rust: Vec<(u64, Vec<u64>)> = run.out_cycles.iter().copied().zip(run.outputs).collect();
    assert_eq!(tb.outputs, rust, "Verilog and rust-hdl disagree");
}
