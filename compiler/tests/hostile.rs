//! Hostile and careless input to the model and dataset readers (issue 24, items 7, 8 and 16):
//! absurd sizes from tiny files, files that are not regular files, decompression bombs, empty
//! images, duplicate JSON keys, out-of-range fixed-point formats and the text form given as a
//! model file. Each input must give a clear error (or the right model), quickly, without a panic
//! and without allocating what the input declares.

use compiler::data::{self, parse_idx, read_idx, DataError, Split};
use compiler::format::{from_bytes, load, save, to_bytes, FormatError, MANIFEST_KEY};
use compiler::model::limits::{
    FileError, FileKind, MAX_DATASET_BYTES, MAX_MODEL_FILE_BYTES, MAX_TENSOR_ELEMS,
};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{
    Activation, BinaryWeights, BitMatrix, Fixed8, Layer, Model, ModelError, OutputMode, Padding, Provenance,
    Shape,
};
use flate2::write::GzEncoder;
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `f` on a thread and fails the test if it takes longer than `secs` (a reader that blocks
/// on a pipe or reads a device forever must not hang the suite).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).expect("the reader returned in time")
}

fn small_model() -> Model {
    random_model(
        "small",
        Shape::new(4, 4, 1),
        &[LayerSpec::QuantBinary(100), LayerSpec::MaxPool { kernel: 2, stride: 2 }, LayerSpec::Dense(3)],
        1,
    )
    .expect("valid")
}

/// The bytes of `model`'s file with its manifest passed through `edit` (as text, so that
/// duplicate keys can be written).
fn with_manifest_text(bytes: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).expect("a safetensors file");
    let (_, meta) = SafeTensors::read_metadata(bytes).expect("a safetensors file");
    let manifest = meta.metadata().as_ref().and_then(|m| m.get(MANIFEST_KEY)).expect("a manifest").clone();
    let tensors: Vec<(String, TensorView)> = st.tensors();
    let meta = Some(HashMap::from([(MANIFEST_KEY.to_string(), edit(&manifest))]));
    safetensors::serialize(tensors, &meta).expect("serializes")
}

/// Like [`with_manifest_text`], on the parsed manifest.
fn with_manifest(bytes: &[u8], edit: impl Fn(&mut Value)) -> Vec<u8> {
    with_manifest_text(bytes, |m| {
        let mut v: Value = serde_json::from_str(m).expect("JSON");
        edit(&mut v);
        v.to_string()
    })
}

// ---------------------------------------------------------------------------------------------
// Item 7: sizes beyond the limits are refused by the verifier, naming the layer and the limit.
// ---------------------------------------------------------------------------------------------

/// The 546-byte file: a 16384x16384 input, one max-pool over all of it, a 1 -> 3 dense
/// layer. It passed `inspect` and made `compile` allocate 2 GB.
fn huge_input_file() -> Vec<u8> {
    let base = random_model(
        "huge",
        Shape::new(2, 2, 1),
        &[LayerSpec::QuantBinary(1), LayerSpec::MaxPool { kernel: 2, stride: 2 }, LayerSpec::Dense(3)],
        1,
    )
    .expect("valid");
    with_manifest(&to_bytes(&base).expect("writes"), |m| {
        m["input"] = serde_json::json!({"h": 16384, "w": 16384, "c": 1});
        m["layers"][1]["kernel"] = 16384.into();
        m["layers"][1]["stride"] = 16384.into();
    })
}

#[test]
fn a_tiny_file_with_a_huge_input_is_refused_with_the_size_and_the_limit() {
    let bytes = huge_input_file();
    assert!(bytes.len() < 1024, "{} bytes", bytes.len());
    let err = from_bytes(&bytes).expect_err("a 16384x16384 input is beyond the limit");
    let msg = err.to_string();
    assert!(matches!(err, FormatError::Invalid(ModelError::Model(_))), "{err:?}");
    assert!(
        msg.contains("input 16384x16384x1 is too large")
            && msg.contains("268,435,456")
            && msg.contains("4,194,304")
            && msg.contains("MAX_TENSOR_ELEMS"),
        "{msg}"
    );
}

/// A one-bit threshold layer for hand-built models.
fn weights(out: usize, fan_in: usize, scores: bool) -> BinaryWeights {
    let activation = if scores { Activation::Scores } else { Activation::Threshold(vec![0; out]) };
    BinaryWeights { matrix: BitMatrix::zeros(out, fan_in), activation }
}

