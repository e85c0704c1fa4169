//! The build directory: what `compile` writes and `sim`, `cosim`, `synth` and `report` read back.
//!
//! A build directory is handed around and edited like any folder, so everything read from it is
//! checked here, once:
//! - `build.json` ([`BuildInfo`]) is strict JSON with a format version, a checked top-module name
//!   ([`VerilogIdent`]: it is pasted into Verilog, a Makefile and Yosys scripts), a checked clock,
//!   and the SHA-256 of every file `compile` wrote. [`BuildDir::open`] refuses a `model.xnf` or
//!   `graph.json` that is not the one compiled (a model and a graph that do not belong together),
//!   and notes a hand-edited `design.v` or memory file.
//! - Every file name of a build directory is a constant (or, for synthesis, [`synth_file`]) here.
//! - Every result file (`sim.json`, `cosim.json`, `synth-*.json`) is a typed [`StepResult`]
//!   stamped with the [`BuildDir::design_hash`] of the design it measured ([`BuildDir::save`]);
//!   `report` reads them back as their types and ignores, and names, a result whose stamp is not
//!   the design's now ([`BuildDir::load`]).
//! - Files are read through [`read_file`]: regular files only (no pipe blocks, no `/dev/zero`
//!   fills memory) up to a size limit.
//! - `compile` writes into a fresh temporary directory beside the target and renames it into place
//!   ([`BuildWriter`]), so an interrupted compile leaves the old build whole, and it refuses to
//!   replace a non-empty directory that is not an xnorflow build.

use compiler::dataflow::{fold, Graph, VerilogIdent};
use compiler::model::Model;
use hdl::synth::Target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The version of the build-directory layout `compile` writes; `open` refuses others.
pub const BUILD_FORMAT: u32 = 2;

/// The build's metadata file.
pub const BUILD_JSON: &str = "build.json";
/// The model the build was compiled from.
pub const MODEL_FILE: &str = "model.xnf";
/// The dataflow graph (serde form).
pub const GRAPH_JSON: &str = "graph.json";
/// The Verilog of the design.
pub const DESIGN_V: &str = "design.v";
/// The folding the build was compiled under (`compile --folding` reads this form).
pub const FOLDING_JSON: &str = "folding.json";
/// The dataflow graph as text.
pub const GRAPH_TXT: &str = "graph.txt";
/// `make sim` (Icarus) and `make lint` (Verilator) of the build.
pub const MAKEFILE: &str = "Makefile";
/// `compile`'s estimate report ([`crate::build::Report`]).
pub const REPORT_JSON: &str = "report.json";
/// `compile`'s estimate report in Markdown, which `report` replaces with the whole report's
/// Markdown twin.
pub const REPORT_MD: &str = "report.md";
/// `report`'s page.
pub const REPORT_HTML: &str = "report.html";
/// `sim`'s result ([`crate::cosim::SimReport`]).
pub const SIM_JSON: &str = "sim.json";
/// `cosim`'s result ([`crate::cosim::CosimReport`]).
pub const COSIM_JSON: &str = "cosim.json";
/// Verilator's work directory (its objects and the verilated libraries, by design hash).
pub const VERILATOR_DIR: &str = "verilator";
/// The flattened iCE40 netlist `synth --arch ice40` hands to nextpnr.
pub const ICE40_NETLIST_JSON: &str = "design-ice40.json";
/// nextpnr-ice40's log.
pub const NEXTPNR_LOG: &str = "nextpnr-ice40.log";

/// `synth`'s files for `target`: `synth-xc7.json` ([`crate::synth::SynthResult`]), `.csv`, `.md`.
pub fn synth_file(target: Target, ext: &str) -> String {
    format!("synth-{}.{ext}", target_name(target))
}

/// Where `synth` synthesizes each stage's module alone for `target` (`synth-ice40-nodes`), one
/// directory per module ([`hdl::synth::yosys_alone`]).
pub fn synth_nodes_dir(target: Target) -> String {
    format!("synth-{}-nodes", target_name(target))
}

fn target_name(target: Target) -> &'static str {
    match target {
        Target::Xc7 => "xc7",
        Target::Ice40 => "ice40",
    }
}

/// The largest file read back from a build directory (the Verilog of a fully parallel LFC is
/// tens of megabytes).
pub const MAX_BUILD_FILE_BYTES: u64 = 1 << 30;

