//! Verilog emission: rust-hdl's generator behind xnorflow's own entry points.

use crate::HdlError;
use rust_hdl::prelude::*;

/// The Verilog of a block and everything under it, after rust-hdl's structural checks
/// (every input driven, no combinational loop rust-hdl can see).
pub fn verilog<B: Block>(block: &mut B) -> Result<String, HdlError> {
    block.connect_all();
    check_all(block).map_err(|e| HdlError::Check(format!("{e:?}")))?;
    Ok(generate_verilog_unchecked(block))
}
