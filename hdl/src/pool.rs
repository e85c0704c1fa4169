//! The binary max-pool unit: OR over `K x K` windows with stride `K`.
//!
//! Its behaviour, register for register, is [`blocks::Pool`] (which the cycle model runs too);
//! this leaf runs it in rust-hdl's simulator.

use crate::bus::{self, Bus};
use crate::words::ubits;
use crate::HdlError;
pub use compiler::dataflow::PoolConfig;
use rust_hdl::prelude::*;
use std::fmt::Write;

/// A binary max-pool unit: frames of `H x W` pixels of `C` channel bits arrive as `CF = C/bits`
/// words per pixel; per output pixel (row-major, `OH = H/K` by `OW = W/K`) it emits `CF` words,
/// each the OR of its `K x K` window's words for that channel word. Trailing rows and columns
/// outside every window are consumed and dropped.
///
/// Registers and schedule: [`blocks::Pool`]. The Verilog names the buffer `rowbuf` (`buf` is a
/// Verilog keyword).
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words of `bits` channels. `m_ready`: the consumer accepts.
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
            s_data: bus::bus(cfg.bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(cfg.bits),
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

    fn verilog(&self) -> String {
        let c = &self._cfg;
        let (h, w, k, cf, oh, ow, b) = (c.h, c.w, c.kernel, c.cf(), c.oh(), c.ow(), c.bits);
        let depth = ow * cf;
        let (wcb, xb, kb, oxb, yb) = (
            ubits(cf as u64 - 1),
            ubits(w as u64 - 1),
            ubits(k as u64 - 1),
            ubits(ow as u64),
            ubits(h as u64 - 1),
        );
        let bab = ubits(depth as u64 - 1);
        let nb = ubits(((ow + 1) * cf) as u64);
        let ext = |name: &str, wd: usize| {
            if wd < nb {
                format!("{{{}'d0, {name}}}", nb - wd)
            } else {
                name.to_string()
            }
        };
        let r = bus::range;
        let mut v = String::new();
        let _ = writeln!(v, "  wire {} s_data_v = {};", r(b), bus::pack("s_data", b));
        let _ = writeln!(v, "  reg {} wc = 0;", r(wcb));
        let _ = writeln!(v, "  reg {} x = 0;", r(xb));
        let _ = writeln!(v, "  reg {} kx = 0, ky = 0;", r(kb));
        let _ = writeln!(v, "  reg {} ox = 0;", r(oxb));
        let _ = writeln!(v, "  reg {} y = 0;", r(yb));
        let _ = writeln!(v, "  reg ov = 1'b0;");
        let _ = writeln!(v, "  reg {} od = 0;", r(b));
        let _ = writeln!(v, "  reg {} rowbuf [0:{}];", r(b), depth - 1);
        let _ = writeln!(v, "  wire adv = !ov || m_ready;");
        let _ = writeln!(v, "  wire push = !rst && adv && s_valid;");
        let xin = if ow * k == w { "1'b1".to_string() } else { format!("x < {xb}'d{}", ow * k) };
        let yin = if oh * k == h { "1'b1".to_string() } else { format!("y < {yb}'d{}", oh * k) };
        let _ = writeln!(v, "  wire in_window = {xin} && {yin};");
        let _ = writeln!(v, "  wire first = kx == {kb}'d0 && ky == {kb}'d0;");
        let _ = writeln!(v, "  wire last = kx == {kb}'d{k1} && ky == {kb}'d{k1};", k1 = k - 1);
        let _ =
            writeln!(v, "  wire {} baddr_n = {} * {nb}'d{cf} + {};", r(nb), ext("ox", oxb), ext("wc", wcb));
        let _ = writeln!(v, "  wire {} baddr = baddr_n[{}:0];", r(bab), bab - 1);
        if nb > bab {
            let _ = writeln!(v, "  wire unused_hi = &{{1'b0, baddr_n[{}:{bab}]}};", nb - 1);
        }
        let _ = writeln!(v, "  wire {} v = first ? s_data_v : rowbuf[baddr] | s_data_v;", r(b));
        let _ = writeln!(v, "  always @(posedge clock) if (push && in_window && !last) rowbuf[baddr] <= v;");
        let _ = writeln!(v, "  always @(posedge clock) begin");
        let _ = writeln!(v, "    if (rst) begin");
        let _ = writeln!(v, "      wc <= 0; x <= 0; kx <= 0; ox <= 0; y <= 0; ky <= 0; ov <= 1'b0; od <= 0;");
        let _ = writeln!(v, "    end else if (adv) begin");
        let _ = writeln!(v, "      if (s_valid) begin");
        let _ = writeln!(v, "        ov <= in_window && last;");
        let _ = writeln!(v, "        if (in_window && last) od <= v;");
        let _ = writeln!(v, "        if (wc == {wcb}'d{}) begin", cf - 1);
        let _ = writeln!(v, "          wc <= 0;");
        let _ = writeln!(v, "          if (x == {xb}'d{}) begin", w - 1);
        let _ = writeln!(v, "            x <= 0; kx <= 0; ox <= 0;");
        let _ = writeln!(v, "            if (y == {yb}'d{}) begin", h - 1);
        let _ = writeln!(v, "              y <= 0; ky <= 0;");
        let _ = writeln!(v, "            end else begin");
        let _ = writeln!(v, "              y <= y + {yb}'d1;");
        let _ = writeln!(v, "              ky <= (ky == {kb}'d{}) ? {kb}'d0 : ky + {kb}'d1;", k - 1);
        let _ = writeln!(v, "            end");
        let _ = writeln!(v, "          end else begin");
        let _ = writeln!(v, "            x <= x + {xb}'d1;");
        let _ = writeln!(v, "            if (kx == {kb}'d{}) begin", k - 1);
        let _ = writeln!(v, "              kx <= 0;");
        let _ = writeln!(v, "              ox <= ox + {oxb}'d1;");
        let _ = writeln!(v, "            end else kx <= kx + {kb}'d1;");
        let _ = writeln!(v, "          end");
        let _ = writeln!(v, "        end else wc <= wc + {wcb}'d1;");
        let _ = writeln!(v, "      end else ov <= 1'b0;");
        let _ = writeln!(v, "    end");
        let _ = writeln!(v, "  end");
        let _ = writeln!(v, "  always @(*) begin");
        let _ = writeln!(v, "    s_ready = adv;\n    m_valid = ov;");
        v.push_str(&bus::unpack("m_data", b, "od"));
        let _ = writeln!(v, "  end");
        v
    }
}

crate::unit_leaf!(Pool);
