//! `xnorflow import` end to end: the public QONNX and FINN-ONNX files and our own fixtures import
//! exactly (the class qonnx's executor gives, on every checked image), compile, run in the cycle
//! model at the predicted rate and pass co-simulation; hostile files give one clear error.

mod common;

use common::{refused, stderr, stdout, xnorflow};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

fn mnist() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist").display().to_string()
}

/// `index -> class` of an expected-output CSV made by scripts/onnx_expected.py with qonnx.
fn expected(name: &str) -> Vec<usize> {
    let text =
        std::fs::read_to_string(fixtures().join(format!("{name}.expected.csv"))).expect("expected csv");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = head.iter().position(|h| *h == "class").expect("class column");
    lines.map(|l| l.split(',').nth(col).and_then(|c| c.parse().ok()).expect("class")).collect()
}

/// `predicted` of `eval --predictions`.
fn predicted(csv: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(csv).expect("predictions");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = head.iter().position(|h| *h == "predicted").expect("predicted column");
    lines.map(|l| l.split(',').nth(col).and_then(|c| c.parse().ok()).expect("class")).collect()
}

fn ok(args: &[&str], dir: &Path) -> String {
    let o = xnorflow(args, dir);
    assert!(o.status.success(), "xnorflow {args:?}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// Imports `name` (checked on `limit` MNIST test images) and compares the imported model's
/// class with qonnx's on every image of the expected CSV.
fn import_matches_qonnx(name: &str, scale: &str, limit: usize, dir: &Path) -> String {
    let onnx = fixtures().join(format!("{name}.onnx"));
    let xnf = format!("{name}.xnf");
    let lim = limit.to_string();
    let data = mnist();
    let out = ok(
        &[
            "import",
            &onnx.display().to_string(),
            "-o",
            &xnf,
            "--input-scale",
            scale,
            "--data",
            &data,
            "--check-limit",
            &lim,
        ],
        dir,
    );
    assert!(out.replace(',', "").contains(&format!("agree on {limit} ")), "{out}");
    let want = expected(name);
    let n = want.len().to_string();
    ok(&["eval", &xnf, "--dataset", "mnist", "--data", &data, "--limit", &n, "--predictions", "p.csv"], dir);
    let got = predicted(&dir.join("p.csv"));
    assert_eq!(got.len(), want.len());
    let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    assert!(
        bad.is_empty(),
        "{name}: {} images differ from qonnx's executor, first {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    out
}

/// The zoo's Brevitas TFC and FINN's TFC-w1a1: all 10,000 MNIST test images give qonnx's class;
/// both compile, run at the predicted rate and co-simulate.
#[test]
fn the_public_tfc_files_import_exactly_and_cosimulate() {
    let dir = tempfile::tempdir().expect("tempdir");
    // FINN's file annotates its input UINT8: raw bytes are its default scaling.
    for (name, scale) in [("TFC_1W1A", "unit"), ("finn_tfc_w1a1", "raw")] {
        let out = import_matches_qonnx(name, scale, 10_000, dir.path());
        assert!(out.contains("accuracy 92.96%"), "{out}");
        assert!(out.contains("quant.binary -> dense -> dense -> dense -> dense"), "{out}");
        let b = format!("{name}-build");
        ok(&["compile", &format!("{name}.xnf"), "-o", &b], dir.path());
        let sim = ok(&["sim", &b, "--frames", "8"], dir.path());
        let line = sim.lines().find(|l| l.contains("steady state")).expect("steady state line");
        let nums: Vec<&str> = line.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).collect();
        assert!(nums.len() >= 2 && nums[0] == nums[1], "measured == predicted cycles/frame: {line}");
        let cos = ok(&["cosim", &b, "--frames", "4", "--stall-prob", "0.2"], dir.path());
        assert!(cos.ends_with("PASS\n"), "{cos}");
    }
}

/// The zoo's TFC with 2-bit activations (Brevitas quotes 94.79%): a table input of -1, 0, +1 and
/// int2 multi-thresholds; the float graph and the imported model agree on all 10,000 MNIST test
/// images, and so do qonnx's classes.
#[test]
fn the_public_2_bit_tfc_imports_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = import_matches_qonnx("TFC_1W2A", "unit", 10_000, dir.path());
    assert!(out.contains("accuracy 94.74%"), "{out}");
    assert!(out.contains("quant.table -> dense -> dense -> dense -> dense"), "{out}");
    assert!(out.contains("channel(s) with falling outputs inverted"), "{out}");
    let inspect = ok(&["inspect", "TFC_1W2A.xnf"], dir.path());
    assert_eq!(inspect.matches("int2 in -1..=1 (2 thresholds)").count(), 3, "{inspect}");
    // The peer's W1A2 network through the hardware: compiled, cycle model and Verilator agree
    // with the golden model.
    let b = dir.path().join("b").display().to_string();
    ok(&["compile", "TFC_1W2A.xnf", "-o", &b, "--target-cycles", "256"], dir.path());
    assert!(ok(&["sim", &b, "--frames", "4"], dir.path()).contains("outputs equal the golden model's"));
    assert!(ok(&["cosim", &b, "--frames", "4", "--stall-prob", "0.2"], dir.path()).ends_with("PASS\n"));
    // Exported to QONNX (MultiThreshold with int2 outputs) and imported again: the same file.
    ok(&["export", "TFC_1W2A.xnf", "-o", "again.onnx"], dir.path());
    let data = mnist();
    ok(&["import", "again.onnx", "-o", "again.xnf", "--data", &data, "--check-limit", "500"], dir.path());
    let (a, b) =
        (std::fs::read(dir.path().join("TFC_1W2A.xnf")), std::fs::read(dir.path().join("again.xnf")));
    assert!(a.expect("reads") == b.expect("reads"), "export then import changed the model file");
}

/// Our own fixtures: conv + max-pool + 8-bit input (a non-injective table), Gemm/Flatten/scaled
/// activations in the legacy domain, and the FINN dialect with thresholds on exact ties.
#[test]
fn own_fixtures_import_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = import_matches_qonnx("conv_w1a1_8bit", "unit", 1000, dir.path());
    assert!(out.contains("quant.table -> conv2d -> maxpool -> conv2d -> maxpool -> dense -> dense"), "{out}");
    // The default target (100,000 frames/s) is out of reach for this first layer: the fastest
    // folding is taken, with a note.
    let out = ok(&["compile", "conv_w1a1_8bit.xnf", "-o", "cb"], dir.path());
    assert!(out.contains("is out of reach; using the fastest folding, 6,084 cycles/frame"), "{out}");
    let cos = ok(&["cosim", "cb", "--frames", "3", "--stall-prob", "0.2", "--seed", "2"], dir.path());
    assert!(cos.ends_with("PASS\n"), "{cos}");
    let out = import_matches_qonnx("tfc_mixed", "unit", 1000, dir.path());
    assert!(out.contains("channel(s) with falling bits inverted"), "{out}");
    let out = import_matches_qonnx("finn_style", "unit", 1000, dir.path());
    assert!(out.contains("FINN-ONNX graph"), "{out}");
    // 0/1 activations (MultiThreshold out_scale 1, one-bit unsigned Quant), Conv's zero padding
    // as a padding bit, a one-bit signed Quant: compiles and co-simulates too.
    let out = import_matches_qonnx("binary01", "unit", 1000, dir.path());
    assert!(out.contains("quant.binary -> conv2d -> maxpool -> dense -> dense"), "{out}");
    ok(&["compile", "binary01.xnf", "-o", "bb", "--target-cycles", "8000"], dir.path());
    let cos = ok(&["cosim", "bb", "--frames", "3", "--stall-prob", "0.2", "--seed", "3"], dir.path());
    assert!(cos.ends_with("PASS\n"), "{cos}");
}

