//! The cycle model on convolutional networks (sliding-window units, max-pool units, MVTUs that
//! repeat per output pixel) and on k-bit activations (multi-threshold MVTUs, k-bit lanes and
//! pools) against the golden model, with random stalls, and its steady-state cycles per frame
//! against the dataflow graph's prediction.

use compiler::dataflow::fold::{self, Folding, LayerFold};
use compiler::dataflow::target::{Arch, Ice40Part};
use compiler::dataflow::traffic::Stalls;
use compiler::dataflow::{Graph, LaneInput, MemStyle, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{IntType, Model, Padding, Shape};
use proptest::prelude::*;
use sim::cycle::CycleModel;
use sim::drive::{self, Drive};
use sim::stream;

fn conv(out: usize, kernel: usize, stride: usize, padding: Padding) -> LayerSpec {
    LayerSpec::Conv2d { out, kernel, stride, padding }
}

/// A folding from `(PE, SIMD)` per binary layer.
fn folding(model: &Model, f: &[(usize, usize)]) -> Folding {
    let shapes = fold::layer_shapes(model).expect("shapes");
    assert_eq!(shapes.len(), f.len(), "one (PE, SIMD) per binary layer");
    let mut fo = Folding::default();
    for (s, &(pe, simd)) in shapes.iter().zip(f) {
        fo.layers.insert(
            s.layer,
            LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Auto },
        );
    }
    fo
}

/// Runs `frames` random images through the cycle model under `stalls`; returns the graph and the
/// cycles at which each output word left.
fn agrees(model: &Model, f: &Folding, frames: usize, stalls: Stalls, seed: u64) -> (Graph, Vec<u64>) {
    let g = fold::lower(model, f).expect("lower");
    let images = stream::random_images(model.input.len(), frames, seed);
    let v = stream::vectors(model, &g, &images).expect("vectors");
    let mut dut = CycleModel::new(&g, model).expect("cycle model");
    let expected = v.flat_expected();
    let d = Drive { stalls, max_cycles: 50_000_000, stop_at: None };
    let t = drive::run(&mut dut, &v.flat_inputs(), expected.len(), &d).expect("no deadlock");
    assert_eq!(t.outputs, expected, "cycle model against the golden model\n{g}");
    (g, t.out_cycles)
}

fn small_cnn(padding: Padding, stride: usize, seed: u64) -> Model {
    let specs = [
        LayerSpec::QuantBinary(128),
        conv(8, 3, 1, padding),
        conv(8, 3, stride, Padding::None),
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Dense(16),
        LayerSpec::Dense(10),
    ];
    random_model("cnn", Shape::new(12, 10, 2), &specs, seed).expect("model")
}

#[test]
fn conv_pool_dense_network_matches_golden_under_stalls() {
    let m = small_cnn(Padding::Bit { amount: 1, bit: true }, 1, 3);
    for (f, stall) in
        [(&[(2, 2), (4, 4), (4, 16), (2, 1)][..], 0.3), (&[(8, 1), (1, 8), (16, 32), (10, 16)][..], 0.0)]
    {
        let fo = folding(&m, f);
        agrees(&m, &fo, 3, Stalls { seed: 11, gap: stall, backpressure: stall }, 5);
    }
}

#[test]
fn strided_fixed8_and_table_first_layers_match_golden() {
    let m = small_cnn(Padding::Bit { amount: 1, bit: false }, 2, 4);
    agrees(
        &m,
        &folding(&m, &[(4, 2), (2, 8), (4, 8), (5, 4)]),
        3,
        Stalls { seed: 2, gap: 0.4, backpressure: 0.4 },
        6,
    );
    // An input table (signed or not) streams its values as the 8-bit elements fixed8 streams.
    for quant in [LayerSpec::QuantFixed8(false), LayerSpec::QuantTable(true), LayerSpec::QuantTable(false)] {
        let specs = [
            quant,
            conv(16, 3, 1, Padding::None),
            LayerSpec::MaxPool { kernel: 2, stride: 2 },
            conv(8, 3, 1, Padding::None),
            LayerSpec::Dense(10),
        ];
        let m = random_model("cnv-like", Shape::new(10, 10, 3), &specs, 7).expect("model");
        let (g, _) = agrees(
            &m,
            &folding(&m, &[(4, 3), (4, 16), (2, 8)]),
            3,
            Stalls { seed: 9, gap: 0.3, backpressure: 0.3 },
            8,
        );
        let signed = quant == LayerSpec::QuantTable(true);
        assert_eq!(g.mvtus().next().expect("an MVTU").input, LaneInput::Int { bits: 8, signed }, "{quant:?}");
    }
}

