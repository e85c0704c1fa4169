//! xnorflow's hardware library: streaming blocks written with rust-hdl 0.46.
//!
//! Every block is a rust-hdl `LogicBlock` with ready/valid stream ports, simulated in Rust. Widths
//! are chosen at run time (from a model file and a folding), so the rust-hdl buses are `Vec`s of
//! one-bit signals ([`bus`]); composite blocks ([`mvtu::Mvtu`]) are trees of leaves. The Verilog
//! is a second description of the same blocks, printed from their configurations through a typed
//! builder with packed buses ([`rtl`]); a whole design's Verilog and memory files come from the
//! dataflow graph and the model ([`rtl::accel::design`]) without building the rust-hdl blocks,
//! which the tests keep as the oracle the Verilog must match cycle for cycle. The rest of
//! xnorflow sees this crate's own types ([`mvtu::MvtuConfig`], [`rtl::Design`]), never
//! rust-hdl's. [`formal`] proves every stream block's AXI4-Stream handshakes, token conservation
//! and bounded progress with Yosys and z3.

pub mod accel;
pub mod accumulator;
pub mod bus;
pub mod formal;
pub mod harness;
pub mod lanes;
pub mod leaf;
pub mod memory;
pub mod mvtu;
pub mod pool;
pub mod residual;
pub mod rtl;
pub mod stream;
pub mod swu;
pub mod synth;
pub mod testbench;
pub mod words;

pub use lanes::{LaneInput, Popcount};
pub use memory::MemStyle;
pub use mvtu::{Mvtu, MvtuConfig, MvtuOutput};
pub use pool::{Pool, PoolConfig};
pub use swu::{Swu, SwuConfig};

/// What can go wrong when building hardware.
#[derive(Debug, thiserror::Error)]
pub enum HdlError {
    /// An illegal folding or shape.
    #[error("layer {layer}: {message}")]
    Folding {
        /// The layer's name.
        layer: String,
        /// What is wrong and the legal values.
        message: String,
    },
    /// An illegal folding or graph, found by the dataflow IR.
    #[error(transparent)]
    Dataflow(#[from] compiler::dataflow::DataflowError),
    /// A block failed rust-hdl's structural checks.
    #[error("rust-hdl check failed: {0}")]
    Check(String),
    /// A module or file name that cannot be pasted into Verilog or a tool script.
    #[error(transparent)]
    Name(#[from] compiler::dataflow::ident::IdentError),
    /// An external tool (Icarus, Verilator, Yosys) is missing or failed.
    #[error("{0}")]
    Tool(String),
    /// An external tool run through the one runner is missing, failed or ran out of time (the
    /// error names the tool, its command line and its log).
    #[error(transparent)]
    Run(#[from] tools::ToolError),
    /// Writing files.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}