/// Why a build directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BuildDirError {
    /// A file is missing, unreadable, not a regular file, or too large.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the OS's reason where there is one).
        message: String,
    },
    /// A file's content is wrong.
    #[error("{}: {message}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The directory cannot be written or replaced.
    #[error("{}: {message}", path.display())]
    Target {
        /// The directory.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

fn file_err(path: &Path, message: impl Into<String>) -> BuildDirError {
    BuildDirError::File { path: path.to_path_buf(), message: message.into() }
}

fn content_err(path: &Path, message: impl Into<String>) -> BuildDirError {
    BuildDirError::Content { path: path.to_path_buf(), message: message.into() }
}

/// Reads a regular file of at most `limit` bytes through the one guarded reader
/// ([`compiler::model::limits::read_file`]: pipes, devices and directories are refused before
/// they are read).
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, BuildDirError> {
    compiler::model::limits::read_file(path, limit, "build file").map_err(|e| file_err(path, e.reason()))
}

/// [`read_file`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, BuildDirError> {
    String::from_utf8(read_file(path, limit)?).map_err(|e| content_err(path, format!("not UTF-8 text: {e}")))
}

/// The SHA-256 of `bytes` in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_fclk<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let f = f64::deserialize(d)?;
    fold::check_fclk_mhz(f).map_err(serde::de::Error::custom)
}

/// `build.json`: what `sim`, `cosim`, `synth` and `report` need besides the model and the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildInfo {
    /// [`BUILD_FORMAT`].
    pub format: u32,
    /// Verilog top module.
    pub top: VerilogIdent,
    /// Clock for frames/s figures, MHz (checked: finite, positive, at most
    /// [`fold::MAX_FCLK_MHZ`]).
    #[serde(deserialize_with = "check_fclk")]
    pub fclk_mhz: f64,
    /// SHA-256 (hex) of every file `compile` wrote, by file name.
    pub files: BTreeMap<String, String>,
}

impl BuildInfo {
    /// Parses `build.json`'s text.
    pub fn parse(text: &str) -> Result<Self, String> {
        // The format first, so that an older build gets "recompile" rather than a missing field.
        let v: serde_json::Value = compiler::json::from_str(text).map_err(|e| e.to_string())?;
        match v.get("format").and_then(serde_json::Value::as_u64) {
            Some(f) if f == u64::from(BUILD_FORMAT) => {}
            Some(f) => {
                return Err(format!(
                    "build format {f}, this xnorflow reads format {BUILD_FORMAT}; run `xnorflow compile` again"
                ))
            }
            None => {
                return Err(format!(
                    "no build format: written by an older xnorflow (this one reads format {BUILD_FORMAT}); run `xnorflow compile` again"
                ))
            }
        }
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
}

/// Whether a file of a build belongs to the design proper (changes what it computes): the model,
/// the graph, the Verilog and its weight/threshold memories (not the testbench's vectors).
fn is_design_file(name: &str) -> bool {
    matches!(name, MODEL_FILE | GRAPH_JSON | DESIGN_V) || (name.ends_with(".mem") && !name.starts_with("tb_"))
}

/// A build directory, loaded and checked.
pub struct BuildDir {
    /// The directory.
    pub dir: PathBuf,
    /// The model (`model.xnf`).
    pub model: Model,
    /// The dataflow graph (`graph.json`).
    pub graph: Graph,
    /// Top module, clock and file hashes (`build.json`).
    pub info: BuildInfo,
    /// The SHA-256 of the design as it is now: its model, graph, Verilog and memory files, top and
    /// clock. Results are stamped with it.
    pub design_hash: String,
    /// Design files whose content differs from what `compile` wrote (edited by hand).
    pub modified: Vec<String>,
}

impl BuildDir {
    /// Loads and checks `dir`.
    pub fn open(dir: &Path) -> Result<Self, BuildDirError> {
        let meta = std::fs::metadata(dir).map_err(|e| file_err(dir, e.to_string()))?;
        if !meta.is_dir() {
            return Err(file_err(dir, "not a directory (give the directory `xnorflow compile -o` wrote)"));
        }
        let bj = dir.join(BUILD_JSON);
        let text = read_text(&bj, 1 << 20).map_err(|e| match e {
            BuildDirError::File { path, message } => BuildDirError::File {
                path,
                message: format!("{message} (is this a directory written by `xnorflow compile`?)"),
            },
            e => e,
        })?;
        let info = BuildInfo::parse(&text).map_err(|m| content_err(&bj, m))?;
        let mut design = Sha256::new();
        let mut modified = Vec::new();
        let mut blobs = BTreeMap::new();
        for (name, want) in &info.files {
            if !is_design_file(name) {
                continue;
            }
            if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                return Err(content_err(&bj, format!("file name {name:?} is not a plain file name")));
            }
            let path = dir.join(name);
            let bytes = read_file(&path, MAX_BUILD_FILE_BYTES)?;
            let got = sha256_hex(&bytes);
            if &got != want {
                if name == MODEL_FILE || name == GRAPH_JSON {
                    return Err(content_err(
                        &path,
                        "not the file `xnorflow compile` wrote into this build (its SHA-256 differs from build.json's): \
                         the model and the graph would not belong together; run `xnorflow compile` again",
                    ));
                }
                modified.push(name.clone());
            }
            design.update(format!("{name}\0{got}\n").as_bytes());
            if name == MODEL_FILE || name == GRAPH_JSON {
                blobs.insert(name.clone(), bytes);
            }
        }
        design.update(format!("top\0{}\nfclk\0{}\n", info.top, info.fclk_mhz).as_bytes());
        let (Some(graph_bytes), Some(model_bytes)) = (blobs.get(GRAPH_JSON), blobs.get(MODEL_FILE)) else {
            return Err(content_err(
                &bj,
                format!("lists no {GRAPH_JSON} or no {MODEL_FILE}; run `xnorflow compile` again"),
            ));
        };
        let gpath = dir.join(GRAPH_JSON);
        let graph: Graph =
            compiler::json::from_slice(graph_bytes).map_err(|e| content_err(&gpath, e.to_string()))?;
        graph.verify().map_err(|e| content_err(&gpath, e.to_string()))?;
        let mpath = dir.join(MODEL_FILE);
        let model =
            compiler::format::from_bytes(model_bytes).map_err(|e| content_err(&mpath, e.to_string()))?;
        let design_hash = hex(&design.finalize());
        Ok(BuildDir { dir: dir.to_path_buf(), model, graph, info, design_hash, modified })
    }