#[test]
fn steady_state_frame_time_is_the_slowest_node() {
    let m = small_cnn(Padding::None, 1, 5);
    for f in [[(2, 2), (4, 4), (4, 16), (2, 1)], [(8, 2), (2, 8), (16, 8), (5, 16)]] {
        let fo = folding(&m, &f);
        let (g, out) = agrees(&m, &fo, 6, Stalls { seed: 0, gap: 0.0, backpressure: 0.0 }, 1);
        // One output word per frame (argmax): the last frames' spacing is the frame time.
        let n = out.len();
        assert_eq!(out[n - 1] - out[n - 2], g.cycles_per_frame() as u64, "{g}");
        assert_eq!(out[n - 2] - out[n - 3], g.cycles_per_frame() as u64, "{g}");
    }
}

/// The folding `picks` choose: PE and SIMD of layer `i` among their legal values, by
/// `picks[2i]` and `picks[2i + 1]`.
fn picked(m: &Model, picks: &[usize]) -> Folding {
    let shapes = fold::layer_shapes(m).expect("shapes");
    let f: Vec<(usize, usize)> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let pes = compiler::dataflow::divisors(s.mh);
            let simds = s.legal_simd();
            (pes[picks[2 * i] % pes.len()], simds[picks[2 * i + 1] % simds.len()])
        })
        .collect();
    folding(m, &f)
}

