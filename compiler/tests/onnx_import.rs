//! The ONNX reader and importer on hostile bytes and on every unsupported construct: an error
//! that names the node and what is supported, never a panic.

use compiler::model::{Activation, IntType, Layer};
use compiler::onnx::export::{attr_float, attr_int, attr_ints, value_info};
use compiler::onnx::proto::{self, tensor_proto::DataType, ModelProto};
use compiler::onnx::{import, Graph, ImportOptions, OnnxError};
use proptest::prelude::*;
use prost::Message;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A small graph builder for hand-made test graphs.
#[derive(Default)]
struct B {
    nodes: Vec<proto::NodeProto>,
    inits: Vec<proto::TensorProto>,
    n: usize,
}

fn vinfo(name: &str, dims: &[i64]) -> proto::ValueInfoProto {
    value_info(name, DataType::Float, dims)
}

impl B {
    fn init(&mut self, dims: &[i64], v: Vec<f32>) -> String {
        self.n += 1;
        let name = format!("c{}", self.n);
        self.inits.push(proto::TensorProto {
            name: Some(name.clone()),
            dims: dims.to_vec(),
            data_type: Some(DataType::Float as i32),
            float_data: v,
            ..Default::default()
        });
        name
    }

    fn node(&mut self, op: &str, domain: &str, ins: &[&str], attrs: Vec<proto::AttributeProto>) -> String {
        self.n += 1;
        let out = format!("t{}", self.n);
        self.nodes.push(proto::NodeProto {
            name: Some(format!("{op}_{}", self.n)),
            op_type: Some(op.into()),
            domain: Some(domain.into()),
            input: ins.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn bipolar(&mut self, x: &str) -> String {
        let s = self.init(&[], vec![1.0]);
        self.node("BipolarQuant", "qonnx.custom_op.general", &[x, &s], vec![])
    }

    /// Brevitas' input binarization: BipolarQuant(2x - 1), bit = [pixel >= 128].
    fn input_bits(&mut self) -> String {
        let two = self.init(&[], vec![2.0]);
        let one = self.init(&[1], vec![1.0]);
        let x = self.node("Mul", "", &["x", &two], vec![]);
        let x = self.node("Sub", "", &[&x, &one], vec![]);
        self.bipolar(&x)
    }

    /// +-1 weights (k, m) for x (1, k) times W.
    fn dense(&mut self, x: &str, k: usize, m: usize, seed: u32) -> String {
        let w: Vec<f32> = (0..k * m)
            .map(|i| if ((i as u32).wrapping_mul(2654435761) ^ seed) % 7 < 3 { 1.0 } else { -1.0 })
            .collect();
        let w = self.init(&[k as i64, m as i64], w);
        self.node("MatMul", "", &[x, &w], vec![])
    }

    fn bn(&mut self, x: &str, c: usize, gamma: f32) -> String {
        let g = self.init(&[c as i64], vec![gamma; c]);
        let b = self.init(&[c as i64], (0..c).map(|i| i as f32 * 0.1 - 0.3).collect());
        let m = self.init(&[c as i64], vec![0.5; c]);
        let v = self.init(&[c as i64], vec![2.0; c]);
        self.node("BatchNormalization", "", &[x, &g, &b, &m, &v], vec![attr_float("epsilon", 1e-5)])
    }

    fn model(self, input: &[i64], output: &str) -> ModelProto {
        ModelProto {
            ir_version: Some(7),
            opset_import: vec![proto::OperatorSetIdProto { domain: Some(String::new()), version: Some(11) }],
            graph: Some(proto::GraphProto {
                name: Some("test".into()),
                node: self.nodes,
                initializer: self.inits,
                input: vec![vinfo("x", input)],
                output: vec![vinfo(output, &[1, 10])],
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

fn run(m: &ModelProto) -> Result<compiler::onnx::Imported, OnnxError> {
    import(Graph::parse(&m.encode_to_vec())?, &ImportOptions::default())
}

/// A valid MLP 16 -> 12 -> 10 with BN and BipolarQuant; `tweak` changes one part.
fn mlp(tweak: impl FnOnce(&mut B, String) -> String) -> ModelProto {
    let mut b = B::default();
    let x = b.input_bits();
    let x = b.dense(&x, 16, 12, 1);
    let x = b.bn(&x, 12, 1.5);
    let x = tweak(&mut b, x);
    let x = b.bipolar(&x);
    let y = b.dense(&x, 12, 10, 2);
    b.model(&[1, 16], &y)
}

fn err(m: &ModelProto) -> String {
    match run(m) {
        Ok(_) => panic!("imported"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_hand_made_mlp_imports_with_its_thresholds() {
    let i = run(&mlp(|_, x| x)).expect("imports");
    let kinds: Vec<&str> = i.model.layers.iter().map(|l| l.kind()).collect();
    assert_eq!(kinds, ["quant.binary", "dense", "dense"]);
    // 2v/255 - 1 >= 0 from v = 128 on.
    assert_eq!(i.model.layers[0], Layer::QuantBinary { threshold: 128 });
    let Some(w) = i.model.layers[1].weights() else { panic!("weights") };
    let Activation::Threshold(t) = &w.activation else { panic!("thresholds") };
    // BN(y) >= 0 with y = 2P - 16: y >= mean - beta * sqrt(var + eps) / gamma.
    for (c, &tc) in t.iter().enumerate() {
        let beta = c as f32 * 0.1 - 0.3;
        let tau = 0.5 - beta * (2.0f32 + 1e-5).sqrt() / 1.5;
        let expect = ((tau + 16.0) / 2.0).ceil() as i32;
        assert_eq!(tc, expect, "channel {c}");
    }
}

/// A 2-bit unsigned `Quant` after `y = 2P - 16 + 0.25` (the +0.25 keeps every level boundary off
/// the even-integer grid): level `j` from `2P - 16 + 0.25 >= j - 0.5`, so thresholds `P >= 9, 9,
/// 10` for levels 1, 2, 3; a channel whose `Mul(-1)` makes its level fall has its row inverted
/// (`P' = 16 - P`: level j from `-(2P - 16) + 0.25 >= j - 0.5`, i.e. `P' >= 9, 9, 10` again).
#[test]
fn a_hand_made_kbit_layer_imports_with_its_thresholds() {
    for negate in [false, true] {
        let mut b = B::default();
        let x = b.input_bits();
        let x = b.dense(&x, 16, 12, 1);
        let x = if negate {
            let m = b.init(&[], vec![-1.0]);
            b.node("Mul", "", &[&x, &m], vec![])
        } else {
            x
        };
        let q = b.init(&[], vec![0.25]);
        let x = b.node("Add", "", &[&x, &q], vec![]);
        let (s, z, bits) = (b.init(&[], vec![1.0]), b.init(&[], vec![0.0]), b.init(&[], vec![2.0]));
        let x = b.node("Quant", "qonnx.custom_op.general", &[&x, &s, &z, &bits], vec![attr_int("signed", 0)]);
        let y = b.dense(&x, 12, 10, 2);
        let i = run(&b.model(&[1, 16], &y)).expect("imports");
        let kinds: Vec<&str> = i.model.layers.iter().map(|l| l.kind()).collect();
        assert_eq!(kinds, ["quant.binary", "dense", "dense"]);
        let Some(w) = i.model.layers[1].weights() else { panic!("weights") };
        let Activation::Multi(m) = &w.activation else { panic!("a multi-threshold: {:?}", w.activation) };
        assert_eq!((m.ty, m.bias, m.levels), (IntType { bits: 2, signed: false }, 0, 3));
        assert_eq!(m.thresholds, [9, 9, 10].repeat(12), "negate {negate}");
        assert_eq!(i.notes.iter().any(|n| n.contains("12 channel(s) with falling outputs inverted")), negate);
        // The last layer reads the integers 0..=3.
        let Some(w2) = i.model.layers[2].weights() else { panic!("weights") };
        assert_eq!(w2.activation, Activation::Scores);
    }
}

/// FINN's form: a 3-step MultiThreshold (counts 0..=3) then a scalar `Mul`, read by the next
/// layer as the integers 0..=3 at the new scale; an `Add` that shifts them, or a `Mul` that differs
/// per position, is refused.
#[test]
fn scales_after_a_kbit_activation_fold_into_the_next_layer() {
    let build = |op: &str, c: Vec<f32>, dims: &[i64]| {
        let mut b = B::default();
        let x = b.input_bits();
        let x = b.dense(&x, 16, 12, 1);
        let t = b.init(&[12, 3], [-4.0, 0.0, 4.0].repeat(12));
        let x = b.node("MultiThreshold", "qonnx.custom_op.general", &[&x, &t], vec![]);
        let k = b.init(dims, c);
        let x = b.node(op, "", &[&x, &k], vec![]);
        let y = b.dense(&x, 12, 10, 2);
        b.model(&[1, 16], &y)
    };
    let i = run(&build("Mul", vec![0.5], &[])).expect("imports");
    let Some(w) = i.model.layers[1].weights() else { panic!("weights") };
    let Activation::Multi(m) = &w.activation else { panic!("a multi-threshold") };
    assert_eq!((m.ty, m.bias, m.levels), (IntType { bits: 2, signed: false }, 0, 3));
    // y = 2P - 16 >= -4, 0, 4: P >= 6, 8, 10.
    assert_eq!(m.thresholds, [6, 8, 10].repeat(12));
    assert!(err(&build("Add", vec![0.5], &[])).contains("not one positive scale times their integers"));
    let per_position = build("Mul", (1..=12).map(|i| i as f32).collect(), &[1, 12]);
    assert!(err(&per_position).contains("differently at different positions"));
}

#[test]
fn negative_gamma_inverts_the_row() {
    let plain = run(&mlp(|_, x| x)).expect("imports");
    let neg = run(&mlp(|b, x| {
        let m = b.init(&[], vec![-1.0]);
        b.node("Mul", "", &[&x, &m], vec![])
    }))
    .expect("imports");
    let (Some(p), Some(n)) = (plain.model.layers[1].weights(), neg.model.layers[1].weights()) else {
        panic!()
    };
    for r in 0..p.out() {
        for c in 0..p.fan_in() {
            assert_ne!(p.matrix.get(r, c), n.matrix.get(r, c), "row {r} col {c} must be inverted");
        }
    }
}

#[test]
fn unsupported_constructs_are_named() {
    let cases: Vec<(&str, ModelProto, &str)> = vec![
        (
            "an unknown op",
            mlp(|b, x| b.node("Softmax", "", &[&x], vec![])),
            "Softmax in domain ai.onnx): is not supported. xnorflow imports:",
        ),
        (
            "an unknown domain",
            mlp(|b, x| b.node("Foo", "com.example", &[&x], vec![])),
            "(Foo in domain com.example)",
        ),
        (
            "a k-bit activation that is not a scale times integers",
            mlp(|b, x| {
                let t = b.init(&[12, 3], (0..36).map(|i| i as f32).collect());
                b.node(
                    "MultiThreshold",
                    "qonnx.custom_op.general",
                    &[&x, &t],
                    vec![attr_float("out_scale", 2.0), attr_float("out_bias", 1.0)],
                )
            }),
            "out_bias 1 is not a whole number of out_scale 2 steps",
        ),
        (
            "a 9-bit activation",
            mlp(|b, x| {
                let (s, z, bits) = (b.init(&[], vec![1.0]), b.init(&[], vec![0.0]), b.init(&[], vec![9.0]));
                b.node("Quant", "qonnx.custom_op.general", &[&x, &s, &z, &bits], vec![attr_int("signed", 1)])
            }),
            "quantizes a layer to 9 bits; k-bit activations have 2 to 8",
        ),
        (
            "a k-bit activation's type too narrow for its levels",
            mlp(|b, x| {
                let t = b.init(&[12, 4], (0..48).map(|i| i as f32).collect());
                b.node(
                    "MultiThreshold",
                    "qonnx.custom_op.general",
                    &[&x, &t],
                    vec![
                        attr_float("out_bias", -2.0),
                        proto::AttributeProto {
                            name: Some("out_dtype".into()),
                            r#type: Some(proto::attribute_proto::AttributeType::String as i32),
                            s: Some(b"INT2".to_vec()),
                            ..Default::default()
                        },
                    ],
                )
            }),
            "out_dtype INT2 does not hold its outputs -2..=2",
        ),
        (
            "a branch",
            mlp(|b, x| {
                let y = b.node("Relu", "", &[&x], vec![]);
                b.node("Add", "", &[&x, &y], vec![])
            }),
            "has 2 computed inputs",
        ),
    ];
    for (what, m, needle) in cases {
        let e = err(&m);
        assert!(e.contains(needle), "{what}: {e}");
    }
}

#[test]
fn non_binary_weights_zero_padding_and_per_class_scales_are_refused() {
    // Weights that are not +-s.
    let mut b = B::default();
    let x = b.bipolar("x");
    let w = b.init(&[16, 10], (0..160).map(|i| (i % 3) as f32 - 1.0).collect());
    let y = b.node("MatMul", "", &[&x, &w], vec![]);
    assert!(err(&b.model(&[1, 16], &y)).contains("are not +-s"), "weights");

    // A per-class scale after the last layer can change the argmax.
    let mut b = B::default();
    let x = b.bipolar("x");
    let y = b.dense(&x, 16, 10, 3);
    let s = b.init(&[10], (1..=10).map(|i| i as f32).collect());
    let y = b.node("Mul", "", &[&y, &s], vec![]);
    assert!(err(&b.model(&[1, 16], &y)).contains("differently per class"), "per-class scale");

    // Zero padding of a binary tensor.
    let mut b = B::default();
    let x = b.bipolar("x");
    let w = b.init(&[4, 1, 3, 3], vec![1.0; 36]);
    let y = b.node(
        "Conv",
        "",
        &[&x, &w],
        vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("kernel_shape", &[3, 3])],
    );
    let y = b.node("Flatten", "", &[&y], vec![attr_int("axis", 1)]);
    let y = b.dense(&y, 4 * 8 * 8, 10, 4);
    assert!(err(&b.model(&[1, 1, 8, 8], &y)).contains("zero padding of +-1 activations"), "padding");

    // 0/1 activations into the last layer: a per-class offset the integer scores cannot carry.
    let mut b = B::default();
    let x = b.bipolar("x");
    let y = b.dense(&x, 16, 12, 7);
    let t = b.init(&[12, 1], vec![0.0; 12]);
    let y = b.node(
        "MultiThreshold",
        "qonnx.custom_op.general",
        &[&y, &t],
        vec![attr_float("out_scale", 1.0), attr_float("out_bias", 0.0)],
    );
    let y = b.dense(&y, 12, 10, 8);
    assert!(err(&b.model(&[1, 16], &y)).contains("per-class offset"), "0/1 into the last layer");

    // A constant that varies within a channel of a convolution.
    let mut b = B::default();
    let x = b.bipolar("x");
    let w = b.init(&[4, 1, 3, 3], vec![1.0; 36]);
    let y = b.node("Conv", "", &[&x, &w], vec![attr_ints("kernel_shape", &[3, 3])]);
    let c = b.init(&[1, 4, 6, 6], (0..144).map(|i| i as f32).collect());
    let y = b.node("Add", "", &[&y, &c], vec![]);
    let y = b.bipolar(&y);
    let y = b.node("Flatten", "", &[&y], vec![attr_int("axis", 1)]);
    let y = b.dense(&y, 4 * 6 * 6, 10, 6);
    assert!(err(&b.model(&[1, 1, 8, 8], &y)).contains("differently at different positions"), "per-position");

    // A max-pool before a decreasing BatchNorm is an AND.
    let mut b = B::default();
    let x = b.bipolar("x");
    let w = b.init(&[4, 1, 3, 3], vec![1.0; 36]);
    let y = b.node("Conv", "", &[&x, &w], vec![attr_ints("kernel_shape", &[3, 3])]);
    let y =
        b.node("MaxPool", "", &[&y], vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])]);
    let y = b.bn(&y, 4, -1.0);
    let y = b.bipolar(&y);
    let y = b.node("Flatten", "", &[&y], vec![attr_int("axis", 1)]);
    let y = b.dense(&y, 4 * 3 * 3, 10, 5);
    assert!(err(&b.model(&[1, 1, 8, 8], &y)).contains("is an AND of bits"), "pool before negative gamma");
}

#[test]
fn file_level_errors_are_clear() {
    assert!(matches!(Graph::parse(b"not a protobuf at all"), Err(OnnxError::Wire(_))));
    let mut m = mlp(|_, x| x);
    m.ir_version = Some(2);
    assert!(err(&m).contains("IR version 2"));
    let mut m = mlp(|_, x| x);
    m.opset_import[0].version = Some(6);
    assert!(err(&m).contains("opset 6"));
    let mut m = mlp(|_, x| x);
    if let Some(g) = m.graph.as_mut() {
        g.input.push(vinfo("y", &[1, 16]));
    }
    assert!(err(&m).contains("2 inputs"));
    let mut m = mlp(|_, x| x);
    if let Some(g) = m.graph.as_mut() {
        g.initializer[0].data_location = Some(1);
    }
    assert!(err(&m).contains("external file"));
    let mut m = mlp(|_, x| x);
    if let Some(g) = m.graph.as_mut() {
        g.initializer[0].dims = vec![1 << 20, 1 << 20];
    }
    assert!(err(&m).contains("more than"), "{}", err(&m));
}

#[test]
fn the_public_tfc_imports() {
    let g = Graph::parse(&fixture("TFC_1W1A.onnx")).expect("parses");
    let i = import(g, &ImportOptions::default()).expect("imports");
    let kinds: Vec<&str> = i.model.layers.iter().map(|l| l.kind()).collect();
    assert_eq!(kinds, ["quant.binary", "dense", "dense", "dense", "dense"]);
    assert_eq!(i.model.layers[0], Layer::QuantBinary { threshold: 128 });
    // 2-bit activations: the input's 2-bit Quant is a table of -1, 0, 1 (2v/255 - 1 rounded), each
    // hidden layer's narrow 2-bit Quant an int2 multi-threshold {-1, 0, +1}.
    let g = Graph::parse(&fixture("TFC_1W2A.onnx")).expect("parses");
    let i = import(g, &ImportOptions::default()).expect("imports");
    let kinds: Vec<&str> = i.model.layers.iter().map(|l| l.kind()).collect();
    assert_eq!(kinds, ["quant.table", "dense", "dense", "dense", "dense"]);
    let Layer::QuantTable(t) = &i.model.layers[0] else { panic!("a table") };
    let want: Vec<i32> = (0..=255).map(|v| (2.0 * (v as f32 / 255.0) - 1.0).round() as i32).collect();
    assert_eq!(t.values(), want);
    for l in &i.model.layers[1..4] {
        let Some(Activation::Multi(m)) = l.weights().map(|w| &w.activation) else { panic!("multi") };
        assert_eq!((m.ty, m.bias, m.levels), (IntType { bits: 2, signed: true }, -1, 2));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Truncated, bit-flipped or spliced files give an error or a model, never a panic.
    #[test]
    fn corrupted_files_never_panic(cut in prop::option::weighted(0.25, 1usize..242_573), flips in prop::collection::vec((0usize..242_573, any::<u8>()), 0..8)) {
        let mut bytes = fixture("TFC_1W1A.onnx");
        for (at, v) in flips {
            let i = at % bytes.len();
            bytes[i] ^= v;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut);
        }
        if let Ok(g) = Graph::parse(&bytes) {
            let _ = import(g, &ImportOptions::default());
        }
    }

    /// Random bytes of any length.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(g) = Graph::parse(&bytes) {
            let _ = import(g, &ImportOptions::default());
        }
    }
}

/// Random models of every layer kind: export, then import, gives back the identical model.
mod round_trip {
    use super::*;
    use compiler::model::random::{random_model, LayerSpec};
    use compiler::model::{IntType, OutputMode, Padding, Shape};

    fn templates() -> Vec<(Shape, Vec<LayerSpec>)> {
        use LayerSpec::*;
        let conv = |out, kernel, stride, padding| Conv2d { out, kernel, stride, padding };
        vec![
            (Shape::new(4, 4, 1), vec![QuantBinary(100), Dense(12), Dense(7), Dense(5)]),
            (Shape::new(4, 4, 1), vec![QuantFixed8(true), Dense(9), Dense(4)]),
            (Shape::new(4, 4, 2), vec![QuantFixed8(false), Dense(6), Dense(3)]),
            (Shape::new(4, 4, 1), vec![QuantTable(true), Dense(8), Dense(3)]),
            (Shape::new(4, 4, 1), vec![QuantTable(false), Dense(4)]),
            (
                Shape::new(8, 8, 2),
                vec![
                    QuantBinary(0),
                    conv(4, 3, 1, Padding::Bit { amount: 1, bit: true }),
                    MaxPool { kernel: 2, stride: 2 },
                    conv(3, 3, 2, Padding::Bit { amount: 2, bit: false }),
                    Dense(5),
                ],
            ),
            (
                Shape::new(7, 7, 1),
                vec![
                    QuantTable(true),
                    conv(5, 3, 1, Padding::None),
                    MaxPool { kernel: 3, stride: 2 },
                    Dense(6),
                    Dense(4),
                ],
            ),
            (Shape::new(6, 6, 3), vec![QuantFixed8(true), conv(4, 2, 2, Padding::None), Dense(8), Dense(10)]),
        ]
    }

    /// k-bit activations of type `ty` (and `other`, of another width) after binary, 8-bit and
    /// k-bit inputs, in dense and convolutional layers, before max-pools.
    fn kbit_templates(ty: IntType, other: IntType) -> Vec<(Shape, Vec<LayerSpec>)> {
        use LayerSpec::*;
        let cm = |out, kernel, stride, padding, ty| Conv2dMulti { out, kernel, stride, padding, ty };
        vec![
            (
                Shape::new(4, 4, 1),
                vec![
                    QuantBinary(100),
                    DenseMulti { out: 12, ty },
                    DenseMulti { out: 7, ty: other },
                    Dense(5),
                ],
            ),
            (Shape::new(4, 4, 1), vec![QuantFixed8(true), DenseMulti { out: 9, ty }, Dense(4)]),
            (Shape::new(4, 4, 1), vec![QuantTable(false), DenseMulti { out: 6, ty }, Dense(8), Dense(3)]),
            (
                Shape::new(8, 8, 2),
                vec![
                    QuantBinary(0),
                    cm(4, 3, 1, Padding::Bit { amount: 1, bit: true }, ty),
                    MaxPool { kernel: 2, stride: 2 },
                    cm(3, 2, 1, Padding::None, other),
                    Dense(5),
                ],
            ),
            (
                Shape::new(7, 7, 1),
                vec![
                    QuantFixed8(false),
                    cm(5, 3, 1, Padding::None, ty),
                    MaxPool { kernel: 3, stride: 2 },
                    Conv2d { out: 4, kernel: 2, stride: 1, padding: Padding::None },
                    Dense(4),
                ],
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn export_then_import_is_the_identity(t in 0usize..8, seed in any::<u64>(), frac in 0u8..=8, scores in any::<bool>()) {
            let (shape, specs) = templates().swap_remove(t);
            let mut m = random_model("rt", shape, &specs, seed).expect("valid random model");
            if let Layer::QuantFixed8(f) = &mut m.layers[0] {
                f.frac_bits = frac;
            }
            if scores {
                m.output = OutputMode::Scores;
            }
            m.provenance.notes = Some(format!("seed {seed}"));
            let bytes = compiler::onnx::export::export(&m).expect("exports");
            let back = import(Graph::parse(&bytes).expect("parses"), &ImportOptions::default()).expect("imports");
            prop_assert_eq!(back.model, m);
        }

        /// The same for k-bit activations of 2 to 8 bits, signed or not, with the random biases
        /// and levels `random_multi` draws (the whole type, {-1, 0, +1}, sub-ranges).
        #[test]
        fn kbit_export_then_import_is_the_identity(
            t in 0usize..5,
            seed in any::<u64>(),
            (bits, signed) in (2u8..=8, any::<bool>()),
            (other_bits, other_signed) in (2u8..=8, any::<bool>()),
        ) {
            let ty = IntType { bits, signed };
            let other = IntType { bits: other_bits, signed: other_signed };
            let (shape, specs) = kbit_templates(ty, other).swap_remove(t);
            let m = random_model("rt", shape, &specs, seed).expect("valid random model");
            prop_assume!(m.layers.iter().any(|l| l.weights().is_some_and(|w| w.activation.multi().is_some())));
            let bytes = compiler::onnx::export::export(&m).expect("exports");
            let back = import(Graph::parse(&bytes).expect("parses"), &ImportOptions::default()).expect("imports");
            prop_assert_eq!(back.model, m);
        }
    }
}

/// Structure-aware fuzzing: valid graphs with one node's op type, inputs, attributes or an
/// initializer's shape replaced at random reach an error or a model, never a panic.
mod mutated_graphs {
    use super::*;

    const OPS: &[&str] = &[
        "Shape",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Concat",
        "Reshape",
        "Flatten",
        "Transpose",
        "MatMul",
        "Gemm",
        "Conv",
        "MaxPool",
        "Pad",
        "BatchNormalization",
        "TopK",
        "ArgMax",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Clip",
        "Cast",
        "Round",
        "BipolarQuant",
        "Quant",
        "MultiThreshold",
        "Identity",
    ];

    fn conv_net() -> ModelProto {
        let mut b = B::default();
        let x = b.bipolar("x");
        let w = b.init(&[4, 1, 3, 3], (0..36).map(|i| if i % 3 == 0 { 1.0 } else { -1.0 }).collect());
        let y = b.node("Conv", "", &[&x, &w], vec![attr_ints("kernel_shape", &[3, 3])]);
        let y = b.bn(&y, 4, 0.7);
        let y = b.bipolar(&y);
        let y = b.node(
            "MaxPool",
            "",
            &[&y],
            vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])],
        );
        let y = b.node("Flatten", "", &[&y], vec![attr_int("axis", 1)]);
        let y = b.dense(&y, 4 * 3 * 3, 10, 9);
        b.model(&[1, 1, 8, 8], &y)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        #[test]
        fn mutated_graphs_never_panic(
            conv in any::<bool>(),
            which in any::<prop::sample::Index>(),
            kind in 0u8..5,
            op in prop::sample::select(OPS),
            n in -3i64..70,
            dims in prop::collection::vec(0i64..6, 0..5),
        ) {
            let mut m = if conv { conv_net() } else { mlp(|_, x| x) };
            let g = m.graph.as_mut().expect("graph");
            let i = which.index(g.node.len());
            match kind {
                0 => g.node[i].op_type = Some(op.to_string()),
                1 => {
                    let keep = (n.unsigned_abs() as usize).min(g.node[i].input.len());
                    g.node[i].input.truncate(keep);
                }
                2 => {
                    for a in g.node[i].attribute.iter_mut() {
                        a.i = Some(n);
                        a.ints = vec![n; dims.len()];
                    }
                    g.node[i].attribute.push(attr_ints("perm", &dims));
                    g.node[i].attribute.push(attr_int("axis", n));
                }
                3 => {
                    let j = which.index(g.initializer.len());
                    let len: i64 = dims.iter().product();
                    g.initializer[j].dims = dims.clone();
                    g.initializer[j].float_data = vec![n as f32; len as usize];
                }
                _ => {
                    g.node[i].op_type = Some(op.to_string());
                    g.node[i].domain = Some(if n % 2 == 0 { "qonnx.custom_op.general" } else { "" }.into());
                }
            }
            if let Ok(g) = Graph::parse(&m.encode_to_vec()) {
                // The interpreter runs every node, the importer only the chain it accepts.
                let zeros = compiler::onnx::graph::Tensor::f32(g.input_shape.clone(), vec![0.5; g.input_shape.iter().product()]);
                let _ = compiler::onnx::interp::output(&g, zeros);
                let _ = import(g, &ImportOptions::default());
            }
        }
    }
}

/// FINN's `finn_datatype` UINT8 on the input means raw bytes; no annotation means no opinion.
#[test]
fn an_input_annotated_uint8_takes_raw_bytes() {
    use compiler::onnx::InputScale;
    let mut m = mlp(|_, x| x);
    let plain = Graph::parse(&m.encode_to_vec()).expect("parses");
    assert_eq!(InputScale::annotated(&plain), None);
    if let Some(g) = m.graph.as_mut() {
        g.quantization_annotation.push(proto::TensorAnnotation {
            tensor_name: Some("x".into()),
            quant_parameter_tensor_names: vec![proto::StringStringEntryProto {
                key: Some("finn_datatype".into()),
                value: Some("UINT8".into()),
            }],
        });
    }
    let g = Graph::parse(&m.encode_to_vec()).expect("parses");
    assert_eq!(InputScale::annotated(&g), Some(InputScale::Raw));
    // Read as raw bytes, 2v - 1 >= 0 from v = 1: the input threshold moves from 128 to 1.
    let opts = ImportOptions { input_scale: InputScale::Raw, ..ImportOptions::default() };
    let i = import(g, &opts).expect("imports");
    assert_eq!(i.model.layers[0], Layer::QuantBinary { threshold: 1 });
}

/// qonnx's `Quant` with one signed bit is bipolar: a hidden layer quantized so imports as a
/// BipolarQuant does, to the same thresholds.
#[test]
fn one_signed_bit_quant_is_bipolar() {
    let bipolar = run(&mlp(|_, x| x)).expect("imports");
    // The same network with its hidden activation quantizer as Quant(x, 1, 0, 1 bit, signed).
    let mut m = mlp(|_, x| x);
    let g = m.graph.as_mut().expect("graph");
    let i = g.node.iter().rposition(|n| n.op_type() == "BipolarQuant").expect("activation quantizer");
    let scale = g.node[i].input[1].clone();
    g.initializer.push(proto::TensorProto {
        name: Some("zero".into()),
        data_type: Some(DataType::Float as i32),
        float_data: vec![0.0],
        ..Default::default()
    });
    g.initializer.push(proto::TensorProto {
        name: Some("one_bit".into()),
        data_type: Some(DataType::Float as i32),
        float_data: vec![1.0],
        ..Default::default()
    });
    let n = &mut g.node[i];
    n.op_type = Some("Quant".into());
    n.input = vec![n.input[0].clone(), scale, "zero".into(), "one_bit".into()];
    n.attribute = vec![attr_int("signed", 1), attr_int("narrow", 0)];
    let quant = run(&m).expect("imports");
    assert_eq!(quant.model.layers, bipolar.model.layers);
}

/// FINN's converted quantizers: an input MultiThreshold with 255 steps and a bias, then a Mul by
/// the scale, is the 8-bit input v - 128 at 7 fractional bits; a scale on +-1 activations before
/// the next layer moves its thresholds exactly; a negative one is refused.
#[test]
fn finn_style_scales_after_quantizers_are_folded() {
    let mut b = B::default();
    let t = b.init(&[1, 255], (0..255).map(|j| (j as f32 + 0.5) / 255.0).collect());
    let x = b.node(
        "MultiThreshold",
        "finn.custom_op.general",
        &["x", &t],
        vec![attr_float("out_scale", 1.0), attr_float("out_bias", -128.0)],
    );
    let s = b.init(&[], vec![1.0 / 128.0]);
    let x = b.node("Mul", "", &[&x, &s], vec![]);
    let y = b.dense(&x, 16, 10, 3);
    let i = run(&b.model(&[1, 16], &y)).expect("imports");
    assert_eq!(i.model.layers[0], Layer::QuantFixed8(compiler::model::Fixed8 { signed: true, frac_bits: 7 }));

    // +-1 activations times 0.5 before the first dense layer: y = 0.5 (2P - N).
    let half = |factor: f32| {
        let mut b = B::default();
        let x = b.input_bits();
        let f = b.init(&[], vec![factor]);
        let x = b.node("Mul", "", &[&x, &f], vec![]);
        let x = b.dense(&x, 16, 12, 1);
        let x = b.bn(&x, 12, 1.5);
        let x = b.bipolar(&x);
        let y = b.dense(&x, 12, 10, 2);
        b.model(&[1, 16], &y)
    };
    let i = run(&half(0.5)).expect("imports");
    let Some(w) = i.model.layers[1].weights() else { panic!("weights") };
    let Activation::Threshold(t) = &w.activation else { panic!("thresholds") };
    for (c, &tc) in t.iter().enumerate() {
        let beta = c as f32 * 0.1 - 0.3;
        let tau = 0.5 - beta * (2.0f32 + 1e-5).sqrt() / 1.5;
        assert_eq!(tc, ((tau / 0.5 + 16.0) / 2.0).ceil() as i32, "channel {c}");
    }
    assert!(err(&half(-1.0)).contains("larger value on bit 1"));
}