fn model(input: Shape, layers: Vec<Layer>) -> Model {
    Model { name: "m".into(), input, layers, output: OutputMode::Argmax, provenance: Provenance::default() }
}

#[test]
fn layer_outputs_and_padded_inputs_beyond_the_limit_name_the_layer() {
    // 2048x2048x1 is exactly the limit; a 1x1 conv to 2 channels doubles it.
    assert_eq!(2048 * 2048, MAX_TENSOR_ELEMS);
    let side = 2048;
    let pool_all = Layer::MaxPool { kernel: side, stride: side };
    let wide = model(
        Shape::new(side, side, 1),
        vec![
            Layer::QuantBinary { threshold: 1 },
            Layer::Conv2d { kernel: 1, stride: 1, padding: Padding::None, weights: weights(2, 1, false) },
            pool_all.clone(),
            Layer::Dense(weights(2, 2, true)),
        ],
    );
    let msg = wide.verify().expect_err("8M outputs").to_string();
    assert!(
        msg.starts_with("layer L1 (conv2d): output 2048x2048x2 is too large: 8,388,608 elements")
            && msg.contains("4,194,304"),
        "{msg}"
    );
    // Padding one pixel makes the window read a 2050x2050 tensor.
    let padded = model(
        Shape::new(side, side, 1),
        vec![
            Layer::QuantBinary { threshold: 1 },
            Layer::Conv2d {
                kernel: 3,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: false },
                weights: weights(1, 9, false),
            },
            pool_all,
            Layer::Dense(weights(2, 1, true)),
        ],
    );
    let msg = padded.verify().expect_err("padded beyond the limit").to_string();
    assert!(msg.starts_with("layer L1 (conv2d): padded input 2050x2050x1 is too large"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Item 16: frac_bits, duplicate keys, the text form.
// ---------------------------------------------------------------------------------------------

#[test]
fn frac_bits_beyond_the_8_bit_input_are_refused() {
    let mut m = random_model(
        "fixed",
        Shape::new(3, 3, 1),
        &[LayerSpec::QuantFixed8(false), LayerSpec::Dense(4), LayerSpec::Dense(2)],
        2,
    )
    .expect("valid");
    m.layers[0] = Layer::QuantFixed8(Fixed8 { signed: false, frac_bits: 8 });
    m.verify().expect("8 fractional bits: pixel / 256, what training exports");
    let bytes = to_bytes(&m).expect("writes");
    let bad = with_manifest(&bytes, |v| v["layers"][0]["frac_bits"] = 255.into());
    let err = from_bytes(&bad).expect_err("frac_bits 255");
    assert_eq!(
        err.to_string(),
        "invalid model: layer L0 (quant.fixed8): frac_bits 255 is more than 8: the input is an 8-bit \
         integer, so at most its 8 bits can be fractional"
    );
    m.layers[0] = Layer::QuantFixed8(Fixed8 { signed: true, frac_bits: 9 });
    assert!(m.verify().expect_err("9 bits").to_string().contains("frac_bits 9"));
}

#[test]
fn duplicate_keys_in_a_manifest_are_refused() {
    let bytes = to_bytes(&small_model()).expect("writes");
    let dup = with_manifest_text(&bytes, |m| m.replacen("\"name\":", "\"name\":\"decoy\",\"name\":", 1));
    let err = from_bytes(&dup).expect_err("duplicate key");
    assert!(matches!(err, FormatError::Manifest(_)), "{err:?}");
    assert_eq!(err.to_string(), "manifest: duplicate key \"name\" in $");
    // Also inside a layer.
    let dup = with_manifest_text(&bytes, |m| {
        m.replacen("\"threshold\":100", "\"threshold\":1,\"threshold\":100", 1)
    });
    let err = from_bytes(&dup).expect_err("duplicate key");
    assert_eq!(err.to_string(), "manifest: duplicate key \"threshold\" in $.layers[0]");
}

#[test]
fn duplicate_tensor_entries_in_the_container_header_are_refused() {
    // Two entries for one tensor: a reader that keeps the first sees other weights than one that
    // keeps the last (serde_json and safetensors keep the last without a word).
    let bytes = to_bytes(&small_model()).expect("writes");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).expect("UTF-8");
    assert!(header.contains("\"L2.weight\":{\"dtype\":\"U8\",\"shape\":[3,1]"), "{header}");
    let decoy = format!(
        "{{\"L2.weight\":{{\"dtype\":\"U8\",\"shape\":[1,3],\"data_offsets\":[0,3]}},{}",
        &header[1..]
    );
    let mut file = (decoy.len() as u64).to_le_bytes().to_vec();
    file.extend(decoy.as_bytes());
    file.extend(&bytes[8 + n..]);
    let err = from_bytes(&file).expect_err("duplicate key");
    assert_eq!(
        err.to_string(),
        "not a valid model file (safetensors container): header: duplicate key \"L2.weight\" in $"
    );
}

#[test]
fn the_text_form_is_read_as_a_model_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = small_model();
    let path = dir.path().join("m.txt");
    std::fs::write(&path, format!("# written by hand\n\n{m}")).expect("writes");
    assert_eq!(load(&path).expect("the text form loads"), m);
    // A broken text form says it is the text form, and where.
    let broken = m.to_string().replace("L1 maxpool", "L1 maxpoool");
    std::fs::write(&path, broken).expect("writes");
    let err = load(&path).expect_err("unknown kind");
    assert!(matches!(err, FormatError::Text(_)), "{err:?}");
    assert_eq!(err.to_string(), "text form of a model: line 7: unknown layer kind 'maxpoool'");
    // An invalid model in the text form is refused by the verifier like a file.
    let mut huge = m.to_string();
    huge = huge.replace("input 4x4x1", "input 16384x16384x1");
    std::fs::write(&path, huge).expect("writes");
    assert!(load(&path).expect_err("too large").to_string().contains("is too large"));
}