/// One `error:` line and exit 1 for bad files and options; nothing written.
#[test]
fn bad_files_and_options_give_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tfc = std::fs::read(fixtures().join("TFC_1W1A.onnx")).expect("fixture");
    std::fs::write(dir.path().join("cut.onnx"), &tfc[..tfc.len() / 2]).expect("writes");
    std::fs::write(dir.path().join("text.onnx"), b"hello, this is not a model").expect("writes");
    let data = mnist();
    let tfc_path = fixtures().join("TFC_1W1A.onnx").display().to_string();
    // The zoo's 2-bit TFC with its first hidden Quant's bit width set to 9: the scalar
    // initializer "46" is serialized as name (field 8: 42 02 '4' '6') then raw_data (field 9:
    // 4a 04, then 2.0f32).
    let mut nine = std::fs::read(fixtures().join("TFC_1W2A.onnx")).expect("fixture");
    let two = [0x42, 0x02, b'4', b'6', 0x4a, 0x04, 0x00, 0x00, 0x00, 0x40];
    let at: Vec<usize> = (0..nine.len() - two.len()).filter(|&i| nine[i..i + two.len()] == two).collect();
    assert_eq!(at.len(), 1, "the bit width of Quant_23 in TFC_1W2A.onnx");
    nine[at[0] + 6..at[0] + 10].copy_from_slice(&9.0f32.to_le_bytes());
    std::fs::write(dir.path().join("nine.onnx"), &nine).expect("writes");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["import", "cut.onnx", "-o", "m.xnf", "--data", &data], "not a valid ONNX protobuf file"),
        (vec!["import", "text.onnx", "-o", "m.xnf", "--data", &data], "not a valid ONNX protobuf file"),
        (vec!["import", "missing.onnx", "-o", "m.xnf"], "missing.onnx"),
        // The zoo's 2-bit TFC with its hidden activations widened to 9 bits: refused by name.
        (vec!["import", "nine.onnx", "-o", "m.xnf", "--data", &data], "quantizes a layer to 9 bits"),
        (vec!["import", &tfc_path, "-o", "m.xnf"], "give --data DIR"),
    ];
    for (args, needle) in cases {
        let e = refused(&args, dir.path());
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(!dir.path().join("m.xnf").exists(), "{args:?} wrote a model");
    }
    ok(&["import", &tfc_path, "-o", "m.xnf", "--check-dataset", "none"], dir.path());
    let o = xnorflow(&["import", &tfc_path, "-o", "m.xnf", "--check-dataset", "none"], dir.path());
    assert!(stderr(&o).contains("already exists; pass --force"), "{}", stderr(&o));
}

