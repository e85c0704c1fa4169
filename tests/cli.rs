//! The `xnorflow` binary end to end: `inspect` and `eval` on model files written by the format's own
//! writer, the demo, and the errors users see for bad input.

use compiler::data::{parse_digits, Split};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Padding, Shape};
use sim::golden::Golden;
use std::path::Path;
use std::process::Command;

mod common;
use common::{stderr, stdout, xnorflow};

/// A small conv net on 8x8 digits-shaped input.
fn digits_model() -> compiler::model::Model {
    let specs = [
        LayerSpec::QuantBinary(100),
        LayerSpec::Conv2d { out: 12, kernel: 3, stride: 1, padding: Padding::Bit { amount: 1, bit: false } },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Dense(70),
        LayerSpec::Dense(10),
    ];
    random_model("cli-test", Shape::new(8, 8, 1), &specs, 3).expect("valid")
}

#[test]
fn inspect_prints_every_layer_and_the_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = digits_model();
    model.provenance.notes = Some("arch c12p0-p-70-10, training revision 2".into());
    compiler::format::save(&model, &dir.path().join("m.xnf")).expect("saved");
    let o = xnorflow(&["inspect", "m.xnf"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // conv: 8*8 positions x 12 x 9 = 6,912 MACs; dense 4*4*12 = 192 -> 70: 13,440; 70 -> 10: 700.
    for needle in [
        "L1     conv2d",
        "k3 s1 pad 1x-1, 9 -> 12",
        "8x8x12 bit",
        "4x4x12 bit",
        "6,912",
        "13,440",
        "1x1x10 score",
        "21,052",
        "method random",
        "notes: arch c12p0-p-70-10, training revision 2",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let total = out.lines().find(|l| l.starts_with("total")).expect("a total row");
    // 108 + 13,440 + 700 = 14,248 weight bits.
    assert!(total.contains("14,248"), "{total}");
}

#[test]
fn eval_reports_the_golden_models_accuracy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = digits_model();
    compiler::format::save(&model, &dir.path().join("m.xnf")).expect("saved");
    let o = xnorflow(&["eval", "m.xnf", "--dataset", "digits"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));

    // The same number computed here from the shared data file and the golden model.
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz")).expect("data");
    let test = parse_digits(bytes, "digits", Split::Test).expect("valid");
    let golden = Golden::new(&model).expect("valid");
    let preds = golden.run_batch(&test.images).expect("fits");
    let correct = preds.iter().zip(&test.labels).filter(|(p, &l)| p.class == usize::from(l)).count();
    let expected = format!("({correct}/{})", test.len());
    assert!(stdout(&o).contains(&expected), "expected {expected} in {}", stdout(&o));
    assert!(stdout(&o).contains("frames/s"), "{}", stdout(&o));
}

#[test]
fn eval_refuses_a_dataset_of_another_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = random_model(
        "mnist-shaped",
        Shape::new(28, 28, 1),
        &[LayerSpec::QuantBinary(1), LayerSpec::Dense(10)],
        1,
    )
    .expect("valid");
    compiler::format::save(&m, &dir.path().join("m.xnf")).expect("saved");
    let o = xnorflow(&["eval", "m.xnf", "--dataset", "digits"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("takes 28x28x1 frames but the dataset's images are 8x8x1"), "{}", stderr(&o));
    let o = xnorflow(&["eval", "m.xnf", "--dataset", "mnist"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("MNIST needs --data DIR"), "{}", stderr(&o));
    let o = xnorflow(&["eval", "m.xnf", "--dataset", "mnist", "--data", "."], dir.path());
    assert!(stderr(&o).contains("no MNIST t10k images in ."), "{}", stderr(&o));
}

#[test]
fn bad_model_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("junk.xnf"), b"definitely not a model").expect("written");
    for args in [["inspect", "junk.xnf"], ["inspect", "missing.xnf"]] {
        let o = xnorflow(&args, dir.path());
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).starts_with("error: cannot load model"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

#[test]
fn bad_training_options_are_errors_naming_the_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], &str); 8] = [
        (&["--dropout", "1.5"], "--dropout"),
        (&["--weight-decay", "1000"], "--weight-decay"),
        (&["--t-min", "0"], "--t-min"),
        (&["--method", "ste", "--plain-head"], "--plain-head"),
        (&["--arch", "c8p1-32", "--input", "fixed8"], "no padding bit"),
        (&["--limit", "500", "--holdout", "500"], "--holdout 500 leaves no images to train on"),
        (&["--act-bits", "5"], "--act-bits must be 1 (binary activations) to 4, got 5"),
        (&["--act-bits", "2", "--arch", "c8p0-c8p1-32"], "layer 2 (conv): its input is 2-bit activations"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["train", "--dataset", "digits", "--epochs", "1", "-o", "m.xnf"];
        if !extra.contains(&"--arch") {
            args.extend(["--arch", "32"]);
        }
        args.extend_from_slice(extra);
        let o = xnorflow(&args, dir.path());
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{extra:?}: {}", stderr(&o));
        // Refused before the run is announced: nothing on stdout, nothing trained or written.
        assert_eq!(String::from_utf8_lossy(&o.stdout), "", "{extra:?}");
        assert!(!dir.path().join("m.xnf").exists(), "{extra:?}: nothing is trained or written");
    }
}

