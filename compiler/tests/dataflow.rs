//! The dataflow IR and the pass pipeline:
//! - Text form: every graph the pipeline makes from a random model under a random valid folding
//!   (legalized or not) prints as text that parses back to the same graph and the same text.
//! - Parse errors name the line.
//! - The verifier runs after every pass on those graphs (a failure is a bug in that pass).
//! - Folding files keep their JSON form, keyed `L<index>`.

use compiler::dataflow::fold::{self, Folding, LayerFold};
use compiler::dataflow::{DataflowError, Graph, MemStyle, NodeKind, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{IntType, LayerId, Model, OutputMode, Padding, Shape};
use compiler::passes::{self, Options};
use proptest::prelude::*;
use proptest::sample::Index;

/// A convolution with a binary or (when `act` is some) k-bit activation; padded only when
/// `allow_padding`.
fn arb_conv(allow_padding: bool) -> impl Strategy<Value = LayerSpec> {
    (1usize..=9, 1usize..=3, 1usize..=2, 0usize..3, any::<bool>(), arb_act()).prop_map(
        move |(out, kernel, stride, amount, bit, act)| {
            let padding =
                if allow_padding && amount < kernel { Padding::Bit { amount, bit } } else { Padding::None };
            match act {
                Some(ty) => LayerSpec::Conv2dMulti { out, kernel, stride, padding, ty },
                None => LayerSpec::Conv2d { out, kernel, stride, padding },
            }
        },
    )
}

/// A layer's activation: binary (`None`, as likely as not) or a k-bit integer, k = 2..=4.
fn arb_act() -> impl Strategy<Value = Option<IntType>> {
    prop::option::of((2u8..=4, any::<bool>()).prop_map(|(bits, signed)| IntType { bits, signed }))
}

/// A dense layer, binary or k-bit.
fn arb_dense() -> impl Strategy<Value = LayerSpec> {
    (arb_width(), arb_act()).prop_map(|(out, act)| match act {
        Some(ty) => LayerSpec::DenseMulti { out, ty },
        None => LayerSpec::Dense(out),
    })
}

/// Whether a layer spec outputs integers (so that the next convolution cannot be padded).
fn int_output(s: &LayerSpec, before: bool) -> bool {
    match s {
        LayerSpec::Conv2dMulti { .. } | LayerSpec::DenseMulti { .. } => true,
        LayerSpec::QuantFixed8(_) | LayerSpec::QuantTable(_) => true,
        LayerSpec::MaxPool { .. } => before,
        _ => false,
    }
}

/// The max-pool unit takes windows with stride = kernel.
fn arb_pool() -> impl Strategy<Value = LayerSpec> {
    (1usize..=2).prop_map(|k| LayerSpec::MaxPool { kernel: k, stride: k })
}

fn arb_width() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..=140, Just(64), Just(1024)]
}

/// An input quantizer: binary, 8-bit or a table.
fn arb_quant() -> impl Strategy<Value = LayerSpec> {
    prop_oneof![
        any::<u8>().prop_map(LayerSpec::QuantBinary),
        any::<bool>().prop_map(LayerSpec::QuantFixed8),
        any::<bool>().prop_map(LayerSpec::QuantTable),
    ]
}

fn arb_model() -> impl Strategy<Value = Model> {
    let specs = (
        (2usize..=10, 2usize..=10, 1usize..=4),
        arb_quant(),
        prop::option::of((arb_conv(true), prop::option::of(arb_pool()), prop::option::of(arb_conv(true)))),
        prop::collection::vec(arb_dense(), 0..=2),
        1usize..=12,
    );
    (specs, any::<u64>(), "[a-zA-Z0-9 \"\\\\é]{0,10}", any::<bool>()).prop_filter_map(
        "the layers do not fit the input",
        |(((h, w, c), quant, convs, hidden, classes), seed, name, scores)| {
            let mut specs = vec![quant];
            if let Some((conv, pool, conv2)) = convs {
                specs.push(conv);
                specs.extend(pool);
                specs.extend(conv2);
            }
            // An integer input has no padding bit: such a convolution is drawn unpadded.
            let mut int = false;
            for s in specs.iter_mut() {
                if let (true, LayerSpec::Conv2d { padding, .. } | LayerSpec::Conv2dMulti { padding, .. }) =
                    (int, &mut *s)
                {
                    *padding = Padding::None;
                }
                int = int_output(s, int);
            }
            specs.extend(hidden);
            specs.push(LayerSpec::Dense(classes));
            let mut model = random_model(&name, Shape::new(h, w, c), &specs, seed).ok()?;
            model.output = if scores { OutputMode::Scores } else { OutputMode::Argmax };
            Some(model)
        },
    )
}

