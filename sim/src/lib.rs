//! xnorflow's executors of a network.
//!
//! - [`golden`]: the bit-packed golden model, the definition every other executor must match bit for bit.
//! - [`roofline`]: this CPU's XNOR + popcount peak on L1-resident data, the yardstick of the golden model.
//!
//! Later issues add the cycle-accurate model of a compiled dataflow graph (`sim::cycle`) and the
//! Verilator co-simulation (`sim::verilator`); see ARCHITECTURE.md.

pub mod cycle;
pub mod drive;
pub mod golden;
pub mod roofline;
pub mod stream;
pub mod verilator;
