//! Stream plumbing: FIFO, data-width converter, argmax.

use crate::bus::{self, Bus};
use crate::words::ubits;
use crate::HdlError;
use rust_hdl::prelude::*;

/// A first-word-fall-through FIFO of `depth` words of `width` bits. `s_ready` and `m_valid`
/// depend only on the FIFO's state, so a FIFO cuts every combinational path between its sides.
/// Behaviour: [`blocks::Fifo`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`; `m_ready`.
///
/// ### Outputs
/// - `s_ready` (fewer than `depth` words held); `m_data`/`m_valid` (the oldest word).
#[derive(LogicBlock)]
pub struct Fifo {
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
    _u: blocks::Fifo,
}

impl Fifo {
    /// A FIFO of `depth >= 1` words of `width >= 1` bits.
    pub fn new(width: usize, depth: usize) -> Result<Self, HdlError> {
        if width == 0 || depth == 0 {
            return Err(HdlError::Folding {
                layer: "fifo".into(),
                message: format!("a FIFO needs width and depth >= 1, got width {width}, depth {depth}"),
            });
        }
        Ok(Fifo {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(width),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(width),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _u: blocks::Fifo::new(width, depth),
        })
    }
}

crate::unit_leaf!(Fifo);

/// A data-width converter from `in_bits`-bit words to `out_bits`-bit words, bit 0 first: the bit
/// stream is unchanged, so a frame of `n` bits stays aligned when `n` is a multiple of both widths.
/// It holds up to `in_bits + out_bits` bits, enough to accept a word every cycle while emitting.
///
/// Behaviour: [`blocks::WidthConverter`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`; `m_ready`.
///
/// ### Outputs
/// - `s_ready` (room for a word); `m_data`/`m_valid` (at least `out_bits` bits held).
#[derive(LogicBlock)]
pub struct WidthConverter {
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
    _u: blocks::WidthConverter,
}

impl WidthConverter {
    /// A converter from `in_bits` to `out_bits` (both >= 1).
    pub fn new(in_bits: usize, out_bits: usize) -> Result<Self, HdlError> {
        if in_bits == 0 || out_bits == 0 {
            return Err(HdlError::Folding {
                layer: "width converter".into(),
                message: format!("widths must be >= 1, got {in_bits} -> {out_bits}"),
            });
        }
        Ok(WidthConverter {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(in_bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(out_bits),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _u: blocks::WidthConverter::new(in_bits, out_bits),
        })
    }
}

crate::unit_leaf!(WidthConverter);

/// Argmax over a vector of scores arriving as `words` words of `pe` fields of `bits` bits
/// (two's complement when `signed`): one class index per vector, the lowest index on ties
/// (as the golden model).
///
/// Behaviour: [`blocks::Argmax`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`; `m_ready`.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`: the class index.
#[derive(LogicBlock)]
pub struct Argmax {
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
    _pe: usize,
    _bits: usize,
    _words: usize,
    _signed: bool,
    _u: blocks::Argmax,
}

impl Argmax {
    /// Argmax over `pe * words` scores of `bits` bits.
    pub fn new(pe: usize, bits: usize, words: usize, signed: bool) -> Result<Self, HdlError> {
        if pe == 0 || bits == 0 || bits > 63 || words == 0 {
            return Err(HdlError::Folding {
                layer: "argmax".into(),
                message: format!(
                    "needs pe, words >= 1 and 1..=63-bit scores, got {pe} x {words} of {bits} bits"
                ),
            });
        }
        Ok(Argmax {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(pe * bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(ubits((pe * words) as u64 - 1)),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _pe: pe,
            _bits: bits,
            _words: words,
            _signed: signed,
            _u: blocks::Argmax::new(pe, bits, words, signed),
        })
    }
}

crate::unit_leaf!(Argmax);
