//! `xnorflow compile` of an LFC-sized model (784-1024-1024-1024-10, binary input, random weights)
//! at BNN-PYNQ's folding (512 cycles per frame): lowering, rust-hdl blocks, Verilog, memory files,
//! golden vectors and a one-frame testbench, reports. Target: under 2 s (FINN needs hours with
//! Vivado HLS). Also the CNV-sized model (BNN-PYNQ's CNV folding; target under 5 s). `cargo bench -p xnorflow-reports --bench compile`.

use compiler::dataflow::Popcount;
use criterion::Criterion;
use reports::build::{self, BuildOptions};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let model = reports::reference::lfc_random(1).expect("model");
    let folding = reports::reference::bnn_pynq_lfc_folding(Popcount::Compressor);
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = BuildOptions { frames: 1, ..BuildOptions::default() };
    let mut g = c.benchmark_group("compile");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("lfc_bnn_pynq_folding", |b| {
        b.iter(|| build::compile(&model, &folding, dir.path(), &opts, &mut |_| {}).expect("compile"))
    });
    let cnv = reports::reference::cnv_random(1).expect("model");
    let cnv_folding = reports::reference::bnn_pynq_cnv_folding(&cnv, Popcount::Compressor).expect("folding");
    g.bench_function("cnv_bnn_pynq_folding", |b| {
        b.iter(|| build::compile(&cnv, &cnv_folding, dir.path(), &opts, &mut |_| {}).expect("compile"))
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
