//! The `xnorflow` binary on hostile and careless model files, datasets and training options
//! (issue 24, items 7, 8, 10, 15 and 16): each reproduction of the issue must end in one clear
//! error line (exit code 1, no panic, no abort, no text printed twice) or in the right result,
//! quickly, and a refused training run must write nothing.

use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{IntType, Layer, Padding, Shape};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{refused, stderr, stdout, xnorflow};

fn digits_model() -> compiler::model::Model {
    let specs = [
        LayerSpec::QuantBinary(100),
        LayerSpec::Conv2d { out: 4, kernel: 3, stride: 1, padding: Padding::Bit { amount: 1, bit: false } },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Dense(10),
    ];
    random_model("cli-models", Shape::new(8, 8, 1), &specs, 5).expect("valid")
}

/// The 546-byte model: a 16384x16384 input, a max-pool over all of it, a 1 -> 3 layer.
/// Written as the text form (which `load` reads) with the input edited, since the writers refuse it.
fn write_huge_input_model(dir: &Path) {
    let base = random_model(
        "huge",
        Shape::new(2, 2, 1),
        &[LayerSpec::QuantBinary(1), LayerSpec::MaxPool { kernel: 2, stride: 2 }, LayerSpec::Dense(3)],
        1,
    )
    .expect("valid");
    let text = base
        .to_string()
        .replace("input 2x2x1", "input 16384x16384x1")
        .replace("maxpool kernel=2 stride=2", "maxpool kernel=16384 stride=16384");
    std::fs::write(dir.join("huge.txt"), text).expect("writes");
}

#[test]
fn a_huge_input_is_refused_by_inspect_and_compile_without_allocating_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_huge_input_model(dir.path());
    for cmd in ["inspect", "compile"] {
        let t0 = Instant::now();
        let args: Vec<&str> = if cmd == "compile" {
            vec!["compile", "huge.txt", "-o", "b"]
        } else {
            vec!["inspect", "huge.txt"]
        };
        let e = refused(&args, dir.path());
        assert!(t0.elapsed() < Duration::from_secs(5), "{cmd}: {:?}", t0.elapsed());
        assert!(
            e.contains(
                "input 16384x16384x1 is too large: 268,435,456 elements, more than the limit of 4,194,304"
            ),
            "{cmd}: {e}"
        );
    }
}

#[test]
fn devices_pipes_and_directories_are_refused_as_models_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = Command::new("mkfifo").arg(dir.path().join("p.xnf")).status().expect("mkfifo runs");
    assert!(ok.success());
    let t0 = Instant::now();
    assert_eq!(
        refused(&["inspect", "/dev/zero"], dir.path()),
        "error: cannot load model /dev/zero: it is a character device, not a regular file; give the path of a \
         model file"
    );
    assert_eq!(
        refused(&["eval", "p.xnf", "--dataset", "digits"], dir.path()),
        "error: cannot load model p.xnf: it is a named pipe, not a regular file; give the path of a model file"
    );
    assert_eq!(
        refused(&["inspect", "."], dir.path()),
        "error: cannot load model .: it is a directory, not a regular file; give the path of a model file"
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

#[test]
fn errors_name_the_file_once_and_print_their_text_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The OS reason, and the path once.
    let e = refused(&["inspect", "missing.xnf"], dir.path());
    assert_eq!(e, "error: cannot load model missing.xnf: No such file or directory (os error 2)");
    // A model that does not verify: the verifier's text once, after the file it is about.
    let mut m = digits_model();
    if let Some(compiler::model::Activation::Threshold(t)) =
        m.layers[1].weights_mut().map(|w| &mut w.activation)
    {
        t[0] = 1000;
    }
    std::fs::write(dir.path().join("bad.txt"), m.to_string()).expect("writes");
    let e = refused(&["inspect", "bad.txt"], dir.path());
    assert!(
        e.starts_with("error: cannot load model bad.txt: invalid model: layer L1 (conv2d): threshold 1000"),
        "{e}"
    );
    assert_eq!(e.matches("threshold 1000").count(), 1, "{e}");
    let e = refused(&["eval", "bad.txt", "--dataset", "digits"], dir.path());
    assert_eq!(e.matches("threshold 1000").count(), 1, "{e}");
}

