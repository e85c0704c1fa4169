//! The max-pool unit: the maximum over `K x K` windows with stride `K` (an OR over bits).
//!
//! Its behaviour, register for register, is [`blocks::Pool`] (which the cycle model runs too);
//! this leaf runs it in rust-hdl's simulator.

use crate::bus::{self, Bus};
use crate::HdlError;
pub use compiler::dataflow::PoolConfig;
use rust_hdl::prelude::*;

/// A max-pool unit: frames of `H x W` pixels of `C` channels arrive as `CF = C/SIMD` words of
/// `SIMD` elements per pixel; per output pixel (row-major, `OH = H/K` by `OW = W/K`) it emits `CF`
/// words, each element the maximum of its `K x K` window's elements of that channel (the OR of
/// bits, the largest `k`-bit integer). Trailing rows and columns outside every window are consumed
/// and dropped.
///
/// Registers and schedule: [`blocks::Pool`]. The Verilog names the buffer `rowbuf` (`buf` is a
/// Verilog keyword).
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words of `SIMD` elements. `m_ready`: the consumer accepts.
///
/// ### Outputs
/// - `s_ready` (the output register advances); `m_data`/`m_valid`: pooled words.
#[derive(LogicBlock)]
pub struct Pool {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub rst: Signal<In, Bit>,
    /// Input word.
    pub s_data: Bus<In>,
    /// Input valid.
    pub s_valid: Signal<In, Bit>,
    /// Input ready.
    pub s_ready: Signal<Out, Bit>,
    /// Output word.
    pub m_data: Bus<Out>,
    /// Output valid.
    pub m_valid: Signal<Out, Bit>,
    /// Output ready.
    pub m_ready: Signal<In, Bit>,
    _cfg: PoolConfig,
    _u: blocks::Pool,
}

impl Pool {
    /// The unit for `cfg` (checked with [`PoolConfig::validate`]).
    pub fn new(cfg: &PoolConfig) -> Result<Self, HdlError> {
        cfg.validate()?;
        Ok(Pool {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(cfg.bits()),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(cfg.bits()),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _cfg: cfg.clone(),
            _u: blocks::Pool::new(cfg),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self._cfg
    }
}

crate::unit_leaf!(Pool);