    /// A note for the console when design files were edited after `compile`.
    pub fn modified_note(&self) -> Option<String> {
        (!self.modified.is_empty()).then(|| {
            format!(
                "note: {} changed since `xnorflow compile` wrote this build; results are stamped with the design as it is now",
                self.modified.join(", ")
            )
        })
    }
}

/// A step's result that lives in the build directory as JSON, stamped with the design it
/// measured: `sim`'s, `cosim`'s, `synth`'s per target.
pub trait StepResult: Serialize + DeserializeOwned {
    /// What tells results of this type apart (the synthesis target); `()` for a single file.
    type Key;
    /// The file of the result for `key`.
    fn file_name(key: &Self::Key) -> String;
    /// This result's key.
    fn key(&self) -> Self::Key;
}

/// A result file read back for the report.
pub enum Loaded<T> {
    /// Not there.
    Missing,
    /// It measured this design.
    Current(T),
    /// It is unreadable, unstamped, or measured another design; the reason.
    Stale(String),
}

/// The key each result file carries besides its result.
const STAMP: &str = "design_hash";

impl BuildDir {
    /// Writes a step's result into the build directory (its [`StepResult::file_name`]), stamped
    /// with the design it measured.
    pub fn save<T: StepResult>(&self, value: &T) -> Result<PathBuf, BuildDirError> {
        let path = self.dir.join(T::file_name(&value.key()));
        let mut v = serde_json::to_value(value).map_err(|e| content_err(&path, e.to_string()))?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert(STAMP.into(), serde_json::Value::String(self.design_hash.clone()));
        }
        let text = serde_json::to_string_pretty(&v).map_err(|e| content_err(&path, e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| file_err(&path, e.to_string()))?;
        Ok(path)
    }

