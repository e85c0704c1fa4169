//! Co-simulation: the golden model, the cycle model and the Verilog under Verilator agree on every
//! output bit, and the cycle model and Verilator on the cycle of every output word, for random
//! networks (binary and k-bit activations), foldings and stall patterns, including a reset in the
//! middle of a frame.

mod common;

use common::{folding, mlp};
use compiler::dataflow::target::{Arch, Ice40Part};
use compiler::dataflow::traffic::Stalls;
use compiler::dataflow::{Flags, MemStyle, NodeKind, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{IntType, Model, OutputMode, Padding, Shape};
use proptest::prelude::*;
use reports::build::{self, BuildOptions};
use reports::cosim::{self, BuildDir, CosimOptions};
use sim::cycle::CycleModel;
use sim::drive::{self, Drive};
use sim::verilator::{self, Design};

fn compile(model: &Model, f: &[(usize, usize)], popcount: Popcount) -> (tempfile::TempDir, BuildDir) {
    compile_for(model, f, popcount, None)
}

fn compile_for(
    model: &Model,
    f: &[(usize, usize)],
    popcount: Popcount,
    arch: Option<Arch>,
) -> (tempfile::TempDir, BuildDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fo = folding(model, f, popcount);
    build::compile(
        model,
        &fo,
        dir.path(),
        &BuildOptions { frames: 1, arch, ..BuildOptions::default() },
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let b = BuildDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (dir, b)
}

#[test]
fn three_executors_agree_under_stalls() {
    let m = mlp(64, &[32, 24], 10, false, 3);
    let (_d, b) = compile(&m, &[(4, 16), (8, 8), (2, 12)], Popcount::Compressor);
    let o = CosimOptions { frames: 5, seed: 7, stall_prob: 0.3, vcd: None, images: vec![] };
    let r = cosim::cosim(&b, &o, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.verilator_skipped, None);
    assert!(r.agrees(), "{:?}", r.first_mismatch);
    assert_eq!((r.verilator_vs_golden, r.verilator_vs_cycle_timing), (Some(true), Some(true)));
    assert_eq!(r.words, 5);
}

#[test]
fn a_corrupted_memory_file_is_reported_with_frame_and_cycle() {
    let m = mlp(32, &[16], 4, false, 5);
    let (_d, b) = compile(&m, &[(1, 32), (4, 16)], Popcount::AdderTree);
    // Invert every weight word of the first layer's memory: the Verilog now computes another network.
    let path = b.dir.join("L1_w0.mem");
    let text = std::fs::read_to_string(&path).expect("mem");
    let flipped: String =
        text.lines().map(|l| format!("{:08x}\n", !u32::from_str_radix(l, 16).expect("hex"))).collect();
    std::fs::write(&path, flipped).expect("write");
    let o = CosimOptions { frames: 4, seed: 1, stall_prob: 0.0, vcd: None, images: vec![] };
    let r = cosim::cosim(&b, &o, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.cycle_vs_golden);
    let mm = r.first_mismatch.expect("a mismatch");
    assert_eq!(mm.between, "Verilator vs cycle model");
    assert!(mm.cycle.is_some() && mm.frame < 4, "{mm:?}");
}

#[test]
fn sim_reports_the_predicted_throughput_and_fifo_fill() {
    let m = mlp(64, &[32, 32], 10, true, 9);
    let (_d, b) = compile(&m, &[(8, 16), (4, 16), (2, 8)], Popcount::Compressor);
    let r = cosim::simulate(&b, 8, 3).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.golden_agrees);
    assert_eq!(r.steady_cycles_per_frame, Some(r.predicted_cycles_per_frame));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.dir.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["latency_cycles"].as_u64(), Some(r.latency_cycles));
    assert!(r.latency_cycles > r.predicted_cycles_per_frame);
    for (name, depth, hw) in &r.fifo_high_water {
        assert!(hw <= depth && *hw >= 1, "{name}: {hw} of {depth}");
    }
}

