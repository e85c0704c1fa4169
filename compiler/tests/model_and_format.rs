//! Round trips and error reporting of the model IR's text form, its verifier and the model file
//! format (`.xnf`), plus robustness of both readers against corrupted input.
//!
//! - Text form: `Model::parse(&model.to_string()) == model` for random models of every layer kind,
//!   and hand-mutated texts fail with a [`ParseError`] naming the right line.
//! - Verifier: every kind of invalid model is refused with an error that names the layer.
//! - File format: `from_bytes(to_bytes(m)) == m`, `save`/`load` through a temporary directory, a
//!   hand-built file that pins the documented layout, hand-made broken files whose errors say what is
//!   wrong and where, and random corruptions that must give `Err` (or a valid model), never a panic.

use compiler::format::{
    from_bytes, load, save, to_bytes, FormatError, FORMAT_NAME, FORMAT_VERSION, MANIFEST_KEY,
    MIN_FORMAT_VERSION, MULTI_FORMAT_VERSION, RESIDUAL_FORMAT_VERSION,
};
use compiler::model::random::{random_mlp, random_model, LayerSpec};
use compiler::model::{
    Activation, BinaryWeights, BitMatrix, Elem, Fixed8, InputTable, IntType, Layer, LayerId, Model,
    ModelError, MultiThreshold, OutputMode, Padding, ParseError, Provenance, Shape, Shortcut,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Models used by the hand-written tests.
// ---------------------------------------------------------------------------------------------

/// L0 quant.binary, L1 conv2d 3x3 pad 1:1 (fan-in 18, 5 out), L2 maxpool 2/2, L3 dense 45 -> 11,
/// L4 dense 11 -> 4 scores. Input 6x6x2.
fn conv_model() -> Model {
    random_model(
        "small conv",
        Shape::new(6, 6, 2),
        &[
            LayerSpec::QuantBinary(100),
            LayerSpec::Conv2d {
                out: 5,
                kernel: 3,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: true },
            },
            LayerSpec::MaxPool { kernel: 2, stride: 2 },
            LayerSpec::Dense(11),
            LayerSpec::Dense(4),
        ],
        7,
    )
    .expect("the conv specs fit a 6x6x2 input")
}

/// L0 quant.fixed8, L1 conv2d 2x2 unpadded (fan-in 4, 3 out), L2 dense 27 -> 5 scores. Input 4x4x1.
fn fixed8_model(signed: bool) -> Model {
    random_model(
        "fixed8",
        Shape::new(4, 4, 1),
        &[
            LayerSpec::QuantFixed8(signed),
            LayerSpec::Conv2d { out: 3, kernel: 2, stride: 1, padding: Padding::None },
            LayerSpec::Dense(5),
        ],
        11,
    )
    .expect("the fixed8 specs fit a 4x4x1 input")
}

/// L0 quant.table (random, signed or not), L1 conv2d 2x2 unpadded (3 out), L2 dense 27 -> 5
/// scores. Input 4x4x1.
fn table_model(signed: bool) -> Model {
    random_model(
        "table",
        Shape::new(4, 4, 1),
        &[
            LayerSpec::QuantTable(signed),
            LayerSpec::Conv2d { out: 3, kernel: 2, stride: 1, padding: Padding::None },
            LayerSpec::Dense(5),
        ],
        12,
    )
    .expect("the table specs fit a 4x4x1 input")
}

fn full_provenance() -> Provenance {
    Provenance {
        dataset: Some("mnist \"train\" split\nfirst 50k".into()),
        method: Some("irnet\t(ste)\\v2".into()),
        accuracy: Some(0.9812),
        validation_accuracy: Some(0.9777),
        epochs: Some(37),
        seed: Some(u64::MAX),
        notes: Some("line one\nline \"two\" \\ back\r\nünïcödé ✓ {\"json\": [1]}".into()),
    }
}

fn thresholds_mut(model: &mut Model, layer: usize) -> &mut Vec<i32> {
    match &mut model.layers[layer].weights_mut().expect("a weighted layer").activation {
        Activation::Threshold(t) => t,
        Activation::Scores => panic!("layer {layer} produces scores"),
        Activation::Multi(m) => &mut m.thresholds,
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies for random models.
// ---------------------------------------------------------------------------------------------

fn arb_padding(kernel: usize) -> BoxedStrategy<Padding> {
    prop_oneof![
        Just(Padding::None),
        (0..kernel, any::<bool>()).prop_map(|(amount, bit)| Padding::Bit { amount, bit }),
    ]
    .boxed()
}

fn arb_conv(allow_padding: bool) -> impl Strategy<Value = LayerSpec> {
    (1usize..=9, 1usize..=3, 1usize..=2).prop_flat_map(move |(out, kernel, stride)| {
        let padding = if allow_padding { arb_padding(kernel) } else { Just(Padding::None).boxed() };
        padding.prop_map(move |padding| LayerSpec::Conv2d { out, kernel, stride, padding })
    })
}

fn arb_pool() -> impl Strategy<Value = LayerSpec> {
    (1usize..=2, 1usize..=2).prop_map(|(kernel, stride)| LayerSpec::MaxPool { kernel, stride })
}

/// Widths are mostly not multiples of 64 (1..=140 covers 63, 65, 127, 129...).
fn arb_width() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..=140, Just(63), Just(64), Just(65), Just(129)]
}

fn arb_shape(hw: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Shape> {
    (hw.clone(), hw, 1usize..=3).prop_map(|(h, w, c)| Shape::new(h, w, c))
}

/// Quant.binary, 0-2 hidden dense layers, dense scores.
fn dense_specs() -> impl Strategy<Value = (Shape, Vec<LayerSpec>)> {
    (arb_shape(1..=9), any::<u8>(), prop::collection::vec(arb_width(), 0..=2), 1usize..=12).prop_map(
        |(input, t, hidden, classes)| {
            let mut specs = vec![LayerSpec::QuantBinary(t)];
            specs.extend(hidden.into_iter().map(LayerSpec::Dense));
            specs.push(LayerSpec::Dense(classes));
            (input, specs)
        },
    )
}

/// Quant.binary, conv (any padding), optional max-pool, optional second conv, optional hidden
/// dense, dense scores.
fn conv_specs() -> impl Strategy<Value = (Shape, Vec<LayerSpec>)> {
    (
        arb_shape(3..=10),
        any::<u8>(),
        arb_conv(true),
        prop::option::of(arb_pool()),
        prop::option::of(arb_conv(true)),
        prop::option::of(arb_width()),
        1usize..=12,
    )
        .prop_map(|(input, t, conv, pool, conv2, hidden, classes)| {
            let mut specs = vec![LayerSpec::QuantBinary(t), conv];
            specs.extend(pool);
            specs.extend(conv2);
            specs.extend(hidden.map(LayerSpec::Dense));
            specs.push(LayerSpec::Dense(classes));
            (input, specs)
        })
}

/// Quant.fixed8 (or a random quant.table when `table`; signed or unsigned) feeding a dense layer or
/// an unpadded conv (then maybe a max-pool), dense scores.
fn fixed8_specs(table: bool) -> impl Strategy<Value = (Shape, Vec<LayerSpec>)> {
    let first = prop_oneof![
        arb_width().prop_map(|w| vec![LayerSpec::Dense(w)]),
        (arb_conv(false), prop::option::of(arb_pool())).prop_map(|(c, p)| {
            let mut v = vec![c];
            v.extend(p);
            v
        }),
    ];
    (arb_shape(2..=8), any::<bool>(), first, 1usize..=12).prop_map(move |(input, signed, first, classes)| {
        let mut specs =
            vec![if table { LayerSpec::QuantTable(signed) } else { LayerSpec::QuantFixed8(signed) }];
        specs.extend(first);
        specs.push(LayerSpec::Dense(classes));
        (input, specs)
    })
}

/// Any text except `#` (see `text_form_keeps_hash_signs_in_strings`), with quotes, backslashes,
/// newlines and non-ASCII well represented.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof!["[^#]{0,16}", "[a-z \"\\\\\n\r\t{}:,é✓]{0,12}"]
}

/// Accuracies: any value in [0, 1], and the round four-digit ones that training writes.
fn arb_fraction() -> impl Strategy<Value = f64> {
    prop_oneof![0.0f64..=1.0, (0u32..=10_000).prop_map(|k| f64::from(k) / 10_000.0)]
}

fn arb_provenance() -> impl Strategy<Value = Provenance> {
    use prop::option::of;
    (
        of(arb_text()),
        of(arb_text()),
        of(arb_fraction()),
        of(arb_fraction()),
        of(any::<u32>()),
        of(any::<u64>()),
        of(arb_text()),
    )
        .prop_map(|(dataset, method, accuracy, validation_accuracy, epochs, seed, notes)| Provenance {
            dataset,
            method,
            accuracy,
            validation_accuracy,
            epochs,
            seed,
            notes,
        })
}

fn arb_model() -> impl Strategy<Value = Model> {
    let specs = prop_oneof![dense_specs(), conv_specs(), fixed8_specs(false), fixed8_specs(true)];
    (specs, any::<u64>(), arb_text(), prop::option::of(arb_provenance()), any::<bool>()).prop_filter_map(
        "the layers do not fit the input",
        |((input, specs), seed, name, provenance, scores)| {
            let mut model = random_model(&name, input, &specs, seed).ok()?;
            if let Some(p) = provenance {
                model.provenance = p;
            }
            model.output = if scores { OutputMode::Scores } else { OutputMode::Argmax };
            Some(model)
        },
    )
}

fn fail(message: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(message.to_string())
}

// ---------------------------------------------------------------------------------------------
// 1. Text form round trips.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn text_form_round_trips(model in arb_model()) {
        model.verify().map_err(fail)?;
        let text = model.to_string();
        let back = Model::parse(&text).map_err(|e| fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &model);
        back.verify().map_err(fail)?;
        prop_assert_eq!(back.to_string(), text);
    }
}

#[test]
fn random_mlps_with_ragged_widths_round_trip_through_text() {
    for (i, hidden) in [&[1][..], &[63], &[65], &[100, 7], &[129, 64, 3], &[200]].into_iter().enumerate() {
        for input in [Shape::new(1, 1, 1), Shape::new(5, 13, 1), Shape::new(8, 8, 3)] {
            let model = random_mlp(input, hidden, 10, i as u64).expect("a valid MLP");
            let text = model.to_string();
            assert_eq!(Model::parse(&text).expect("parses"), model, "{text}");
        }
    }
}

