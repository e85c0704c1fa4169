//! xnorflow's executors of a network.
//!
//! - [`golden`]: the bit-packed golden model, the definition every other executor must match bit for bit.
//! - [`roofline`]: this CPU's XNOR + popcount peak on L1-resident data, the yardstick of the golden model.
//!
//! - [`cycle`]: the cycle-accurate model of a compiled dataflow graph, running every block's one
//!   behavioural description (`blocks`), and the latency of a design.
//! - [`drive`]: the one driver of every executor (seeded gaps and backpressure, reset, watchdog).
//! - [`stream`]: frames as the accelerator's input words and the golden output words.
//! - [`verilator`]: the emitted Verilog verilated and loaded as an executor (the FFI lives here).

pub mod cycle;
pub mod drive;
pub mod golden;
pub mod roofline;
pub mod stream;
pub mod verilator;
