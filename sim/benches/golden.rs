//! Golden-model throughput on an LFC-sized network against this CPU's XNOR + popcount roofline.
//!
//! `cargo bench -p xnorflow-sim --bench golden` runs criterion's measurements (frames/s as
//! elements/s; the roofline as binary ops/s), then prints a summary: frames/s, binary GOPS, the
//! roofline GOPS with the same thread count and their ratio, for each batch size.

use compiler::model::random::random_mlp;
use compiler::model::{macs_per_frame, Model, Shape};
use criterion::{BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use sim::golden::Golden;
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCHES: [usize; 3] = [16, 64, 1024];

fn lfc() -> Model {
    random_mlp(Shape::new(28, 28, 1), &[1024, 1024, 1024], 10, 7).expect("LFC shape is valid")
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
}

/// Frames/s of the golden model at batch `b`, the best of several timed runs of at least 0.5 s.
fn frames_per_sec(golden: &Golden, input: &[u8], b: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..5 {
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
        let fps = frames_per_sec(&golden, &frames(&model, b), b);
        let gops = fps * ops_per_frame / 1e9;
        println!("{b:>6}  {fps:>12.0}  {gops:>10.1}  {:>7.1}%", 100.0 * gops * 1e9 / roof);
    }
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