fn padding() -> impl Strategy<Value = Padding> {
    prop_oneof![Just(Padding::None), (any::<bool>()).prop_map(|bit| Padding::Bit { amount: 1, bit })]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random small CNNs, random legal foldings, random stalls: the cycle model gives the golden
    /// model's words.
    #[test]
    fn random_cnns_match_golden(
        side in 5usize..11,
        c0 in 1usize..4,
        c1 in prop::sample::select(vec![2usize, 4, 6, 8]),
        c2 in prop::sample::select(vec![2usize, 4, 8]),
        k in 1usize..4,
        stride in 1usize..3,
        pad in padding(),
        pool in any::<bool>(),
        fixed8 in any::<bool>(),
        seed in 0u64..1000,
        picks in prop::collection::vec(0usize..64, 8),
        stall in 0.0f64..0.5,
    ) {
        let pad = if fixed8 || k == 1 { Padding::None } else { pad };
        let mut specs = vec![if fixed8 { LayerSpec::QuantFixed8(true) } else { LayerSpec::QuantBinary(100) }];
        specs.push(conv(c1, k, stride, pad));
        if pool {
            specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
        }
        specs.push(conv(c2, 2, 1, Padding::None));
        specs.push(LayerSpec::Dense(6));
        let m = random_model("p", Shape::new(side, side + 1, c0), &specs, seed);
        // Windows that do not fit the shrinking frame are no network: drawn again.
        prop_assume!(m.is_ok());
        let m = m.expect("model");
        let f = picked(&m, &picks);
        agrees(&m, &f, 2, Stalls { seed, gap: stall, backpressure: stall }, seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random small CNNs and foldings without stalls: the steady-state frame time is the slowest
    /// node's, as the graph predicts.
    #[test]
    fn random_cnns_run_at_the_predicted_rate(
        side in 6usize..11,
        c1 in prop::sample::select(vec![2usize, 4, 8]),
        k in 2usize..4,
        stride in 1usize..3,
        pool in any::<bool>(),
        act in prop::option::of(int_type()),
        seed in 0u64..1000,
        picks in prop::collection::vec(0usize..64, 8),
    ) {
        // A k-bit first convolution (and max-pool) streams k-bit words at the same rate.
        let conv1 = match act {
            Some(ty) => LayerSpec::Conv2dMulti { out: c1, kernel: k, stride, padding: Padding::None, ty },
            None => conv(c1, k, stride, Padding::None),
        };
        let mut specs = vec![LayerSpec::QuantBinary(100), conv1];
        if pool {
            specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
        }
        specs.push(conv(4, 2, 1, Padding::None));
        specs.push(LayerSpec::Dense(6));
        let m = random_model("p", Shape::new(side, side, 2), &specs, seed);
        prop_assume!(m.is_ok());
        let m = m.expect("model");
        let f = picked(&m, &picks);
        let (g, out) = agrees(&m, &f, 6, Stalls { seed, gap: 0.0, backpressure: 0.0 }, seed);
        let n = out.len();
        prop_assert_eq!(out[n - 1] - out[n - 2], g.cycles_per_frame() as u64, "{}", g);
    }
}

/// The streaming driver gives the cycle of every frame's end that the holding driver gives, on
/// the same words and stalls, counts a corrupted expected word as one mismatch, and fails a
/// source that asks for more words than come out.
#[test]
fn streaming_run_matches_the_holding_run() {
    let model = small_cnn(Padding::Bit { amount: 1, bit: true }, 1, 5);
    let f = folding(&model, &[(2, 2), (4, 4), (4, 16), (2, 1)]);
    let stalls = Stalls { gap: 0.3, backpressure: 0.3, seed: 9 };
    let (g, out_cycles) = agrees(&model, &f, 5, stalls, 3);
    let images = stream::random_images(model.input.len(), 5, 3);
    let v = stream::vectors(&model, &g, &images).expect("vectors");
    let per_frame = v.expected[0].len();
    let run = |expected: Vec<stream::Words>| {
        let mut dut = CycleModel::new(&g, &model).expect("cycle model");
        let mut frames = v.inputs.clone().into_iter().zip(expected).map(Ok::<_, ()>);
        let mut ends = Vec::new();
        let d = drive::StreamDrive { stalls, idle_limit: 100_000 };
        let st = drive::run_streaming(&mut dut, &mut frames, &d, &mut |f| {
            ends.push((f.index, f.last_out, f.first_in, f.outputs.to_vec()))
        })
        .expect("no source error");
        (st, ends)
    };
    let (st, ends) = run(v.expected.clone());
    let st = st.expect("no deadlock");
    assert_eq!((st.frames, st.words, st.mismatches), (5, 5 * per_frame, 0));
    let want: Vec<(usize, u64)> =
        out_cycles.iter().skip(per_frame - 1).step_by(per_frame).copied().enumerate().collect();
    assert_eq!(ends.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(), want);
    // Each frame's own words come back with it, and its first input word precedes its output;
    // frames enter in order.
    for (i, e) in ends.iter().enumerate() {
        assert_eq!(e.3, v.expected[i], "frame {i}'s output words");
        assert!(e.2 < e.1, "frame {i}: first input at {} before the last output at {}", e.2, e.1);
    }
    assert_eq!(Some(ends[0].2), st.first_in_cycle);
    assert!(ends.windows(2).all(|w| w[0].2 < w[1].2), "first inputs ascend");
    let mut bad = v.expected.clone();
    bad[2][0][0] ^= 1;
    let (st, _) = run(bad);
    let st = st.expect("no deadlock");
    assert_eq!(st.mismatches, 1);
    assert_eq!(st.first_mismatch.expect("one").0, 2 * per_frame);
    let mut more = v.expected.clone();
    more[4].push(vec![0]);
    let (st, _) = run(more);
    assert!(matches!(st, Err(drive::DriveError::Watchdog { .. })), "a missing word is a watchdog failure");
}

/// A random k-bit activation type: k = 2..=4, signed or not.
fn int_type() -> impl Strategy<Value = IntType> {
    (2u8..=4, any::<bool>()).prop_map(|(bits, signed)| IntType { bits, signed })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random k-bit networks (a CNN with k-bit convolutions and a k-bit max-pool, or an MLP;
    /// binary or 8-bit first layers; random bias and levels from `random_multi`), random legal
    /// foldings and stalls: the cycle model gives the golden model's words.
    #[test]
    fn random_kbit_networks_match_golden(
        cnn in any::<bool>(),
        side in 5usize..9,
        c1 in prop::sample::select(vec![2usize, 4, 6]),
        tys in prop::collection::vec(int_type(), 3),
        binary_mask in 0u8..8,
        pool in any::<bool>(),
        fixed8 in any::<bool>(),
        seed in 0u64..1000,
        picks in prop::collection::vec(0usize..64, 8),
        stall in 0.0f64..0.5,
    ) {
        // Each hidden layer is k-bit unless its bit of `binary_mask` says binary (1 in 8 all binary).
        let act = |i: usize| (binary_mask >> i & 1 == 0).then_some(tys[i]);
        let layer = |i: usize, out: usize| match act(i) {
            Some(ty) => LayerSpec::DenseMulti { out, ty },
            None => LayerSpec::Dense(out),
        };
        let conv_k = |i: usize, out: usize, k: usize| match act(i) {
            Some(ty) => LayerSpec::Conv2dMulti { out, kernel: k, stride: 1, padding: Padding::None, ty },
            None => conv(out, k, 1, Padding::None),
        };
        let mut specs = vec![if fixed8 { LayerSpec::QuantFixed8(seed % 2 == 0) } else { LayerSpec::QuantBinary(100) }];
        let shape = if cnn {
            specs.push(conv_k(0, c1, 2));
            if pool {
                specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
            }
            specs.push(conv_k(1, 4, 2));
            specs.push(layer(2, 6));
            Shape::new(side, side, 2)
        } else {
            specs.push(layer(0, [8, 12, 16][picks[7] % 3]));
            specs.push(layer(1, c1 * 2));
            Shape::new(1, 1, 4 * side)
        };
        specs.push(LayerSpec::Dense(5));
        let m = random_model("k", shape, &specs, seed);
        prop_assume!(m.is_ok());
        let m = m.expect("model");
        let f = picked(&m, &picks);
        agrees(&m, &f, 2, Stalls { seed, gap: stall, backpressure: stall }, seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The fast cycle model (units asleep while nothing changes at their ports, each MVTU pass
    /// accumulated at its last word from the packed vector) against the per-cycle reference:
    /// the same handshake, word and cycle on every node's output, on random binary and k-bit
    /// networks (CNNs with or without a max-pool, and MLPs wide enough for many passes of many
    /// words; binary or 8-bit inputs), random legal foldings and stall patterns (none, rare,
    /// frequent), with a reset in the middle of the second frame and a third run after it.
    #[test]
    fn fast_and_per_cycle_models_give_identical_traces(
        cnn in any::<bool>(),
        side in 5usize..9,
        c1 in prop::sample::select(vec![2usize, 4, 6]),
        ty in prop::option::of(int_type()),
        fixed8 in any::<bool>(),
        pool in any::<bool>(),
        wide in any::<bool>(),
        seed in 0u64..1000,
        picks in prop::collection::vec(0usize..64, 8),
        stall in prop_oneof![Just(0.0f64), 0.0f64..0.05, 0.0f64..0.5],
        cut in 0.3f64..0.9,
        ice40 in any::<bool>(),
    ) {
        let mut specs = vec![if fixed8 { LayerSpec::QuantFixed8(seed % 2 == 0) } else { LayerSpec::QuantBinary(100) }];
        let shape = if cnn {
            specs.push(match ty {
                Some(ty) => LayerSpec::Conv2dMulti { out: c1, kernel: 2, stride: 1, padding: Padding::None, ty },
                None => conv(c1, 2, 1, Padding::None),
            });
            if pool {
                specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
            }
            specs.push(conv(4, 2, 1, Padding::None));
            Shape::new(side, side, 2)
        } else {
            // Wide layers: passes of many words, and many passes per vector.
            let out = if wide { 16 * c1 } else { c1 * 2 };
            specs.push(match ty {
                Some(ty) => LayerSpec::DenseMulti { out, ty },
                None => LayerSpec::Dense(out),
            });
            if wide {
                specs.push(LayerSpec::Dense(32));
            }
            Shape::new(1, 1, if wide { 32 * side } else { 4 * side })
        };
        specs.push(LayerSpec::Dense(5));
        let m = random_model("f", shape, &specs, seed);
        prop_assume!(m.is_ok());
        let m = m.expect("model");
        // iCE40 designs pipeline every MVTU after its lanes (legalize's stages).
        let arch = ice40.then_some(Arch::Ice40(Ice40Part::Up5k));
        let g = fold::lower_for(&m, &picked(&m, &picks), arch).expect("lower");
        let v = stream::vectors(&m, &g, &stream::random_images(m.input.len(), 3, seed)).expect("vectors");
        let (ins, outs) = (v.flat_inputs(), v.flat_expected());
        let stalls = Stalls { seed, gap: stall, backpressure: stall };
        let traces = |per_cycle: bool, record: bool| {
            let mut dut = CycleModel::new(&g, &m).expect("cycle model");
            dut.set_per_cycle(per_cycle);
            if record {
                dut.record_streams();
            }
            // Abandon the run inside the second frame, then run everything again after the reset.
            let full = drive::run(&mut dut, &ins, outs.len(), &Drive { stalls, max_cycles: 10_000_000, stop_at: None })
                .expect("no deadlock");
            let stop = (full.out_cycles[outs.len() / 3] as f64 * (1.0 + cut)) as u64;
            let cut_run = drive::run(&mut dut, &ins, outs.len(), &Drive { stalls, max_cycles: 10_000_000, stop_at: Some(stop) })
                .expect("stopped");
            let again = drive::run(&mut dut, &ins, outs.len(), &Drive { stalls, max_cycles: 10_000_000, stop_at: None })
                .expect("no deadlock after the reset");
            (full, cut_run, again, dut.streams().to_vec())
        };
        let (fast, reference) = (traces(false, true), traces(true, true));
        // Without recording, window unit -> FIFO -> MVTU chains also sleep as one (the model
        // keeps them awake while it records every node's handshakes): the same ports.
        let chained = traces(false, false);
        prop_assert_eq!(&chained.0, &reference.0, "chains asleep: the whole run");
        prop_assert_eq!(&chained.1, &reference.1, "chains asleep: the run cut short");
        prop_assert_eq!(&chained.2, &reference.2, "chains asleep: the run after the reset");
        prop_assert_eq!(&fast.0.outputs, &outs, "the golden model's words");
        prop_assert_eq!(&fast.0, &reference.0);
        prop_assert_eq!(&fast.1, &reference.1);
        prop_assert_eq!(&fast.2, &reference.2);
        prop_assert_eq!(&fast.3, &reference.3, "every node's handshakes in the last run");
    }
}

/// Width converters that fill their output word with a word taken asleep, fed by MVTUs whose
/// passes run alone, over many frames: the word taken at a run alone's end (before the edge
/// pass) becomes valid to an awake consumer only from the next cycle. The fast model gives the
/// per-cycle reference's trace and the golden model's words.
#[test]
fn converters_completing_words_asleep_match_the_reference_over_many_frames() {
    let specs =
        [LayerSpec::QuantFixed8(true), LayerSpec::Dense(32), LayerSpec::Dense(32), LayerSpec::Dense(10)];
    let m = random_model("w", Shape::new(1, 1, 64), &specs, 9).expect("model");
    let g = fold::lower_for(&m, &folding(&m, &[(8, 16), (4, 16), (2, 8)]), None).expect("lower");
    assert!(g.nodes.iter().any(|n| matches!(n.kind, compiler::dataflow::NodeKind::WidthConverter { .. })));
    let v = stream::vectors(&m, &g, &stream::random_images(m.input.len(), 11, 5)).expect("vectors");
    let (ins, outs) = (v.flat_inputs(), v.flat_expected());
    let run = |per_cycle: bool| {
        let mut dut = CycleModel::new(&g, &m).expect("cycle model");
        dut.set_per_cycle(per_cycle);
        let d = Drive { stalls: Stalls::default(), max_cycles: 1_000_000, stop_at: None };
        drive::run(&mut dut, &ins, outs.len(), &d).expect("no deadlock")
    };
    let (fast, reference) = (run(false), run(true));
    assert_eq!(reference.outputs, outs, "the golden model's words");
    assert_eq!(fast, reference);
}
