//! The model file (`.xnf`): a safetensors container whose metadata holds a JSON manifest.
//!
//! The manifest (metadata key `xnorflow`) carries the format name and version, the topology, per-layer
//! metadata and provenance. Tensors carry the numbers: `L<i>.weight` is `U8 [out, ceil(fan_in / 8)]`,
//! each row bit-packed least significant bit first (bit j of a row = weight j, 1 = +1), and
//! `L<i>.threshold` is `I32 [out]`. An input table (`quant.table`) is small enough to stay in the
//! manifest: its `values` are 256 integers, `values[pixel]`. Any safetensors reader can open the
//! file; this module refuses anything that is not exactly a valid model, with a message that names
//! the layer or tensor.
//!
//! [`load`] also reads the text form (what `Display` writes and [`Model::parse`] reads back, an
//! exact round trip), recognised by its first line, so that `model.txt` works wherever `model.xnf`
//! does. It reads only regular files within [`MAX_MODEL_FILE_BYTES`].

use crate::json::JsonError;
use crate::model::limits::{self, grouped, FileError, MAX_MODEL_FILE_BYTES};
use crate::model::{
    Activation, BinaryWeights, BitMatrix, Fixed8, InputTable, IntType, Layer, LayerId, Model, ModelError,
    MultiThreshold, OutputMode, Padding, ParseError, Provenance, Shape, Shortcut,
};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Value of the manifest's `format` field.
pub const FORMAT_NAME: &str = "xnorflow-model";
/// The newest manifest version this build writes and reads. Version 2 added multi-bit
/// activations (`act: multi`), version 3 residual blocks; a model is written with the oldest
/// version that holds it (a binary model is still version 1, byte for byte as before), so that
/// older builds keep reading every file they can, and refuse the rest by their version with a
/// clear message instead of a confusing field error.
pub const FORMAT_VERSION: u32 = 3;
/// The version that added multi-bit activations.
pub const MULTI_FORMAT_VERSION: u32 = 2;
/// The version that added residual blocks.
pub const RESIDUAL_FORMAT_VERSION: u32 = 3;
/// The oldest manifest version this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Metadata key of the manifest inside the safetensors header.
pub const MANIFEST_KEY: &str = "xnorflow";

/// Why a model file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (part of the message, not a separate source, so that it prints once).
        error: std::io::Error,
    },
    /// The file could not be read: missing, not a regular file, too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// The text form of a model that does not parse.
    #[error("text form of a model: {0}")]
    Text(ParseError),
    /// Not a readable safetensors container (truncated, bad header, overlapping tensors...).
    #[error("not a valid model file (safetensors container): {0}")]
    Container(String),
    /// The container has no xnorflow manifest.
    #[error("no '{MANIFEST_KEY}' manifest in the safetensors metadata: not an xnorflow model file")]
    MissingManifest,
    /// The manifest is not the JSON this version expects.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The manifest's version is not one this build reads.
    #[error(
        "model format version {found} is not supported (this build reads versions {MIN_FORMAT_VERSION} to \
         {FORMAT_VERSION}); a newer xnorflow wrote it, so upgrade xnorflow to read it"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u64,
    },
    /// A tensor is missing, of the wrong type or shape, or unreferenced.
    #[error("tensor '{tensor}': {message}")]
    Tensor {
        /// Tensor name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// The contents parse but do not form a valid model.
    #[error("invalid model: {0}")]
    Invalid(ModelError),
}

// By hand rather than `#[from]`, which would also make the wrapped error the `source`: error
// chains (anyhow's `{:#}`) would then print its text twice.
impl From<ModelError> for FormatError {
    fn from(e: ModelError) -> Self {
        FormatError::Invalid(e)
    }
}

