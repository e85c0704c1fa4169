//! Stream plumbing: FIFO, data-width converter, argmax.

use crate::bus::{self, Bus};
use crate::words::{self, ubits};
use crate::HdlError;
use rust_hdl::prelude::*;

fn clear(w: &mut [u64]) {
    w.iter_mut().for_each(|x| *x = 0);
}

/// A first-word-fall-through FIFO of `depth` words of `width` bits. `s_ready` and `m_valid`
/// depend only on the FIFO's state, so a FIFO cuts every combinational path between its sides.
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
    _mem: Vec<Vec<u64>>,
    _rptr: usize,
    _wptr: usize,
    _count: usize,
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
            _mem: vec![vec![0; words::words(width)]; depth],
            _rptr: 0,
            _wptr: 0,
            _count: 0,
        })
    }

    fn depth(&self) -> usize {
        self._mem.len()
    }
}

impl Logic for Fifo {
    fn update(&mut self) {
        let d = self.depth();
        if self.clock.pos_edge() {
            if self.rst.val() {
                (self._rptr, self._wptr, self._count) = (0, 0, 0);
            } else {
                let push = self.s_valid.val() && self._count < d;
                let pop = self.m_ready.val() && self._count > 0;
                if push {
                    self._mem[self._wptr] = bus::read(&self.s_data);
                    self._wptr = (self._wptr + 1) % d;
                }
                if pop {
                    self._rptr = (self._rptr + 1) % d;
                }
                self._count = self._count + usize::from(push) - usize::from(pop);
            }
        }
        self.s_ready.next = self._count < d;
        self.m_valid.next = self._count > 0;
        let head = self._mem[self._rptr].clone();
        bus::write(&mut self.m_data, &head);
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
    }
}

crate::stream_block!(Fifo);

/// A data-width converter from `in_bits`-bit words to `out_bits`-bit words, bit 0 first: the bit
/// stream is unchanged, so a frame of `n` bits stays aligned when `n` is a multiple of both widths.
/// It holds up to `in_bits + out_bits` bits, enough to accept a word every cycle while emitting.
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
    _buf: Vec<u64>,
    _cnt: usize,
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
            _buf: vec![0; words::words(in_bits + out_bits) + 1],
            _cnt: 0,
        })
    }
}

impl Logic for WidthConverter {
    fn update(&mut self) {
        let (i, o) = (self.s_data.len(), self.m_data.len());
        if self.clock.pos_edge() {
            if self.rst.val() {
                clear(&mut self._buf);
                self._cnt = 0;
            } else {
                let pop = self._cnt >= o && self.m_ready.val();
                let push = self.s_valid.val() && self._cnt <= o;
                if pop {
                    let n = self._buf.len() * 64;
                    let mut shifted = vec![0u64; self._buf.len()];
                    for b in o..n {
                        words::set(&mut shifted, b - o, 1, u64::from(words::bit(&self._buf, b)));
                    }
                    self._buf = shifted;
                    self._cnt -= o;
                }
                if push {
                    let data = bus::read(&self.s_data);
                    for b in 0..i {
                        if words::bit(&data, b) {
                            words::set(&mut self._buf, self._cnt + b, 1, 1);
                        }
                    }
                    self._cnt += i;
                }
            }
        }
        self.s_ready.next = self._cnt <= o;
        self.m_valid.next = self._cnt >= o;
        let buf = self._buf.clone();
        bus::write(&mut self.m_data, &buf);
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
    }
}

crate::stream_block!(WidthConverter);

/// Argmax over a vector of scores arriving as `words` words of `pe` fields of `bits` bits
/// (two's complement when `signed`): one class index per vector, the lowest index on ties
/// (as the golden model).
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
    _st: ArgmaxState,
}

#[derive(Clone, Debug, Default)]
struct ArgmaxState {
    j: usize,
    best: i64,
    idx: usize,
    out_valid: bool,
    out: usize,
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
            _st: ArgmaxState::default(),
        })
    }
}

impl Logic for Argmax {
    fn update(&mut self) {
        let ready = !self._st.out_valid || self.m_ready.val();
        if self.clock.pos_edge() {
            if self.rst.val() {
                self._st.j = 0;
                self._st.out_valid = false;
            } else {
                if self._st.out_valid && self.m_ready.val() {
                    self._st.out_valid = false;
                }
                if self.s_valid.val() && ready {
                    let (pe, b) = (self._pe, self._bits);
                    let base = self._st.j * pe;
                    let mut bv = i64::MIN;
                    let mut bi = 0;
                    for p in 0..pe {
                        let raw = bus::read_field(&self.s_data, p * b, b);
                        let val = if self._signed { words::sext(raw, b) } else { raw as i64 };
                        if p == 0 || val > bv {
                            (bv, bi) = (val, base + p);
                        }
                    }
                    let st = &mut self._st;
                    if st.j == 0 || bv > st.best {
                        (st.best, st.idx) = (bv, bi);
                    }
                    if st.j + 1 == self._words {
                        st.j = 0;
                        st.out_valid = true;
                        st.out = st.idx;
                    } else {
                        st.j += 1;
                    }
                }
            }
        }
        self.s_ready.next = !self._st.out_valid || self.m_ready.val();
        self.m_valid.next = self._st.out_valid;
        let (n, out) = (self.m_data.len(), self._st.out as u64);
        bus::write_field(&mut self.m_data, 0, n, out);
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
    }
}

crate::stream_block!(Argmax);
