//! xnorflow's reports (not built yet).
//!
//! This crate will own what users read: Yosys synthesis runs and their parsed statistics, estimates
//! against synthesis, CSV and JSON tables, plots (plotters) and the design-space explorer. It will
//! depend on `compiler`, `sim` and `hdl`.
