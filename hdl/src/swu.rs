//! The sliding-window unit: im2col on a stream of pixels, for a convolution's MVTU.
//!
//! Input rows go into a ring of `R = ring_rows()` rows of `W * CF` words, a FIFO of whole rows
//! across frames; for every output pixel the unit reads the `K x K` window's words (kernel row,
//! kernel column, channel word fastest) from the ring, or emits the pad word for a position
//! outside the frame. Its behaviour, register for register, is [`blocks::Swu`] (which the cycle
//! model runs too); this leaf runs it in rust-hdl's simulator.

use crate::bus::{self, Bus};
use crate::HdlError;
pub use compiler::dataflow::SwuConfig;
use rust_hdl::prelude::*;

/// A sliding-window unit: frames of `H x W` pixels of `C` elements (`elem_bits` each) arrive as
/// `CF = C/SIMD` words per pixel, channel fastest; per output pixel `(oy, ox)` in row-major order
/// it emits the `K x K` window's words in the order kernel row, kernel column, channel word
/// (fastest), pad words (all `pad_bit`) outside the frame.
///
/// Registers and schedule: [`blocks::Swu`]; the Verilog keeps `lo + H + R` (never negative).
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words of SIMD elements. `m_ready`: the consumer accepts.
///
/// ### Outputs
/// - `s_ready` (a ring slot is free); `m_data`/`m_valid`: the window words.
#[derive(LogicBlock)]
pub struct Swu {
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
    _cfg: SwuConfig,
    _u: blocks::Swu,
}

impl Swu {
    /// The unit for `cfg` (checked with [`SwuConfig::validate`]).
    pub fn new(cfg: &SwuConfig) -> Result<Self, HdlError> {
        cfg.validate()?;
        let bits = cfg.bits();
        Ok(Swu {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(bits),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _cfg: cfg.clone(),
            _u: blocks::Swu::new(cfg),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SwuConfig {
        &self._cfg
    }
}

crate::unit_leaf!(Swu);
