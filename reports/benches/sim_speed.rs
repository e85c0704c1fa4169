//! Simulated clock cycles per second: the cycle model against Verilator on an LFC-sized build
//! (784-1024-1024-1024-10 at BNN-PYNQ's folding, 512 cycles per frame) and a CNV-sized one (BNN-PYNQ's
//! folding, 32,768 cycles per frame), and against rust-hdl's
//! own simulator on one MVTU (256 x 256, PE 16, SIMD 32). Target: the cycle model at least 5x
//! faster than Verilator. Prints a table and writes `results/sim_speed.csv`.
//!
//! `cargo bench -p xnorflow-reports --bench sim_speed` (or `make sim-speed`). The first run
//! verilates the LFC design (minutes); later runs reuse the library under `target/xnorflow-bench`.

use compiler::dataflow::fold::Folding;
use compiler::dataflow::{Graph, LaneInput, MemStyle, MvtuConfig, MvtuOutput, Node, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Activation, Layer, LayerId, Model, Shape};
use hdl::harness::{self, Stalls};
use hdl::Mvtu;
use reports::build::{self, BuildOptions};
use reports::builddir::{self, BuildDir};
use sim::cycle::CycleModel;
use sim::drive::{self, Drive, StreamDut};
use sim::verilator::{self, Design};
use std::time::Instant;

/// `(cycles, seconds)` of a run of `inputs` through `dut`.
fn timed(dut: &mut dyn StreamDut, inputs: &[Vec<u64>], n_out: usize) -> (u64, f64) {
    let drive = Drive { stalls: Stalls::default(), max_cycles: u64::MAX, stop_at: None };
    let t0 = Instant::now();
    let t = drive::run(dut, inputs, n_out, &drive).expect("run");
    (t.cycles, t0.elapsed().as_secs_f64())
}

struct Row {
    design: &'static str,
    executor: &'static str,
    cycles: u64,
    seconds: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.cycles as f64 / self.seconds
    }
}

/// A whole build of `model` at `folding`: the cycle model on `frames` random frames, Verilator on
/// a quarter of them (the cycle model is fast enough to need more).
fn build_speed(rows: &mut Vec<Row>, design: &'static str, model: &Model, folding: &Folding, frames: usize) {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("xnorflow-bench-{}", model.name));
    let opts = BuildOptions { frames: 1, ..BuildOptions::default() };
    build::compile(model, folding, &dir, &opts, &mut |_| {}).expect("compile");
    let b = BuildDir::open(&dir).expect("build dir");
    let v = b.vectors(frames, 2).expect("vectors");
    let (ins, outs) = (v.flat_inputs(), v.flat_expected());
    let mut cm = CycleModel::new(&b.graph, &b.model).expect("cycle model");
    let (cycles, seconds) = timed(&mut cm, &ins, outs.len());
    rows.push(Row { design, executor: "cycle model", cycles, seconds });
    let d = Design {
        verilog: dir.join(builddir::DESIGN_V),
        top: b.info.top.to_string(),
        in_bits: b.graph.in_bits(),
        out_bits: b.graph.out_bits(),
        work: dir.join(builddir::VERILATOR_DIR),
        trace: false,
        opt: "1".into(),
    };
    let t0 = Instant::now();
    let lib = verilator::verilate(&d, &mut |s| eprintln!("  {s}")).expect("verilate");
    eprintln!("  Verilator build (or cache hit): {:.1} s", t0.elapsed().as_secs_f64());
    let mut dut = lib.instance(None).expect("instance");
    let q = v.inputs.len() / 4;
    let (ins, outs): (Vec<_>, Vec<_>) = (v.inputs[..q].concat(), v.expected[..q].concat());
    let (cycles, seconds) = timed(&mut dut, &ins, outs.len());
    rows.push(Row { design, executor: "Verilator (-O1 model)", cycles, seconds });
}