// ---------------------------------------------------------------------------------------------
// Item 7: only regular files within the size limit are read.
// ---------------------------------------------------------------------------------------------

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs").success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn a_named_pipe_as_a_model_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipe = dir.path().join("m.xnf");
    mkfifo(&pipe);
    let err = within(10, move || load(&pipe)).expect_err("a pipe");
    assert!(
        matches!(err, FormatError::File(FileError::NotRegular { kind: FileKind::NamedPipe, .. })),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.ends_with("m.xnf is a named pipe, not a regular file; give the path of a model file"),
        "{msg}"
    );
}

#[test]
fn a_device_or_a_directory_as_a_model_is_refused_without_reading() {
    let err = within(10, || load(Path::new("/dev/zero"))).expect_err("a device");
    assert_eq!(
        err.to_string(),
        "/dev/zero is a character device, not a regular file; give the path of a model file"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let err = load(dir.path()).expect_err("a directory");
    assert!(
        matches!(err, FormatError::File(FileError::NotRegular { kind: FileKind::Directory, .. })),
        "{err:?}"
    );
}

#[test]
fn a_model_file_beyond_the_size_limit_is_refused_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.xnf");
    // Sparse: no disk space, and only a read would touch its bytes.
    std::fs::File::create(&path).and_then(|f| f.set_len(MAX_MODEL_FILE_BYTES + 1)).expect("sparse file");
    let t0 = Instant::now();
    let err = load(&path).expect_err("too large");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(matches!(err, FormatError::File(FileError::TooLarge { .. })), "{err:?}");
    assert!(
        err.to_string()
            .contains("is 1,073,741,825 bytes, more than the 1,073,741,824 bytes a model file may have"),
        "{err}"
    );
}

#[test]
fn saving_over_a_directory_fails_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    std::fs::create_dir(&target).expect("mkdir");
    let err = save(&small_model(), &target).expect_err("a directory");
    assert!(err.to_string().starts_with(&format!("cannot write {}: ", target.display())), "{err}");
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).expect("lists").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("out")]);
    // A missing directory: the OS reason is part of the message, once.
    let nowhere = dir.path().join("missing").join("m.xnf");
    let msg = save(&small_model(), &nowhere).expect_err("no directory").to_string();
    assert!(
        msg.ends_with("No such file or directory (os error 2)") && msg.matches("os error").count() == 1,
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Items 7 and 8: dataset files.
// ---------------------------------------------------------------------------------------------

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(data);
    v
}

fn gzip(header: &[u8], zeros: usize) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(header).expect("in memory");
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len());
        e.write_all(&chunk[..n]).expect("in memory");
        left -= n;
    }
    e.finish().expect("in memory")
}

