//! Stream plumbing: FIFO, data-width converter, argmax.

use crate::bus::{self, Bus};
use crate::words::ubits;
use crate::HdlError;
use rust_hdl::prelude::*;
use std::fmt::Write;

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
    _depth: usize,
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
            _depth: depth,
            _u: blocks::Fifo::new(width, depth),
        })
    }

    fn depth(&self) -> usize {
        self._depth
    }

    fn verilog(&self) -> String {
        let (w, d) = (self.s_data.len(), self.depth());
        let (pw, cw) = (ubits(d as u64 - 1), ubits(d as u64));
        let r = bus::range;
        let mut v = String::new();
        let _ = writeln!(v, "  reg {} mem [0:{}];", r(w), d - 1);
        let _ = writeln!(v, "  reg {} rptr = 0, wptr = 0;", r(pw));
        let _ = writeln!(v, "  reg {} count = 0;", r(cw));
        let _ = writeln!(v, "  wire full = count == {cw}'d{d};");
        let _ = writeln!(v, "  wire empty = count == {cw}'d0;");
        let _ = writeln!(v, "  wire push = s_valid && !full;");
        let _ = writeln!(v, "  wire pop = m_ready && !empty;");
        let _ = writeln!(v, "  always @(posedge clock) begin");
        let _ = writeln!(v, "    if (rst) begin rptr <= 0; wptr <= 0; count <= 0; end");
        let _ = writeln!(v, "    else begin");
        let _ = writeln!(v, "      if (push) begin");
        let _ = writeln!(v, "        mem[wptr] <= {};", bus::pack("s_data", w));
        let _ = writeln!(v, "        wptr <= (wptr == {pw}'d{}) ? {pw}'d0 : wptr + {pw}'d1;", d - 1);
        let _ = writeln!(v, "      end");
        let _ = writeln!(v, "      if (pop) rptr <= (rptr == {pw}'d{}) ? {pw}'d0 : rptr + {pw}'d1;", d - 1);
        let _ = writeln!(v, "      if (push && !pop) count <= count + {cw}'d1;");
        let _ = writeln!(v, "      else if (pop && !push) count <= count - {cw}'d1;");
        let _ = writeln!(v, "    end");
        let _ = writeln!(v, "  end");
        let _ = writeln!(v, "  wire {} head = mem[rptr];", r(w));
        let _ = writeln!(v, "  always @(*) begin");
        let _ = writeln!(v, "    s_ready = !full;\n    m_valid = !empty;");
        v.push_str(&bus::unpack("m_data", w, "head"));
        let _ = writeln!(v, "  end");
        v
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

    fn verilog(&self) -> String {
        let (i, o) = (self.s_data.len(), self.m_data.len());
        let cap = i + o;
        let cb = ubits(cap as u64);
        let r = bus::range;
        let mut v = String::new();
        let _ = writeln!(v, "  reg {} buffer = 0;", r(cap));
        let _ = writeln!(v, "  reg {} cnt = 0;", r(cb));
        let _ = writeln!(v, "  wire ready = cnt <= {cb}'d{o};");
        let _ = writeln!(v, "  wire valid = cnt >= {cb}'d{o};");
        let _ = writeln!(v, "  wire pop = valid && m_ready;");
        let _ = writeln!(v, "  wire push = s_valid && ready;");
        let _ = writeln!(v, "  wire {} after = pop ? cnt - {cb}'d{o} : cnt;", r(cb));
        let _ =
            writeln!(v, "  wire {} shifted = pop ? {{{o}'d0, buffer[{}:{o}]}} : buffer;", r(cap), cap - 1);
        let _ = writeln!(v, "  wire {} incoming = {{{o}'d0, {}}} << after;", r(cap), bus::pack("s_data", i));
        let _ = writeln!(v, "  always @(posedge clock) begin");
        let _ = writeln!(v, "    if (rst) begin buffer <= 0; cnt <= 0; end");
        let _ = writeln!(v, "    else begin");
        let _ = writeln!(v, "      buffer <= push ? (shifted | incoming) : shifted;");
        let _ = writeln!(v, "      cnt <= push ? after + {cb}'d{i} : after;");
        let _ = writeln!(v, "    end");
        let _ = writeln!(v, "  end");
        let _ = writeln!(v, "  always @(*) begin");
        let _ = writeln!(v, "    s_ready = ready;\n    m_valid = valid;");
        v.push_str(&bus::unpack("m_data", o, "buffer"));
        let _ = writeln!(v, "  end");
        v
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

    fn verilog(&self) -> String {
        let (pe, b, nw) = (self._pe, self._bits, self._words);
        let ib = self.m_data.len();
        let jb = ubits(nw as u64 - 1);
        let r = bus::range;
        let gt = |a: &str, c: &str| {
            if self._signed {
                format!("$signed({a}) > $signed({c})")
            } else {
                format!("{a} > {c}")
            }
        };
        let mut v = String::new();
        let _ = writeln!(v, "  wire {} d = {};", r(pe * b), bus::pack("s_data", pe * b));
        let _ = writeln!(v, "  reg {} j = 0;", r(jb));
        let _ = writeln!(v, "  reg {} base = 0;", r(ib));
        let _ = writeln!(v, "  reg {} best = 0;", r(b));
        let _ = writeln!(v, "  reg {} idx = 0, out = 0;", r(ib));
        let _ = writeln!(v, "  reg out_valid = 1'b0;");
        let _ = writeln!(v, "  wire ready = !out_valid || m_ready;");
        let _ = writeln!(v, "  wire push = s_valid && ready;");
        for p in 0..pe {
            let _ = writeln!(v, "  wire {} v_{p} = d[{}:{}];", r(b), p * b + b - 1, p * b);
            if p == 0 {
                let _ = writeln!(v, "  wire {} bv_0 = v_0;", r(b));
                let _ = writeln!(v, "  wire {} bi_0 = base;", r(ib));
            } else {
                let q = p - 1;
                let _ = writeln!(v, "  wire take_{p} = {};", gt(&format!("v_{p}"), &format!("bv_{q}")));
                let _ = writeln!(v, "  wire {} bv_{p} = take_{p} ? v_{p} : bv_{q};", r(b));
                let _ = writeln!(v, "  wire {} bi_{p} = take_{p} ? base + {ib}'d{p} : bi_{q};", r(ib));
            }
        }
        let l = pe - 1;
        let _ = writeln!(v, "  wire first = j == {jb}'d0;");
        let _ = writeln!(v, "  wire better = first || {};", gt(&format!("bv_{l}"), "best"));
        let _ = writeln!(v, "  always @(posedge clock) begin");
        let _ = writeln!(v, "    if (rst) begin j <= 0; base <= 0; out_valid <= 1'b0; end");
        let _ = writeln!(v, "    else begin");
        let _ = writeln!(v, "      if (out_valid && m_ready) out_valid <= 1'b0;");
        let _ = writeln!(v, "      if (push) begin");
        let _ = writeln!(v, "        if (better) begin best <= bv_{l}; idx <= bi_{l}; end");
        let _ = writeln!(v, "        if (j == {jb}'d{}) begin", nw - 1);
        let _ = writeln!(v, "          j <= 0; base <= 0; out_valid <= 1'b1;");
        let _ = writeln!(v, "          out <= better ? bi_{l} : idx;");
        let _ = writeln!(v, "        end else begin");
        let _ = writeln!(v, "          j <= j + {jb}'d1; base <= base + {ib}'d{pe};");
        let _ = writeln!(v, "        end");
        let _ = writeln!(v, "      end");
        let _ = writeln!(v, "    end");
        let _ = writeln!(v, "  end");
        let _ = writeln!(v, "  always @(*) begin");
        let _ = writeln!(v, "    s_ready = ready;\n    m_valid = out_valid;");
        v.push_str(&bus::unpack("m_data", ib, "out"));
        let _ = writeln!(v, "  end");
        v
    }
}

crate::unit_leaf!(Argmax);
