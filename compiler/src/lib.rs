//! The xnorflow compiler: everything that describes a network before it is hardware.
//!
//! - [`model`]: the model IR (what a binarized network computes), its verifier and text form.
//! - [`format`]: the model file (`.xnf`: JSON manifest + safetensors tensors).
//! - [`json`]: strict JSON (duplicate keys refused) for every file xnorflow reads back.
//! - [`data`]: the datasets models are trained and evaluated on (MNIST IDX, 8x8 digits CSV).
//!
//! - [`dataflow`]: the dataflow IR (what the hardware is), the folding search and the cost model.
//! - [`passes`]: the passes from a model to a legal dataflow graph (lower, width conversion, FIFO
//!   sizing, argmax, legalize) and the pipeline that orders them.

pub mod data;
pub mod dataflow;
pub mod format;
pub mod json;
pub mod model;
pub mod onnx;
pub mod passes;
