//! Golden-model throughput on LFC-sized networks: the binary-input LFC against this CPU's XNOR +
//! popcount roofline, and the same topology with integer inputs (an 8-bit first layer, 2- and
//! 4-bit activations) against the binary one.
//!
//! `cargo bench -p xnorflow-sim --bench golden` runs criterion's measurements (frames/s as
//! elements/s; the roofline as binary ops/s), then prints a summary: for the binary LFC, frames/s,
//! binary GOPS, the roofline GOPS with the same thread count and their ratio, for each batch size;
//! for every LFC variant, frames/s at batch 1024 with each integer-input kernel this CPU runs and
//! the ratio to the binary LFC.

use compiler::model::random::{random_mlp, random_model, LayerSpec};
use compiler::model::{macs_per_frame, IntType, Model, Shape};
use criterion::{BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use sim::golden::{Golden, IntKernel};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCHES: [usize; 3] = [16, 64, 1024];

/// The batch of the integer-input comparison.
const BATCH: usize = 1024;

const HIDDEN: [usize; 3] = [1024, 1024, 1024];

fn lfc() -> Model {
    random_mlp(Shape::new(28, 28, 1), &HIDDEN, 10, 7).expect("LFC shape is valid")
}

/// The LFC with `first` as its input quantizer and `act` (or binary thresholds) after each hidden layer.
fn lfc_variant(name: &str, first: LayerSpec, act: Option<IntType>) -> Model {
    let mut specs = vec![first];
    specs.extend(HIDDEN.iter().map(|&out| match act {
        Some(ty) => LayerSpec::DenseMulti { out, ty },
        None => LayerSpec::Dense(out),
    }));
    specs.push(LayerSpec::Dense(10));
    random_model(name, Shape::new(28, 28, 1), &specs, 7).expect("LFC shape is valid")
}

/// The LFC variants compared with the binary one: label and model.
fn variants() -> Vec<(&'static str, Model)> {
    let int = |bits| Some(IntType { bits, signed: true });
    vec![
        ("W1A1, binary input", lfc()),
        ("W1A1, 8-bit input", lfc_variant("lfc-fixed8", LayerSpec::QuantFixed8(false), None)),
        ("W1A2, binary input", lfc_variant("lfc-w1a2", LayerSpec::QuantBinary(128), int(2))),
        ("W1A4, binary input", lfc_variant("lfc-w1a4", LayerSpec::QuantBinary(128), int(4))),
    ]
}

fn frames(model: &Model, n: usize) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    (0..n * model.input.len()).map(|_| rng.gen()).collect()
}

fn macs(model: &Model) -> u64 {
    let types = model.infer().expect("valid");
    model.layers.iter().zip(&types).map(|(l, t)| macs_per_frame(l, t)).sum()
}

fn bench(c: &mut Criterion) {
    let model = lfc();
    let golden = Golden::new(&model).expect("valid");
    let mut g = c.benchmark_group("golden_lfc");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for &b in &BATCHES {
        let input = frames(&model, b);
        g.throughput(Throughput::Elements(b as u64));
        g.bench_with_input(BenchmarkId::new("frames", b), &input, |bch, input| {
            bch.iter(|| golden.run_batch(black_box(input)).expect("frames fit"))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("golden_lfc_int");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for (label, model) in variants().into_iter().skip(1) {
        let golden = Golden::new(&model).expect("valid");
        let input = frames(&model, BATCH);
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_with_input(BenchmarkId::new(label, BATCH), &input, |bch, input| {
            bch.iter(|| golden.run_batch(black_box(input)).expect("frames fit"))
        });
    }
    g.finish();
}

/// Frames/s of the golden model at batch `b`, the best of `runs` timed runs of at least 0.5 s.
fn frames_per_sec(golden: &Golden, input: &[u8], b: usize, runs: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..runs {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_millis(500) {
            black_box(golden.run_batch(input).expect("frames fit"));
            n += b;
        }
        best = best.max(n as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn summary() {
    let model = lfc();
    let golden = Golden::new(&model).expect("valid");
    let threads = rayon::current_num_threads();
    let roof =
        (0..3).map(|_| sim::roofline::measure(threads, Duration::from_millis(500))).fold(0.0, f64::max);
    let ops_per_frame = 2.0 * macs(&model) as f64;
    println!("\nLFC 784-1024-1024-1024-10, random weights; {threads} threads");
    println!("binary MACs per frame: {}; ops = 2 x MACs", macs(&model));
    println!("XNOR+popcount roofline (L1-resident, {threads} threads): {:.1} GOPS", roof / 1e9);
    println!("{:>6}  {:>12}  {:>10}  {:>8}", "batch", "frames/s", "GOPS", "roofline");
    for &b in &BATCHES {
        let fps = frames_per_sec(&golden, &frames(&model, b), b, 5);
        let gops = fps * ops_per_frame / 1e9;
        println!("{b:>6}  {fps:>12.0}  {gops:>10.1}  {:>7.1}%", 100.0 * gops * 1e9 / roof);
    }

    // Every (model, kernel) pair once per round, keeping each pair's best round: under a load that
    // varies over the run, the pairs see the same conditions.
    let mut runs = Vec::new();
    for (label, model) in variants() {
        // A binary-input network has no integer-input layer: one kernel tells all.
        let kernels =
            if macs_of_int_layers(&model) == 0 { vec![IntKernel::detect()] } else { IntKernel::available() };
        let input = frames(&model, BATCH);
        for kernel in kernels.into_iter().rev() {
            let golden = Golden::with_int_kernel(&model, kernel).expect("valid, available");
            runs.push((label, kernel, golden, input.clone(), 0.0f64));
        }
    }
    for _ in 0..ROUNDS {
        for (_, _, golden, input, best) in &mut runs {
            *best = best.max(frames_per_sec(golden, input, BATCH, 1));
        }
    }
    println!("\nLFC variants, random weights, batch {BATCH}, best of {ROUNDS} interleaved rounds");
    println!("integer-input kernels: avx512 = table lookups, portable = bit planes");
    println!("{:<20}  {:>9}  {:>12}  {:>10}", "model", "kernel", "frames/s", "time/W1A1");
    let base = runs.first().map_or(1.0, |r| r.4);
    for (label, kernel, _, _, fps) in &runs {
        println!("{label:<20}  {:>9}  {fps:>12.0}  {:>9.2}x", kernel.name(), base / fps);
    }
}

/// Rounds of the variant comparison.
const ROUNDS: usize = 5;

/// MACs per frame of the layers that read integers.
fn macs_of_int_layers(model: &Model) -> u64 {
    let types = model.infer().expect("valid");
    let inputs = std::iter::once(None).chain(types.iter().map(Some));
    model
        .layers
        .iter()
        .zip(&types)
        .zip(inputs)
        .filter(|(_, prev)| matches!(prev.map(|t| t.elem), Some(compiler::model::Elem::Int { .. })))
        .map(|((l, t), _)| macs_per_frame(l, t))
        .sum()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // `cargo test --benches` runs this binary with --bench absent: skip the long summary there.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