/// The Python with qonnx that `.ci/install-qonnx` makes (or `XNORFLOW_QONNX_PYTHON`).
fn qonnx_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("XNORFLOW_QONNX_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/qonnx-venv/bin/python");
    p.exists().then_some(p)
}

/// `xnorflow export` writes QONNX that qonnx's own executor runs to xnorflow's classes: the
/// imported conv fixture (8-bit table input, pools), a random convolutional model with +1 and
/// -1 padding bits and stride 2 (Pad nodes), the imported 2-bit TFC and a random model of 2-, 3-
/// and 4-bit activations (MultiThreshold with integer outputs, a max-pool of them, integer-input
/// convolution and dense layers), each on 200 MNIST test images.
#[test]
fn exports_run_in_qonnx_to_the_same_classes() {
    let Some(py) = qonnx_python() else {
        eprintln!("skipped: no Python with qonnx (run .ci/install-qonnx, or set XNORFLOW_QONNX_PYTHON)");
        return;
    };
    use compiler::model::random::{random_model, LayerSpec};
    use compiler::model::{Padding, Shape};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = mnist();
    let conv = fixtures().join("conv_w1a1_8bit.onnx").display().to_string();
    ok(&["import", &conv, "-o", "conv.xnf", "--data", &data, "--check-limit", "100"], dir.path());
    let specs = [
        LayerSpec::QuantBinary(90),
        LayerSpec::Conv2d { out: 6, kernel: 3, stride: 1, padding: Padding::Bit { amount: 1, bit: true } },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Conv2d { out: 8, kernel: 3, stride: 2, padding: Padding::Bit { amount: 1, bit: false } },
        LayerSpec::Dense(32),
        LayerSpec::Dense(10),
    ];
    let m = random_model("padded", Shape::new(28, 28, 1), &specs, 11).expect("valid");
    compiler::format::save(&m, &dir.path().join("padded.xnf")).expect("saves");
    let tfc2 = fixtures().join("TFC_1W2A.onnx").display().to_string();
    ok(&["import", &tfc2, "-o", "tfc12.xnf", "--data", &data, "--check-limit", "100"], dir.path());
    let int = |bits, signed| compiler::model::IntType { bits, signed };
    let specs = [
        LayerSpec::QuantBinary(90),
        LayerSpec::Conv2dMulti {
            out: 6,
            kernel: 3,
            stride: 1,
            padding: Padding::Bit { amount: 1, bit: true },
            ty: int(2, true),
        },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Conv2dMulti { out: 8, kernel: 3, stride: 2, padding: Padding::None, ty: int(3, false) },
        LayerSpec::DenseMulti { out: 32, ty: int(4, true) },
        LayerSpec::Dense(10),
    ];
    let m = random_model("kbit", Shape::new(28, 28, 1), &specs, 12).expect("valid");
    compiler::format::save(&m, &dir.path().join("kbit.xnf")).expect("saves");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/onnx_check_export.py");
    for name in ["conv", "padded", "tfc12", "kbit"] {
        let out = ok(&["export", &format!("{name}.xnf"), "-o", &format!("{name}.onnx")], dir.path());
        assert!(out.contains("QONNX"), "{out}");
        ok(
            &[
                "eval",
                &format!("{name}.xnf"),
                "--dataset",
                "mnist",
                "--data",
                &data,
                "--limit",
                "200",
                "--predictions",
                "p.csv",
            ],
            dir.path(),
        );
        let o = std::process::Command::new(&py)
            .args([
                script.as_os_str(),
                format!("{name}.onnx").as_ref(),
                "p.csv".as_ref(),
                "--data".as_ref(),
                data.as_ref(),
            ])
            .current_dir(dir.path())
            .output()
            .expect("python runs");
        let text = format!("{}{}", stdout(&o), stderr(&o));
        assert!(o.status.success() && text.contains("200 images, all classes match"), "{name}: {text}");
    }
}

