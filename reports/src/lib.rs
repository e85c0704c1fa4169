//! xnorflow's reports: what users read and run.
//!
//! [`build`] compiles a model into a build directory: the dataflow graph under a folding, the
//! Verilog and memory files, a self-checking testbench with golden-model vectors, the estimate
//! report (Markdown and JSON). [`builddir`] is the build directory itself: what is read back
//! from it is checked there once, results are stamped with the design they measured, and builds
//! are written atomically; it owns every file name in a build and the typed results of the later
//! steps. [`cosim`] runs the cycle model alone or beside the golden model and Verilator;
//! [`synth`] runs Yosys (and nextpnr-ice40) and maps each pipeline stage to its module;
//! [`explore`] sweeps foldings; [`plot`] and [`confusion`] draw; [`report`] renders the typed
//! results into one HTML page and its Markdown twin; [`mod@reference`] holds BNN-PYNQ's LFC.

pub mod board;
pub mod build;
pub mod builddir;
pub mod confusion;
pub mod cosim;
pub mod explore;
pub mod plot;
pub mod reference;
pub mod report;
pub mod serial;
pub mod synth;
