//! The xnorflow compiler: everything that describes a network before it is hardware.
//!
//! - [`model`]: the model IR (what a binarized network computes), its verifier and text form.
//! - [`format`]: the model file (`.xnf`: JSON manifest + safetensors tensors).
//! - [`data`]: the datasets models are trained and evaluated on (MNIST IDX, 8x8 digits CSV).
//!
//! Later stages add here the dataflow IR (`compiler::dataflow`), the passes that lower a model to it
//! (streamlining, folding, FIFO sizing) and the cost models; see ARCHITECTURE.md.

pub mod data;
pub mod format;
pub mod model;
