//! The sliding-window unit: im2col on a stream of pixels, for a convolution's MVTU.
//!
//! Input rows go into a ring of `R = ring_rows()` rows of `W * CF` words, a FIFO of whole rows
//! across frames; for every output pixel the unit reads the `K x K` window's words (kernel row,
//! kernel column, channel word fastest) from the ring, or emits the pad word for a position
//! outside the frame. Its behaviour, register for register, is [`blocks::Swu`] (which the cycle
//! model runs too); this leaf runs it in rust-hdl's simulator.

use crate::bus::{self, Bus};
use crate::words::ubits;
use crate::HdlError;
pub use compiler::dataflow::SwuConfig;
use rust_hdl::prelude::*;
use std::fmt::Write;

/// The sizes the schedule uses, taken once from the configuration.
#[derive(Clone, Copy, Debug)]
struct Dims {
    h: usize,
    w: usize,
    cf: usize,
    k: usize,
    s: usize,
    p: usize,
    r: usize,
    oh: usize,
    ow: usize,
}

impl Dims {
    fn of(c: &SwuConfig) -> Self {
        Dims {
            h: c.h,
            w: c.w,
            cf: c.cf(),
            k: c.kernel,
            s: c.stride,
            p: c.pad,
            r: c.ring_rows(),
            oh: c.oh(),
            ow: c.ow(),
        }
    }
}

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
    _d: Dims,
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
            _d: Dims::of(cfg),
            _u: blocks::Swu::new(cfg),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SwuConfig {
        &self._cfg
    }

    fn verilog(&self) -> String {
        let c = &self._cfg;
        let d = self._d;
        let bw = c.bits();
        let rw = c.ring_words();
        let ab = c.addr_bits();
        let (wxb, wcb, rb, avb, lob) = (
            ubits(d.w as u64 - 1),
            ubits(d.cf as u64 - 1),
            ubits(d.r as u64 - 1),
            ubits(d.r as u64),
            ubits((2 * d.h + d.r) as u64),
        );
        // `lo` is kept as `lo + H + R`, never negative.
        let off = d.h + d.r;
        let (oyb, oxb, kb) = (ubits(d.oh as u64 - 1), ubits(d.ow as u64 - 1), ubits(d.k as u64 - 1));
        // One width for the coordinate and address arithmetic, holding every value compared.
        let maxv = [
            (d.oh - 1) * d.s + d.k + off + d.r,
            (d.ow - 1) * d.s + d.k,
            d.h + d.p,
            d.w + d.p,
            2 * d.h + 2 * d.r,
            rw,
        ]
        .into_iter()
        .max()
        .unwrap_or(1);
        let nb = ubits(maxv as u64);
        let n = |v: usize| format!("{nb}'d{v}");
        let ext = |name: &str, w: usize| {
            if w < nb {
                format!("{{{}'d0, {name}}}", nb - w)
            } else {
                name.to_string()
            }
        };
        let r = bus::range;
        let mut v = String::new();
        let _ = writeln!(v, "  wire {} s_data_v = {};", r(bw), bus::pack("s_data", bw));
        let _ = writeln!(v, "  reg {} mem [0:{}];", r(bw), rw - 1);
        let _ = writeln!(v, "  reg {} wx = 0;", r(wxb));
        let _ = writeln!(v, "  reg {} wc = 0;", r(wcb));
        let _ = writeln!(v, "  reg {} wslot = 0, head = 0;", r(rb));
        let _ = writeln!(v, "  reg {} avail = 0;", r(avb));
        let _ = writeln!(v, "  reg {} lo = {lob}'d{off};", r(lob));
        let _ = writeln!(v, "  reg qv = 1'b0, padr = 1'b0;");
        let _ = writeln!(v, "  reg {} oy = 0;", r(oyb));
        let _ = writeln!(v, "  reg {} ox = 0;", r(oxb));
        let _ = writeln!(v, "  reg {} ky = 0, kx = 0;", r(kb));
        let _ = writeln!(v, "  reg {} rc = 0;", r(wcb));
        let _ = writeln!(
            v,
            "  // The memory's read register: no initial value, so that it can be a block RAM's."
        );
        let _ = writeln!(v, "  reg {} q;", r(bw));
        let _ = writeln!(v, "  wire {} lo_n = {};", r(nb), ext("lo", lob));
        let _ = writeln!(v, "  wire {} avail_n = {};", r(nb), ext("avail", avb));
        let _ = writeln!(v, "  wire {} oys = {} * {};", r(nb), ext("oy", oyb), n(d.s));
        if d.p > 0 {
            let _ = writeln!(v, "  wire {} y0 = (oys < {p}) ? {z} : oys - {p};", r(nb), p = n(d.p), z = n(0));
        } else {
            let _ = writeln!(v, "  wire {} y0 = oys;", r(nb));
        }
        let _ = writeln!(v, "  wire {} yk = oys + {};", r(nb), n(d.k - 1 - d.p));
        let _ = writeln!(v, "  wire {} ylast = (yk > {hl}) ? {hl} : yk;", r(nb), hl = n(d.h - 1));
        let _ = writeln!(v, "  wire ready = avail < {avb}'d{};", d.r);
        let _ = writeln!(v, "  wire push = !rst && s_valid && ready;");
        let _ =
            writeln!(v, "  wire row_done = push && wc == {wcb}'d{} && wx == {wxb}'d{};", d.cf - 1, d.w - 1);
        let _ = writeln!(v, "  wire free = avail != {avb}'d0 && lo_n < y0 + {};", n(off));
        let _ = writeln!(v, "  wire can = lo_n + avail_n > ylast + {};", n(off));
        let _ = writeln!(v, "  wire adv = !qv || m_ready;");
        let _ = writeln!(v, "  wire {} yy = oys + {};", r(nb), ext("ky", kb));
        let _ = writeln!(v, "  wire {} xx = {} * {} + {};", r(nb), ext("ox", oxb), n(d.s), ext("kx", kb));
        if d.p > 0 {
            let _ = writeln!(
                v,
                "  wire pad = yy < {p} || yy >= {hp} || xx < {p} || xx >= {wp};",
                p = n(d.p),
                hp = n(d.h + d.p),
                wp = n(d.w + d.p)
            );
        } else {
            let _ = writeln!(v, "  wire pad = 1'b0;");
        }
        let _ = writeln!(v, "  // head + (yy - P) - lo, in 0 .. 2R-2.");
        let _ = writeln!(v, "  wire {} ring = {} + yy + {} - lo_n;", r(nb), ext("head", rb), n(off - d.p));
        let _ = writeln!(v, "  wire {} slot = (ring >= {rr}) ? ring - {rr} : ring;", r(nb), rr = n(d.r));
        let _ = writeln!(
            v,
            "  wire {} raddr_n = (slot * {} + xx - {}) * {} + {};",
            r(nb),
            n(d.w),
            n(d.p),
            n(d.cf),
            ext("rc", wcb)
        );
        let _ = writeln!(
            v,
            "  wire {} waddr_n = ({} * {} + {}) * {} + {};",
            r(nb),
            ext("wslot", rb),
            n(d.w),
            ext("wx", wxb),
            n(d.cf),
            ext("wc", wcb)
        );
        let _ = writeln!(v, "  wire {} raddr = raddr_n[{}:0];", r(ab), ab - 1);
        let _ = writeln!(v, "  wire {} waddr = waddr_n[{}:0];", r(ab), ab - 1);
        if nb > ab {
            let _ = writeln!(
                v,
                "  wire unused_hi = &{{1'b0, raddr_n[{m}:{ab}], waddr_n[{m}:{ab}]}};",
                m = nb - 1
            );
        }
        let _ = writeln!(v, "  wire ren = !rst && adv && can && !pad;");
        let _ = writeln!(
            v,
            "  wire last = rc == {wcb}'d{} && kx == {kb}'d{k1} && ky == {kb}'d{k1} && ox == {oxb}'d{} && oy == {oyb}'d{};",
            d.cf - 1,
            d.ow - 1,
            d.oh - 1,
            k1 = d.k - 1
        );
        let _ = writeln!(v, "  always @(posedge clock) if (push) mem[waddr] <= s_data_v;");
        let _ = writeln!(v, "  always @(posedge clock) if (ren) q <= mem[raddr];");
        let _ = writeln!(v, "  always @(posedge clock) begin");
        let _ = writeln!(v, "    if (rst) begin");
        let _ = writeln!(v, "      wx <= 0; wc <= 0; wslot <= 0; avail <= 0; head <= 0; lo <= {lob}'d{off};");
        let _ = writeln!(v, "      oy <= 0; ox <= 0; ky <= 0; kx <= 0; rc <= 0;");
        let _ = writeln!(v, "      qv <= 1'b0; padr <= 1'b0;");
        let _ = writeln!(v, "    end else begin");
        let _ = writeln!(v, "      if (push) begin");
        let _ = writeln!(v, "        if (wc == {wcb}'d{}) begin", d.cf - 1);
        let _ = writeln!(v, "          wc <= 0;");
        let _ = writeln!(v, "          wx <= (wx == {wxb}'d{}) ? {wxb}'d0 : wx + {wxb}'d1;", d.w - 1);
        let _ = writeln!(v, "        end else wc <= wc + {wcb}'d1;");
        let _ = writeln!(
            v,
            "        if (row_done) wslot <= (wslot == {rb}'d{}) ? {rb}'d0 : wslot + {rb}'d1;",
            d.r - 1
        );
        let _ = writeln!(v, "      end");
        let _ =
            writeln!(v, "      if (free) head <= (head == {rb}'d{}) ? {rb}'d0 : head + {rb}'d1;", d.r - 1);
        let _ = writeln!(
            v,
            "      lo <= lo + {{{z}, free}} - ((adv && can && last) ? {lob}'d{} : {lob}'d0);",
            d.h,
            z = if lob > 1 { format!("{}'d0", lob - 1) } else { String::new() }
        );
        let _ = writeln!(v, "      if (row_done && !free) avail <= avail + {avb}'d1;");
        let _ = writeln!(v, "      else if (free && !row_done) avail <= avail - {avb}'d1;");
        let _ = writeln!(v, "      if (adv) begin");
        let _ = writeln!(v, "        qv <= can;");
        let _ = writeln!(v, "        if (can) begin");
        let _ = writeln!(v, "          padr <= pad;");
        let _ = writeln!(v, "          if (rc == {wcb}'d{}) begin", d.cf - 1);
        let _ = writeln!(v, "            rc <= 0;");
        let _ = writeln!(v, "            if (kx == {kb}'d{}) begin", d.k - 1);
        let _ = writeln!(v, "              kx <= 0;");
        let _ = writeln!(v, "              if (ky == {kb}'d{}) begin", d.k - 1);
        let _ = writeln!(v, "                ky <= 0;");
        let _ = writeln!(v, "                if (ox == {oxb}'d{}) begin", d.ow - 1);
        let _ = writeln!(v, "                  ox <= 0;");
        let _ =
            writeln!(v, "                  oy <= (oy == {oyb}'d{}) ? {oyb}'d0 : oy + {oyb}'d1;", d.oh - 1);
        let _ = writeln!(v, "                end else ox <= ox + {oxb}'d1;");
        let _ = writeln!(v, "              end else ky <= ky + {kb}'d1;");
        let _ = writeln!(v, "            end else kx <= kx + {kb}'d1;");
        let _ = writeln!(v, "          end else rc <= rc + {wcb}'d1;");
        let _ = writeln!(v, "        end");
        let _ = writeln!(v, "      end");
        let _ = writeln!(v, "    end");
        let _ = writeln!(v, "  end");
        let padw = if c.pad_bit { "1'b1" } else { "1'b0" };
        let _ = writeln!(v, "  wire {} od = padr ? {{{bw}{{{padw}}}}} : q;", r(bw));
        let _ = writeln!(v, "  always @(*) begin");
        let _ = writeln!(v, "    s_ready = ready;\n    m_valid = qv;");
        v.push_str(&bus::unpack("m_data", bw, "od"));
        let _ = writeln!(v, "  end");
        v
    }
}

crate::unit_leaf!(Swu);