#[test]
fn train_logs_each_epoch_and_records_its_recipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    for method in ["ste", "irnet"] {
        let out = format!("{method}.xnf");
        let args =
            ["train", "--dataset", "digits", "--arch", "32", "--epochs", "2", "--method", method, "-o", &out];
        let o = xnorflow(&args, dir.path());
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        let log = stdout(&o);
        let epochs: Vec<&str> = log.lines().filter(|l| l.starts_with("epoch ")).collect();
        assert_eq!(epochs.len(), 2, "{method}: one line per epoch in\n{log}");
        // The EDE schedule exists only for IR-Net.
        assert_eq!(epochs.iter().all(|l| l.contains("EDE t=")), method == "irnet", "{method}: {log}");
        let model = compiler::format::load(&dir.path().join(&out)).expect("loads");
        let notes = model.provenance.notes.expect("the recipe is recorded");
        for part in ["arch 32-10", &format!("method {method}"), "epochs 2", "training revision"] {
            assert!(notes.contains(part), "{method}: '{part}' missing from {notes}");
        }
    }
}

#[test]
fn train_act_bits_writes_a_multi_threshold_model_proven_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "train",
        "--dataset",
        "digits",
        "--arch",
        "32-16",
        "--epochs",
        "2",
        "--act-bits",
        "3",
        "-o",
        "m.xnf",
    ];
    let o = xnorflow(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stdout(&o);
    assert!(log.contains("(32-16-10, 3-bit activations)"), "{log}");
    assert!(log.contains("bit-exact: 359/359 test images agree"), "{log}");
    let model = compiler::format::load(&dir.path().join("m.xnf")).expect("loads");
    assert_eq!(model.name, "digits-32-16-w1a3-irnet");
    assert!(
        model.provenance.notes.as_deref().is_some_and(|n| n.contains("act bits 3")),
        "{:?}",
        model.provenance
    );
    let multi: Vec<_> = model.layers.iter().filter_map(|l| l.weights()?.activation.multi()).collect();
    assert_eq!(multi.len(), 2);
    assert!(multi.iter().all(|m| m.ty.to_string() == "int3" && m.bias == -3 && m.levels == 6));
}

