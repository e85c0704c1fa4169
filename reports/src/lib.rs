//! xnorflow's reports: what users read and run.
//!
//! [`build`] compiles a model into a build directory: the dataflow graph under a folding, the
//! Verilog and memory files, a self-checking testbench with golden-model vectors, the estimate
//! report (Markdown and JSON). Later: Yosys synthesis tables, plots and the design-space explorer.

pub mod build;
pub mod cosim;
pub mod explore;
pub mod plot;
pub mod reference;
pub mod report;
pub mod synth;
