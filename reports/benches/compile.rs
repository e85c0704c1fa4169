//! `xnorflow compile` of an LFC-sized model (784-1024-1024-1024-10, binary input, random weights)
//! at BNN-PYNQ's folding (512 cycles per frame): lowering, rust-hdl blocks, Verilog, memory files,
//! golden vectors and a one-frame testbench, reports. Target: under 2 s (FINN needs hours with
//! Vivado HLS). `cargo bench -p xnorflow-reports --bench compile`.

use compiler::dataflow::fold::{Folding, LayerFold};
use compiler::dataflow::{MemStyle, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{OutputMode, Shape};
use criterion::Criterion;
use reports::build::{self, BuildOptions};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let specs = [
        LayerSpec::QuantBinary(128),
        LayerSpec::Dense(1024),
        LayerSpec::Dense(1024),
        LayerSpec::Dense(1024),
        LayerSpec::Dense(10),
    ];
    let mut model = random_model("lfc", Shape::new(1, 1, 784), &specs, 1).expect("model");
    model.output = OutputMode::Argmax;
    let mut folding = Folding::default();
    for (name, pe, simd) in [("L1", 32, 49), ("L2", 64, 32), ("L3", 32, 64), ("L4", 10, 8)] {
        let f = LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Auto };
        folding.layers.insert(name.into(), f);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = BuildOptions { frames: 1, ..BuildOptions::default() };
    let mut g = c.benchmark_group("compile");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("lfc_bnn_pynq_folding", |b| {
        b.iter(|| build::compile(&model, &folding, dir.path(), &opts, &mut |_| {}).expect("compile"))
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