#[test]
fn an_idx_header_declaring_more_than_the_limit_is_refused_before_decompressing() {
    // 4,000,000 images of 28x28 = 3.1 GB declared, 8 MB of zeros present.
    let bomb = gzip(&idx(&[4_000_000, 28, 28], &[]), 8 << 20);
    let t0 = Instant::now();
    let err = parse_idx(bomb, "bomb.gz").expect_err("beyond the limit");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(
        err.to_string(),
        format!(
            "bomb.gz: dimensions [4000000, 28, 28] declare 3,136,000,000 data bytes, more than the limit of \
             {} for a dataset file (MAX_DATASET_BYTES): corrupt, or not a dataset this build reads",
            "2,147,483,648"
        )
    );
    assert_eq!(MAX_DATASET_BYTES, 2_147_483_648);
}

#[test]
fn an_idx_header_declaring_more_than_the_gzip_file_can_hold_is_refused() {
    // 100 MB declared, but the compressed file is a few hundred bytes: deflate cannot expand it so far.
    let small = gzip(&idx(&[1000, 1000, 100], &[]), 1000);
    assert!(small.len() < 2000, "{}", small.len());
    let err = parse_idx(small.clone(), "x.gz").expect_err("impossible ratio");
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "x.gz: dimensions [1000, 1000, 100] declare 100,000,000 data bytes, but a gzip file of"
        ) && msg.ends_with("corrupt, or a decompression bomb"),
        "{msg}"
    );
    // The stream form reads the same.
    assert!(read_idx(small.as_slice(), small.len() as u64, "x.gz").is_err());
}

#[test]
fn an_idx_stream_longer_than_its_header_is_refused_without_decompressing_the_rest() {
    // 40 bytes declared, then 64 MB of zeros: reading stops one byte after the 40.
    let bomb = gzip(&idx(&[10, 2, 2], &[]), 64 << 20);
    let t0 = Instant::now();
    let err = parse_idx(bomb, "long.gz").expect_err("longer than declared");
    // Decompressing 64 MB takes tens of milliseconds; one byte more than the header does not.
    assert!(t0.elapsed() < Duration::from_millis(500), "{:?}", t0.elapsed());
    assert_eq!(
        err.to_string(),
        "long.gz: holds more than the 40 data bytes its dimensions [10, 2, 2] declare (corrupt, or not an IDX file)"
    );
    // A raw file with trailing bytes is refused by its length, as before.
    let e = parse_idx(idx(&[2], &[1, 2, 3]), "raw").expect_err("long").to_string();
    assert!(e.contains("need 2 data bytes, file has 3"), "{e}");
}

fn mnist_dir(images: &[u8], labels: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for split in ["train", "t10k"] {
        std::fs::write(dir.path().join(format!("{split}-images-idx3-ubyte")), images).expect("writes");
        std::fs::write(dir.path().join(format!("{split}-labels-idx1-ubyte")), labels).expect("writes");
    }
    dir
}

#[test]
fn empty_images_and_empty_datasets_are_refused_at_load() {
    // Three images of 0x0 pixels (the panic in training), then no images at all.
    let dir = mnist_dir(&idx(&[3, 0, 0], &[]), &idx(&[3], &[1, 2, 3]));
    let err = data::load_mnist(dir.path(), Split::Train).expect_err("0x0 images");
    let msg = err.to_string();
    assert!(
        msg.ends_with("train-images-idx3-ubyte: images are 0x0 pixels: an image needs at least one pixel"),
        "{msg}"
    );
    let dir = mnist_dir(&idx(&[0, 28, 28], &[]), &idx(&[0], &[]));
    let msg = data::load_mnist(dir.path(), Split::Test).expect_err("no images").to_string();
    assert!(msg.ends_with("t10k-images-idx3-ubyte: holds no images"), "{msg}");
}

#[test]
fn dataset_files_that_are_not_regular_files_are_refused_by_name() {
    let dir = mnist_dir(&idx(&[1, 1, 1], &[0]), &idx(&[1], &[0]));
    let images = dir.path().join("train-images-idx3-ubyte");
    std::fs::remove_file(&images).expect("removes");
    mkfifo(&images);
    let d = dir.path().to_path_buf();
    let err = within(10, move || data::load_mnist(&d, Split::Train)).expect_err("a pipe");
    assert!(
        matches!(err, DataError::File(FileError::NotRegular { kind: FileKind::NamedPipe, .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("is a named pipe, not a regular file; give the path of a dataset file"),
        "{err}"
    );
    // A directory in place of the digits CSV.
    std::fs::create_dir(dir.path().join("digits.csv")).expect("mkdir");
    let err = data::load_digits(dir.path(), Split::Train).expect_err("a directory");
    assert!(err.to_string().contains("digits.csv is a directory, not a regular file"), "{err}");
}