fn one_mvtu(rows: &mut Vec<Row>) {
    let cfg = MvtuConfig {
        name: "L1".into(),
        mw: 256,
        mh: 256,
        pe: 16,
        simd: 32,
        input: LaneInput::Binary,
        output: MvtuOutput::Threshold,
        popcount: Popcount::Compressor,
        mem_style: MemStyle::Auto,
    };
    let specs = [LayerSpec::QuantBinary(128), LayerSpec::Dense(256), LayerSpec::Dense(2)];
    let model: Model = random_model("mvtu", Shape::new(1, 1, 256), &specs, 3).expect("model");
    let Layer::Dense(w) = &model.layers[1] else { unreachable!("layer 1 is dense") };
    let Activation::Threshold(t) = &w.activation else { unreachable!("layer 1 thresholds") };
    let graph = Graph { name: "mvtu".into(), nodes: vec![Node::mvtu(LayerId(1), cfg.clone())] };
    let vectors = 8;
    let ins: Vec<Vec<u64>> =
        (0..vectors * cfg.sf()).map(|i| vec![(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32]).collect();
    let n_out = vectors * cfg.nf();
    let mut cm = CycleModel::new(&graph, &model).expect("cycle model");
    let (cycles, seconds) = timed(&mut cm, &ins, n_out);
    rows.push(Row { design: "MVTU 256x256 PE16 SIMD32", executor: "cycle model", cycles, seconds });
    let mut m = Mvtu::new(&cfg, &w.matrix, Some(t)).expect("mvtu");
    let t0 = Instant::now();
    let run = harness::run(&mut m, &ins, n_out, Stalls::default(), 1_000_000).expect("rust-hdl run");
    let seconds = t0.elapsed().as_secs_f64();
    let cycles = run.out_cycles.last().map_or(0, |c| c + 1);
    rows.push(Row { design: "MVTU 256x256 PE16 SIMD32", executor: "rust-hdl simulator", cycles, seconds });
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this harness without it,
    // and then it only checks that the small comparison runs (no verilation, no CSV).
    let full = std::env::args().any(|a| a == "--bench");
    let mut rows = Vec::new();
    eprintln!("one MVTU: cycle model and rust-hdl");
    one_mvtu(&mut rows);
    if !full {
        return;
    }
    eprintln!("LFC: cycle model and Verilator");
    let lfc = reports::reference::lfc_random(1).expect("model");
    let f = reports::reference::bnn_pynq_lfc_folding(Popcount::Compressor);
    build_speed(&mut rows, "LFC 512 cycles/frame", &lfc, &f, 256);
    eprintln!("CNV: cycle model and Verilator");
    let cnv = reports::reference::cnv_random(1).expect("model");
    let f = reports::reference::bnn_pynq_cnv_folding(&cnv, Popcount::Compressor).expect("folding");
    build_speed(&mut rows, "CNV 32768 cycles/frame", &cnv, &f, 16);
    let mut csv = String::from("design,executor,cycles,seconds,cycles_per_s,cycle_model_speedup\n");
    println!(
        "{:<26} {:<24} {:>9} {:>9} {:>14} {:>9}",
        "design", "executor", "cycles", "seconds", "cycles/s", "speedup"
    );
    for r in &rows {
        let cm =
            rows.iter().find(|x| x.design == r.design && x.executor == "cycle model").map_or(1.0, Row::rate);
        let (rate, speedup) = (r.rate(), cm / r.rate());
        println!(
            "{:<26} {:<24} {:>9} {:>9.4} {rate:>14.0} {speedup:>8.1}x",
            r.design, r.executor, r.cycles, r.seconds
        );
        let line =
            format!("{},{},{},{:.6},{rate:.0},{speedup:.1}\n", r.design, r.executor, r.cycles, r.seconds);
        csv.push_str(&line);
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/sim_speed.csv");
    std::fs::write(&path, csv).expect("write results/sim_speed.csv");
    eprintln!("wrote {}", path.display());
}