#[test]
fn the_text_form_is_a_model_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = digits_model();
    compiler::format::save(&m, &dir.path().join("m.xnf")).expect("saves");
    std::fs::write(dir.path().join("m.txt"), m.to_string()).expect("writes");
    let binary = xnorflow(&["inspect", "m.xnf"], dir.path());
    let text = xnorflow(&["inspect", "m.txt"], dir.path());
    assert!(text.status.success(), "{}", stderr(&text));
    assert_eq!(stdout(&text), stdout(&binary));
    let eval = xnorflow(&["eval", "m.txt", "--dataset", "digits"], dir.path());
    assert!(eval.status.success(), "{}", stderr(&eval));
    // A broken text form is reported as one, with its line.
    std::fs::write(dir.path().join("b.txt"), m.to_string().replace("L2 maxpool", "L2 pool")).expect("writes");
    let e = refused(&["inspect", "b.txt"], dir.path());
    assert!(e.ends_with("text form of a model: line 13: unknown layer kind 'pool'"), "{e}");
}

#[test]
fn a_multi_bit_model_is_inspected_and_evaluated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w1a2 = IntType { bits: 2, signed: true };
    let specs = [
        LayerSpec::QuantBinary(100),
        LayerSpec::Conv2dMulti {
            out: 4,
            kernel: 3,
            stride: 1,
            padding: Padding::Bit { amount: 1, bit: false },
            ty: w1a2,
        },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::DenseMulti { out: 12, ty: IntType { bits: 3, signed: false } },
        LayerSpec::Dense(10),
    ];
    let m = random_model("kbit", Shape::new(8, 8, 1), &specs, 7).expect("valid");
    compiler::format::save(&m, &dir.path().join("m.xnf")).expect("saves");
    let o = xnorflow(&["inspect", "m.xnf"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // The output types and the activation of each k-bit layer, and a pool of integers is a max.
    for needle in
        ["8x8x4 int2", "4x4x4 int2", "k2 s2 (max)", "1x1x12 uint3", "int2 in -", "thresholds)", "uint3 in "]
    {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    let eval = xnorflow(&["eval", "m.xnf", "--dataset", "digits"], dir.path());
    assert!(eval.status.success(), "{}", stderr(&eval));
}

#[test]
fn frac_bits_beyond_8_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = random_model(
        "f",
        Shape::new(8, 8, 1),
        &[LayerSpec::QuantFixed8(false), LayerSpec::Dense(8), LayerSpec::Dense(10)],
        1,
    )
    .expect("valid");
    std::fs::write(dir.path().join("f.txt"), m.to_string().replace("frac_bits=0", "frac_bits=255"))
        .expect("writes");
    let e = refused(&["inspect", "f.txt"], dir.path());
    assert!(e.contains("layer L0 (quant.fixed8): frac_bits 255 is more than 8"), "{e}");
}

/// An input quantizer by table (signed, not monotone: what a QONNX import gives) goes through
/// `inspect`, `compile` and `cosim`: the accelerator's 8-bit stream carries the table's values.
#[test]
fn a_table_quantizer_compiles_and_cosimulates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = [
        LayerSpec::QuantTable(true),
        LayerSpec::Conv2d { out: 4, kernel: 3, stride: 1, padding: Padding::None },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Dense(10),
    ];
    let m = random_model("table", Shape::new(8, 8, 1), &specs, 3).expect("valid");
    let Layer::QuantTable(t) = &m.layers[0] else { panic!("L0 is the table") };
    assert!(t.signed() && !t.is_monotone());
    compiler::format::save(&m, &dir.path().join("m.xnf")).expect("saves");
    let o = xnorflow(&["inspect", "m.xnf"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let (lo, hi) = t.range();
    let out = stdout(&o);
    assert!(
        out.contains("quant.table") && out.contains(&format!("table [{lo}, {hi}] signed, not monotone")),
        "{out}"
    );
    let o = xnorflow(&["compile", "m.xnf", "-o", "b", "--frames", "3"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = xnorflow(&["cosim", "b", "--frames", "6", "--stall-prob", "0.2", "--seed", "4"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("PASS\n"), "{}", stdout(&o));
    // A table value that does not fit a byte is refused, naming the line.
    let text = m.to_string();
    let l0 = text.lines().find(|l| l.starts_with("L0 ")).expect("L0");
    let bad = format!("L0 quant.table values=300,{}", l0.split_once(',').expect("commas").1);
    std::fs::write(dir.path().join("bad.txt"), text.replace(l0, &bad)).expect("writes");
    let e = refused(&["inspect", "bad.txt"], dir.path());
    assert!(e.contains("line 6: input table values must all be in") && e.contains("300 (pixel 0)"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Datasets.
// ---------------------------------------------------------------------------------------------

fn idx(dims: &[u32]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v
}

/// MNIST's four files in `dir`, the images gzipped (by `gzip`, the root package has no flate2).
fn mnist_dir(dir: &Path, images: &[u8], labels: &[u8]) {
    for split in ["train", "t10k"] {
        let raw = dir.join(format!("{split}-images-idx3-ubyte"));
        std::fs::write(&raw, images).expect("writes");
        let ok = Command::new("gzip").arg("-9").arg(&raw).status().expect("gzip runs");
        assert!(ok.success());
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), labels).expect("writes");
    }
}

#[test]
fn empty_images_are_refused_by_train_without_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut labels = idx(&[3]);
    labels.extend([1, 2, 3]);
    mnist_dir(dir.path(), &idx(&[3, 0, 0]), &labels);
    let e = refused(&["train", "--dataset", "mnist", "--data", ".", "-o", "m.xnf"], dir.path());
    assert!(
        e.ends_with("train-images-idx3-ubyte.gz: images are 0x0 pixels: an image needs at least one pixel"),
        "{e}"
    );
}

#[test]
fn a_gzip_bomb_is_refused_from_its_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 3.1 GB declared, 32 MB of zeros present (32 KB compressed).
    let mut images = idx(&[4_000_000, 28, 28]);
    images.resize(images.len() + (32 << 20), 0);
    mnist_dir(dir.path(), &images, &idx(&[0]));
    let t0 = Instant::now();
    let e = refused(&["eval", "m.xnf", "--dataset", "mnist", "--data", "."], dir.path());
    // The model is loaded first; give it one so that the dataset is reached.
    assert!(e.contains("cannot load model m.xnf: No such file"), "{e}");
    compiler::format::save(&digits_model(), &dir.path().join("m.xnf")).expect("saves");
    let e = refused(&["eval", "m.xnf", "--dataset", "mnist", "--data", "."], dir.path());
    assert!(e.contains("declare 3,136,000,000 data bytes, more than the limit"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Training options and outputs.
// ---------------------------------------------------------------------------------------------

/// Refused before the run is announced: nothing on stdout, no file in `dir` but `keep`.
fn refused_before_training(args: &[&str], dir: &Path, keep: &[&str]) -> String {
    let o = xnorflow(args, dir);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
    assert_eq!(stdout(&o), "", "{args:?}: refused before training");
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut keep: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    keep.sort();
    assert_eq!(left, keep, "{args:?}: nothing written");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim_end().to_string()
}

#[test]
fn train_refuses_bad_numbers_and_huge_architectures_before_training() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = ["train", "--dataset", "digits", "--epochs", "1", "-o", "m.xnf"];
    for (extra, want) in [
        ("--lr=NaN", "error: --lr must be a finite number above 0 and at most 1, got NaN"),
        ("--lr=inf", "error: --lr must be a finite number above 0 and at most 1, got inf"),
        ("--lr=1e30", "error: --lr must be a finite number above 0 and at most 1, got 1e30"),
        ("--lr=-1", "error: --lr must be a finite number above 0 and at most 1, got -1.0"),
        ("--t-max=nan", "error: --t-max must be a finite number"),
        ("--weight-decay=inf", "error: --weight-decay must be a finite number >= 0, got inf"),
        (
            "--arch=100000000",
            "error: layer '100000000': 100,000,000 outputs are more than the limit of 4,194,304",
        ),
        (
            "--arch=4000000-4000000",
            "error: --arch 4000000-4000000-10 has 16,000,312,000,001 weights to train",
        ),
    ] {
        let e = refused_before_training(&[&base[..], &[extra]].concat(), dir.path(), &[]);
        assert!(e.starts_with(want), "{extra}: {e}");
    }
}

#[test]
fn train_checks_its_output_and_checkpoint_paths_before_training() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir(d.join("D")).expect("mkdir");
    std::fs::write(d.join("old.xnf"), b"precious").expect("writes");
    let base = ["train", "--dataset", "digits", "--arch", "16", "--epochs", "1", "--limit", "300"];
    let run = |extra: &[&str]| refused_before_training(&[&base[..], extra].concat(), d, &["D", "old.xnf"]);
    assert_eq!(run(&["-o", "D"]), "error: -o D is a directory; give a model file path, such as D/model.xnf");
    assert_eq!(
        run(&["-o", "nowhere/m.xnf"]),
        "error: -o nowhere/m.xnf: the directory nowhere does not exist; create it first"
    );
    assert_eq!(
        run(&["-o", "old.xnf"]),
        "error: -o old.xnf already exists; pass --force to overwrite it, or choose another path"
    );
    assert_eq!(std::fs::read(d.join("old.xnf")).expect("reads"), b"precious");
    assert_eq!(
        run(&["-o", "m.xnf", "--checkpoint", "c.json"]),
        "error: checkpoint c.json: its metadata is written beside it as c.json, the same file; give the \
         checkpoint another extension, such as c.safetensors"
    );
    assert_eq!(
        run(&["-o", "m.xnf", "--checkpoint", "m.xnf"]),
        "error: the checkpoint m.xnf is the output model file -o m.xnf; give another --checkpoint"
    );
    // With --force the model is replaced, and no temporary file is left beside it.
    let o = xnorflow(&[&base[..], &["-o", "old.xnf", "--force"]].concat(), d);
    assert!(o.status.success(), "{}", stderr(&o));
    compiler::format::load(&d.join("old.xnf")).expect("a model now");
    assert!(!d.join("old.xnf.tmp").exists() && !d.join("old.tmp").exists());
}

#[cfg(unix)]
#[test]
fn train_refuses_an_unwritable_output_directory_before_training() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    // Root ignores permissions: nothing to check then.
    if std::fs::write(ro.join("probe"), b"").is_ok() {
        return;
    }
    let o = xnorflow(&["train", "--dataset", "digits", "--epochs", "1", "-o", "ro/m.xnf"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).starts_with("error: -o ro/m.xnf: cannot write in ro: "), "{}", stderr(&o));
}

/// A random residual network (two blocks, the second downsampling) through every hardware
/// subcommand: compile (automatic folding), sim, cosim with stalls, report, synth (when Yosys is
/// installed) with the shortcut's cost on the add's row, and explore beside a plain network.
#[test]
fn a_residual_model_goes_through_compile_sim_cosim_report_synth_and_explore() {
    let dir = tempfile::tempdir().expect("tempdir");
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
        LayerSpec::Dense(10),
    ];
    let mut m = random_model("res", Shape::new(8, 8, 1), &specs, 5).expect("valid");
    m.output = compiler::model::OutputMode::Argmax;
    compiler::format::save(&m, &dir.path().join("res.xnf")).expect("saves");
    let plain = compiler::model::random::random_mlp(Shape::new(8, 8, 1), &[16], 10, 2).expect("valid");
    compiler::format::save(&plain, &dir.path().join("plain.xnf")).expect("saves");
    let run = |args: &[&str]| {
        let o = xnorflow(args, dir.path());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    run(&["compile", "res.xnf", "-o", "b", "--frames", "3", "--target-cycles", "1200"]);
    let graph = std::fs::read_to_string(dir.path().join("b/graph.txt")).expect("graph text");
    assert!(graph.contains(" add layer=3 int4") && graph.contains("    <- R3"), "{graph}");
    let out = run(&["sim", "b", "--frames", "4"]);
    assert!(out.contains("R2") && out.contains("R3"), "the bypass FIFOs' fill: {out}");
    let out = run(&["cosim", "b", "--frames", "5", "--stall-prob", "0.3", "--seed", "2"]);
    assert!(out.ends_with("PASS\n"), "{out}");
    run(&["report", "b"]);
    let est = std::fs::read_to_string(dir.path().join("b/report.md")).expect("estimate report");
    let a3 = est.lines().find(|l| l.starts_with("| A3 |")).expect("the add's row");
    assert!(
        a3.contains("residual shortcut: ") && a3.contains("int4 adders") && a3.contains("bypass FIFO "),
        "{a3}"
    );
    if tools::installed("yosys") {
        run(&["synth", "b"]);
        let s = std::fs::read_to_string(dir.path().join("b/synth-xc7.md")).expect("synth report");
        assert!(s.contains("residual shortcut:"), "{s}");
    }
    run(&["explore", "res.xnf", "plain.xnf", "-o", "ex"]);
    let csv = std::fs::read_to_string(dir.path().join("ex/explore.csv")).expect("csv");
    assert!(csv.lines().any(|l| l.contains("res")) && csv.lines().any(|l| l.contains("plain")), "{csv}");
}
