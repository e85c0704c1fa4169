//! Whole accelerators: TFC-, SFC- and LFC-shaped networks with random weights, several foldings and
//! both popcount structures, compiled to a build directory whose testbench passes under Icarus,
//! whose Verilog passes Verilator lint, whose rust-hdl simulation gives the golden outputs, and
//! whose estimated cycles per frame equal the simulated ones.

mod common;

use common::{folding, mlp};
use compiler::dataflow::fold::{self, FoldTarget, Folding};
use compiler::dataflow::{MemStyle, Popcount};
use compiler::model::{LayerId, Model};
use hdl::accel::Accelerator;
use hdl::harness::{self, Stalls};
use hdl::testbench;
use reports::build::{self, BuildOptions};
use sim::cycle::CycleModel;
use sim::drive::{self, Drive};

/// Compiles, runs the Icarus testbench and lint, then the rust-hdl simulation without stalls:
/// outputs equal the golden model's, and frames leave every `cycles_per_frame` cycles.
fn check(model: &Model, f: &Folding, stall_prob: f64, frames: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = BuildOptions { frames, stall_prob, ..BuildOptions::default() };
    let b = build::compile(model, f, dir.path(), &opts, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let log = testbench::run_icarus(dir.path(), &["design.v"]).unwrap_or_else(|e| panic!("{e}"));
    let tb = testbench::parse_log(&log, b.graph.out_bits());
    assert!(tb.pass, "{}\n{:?}\n{log}", b.graph, tb.failure);
    testbench::lint(dir.path(), "design.v", opts.top.as_str()).unwrap_or_else(|e| panic!("{}\n{e}", b.graph));
    // The cycle model under the testbench's stall pattern: Icarus's words on Icarus's cycles.
    let mut cm = CycleModel::new(&b.graph, model).expect("cycle model");
    let stalls = Stalls { gap: stall_prob, backpressure: stall_prob, seed: opts.seed };
    let drive = Drive { stalls, max_cycles: b.max_cycles, stop_at: None };
    let ct = drive::run(&mut cm, &b.inputs, b.expected.len(), &drive).expect("cycle model run");
    assert_eq!(ct.outputs, b.expected, "cycle model against the golden model\n{}", b.graph);
    let icarus: Vec<(u64, Vec<u64>)> = ct.out_cycles.iter().copied().zip(ct.outputs.clone()).collect();
    assert_eq!(icarus, tb.outputs, "cycle model against Icarus\n{}", b.graph);
    if stall_prob == 0.0 {
        let mut acc = Accelerator::new(&b.graph, model).expect("accelerator");
        let run = harness::run(&mut acc, &b.inputs, b.expected.len(), Stalls::default(), b.max_cycles)
            .expect("run");
        assert_eq!(run.outputs, b.expected, "rust-hdl against the golden model\n{}", b.graph);
        // Steady state: output words per frame leave exactly cycles_per_frame apart.
        let per_frame = b.expected.len() / frames;
        let t: Vec<u64> = run.out_cycles.iter().step_by(per_frame).copied().collect();
        let gaps: Vec<u64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let cycles = b.graph.cycles_per_frame() as u64;
        assert!(
            gaps[gaps.len() / 2..].iter().all(|&g| g == cycles),
            "gaps {gaps:?}, estimate {cycles}\n{}",
            b.graph
        );
        // Icarus saw the same cycles.
        let ic: Vec<u64> = tb.outputs.iter().map(|(c, _)| *c).collect();
        assert_eq!(ic, run.out_cycles, "Icarus and rust-hdl cycles");
    }
}

#[test]
fn tfc_shaped_designs() {
    let m = mlp(784, &[64, 64, 64], 10, false, 1);
    check(&m, &folding(&m, &[(16, 49), (16, 32), (16, 32), (10, 16)], Popcount::Compressor), 0.0, 6);
    check(&m, &folding(&m, &[(8, 16), (4, 16), (4, 16), (2, 8)], Popcount::AdderTree), 0.0, 4);
    check(&m, &folding(&m, &[(4, 28), (8, 8), (2, 64), (5, 64)], Popcount::Compressor), 0.3, 4);
}

#[test]
fn sfc_shaped_design_with_8bit_input() {
    let m = mlp(784, &[256, 256, 256], 10, true, 2);
    check(&m, &folding(&m, &[(16, 16), (16, 64), (16, 64), (10, 64)], Popcount::Compressor), 0.0, 3);
}

/// LFC at BNN-PYNQ's folding (512 cycles per frame): Icarus and lint only, one frame (an LFC frame
/// is 2.9 million lane operations, slow in an event-driven simulator; the rust-hdl and cycle checks
/// run on the smaller designs).
#[test]
fn lfc_shaped_design() {
    let m = reports::reference::lfc_random(3).expect("model");
    let f = reports::reference::bnn_pynq_lfc_folding(Popcount::Compressor);
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = BuildOptions { frames: 1, ..BuildOptions::default() };
    let b = build::compile(&m, &f, dir.path(), &opts, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.graph.cycles_per_frame(), 512);
    let log = testbench::run_icarus(dir.path(), &["design.v"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(testbench::parse_log(&log, b.graph.out_bits()).pass, "{log}");
    testbench::lint(dir.path(), "design.v", opts.top.as_str()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn auto_folding_meets_its_target_with_fewer_luts_than_finn() {
    let m = mlp(784, &[1024, 1024, 1024], 10, false, 3);
    for target in [512u64, 2048, 8192] {
        let ours = fold::auto_fold(&m, FoldTarget::Cycles(target), Popcount::Compressor, MemStyle::Auto)
            .expect("fold");
        let finn = fold::finn_fold(&m, target, Popcount::Compressor, MemStyle::Auto).expect("finn");
        let go = fold::lower(&m, &ours).expect("lower");
        let gf = fold::lower(&m, &finn).expect("lower");
        assert!(go.cycles_per_frame() as u64 <= target && gf.cycles_per_frame() as u64 <= target);
        let (lo, lf) =
            (fold::folding_luts(&m, &ours).expect("luts"), fold::folding_luts(&m, &finn).expect("luts"));
        assert!(lo <= lf, "target {target}: ours {lo} LUT, FINN's {lf}");
    }
    let e = fold::auto_fold(&m, FoldTarget::LutBudget(100), Popcount::Compressor, MemStyle::Auto)
        .expect_err("too small");
    assert!(e.to_string().contains("needs an estimated"), "{e}");
    let f = fold::auto_fold(&m, FoldTarget::LutBudget(20_000), Popcount::Compressor, MemStyle::Auto)
        .expect("fits");
    assert!(fold::folding_luts(&m, &f).expect("luts") <= 20_000);
}

#[test]
fn folding_errors_name_the_layer() {
    let m = mlp(784, &[64, 64, 64], 10, false, 1);
    let mut f = folding(&m, &[(16, 49), (16, 32), (16, 32), (10, 16)], Popcount::Compressor);
    f.layers.get_mut(&LayerId(2)).expect("L2").simd = 5;
    let e = fold::lower(&m, &f).expect_err("SIMD 5").to_string();
    assert!(e.contains("L2") && e.contains("legal SIMD"), "{e}");
    f.layers.remove(&LayerId(2));
    let e = fold::lower(&m, &f).expect_err("missing").to_string();
    assert!(e.contains("L2"), "{e}");
}