impl From<ParseError> for FormatError {
    fn from(e: ParseError) -> Self {
        FormatError::Text(e)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    version: u32,
    name: String,
    input: Shape,
    output: OutputMode,
    #[serde(default)]
    provenance: Provenance,
    layers: Vec<LayerEntry>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum ActKind {
    Threshold,
    Multi,
    Scores,
}

/// The output type and bias of a multi-threshold activation; its thresholds are a tensor.
#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct MultiEntry {
    bits: u8,
    signed: bool,
    bias: i32,
    levels: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightEntry {
    out: usize,
    fan_in: usize,
    act: ActKind,
    weight: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multi: Option<MultiEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
enum LayerEntry {
    #[serde(rename = "quant.binary")]
    QuantBinary { id: LayerId, threshold: u8 },
    #[serde(rename = "quant.fixed8")]
    QuantFixed8 { id: LayerId, signed: bool, frac_bits: u8 },
    /// Checked by `InputTable::new` on reading.
    #[serde(rename = "quant.table")]
    QuantTable { id: LayerId, values: Vec<i32> },
    #[serde(rename = "dense")]
    Dense {
        id: LayerId,
        #[serde(flatten)]
        w: WeightEntry,
    },
    #[serde(rename = "conv2d")]
    Conv2d {
        id: LayerId,
        kernel: usize,
        stride: usize,
        padding: Padding,
        #[serde(flatten)]
        w: WeightEntry,
    },
    #[serde(rename = "maxpool")]
    MaxPool { id: LayerId, kernel: usize, stride: usize },
    /// Format version 3.
    #[serde(rename = "residual")]
    Residual {
        id: LayerId,
        kernel: usize,
        stride: usize,
        padding: Padding,
        shortcut: Shortcut,
        #[serde(flatten)]
        w: WeightEntry,
    },
}

impl LayerEntry {
    fn id(&self) -> LayerId {
        match self {
            LayerEntry::QuantBinary { id, .. }
            | LayerEntry::QuantFixed8 { id, .. }
            | LayerEntry::QuantTable { id, .. }
            | LayerEntry::Dense { id, .. }
            | LayerEntry::Conv2d { id, .. }
            | LayerEntry::MaxPool { id, .. }
            | LayerEntry::Residual { id, .. } => *id,
        }
    }
}

/// Serializes a model to the bytes of a model file. The model must verify.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>, FormatError> {
    model.verify()?;
    let mut tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = BTreeMap::new();
    let mut weight_entry = |id: LayerId, w: &BinaryWeights| {
        let weight = format!("{id}.weight");
        let shape = vec![w.out(), w.matrix.bytes_per_row()];
        tensors.insert(weight.clone(), (Dtype::U8, shape, w.matrix.to_bytes()));
        let mut thresholds = |t: &[i32], shape: Vec<usize>| {
            let name = format!("{id}.threshold");
            let bytes = t.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.insert(name.clone(), (Dtype::I32, shape, bytes));
            Some(name)
        };
        let (act, threshold, multi) = match &w.activation {
            Activation::Scores => (ActKind::Scores, None, None),
            Activation::Threshold(t) => (ActKind::Threshold, thresholds(t, vec![t.len()]), None),
            Activation::Multi(m) => {
                let entry =
                    MultiEntry { bits: m.ty.bits, signed: m.ty.signed, bias: m.bias, levels: m.levels };
                (ActKind::Multi, thresholds(&m.thresholds, vec![w.out(), m.levels]), Some(entry))
            }
        };
        WeightEntry { out: w.out(), fan_in: w.fan_in(), act, weight, threshold, multi }
    };
    let layers = model
        .iter()
        .map(|(id, layer)| match layer {
            Layer::QuantBinary { threshold } => LayerEntry::QuantBinary { id, threshold: *threshold },
            Layer::QuantFixed8(q) => LayerEntry::QuantFixed8 { id, signed: q.signed, frac_bits: q.frac_bits },
            Layer::QuantTable(t) => LayerEntry::QuantTable { id, values: t.values() },
            Layer::Dense(w) => LayerEntry::Dense { id, w: weight_entry(id, w) },
            Layer::Conv2d { kernel, stride, padding, weights } => LayerEntry::Conv2d {
                id,
                kernel: *kernel,
                stride: *stride,
                padding: *padding,
                w: weight_entry(id, weights),
            },
            Layer::MaxPool { kernel, stride } => LayerEntry::MaxPool { id, kernel: *kernel, stride: *stride },
            Layer::Residual { kernel, stride, padding, shortcut, weights } => LayerEntry::Residual {
                id,
                kernel: *kernel,
                stride: *stride,
                padding: *padding,
                shortcut: *shortcut,
                w: weight_entry(id, weights),
            },
        })
        .collect();
    // The oldest version that holds the model, so that older readers still read what they can.
    let multi_bit = model.layers.iter().any(|l| l.weights().is_some_and(|w| w.activation.multi().is_some()));
    let residual = model.layers.iter().any(|l| matches!(l, Layer::Residual { .. }));
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        version: if residual {
            RESIDUAL_FORMAT_VERSION
        } else if multi_bit {
            MULTI_FORMAT_VERSION
        } else {
            MIN_FORMAT_VERSION
        },
        name: model.name.clone(),
        input: model.input,
        output: model.output,
        provenance: model.provenance.clone(),
        layers,
    };
    let json = serde_json::to_string(&manifest).map_err(|e| FormatError::Manifest(e.to_string()))?;
    let meta = Some(HashMap::from([(MANIFEST_KEY.to_string(), json)]));
    let views = tensors
        .iter()
        .map(|(name, (dtype, shape, data))| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| FormatError::Container(format!("{e:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, &meta).map_err(|e| FormatError::Container(format!("{e:?}")))
}

/// Checks the safetensors header's tensor extents against the file size before the safetensors
/// crate sees them: its own checks add declared offsets unchecked, which overflows (and panics in
/// debug builds) on hostile headers.
fn precheck_container(bytes: &[u8]) -> Result<(), FormatError> {
    let bad = |m: &str| Err(FormatError::Container(m.to_string()));
    let Some(len) = bytes.get(..8) else { return bad("file shorter than the 8-byte header length") };
    let n = u64::from_le_bytes(len.try_into().unwrap_or([0; 8]));
    let data_len = match (bytes.len() as u64 - 8).checked_sub(n) {
        Some(d) => d,
        None => {
            return Err(FormatError::Container(format!(
                "the 8-byte header length ({}) exceeds the file ({} bytes): truncated, or not a model file",
                grouped(n),
                grouped(bytes.len() as u64)
            )))
        }
    };
    // Strict: two entries of one tensor name (or two manifests) would let readers disagree.
    let header: serde_json::Value = match crate::json::from_slice(&bytes[8..8 + n as usize]) {
        Ok(h) => h,
        Err(JsonError::Syntax(e)) => return Err(FormatError::Container(format!("header is not JSON: {e}"))),
        Err(dup) => return Err(FormatError::Container(format!("header: {dup}"))),
    };
    let Some(map) = header.as_object() else { return bad("header is not a JSON object") };
    for (name, t) in map.iter().filter(|(k, _)| *k != "__metadata__") {
        let offs: Option<Vec<Option<u64>>> =
            t.get("data_offsets").and_then(|o| o.as_array()).map(|o| o.iter().map(|v| v.as_u64()).collect());
        match offs.as_deref() {
            Some([Some(a), Some(b)]) if a <= b && *b <= data_len => {}
            _ => {
                return Err(FormatError::Container(format!(
                    "tensor '{name}' has data offsets outside the file's {data_len} data bytes (truncated?)"
                )))
            }
        }
    }
    Ok(())
}

/// First line of the text form, which no `.xnf` file can start with (its first 8 bytes are the
/// little-endian length of a JSON header, far smaller than these bytes read as a number).
const TEXT_MAGIC: &str = "xnorflow-model";

/// True if `bytes` look like the text form: UTF-8 whose first line that is neither blank nor a
/// comment starts with `xnorflow-model `.
pub fn is_text_form(bytes: &[u8]) -> bool {
    // Only the start is looked at, so that a large binary file is not validated as UTF-8 first.
    let head = &bytes[..bytes.len().min(4096)];
    let head = match std::str::from_utf8(head) {
        Ok(h) => h,
        Err(e) => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(h) => h,
            Err(_) => return false,
        },
    };
    head.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.strip_prefix(TEXT_MAGIC).is_some_and(|r| r.starts_with([' ', '\t'])))
}

/// Parses the bytes of a model file, the `.xnf` container or the text form (see [`is_text_form`]),
/// and verifies the model.
pub fn from_bytes(bytes: &[u8]) -> Result<Model, FormatError> {
    if is_text_form(bytes) {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            FormatError::Text(ParseError { line: 1, message: format!("the file is not UTF-8 text: {e}") })
        })?;
        let model = Model::parse(text)?;
        model.verify()?;
        return Ok(model);
    }
    precheck_container(bytes)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| FormatError::Container(format!("{e:?}")))?;
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| FormatError::Container(format!("{e:?}")))?;
    let json =
        meta.metadata().as_ref().and_then(|m| m.get(MANIFEST_KEY)).ok_or(FormatError::MissingManifest)?;

    // Name and version first, so that a newer file is refused as such rather than as malformed JSON.
    let head: serde_json::Value = crate::json::from_str(json).map_err(|e| match e {
        JsonError::Syntax(e) => FormatError::Manifest(format!("not JSON: {e}")),
        dup @ JsonError::DuplicateKey { .. } => FormatError::Manifest(dup.to_string()),
    })?;
    match head.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT_NAME) => {}
        other => {
            return Err(FormatError::Manifest(format!("format is {other:?}, expected \"{FORMAT_NAME}\"")));
        }
    }
    match head.get("version").and_then(|v| v.as_u64()) {
        Some(v) if (u64::from(MIN_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&v) => {}
        Some(found) => return Err(FormatError::UnsupportedVersion { found }),
        None => return Err(FormatError::Manifest("missing or non-integer 'version'".into())),
    }
    let manifest: Manifest =
        serde_json::from_value(head).map_err(|e| FormatError::Manifest(e.to_string()))?;

    let mut used = HashSet::new();
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (i, entry) in manifest.layers.into_iter().enumerate() {
        let id = LayerId(i as u32);
        if entry.id() != id {
            return Err(FormatError::Manifest(format!("layer {i} has id {}, expected {id}", entry.id())));
        }
        let layer = match entry {
            LayerEntry::QuantBinary { threshold, .. } => Layer::QuantBinary { threshold },
            LayerEntry::QuantFixed8 { signed, frac_bits, .. } => {
                Layer::QuantFixed8(Fixed8 { signed, frac_bits })
            }
            // A table out of range is an invalid layer, named as the verifier names layers.
            LayerEntry::QuantTable { values, .. } => {
                Layer::QuantTable(InputTable::new(values).map_err(|message| {
                    FormatError::Invalid(ModelError::Layer { layer: id, kind: "quant.table", message })
                })?)
            }
            LayerEntry::MaxPool { kernel, stride, .. } => Layer::MaxPool { kernel, stride },
            LayerEntry::Dense { w, .. } => Layer::Dense(read_weights(&st, &w, manifest.version, &mut used)?),
            LayerEntry::Conv2d { kernel, stride, padding, w, .. } => {
                let weights = read_weights(&st, &w, manifest.version, &mut used)?;
                Layer::Conv2d { kernel, stride, padding, weights }
            }
            LayerEntry::Residual { kernel, stride, padding, shortcut, w, .. } => {
                if manifest.version < RESIDUAL_FORMAT_VERSION {
                    return Err(FormatError::Manifest(format!(
                        "layer {id} is a residual block, which needs format version \
                         {RESIDUAL_FORMAT_VERSION}; the file says {}",
                        manifest.version
                    )));
                }
                let weights = read_weights(&st, &w, manifest.version, &mut used)?;
                Layer::Residual { kernel, stride, padding, shortcut, weights }
            }
        };
        layers.push(layer);
    }
    if let Some(extra) = st.names().into_iter().find(|n| !used.contains(n.as_str())) {
        return Err(FormatError::Tensor {
            tensor: extra.clone(),
            message: "not referenced by the manifest".into(),
        });
    }
    let model = Model {
        name: manifest.name,
        input: manifest.input,
        layers,
        output: manifest.output,
        provenance: manifest.provenance,
    };
    model.verify()?;
    Ok(model)
}

