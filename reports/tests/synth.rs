//! Synthesis of a small build: per-node Yosys counts beside the estimates (7-series: every MVTU
//! within 10% in LUTs, block RAM exact), and an iCE40 place and route with a clock.

mod common;

use common::{cnn, folding, mlp};
use compiler::dataflow::{NodeKind, Popcount};
use hdl::synth::Target;
use reports::build::{self, BuildOptions};
use reports::cosim::BuildDir;

fn build(dir: &std::path::Path) -> BuildDir {
    let m = mlp(64, &[32, 32], 10, false, 4);
    let f = folding(&m, &[(4, 32), (4, 32), (2, 8)], Popcount::Compressor);
    build::compile(&m, &f, dir, &BuildOptions { frames: 1, ..BuildOptions::default() }, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    BuildDir::open(dir).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn xc7_estimates_track_yosys_per_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path());
    let r = reports::synth::synth(&b, Target::Xc7, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.nodes.len(), b.graph.nodes.len());
    for (n, s) in b.graph.nodes.iter().zip(&r.nodes) {
        if let NodeKind::Mvtu { .. } = n.kind {
            let err = (s.estimate.lut as f64 - s.synth.lut as f64).abs() / s.synth.lut as f64;
            assert!(err <= 0.10, "{}: estimate {} LUT, Yosys {}", s.name, s.estimate.lut, s.synth.lut);
            assert_eq!(s.estimate.bram18, s.synth.bram18, "{} BRAM", s.name);
        }
    }
    // The nodes add up to the design (the top adds only I/O buffers).
    let sum: u64 = r.nodes.iter().map(|n| n.synth.lut).sum();
    assert_eq!(sum, r.total.lut);
    for f in ["synth-xc7.json", "synth-xc7.csv", "synth-xc7.md"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}

#[test]
fn ice40_fits_and_gets_a_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path());
    let r = reports::synth::synth(&b, Target::Ice40, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let t = r.timing.clone().expect("iCE40 timing");
    let part = t.part.unwrap_or_else(|why| panic!("does not fit: {why}"));
    assert!(r.total.lut <= part.luts && r.total.lut > 0);
    let f = t.fmax_mhz.expect("nextpnr reports a clock");
    assert!(f > 10.0 && f < 1000.0, "{f} MHz");
    // Every node carries the iCE40 estimate, and the CSV puts it beside Yosys' LUT4s.
    assert!(r.nodes.iter().all(|n| n.ice40.is_some()), "{:?}", r.nodes);
    let total = r.ice40.expect("the iCE40 total");
    assert!(
        total.lut4 > 0 && total.lut4 == r.nodes.iter().map(|n| n.ice40.map_or(0, |e| e.lut4)).sum::<u64>()
    );
    assert!(r.csv().starts_with(reports::synth::ICE40_CSV_HEADER), "{}", r.csv());
    assert!(r.markdown().contains("| LUT4 est. |"), "{}", r.markdown());
    // Each node is its module synthesized alone, beside its count within the whole design.
    assert_eq!(r.per_node, reports::synth::PerNode::Alone);
    assert!(r.nodes.iter().all(|n| n.in_context.is_some()), "{:?}", r.nodes);
    let nodes = dir.path().join(reports::builddir::synth_nodes_dir(Target::Ice40));
    let dirs: Vec<_> = std::fs::read_dir(&nodes).expect("the nodes' directory").collect();
    assert!(!dirs.is_empty() && dirs.len() <= r.nodes.len(), "{dirs:?}");
    assert!(dirs.iter().all(|d| d.as_ref().expect("an entry").path().join(hdl::synth::ALONE_V).is_file()));
}

