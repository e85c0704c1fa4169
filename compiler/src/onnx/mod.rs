//! ONNX in and out: QONNX (Brevitas) and FINN-ONNX models imported exactly into the model IR, and
//! model IR exported as QONNX.
//!
//! The reader is prost over the official `onnx.proto`, vendored in `compiler/proto/` and turned
//! into Rust once by `scripts/onnx-proto-gen` (pure Rust: protox, no `protoc`), so the build needs
//! no code generator. Before prost decodes a file, [`wire::check`] walks it to bound what decoding
//! allocates.

pub mod export;
pub mod graph;
pub mod import;
pub mod interp;
#[allow(missing_docs, clippy::all, unused_qualifications)]
#[rustfmt::skip]
pub mod proto;
#[rustfmt::skip]
mod proto_schema;
pub mod wire;

pub use graph::Graph;
pub use import::{import, ImportOptions, Imported, InputScale};

/// Why an ONNX file cannot be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    /// The protobuf is malformed or too large.
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    /// The file is readable but not a model xnorflow can import.
    #[error("{0}")]
    Invalid(String),
    /// A node outside the supported subset or with unsupported attributes.
    #[error("{node}: {message}")]
    Node {
        /// `node "name" (Op in domain d)`.
        node: String,
        /// What is wrong and what is supported.
        message: String,
    },
}