/// Frames shared out to independent runs on threads (`sim --jobs`) come back as one run's: the
/// same frames (random ones drawn as one run draws them), each frame's class and scores in
/// order, the steady state and the first frame's latency; the cycles are every run's, each with
/// its own pipeline fill.
#[test]
fn frames_shared_out_to_threads_give_one_runs_results() {
    let mut m = mlp(64, &[32, 32], 10, true, 9);
    m.output = OutputMode::Scores;
    let (_d, b) = compile(&m, &[(8, 16), (4, 16), (2, 8)], Popcount::Compressor);
    let run = |jobs| {
        let frames = cosim::SimFrames::Random { frames: 11, seed: 5 };
        cosim::simulate_with(&b, frames, true, jobs, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
    };
    let (one, p1) = run(1);
    assert_eq!(one.jobs, 1);
    assert!(one.golden_agrees, "one run");
    for jobs in [2, 3] {
        let (r, p) = run(jobs);
        assert_eq!(r.jobs, jobs);
        assert!(r.golden_agrees, "{jobs} jobs");
        assert_eq!(p, p1, "{jobs} jobs: every frame's class and scores, in order");
        assert_eq!(r.frames, 11);
        assert_eq!(r.steady_cycles_per_frame, one.steady_cycles_per_frame);
        assert_eq!(r.latency_cycles, one.latency_cycles);
        let fill = one.cycles - 11 * one.steady_cycles_per_frame.expect("steady");
        assert!(
            r.cycles > one.cycles && r.cycles <= one.cycles + (jobs as u64 - 1) * fill,
            "{jobs} jobs: {r:?}"
        );
    }
    // More jobs than pairs of frames: two frames a run at least.
    assert_eq!(run(64).0.jobs, 5);
}

/// A random MLP and a legal random folding.
fn design() -> impl Strategy<Value = (Model, Vec<(usize, usize)>, Popcount)> {
    (1usize..=3, any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(hidden, seed, fixed8, tree)| {
        let mut r = seed;
        let mut pick = |xs: &[usize]| {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            xs[(r >> 33) as usize % xs.len()]
        };
        let input = pick(&[12, 16, 30, 48, 64]);
        let widths: Vec<usize> = (0..hidden).map(|_| pick(&[6, 8, 12, 16, 20, 32])).collect();
        let classes = pick(&[2, 3, 4, 10]);
        let m = mlp(input, &widths, classes, fixed8, seed);
        let mut dims = vec![input];
        dims.extend(&widths);
        dims.push(classes);
        let f = dims
            .windows(2)
            .map(|w| (pick(&compiler::dataflow::divisors(w[1])), pick(&compiler::dataflow::divisors(w[0]))))
            .collect();
        (m, f, if tree { Popcount::AdderTree } else { Popcount::Compressor })
    })
}

/// A random small CNN (convolution with any stride and padding, optional max-pool, a second
/// convolution, dense scores) and a legal random folding.
fn cnn_design() -> impl Strategy<Value = (Model, Vec<(usize, usize)>, Popcount)> {
    (any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(seed, fixed8, tree)| {
        let mut r = seed;
        let mut pick = |n: usize| {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (r >> 33) as usize % n
        };
        let side = [7, 8, 9][pick(3)];
        let c0 = [1, 2, 3][pick(3)];
        let (k, stride) = ([2, 3][pick(2)], [1, 2][pick(2)]);
        let padding = match pick(3) {
            _ if fixed8 || k == 2 => Padding::None,
            0 => Padding::None,
            b => Padding::Bit { amount: 1, bit: b == 2 },
        };
        let conv1 = ([4, 6, 8][pick(3)], k, stride, padding);
        let pool = stride == 1 && pick(2) == 1;
        let m = common::cnn(side, c0, conv1, pool, [2, 4, 8][pick(3)], [3, 4, 10][pick(3)], fixed8, seed)
            .expect("the shapes always fit");
        let f = common::legal(&m)
            .iter()
            .map(|(pes, simds)| (pes[pick(pes.len())], simds[pick(simds.len())]))
            .collect();
        (m, f, if tree { Popcount::AdderTree } else { Popcount::Compressor })
    })
}

/// A random k-bit network and a legal random folding: an MLP or a small CNN (k-bit convolutions,
/// a k-bit max-pool), hidden activations of k = 2..=4 bits, signed or not, with `random_multi`'s
/// bias and levels (one hidden layer in four binary), a binary or signed/unsigned 8-bit first
/// layer, argmax out.
fn kbit_design() -> impl Strategy<Value = (Model, Vec<(usize, usize)>, Popcount)> {
    (any::<u64>(), any::<bool>(), 0u8..3, any::<bool>()).prop_map(|(seed, cnn, quant, tree)| {
        let mut r = seed;
        let mut pick = |n: usize| {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (r >> 33) as usize % n
        };
        let mut act = || match pick(4) {
            0 => None,
            _ => Some(IntType { bits: 2 + pick(3) as u8, signed: pick(2) == 1 }),
        };
        let dense = |out, a: Option<IntType>| match a {
            Some(ty) => LayerSpec::DenseMulti { out, ty },
            None => LayerSpec::Dense(out),
        };
        let conv = |out, kernel, a: Option<IntType>| match a {
            Some(ty) => LayerSpec::Conv2dMulti { out, kernel, stride: 1, padding: Padding::None, ty },
            None => LayerSpec::Conv2d { out, kernel, stride: 1, padding: Padding::None },
        };
        let mut specs = vec![match quant {
            0 => LayerSpec::QuantBinary(128),
            q => LayerSpec::QuantFixed8(q == 2),
        }];
        let (a0, a1, a2) = (act(), act(), act());
        let shape = if cnn {
            specs.push(conv([4, 6][pick(2)], 2, a0));
            if pick(2) == 1 {
                specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
            }
            specs.push(conv([2, 4][pick(2)], 2, a1));
            Shape::new([6, 7][pick(2)], [6, 7][pick(2)], 1 + pick(2))
        } else {
            specs.push(dense([8, 12, 16][pick(3)], a0));
            if pick(2) == 1 {
                specs.push(dense([6, 8][pick(2)], a1));
            }
            specs.push(dense([6, 8, 10][pick(3)], a2));
            Shape::new(1, 1, [12, 16, 30][pick(3)])
        };
        specs.push(LayerSpec::Dense([2, 3, 4][pick(3)]));
        let mut m = random_model("kbit", shape, &specs, seed).expect("the shapes always fit");
        m.output = OutputMode::Argmax;
        let f = common::legal(&m)
            .iter()
            .map(|(pes, simds)| (pes[pick(pes.len())], simds[pick(simds.len())]))
            .collect();
        (m, f, if tree { Popcount::AdderTree } else { Popcount::Compressor })
    })
}

proptest! {
    // Each case verilates a design (several seconds); failing cases persist in proptest-regressions/.
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn golden_cycle_model_and_verilator_agree((m, f, pc) in design(), stall in 0.0f64..0.5, seed in 0u64..1000, cut in 0.1f64..0.9) {
        three_way(&m, &f, pc, None, stall, seed, cut)?;
    }

    /// iCE40 designs: every MVTU pipelined after its lanes (legalize's stages), golden model,
    /// cycle model (lazy whole-pass accumulation, sleep and skip included) and Verilator agree on
    /// words and cycles under stalls and a reset, binary and k-bit networks.
    #[test]
    fn golden_cycle_model_and_verilator_agree_with_pipelined_mvtus((m, f, pc) in prop_oneof![design(), kbit_design()], stall in 0.0f64..0.5, seed in 0u64..1000, cut in 0.1f64..0.9) {
        three_way(&m, &f, pc, Some(Arch::Ice40(Ice40Part::Up5k)), stall, seed, cut)?;
    }

    #[test]
    fn golden_cycle_model_and_verilator_agree_on_cnns((m, f, pc) in cnn_design(), stall in 0.0f64..0.5, seed in 0u64..1000, cut in 0.1f64..0.9) {
        three_way(&m, &f, pc, None, stall, seed, cut)?;
    }

}

/// A random residual network (`random_resnet`: 1 to 3 blocks, downsampling or not) and a legal
/// random folding.
fn resnet_design() -> impl Strategy<Value = (Model, Vec<(usize, usize)>, Popcount)> {
    (any::<u64>(), 1usize..=3, any::<bool>()).prop_map(|(seed, blocks, tree)| {
        let m = compiler::model::random::random_resnet(seed, blocks, 6).expect("shapes fit");
        let mut r = seed;
        let mut pick = |n: usize| {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (r >> 33) as usize % n
        };
        let f = common::legal(&m)
            .iter()
            .map(|(pes, simds)| (pes[pick(pes.len())], simds[pick(simds.len())]))
            .collect();
        (m, f, if tree { Popcount::AdderTree } else { Popcount::Compressor })
    })
}

proptest! {
    // Each case verilates a residual design: duplicates, sign nodes, channel pads, adds and
    // bypass FIFOs joined with the chain's blocks, with resets and stalls.
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn golden_cycle_model_and_verilator_agree_on_residual_networks((m, f, pc) in resnet_design(), stall in 0.0f64..0.5, seed in 0u64..1000, cut in 0.1f64..0.9) {
        three_way(&m, &f, pc, None, stall, seed, cut)?;
    }
}

proptest! {
    // Fewer cases than the binary networks': the k-bit blocks have their own Verilog tests
    // (hdl/tests/verilog.rs, conv.rs); these check them joined, with resets and stalls.
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn golden_cycle_model_and_verilator_agree_on_kbit_networks((m, f, pc) in kbit_design(), stall in 0.0f64..0.5, seed in 0u64..1000, cut in 0.1f64..0.9) {
        three_way(&m, &f, pc, None, stall, seed, cut)?;
    }
}

/// On iCE40 a deep FIFO is in EBR, read through the block's output register with a bypass for
/// the word written as it is read: a residual block on 8 x 8 pixels of 16 four-bit channels, its
/// branch one output element a cycle, whose bypass FIFO holds more than a row of pixels
/// (1 Kbit and more, so in EBR), agrees in all three executors, words and cycles, under stalls
/// and a reset; every FIFO and width converter has iCE40's registered flags.
#[test]
fn golden_cycle_model_and_verilator_agree_with_fifos_in_block_ram() {
    let ty = IntType { bits: 4, signed: true };
    let specs = [
        LayerSpec::QuantBinary(128),
        LayerSpec::Conv2dMulti {
            out: 16,
            kernel: 3,
            stride: 1,
            padding: Padding::Bit { amount: 1, bit: false },
            ty,
        },
        LayerSpec::Residual { out: 16, kernel: 3, stride: 1, pad_bit: false },
        LayerSpec::Dense(4),
    ];
    let mut m = random_model("ebr", Shape::new(8, 8, 1), &specs, 5).expect("model");
    m.output = OutputMode::Argmax;
    let f = [(1, 1), (1, 16), (1, 16)];
    let arch = Some(Arch::Ice40(Ice40Part::Up5k));
    let (_d, b) = compile_for(&m, &f, Popcount::Compressor, arch);
    let block = |n: &compiler::dataflow::Node| matches!(n.kind, NodeKind::Fifo { ram: MemStyle::Block, .. });
    assert!(b.graph.all_nodes().any(block), "a FIFO in EBR\n{}", b.graph);
    // iCE40's registered handshake flags on every FIFO and width converter, both memory forms.
    let registered = |n: &compiler::dataflow::Node| match n.kind {
        NodeKind::Fifo { flags, .. } | NodeKind::WidthConverter { flags } => Some(flags == Flags::Registered),
        _ => None,
    };
    let flags: Vec<bool> = b.graph.all_nodes().filter_map(registered).collect();
    assert!(flags.len() > 2 && flags.iter().all(|&r| r), "registered flags\n{}", b.graph);
    for seed in [1, 2] {
        three_way(&m, &f, Popcount::Compressor, arch, 0.3, seed, 0.5)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// Golden model, cycle model and Verilator on 4 frames after a batch abandoned mid-frame and a
/// reset: the same words, and the same input and output cycles for the two RTL-level executors.
fn three_way(
    m: &Model,
    f: &[(usize, usize)],
    pc: Popcount,
    arch: Option<Arch>,
    stall: f64,
    seed: u64,
    cut: f64,
) -> Result<(), TestCaseError> {
    {
        let (_d, b) = compile_for(m, f, pc, arch);
        let frames = 4;
        let v = b.vectors(frames, seed).expect("vectors");
        let (ins, outs) = (v.flat_inputs(), v.flat_expected());
        let stalls = Stalls { gap: stall, backpressure: stall, seed };
        let max_cycles = b.max_cycles(frames, stall);
        let design = Design {
            verilog: b.dir.join("design.v"),
            top: b.info.top.to_string(),
            in_bits: b.graph.in_bits(),
            out_bits: b.graph.out_bits(),
            work: b.dir.join("verilator"),
            trace: false,
            opt: "0".into(),
        };
        let lib = verilator::verilate(&design, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let mut dut = lib.instance(None).expect("instance");
        let mut cm = CycleModel::new(&b.graph, &b.model).expect("cycle model");
        // A first batch abandoned in the middle of its second frame, then a reset (the driver's).
        let stop = (b.graph.cycles_per_frame() as f64 * (1.0 + cut)) as u64;
        let partial = Drive { stalls, max_cycles, stop_at: Some(stop) };
        let other = b.vectors(2, seed + 1).expect("vectors");
        for dut in [&mut dut as &mut dyn drive::StreamDut, &mut cm] {
            drive::run(dut, &other.flat_inputs(), other.flat_expected().len(), &partial)
                .expect("partial run");
        }
        let full = Drive { stalls, max_cycles, stop_at: None };
        let tv = drive::run(&mut dut, &ins, outs.len(), &full)
            .unwrap_or_else(|e| panic!("Verilator: {e}\n{}", b.graph));
        let tc = drive::run(&mut cm, &ins, outs.len(), &full)
            .unwrap_or_else(|e| panic!("cycle model: {e}\n{}", b.graph));
        prop_assert_eq!(&tc.outputs, &outs, "cycle model vs golden\n{}", b.graph);
        prop_assert_eq!(&tv.outputs, &outs, "Verilator vs golden\n{}", b.graph);
        prop_assert_eq!(&tv.out_cycles, &tc.out_cycles, "output cycles\n{}", b.graph);
        prop_assert_eq!(&tv.in_cycles, &tc.in_cycles, "input cycles\n{}", b.graph);
        // Every FIFO, bypass FIFOs included, within its computed depth.
        let depths: Vec<usize> = b
            .graph
            .all_nodes()
            .filter_map(|n| match n.kind {
                NodeKind::Fifo { depth, .. } => Some(depth),
                _ => None,
            })
            .collect();
        let high = cm.fifo_high_water();
        prop_assert_eq!(high.len(), depths.len());
        for ((name, hw), d) in high.iter().zip(&depths) {
            prop_assert!(hw <= d, "{}: {} words of {}\n{}", name, hw, d, b.graph);
        }
    }
    Ok(())
}