    /// Reads the result for `key` (strict JSON, then its type) and checks its stamp against the
    /// design as it is now.
    pub fn load<T: StepResult>(&self, key: &T::Key) -> Loaded<T> {
        let name = T::file_name(key);
        let path = self.dir.join(&name);
        if !path.exists() {
            return Loaded::Missing;
        }
        let v: serde_json::Value = match read_text(&path, 1 << 28)
            .map_err(|e| e.to_string())
            .and_then(|t| compiler::json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => return Loaded::Stale(format!("{name} is unreadable ({e})")),
        };
        let mut v = match v {
            serde_json::Value::Object(m) => m,
            _ => return Loaded::Stale(format!("{name} is unreadable (not a JSON object)")),
        };
        match v.remove(STAMP) {
            Some(serde_json::Value::String(h)) if h == self.design_hash => {}
            Some(_) => {
                return Loaded::Stale(format!(
                "{name} measured another design (the build was recompiled or edited since), so it is ignored"
            ))
            }
            None => {
                return Loaded::Stale(format!(
                    "{name} carries no design stamp (older xnorflow), so it is ignored"
                ))
            }
        }
        match serde_json::from_value(serde_json::Value::Object(v)) {
            Ok(r) => Loaded::Current(r),
            Err(e) => Loaded::Stale(format!("{name} is unreadable ({e})")),
        }
    }
}

/// Writes a build directory atomically: files go into a fresh temporary directory beside the
/// target, which [`BuildWriter::finish`] renames into place.
pub struct BuildWriter {
    target: PathBuf,
    tmp: PathBuf,
    done: bool,
}

/// Whether `dir` holds an xnorflow build (any format): a `build.json` with a `top`.
fn is_build(dir: &Path) -> bool {
    read_text(&dir.join(BUILD_JSON), 1 << 20)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("top").is_some())
}

impl BuildWriter {
    /// Checks that `target` may be written (missing, an empty directory, or an xnorflow build)
    /// and creates the temporary directory.
    pub fn new(target: &Path) -> Result<Self, BuildDirError> {
        let terr = |m: String| BuildDirError::Target { path: target.to_path_buf(), message: m };
        if target.as_os_str().is_empty() {
            return Err(terr("empty path".into()));
        }
        match std::fs::symlink_metadata(target) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(terr("is a symbolic link; give the directory itself".into()))
            }
            Ok(m) if !m.is_dir() => return Err(terr("exists and is not a directory".into())),
            Ok(_) => {
                let cwd = std::env::current_dir().ok().and_then(|c| c.canonicalize().ok());
                let canon = target.canonicalize().map_err(|e| terr(e.to_string()))?;
                if cwd.as_ref().is_some_and(|c| c.starts_with(&canon)) {
                    return Err(terr(
                        "is the current directory or contains it; a build replaces its directory, give a new one (e.g. -o build)"
                            .into(),
                    ));
                }
                let empty = std::fs::read_dir(target).map_err(|e| terr(e.to_string()))?.next().is_none();
                if !empty && !is_build(target) {
                    return Err(terr(
                        "exists, is not empty and is not an xnorflow build (no build.json); refusing to replace it: \
                         give a new or empty directory"
                            .into(),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(terr(e.to_string())),
        }
        let name = target.file_name().ok_or_else(|| terr("has no directory name".into()))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(terr(format!("its parent {} is not a directory", parent.display())));
        }
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let tmp =
            parent.join(format!(".{}.xnorflow-tmp-{}-{nanos}", name.to_string_lossy(), std::process::id()));
        std::fs::create_dir(&tmp).map_err(|e| terr(format!("cannot create {}: {e}", tmp.display())))?;
        Ok(BuildWriter { target: target.to_path_buf(), tmp, done: false })
    }

    /// Where to write the files.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Hashes every file written, writes `build.json`, and puts the directory in place of the
    /// target (the old build is removed only once the new one is complete).
    pub fn finish(mut self, top: &VerilogIdent, fclk_mhz: f64) -> Result<BuildInfo, BuildDirError> {
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(&self.tmp).map_err(|e| file_err(&self.tmp, e.to_string()))? {
            let e = e.map_err(|e| file_err(&self.tmp, e.to_string()))?;
            let path = e.path();
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| file_err(&path, e.to_string()))?;
            files.insert(e.file_name().to_string_lossy().to_string(), sha256_hex(&bytes));
        }
        let info = BuildInfo { format: BUILD_FORMAT, top: top.clone(), fclk_mhz, files };
        let bj = self.tmp.join(BUILD_JSON);
        let text = serde_json::to_string_pretty(&info).map_err(|e| content_err(&bj, e.to_string()))?;
        std::fs::write(&bj, text).map_err(|e| file_err(&bj, e.to_string()))?;
        let terr = |m: String| BuildDirError::Target { path: self.target.clone(), message: m };
        if self.target.exists() {
            let old = self.tmp.with_file_name(
                self.tmp.file_name().map_or("old".into(), |n| n.to_string_lossy().replace("-tmp-", "-old-")),
            );
            std::fs::rename(&self.target, &old)
                .map_err(|e| terr(format!("cannot move the old build aside: {e}")))?;
            if let Err(e) = std::fs::rename(&self.tmp, &self.target) {
                let _ = std::fs::rename(&old, &self.target);
                return Err(terr(format!("cannot put the new build in place: {e}")));
            }
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&self.tmp, &self.target)
                .map_err(|e| terr(format!("cannot put the build in place: {e}")))?;
        }
        self.done = true;
        Ok(info)
    }
}

