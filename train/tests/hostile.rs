//! Hostile and careless training input (issue 24, items 7, 8, 10 and 15): empty images, absurd
//! architectures, non-finite or out-of-range float options, a diverging run, and checkpoints that
//! collide with their metadata or were edited. Each must give a clear error naming the option or
//! the file, never a panic, an abort or "this is a bug".

use candle_core::{Device, Tensor};
use compiler::data::{parse_digits, Dataset, Split};
use compiler::model::Shape;
use std::collections::HashMap;
use std::path::Path;
use train::arch::{Arch, InputKind};
use train::method::Method;
use train::trainer::{train, Progress, Quiet, TrainConfig, TrainError};

const DIGITS: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// The first 200 training digits: enough for a step or two per epoch in milliseconds.
fn digits() -> Dataset {
    let mut d = parse_digits(DIGITS.to_vec(), "digits", Split::Train).expect("bundled data parses");
    d.truncate(200);
    d
}

fn config(arch: &str, epochs: usize) -> TrainConfig {
    let arch = Arch::parse(arch, InputKind::Binary { threshold: 128 }, 10).expect("valid arch");
    TrainConfig { batch: 100, ..TrainConfig::new(arch, Method::Ste, epochs, 1) }
}

fn config_error(cfg: &TrainConfig, data: &Dataset) -> String {
    match cfg.validate(data) {
        Err(TrainError::Config(m)) => m,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Item 8: empty images.
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_images_are_refused_before_training() {
    // Three images of 0x0 pixels: training divided by zero in Net::input_tensor.
    let data = Dataset { shape: Shape::new(0, 0, 1), classes: 10, images: vec![], labels: vec![1, 2, 3] };
    let cfg = config("16", 1);
    let msg = config_error(&cfg, &data);
    assert!(msg.starts_with("the training images are 0x0x1 with 0 pixels for 3 images"), "{msg}");
    assert!(matches!(train(&cfg, &data, None, &mut Quiet), Err(TrainError::Config(_))));
    let none = Dataset { shape: Shape::new(8, 8, 1), classes: 10, images: vec![], labels: vec![] };
    assert_eq!(config_error(&cfg, &none), "the training set has no images");
}

// ---------------------------------------------------------------------------------------------
// Item 7: architectures beyond the limits.
// ---------------------------------------------------------------------------------------------

#[test]
fn absurd_layer_widths_are_refused_when_parsed() {
    let b = InputKind::Binary { threshold: 128 };
    let e = Arch::parse("100000000", b, 10).expect_err("10^8 outputs");
    assert_eq!(
        e,
        "layer '100000000': 100,000,000 outputs are more than the limit of 4,194,304 per layer \
         (compiler::model::limits::MAX_TENSOR_ELEMS)"
    );
    assert!(Arch::parse("c5000000-p", b, 10).expect_err("5M channels").contains("5,000,000 outputs"));
}

#[test]
fn networks_too_large_to_train_are_refused_by_validate() {
    let data = digits();
    // 4M x 4M weights: each width is allowed, the product is not.
    let msg = config_error(&config("4000000-4000000", 1), &data);
    assert!(
        msg.starts_with("--arch 4000000-4000000-10 has 16,000,312,000,001 weights to train on 8x8x1 images")
            && msg.contains("more than the limit of 67,108,864"),
        "{msg}"
    );
    // A conv layer whose output on 8x8 images is beyond the per-layer limit, named by position.
    let msg = config_error(&config("c100000p0", 1), &data);
    assert!(msg.starts_with("layer 1 (c100000p0): output 8x8x100000 is more than the limit"), "{msg}");
    // Activations of one step: 100 images x 8x8x60000 values.
    let msg = config_error(&config("c60000p0", 1), &data);
    assert!(msg.starts_with("--arch c60000p0-10 with --batch 100 holds 384,"), "{msg}");
    assert!(msg.contains("use a smaller --batch or narrower layers"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Item 10: float options.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_float_option_is_checked_with_its_own_message() {
    let data = digits();
    let base = config("16", 1);
    for lr in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e30] {
        let cfg = TrainConfig { lr, ..base.clone() };
        let msg = config_error(&cfg, &data);
        assert!(
            msg.starts_with(&format!("--lr must be a finite number above 0 and at most 1, got {lr:?}")),
            "{msg}"
        );
    }
    let cases: [(TrainConfig, &str); 7] = [
        (
            TrainConfig { t_min: f64::NAN, ..base.clone() },
            "--t-min must be a finite number in [0.0001, 10000], got NaN",
        ),
        (
            TrainConfig { t_min: 0.0, ..base.clone() },
            "--t-min must be a finite number in [0.0001, 10000], got 0.0",
        ),
        (
            TrainConfig { t_max: f64::INFINITY, ..base.clone() },
            "--t-max must be a finite number in [--t-min (0.1), 10000], got inf",
        ),
        (TrainConfig { dropout: f64::NAN, ..base.clone() }, "--dropout must be in [0, 1), got NaN"),
        (
            TrainConfig { weight_decay: f64::NAN, ..base.clone() },
            "--weight-decay must be a finite number >= 0, got NaN",
        ),
        (
            TrainConfig { weight_decay: -1.0, ..base.clone() },
            "--weight-decay must be a finite number >= 0, got -1.0",
        ),
        (TrainConfig { lr: 0.5, weight_decay: 2.0, ..base.clone() }, "--lr x --weight-decay must be below 1"),
    ];
    for (cfg, want) in cases {
        let msg = config_error(&cfg, &data);
        assert!(msg.starts_with(want), "{msg}\nexpected: {want}");
    }
    // Integer options with no sane meaning beyond a bound.
    let msg = config_error(&TrainConfig { shift: usize::MAX, ..base.clone() }, &data);
    assert!(
        msg.starts_with("--shift 18446744073709551615 moves a 8x8 image entirely out of its frame"),
        "{msg}"
    );
    let msg = config_error(&TrainConfig { epochs: usize::MAX, ..base.clone() }, &data);
    assert!(msg.starts_with("--epochs must be between 1 and 100000"), "{msg}");
    base.validate(&data).expect("the defaults are valid");
}

/// The error of a run that must fail (`Net` has no `Debug`, so no `expect_err`).
fn fails<T>(r: Result<T, TrainError>) -> TrainError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

struct StopAfter(usize);
impl Progress for StopAfter {
    fn should_stop(&mut self) -> bool {
        self.0 -= 1;
        self.0 == 0
    }
}

/// Replaces tensor `name` of the checkpoint `path` by `f` of it, and drops the metadata's checksum
/// (as checkpoints written before it had none), so that only the tensors' values are wrong.
fn poison(path: &Path, name: &str, f: impl Fn(&Tensor) -> Tensor) {
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(path, &Device::Cpu).expect("loads");
    let t = f(&tensors[name]);
    tensors.insert(name.into(), t);
    candle_core::safetensors::save(&tensors, path).expect("saves");
    let meta = path.with_extension("json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("meta")).expect("JSON");
    v.as_object_mut().expect("object").remove("tensors_checksum");
    std::fs::write(&meta, v.to_string()).expect("writes");
}

#[test]
fn a_diverging_run_stops_naming_the_learning_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ckpt = dir.path().join("c.safetensors");
    let data = digits();
    let cfg = config("16", 3);
    train(&cfg, &data, Some(&ckpt), &mut StopAfter(1)).expect("one epoch");
    // A logit scale of e^(10^30): the next forward pass overflows to an infinite loss.
    poison(&ckpt, "l1.log_scale", |t| (t.ones_like().expect("ones") * 1e30).expect("scales"));
    let err = fails(train(&cfg, &data, Some(&ckpt), &mut Quiet));
    assert!(matches!(err, TrainError::Diverged { epoch: 2, step: 1, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("training diverged: the loss became NaN at epoch 2, step 1; the learning rate is probably too high")
            || msg.starts_with("training diverged: the loss became inf at epoch 2, step 1; the learning rate is probably too high"),
        "{msg}"
    );
    assert!(msg.ends_with("(--lr 0.001): try a smaller one, such as 0.0001"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Item 15: checkpoints.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_checkpoint_named_like_its_metadata_is_refused_before_training() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ckpt = dir.path().join("c.json");
    let err = fails(train(&config("16", 1), &digits(), Some(&ckpt), &mut Quiet));
    let msg = err.to_string();
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{err:?}");
    assert!(msg.contains("its metadata is written beside it as") && msg.contains("c.safetensors"), "{msg}");
    assert!(!ckpt.exists(), "nothing was written");
}

fn edit_meta(path: &Path, f: impl Fn(&mut serde_json::Value)) {
    let meta = path.with_extension("json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("meta")).expect("JSON");
    f(&mut v);
    std::fs::write(&meta, v.to_string()).expect("writes");
}

#[test]
fn a_checkpoint_edited_to_claim_more_epochs_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ckpt = dir.path().join("c.safetensors");
    let data = digits();
    let cfg = config("16", 4);
    train(&cfg, &data, Some(&ckpt), &mut StopAfter(1)).expect("one epoch");
    let meta = ckpt.with_extension("json");
    let original = std::fs::read(&meta).expect("meta");
    let resume = || fails(train(&cfg, &data, Some(&ckpt), &mut Quiet)).to_string();

    edit_meta(&ckpt, |v| v["epochs_done"] = 3.into());
    let msg = resume();
    assert!(msg.contains("claims 3 finished epochs but records 1: edited or corrupt; pass --fresh"), "{msg}");

    // History and epochs edited together: the optimizer's steps (2 per epoch) tell.
    edit_meta(&ckpt, |v| {
        let h = v["history"][0].clone();
        v["history"] = serde_json::json!([h, h, h]);
    });
    let msg = resume();
    assert!(msg.contains("claims 3 finished epochs of 2 steps, but its optimizer took 2 steps"), "{msg}");

    // All three edited consistently: the checksum over the tensors and the claims tells.
    edit_meta(&ckpt, |v| v["adam_step"] = 6.into());
    let msg = resume();
    assert!(msg.contains("its tensors do not match its metadata"), "{msg}");

    // More epochs than the run has.
    std::fs::write(&meta, &original).expect("restores");
    edit_meta(&ckpt, |v| v["epochs_done"] = 9.into());
    assert!(resume().contains("claims 9 finished epochs of a 4-epoch run"));

    // A duplicate key in the metadata.
    let text = String::from_utf8(original.clone()).expect("UTF-8");
    std::fs::write(&meta, text.replacen("\"epochs_done\":", "\"epochs_done\": 4, \"epochs_done\":", 1))
        .expect("writes");
    assert!(resume().contains("duplicate key \"epochs_done\""));

    // The untouched checkpoint still resumes.
    std::fs::write(&meta, &original).expect("restores");
    train(&cfg, &data, Some(&ckpt), &mut Quiet).expect("resumes");
}
