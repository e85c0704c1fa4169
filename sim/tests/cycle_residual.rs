//! The cycle model on residual networks (duplicate, sign, window, MVTU and add on the main path;
//! max-pool, channel pad, width converters and the bypass FIFO on the bypass) against the golden
//! model, with random stalls and a reset in the middle of a frame; every FIFO's high-water mark
//! at or under its depth; the steady-state cycles per frame equal to the graph's prediction; and
//! the bypass FIFO bound: one word shallower than the deadlock-free depth deadlocks.

use compiler::dataflow::fold::{self, Folding, LayerFold};
use compiler::dataflow::target::{Arch, Ice40Part};
use compiler::dataflow::traffic::Stalls;
use compiler::dataflow::{Graph, MemStyle, NodeKind, Popcount};
use compiler::model::random::{random_model, random_resnet, LayerSpec};
use compiler::model::{IntType, Model, Padding, Shape};
use compiler::passes::fifo::bypass_depth;
use proptest::prelude::*;
use sim::cycle::CycleModel;
use sim::drive::{self, Drive, DriveError};
use sim::stream;

/// A random residual network (`random_resnet`: 1 to 3 blocks, downsampling or not) and a legal
/// random folding.
fn resnet() -> impl Strategy<Value = (Model, Folding)> {
    (any::<u64>(), 1usize..=3).prop_map(|(seed, blocks)| {
        let m = random_resnet(seed, blocks, 8).expect("shapes fit");
        let f = fold::random_folding(&m, seed).expect("shapes");
        (m, f)
    })
}

/// Every FIFO (bypass FIFOs included) with its depth, by name.
fn depths(g: &Graph) -> Vec<(String, usize)> {
    g.all_nodes()
        .filter_map(|n| match n.kind {
            NodeKind::Fifo { depth, .. } => Some((n.name.clone(), depth)),
            _ => None,
        })
        .collect()
}

/// A batch abandoned in the middle of its second frame, a reset, then `frames` frames: the golden
/// model's words; every FIFO's high-water mark at or under its depth.
fn check(m: &Model, f: &Folding, stall: f64, seed: u64, cut: f64) -> Result<Graph, TestCaseError> {
    let g = fold::lower(m, f).expect("lower");
    let mut cm = CycleModel::new(&g, m).expect("cycle model");
    let stalls = Stalls { gap: stall, backpressure: stall, seed };
    let max_cycles = 200 * g.cycles_per_frame() as u64 * 6 + 100_000;
    let other = stream::vectors(m, &g, &stream::random_images(m.input.len(), 2, seed + 1)).expect("vectors");
    let stop = (g.cycles_per_frame() as f64 * (1.0 + cut)) as u64;
    let partial = Drive { stalls, max_cycles, stop_at: Some(stop) };
    drive::run(&mut cm, &other.flat_inputs(), other.flat_expected().len(), &partial).expect("partial run");
    let v = stream::vectors(m, &g, &stream::random_images(m.input.len(), 3, seed)).expect("vectors");
    let want = v.flat_expected();
    let d = Drive { stalls, max_cycles, stop_at: None };
    let t = drive::run(&mut cm, &v.flat_inputs(), want.len(), &d)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
    prop_assert_eq!(&t.outputs, &want, "cycle model vs golden\n{}", g);
    let depth = depths(&g);
    let high = cm.fifo_high_water();
    prop_assert_eq!(high.len(), depth.len());
    for ((name, hw), (_, d)) in high.iter().zip(&depth) {
        prop_assert!(hw <= d, "{}: high water {} over depth {}\n{}", name, hw, d, g);
    }
    Ok(g)
}

/// Steady-state cycles per frame without stalls: the time between the last output words of the
/// last two of `frames` frames.
fn steady(m: &Model, g: &Graph, frames: usize) -> u64 {
    let mut cm = CycleModel::new(g, m).expect("cycle model");
    let v = stream::vectors(m, g, &stream::random_images(m.input.len(), frames, 9)).expect("vectors");
    let want = v.flat_expected();
    let d = Drive { stalls: Stalls::default(), max_cycles: 100_000_000, stop_at: None };
    let t = drive::run(&mut cm, &v.flat_inputs(), want.len(), &d).expect("runs");
    assert_eq!(t.outputs, want);
    let per = want.len() / frames;
    t.out_cycles[frames * per - 1] - t.out_cycles[(frames - 1) * per - 1]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn residual_networks_match_golden_under_stalls_and_resets((m, f) in resnet(), stall in 0.0f64..0.5, seed in 0u64..1000, cut in 0.1f64..0.9) {
        check(&m, &f, stall, seed, cut)?;
    }

    /// Residual networks (duplicate, add, sign, channel pad and bypass FIFOs between sleeping
    /// and waking units) under random stalls, a run abandoned mid-frame and a reset: the fast
    /// model's handshakes on every main-path node, and its outputs, equal the per-cycle
    /// reference's, on 7-series and iCE40 graphs.
    #[test]
    fn residual_fast_and_per_cycle_models_give_identical_traces((m, f) in resnet(), stall in 0.0f64..0.5, seed in 0u64..1000, cut in 0.1f64..0.9, ice40 in any::<bool>()) {
        // iCE40 designs pipeline every MVTU after its lanes and put deep FIFOs (bypass FIFOs
        // among them) in block RAM with a registered read.
        let g = fold::lower_for(&m, &f, ice40.then_some(Arch::Ice40(Ice40Part::Up5k))).expect("lower");
        let v = stream::vectors(&m, &g, &stream::random_images(m.input.len(), 2, seed)).expect("vectors");
        let (ins, outs) = (v.flat_inputs(), v.flat_expected());
        let stalls = Stalls { seed, gap: stall, backpressure: stall };
        let max_cycles = 200 * g.cycles_per_frame() as u64 * 4 + 100_000;
        let stop = (g.cycles_per_frame() as f64 * (1.0 + cut)) as u64;
        let traces = |per_cycle: bool, record: bool| {
            let mut cm = CycleModel::new(&g, &m).expect("cycle model");
            cm.set_per_cycle(per_cycle);
            if record {
                cm.record_streams();
            }
            let cut_run = drive::run(&mut cm, &ins, outs.len(), &Drive { stalls, max_cycles, stop_at: Some(stop) })
                .expect("stopped");
            let full = drive::run(&mut cm, &ins, outs.len(), &Drive { stalls, max_cycles, stop_at: None })
                .expect("no deadlock");
            (cut_run, full, cm.streams().to_vec(), cm.fifo_high_water())
        };
        let (fast, reference) = (traces(false, true), traces(true, true));
        // Without recording, window unit -> FIFO -> MVTU chains (the branches') also sleep as one.
        let chained = traces(false, false);
        prop_assert_eq!(&chained.0, &reference.0, "chains asleep: the run cut short");
        prop_assert_eq!(&chained.1, &reference.1, "chains asleep: the whole run");
        prop_assert_eq!(&chained.3, &reference.3, "chains asleep: FIFO high-water marks");
        prop_assert_eq!(&fast.1.outputs, &outs, "the golden model's words\n{}", g);
        prop_assert_eq!(&fast.0, &reference.0);
        prop_assert_eq!(&fast.1, &reference.1);
        prop_assert_eq!(&fast.2, &reference.2, "every node's handshakes in the last run");
        prop_assert_eq!(&fast.3, &reference.3, "FIFO high-water marks");
    }

    /// The bypass FIFOs' rate margin keeps the slowest node's rate.
    #[test]
    fn residual_networks_keep_the_predicted_rate((m, f) in resnet()) {
        let g = fold::lower(&m, &f).expect("lower");
        prop_assert_eq!(steady(&m, &g, 4), g.cycles_per_frame() as u64, "{}", g);
    }
}