/// A model and a random legal folding of it: PE and SIMD among each layer's divisors, any
/// popcount structure and memory style.
fn arb_folded() -> impl Strategy<Value = (Model, Folding)> {
    (arb_model(), prop::collection::vec((any::<Index>(), any::<Index>(), any::<bool>(), 0u8..3), 8))
        .prop_filter_map("no folding of these layers lowers", |(model, picks)| {
            let shapes = fold::layer_shapes(&model).ok()?;
            let mut folding = Folding::default();
            for (s, (pe, simd, tree, mem)) in shapes.iter().zip(picks.iter().cycle()) {
                let pes = compiler::dataflow::divisors(s.mh);
                let simds = s.legal_simd();
                let lf = LayerFold {
                    pe: *pe.get(&pes),
                    simd: *simd.get(&simds),
                    popcount: if *tree { Popcount::AdderTree } else { Popcount::Compressor },
                    mem_style: [MemStyle::Auto, MemStyle::Block, MemStyle::Distributed][*mem as usize],
                };
                folding.layers.insert(s.layer, lf);
            }
            // Convolutions whose output is too small for a window are refused by lowering.
            passes::compile(&model, &folding).ok()?;
            Some((model, folding))
        })
}

fn round_trip(g: &Graph) -> Result<(), TestCaseError> {
    let text = g.to_string();
    let back = Graph::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(&back, g, "{}", text);
    prop_assert_eq!(back.to_string(), text.clone());
    let via_from_str: Graph = text.parse().map_err(|e: DataflowError| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&via_from_str, g);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn text_form_round_trips_and_every_pass_verifies((model, folding) in arb_folded()) {
        // The verifier after every pass: an error here is a bug in the pass it names.
        let g = passes::run(&model, &folding, Options { verify_each: true, arch: None })
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        g.verify_legal().map_err(|e| TestCaseError::fail(e.to_string()))?;
        round_trip(&g)?;
        // Before legalization the decisions are absent, and the text says so.
        let mut bare = g.clone();
        for n in &mut bare.nodes {
            if let NodeKind::Mvtu { hw, .. } = &mut n.kind {
                *hw = None;
            }
        }
        prop_assert!(!bare.to_string().contains("latency="));
        round_trip(&bare)?;
        // The serde form round-trips too.
        let json = serde_json::to_string(&g).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Graph = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, g);
    }
}

fn small() -> (Model, Folding) {
    let specs = [
        LayerSpec::QuantBinary(128),
        LayerSpec::Conv2d { out: 4, kernel: 3, stride: 1, padding: Padding::Bit { amount: 1, bit: true } },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Dense(10),
    ];
    let mut model = random_model("small", Shape::new(6, 6, 2), &specs, 1).expect("model");
    model.output = OutputMode::Argmax;
    let f: Folding =
        serde_json::from_str(r#"{"layers": {"L1": {"pe": 2, "simd": 2}, "L3": {"pe": 5, "simd": 4}}}"#)
            .expect("folding");
    (model, f)
}

#[test]
fn the_text_form_shows_every_kind_and_the_legalized_decisions() {
    let (model, f) = small();
    let g = fold::lower(&model, &f).expect("lower");
    let text = g.to_string();
    let kinds: Vec<&str> = text.lines().skip(1).map(|l| l.split_whitespace().nth(1).unwrap_or("")).collect();
    assert_eq!(
        kinds,
        ["swu", "fifo", "mvtu", "maxpool", "width-converter", "fifo", "mvtu", "argmax"],
        "{text}"
    );
    assert!(text.starts_with("dataflow \"small\": "), "{text}");
    assert!(text.contains("wmem=distributed columns=2 trom=address latency=2"), "{text}");
    assert_eq!(Graph::parse(&text).expect("parse"), g);
}

fn edit_line(text: &str, line: usize, f: impl FnOnce(&str) -> String) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[line - 1] = f(&lines[line - 1]);
    lines.join("\n") + "\n"
}

