//! Profiling aid: the cycle model alone on one design at BNN-PYNQ's folding, `N` random frames
//! (`cargo run --release -p xnorflow-reports --example cycle_speed -- cnv|lfc|demo N [runs] [--graph]`).

use compiler::dataflow::fold;
use compiler::dataflow::Popcount;
use sim::cycle::CycleModel;
use sim::drive::{self, Drive};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("cnv", String::as_str);
    let frames: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let mut arch = None;
    let (model, f) = match which {
        "demo" => {
            // The demo compiled for the iCE40 UP5K (MVTUs pipelined after their lanes).
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/ice40/demo-up5k");
            let bytes = std::fs::read(dir.join("model.xnf")).expect("demo model");
            let text = std::fs::read_to_string(dir.join("folding.json")).expect("demo folding");
            arch = Some(compiler::dataflow::target::Arch::Ice40(compiler::dataflow::target::Ice40Part::Up5k));
            (
                compiler::format::from_bytes(&bytes).expect("demo model"),
                compiler::json::from_str(&text).expect("folding"),
            )
        }
        "lfc" => (
            reports::reference::lfc_random(1).expect("model"),
            reports::reference::bnn_pynq_lfc_folding(Popcount::Compressor),
        ),
        _ => {
            let m = reports::reference::cnv_random(1).expect("model");
            let f = reports::reference::bnn_pynq_cnv_folding(&m, Popcount::Compressor).expect("folding");
            (m, f)
        }
    };
    let g = fold::lower_for(&model, &f, arch).expect("lower");
    if args.iter().any(|a| a == "--graph") {
        println!("{g}");
    }
    let images = sim::stream::random_images(model.input.len(), frames, 2);
    let v = sim::stream::vectors(&model, &g, &images).expect("vectors");
    let (ins, outs) = (v.flat_inputs(), v.flat_expected());
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let d = Drive { stalls: Default::default(), max_cycles: u64::MAX, stop_at: None };
    for _ in 0..reps {
        let mut dut = CycleModel::new(&g, &model).expect("cycle model");
        let (t0, c0) = (Instant::now(), cpu_ns());
        let t = drive::run(&mut dut, &ins, outs.len(), &d).expect("run");
        let (s, cpu) = (t0.elapsed().as_secs_f64(), (cpu_ns() - c0) as f64 * 1e-9);
        assert_eq!(t.outputs, outs, "golden words");
        println!(
        "{which}: {} cycles in {s:.3} s wall, {cpu:.3} s on CPU: {:.2} M cycles/s wall, {:.2} M cycles/s CPU",
        t.cycles,
        t.cycles as f64 / s / 1e6,
        t.cycles as f64 / cpu / 1e6
    );
    }
}

/// This thread's time on a CPU so far, in ns (the scheduler's own count: load on the machine
/// does not inflate it as it does wall time).
fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace().next().and_then(|t| t.parse().ok()).expect("schedstat's first field")
}