fn read_weights(
    st: &SafeTensors,
    w: &WeightEntry,
    version: u32,
    used: &mut HashSet<String>,
) -> Result<BinaryWeights, FormatError> {
    let terr = |tensor: &str, message: String| FormatError::Tensor { tensor: tensor.into(), message };
    let mut take = |name: &str, dtype: Dtype, shape: Vec<usize>| {
        if !used.insert(name.to_string()) {
            return Err(terr(name, "referenced by two layers".into()));
        }
        let t = st.tensor(name).map_err(|_| terr(name, "missing from the file".into()))?;
        if t.dtype() != dtype || t.shape() != shape.as_slice() {
            return Err(terr(
                name,
                format!("is {:?} {:?}, expected {dtype:?} {shape:?}", t.dtype(), t.shape()),
            ));
        }
        Ok(t.data())
    };
    let bpr = w.fan_in.div_ceil(8);
    // Refuse impossible sizes before touching data: a zero-width tensor holds no bytes, so a tiny
    // file could otherwise declare billions of rows.
    if w.out == 0 || w.fan_in == 0 {
        return Err(terr(&w.weight, format!("{}x{} weight matrix is empty", w.out, w.fan_in)));
    }
    if !BitMatrix::fits(w.out, w.fan_in) {
        return Err(terr(&w.weight, format!("{}x{} weight matrix is too large", w.out, w.fan_in)));
    }
    let data = take(&w.weight, Dtype::U8, vec![w.out, bpr])?;
    let matrix = BitMatrix::from_bytes(w.out, w.fan_in, data)
        .ok_or_else(|| terr(&w.weight, format!("padding bits beyond column {} are set", w.fan_in)))?;
    let ints = |data: &[u8]| -> Vec<i32> {
        data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    if (w.act == ActKind::Multi) != w.multi.is_some() {
        return Err(terr(
            &w.weight,
            "act multi and the 'multi' entry (bits, signed, bias, levels) go together".into(),
        ));
    }
    if w.act == ActKind::Multi && version < MULTI_FORMAT_VERSION {
        return Err(FormatError::Manifest(format!(
            "act multi (a multi-bit activation) needs format version {MULTI_FORMAT_VERSION}, the file says {version}"
        )));
    }
    let activation = match (w.act, &w.threshold, w.multi) {
        (ActKind::Scores, None, _) => Activation::Scores,
        (ActKind::Threshold, Some(name), _) => {
            Activation::Threshold(ints(take(name, Dtype::I32, vec![w.out])?))
        }
        (ActKind::Multi, Some(name), Some(m)) => {
            // Bound the levels before the tensor's size is computed from them.
            if m.levels == 0 || m.levels > 255 {
                return Err(terr(name, format!("levels {} is not in 1..=255", m.levels)));
            }
            let thresholds = ints(take(name, Dtype::I32, vec![w.out, m.levels])?);
            let ty = IntType { bits: m.bits, signed: m.signed };
            Activation::Multi(MultiThreshold { ty, bias: m.bias, levels: m.levels, thresholds })
        }
        (ActKind::Scores, Some(_), _) => {
            return Err(terr(&w.weight, "act is scores but a threshold tensor is given".into()));
        }
        (act @ (ActKind::Threshold | ActKind::Multi), None, _) => {
            let act = if act == ActKind::Multi { "multi" } else { "threshold" };
            return Err(terr(&w.weight, format!("act is {act} but no threshold tensor is given")));
        }
        (ActKind::Multi, Some(_), None) => unreachable!("checked above"),
    };
    Ok(BinaryWeights { matrix, activation })
}

/// `path` with `.tmp` appended to its file name: beside it (so the rename stays on one file
/// system) and distinct for every target name.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, renamed into place. On any
/// failure the temporary file is removed, and `path` is untouched. A directory is refused.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory; give a file path inside it",
        ));
    }
    let tmp = temp_path(path);
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        // Best effort: the write's own error is the one to report.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a model file (atomically, see [`write_atomic`]).
pub fn save(model: &Model, path: &Path) -> Result<(), FormatError> {
    let bytes = to_bytes(model)?;
    write_atomic(path, &bytes).map_err(|error| FormatError::Io { path: path.to_path_buf(), error })
}

/// Reads and verifies a model file (`.xnf` or the text form). Only a regular file of at most
/// [`MAX_MODEL_FILE_BYTES`] is read: a device or a named pipe would never end or block forever.
pub fn load(path: &Path) -> Result<Model, FormatError> {
    let bytes = limits::read_file(path, MAX_MODEL_FILE_BYTES, "model file")?;
    from_bytes(&bytes)
}
