//! A PE's accumulator: sums the lanes' results over a pass and produces the output bit (the sign
//! of `sum - T`, the accumulator having started at `-T`) or the score.

use crate::arith::{self, Term};
use crate::bus::{self, Bus};
use crate::words;
use rust_hdl::prelude::*;
use std::fmt::Write;

/// One PE's accumulator.
///
/// ### Inputs
/// - `clock`; `en`: take `acc_next` on the rising edge; `first`: the word starts a pass.
/// - `sum`: the lanes' result for the current word (unsigned for binary lanes, two's complement
///   for 8-bit lanes); `start`: the value a pass starts from (`-T` in threshold mode; absent in
///   scores mode, where it is 0).
///
/// ### Outputs
/// - `result`: `[acc_next >= 0]` (one bit) in threshold mode, `acc_next` in scores mode, where
///   `acc_next = (first ? start : acc) + sum`.
#[derive(LogicBlock)]
pub struct Accumulator {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Update enable.
    pub en: Signal<In, Bit>,
    /// First word of a pass.
    pub first: Signal<In, Bit>,
    /// Lane sum.
    pub sum: Bus<In>,
    /// Start value (threshold mode).
    pub start: Bus<In>,
    /// Output bit or score.
    pub result: Bus<Out>,
    _sum_signed: bool,
    _width: usize,
    _threshold: bool,
    _acc: i64,
}

impl Accumulator {
    /// An accumulator of `width` bits (two's complement) for sums of `sum_bits` bits;
    /// `threshold` selects the one-bit output and the `start` input.
    pub fn new(sum_bits: usize, sum_signed: bool, width: usize, threshold: bool) -> Self {
        Accumulator {
            clock: Signal::default(),
            en: Signal::default(),
            first: Signal::default(),
            sum: bus::bus(sum_bits),
            start: bus::bus(if threshold { width } else { 0 }),
            result: bus::bus(if threshold { 1 } else { width }),
            _sum_signed: sum_signed,
            _width: width,
            _threshold: threshold,
            _acc: 0,
        }
    }

    fn next(&self) -> i64 {
        let n = self.sum.len();
        let raw = bus::read_field(&self.sum, 0, n);
        let s = if self._sum_signed { words::sext(raw, n) } else { raw as i64 };
        let base = if !self.first.val() {
            self._acc
        } else if self._threshold {
            words::sext(bus::read_field(&self.start, 0, self._width), self._width)
        } else {
            0
        };
        // The hardware register wraps; valid configurations never overflow it.
        words::sext((base + s) as u64 & words::mask(self._width), self._width)
    }

    fn verilog(&self) -> String {
        let (cw, rw) = (self.sum.len(), self._width);
        let r = bus::range;
        let mut v = String::new();
        let _ = writeln!(v, "  wire {} sum_v = {};", r(cw), bus::pack("sum", cw));
        let sum = Term { name: "sum_v".into(), width: cw, lo: 0, hi: 0 };
        let ext = if rw > cw { arith::extend(&sum, rw, self._sum_signed) } else { sum.name };
        let base = if self._threshold {
            let _ = writeln!(v, "  wire {} start_v = {};", r(rw), bus::pack("start", rw));
            "start_v".to_string()
        } else {
            format!("{rw}'d0")
        };
        let _ = writeln!(v, "  reg {} acc = 0;", r(rw));
        let _ = writeln!(v, "  wire {} acc_next = (first ? {base} : acc) + {ext};", r(rw));
        let _ = writeln!(v, "  always @(posedge clock) if (en) acc <= acc_next;");
        let _ = writeln!(v, "  always @(*) begin");
        if self._threshold {
            let _ = writeln!(v, "    result$0 = !acc_next[{}];", rw - 1);
        } else {
            v.push_str(&bus::unpack("result", rw, "acc_next"));
        }
        let _ = writeln!(v, "  end");
        v
    }
}

impl Logic for Accumulator {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            self._acc = self.next();
        }
        let next = self.next();
        let w = self._width;
        if self._threshold {
            self.result[0].next = next >= 0;
        } else {
            bus::write_field(&mut self.result, 0, w, next as u64 & words::mask(w));
        }
    }

    fn connect(&mut self) {
        bus::connect(&mut self.result);
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}