#[test]
fn parse_errors_name_the_line() {
    let (model, f) = small();
    let text = fold::lower(&model, &f).expect("lower").to_string();
    let line_of = |kind: &str| 1 + text.lines().position(|l| l.contains(kind)).expect("kind");
    let cases: Vec<(usize, String, &str)> = vec![
        (1, edit_line(&text, 1, |_| "graph".into()), "dataflow"),
        (1, edit_line(&text, 1, |l| l.replace("cycles/frame", "cycles")), "read back"),
        (
            line_of("fifo"),
            edit_line(&text, line_of("fifo"), |l| l.replace("depth=", "deep=")),
            "missing depth=",
        ),
        (
            line_of("fifo"),
            edit_line(&text, line_of("fifo"), |l| l.replace("fifo", "lifo")),
            "unknown node kind",
        ),
        (line_of("swu"), edit_line(&text, line_of("swu"), |l| l.replace("ring=", "rung=")), "missing ring="),
        (line_of("swu"), edit_line(&text, line_of("swu"), |l| l.replace(" cycles]", "]")), "cycles]"),
        (
            line_of("argmax"),
            edit_line(&text, line_of("argmax"), |l| l.replace("scores of", "scores at")),
            "argmax",
        ),
        // A value that follows from the others must agree with them.
        (line_of("swu"), edit_line(&text, line_of("swu"), |l| l.replace("ring=6", "ring=7")), "read back"),
        (line_of("mvtu"), edit_line(&text, line_of("mvtu"), |l| l.replace("pe=2", "pe=3")), "legal PE"),
        (
            line_of("mvtu"),
            edit_line(&text, line_of("mvtu"), |l| l.replace("input=binary", "input=ternary")),
            "input=ternary",
        ),
        (
            line_of("mvtu"),
            edit_line(&text, line_of("mvtu"), |l| l.replace("trom=address", "trom=word")),
            "legalizer",
        ),
        // A FIFO that is fine alone but does not take what the window unit gives.
        (
            line_of("fifo"),
            edit_line(&text, line_of("fifo"), |l| {
                format!("{}  [162x4b -> 162x4b, 162 cycles]", l.split("  [").next().unwrap_or(""))
            }),
            "F1 takes 162 words of 4 bits, S1 gives 324 of 2",
        ),
    ];
    for (line, bad, needle) in cases {
        let e = Graph::parse(&bad).expect_err(needle);
        assert!(matches!(e, DataflowError::Parse { line: l, .. } if l == line), "line {line}: {e}\n{bad}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
}

#[test]
fn folding_files_keep_their_json_form() {
    let text = r#"{"layers":{"L1":{"pe":2,"simd":2,"popcount":"compressor","mem_style":"auto"},"L10":{"pe":1,"simd":1,"popcount":"adder-tree","mem_style":"block"}}}"#;
    let f: Folding = serde_json::from_str(text).expect("folding");
    assert_eq!(f.layers.keys().copied().collect::<Vec<_>>(), [LayerId(1), LayerId(10)]);
    assert_eq!(serde_json::to_string(&f).expect("json"), text);
    for bad in ["l1", "L01", "L", "Lx", "conv1"] {
        let e = serde_json::from_str::<Folding>(&format!(r#"{{"layers":{{"{bad}":{{"pe":1,"simd":1}}}}}}"#))
            .expect_err(bad)
            .to_string();
        assert!(e.contains(bad) && e.contains("L1, L2"), "{bad}: {e}");
    }
    // A layer the model does not have is named with the ones it has.
    let (model, _) = small();
    let f: Folding = serde_json::from_str(r#"{"layers": {"L2": {"pe": 1, "simd": 1}}}"#).expect("folding");
    let e = fold::lower(&model, &f).expect_err("L2 is the pool");
    assert_eq!(e, DataflowError::UnknownLayer { layer: LayerId(2), known: vec![LayerId(1), LayerId(3)] });
    assert!(
        e.to_string().contains("layer L2, which the model does not have (its binary layers: L1, L3)"),
        "{e}"
    );
}

/// A k-bit network: every unit reads the integer type its producer streams (through a max-pool),
/// the multi-threshold fields show in the text form, which reads back, and a graph written before
/// integer elements (`fixed8`, a pool's `bits`) still reads.
#[test]
fn kbit_layers_thread_their_integer_type() {
    let int = |bits, signed| IntType { bits, signed };
    let specs = [
        LayerSpec::QuantFixed8(true),
        LayerSpec::Conv2dMulti { out: 4, kernel: 2, stride: 1, padding: Padding::None, ty: int(2, true) },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Conv2dMulti { out: 6, kernel: 2, stride: 1, padding: Padding::None, ty: int(3, false) },
        LayerSpec::DenseMulti { out: 8, ty: int(4, false) },
        LayerSpec::Dense(5),
    ];
    let model = random_model("k", Shape::new(7, 7, 3), &specs, 5).expect("model");
    let mut f = Folding::default();
    for (layer, pe, simd) in [(1, 2, 3), (3, 3, 2), (4, 4, 3), (5, 5, 8)] {
        let lf = LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Auto };
        f.layers.insert(LayerId(layer), lf);
    }
    let g = passes::run(&model, &f, Options { verify_each: true, arch: None }).expect("compile");
    let inputs: Vec<String> =
        g.mvtus().map(|c| c.input.int_type().map_or("binary".into(), |t| t.to_string())).collect();
    assert_eq!(inputs, ["int8", "int2", "uint3", "uint4"], "{g}");
    let pool = g
        .nodes
        .iter()
        .find_map(|n| match &n.kind {
            NodeKind::Pool { cfg } => Some(cfg.clone()),
            _ => None,
        })
        .expect("a pool");
    assert_eq!((pool.elem_bits, pool.signed, pool.simd), (2, true, 2), "{g}");
    let text = g.to_string();
    assert!(text.contains("output=multi act=int2 bias=") && text.contains("elem=int2"), "{text}");
    assert_eq!(Graph::parse(&text).expect("parse"), g);
    let json = serde_json::to_string(&g).expect("json");
    assert_eq!(serde_json::from_str::<Graph>(&json).expect("serde"), g);
    // An edited multi field is refused with its line.
    let line = 1 + text.lines().position(|l| l.contains("act=int2")).expect("multi line");
    for (from, to, needle) in [("act=int2", "act=int9", "2 to 8 bits"), ("act=int2", "act=i2", "act=i2")] {
        let e = Graph::parse(&edit_line(&text, line, |l| l.replace(from, to))).expect_err(to).to_string();
        assert!(e.contains(&format!("line {line}")) && e.contains(needle), "{to}: {e}");
    }
    // The serde form before k-bit inputs: `fixed8` lanes and a pool's `bits`.
    let (binary, bf) = small();
    let bg = fold::lower(&binary, &bf).expect("lower");
    let old = serde_json::to_string(&bg)
        .expect("json")
        .replace("\"simd\":2,\"elem_bits\":1,\"signed\":false", "\"bits\":2");
    assert!(old.contains("\"bits\":2"), "{old}");
    assert_eq!(serde_json::from_str::<Graph>(&old).expect("old pool"), bg);
    let (q8, qf) = {
        let specs = [LayerSpec::QuantFixed8(false), LayerSpec::Dense(4), LayerSpec::Dense(2)];
        let m = random_model("q", Shape::new(1, 1, 6), &specs, 2).expect("model");
        let f =
            serde_json::from_str(r#"{"layers": {"L1": {"pe": 2, "simd": 3}, "L2": {"pe": 1, "simd": 2}}}"#)
                .expect("folding");
        (m, f)
    };
    let qg = fold::lower(&q8, &qf).expect("lower");
    let json = serde_json::to_string(&qg).expect("json");
    let old = json.replace(r#"{"int":{"bits":8,"signed":false}}"#, r#"{"fixed8":{"signed":false}}"#);
    assert_ne!(old, json);
    assert_eq!(serde_json::from_str::<Graph>(&old).expect("old input"), qg);
}

/// The verifier follows the element type along the pipeline: a unit that reads another type
/// than its producer streams (words of the same width) is refused, naming it.
#[test]
fn a_unit_reading_another_element_type_is_refused() {
    let int = |bits, signed| IntType { bits, signed };
    let specs = [
        LayerSpec::QuantBinary(9),
        LayerSpec::Conv2dMulti { out: 4, kernel: 2, stride: 1, padding: Padding::None, ty: int(2, true) },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::DenseMulti { out: 6, ty: int(3, false) },
        LayerSpec::Dense(3),
    ];
    let model = random_model("e", Shape::new(5, 5, 2), &specs, 3).expect("model");
    let f: Folding = serde_json::from_str(
        r#"{"layers": {"L1": {"pe": 4, "simd": 2}, "L3": {"pe": 6, "simd": 4}, "L4": {"pe": 3, "simd": 6}}}"#,
    )
    .expect("folding");
    let g = fold::lower(&model, &f).expect("lower");
    let text = g.to_string();
    for (kind, from, to, needle) in [
        ("maxpool", "elem=int2", "elem=uint2", "P2 reads uint2, its producer streams int2"),
        ("layer=3", "input=int2", "input=uint2", "L3 reads uint2, its producer streams int2"),
    ] {
        let line = 1 + text.lines().position(|l| l.contains(kind)).expect("line");
        let bad = edit_line(&text, line, |l| l.replace(from, to));
        assert_ne!(bad, text, "{from}");
        let e = Graph::parse(&bad).expect_err(to).to_string();
        assert!(e.contains(needle), "{to}: {e}\n{bad}");
    }
}

/// A stem and two residual blocks (identity, then downsampling with a pool-and-pad shortcut)
/// under a folding whose word shapes differ between the branch and the bypass.
fn resnet_graph() -> (Model, Graph) {
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
        LayerSpec::Residual { out: 8, kernel: 3, stride: 2, pad_bit: false },
        LayerSpec::Dense(3),
    ];
    let m = random_model("res", Shape::new(6, 6, 1), &specs, 2).expect("model");
    let mut f = Folding::default();
    for (i, (pe, simd)) in [(1, (2, 1)), (2, (4, 2)), (3, (2, 4)), (4, (3, 8))] {
        f.layers.insert(
            LayerId(i),
            LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Auto },
        );
    }
    let g = passes::run(&m, &f, Options { verify_each: true, arch: None }).expect("compiles");
    (m, g)
}

#[test]
fn residual_blocks_lower_to_a_series_parallel_graph_that_reads_back() {
    let (_, g) = resnet_graph();
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    // Main path: duplicate, sign, converter, window, FIFO, MVTU, add, per block.
    for want in ["D2", "B2", "S2", "F2", "L2", "A2", "D3", "B3", "S3", "L3", "A3"] {
        assert!(names.contains(&want), "{want} in {names:?}\n{g}");
    }
    let bypass = |name: &str| -> Vec<String> {
        g.nodes
            .iter()
            .find(|n| n.name == name)
            .expect("add")
            .bypass()
            .iter()
            .map(|b| b.name.clone())
            .collect()
    };
    // Identity block: stem words of 2 elements, add words of 4: a converter, then the FIFO.
    assert_eq!(bypass("A2"), ["X2_0", "R2"], "\n{g}");
    // Downsampling: pool, pad, a converter to the add's 2-element words, the FIFO.
    let b3 = bypass("A3");
    assert!(
        b3.starts_with(&["Q3".to_string()])
            && b3.contains(&"C3".to_string())
            && b3.last().map(String::as_str) == Some("R3"),
        "{b3:?}\n{g}"
    );
    let text = g.to_string();
    assert!(
        text.contains("  A2       add layer=2 int4  [") && text.contains("\n    <- R2       fifo depth="),
        "{text}"
    );
    assert_eq!(Graph::parse(&text).expect("parses"), g);
    let json = serde_json::to_string(&g).expect("json");
    assert_eq!(serde_json::from_str::<Graph>(&json).expect("reads back"), g);
}

#[test]
fn the_verifier_checks_every_edge_of_a_residual_graph() {
    let (_, g) = resnet_graph();
    let broken = |f: &dyn Fn(&mut Graph)| {
        let mut h = g.clone();
        f(&mut h);
        h.verify().expect_err("broken").to_string()
    };
    let add = g.nodes.iter().position(|n| n.name == "A3").expect("add");
    // A bypass FIFO one word wider than the add's input.
    let e = broken(&|h| {
        if let NodeKind::Add { bypass, .. } = &mut h.nodes[add].kind {
            let r = bypass.last_mut().expect("fifo");
            (r.in_bits, r.out_bits) = (r.in_bits + 1, r.out_bits + 1);
        }
    });
    assert!(e.contains("R3"), "{e}");
    // An add without its duplicate.
    let dup = g.nodes.iter().position(|n| n.name == "D3").expect("dup");
    let e = broken(&|h| {
        h.nodes.remove(dup);
    });
    assert!(e.contains("duplicate") || e.contains("stream"), "{e}");
    // A bypass that drops the pool: frame lengths differ.
    let e = broken(&|h| {
        if let NodeKind::Add { bypass, .. } = &mut h.nodes[add].kind {
            bypass.remove(0);
        }
    });
    assert!(e.contains("stream"), "{e}");
    // An add of another element type than its inputs.
    let e = broken(&|h| {
        if let NodeKind::Add { ty, .. } = &mut h.nodes[add].kind {
            ty.bits = 2;
        }
    });
    assert!(e.contains("A3") || e.contains("int2"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Automatic folding under a cycle target keeps every node of the lowered graph within it
    /// (the slowest node sets the frame rate, the residual blocks' duplicate, sign, add and
    /// bypass nodes included), on plain and residual models and targets from the fastest design
    /// up.
    #[test]
    fn auto_folding_keeps_every_node_within_the_cycle_target(
        seed in 0u64..10_000,
        blocks in 0usize..=3,
        plain in arb_model(),
        residual in any::<bool>(),
        slack in 0u64..4,
        scale in 1u64..64,
    ) {
        let model = if residual {
            compiler::model::random::random_resnet(seed, blocks, 8)
                .map_err(|e| TestCaseError::fail(e.to_string()))?
        } else {
            plain
        };
        let fastest = fold::fastest_cycles(&model).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let target = fastest * scale + slack;
        let f = fold::auto_fold(&model, fold::FoldTarget::Cycles(target), Popcount::Compressor, MemStyle::Auto)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let g = fold::lower(&model, &f).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for n in g.all_nodes() {
            prop_assert!(n.cycles() as u64 <= target, "{} needs {} cycles > {target}\n{g}", n.name, n.cycles());
        }
        // The iCE40 folder under the same target: every node within it, or the part refused.
        let part = compiler::dataflow::target::Ice40Part::Hx8k;
        match fold::auto_fold_ice40(&model, part, Some(target), Popcount::Compressor, MemStyle::Auto) {
            Ok(f) => {
                let g = fold::lower(&model, &f).map_err(|e| TestCaseError::fail(e.to_string()))?;
                for n in g.all_nodes() {
                    prop_assert!(n.cycles() as u64 <= target, "iCE40: {} needs {} cycles > {target}\n{g}", n.name, n.cycles());
                }
            }
            Err(DataflowError::PartTooSmall(_)) => {}
            Err(e) => return Err(TestCaseError::fail(format!("iCE40: {e}"))),
        }
    }
}

/// A downsampling block that widens 4 or 1 channels to 160 or 40: its channel pad emits `C_out / p`
/// words of p elements per output pixel, p from its producer's PE, slower than the target at p = 1. The folder widens the producer's
/// words where that helps and otherwise says which node misses the target.
#[test]
fn a_channel_pad_slower_than_the_target_is_folded_around_or_named() {
    let ty = IntType { bits: 4, signed: true };
    let model = |stem: usize, out: usize| {
        let specs = [
            LayerSpec::QuantBinary(128),
            LayerSpec::Conv2dMulti {
                out: stem,
                kernel: 3,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: false },
                ty,
            },
            LayerSpec::Residual { out, kernel: 3, stride: 2, pad_bit: false },
            LayerSpec::Dense(3),
        ];
        random_model("pad", Shape::new(8, 8, 1), &specs, 3).expect("model")
    };
    let fold_at = |m: &Model, t: u64| {
        fold::auto_fold(m, fold::FoldTarget::Cycles(t), Popcount::Compressor, MemStyle::Auto)
    };
    // 4 channels to 160 at 2,304 cycles: the stem's cheapest folding (PE 1) makes the pad emit
    // 16 x 160 one-element words; at PE 2, 16 x 80.
    let m = model(4, 160);
    let t = fold::fastest_cycles(&m).expect("fastest") * 4;
    let g = fold::lower(&m, &fold_at(&m, t).expect("folds")).expect("lowers");
    let slowest = g.all_nodes().map(|n| n.cycles() as u64).max().expect("nodes");
    assert!(slowest <= t, "{slowest} > {t}\n{g}");
    // The iCE40 folder widens the same way.
    let part = compiler::dataflow::target::Ice40Part::Hx8k;
    let f =
        fold::auto_fold_ice40(&m, part, Some(t), Popcount::Compressor, MemStyle::Auto).expect("fits an hx8k");
    let g = fold::lower(&m, &f).expect("lowers");
    let slowest = g.all_nodes().map(|n| n.cycles() as u64).max().expect("nodes");
    assert!(slowest <= t, "iCE40: {slowest} > {t}\n{g}");
    // 1 channel to 40: no producer is wider than one channel, the pad needs 640 cycles.
    let m = model(1, 40);
    let t = fold::fastest_cycles(&m).expect("fastest");
    let e = fold_at(&m, t).expect_err("out of reach").to_string();
    assert!(e.contains("C2") && e.contains(&t.to_string()), "{e}");
}

/// A 1x1 convolution of stride 2 takes a quarter of the pixels its window unit reads: the window
/// unit, not the MVTU, sets the layer's fastest frame time (the case CI's proptest found).
#[test]
fn a_strided_window_unit_sets_the_fastest_frame_time() {
    let specs = [
        LayerSpec::QuantBinary(128),
        LayerSpec::Conv2d { out: 1, kernel: 1, stride: 2, padding: Padding::None },
        LayerSpec::Dense(1),
    ];
    let model = random_model("strided", Shape::new(4, 4, 2), &specs, 0).expect("model");
    let t = fold::fastest_cycles(&model).expect("fastest");
    assert_eq!(t, 16, "4x4 pixels of one 2-channel word each");
    let f = fold::auto_fold(&model, fold::FoldTarget::Cycles(t), Popcount::Compressor, MemStyle::Auto)
        .expect("folds");
    let g = fold::lower(&model, &f).expect("lowers");
    assert!(g.all_nodes().all(|n| n.cycles() as u64 <= t), "{g}");
}