/// FINN's own vectors for its build_dataflow model: `input.npy` (four raw frames) gives
/// `expected_output.npy` through the imported model.
#[test]
fn finn_build_dataflow_vectors_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let onnx = fixtures().join("finn_tfc_w1a1.onnx").display().to_string();
    ok(&["import", &onnx, "-o", "finn.xnf", "--input-scale", "raw", "--check-dataset", "none"], dir.path());
    let model = compiler::format::load(&dir.path().join("finn.xnf")).expect("loads");
    let golden = sim::golden::Golden::new(&model).expect("golden");
    let npy = |name: &str| -> (Vec<u8>, String) {
        let b = std::fs::read(fixtures().join(name)).expect("npy");
        assert_eq!(&b[..6], b"\x93NUMPY");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        (b[10 + hlen..].to_vec(), String::from_utf8_lossy(&b[10..10 + hlen]).into_owned())
    };
    let (inp, ih) = npy("finn_input.npy");
    let (exp, eh) = npy("finn_expected_output.npy");
    assert!(ih.contains("'<f4'") && ih.contains("(4, 1, 28, 28)"), "{ih}");
    assert!(eh.contains("'<i8'"), "{eh}");
    let frames: Vec<u8> = inp
        .chunks_exact(4)
        .map(|c| {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            assert!(v.fract() == 0.0 && (0.0..=255.0).contains(&v), "raw pixel {v}");
            v as u8
        })
        .collect();
    let want: Vec<usize> =
        exp.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as usize).collect();
    let got: Vec<usize> = golden.run_batch(&frames).expect("runs").iter().map(|p| p.class).collect();
    assert_eq!(got, want);
}