/// iCE40 synthesis measures a node by its module alone, so one module's counts do not depend
/// on what else its design holds. They did: in one Yosys session, read after one other module
/// of the demo that `-top` then drops, the demo's argmax (10 x 9-bit scores) was 29, 35, 36 or
/// 37 LUT4, Yosys' generated cell names numbered on from the other module's. What Yosys reads
/// for a node is the node's text alone whatever precedes it in the file (checked for every other
/// module, without Yosys), it is that text that `yosys_alone` hands Yosys, and Yosys gives it
/// the same count in a fresh process (one such file synthesized).
#[test]
fn a_module_alone_synthesizes_the_same_whatever_else_its_file_holds() {
    let results = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/ice40/demo");
    let m = compiler::format::load(&results.join("model.xnf")).expect("the demo model");
    let text = std::fs::read_to_string(results.join("folding.json")).expect("folding");
    let f = compiler::json::from_str(&text).expect("a folding");
    let dir = tempfile::tempdir().expect("tempdir");
    let arch = Some(compiler::dataflow::target::Arch::Ice40(compiler::dataflow::target::Ice40Part::Hx8k));
    let opts = BuildOptions { frames: 1, arch, ..BuildOptions::default() };
    build::compile(&m, &f, dir.path(), &opts, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let verilog = std::fs::read_to_string(dir.path().join("design.v")).expect("design.v");
    let names: Vec<&str> =
        verilog.lines().filter_map(|l| l.strip_prefix("module ")?.split(' ').next()).collect();
    let argmax = *names.iter().find(|n| n.contains("_argmax_")).expect("an argmax");
    let own = hdl::synth::module_alone(&verilog, argmax).expect("the argmax");
    // The argmax after each other module of the design (and what that one instantiates), but
    // the core and the top, which instantiate it.
    let files: Vec<String> = names
        .iter()
        .filter_map(|&other| {
            let before = hdl::synth::module_alone(&verilog, other).expect("a module");
            (!before.contains(&format!("module {argmax} "))).then(|| format!("{before}\n{own}"))
        })
        .collect();
    assert!(files.len() > 10, "{names:?}");
    for file in &files {
        assert_eq!(hdl::synth::module_alone(file, argmax).expect("the argmax"), own);
    }
    let alone = |text: &str, work: &str| {
        let work = dir.path().join(work);
        let lut = hdl::synth::yosys_alone(text, dir.path(), argmax, Target::Ice40, &work)
            .unwrap_or_else(|e| panic!("{e}"))
            .lut;
        let read = std::fs::read_to_string(work.join(hdl::synth::ALONE_V)).expect("the node's file");
        assert_eq!(read, own, "Yosys is handed the module alone");
        lut
    };
    let (want, after) = (alone(&verilog, "alone"), alone(&files[0], "after"));
    assert_eq!(want, after, "{argmax} is {want} LUT4 alone, {after} after another module");
}

/// A convolutional design built for iCE40 synthesizes: its window units' rings are EBR (iCE40 has
/// no LUT RAM; a ring marked distributed left Yosys without a mapping), its max-pool's row
/// buffer flip-flops, and every node is counted beside its estimate.
#[test]
fn a_convolutional_design_for_ice40_synthesizes() {
    use compiler::dataflow::target::{Arch, Ice40Part};
    let dir = tempfile::tempdir().expect("tempdir");
    let m =
        cnn(6, 2, (4, 3, 1, compiler::model::Padding::Bit { amount: 1, bit: false }), true, 4, 3, false, 2)
            .expect("model");
    let f = folding(&m, &[(2, 2), (2, 4), (1, 4)], Popcount::Compressor);
    let arch = Some(Arch::Ice40(Ice40Part::Hx8k));
    build::compile(
        &m,
        &f,
        dir.path(),
        &BuildOptions { frames: 1, arch, ..BuildOptions::default() },
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let b = BuildDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(b.graph.to_string().contains("ringmem=block"), "{}", b.graph);
    let r = reports::synth::synth(&b, Target::Ice40, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let swu = r.nodes.iter().find(|n| n.name.starts_with('S')).expect("a window unit");
    assert_eq!(swu.synth.bram18, 1, "the ring in one EBR: {swu:?}");
    assert!(r.nodes.iter().all(|n| n.ice40.is_some()), "{:?}", r.nodes);
}
