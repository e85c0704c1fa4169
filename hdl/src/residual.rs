//! A residual block's plumbing as rust-hdl leaves: the duplicate (one input, the main and bypass
//! outputs), the sign node, the channel pad and the saturating add (the main and bypass inputs).
//!
//! Behaviour: [`blocks::residual`]; Verilog: [`crate::rtl::residual`].

use crate::bus::{self, Bus};
use crate::HdlError;
use compiler::model::IntType;
use rust_hdl::prelude::*;

fn check(what: &str, ok: bool, message: String) -> Result<(), HdlError> {
    if ok {
        Ok(())
    } else {
        Err(HdlError::Folding { layer: what.into(), message })
    }
}

/// The sign node: `elems` signed `ty` elements per word in, one bit per element out (1 when the
/// element is `>= 0`). Behaviour: [`blocks::Sign`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`; `m_ready`.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`.
#[derive(LogicBlock)]
pub struct Sign {
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
    _u: blocks::Sign,
}

impl Sign {
    /// The sign node of words of `elems >= 1` elements of the signed type `ty`.
    pub fn new(ty: IntType, elems: usize) -> Result<Self, HdlError> {
        check(
            "sign",
            elems >= 1 && ty.signed,
            format!("needs signed elements and >= 1 per word, got {elems} {ty}"),
        )?;
        Ok(Sign {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(elems * usize::from(ty.bits)),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(elems),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _u: blocks::Sign::new(ty, elems),
        })
    }
}

crate::unit_leaf!(Sign);

/// The channel pad of a downsampling shortcut: per pixel, `cf_in` input words of `bits` bits,
/// then `cf_out - cf_in` zero words. Behaviour: [`blocks::ChannelPad`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`; `m_ready`.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`.
#[derive(LogicBlock)]
pub struct ChannelPad {
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
    _u: blocks::ChannelPad,
}

impl ChannelPad {
    /// A pad from `cf_in` to `cf_out` words per pixel (`1 <= cf_in <= cf_out`) of `bits >= 1` bits.
    pub fn new(bits: usize, cf_in: usize, cf_out: usize) -> Result<Self, HdlError> {
        check(
            "channel pad",
            bits >= 1 && cf_in >= 1 && cf_in <= cf_out,
            format!(
                "needs 1 <= words in <= words out per pixel and bits >= 1, got {cf_in} -> {cf_out} of {bits}"
            ),
        )?;
        Ok(ChannelPad {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(bits),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _u: blocks::ChannelPad::new(bits, cf_in, cf_out),
        })
    }
}

crate::unit_leaf!(ChannelPad);

/// The duplicate: each input word goes to both the main output (`m_*`) and the bypass output
/// (`b_*`). Behaviour: [`blocks::Duplicate`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`; `m_ready`, `b_ready`.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid` and `b_data`/`b_valid` (the same register).
#[derive(LogicBlock)]
pub struct Duplicate {
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
    /// Main output word.
    pub m_data: Bus<Out>,
    /// Main output valid.
    pub m_valid: Signal<Out, Bit>,
    /// Main output ready.
    pub m_ready: Signal<In, Bit>,
    /// Bypass output word.
    pub b_data: Bus<Out>,
    /// Bypass output valid.
    pub b_valid: Signal<Out, Bit>,
    /// Bypass output ready.
    pub b_ready: Signal<In, Bit>,
    _u: blocks::Duplicate,
}

impl Duplicate {
    /// A duplicate of `bits >= 1`-bit words.
    pub fn new(bits: usize) -> Result<Self, HdlError> {
        check("duplicate", bits >= 1, "needs words of >= 1 bit".into())?;
        Ok(Duplicate {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(bits),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            b_data: bus::bus(bits),
            b_valid: Signal::default(),
            b_ready: Signal::default(),
            _u: blocks::Duplicate::new(bits),
        })
    }
}

impl Logic for Duplicate {
    fn update(&mut self) {
        let (rm, rb) = (self.m_ready.val(), self.b_ready.val());
        if self.clock.pos_edge() {
            if self.rst.val() {
                self._u.reset();
            } else {
                let d = bus::read(&self.s_data);
                self._u.edge(self.s_valid.val(), &d, rm, rb);
            }
        }
        self.s_ready.next = self._u.ready(rm, rb);
        self.m_valid.next = self._u.valid_main();
        self.b_valid.next = self._u.valid_byp();
        bus::write(&mut self.m_data, self._u.data());
        bus::write(&mut self.b_data, self._u.data());
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        self.b_valid.connect();
        bus::connect(&mut self.m_data);
        bus::connect(&mut self.b_data);
    }
}

crate::stream_block!(Duplicate);

/// The saturating add of the main input (`s_*`) and the bypass input (`b_*`), element by element
/// in the signed type `ty`; a word leaves both inputs together. Behaviour: [`blocks::Add`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`, `b_data`/`b_valid`; `m_ready`.
///
/// ### Outputs
/// - `s_ready`, `b_ready` (equal); `m_data`/`m_valid`.
#[derive(LogicBlock)]
pub struct Add {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub rst: Signal<In, Bit>,
    /// Main input word.
    pub s_data: Bus<In>,
    /// Main input valid.
    pub s_valid: Signal<In, Bit>,
    /// Main input ready.
    pub s_ready: Signal<Out, Bit>,
    /// Bypass input word.
    pub b_data: Bus<In>,
    /// Bypass input valid.
    pub b_valid: Signal<In, Bit>,
    /// Bypass input ready.
    pub b_ready: Signal<Out, Bit>,
    /// Output word.
    pub m_data: Bus<Out>,
    /// Output valid.
    pub m_valid: Signal<Out, Bit>,
    /// Output ready.
    pub m_ready: Signal<In, Bit>,
    _u: blocks::Add,
}

impl Add {
    /// The add of words of `elems >= 1` elements of the signed type `ty`.
    pub fn new(ty: IntType, elems: usize) -> Result<Self, HdlError> {
        check(
            "add",
            elems >= 1 && ty.signed,
            format!("needs signed elements and >= 1 per word, got {elems} {ty}"),
        )?;
        let bits = elems * usize::from(ty.bits);
        Ok(Add {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            b_data: bus::bus(bits),
            b_valid: Signal::default(),
            b_ready: Signal::default(),
            m_data: bus::bus(bits),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _u: blocks::Add::new(ty, elems),
        })
    }
}

impl Logic for Add {
    fn update(&mut self) {
        let (vm, vb, mr) = (self.s_valid.val(), self.b_valid.val(), self.m_ready.val());
        if self.clock.pos_edge() {
            if self.rst.val() {
                self._u.reset();
            } else {
                let (a, b) = (bus::read(&self.s_data), bus::read(&self.b_data));
                self._u.edge((vm, &a), (vb, &b), mr);
            }
        }
        let ready = self._u.ready(mr, vm, vb);
        self.s_ready.next = ready;
        self.b_ready.next = ready;
        self.m_valid.next = self._u.valid();
        bus::write(&mut self.m_data, self._u.data());
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.b_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
    }
}

crate::stream_block!(Add);