#[test]
fn holdout_trains_without_the_last_images_and_reports_their_accuracy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["train", "--dataset", "digits", "--arch", "32", "--epochs", "2", "--limit", "1000"];
    let o = xnorflow(&[&args[..], &["--holdout", "300", "-o", "m.xnf"]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(": 700 images (+300 held out), 2 epochs"), "{}", stdout(&o));
    let model = compiler::format::load(&dir.path().join("m.xnf")).expect("loads");
    let notes = model.provenance.notes.as_deref().expect("recipe");
    assert!(notes.contains("first 1000 training images, last 300 training images held out"), "{notes}");

    // The recorded number is the golden model's on training images 700..1000, computed here.
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz")).expect("data");
    let mut held = parse_digits(bytes, "digits", Split::Train).expect("valid");
    held.truncate(1000);
    let held = held.split_off(300);
    let preds = Golden::new(&model).expect("valid").run_batch(&held.images).expect("fits");
    let correct = preds.iter().zip(&held.labels).filter(|(p, &l)| p.class == usize::from(l)).count();
    assert_eq!(model.provenance.validation_accuracy, Some(correct as f64 / 300.0));
    let line = format!("validation accuracy {:.2}% on the 300 held-out", 100.0 * correct as f64 / 300.0);
    assert!(stdout(&o).contains(&line), "expected '{line}' in {}", stdout(&o));
    let o = xnorflow(&["inspect", "m.xnf"], dir.path());
    assert!(stdout(&o).contains("validation accuracy"), "{}", stdout(&o));

    // Held-out images are not trained on: the same run without them trains to another network.
    let o = xnorflow(&[&args[..], &["-o", "all.xnf"]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let all = compiler::format::load(&dir.path().join("all.xnf")).expect("loads");
    assert_ne!(all.layers, model.layers);
    assert_eq!(all.provenance.validation_accuracy, None);
}

#[test]
fn demo_writes_a_model_that_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = xnorflow(&["demo", "--out", "out"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let model = compiler::format::load(&dir.path().join("out/digits-irnet.xnf")).expect("loads");
    let text = std::fs::read_to_string(dir.path().join("out/digits-irnet.txt")).expect("text form");
    assert_eq!(compiler::model::Model::parse(&text).expect("parses"), model);
    let acc = model.provenance.accuracy.expect("accuracy recorded");
    // The issue's bound for the demo's IR-Net network on the digits.
    assert!(acc >= 0.93, "accuracy {acc}");
    assert!(stdout(&o).contains("359/359 test images give the same class"), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("accuracy {:.2}%", acc * 100.0)), "{}", stdout(&o));
    // The hardware half: cycle model, co-simulation with Verilator, synthesis, the report.
    assert!(stdout(&o).contains("PASS: bits and cycles agree on 16 frames"), "{}", stdout(&o));
    let html = std::fs::read_to_string(dir.path().join("out/build/report.html")).expect("report");
    assert!(html.contains("<svg") && html.contains("PASS") && html.contains("LUT Yosys"), "{html}");
}

#[test]
fn sim_cosim_and_report_run_on_a_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = [LayerSpec::QuantBinary(100), LayerSpec::Dense(16), LayerSpec::Dense(10)];
    let model = random_model("cli-sim", Shape::new(8, 8, 1), &specs, 6).expect("valid");
    compiler::format::save(&model, &dir.path().join("m.xnf")).expect("saved");
    let o = xnorflow(&["compile", "m.xnf", "-o", "b", "--target-cycles", "32"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = xnorflow(&["sim", "b", "--frames", "12"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("outputs equal the golden model's"), "{}", stdout(&o));
    // Without Verilator on the PATH: the other two executors still run, and the message says why.
    let o = Command::new(env!("CARGO_BIN_EXE_xnorflow"))
        .args(["cosim", "b", "--frames", "2"])
        .current_dir(dir.path())
        .env("PATH", "/nonexistent")
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Verilator: skipped: verilator not found"), "{}", stdout(&o));
    let o = xnorflow(&["cosim", "b", "--frames", "3", "--stall-prob", "0.25", "--seed", "2"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("PASS\n"), "{}", stdout(&o));
    let o = xnorflow(&["report", "b"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.path().join("b/report.md")).expect("report.md");
    assert!(md.contains("PASS") && md.contains("xnorflow synth"), "{md}");
    // Not a build directory: a clear error, not a panic.
    let o = xnorflow(&["sim", "."], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("xnorflow compile"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn every_subcommand_has_an_example_in_its_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    for cmd in [
        "demo",
        "train",
        "inspect",
        "eval",
        "compile",
        "sim",
        "cosim",
        "synth",
        "bitstream",
        "explore",
        "report",
    ] {
        let o = xnorflow(&[cmd, "--help"], dir.path());
        assert!(o.status.success());
        assert!(stdout(&o).contains(&format!("xnorflow {cmd}")), "{cmd}: {}", stdout(&o));
    }
}

#[test]
fn compile_writes_a_build_whose_testbench_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs =
        [LayerSpec::QuantBinary(100), LayerSpec::Dense(24), LayerSpec::Dense(16), LayerSpec::Dense(10)];
    let model = random_model("cli-mlp", Shape::new(8, 8, 1), &specs, 4).expect("valid");
    compiler::format::save(&model, &dir.path().join("m.xnf")).expect("saved");
    std::fs::write(dir.path().join("f.json"), r#"{"layers": {"L1": {"pe": 4, "simd": 16}, "L2": {"pe": 2, "simd": 8}, "L3": {"pe": 5, "simd": 16}}}"#)
        .expect("folding");
    let o = xnorflow(
        &["compile", "m.xnf", "-o", "b", "--folding", "f.json", "--frames", "3", "--stall-prob", "0.2"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // L1: 24/4 x 64/16 = 24 cycles, the slowest node.
    assert!(stdout(&o).contains("total: 24 cycles/frame"), "{}", stdout(&o));
    for f in
        ["design.v", "tb.v", "Makefile", "folding.json", "report.md", "report.json", "graph.txt", "L1_w0.mem"]
    {
        assert!(dir.path().join("b").join(f).exists(), "missing {f}");
    }
    let sim = Command::new("make").args(["-C", "b", "sim"]).current_dir(dir.path()).output().expect("make");
    assert!(
        String::from_utf8_lossy(&sim.stdout).contains("PASS"),
        "{}",
        String::from_utf8_lossy(&sim.stdout)
    );
    // An illegal folding is an error naming the layer, not a panic.
    std::fs::write(dir.path().join("bad.json"), r#"{"layers": {"L1": {"pe": 5, "simd": 16}, "L2": {"pe": 2, "simd": 8}, "L3": {"pe": 5, "simd": 16}}}"#)
        .expect("folding");
    let o = xnorflow(&["compile", "m.xnf", "-o", "b2", "--folding", "bad.json"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("layer L1: PE = 5 does not divide MH = 24"), "{}", stderr(&o));
    // An impossible budget gives the best achievable figure.
    let o = xnorflow(&["compile", "m.xnf", "-o", "b3", "--lut-budget", "10"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("needs an estimated"), "{}", stderr(&o));
}

#[test]
fn a_conv_model_compiles_simulates_and_its_testbench_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    compiler::format::save(&digits_model(), &dir.path().join("m.xnf")).expect("saved");
    // L1: 3x3 conv, 1 -> 12 channels on 8x8, padded; L3: dense 192 -> 70; L4: 70 -> 10.
    std::fs::write(
        dir.path().join("f.json"),
        r#"{"layers": {"L1": {"pe": 4, "simd": 1}, "L3": {"pe": 7, "simd": 16}, "L4": {"pe": 2, "simd": 14}}}"#,
    )
    .expect("folding");
    let o = xnorflow(&["compile", "m.xnf", "-o", "b", "--folding", "f.json", "--frames", "2"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    // L1: 12/4 x 9/1 x 64 pixels = 1,728 cycles per frame, the slowest node.
    assert!(stdout(&o).contains("total: 1,728 cycles/frame"), "{}", stdout(&o));
    let o = xnorflow(&["sim", "b", "--frames", "6"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("steady state: 1,728 cycles/frame (predicted 1,728)"), "{out}");
    assert!(out.contains("outputs equal the golden model's"), "{out}");
    let sim = Command::new("make").args(["-C", "b", "sim"]).current_dir(dir.path()).output().expect("make");
    assert!(
        String::from_utf8_lossy(&sim.stdout).contains("PASS"),
        "{}",
        String::from_utf8_lossy(&sim.stdout)
    );
    // SIMD must divide a convolution's input channels: the error names the layer and the choices.
    std::fs::write(dir.path().join("bad.json"), r#"{"layers": {"L1": {"pe": 4, "simd": 3}, "L3": {"pe": 7, "simd": 16}, "L4": {"pe": 2, "simd": 14}}}"#)
        .expect("folding");
    let o = xnorflow(&["compile", "m.xnf", "-o", "b2", "--folding", "bad.json"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("layer L1: SIMD = 3 does not divide the 1 input channels"), "{}", stderr(&o));
    // The built-in CNV topology at BNN-PYNQ's folding.
    let f = concat!(env!("CARGO_MANIFEST_DIR"), "/results/bnn_pynq_cnv_folding.json");
    let o = xnorflow(&["compile", "reference:cnv", "-o", "cnv", "--folding", f, "--frames", "1"], dir.path());
    assert!(o.status.success() && stdout(&o).contains("total: 32,768 cycles/frame"), "{}", stdout(&o));
    let o = xnorflow(&["compile", "reference:vgg", "-o", "x"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("reference:cnv"), "{}", stderr(&o));
}

/// The committed IR-Net LFC (README's MNIST table) still scores what the README says, read by
/// today's format reader and golden model. Needs MNIST beside the checkout, as CI has it.
#[test]
fn the_committed_lfc_scores_its_published_accuracy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("../shared/data/mnist");
    if !data.is_dir() {
        eprintln!("skipped: no MNIST at {}", data.display());
        return;
    }
    let model = root.join("results/pretrained/mnist-lfc-irnet.xnf");
    let info = xnorflow(&["inspect", model.to_str().expect("utf-8 path")], root);
    assert!(info.status.success(), "{}", stderr(&info));
    assert!(stdout(&info).contains("method irnet, accuracy 99.00%, 100 epochs"), "{}", stdout(&info));
    let args = [
        "eval",
        model.to_str().expect("utf-8"),
        "--dataset",
        "mnist",
        "--data",
        data.to_str().expect("utf-8"),
    ];
    let o = xnorflow(&args, root);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("accuracy 99.00% (9900/10000)"), "{}", stdout(&o));
    // The whole test set through the cycle model at 512 cycles/frame: the same 99.00%, decoded
    // from the design's own output words.
    let dir = tempfile::tempdir().expect("tempdir");
    let m = model.to_str().expect("utf-8");
    let o = xnorflow(&["compile", m, "-o", "b", "--target-cycles", "512"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o =
        xnorflow(&["sim", "b", "--dataset", "mnist", "--data", data.to_str().expect("utf-8")], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("10000 mnist test images through the cycle model"), "{out}");
    assert!(
        out.contains(
            "accuracy 99.00% (9900/10000) from the design's output words; the golden model (`xnorflow eval`): \
             99.00%, equal, every class the same"
        ),
        "{out}"
    );
    assert!(out.contains("steady state: 512 cycles/frame"), "{out}");
    // On both cores, two independent halves: the same accuracy, every class the same.
    let data = data.to_str().expect("utf-8");
    let o = xnorflow(&["sim", "b", "--dataset", "mnist", "--data", data, "--jobs", "2"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out2 = stdout(&o);
    assert!(out2.contains("99.00%, equal, every class the same"), "{out2}");
    assert!(
        out2.contains("steady state: 512 cycles/frame") && out2.contains(" in 2 runs on as many threads"),
        "{out2}"
    );
}

/// Real images through the cycle model: `sim --dataset` gives each image the class the golden
/// model gives it (`eval --predictions` against `sim --predictions`, row by row), with scores
/// when the design streams them; `cosim --dataset` runs them through all three executors; and
/// the options that do not go together are refused.
#[test]
fn sim_and_cosim_run_real_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = digits_model();
    model.output = compiler::model::OutputMode::Scores;
    compiler::format::save(&model, &dir.path().join("m.xnf")).expect("saved");
    let o = xnorflow(&["compile", "m.xnf", "-o", "b", "--target-cycles", "1024"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = xnorflow(&["eval", "m.xnf", "--dataset", "digits", "--predictions", "g.csv"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o).lines().next().expect("a line").to_string();
    let acc = line.split("accuracy ").nth(1).and_then(|r| r.split(' ').next()).expect("accuracy").to_string();
    let o = xnorflow(&["sim", "b", "--dataset", "digits", "--predictions", "h.csv"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("accuracy {acc} (")), "eval says {acc}: {out}");
    assert!(out.contains("equal, every class the same"), "{out}");
    assert!(out.contains("latency of each frame (first input word to last output word): min "), "{out}");
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect("csv");
    let (g, h) = (read("g.csv"), read("h.csv"));
    assert_eq!(g.lines().count(), h.lines().count());
    for (a, b) in g.lines().zip(h.lines()).skip(1) {
        // index, label, predicted, correct and the scores: the same from both executors.
        assert_eq!(a, b);
    }
    // Three independent runs on threads: the same rows, in order.
    let o =
        xnorflow(&["sim", "b", "--dataset", "digits", "--predictions", "j.csv", "--jobs", "3"], dir.path());
    assert!(o.status.success() && stdout(&o).contains(&format!("accuracy {acc} (")), "{}", stderr(&o));
    assert_eq!(read("j.csv"), h);
    let o = xnorflow(&["sim", "b", "--jobs", "0"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("--jobs"), "{}", stderr(&o));
    let o =
        xnorflow(&["cosim", "b", "--dataset", "digits", "--limit", "5", "--stall-prob", "0.2"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("accuracy of the digits test images"), "{}", stdout(&o));
    assert!(stdout(&o).ends_with("PASS\n"), "{}", stdout(&o));
    // explore --simulate: every design's cycle model on real images.
    let o = xnorflow(&["explore", "m.xnf", "--dataset", "digits", "--simulate", "4", "-o", "ex"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("measured on 4 images: "), "{}", stdout(&o));
    let csv = read("ex/explore.csv");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.split(',').nth(13) == Some("4")), "{csv}");
    let o = xnorflow(&["explore", "m.xnf", "--simulate", "4"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("--dataset"), "{}", stderr(&o));
    // --frames is for random frames; --predictions needs images; MNIST is 28x28.
    let o = xnorflow(&["sim", "b", "--dataset", "digits", "--frames", "3"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("--frames"), "{}", stderr(&o));
    let o = xnorflow(&["sim", "b", "--predictions", "x.csv"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("--dataset"), "{}", stderr(&o));
    let o = xnorflow(&["sim", "b", "--dataset", "mnist"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("MNIST needs --data"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

/// A random W1A2 model file (binary weights, signed 2-bit activations from multi-thresholds, a
/// 2-bit max-pool, an 8-bit first layer) through `compile` (automatic folding), `sim`, `cosim`
/// with stalls, and the build's Icarus testbench.
#[test]
fn a_w1a2_model_compiles_simulates_and_cosimulates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a2 = compiler::model::IntType { bits: 2, signed: true };
    let specs = [
        LayerSpec::QuantFixed8(false),
        LayerSpec::Conv2dMulti { out: 8, kernel: 3, stride: 1, padding: Padding::None, ty: a2 },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::DenseMulti { out: 16, ty: a2 },
        LayerSpec::Dense(10),
    ];
    let model = random_model("w1a2", Shape::new(8, 8, 2), &specs, 11).expect("valid");
    compiler::format::save(&model, &dir.path().join("m.xnf")).expect("saved");
    let o = xnorflow(&["compile", "m.xnf", "-o", "b", "--target-cycles", "400", "--frames", "3"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let graph = std::fs::read_to_string(dir.path().join("b/graph.txt")).expect("graph.txt");
    assert!(graph.contains("input=int2") && graph.contains("output=multi act=int2"), "{graph}");
    assert!(graph.contains("elem=int2"), "a 2-bit max-pool: {graph}");
    let o = xnorflow(&["sim", "b", "--frames", "8"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("outputs equal the golden model's"), "{}", stdout(&o));
    let o = xnorflow(&["cosim", "b", "--frames", "4", "--stall-prob", "0.3", "--seed", "5"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("PASS\n"), "{}", stdout(&o));
    let sim = Command::new("make").args(["-C", "b", "sim"]).current_dir(dir.path()).output().expect("make");
    assert!(
        String::from_utf8_lossy(&sim.stdout).contains("PASS"),
        "{}",
        String::from_utf8_lossy(&sim.stdout)
    );
}