#[test]
fn text_form_keeps_provenance_with_quotes_and_newlines() {
    let mut model = conv_model();
    model.name = "tiny \"quoted\"\nname\\with\tescapes ✓".into();
    model.provenance = full_provenance();
    model.output = OutputMode::Scores;
    let text = model.to_string();
    assert_eq!(text.lines().nth(1), Some(r#"name "tiny \"quoted\"\nname\\with\tescapes ✓""#));
    let back = Model::parse(&text).expect("parses");
    assert_eq!(back.provenance, model.provenance);
    assert_eq!(back.name, model.name);
    assert_eq!(back, model);

    // Empty provenance is written as {} and read back as the default.
    model.provenance = Provenance::default();
    let text = model.to_string();
    assert!(text.contains("\nprovenance {}\n"), "{text}");
    assert_eq!(Model::parse(&text).expect("parses"), model);
}

#[test]
fn text_form_ignores_comments_and_blank_lines() {
    let model = conv_model();
    let mut lines: Vec<String> = model.to_string().lines().map(String::from).collect();
    lines.insert(1, "# a comment line".into());
    lines.insert(2, String::new());
    lines.insert(3, "   ".into());
    // Comments are whole lines (so that names and notes may contain '#'), indented ones too.
    let w = lines.iter().position(|l| l.starts_with("  w ")).expect("a weight row");
    lines.insert(w, "  # an indented comment".into());
    let text = lines.join("\n");
    assert_eq!(Model::parse(&text).expect("parses"), model);

    // Line numbers in errors count the comment and blank lines.
    let bad = text.replace("L2 maxpool", "L2 avgpool");
    let err = Model::parse(&bad).expect_err("unknown kind");
    assert_eq!(err.line, line_of(&bad, "L2 "));
    assert_eq!(err.line, 18);
}

/// `#` starts a comment anywhere on a line, including inside the JSON strings of the name and
/// provenance lines, so a name or note containing `#` does not survive the text form.
#[test]

fn text_form_keeps_hash_signs_in_strings() {
    let mut model = conv_model();
    model.name = "net #3".into();
    model.provenance.notes = Some("see issue #12".into());
    let text = model.to_string();
    assert_eq!(Model::parse(&text), Ok(model));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary accuracies survive bit-exactly (this needs serde_json's `float_roundtrip` feature;
    /// without it about one value in ten came back one ulp off).
    #[test]
    fn provenance_accuracy_round_trips_exactly(accuracy in 0.0f64..=1.0) {
        let mut model = fixed8_model(true);
        model.provenance.accuracy = Some(accuracy);
        let text = Model::parse(&model.to_string()).map_err(fail)?;
        prop_assert_eq!(text.provenance.accuracy, Some(accuracy), "text form");
        let file = from_bytes(&to_bytes(&model).map_err(fail)?).map_err(fail)?;
        prop_assert_eq!(file.provenance.accuracy, Some(accuracy), "model file");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Text form errors.
// ---------------------------------------------------------------------------------------------

/// 1-based number of the first line starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).expect("the line exists") + 1
}

/// `text` with line `line` (1-based) replaced by `f(old)`; `None` deletes it.
fn edit_line(text: &str, line: usize, f: impl FnOnce(&str) -> Option<String>) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    match f(&lines[line - 1]) {
        Some(new) => lines[line - 1] = new,
        None => {
            lines.remove(line - 1);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[track_caller]
fn assert_parse_error(text: &str, line: usize, needle: &str) -> ParseError {
    let err = Model::parse(text).expect_err("the text is broken");
    assert_eq!(err.line, line, "wrong line in {err:?}\n{text}");
    assert!(err.message.contains(needle), "{err:?} does not mention {needle:?}");
    assert!(err.to_string().starts_with(&format!("line {line}: ")), "{err}");
    err
}

#[test]
fn conv_model_text_has_the_expected_layout() {
    // The line numbers the error tests rely on.
    let text = conv_model().to_string();
    assert_eq!(line_of(&text, "L0 "), 6);
    assert_eq!(line_of(&text, "L1 "), 7);
    assert_eq!(line_of(&text, "L2 "), 14);
    assert_eq!(line_of(&text, "L3 "), 15);
    assert_eq!(line_of(&text, "L4 "), 28);
    assert_eq!(text.lines().count(), 32);
    assert!(
        text.lines().nth(6).is_some_and(|l| l.contains("padding=1:1 out=5 in=18 act=threshold")),
        "{text}"
    );
}

#[test]
fn parse_error_wrong_version_line() {
    let text = conv_model().to_string();
    assert_parse_error(
        &text.replacen("xnorflow-model 1", "xnorflow-model 2", 1),
        1,
        "unsupported text version '2'",
    );
    assert_parse_error(&edit_line(&text, 1, |_| None), 1, "expected 'xnorflow-model ...', found 'name");
    let err = Model::parse("").expect_err("empty text");
    assert!(err.message.contains("missing 'xnorflow-model' line"), "{err}");
}

#[test]
fn parse_error_header_lines() {
    let text = conv_model().to_string();
    assert_parse_error(&edit_line(&text, 2, |_| Some("name tiny".into())), 2, "bad name");
    assert_parse_error(
        &edit_line(&text, 3, |_| Some("input 6x6".into())),
        3,
        "bad shape '6x6', expected HxWxC",
    );
    assert_parse_error(&edit_line(&text, 3, |_| Some("input 6x6x2x1".into())), 3, "bad shape");
    assert_parse_error(&edit_line(&text, 4, |_| Some("output logits".into())), 4, "unknown output 'logits'");
    assert_parse_error(&edit_line(&text, 5, |_| Some("provenance {\"seed\":".into())), 5, "bad provenance");
    assert_parse_error(&edit_line(&text, 5, |_| None), 5, "expected 'provenance ...', found 'L0");
}

#[test]
fn parse_error_unknown_layer_kind() {
    let text = conv_model().to_string();
    let err =
        assert_parse_error(&text.replace("L2 maxpool", "L2 avgpool"), 14, "unknown layer kind 'avgpool'");
    assert_eq!(err.to_string(), "line 14: unknown layer kind 'avgpool'");
    assert_parse_error(&edit_line(&text, 14, |_| Some("L2".into())), 14, "missing layer kind");
}

#[test]
fn parse_error_out_of_order_layer_id() {
    let text = conv_model().to_string();
    assert_parse_error(&text.replace("L2 maxpool", "L3 maxpool"), 14, "expected layer L2, found 'L3 maxpool");
    // A dropped layer shows up as the next id arriving early.
    let dropped = edit_line(&text, 14, |_| None);
    assert_parse_error(&dropped, 14, "expected layer L2, found 'L3 dense");
}

#[test]
fn parse_error_missing_weight_row() {
    let text = conv_model().to_string();
    // Last layer (scores, 4 rows) loses its last row: the file ends after the third.
    assert_parse_error(&edit_line(&text, 32, |_| None), 31, "expected 4 weight rows, found 3");
    // A thresholded layer loses a row: its threshold line arrives where the row should be.
    assert_parse_error(&edit_line(&text, 12, |_| None), 12, "expected 'w ...', found 't ");
    // A row that lost its indentation ends the rows; the error names the last row read.
    assert_parse_error(&edit_line(&text, 9, |l| Some(l.trim().into())), 8, "expected 5 weight rows, found 1");
    // A thresholded layer loses its threshold line: the next layer arrives instead (parses, but the
    // verifier counts the thresholds).
    let no_t = edit_line(&text, 13, |_| None);
    let model = Model::parse(&no_t).expect("parses without thresholds");
    let err = model.verify().expect_err("no thresholds");
    assert_eq!(err.to_string(), "layer L1 (conv2d): has 0 thresholds for 5 output channels");
}

#[test]
fn parse_error_bad_weight_rows() {
    let text = conv_model().to_string();
    // L3's second row is line 17: 45 bits = 12 hex digits.
    let row = |f: fn(&str) -> String| edit_line(&text, 17, |l| Some(f(l)));
    let err = assert_parse_error(&row(|l| format!("  w g{}", &l[5..])), 17, "'g' is not a hex digit");
    assert!(err.message.starts_with("weight row 1: "), "{err}");
    assert_parse_error(
        &row(|l| format!("{l}0")),
        17,
        "weight row 1: expected 12 hex digits for 45 bits, found 13",
    );
    assert_parse_error(
        &row(|l| l[..l.len() - 1].to_string()),
        17,
        "expected 12 hex digits for 45 bits, found 11",
    );
    // Digit 11 holds bits 44..48; only bit 44 exists.
    assert_parse_error(
        &row(|l| format!("{}2", &l[..l.len() - 1])),
        17,
        "weight row 1: bits set beyond column 45",
    );
    assert_parse_error(&row(|l| l.replacen("w ", "v ", 1)), 17, "expected 'w ...', found 'v ");
}

#[test]
fn parse_error_bad_thresholds() {
    let text = conv_model().to_string();
    assert_parse_error(&edit_line(&text, 13, |_| Some("  t 1 2 x 4 5".into())), 13, "bad threshold 'x'");
    assert_parse_error(
        &edit_line(&text, 13, |_| Some("  t 1 2 99999999999 4 5".into())),
        13,
        "bad threshold '99999999999'",
    );
}

#[test]
fn parse_error_attributes() {
    let text = conv_model().to_string();
    let l2 = |new: &str| edit_line(&text, 14, |_| Some(new.into()));
    assert_parse_error(&l2("L2 maxpool kernel=2 stride=2 dilation=1"), 14, "unknown attribute 'dilation'");
    assert_parse_error(&l2("L2 maxpool kernel=2"), 14, "missing stride=");
    assert_parse_error(&l2("L2 maxpool kernel=2 stride=two"), 14, "bad value 'two' for stride");
    assert_parse_error(&l2("L2 maxpool kernel=2 stride=2 kernel=3"), 14, "'kernel' given twice");
    assert_parse_error(&l2("L2 maxpool kernel=2 stride 2"), 14, "expected key=value, found 'stride'");
    assert_parse_error(
        &edit_line(&text, 6, |_| Some("L0 quant.binary threshold=100 signed=true".into())),
        6,
        "unknown attribute 'signed'",
    );
    assert_parse_error(
        &edit_line(&text, 6, |_| Some("L0 quant.binary threshold=256".into())),
        6,
        "bad value '256'",
    );
    let l1 = |f: fn(&str) -> String| edit_line(&text, 7, |l| Some(f(l)));
    assert_parse_error(
        &l1(|l| l.replace("padding=1:1", "padding=1:2")),
        7,
        "bad padding '1:2', expected none or N:0 or N:1",
    );
    assert_parse_error(&l1(|l| l.replace("padding=1:1", "padding=x:1")), 7, "bad padding amount 'x'");
    assert_parse_error(&l1(|l| l.replace(" in=18", "")), 7, "missing in=");
    assert_parse_error(
        &l1(|l| l.replace("out=5 in=18", "out=65536 in=65537")),
        7,
        "65536x65537 weight matrix is too large",
    );
}

#[test]
fn table_text_form_and_its_parse_errors() {
    for signed in [false, true] {
        let model = table_model(signed);
        let Layer::QuantTable(t) = &model.layers[0] else { panic!("L0 is the table") };
        assert_eq!(t.signed(), signed);
        let text = model.to_string();
        let line = line_of(&text, "L0 ");
        let l0 = text.lines().nth(line - 1).expect("the line");
        let values: Vec<String> = t.values().iter().map(i32::to_string).collect();
        assert_eq!(l0, format!("L0 quant.table values={}", values.join(",")));
        assert_eq!(Model::parse(&text).expect("parses"), model);
    }
    let text = table_model(true).to_string();
    let line = line_of(&text, "L0 ");
    let l0 = |f: &dyn Fn(&str) -> String| edit_line(&text, line, |l| Some(f(l)));
    let drop_last = |l: &str| l[..l.rfind(',').expect("commas")].to_string();
    assert_parse_error(&l0(&drop_last), line, "has 256 values (one per pixel byte), found 255");
    assert_parse_error(&l0(&|l| format!("{l}{}", ",0".repeat(44))), line, "found 300");
    // The first value replaced by `v`.
    let first = |v: &'static str| {
        move |l: &str| format!("L0 quant.table values={v},{}", l.split_once(',').expect("commas").1)
    };
    // The table is signed, so it has a negative value: 200 mixes the two byte readings.
    assert_parse_error(&l0(&first("200")), line, "all in 0..=255");
    assert_parse_error(&l0(&first("-129")), line, "found -129 (pixel 0)");
    assert_parse_error(&l0(&first("x")), line, "bad table value 'x'");
    assert_parse_error(&l0(&first("")), line, "bad table value ''");
    assert_parse_error(&l0(&first("99999999999")), line, "bad table value '99999999999'");
    assert_parse_error(&l0(&|_| "L0 quant.table".into()), line, "missing values=");
    assert_parse_error(&l0(&|l| format!("{l} signed=true")), line, "unknown attribute 'signed'");
}

/// Unknown attributes and unknown `act=` values of dense and conv layers are only noticed after
/// their weight (and threshold) lines are read, so the error points at the layer's last line (here
/// 27 and 13, or 12 for the act) instead of the layer line.
#[test]

fn parse_error_unknown_attribute_of_a_weighted_layer_names_the_layer_line() {
    let text = conv_model().to_string();
    let bad = edit_line(&text, 7, |l| Some(l.replace("act=threshold", "act=relu")));
    assert_parse_error(&bad, 7, "unknown act 'relu'");
    let bad = edit_line(&text, 15, |l| Some(format!("{l} bias=1")));
    assert_parse_error(&bad, 15, "unknown attribute 'bias'");
    let bad = edit_line(&text, 7, |l| Some(format!("{l} dilation=2")));
    assert_parse_error(&bad, 7, "unknown attribute 'dilation'");
}

// ---------------------------------------------------------------------------------------------
// 3. Verifier errors name the layer.
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_layer_error(model: &Model, layer: u32, kind: &str, needles: &[&str]) -> String {
    let err = model.verify().expect_err("the model is invalid");
    match &err {
        ModelError::Layer { layer: l, kind: k, .. } => {
            assert_eq!((*l, *k), (LayerId(layer), kind), "{err}");
        }
        ModelError::Model(_) => panic!("expected an error on layer L{layer}, got {err}"),
    }
    let s = err.to_string();
    assert!(s.starts_with(&format!("layer L{layer} ({kind}): ")), "{s}");
    for n in needles {
        assert!(s.contains(n), "{s:?} does not mention {n:?}");
    }
    assert_eq!(model.infer().expect_err("infer agrees"), err);
    s
}

#[test]
fn verifier_threshold_out_of_range() {
    // L3: dense, binary input, fan-in 45: accumulators 0..=45, thresholds 0..=46.
    let mut model = conv_model();
    thresholds_mut(&mut model, 3)[4] = 47;
    let s = assert_layer_error(&model, 3, "dense", &["L3", "threshold 47", "channel 4", "[0, 46]"]);
    assert_eq!(
        s,
        "layer L3 (dense): threshold 47 of channel 4 is outside [0, 46] (accumulator range [0, 45])"
    );
    thresholds_mut(&mut model, 3)[4] = -1;
    assert_layer_error(&model, 3, "dense", &["threshold -1 of channel 4", "[0, 46]"]);
    // Both ends of the range are valid (constant channels).
    for t in [0, 46] {
        thresholds_mut(&mut model, 3)[4] = t;
        model.verify().expect("boundary thresholds are valid");
    }

    // L1: conv, fan-in 3 * 3 * 2 = 18 (padding counts as input).
    let mut model = conv_model();
    thresholds_mut(&mut model, 1)[2] = 20;
    assert_layer_error(&model, 1, "conv2d", &["L1", "threshold 20 of channel 2", "[0, 19]"]);

    // 8-bit inputs: fan-in 4, |x| <= 128 (signed) or 255 (unsigned).
    let mut model = fixed8_model(true);
    thresholds_mut(&mut model, 1)[0] = -513;
    assert_layer_error(&model, 1, "conv2d", &["threshold -513 of channel 0", "[-512, 513]", "[-512, 512]"]);
    thresholds_mut(&mut model, 1)[0] = 513;
    model.verify().expect("hi + 1 is valid");
    let mut model = fixed8_model(false);
    thresholds_mut(&mut model, 1)[1] = 1022;
    assert_layer_error(&model, 1, "conv2d", &["channel 1", "[-1020, 1021]"]);
}

#[test]
fn verifier_threshold_count() {
    let mut model = conv_model();
    thresholds_mut(&mut model, 3).pop();
    assert_layer_error(&model, 3, "dense", &["has 10 thresholds for 11 output channels"]);
}

#[test]
fn verifier_wrong_weight_matrix_width() {
    let mut model = conv_model();
    model.layers[3].weights_mut().expect("dense").matrix = BitMatrix::zeros(11, 44);
    assert_layer_error(
        &model,
        3,
        "dense",
        &["weight matrix is 11x44 but the input gives a fan-in of 45 (expected 11x45)"],
    );
    let mut model = conv_model();
    model.layers[1].weights_mut().expect("conv").matrix = BitMatrix::zeros(5, 9);
    assert_layer_error(&model, 1, "conv2d", &["weight matrix is 5x9", "fan-in of 18 (expected 5x18)"]);
    // A conv's fan-in follows its kernel: changing the kernel without the weights is caught too.
    let mut model = conv_model();
    if let Layer::Conv2d { kernel, .. } = &mut model.layers[1] {
        *kernel = 2;
    }
    assert_layer_error(&model, 1, "conv2d", &["weight matrix is 5x18", "fan-in of 8 (expected 5x8)"]);
}

#[test]
fn verifier_scores_only_on_the_last_layer() {
    let mut model = conv_model();
    model.layers[3].weights_mut().expect("dense").activation = Activation::Scores;
    assert_layer_error(&model, 3, "dense", &["only the last layer may produce scores"]);
    let mut model = conv_model();
    model.layers[1].weights_mut().expect("conv").activation = Activation::Scores;
    assert_layer_error(&model, 1, "conv2d", &["only the last layer may produce scores"]);
    // And the last one must.
    let mut model = conv_model();
    let n = model.layers.len();
    model.layers[n - 1].weights_mut().expect("dense").activation = Activation::Threshold(vec![0; 4]);
    assert_layer_error(&model, 4, "dense", &["the last layer must produce scores"]);
}

#[test]
fn verifier_last_layer_must_be_dense() {
    let mut model = conv_model();
    model.layers[4] = Layer::MaxPool { kernel: 1, stride: 1 };
    assert_layer_error(&model, 4, "maxpool", &["the last layer must be dense"]);

    let mut model = conv_model();
    model.layers.truncate(2); // quant, conv
    model.layers[1].weights_mut().expect("conv").activation = Activation::Scores;
    assert_layer_error(&model, 1, "conv2d", &["the last layer must be dense"]);

    let mut model = conv_model();
    model.layers.truncate(1);
    let err = model.verify().expect_err("a quantizer alone");
    assert!(matches!(err, ModelError::Model(_)), "{err}");
    assert!(err.to_string().contains("the last layer must be dense with scores, but L0"), "{err}");
}

#[test]
fn verifier_max_pool_of_integers_keeps_their_type() {
    for (signed, name) in [(true, "int8"), (false, "uint8")] {
        let specs = [
            LayerSpec::QuantFixed8(signed),
            LayerSpec::MaxPool { kernel: 2, stride: 2 },
            LayerSpec::Conv2d { out: 3, kernel: 1, stride: 1, padding: Padding::None },
            LayerSpec::Dense(5),
        ];
        let model =
            random_model("pool", Shape::new(4, 4, 1), &specs, 3).expect("a pool of integers verifies");
        let types = model.infer().expect("verified");
        assert_eq!(types[1].to_string(), format!("2x2x1 {name}"));
        assert_eq!(types[1].elem, types[0].elem);
    }
}

#[test]
fn verifier_quantizer_only_first() {
    let mut model = conv_model();
    model.layers.insert(2, Layer::QuantBinary { threshold: 1 });
    assert_layer_error(&model, 2, "quant.binary", &["an input quantizer may only be the first layer"]);
    let mut model = conv_model();
    model.layers.insert(1, Layer::QuantFixed8(Fixed8 { signed: true, frac_bits: 0 }));
    assert_layer_error(&model, 1, "quant.fixed8", &["an input quantizer may only be the first layer"]);
    let mut model = conv_model();
    let table = InputTable::new(vec![0; 256]).expect("valid");
    model.layers.insert(3, Layer::QuantTable(table));
    assert_layer_error(&model, 3, "quant.table", &["an input quantizer may only be the first layer"]);
    let mut model = conv_model();
    model.layers.remove(0);
    assert_layer_error(&model, 0, "conv2d", &["the first layer must be an input quantizer"]);
}

#[test]
fn verifier_padding_on_an_8bit_input() {
    for bit in [false, true] {
        let mut model = fixed8_model(true);
        if let Layer::Conv2d { padding, .. } = &mut model.layers[1] {
            *padding = Padding::Bit { amount: 1, bit };
        }
        assert_layer_error(&model, 1, "conv2d", &["integer input (int8) has no padding bit", "padding none"]);
    }
}

#[test]
fn verifier_kernel_and_window_sizes() {
    // Conv kernel larger than the padded input.
    let mut model = conv_model();
    if let Layer::Conv2d { kernel, .. } = &mut model.layers[1] {
        *kernel = 9;
    }
    assert_layer_error(&model, 1, "conv2d", &["kernel 9 does not fit the padded input 8x8 (input 6x6x2)"]);
    // Unpadded 8-bit input.
    let mut model = fixed8_model(false);
    if let Layer::Conv2d { kernel, .. } = &mut model.layers[1] {
        *kernel = 5;
    }
    assert_layer_error(&model, 1, "conv2d", &["kernel 5 does not fit the padded input 4x4 (input 4x4x1)"]);
    // Padding must be smaller than the kernel.
    let mut model = conv_model();
    if let Layer::Conv2d { padding, .. } = &mut model.layers[1] {
        *padding = Padding::Bit { amount: 3, bit: false };
    }
    assert_layer_error(&model, 1, "conv2d", &["padding 3 must be smaller than the kernel 3"]);
    // Zero kernel or stride.
    let mut model = conv_model();
    if let Layer::Conv2d { stride, .. } = &mut model.layers[1] {
        *stride = 0;
    }
    assert_layer_error(&model, 1, "conv2d", &["kernel 3 and stride 0 must both be at least 1"]);
    // Max-pool window larger than its input (6x6x5 after the conv).
    let mut model = conv_model();
    model.layers[2] = Layer::MaxPool { kernel: 7, stride: 1 };
    assert_layer_error(&model, 2, "maxpool", &["window 7x7 larger than the input 6x6x5"]);
    model.layers[2] = Layer::MaxPool { kernel: 0, stride: 1 };
    assert_layer_error(&model, 2, "maxpool", &["kernel 0 and stride 1 must both be at least 1"]);
}

#[test]
fn verifier_model_level_errors() {
    let mut model = conv_model();
    model.input = Shape::new(6, 0, 2);
    assert_eq!(model.verify(), Err(ModelError::Model("input shape 6x0x2 has a zero extent".into())));
    model.input = Shape::new(1 << 20, 1 << 20, 1);
    assert!(model.verify().expect_err("huge").to_string().contains("too large"));
    model.layers.clear();
    model.input = Shape::new(1, 1, 1);
    assert_eq!(model.verify(), Err(ModelError::Model("no layers".into())));
}

// ---------------------------------------------------------------------------------------------
// 4. File format round trips.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn file_format_round_trips(model in arb_model()) {
        let bytes = to_bytes(&model).map_err(fail)?;
        let back = from_bytes(&bytes).map_err(fail)?;
        prop_assert_eq!(&back, &model);
        // The writer is deterministic.
        prop_assert_eq!(to_bytes(&back).map_err(fail)?, bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn save_and_load_round_trip(model in arb_model()) {
        let dir = tempfile::tempdir().map_err(fail)?;
        let path = dir.path().join("model.xnf");
        save(&model, &path).map_err(fail)?;
        prop_assert_eq!(load(&path).map_err(fail)?, model.clone());
        prop_assert_eq!(std::fs::read(&path).map_err(fail)?, to_bytes(&model).map_err(fail)?);
    }
}

#[test]
fn save_and_load_through_a_temporary_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("net.xnf");
    let mut model = conv_model();
    model.provenance = full_provenance();
    model.output = OutputMode::Scores;
    save(&model, &path).expect("saves");
    assert_eq!(load(&path).expect("loads"), model);
    // Atomic write: no temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["net.xnf"]);

    // Saving again replaces the file.
    let other = fixed8_model(false);
    save(&other, &path).expect("overwrites");
    assert_eq!(load(&path).expect("loads"), other);

    // An invalid model is refused before anything is written.
    let mut bad = conv_model();
    thresholds_mut(&mut bad, 3)[0] = 1000;
    let bad_path = dir.path().join("bad.xnf");
    let err = save(&bad, &bad_path).expect_err("invalid model");
    assert!(matches!(err, FormatError::Invalid(ModelError::Layer { layer: LayerId(3), .. })), "{err}");
    assert!(!bad_path.exists());
    assert!(matches!(to_bytes(&bad), Err(FormatError::Invalid(_))));

    // I/O errors name the file.
    let missing = dir.path().join("missing.xnf");
    let err = load(&missing).expect_err("no such file");
    assert!(matches!(err, FormatError::File(_)), "{err}");
    assert!(err.to_string().contains("missing.xnf"), "{err}");
    let nowhere = dir.path().join("no-such-dir").join("m.xnf");
    let err = save(&model, &nowhere).expect_err("no such directory");
    assert!(matches!(err, FormatError::Io { .. }) && err.to_string().contains("no-such-dir"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Building model files by hand.
// ---------------------------------------------------------------------------------------------

type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

/// The safetensors metadata and tensors of a file.
fn split(bytes: &[u8]) -> (Option<HashMap<String, String>>, Tensors) {
    let st = SafeTensors::deserialize(bytes).expect("a safetensors file");
    let (_, meta) = SafeTensors::read_metadata(bytes).expect("a safetensors file");
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, (t.dtype(), t.shape().to_vec(), t.data().to_vec())))
        .collect();
    (meta.metadata().clone(), tensors)
}

/// The parsed manifest and the tensors of a file.
fn manifest_of(bytes: &[u8]) -> (Value, Tensors) {
    let (meta, tensors) = split(bytes);
    let json = meta.expect("metadata").remove(MANIFEST_KEY).expect("a manifest");
    (serde_json::from_str(&json).expect("JSON"), tensors)
}

fn build(meta: Option<HashMap<String, String>>, tensors: &Tensors) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).expect("consistent tensor")))
        .collect();
    safetensors::serialize(views, &meta).expect("serializes")
}

fn build_with_manifest(manifest: &str, tensors: &Tensors) -> Vec<u8> {
    build(Some(HashMap::from([(MANIFEST_KEY.to_string(), manifest.to_string())])), tensors)
}

fn rebuild(manifest: &Value, tensors: &Tensors) -> Vec<u8> {
    build_with_manifest(&manifest.to_string(), tensors)
}

fn i32_tensor(values: &[i32]) -> (Dtype, Vec<usize>, Vec<u8>) {
    (Dtype::I32, vec![values.len()], values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

#[test]
fn hand_built_file_matches_the_documented_layout() {
    let manifest = json!({
        "format": FORMAT_NAME,
        // A model without multi-bit activations is still written as version 1.
        "version": MIN_FORMAT_VERSION,
        "name": "hand made",
        "input": {"h": 2, "w": 2, "c": 1},
        "output": "scores",
        "provenance": {"dataset": "none", "seed": 5},
        "layers": [
            {"kind": "quant.binary", "id": 0, "threshold": 128},
            {"kind": "dense", "id": 1, "out": 3, "fan_in": 4, "act": "threshold",
             "weight": "L1.weight", "threshold": "L1.threshold"},
            {"kind": "dense", "id": 2, "out": 2, "fan_in": 3, "act": "scores", "weight": "L2.weight"},
        ],
    });
    let w1 = [0b1010u8, 0b0001, 0b1111];
    let w2 = [0b101u8, 0b010];
    let tensors = Tensors::from([
        ("L1.weight".into(), (Dtype::U8, vec![3, 1], w1.to_vec())),
        ("L1.threshold".into(), i32_tensor(&[2, 0, 5])),
        ("L2.weight".into(), (Dtype::U8, vec![2, 1], w2.to_vec())),
    ]);
    let expected = Model {
        name: "hand made".into(),
        input: Shape::new(2, 2, 1),
        layers: vec![
            Layer::QuantBinary { threshold: 128 },
            Layer::Dense(BinaryWeights {
                matrix: BitMatrix::from_fn(3, 4, |r, c| (w1[r] >> c) & 1 == 1),
                activation: Activation::Threshold(vec![2, 0, 5]),
            }),
            Layer::Dense(BinaryWeights {
                matrix: BitMatrix::from_fn(2, 3, |r, c| (w2[r] >> c) & 1 == 1),
                activation: Activation::Scores,
            }),
        ],
        output: OutputMode::Scores,
        provenance: Provenance { dataset: Some("none".into()), seed: Some(5), ..Provenance::default() },
    };
    assert_eq!(from_bytes(&rebuild(&manifest, &tensors)).expect("a valid file"), expected);
    // And the writer produces exactly this manifest and these tensors.
    let (written, written_tensors) = manifest_of(&to_bytes(&expected).expect("writes"));
    assert_eq!(written, manifest);
    assert_eq!(written_tensors, tensors);

    // Conv layers and padding, as the writer spells them.
    let (m, t) = manifest_of(&to_bytes(&conv_model()).expect("writes"));
    assert_eq!(
        m["layers"][1],
        json!({"kind": "conv2d", "id": 1, "kernel": 3, "stride": 1, "padding": {"bit": {"amount": 1, "bit": true}},
               "out": 5, "fan_in": 18, "act": "threshold", "weight": "L1.weight", "threshold": "L1.threshold"})
    );
    assert_eq!(m["layers"][2], json!({"kind": "maxpool", "id": 2, "kernel": 2, "stride": 2}));
    assert_eq!(t["L1.weight"].1, [5, 3]);
    assert_eq!(t["L3.weight"].1, [11, 6]);
    let (m, _) = manifest_of(&to_bytes(&fixed8_model(true)).expect("writes"));
    assert_eq!(m["layers"][0], json!({"kind": "quant.fixed8", "id": 0, "signed": true, "frac_bits": 0}));
    assert_eq!(m["layers"][1]["padding"], json!("none"));
}

// ---------------------------------------------------------------------------------------------
// 5. File format errors.
// ---------------------------------------------------------------------------------------------

fn conv_file() -> Vec<u8> {
    to_bytes(&conv_model()).expect("a valid model")
}

#[track_caller]
fn assert_tensor_error(bytes: &[u8], tensor: &str, needle: &str) {
    let err = from_bytes(bytes).expect_err("the file is broken");
    match &err {
        FormatError::Tensor { tensor: t, message } => {
            assert_eq!(t, tensor, "{err}");
            assert!(message.contains(needle), "{err} does not mention {needle:?}");
        }
        other => panic!("expected an error about tensor {tensor}, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&format!("tensor '{tensor}': ")), "{err}");
}

#[track_caller]
fn assert_manifest_error(bytes: &[u8], needle: &str) {
    let err = from_bytes(bytes).expect_err("the file is broken");
    assert!(matches!(err, FormatError::Manifest(_)), "expected a manifest error, got {err:?}");
    assert!(err.to_string().contains(needle), "{err} does not mention {needle:?}");
}

#[test]
fn every_truncation_is_an_error() {
    for model in [conv_model(), fixed8_model(true)] {
        let bytes = to_bytes(&model).expect("valid");
        for len in 0..bytes.len() {
            match from_bytes(&bytes[..len]) {
                Err(FormatError::Container(m)) => assert!(!m.is_empty()),
                other => panic!("prefix of {len} of {} bytes gave {other:?}", bytes.len()),
            }
        }
        assert_eq!(from_bytes(&bytes).expect("whole file"), model);
        // Trailing garbage is not accepted either.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(from_bytes(&longer), Err(FormatError::Container(_))));
    }
    let err = from_bytes(b"").expect_err("empty");
    assert!(err.to_string().starts_with("not a valid model file (safetensors container)"), "{err}");
}

#[test]
fn newer_version_is_refused_as_such() {
    let (mut manifest, tensors) = manifest_of(&conv_file());
    manifest["version"] = json!(FORMAT_VERSION + 1);
    let err = from_bytes(&rebuild(&manifest, &tensors)).expect_err("a newer version");
    let newer = u64::from(FORMAT_VERSION + 1);
    assert!(matches!(err, FormatError::UnsupportedVersion { found } if found == newer), "{err:?}");
    assert!(err.to_string().contains(&format!("version {newer}")), "{err}");
    assert!(
        err.to_string().contains(&format!("reads versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION}")),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade xnorflow"), "{err}");
    manifest["version"] = json!(0);
    assert!(matches!(
        from_bytes(&rebuild(&manifest, &tensors)),
        Err(FormatError::UnsupportedVersion { found: 0 })
    ));
    // Even when the rest of the manifest is something this build cannot read.
    let v_next = json!({"format": FORMAT_NAME, "version": newer, "graph": {"nodes": []}});
    assert!(matches!(
        from_bytes(&rebuild(&v_next, &tensors)),
        Err(FormatError::UnsupportedVersion { found }) if found == newer
    ));
    manifest["version"] = json!(u64::MAX);
    assert!(matches!(
        from_bytes(&rebuild(&manifest, &tensors)),
        Err(FormatError::UnsupportedVersion { found: u64::MAX })
    ));
    for bad in [json!("1"), json!(1.5), json!(-1), Value::Null] {
        manifest["version"] = bad;
        assert_manifest_error(&rebuild(&manifest, &tensors), "missing or non-integer 'version'");
    }
    manifest.as_object_mut().expect("object").remove("version");
    assert_manifest_error(&rebuild(&manifest, &tensors), "missing or non-integer 'version'");
}

#[test]
fn missing_manifest() {
    let (_, tensors) = split(&conv_file());
    let plain = build(None, &tensors);
    let err = from_bytes(&plain).expect_err("no metadata");
    assert!(matches!(err, FormatError::MissingManifest), "{err:?}");
    assert!(err.to_string().contains("no 'xnorflow' manifest"), "{err}");
    // Metadata, but not ours.
    let other = build(Some(HashMap::from([("format".to_string(), "pt".to_string())])), &tensors);
    assert!(matches!(from_bytes(&other), Err(FormatError::MissingManifest)));
    // A safetensors file with no tensors at all.
    assert!(matches!(from_bytes(&build(None, &Tensors::new())), Err(FormatError::MissingManifest)));
}

#[test]
fn bad_manifest_json() {
    let (_, tensors) = split(&conv_file());
    assert_manifest_error(&build_with_manifest("{\"format\": \"xnorflow-model\", ", &tensors), "not JSON");
    assert_manifest_error(&build_with_manifest("", &tensors), "not JSON");
    assert_manifest_error(&build_with_manifest("[1, 2]", &tensors), "format is None");

    let (manifest, tensors) = manifest_of(&conv_file());
    let with = |f: &dyn Fn(&mut Value)| {
        let mut m = manifest.clone();
        f(&mut m);
        rebuild(&m, &tensors)
    };
    assert_manifest_error(
        &with(&|m| m["format"] = json!("onnx")),
        "format is Some(\"onnx\"), expected \"xnorflow-model\"",
    );
    assert_manifest_error(&with(&|m| m["bias"] = json!(true)), "unknown field `bias`");
    assert_manifest_error(&with(&|m| m["layers"][3]["bias"] = json!(true)), "unknown field `bias`");
    assert_manifest_error(&with(&|m| m["layers"][2]["kind"] = json!("avgpool")), "avgpool");
    assert_manifest_error(&with(&|m| m["output"] = json!("logits")), "logits");
    assert_manifest_error(&with(&|m| m["layers"][2]["kernel"] = json!(-2)), "-2");
    assert_manifest_error(
        &with(&|m| {
            m["layers"].as_array_mut().expect("array").remove(0);
        }),
        "layer 0 has id L1, expected L0",
    );
    assert_manifest_error(&with(&|m| m["layers"][2]["id"] = json!(7)), "layer 2 has id L7, expected L2");
}

#[test]
fn table_is_stored_in_the_manifest_and_checked_on_reading() {
    let model = table_model(true);
    let Layer::QuantTable(t) = &model.layers[0] else { panic!("L0 is the table") };
    let (manifest, tensors) = manifest_of(&to_bytes(&model).expect("valid"));
    assert_eq!(manifest["layers"][0], json!({"kind": "quant.table", "id": 0, "values": t.values()}));
    assert!(tensors.keys().all(|k| !k.starts_with("L0")), "no tensor for the table: {tensors:?}");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut m = manifest.clone();
        f(&mut m);
        rebuild(&m, &tensors)
    };
    assert_eq!(from_bytes(&with(&|_| {})).expect("unchanged"), model);
    let invalid = |bytes: &[u8], needle: &str| {
        let err = from_bytes(bytes).expect_err("bad table");
        assert!(
            matches!(
                &err,
                FormatError::Invalid(ModelError::Layer { layer: LayerId(0), kind: "quant.table", .. })
            ),
            "{err:?}"
        );
        let s = err.to_string();
        assert!(s.starts_with("invalid model: layer L0 (quant.table): ") && s.contains(needle), "{s}");
    };
    invalid(&with(&|m| m["layers"][0]["values"] = json!(vec![0; 255])), "found 255");
    invalid(&with(&|m| m["layers"][0]["values"] = json!(vec![1; 300])), "found 300");
    invalid(&with(&|m| m["layers"][0]["values"][7] = json!(200)), "found -");
    invalid(&with(&|m| m["layers"][0]["values"] = json!(vec![256; 256])), "256 (pixel 0)");
    assert_manifest_error(&with(&|m| m["layers"][0]["values"][7] = json!(1.5)), "1.5");
    assert_manifest_error(&with(&|m| m["layers"][0]["values"][7] = json!(1u64 << 40)), "1099511627776");
    assert_manifest_error(
        &with(&|m| {
            m["layers"][0].as_object_mut().expect("object").remove("values");
        }),
        "missing field `values`",
    );
}

#[test]
fn weight_tensor_with_the_wrong_shape_or_type() {
    let (manifest, tensors) = manifest_of(&conv_file());
    // L3 is dense 45 -> 11: U8 [11, 6].
    let mut t = tensors.clone();
    t.insert("L3.weight".into(), (Dtype::U8, vec![11, 5], vec![0; 55]));
    assert_tensor_error(&rebuild(&manifest, &t), "L3.weight", "is U8 [11, 5], expected U8 [11, 6]");
    t.insert("L3.weight".into(), (Dtype::U8, vec![66], vec![0; 66]));
    assert_tensor_error(&rebuild(&manifest, &t), "L3.weight", "is U8 [66], expected U8 [11, 6]");
    t.insert("L3.weight".into(), (Dtype::I8, vec![11, 6], vec![0; 66]));
    assert_tensor_error(&rebuild(&manifest, &t), "L3.weight", "is I8 [11, 6], expected U8 [11, 6]");
    // The manifest's fan-in disagreeing with the tensor is a tensor-shape error...
    let mut m = manifest.clone();
    m["layers"][3]["fan_in"] = json!(56);
    assert_tensor_error(&rebuild(&m, &tensors), "L3.weight", "expected U8 [11, 7]");
    // ...and agreeing with the tensor but not with the input is a verifier error on the layer.
    m["layers"][3]["fan_in"] = json!(46);
    let err = from_bytes(&rebuild(&m, &tensors)).expect_err("fan-in 46");
    assert!(matches!(err, FormatError::Invalid(ModelError::Layer { layer: LayerId(3), .. })), "{err:?}");
    assert!(err.to_string().contains("L3") && err.to_string().contains("fan-in of 45"), "{err}");
    // Padding bits beyond the fan-in must be clear: bit 45 of row 0 is byte 5 bit 5.
    let mut t = tensors.clone();
    t.get_mut("L3.weight").expect("exists").2[5] |= 1 << 5;
    assert_tensor_error(&rebuild(&manifest, &t), "L3.weight", "padding bits beyond column 45 are set");
    // A weight tensor the manifest names but the file lacks.
    let mut t = tensors.clone();
    t.remove("L4.weight");
    assert_tensor_error(&rebuild(&manifest, &t), "L4.weight", "missing from the file");
}

#[test]
fn threshold_tensor_missing_or_wrong() {
    let (manifest, tensors) = manifest_of(&conv_file());
    let mut t = tensors.clone();
    t.remove("L1.threshold");
    assert_tensor_error(&rebuild(&manifest, &t), "L1.threshold", "missing from the file");
    let mut t = tensors.clone();
    t.insert("L1.threshold".into(), (Dtype::U8, vec![20], vec![0; 20]));
    assert_tensor_error(&rebuild(&manifest, &t), "L1.threshold", "is U8 [20], expected I32 [5]");
    t.insert("L1.threshold".into(), i32_tensor(&[1, 2, 3, 4]));
    assert_tensor_error(&rebuild(&manifest, &t), "L1.threshold", "is I32 [4], expected I32 [5]");
    // The manifest and the act must agree.
    let mut m = manifest.clone();
    m["layers"][1].as_object_mut().expect("object").remove("threshold");
    assert_tensor_error(
        &rebuild(&m, &tensors),
        "L1.weight",
        "act is threshold but no threshold tensor is given",
    );
    let mut m = manifest.clone();
    m["layers"][1]["act"] = json!("scores");
    assert_tensor_error(&rebuild(&m, &tensors), "L1.weight", "act is scores but a threshold tensor is given");
    // One tensor cannot serve two layers.
    let mut m = manifest.clone();
    m["layers"][3]["threshold"] = json!("L1.threshold");
    let mut t = tensors.clone();
    t.remove("L3.threshold");
    assert_tensor_error(&rebuild(&m, &t), "L1.threshold", "referenced by two layers");
}

/// Byte offset of tensor `name`'s data in the file.
fn tensor_offset(bytes: &[u8], name: &str) -> usize {
    let st = SafeTensors::deserialize(bytes).expect("valid");
    st.tensor(name).expect("exists").data().as_ptr() as usize - bytes.as_ptr() as usize
}

#[test]
fn out_of_range_threshold_stored_in_the_file() {
    let mut bytes = conv_file();
    // L3 channel 4: fan-in 45, so 47 is out of [0, 46].
    let at = tensor_offset(&bytes, "L3.threshold") + 4 * 4;
    bytes[at..at + 4].copy_from_slice(&47i32.to_le_bytes());
    let err = from_bytes(&bytes).expect_err("threshold out of range");
    match &err {
        FormatError::Invalid(ModelError::Layer { layer, kind, message }) => {
            assert_eq!((*layer, *kind), (LayerId(3), "dense"));
            assert!(message.contains("channel 4") && message.contains("[0, 46]"), "{message}");
        }
        other => panic!("expected a verifier error on L3, got {other:?}"),
    }
    let s = err.to_string();
    assert!(s.starts_with("invalid model: layer L3 (dense): threshold 47 of channel 4"), "{s}");

    let at = tensor_offset(&bytes, "L1.threshold");
    bytes[at..at + 4].copy_from_slice(&i32::MIN.to_le_bytes());
    // Layers are verified in order: L1 is now the first problem.
    let err = from_bytes(&bytes).expect_err("two bad thresholds");
    assert!(err.to_string().contains("layer L1 (conv2d): threshold -2147483648 of channel 0"), "{err}");
}

#[test]
fn extra_unreferenced_tensor() {
    let (manifest, mut tensors) = manifest_of(&conv_file());
    tensors.insert("L2.weight".into(), (Dtype::U8, vec![1, 1], vec![0]));
    assert_tensor_error(&rebuild(&manifest, &tensors), "L2.weight", "not referenced by the manifest");
    tensors.remove("L2.weight");
    tensors.insert("optimizer.state".into(), (Dtype::F32, vec![2], vec![0; 8]));
    assert_tensor_error(&rebuild(&manifest, &tensors), "optimizer.state", "not referenced by the manifest");
}

#[test]
fn a_manifest_describing_an_invalid_model_names_the_layer() {
    let (manifest, tensors) = manifest_of(&conv_file());
    let mut m = manifest.clone();
    m["input"] = json!({"h": 5, "w": 5, "c": 2});
    // 5x5 input: conv -> 5x5x5, pool -> 2x2x5 = 20 != 45.
    let err = from_bytes(&rebuild(&m, &tensors)).expect_err("wrong input");
    assert!(matches!(err, FormatError::Invalid(ModelError::Layer { layer: LayerId(3), .. })), "{err:?}");
    let mut m = manifest.clone();
    m["layers"][2]["kernel"] = json!(0);
    let err = from_bytes(&rebuild(&m, &tensors)).expect_err("zero kernel");
    assert!(err.to_string().contains("layer L2 (maxpool): kernel 0"), "{err}");
    let mut m = manifest;
    m["input"] = json!({"h": 0, "w": 6, "c": 2});
    let err = from_bytes(&rebuild(&m, &tensors)).expect_err("empty input");
    assert!(matches!(err, FormatError::Invalid(ModelError::Model(_))), "{err:?}");
}

/// safetensors 0.4.5 computes `buffer_end + 8 + n` without overflow checks, so a header declaring a
/// tensor of `usize::MAX` bytes panics ("attempt to add with overflow") in builds with overflow
/// checks (debug, `cargo test` without `--release`). In release builds it wraps and is refused.
#[test]
fn huge_declared_tensor_is_a_container_error() {
    let header = format!(
        "{{\"__metadata__\":{{\"{MANIFEST_KEY}\":\"{{}}\"}},\"a\":{{\"dtype\":\"U8\",\"shape\":[{m}],\"data_offsets\":[0,{m}]}}}}",
        m = usize::MAX
    );
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    let result = catch_unwind(|| from_bytes(&bytes));
    assert!(matches!(result, Ok(Err(FormatError::Container(_)))), "{result:?}");
}

/// Every row takes at least one word, so a short text declaring 2^32 one-bit rows must be refused
/// before it allocates 32 GiB.
#[test]
fn text_with_a_huge_row_count_is_refused() {
    let text = "xnorflow-model 1\nname \"x\"\ninput 1x1x1\noutput argmax\nprovenance {}\n\
                L0 quant.binary threshold=1\nL1 dense out=4294967296 in=1 act=scores\n";
    assert_parse_error(text, 7, "4294967296x1 weight matrix is too large");
}

/// A weight tensor `U8 [out, 0]` holds no bytes whatever `out` is, so a file of a few hundred bytes
/// declaring `out` = 2^40 with `fan_in` = 0 makes `BitMatrix::from_bytes` loop 2^40 times before the
/// verifier refuses the fan-in.
#[test]

fn zero_width_weight_with_huge_row_count_is_refused_quickly() {
    let model = random_mlp(Shape::new(3, 5, 1), &[7], 3, 1).expect("valid");
    let (mut manifest, mut tensors) = manifest_of(&to_bytes(&model).expect("valid"));
    let rows = 1usize << 40;
    manifest["layers"][2]["out"] = json!(rows);
    manifest["layers"][2]["fan_in"] = json!(0);
    tensors.insert("L2.weight".into(), (Dtype::U8, vec![rows, 0], Vec::new()));
    let bytes = rebuild(&manifest, &tensors);
    assert!(bytes.len() < 1000);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(from_bytes(&bytes).map(|_| ()).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(result) => assert!(result.is_err(), "{result:?}"),
        Err(_) => panic!("from_bytes still running after 10 s on a {rows}x0 weight tensor"),
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Random corruptions never panic.
// ---------------------------------------------------------------------------------------------

/// Valid files the corruption tests start from: conv with padding and pool, signed and unsigned
/// 8-bit inputs, an MLP with ragged widths and full provenance.
fn base_files() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut mlp = random_mlp(Shape::new(5, 7, 1), &[65, 9], 10, 3).expect("valid");
        mlp.provenance = full_provenance();
        [conv_model(), fixed8_model(true), fixed8_model(false), mlp]
            .iter()
            .map(|m| to_bytes(m).expect("valid"))
            .collect()
    })
}

#[derive(Clone, Debug)]
enum Region {
    /// The 8-byte little-endian header length.
    HeaderLen,
    /// The JSON header.
    Json,
    /// The tensor data.
    Data,
    /// Anywhere, including one past the end.
    Any,
}

#[derive(Clone, Debug)]
enum Op {
    Flip(u8),
    Overwrite(Vec<u8>),
    Truncate,
    Insert(Vec<u8>),
    Remove(usize),
    /// Adds to the header length.
    ShiftLen(i64),
    /// Sets the header length.
    SetLen(u64),
}

#[derive(Clone, Debug)]
struct Corruption {
    region: Region,
    at: Index,
    op: Op,
    /// After an insertion or removal inside the JSON header, fix the header length so that the
    /// container stays consistent and the corruption reaches the JSON and manifest parsers.
    keep_len: bool,
}

fn declared_header_len(bytes: &[u8]) -> usize {
    match bytes.get(..8) {
        Some(h) => {
            let n = u64::from_le_bytes(h.try_into().expect("8 bytes"));
            usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len() - 8)
        }
        None => 0,
    }
}

fn apply(bytes: &mut Vec<u8>, c: &Corruption) {
    let len = bytes.len();
    let n = declared_header_len(bytes);
    let (start, end) = match c.region {
        Region::HeaderLen => (0, len.min(8)),
        Region::Json => (len.min(8), len.min(8 + n)),
        Region::Data => (len.min(8 + n), len),
        Region::Any => (0, len + 1),
    };
    let pos = if end > start { start + c.at.index(end - start) } else { c.at.index(len + 1) };
    let in_json = len >= 8 && (8..=8 + n).contains(&pos);
    match &c.op {
        Op::Flip(mask) => {
            if let Some(b) = bytes.get_mut(pos) {
                *b ^= (*mask).max(1);
            }
        }
        Op::Overwrite(new) => {
            for (b, &v) in bytes.iter_mut().skip(pos).zip(new) {
                *b = v;
            }
        }
        Op::Truncate => bytes.truncate(pos),
        Op::Insert(new) => {
            let pos = pos.min(len);
            bytes.splice(pos..pos, new.iter().copied());
        }
        Op::Remove(k) => {
            let pos = pos.min(len);
            bytes.drain(pos..(pos + k).min(if in_json { 8 + n } else { len }));
        }
        Op::ShiftLen(d) => {
            if len >= 8 {
                let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
                bytes[..8].copy_from_slice(&n.wrapping_add_signed(*d).to_le_bytes());
            }
        }
        Op::SetLen(v) => {
            if len >= 8 {
                bytes[..8].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    if c.keep_len && in_json && matches!(c.op, Op::Insert(_) | Op::Remove(_)) {
        let new_n = (n + bytes.len()) as u64 - len as u64;
        bytes[..8].copy_from_slice(&new_n.to_le_bytes());
    }
}

/// Byte strings that are likely to mean something inside a safetensors JSON header.
const TOKENS: &[&[u8]] = &[
    b"}",
    b"{",
    b"\"",
    b"]",
    b",",
    b":",
    b"\\",
    b"0",
    b"-1",
    b"null",
    b"true",
    b"1e400",
    b"\\u0000",
    b"99999999999999999999999",
    b"18446744073709551615",
    b"\xff\xfe",
    b"\"version\":2",
    b"\"kind\":\"dense\"",
    b"\"out\":0",
    b"\"fan_in\":0",
    b"\"data_offsets\":[0,0]",
    b"\"shape\":[]",
];

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        prop::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
    ]
}

fn arb_corruption() -> impl Strategy<Value = Corruption> {
    let region = prop_oneof![
        1 => Just(Region::HeaderLen),
        4 => Just(Region::Json),
        3 => Just(Region::Data),
        1 => Just(Region::Any),
    ];
    let op = prop_oneof![
        3 => (1u8..0x80).prop_map(Op::Flip),
        1 => any::<u8>().prop_map(Op::Flip),
        2 => arb_bytes().prop_map(Op::Overwrite),
        1 => Just(Op::Truncate),
        2 => arb_bytes().prop_map(Op::Insert),
        1 => (1usize..16).prop_map(Op::Remove),
        1 => (-16i64..=16).prop_map(Op::ShiftLen),
        1 => prop_oneof![any::<u64>(), 0u64..64, Just(u64::MAX), Just(100_000_001u64)].prop_map(Op::SetLen),
    ];
    (region, any::<Index>(), op, any::<bool>()).prop_map(|(region, at, op, keep_len)| Corruption {
        region,
        at,
        op,
        keep_len,
    })
}

/// `from_bytes` on `bytes` must not panic; when it accepts the bytes, the model must verify and
/// survive another round trip.
fn check_reader(bytes: &[u8], what: &dyn std::fmt::Debug) -> Result<(), TestCaseError> {
    let result = catch_unwind(AssertUnwindSafe(|| from_bytes(bytes)))
        .map_err(|_| fail(format!("from_bytes panicked after {what:?}")))?;
    match result {
        Ok(model) => {
            model.verify().map_err(fail)?;
            let again = to_bytes(&model).map_err(|e| fail(format!("accepted model does not write: {e}")))?;
            prop_assert_eq!(from_bytes(&again).map_err(fail)?, model);
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_files_never_panic(
        file in 0..base_files().len(),
        corruptions in prop::collection::vec(arb_corruption(), 1..=3),
    ) {
        let mut bytes = base_files()[file].clone();
        for c in &corruptions {
            apply(&mut bytes, c);
        }
        check_reader(&bytes, &corruptions)?;
    }

    /// Replaces one value of the manifest (keeping the container valid) with an awkward one, so
    /// that the manifest parser and the verifier see hostile numbers, strings and types.
    #[test]
    fn corrupted_manifests_never_panic(
        file in 0..base_files().len(),
        edits in prop::collection::vec((any::<Index>(), 0usize..24), 1..=3),
    ) {
        let (mut manifest, tensors) = manifest_of(&base_files()[file]);
        let awkward = [
            json!(0), json!(1), json!(2), json!(3), json!(8), json!(63), json!(64), json!(255), json!(256),
            json!(-1), json!(i32::MAX), json!(1u64 << 31), json!(1u64 << 32), json!(1u64 << 53),
            json!(1u64 << 63), json!(u64::MAX), json!(0.5), json!(""), json!("L1.weight"),
            Value::Null, json!(true), json!([]), json!({}), json!("none"),
        ];
        let mut log = Vec::new();
        for (at, which) in &edits {
            let mut leaves = Vec::new();
            collect_leaves(&manifest, String::new(), &mut leaves);
            let path = at.get(&leaves).clone();
            let new = awkward[*which].clone();
            log.push(format!("{path} = {new}"));
            *manifest.pointer_mut(&path).expect("leaf exists") = new;
        }
        check_reader(&rebuild(&manifest, &tensors), &log)?;
    }

    /// The text reader must not panic on mangled text either.
    #[test]
    fn corrupted_texts_never_panic(
        file in 0..base_files().len(),
        edits in prop::collection::vec((any::<Index>(), any::<Index>(), 0usize..6, prop::sample::select(
            vec!['0', '1', '9', 'f', 'g', '-', '=', ' ', '#', '\n', 'x', ':', '"', 'L', 'é'])), 1..=4),
    ) {
        let model = from_bytes(&base_files()[file]).map_err(fail)?;
        let mut lines: Vec<String> = model.to_string().lines().map(String::from).collect();
        for (line, col, op, ch) in &edits {
            let i = line.index(lines.len());
            match op {
                0 => { lines.remove(i); }
                1 => { let l = lines[i].clone(); lines.insert(i, l); }
                2 => { let j = col.index(lines.len()); lines.swap(i, j); }
                3 => { lines.truncate(i); }
                _ => {
                    let mut chars: Vec<char> = lines[i].chars().collect();
                    let j = col.index(chars.len() + 1);
                    if *op == 4 && j < chars.len() { chars[j] = *ch } else { chars.insert(j, *ch) }
                    lines[i] = chars.into_iter().collect();
                }
            }
            if lines.is_empty() { break; }
        }
        let text = lines.join("\n");
        let parsed = catch_unwind(|| Model::parse(&text).map(|m| (m.verify(), m)))
            .map_err(|_| fail(format!("Model::parse or verify panicked on\n{text}")))?;
        match parsed {
            Ok((Ok(()), m)) => prop_assert_eq!(Model::parse(&m.to_string()).map_err(fail)?, m),
            Ok((Err(e), _)) => prop_assert!(e.to_string().starts_with("layer L") || e.to_string().starts_with("model: ")),
            Err(e) => prop_assert!(e.line >= 1 || text.trim().is_empty(), "{e:?}"),
        }
    }
}

/// JSON pointers of every scalar, empty array and empty object in `v`.
fn collect_leaves(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                collect_leaves(v, format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                collect_leaves(v, format!("{path}/{i}"), out);
            }
        }
        _ => out.push(path),
    }
}

// ---------------------------------------------------------------------------------------------
// Multi-bit (k-bit) activations.
// ---------------------------------------------------------------------------------------------

/// L0 quant.binary, L1 dense 16 -> 3 with a W1A2 activation (int2, bias -1, two thresholds per
/// channel: {-1, 0, +1}), L2 dense 3 -> 2 scores. Input 4x4x1.
fn w1a2_model() -> Model {
    let ty = IntType { bits: 2, signed: true };
    let multi = MultiThreshold { ty, bias: -1, levels: 2, thresholds: vec![6, 9, 0, 17, 8, 8] };
    Model {
        name: "w1a2".into(),
        input: Shape::new(4, 4, 1),
        layers: vec![
            Layer::QuantBinary { threshold: 100 },
            Layer::Dense(BinaryWeights {
                matrix: BitMatrix::from_fn(3, 16, |r, c| (r + c) % 3 == 0),
                activation: Activation::Multi(multi),
            }),
            Layer::Dense(BinaryWeights {
                matrix: BitMatrix::from_fn(2, 3, |r, c| r == c),
                activation: Activation::Scores,
            }),
        ],
        output: OutputMode::Argmax,
        provenance: Provenance::default(),
    }
}

fn multi_mut(model: &mut Model, layer: usize) -> &mut MultiThreshold {
    match &mut model.layers[layer].weights_mut().expect("weighted").activation {
        Activation::Multi(m) => m,
        _ => panic!("layer {layer} is not multi-bit"),
    }
}

#[test]
fn multi_threshold_semantics_and_types() {
    let model = w1a2_model();
    let types = model.infer().expect("valid");
    assert_eq!(types[1].to_string(), "1x1x3 int2");
    assert_eq!(types[1].elem, Elem::Int { ty: IntType { bits: 2, signed: true }, max_abs: 1 });
    let m = model.layers[1].weights().and_then(|w| w.activation.multi()).expect("multi");
    // out = bias + #{j : acc >= t_j}: below both, between, at or above both.
    assert_eq!(
        (m.apply(0, 5), m.apply(0, 6), m.apply(0, 8), m.apply(0, 9), m.apply(0, 16)),
        (-1, 0, 0, 1, 1)
    );
    // Equal thresholds skip a level: channel 2 is -1 or +1.
    assert_eq!((m.apply(2, 7), m.apply(2, 8)), (-1, 1));
    // The accumulator of the next layer reads integers: +-1 per element, so +-3 at most.
    assert_eq!(compiler::model::accumulator_range(types[1].elem, 3), (-3, 3));
    let t = IntType { bits: 3, signed: false };
    assert_eq!((t.min(), t.max(), t.to_string()), (0, 7, "uint3".to_string()));
    let t = IntType { bits: 4, signed: true };
    assert_eq!((t.min(), t.max(), t.to_string()), (-8, 7, "int4".to_string()));
}

#[test]
fn multi_threshold_verifier_errors_name_the_layer() {
    type Mutation = Box<dyn Fn(&mut MultiThreshold)>;
    let cases: Vec<(Mutation, Vec<&str>)> = vec![
        (Box::new(|m| m.ty.bits = 1), vec!["2 to 8 bits, found 1", "act=threshold"]),
        (Box::new(|m| m.ty.bits = 9), vec!["2 to 8 bits, found 9"]),
        (
            Box::new(|m| {
                m.levels = 4;
                m.thresholds = vec![0; 12];
            }),
            vec!["4 thresholds per channel: a int2 output has 1 to 3"],
        ),
        (Box::new(|m| m.bias = -3), vec!["bias -3", "do not fit int2 (-2 ..= 1)"]),
        (Box::new(|m| m.bias = 0), vec!["bias + levels = 2 do not fit int2"]),
        (
            Box::new(|m| m.thresholds.pop().map(drop).unwrap_or(())),
            vec!["has 5 thresholds for 3 output channels x 2 levels"],
        ),
        (
            Box::new(|m| m.thresholds[2] = 18),
            vec!["channel 1 must ascend, but level 0 is 18 and level 1 is 17"],
        ),
        (Box::new(|m| m.thresholds[3] = 18), vec!["threshold 18 (channel 1, level 1) is outside [0, 17]"]),
    ];
    for (mutate, needles) in cases {
        let mut model = w1a2_model();
        mutate(multi_mut(&mut model, 1));
        assert_layer_error(&model, 1, "dense", &needles);
    }
    // A multi-bit last layer is refused like a thresholded one.
    let mut model = w1a2_model();
    model.layers.truncate(2);
    assert_layer_error(&model, 1, "dense", &["the last layer must produce scores"]);
    // An integer input has no padding bit.
    let ty = IntType { bits: 3, signed: false };
    let specs = [
        LayerSpec::QuantBinary(9),
        LayerSpec::Conv2dMulti { out: 2, kernel: 2, stride: 1, padding: Padding::None, ty },
        LayerSpec::Conv2d { out: 2, kernel: 2, stride: 1, padding: Padding::None },
        LayerSpec::Dense(3),
    ];
    let mut model = random_model("pad", Shape::new(5, 5, 1), &specs, 1).expect("valid");
    if let Layer::Conv2d { padding, .. } = &mut model.layers[2] {
        *padding = Padding::Bit { amount: 1, bit: true };
    }
    assert_layer_error(&model, 2, "conv2d", &["integer input (uint3) has no padding bit"]);
}

#[test]
fn multi_threshold_text_and_file_round_trip() {
    let model = w1a2_model();
    let text = model.to_string();
    assert!(text.contains("L1 dense out=3 in=16 act=multi bits=2 signed=true bias=-1 levels=2\n"), "{text}");
    assert!(text.contains("  t 6 9\n  t 0 17\n  t 8 8\n"), "{text}");
    assert_eq!(Model::parse(&text).expect("parses"), model);
    // A channel line with the wrong number of levels, or too few lines.
    let bad = text.replace("  t 0 17\n", "  t 0 17 20\n");
    assert!(Model::parse(&bad)
        .expect_err("3 levels")
        .to_string()
        .contains("channel 1 has 3 thresholds, levels=2"));
    let bad = text.replace("  t 8 8\n", "");
    assert!(Model::parse(&bad)
        .expect_err("missing")
        .to_string()
        .contains("expected 3 threshold lines, found 2"));

    let bytes = to_bytes(&model).expect("writes");
    assert_eq!(from_bytes(&bytes).expect("reads"), model);
    let (manifest, tensors) = manifest_of(&bytes);
    assert_eq!(manifest["version"], json!(MULTI_FORMAT_VERSION), "a multi-bit model is a version-2 file");
    assert_eq!(manifest["layers"][1]["act"], json!("multi"));
    assert_eq!(manifest["layers"][1]["multi"], json!({"bits": 2, "signed": true, "bias": -1, "levels": 2}));
    assert_eq!(tensors["L1.threshold"].1, vec![3, 2]);
    // A version-1 manifest cannot hold one.
    let mut old = manifest.clone();
    old["version"] = json!(1);
    let err = from_bytes(&rebuild(&old, &tensors)).expect_err("v1");
    assert!(err.to_string().contains("act multi (a multi-bit activation) needs format version 2"), "{err}");
    // act and the multi entry go together.
    let mut m = manifest.clone();
    m["layers"][1].as_object_mut().expect("object").remove("multi");
    assert_tensor_error(&rebuild(&m, &tensors), "L1.weight", "act multi and the 'multi' entry");
    let mut m = manifest.clone();
    m["layers"][1]["multi"]["levels"] = json!(0);
    assert_tensor_error(&rebuild(&m, &tensors), "L1.threshold", "levels 0 is not in 1..=255");
    let mut m = manifest;
    m["layers"][1]["multi"]["levels"] = json!(3);
    assert_tensor_error(&rebuild(&m, &tensors), "L1.threshold", "expected I32 [3, 3]");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random k-bit networks (dense and conv, every k and signedness) survive text and file.
    #[test]
    fn random_multi_bit_models_round_trip(seed in any::<u64>(), bits in 2u8..=4, signed in any::<bool>(), conv in any::<bool>()) {
        let ty = IntType { bits, signed };
        let mut specs = vec![LayerSpec::QuantFixed8(signed)];
        if conv {
            specs.push(LayerSpec::Conv2dMulti { out: 5, kernel: 2, stride: 1, padding: Padding::None, ty });
            specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
        }
        specs.push(LayerSpec::DenseMulti { out: 7, ty });
        specs.push(LayerSpec::Dense(4));
        let model = random_model("k", Shape::new(5, 5, 2), &specs, seed).expect("valid");
        prop_assert_eq!(&Model::parse(&model.to_string()).expect("parses"), &model);
        prop_assert_eq!(&from_bytes(&to_bytes(&model).expect("writes")).expect("reads"), &model);
    }
}

#[test]
fn act_bits_is_the_widest_hidden_activation() {
    assert_eq!(w1a2_model().act_bits(), 2);
    assert_eq!(fixed8_model(true).act_bits(), 1, "the 8-bit input quantizer does not count");
    let ty = IntType { bits: 4, signed: false };
    let specs = [
        LayerSpec::QuantBinary(1),
        LayerSpec::DenseMulti { out: 4, ty: IntType { bits: 3, signed: true } },
        LayerSpec::DenseMulti { out: 4, ty },
        LayerSpec::Dense(4),
        LayerSpec::Dense(2),
    ];
    assert_eq!(random_model("a", Shape::new(1, 1, 8), &specs, 1).expect("valid").act_bits(), 4);
}

// ---------------------------------------------------------------------------------------------
// Residual blocks.
// ---------------------------------------------------------------------------------------------

/// L0 quant.fixed8 signed, L1 3x3 conv (pad none) to int8 x 4 channels, L2 residual stride 1
/// (identity), L3 residual stride 2 to 6 channels (pool_pad), L4 dense 3x3x6 -> 5 scores. Input
/// 8x8x1 (the stem's output is 6x6).
fn resnet_model(seed: u64) -> Model {
    let ty = IntType { bits: 8, signed: true };
    random_model(
        "res",
        Shape::new(8, 8, 1),
        &[
            LayerSpec::QuantFixed8(true),
            LayerSpec::Conv2dMulti { out: 4, kernel: 3, stride: 1, padding: Padding::None, ty },
            LayerSpec::Residual { out: 4, kernel: 3, stride: 1, pad_bit: true },
            LayerSpec::Residual { out: 6, kernel: 3, stride: 2, pad_bit: false },
            LayerSpec::Dense(5),
        ],
        seed,
    )
    .expect("valid")
}

#[test]
fn residual_blocks_infer_types_and_round_trip() {
    let model = resnet_model(7);
    let types = model.infer().expect("verifies");
    assert_eq!(types[2].shape, Shape::new(6, 6, 4), "stride 1 keeps the shape");
    assert_eq!(types[3].shape, Shape::new(3, 3, 6), "stride 2 halves it and pads channels");
    let ty = IntType { bits: 8, signed: true };
    assert!(matches!(types[3].elem, Elem::Int { ty: t, .. } if t == ty), "{}", types[3].elem);
    let text = model.to_string();
    assert!(
        text.contains(
            "L2 residual kernel=3 stride=1 padding=1:1 shortcut=identity out=4 in=36 act=multi bits=8"
        ),
        "{text}"
    );
    assert!(
        text.contains("L3 residual kernel=3 stride=2 padding=1:0 shortcut=pool_pad out=6 in=36"),
        "{text}"
    );
    assert_eq!(Model::parse(&text).expect("parses"), model);
    let bad = text.replace("shortcut=identity", "shortcut=conv");
    assert!(Model::parse(&bad)
        .expect_err("unknown")
        .to_string()
        .contains("unknown shortcut 'conv' (identity or pool_pad)"));
    let bytes = to_bytes(&model).expect("writes");
    assert_eq!(from_bytes(&bytes).expect("reads"), model);
    let (manifest, tensors) = manifest_of(&bytes);
    assert_eq!(manifest["version"], json!(RESIDUAL_FORMAT_VERSION), "a residual model is a version-3 file");
    assert_eq!(manifest["layers"][3]["kind"], json!("residual"));
    assert_eq!(manifest["layers"][3]["shortcut"], json!("pool_pad"));
    // A version-2 manifest cannot hold one, and says so by the layer.
    let mut old = manifest;
    old["version"] = json!(MULTI_FORMAT_VERSION);
    let err = from_bytes(&rebuild(&old, &tensors)).expect_err("v2");
    assert!(err.to_string().contains("layer L2 is a residual block, which needs format version 3"), "{err}");
}

#[test]
fn residual_verifier_errors_name_the_block() {
    let base = resnet_model(3);
    let with = |f: &dyn Fn(&mut Layer)| {
        let mut m = base.clone();
        f(&mut m.layers[2]);
        m
    };
    let set_stride = |s: usize| {
        move |l: &mut Layer| {
            if let Layer::Residual { stride, .. } = l {
                *stride = s
            }
        }
    };
    assert_layer_error(
        &with(&set_stride(2)),
        2,
        "residual",
        &["a stride-2 block has a pool_pad shortcut, found identity"],
    );
    assert_layer_error(&with(&set_stride(3)), 2, "residual", &["stride must be 1 or 2, found 3"]);
    let pad = |p: Padding| {
        move |l: &mut Layer| {
            if let Layer::Residual { padding, .. } = l {
                *padding = p
            }
        }
    };
    assert_layer_error(
        &with(&pad(Padding::None)),
        2,
        "residual",
        &["a 3x3 branch needs padding 1:0 or 1:1 to keep the shape, found none"],
    );
    let sc = |l: &mut Layer| {
        if let Layer::Residual { shortcut, .. } = l {
            *shortcut = Shortcut::PoolPad
        }
    };
    assert_layer_error(
        &with(&sc),
        2,
        "residual",
        &["a stride-1 block has an identity shortcut, found pool_pad"],
    );
    // The branch's type is the stream's.
    let narrow = |l: &mut Layer| {
        if let Some(Activation::Multi(m)) = l.weights_mut().map(|w| &mut w.activation) {
            m.ty = IntType { bits: 4, signed: true };
            m.bias = -1;
            m.levels = 2;
            m.thresholds = (0..4 * 2).map(|i| i % 2 * 10).collect();
        }
    };
    assert_layer_error(
        &with(&narrow),
        2,
        "residual",
        &["the branch's multi-threshold outputs int4 but the stream is int8"],
    );
    // A residual block right after a binary layer: its input is not an integer stream.
    let bits = random_model(
        "b",
        Shape::new(4, 4, 1),
        &[
            LayerSpec::QuantBinary(9),
            LayerSpec::Conv2d { out: 2, kernel: 1, stride: 1, padding: Padding::None },
            LayerSpec::Dense(2),
        ],
        1,
    )
    .expect("valid");
    let mut bad = bits.clone();
    let w = bad.layers[1].weights().expect("conv").clone();
    bad.layers[1] = Layer::Residual {
        kernel: 1,
        stride: 1,
        padding: Padding::Bit { amount: 0, bit: false },
        shortcut: Shortcut::Identity,
        weights: w,
    };
    assert_layer_error(&bad, 1, "residual", &["a residual block reads a signed integer stream"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random residual networks (k = 2..=8, both shortcuts, both padding bits) survive text and file.
    #[test]
    fn random_residual_models_round_trip(seed in any::<u64>(), bits in 2u8..=8, pad_bit in any::<bool>(), down in any::<bool>()) {
        let ty = IntType { bits, signed: true };
        let mut specs = vec![
            LayerSpec::QuantBinary(100),
            LayerSpec::Conv2dMulti { out: 3, kernel: 3, stride: 1, padding: Padding::Bit { amount: 1, bit: pad_bit }, ty },
            LayerSpec::Residual { out: 3, kernel: 3, stride: 1, pad_bit },
        ];
        if down {
            specs.push(LayerSpec::Residual { out: 5, kernel: 1, stride: 2, pad_bit: !pad_bit });
        }
        specs.push(LayerSpec::Dense(4));
        let model = random_model("r", Shape::new(6, 6, 2), &specs, seed).expect("valid");
        prop_assert_eq!(&Model::parse(&model.to_string()).expect("parses"), &model);
        prop_assert_eq!(&from_bytes(&to_bytes(&model).expect("writes")).expect("reads"), &model);
    }
}
