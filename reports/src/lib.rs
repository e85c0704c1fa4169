//! xnorflow's reports: what users read and run.
//!
//! [`build`] compiles a model into a build directory: the dataflow graph under a folding, the
//! Verilog and memory files, a self-checking testbench with golden-model vectors, the estimate
//! report (Markdown and JSON). [`builddir`] is the build directory itself: what is read back
//! from it is checked there once, results are stamped with the design they measured, and builds
//! are written atomically. Later: Yosys synthesis tables, plots and the design-space explorer.

pub mod build;
pub mod builddir;
pub mod confusion;
pub mod cosim;
pub mod explore;
pub mod plot;
pub mod reference;
pub mod report;
pub mod synth;