impl Drop for BuildWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// The most frames one run holds in memory (testbench vectors, `cosim`).
pub const MAX_FRAMES: usize = 1_000_000;
/// The most frames `sim` streams through the cycle model (it holds a chunk at a time; the bound
/// is on time, about a day of a large design).
pub const MAX_SIM_FRAMES: usize = 100_000_000;
/// The most bytes of frames and expected words one run may hold.
pub const MAX_VECTOR_BYTES: u64 = 1 << 30;

/// Checks that `images` holds one frame of `frame_len` pixels per label (`input` names the
/// model's input shape in the message); returns the number of frames.
pub fn check_labelled(
    images: &[u8],
    labels: &[u8],
    frame_len: usize,
    input: &dyn std::fmt::Display,
) -> Result<usize, String> {
    if frame_len == 0 || images.len() != labels.len() * frame_len {
        return Err(format!(
            "{} pixels for {} labels: the model takes frames of {frame_len} pixels ({input})",
            images.len(),
            labels.len()
        ));
    }
    Ok(labels.len())
}

/// Checks that `frames` frames of `graph` fit the limits before anything is allocated; `what`
/// names the option in the message.
pub fn check_frames(graph: &Graph, frames: usize, what: &str) -> Result<(), String> {
    if frames == 0 {
        return Err(format!("{what} must be at least 1"));
    }
    let (first, last) = match (graph.nodes.first(), graph.nodes.last()) {
        (Some(a), Some(z)) => (a, z),
        _ => return Err("the graph has no nodes".into()),
    };
    // Per word: a Vec (24 bytes) and its u64s.
    let word = |bits: usize| 24 + 8 * compiler::dataflow::words(bits) as u64;
    let per_frame = first.in_words as u64 * word(first.in_bits) + last.out_words as u64 * word(last.out_bits);
    let bytes = (frames as u64).saturating_mul(per_frame);
    if frames > MAX_FRAMES || bytes > MAX_VECTOR_BYTES {
        let most = (MAX_VECTOR_BYTES / per_frame.max(1)).min(MAX_FRAMES as u64);
        return Err(format!(
            "{what} {frames} is more than this design can hold in memory: at most {most} frames ({per_frame} bytes of stream words each, {} MiB in all)",
            MAX_VECTOR_BYTES >> 20
        ));
    }
    Ok(())
}

/// Checks a file a command is asked to write (`--vcd`, `--json`) before the run: its directory
/// exists, it is not a directory or another special file, and it is none of the build's own
/// files (a VCD written over `design.v` would destroy the design). Creates it, so that a path
/// that cannot be written fails now rather than after the run.
pub fn check_output_file(b: &BuildDir, path: &Path) -> Result<(), BuildDirError> {
    let terr = |m: String| BuildDirError::Target { path: path.to_path_buf(), message: m };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent =
        parent.canonicalize().map_err(|e| terr(format!("its directory {}: {e}", parent.display())))?;
    let name = path.file_name().ok_or_else(|| terr("names no file".into()))?;
    if let Ok(m) = std::fs::metadata(path) {
        if !m.is_file() {
            return Err(terr("exists and is not a regular file".into()));
        }
    }
    if let Ok(dir) = b.dir.canonicalize() {
        let own =
            parent == dir && (b.info.files.contains_key(&*name.to_string_lossy()) || name == BUILD_JSON);
        if own {
            return Err(terr("is one of the build's own files; write it elsewhere (e.g. waves.vcd)".into()));
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| terr(format!("cannot be written: {e}")))?;
    Ok(())
}