/// A stem and one identity block whose words need no converter on the bypass (the stem's PE is
/// the block's), so the bypass is the duplicate's register and the FIFO alone.
fn identity_block() -> (Model, Folding) {
    let ty = IntType { bits: 4, signed: true };
    let specs = [
        LayerSpec::QuantBinary(128),
        LayerSpec::Conv2dMulti {
            out: 4,
            kernel: 3,
            stride: 1,
            padding: Padding::Bit { amount: 1, bit: false },
            ty,
        },
        LayerSpec::Residual { out: 4, kernel: 3, stride: 1, pad_bit: true },
        LayerSpec::Dense(3),
    ];
    let m = random_model("id", Shape::new(6, 5, 1), &specs, 4).expect("model");
    let mut f = Folding::default();
    for (s, (pe, simd)) in fold::layer_shapes(&m).expect("shapes").iter().zip([(4, 1), (4, 4), (3, 8)]) {
        f.layers.insert(
            s.layer,
            LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Auto },
        );
    }
    (m, f)
}

/// The graph with the bypass FIFO at `depth`.
fn with_bypass_depth(g: &Graph, depth: usize) -> Graph {
    let mut g = g.clone();
    for n in &mut g.nodes {
        if let NodeKind::Add { bypass, .. } = &mut n.kind {
            if let Some(NodeKind::Fifo { depth: d, .. }) = bypass.last_mut().map(|b| &mut b.kind) {
                *d = depth;
            }
        }
    }
    g
}

#[test]
fn one_word_under_the_deadlock_free_depth_deadlocks() {
    let (m, f) = identity_block();
    let g = fold::lower(&m, &f).expect("lower");
    let add = g.nodes.iter().find(|n| matches!(n.kind, NodeKind::Add { .. })).expect("an add");
    assert_eq!(add.bypass().len(), 1, "the bypass is the FIFO alone\n{g}");
    let swu = g
        .nodes
        .iter()
        .find_map(|n| match &n.kind {
            NodeKind::Swu { cfg, .. } => Some(cfg.clone()),
            _ => None,
        })
        .expect("a window unit");
    let b = bypass_depth(&swu, 4, 4, true);
    // Two input rows of 5 pixels of one word: 10 words, one of them in the duplicate's register.
    assert_eq!((b.lag, b.held, b.deadlock_free()), (10, 1, 9));
    let images = stream::random_images(m.input.len(), 2, 3);
    let v = stream::vectors(&m, &g, &images).expect("vectors");
    let want = v.flat_expected();
    let run = |depth: usize| {
        let g = with_bypass_depth(&g, depth);
        let mut cm = CycleModel::new(&g, &m).expect("cycle model");
        let d = Drive { stalls: Stalls::default(), max_cycles: 20_000, stop_at: None };
        drive::run(&mut cm, &v.flat_inputs(), want.len(), &d).map(|t| (t, cm.fifo_high_water()))
    };
    // At the bound: the frames come out, and the FIFO fills to it.
    let (t, high) = run(b.deadlock_free()).expect("no deadlock at the bound");
    assert_eq!(t.outputs, want);
    let r = high.iter().find(|(n, _)| n.starts_with('R')).expect("bypass FIFO");
    assert_eq!(r.1, b.deadlock_free(), "the bound is reached: {high:?}");
    // One word under it: the duplicate waits for the bypass, the branch for its window's last
    // row, and the watchdog stops a run that would never end.
    match run(b.deadlock_free() - 1) {
        Err(DriveError::Watchdog { words_out, total_out, .. }) => {
            assert_eq!(words_out, 0, "nothing comes out");
            assert!(total_out > 0);
        }
        other => panic!("expected the watchdog, got {:?}", other.map(|(t, _)| t.outputs.len())),
    }
}
