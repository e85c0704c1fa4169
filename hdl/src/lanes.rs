//! XNOR-popcount lanes (and their 8-bit variant): SIMD input elements against SIMD weight bits.

use crate::arith::{self, Term};
use crate::bus::{self, Bus};
use crate::words;
pub use compiler::dataflow::{LaneInput, Popcount};
use rust_hdl::prelude::*;
use std::fmt::Write;

/// SIMD lanes: `sum = sum_i lane(x_i, w_i)`, combinational.
///
/// ### Inputs
/// - `x`: SIMD elements, element `i` in bits `i*b .. i*b+b` (`b` = 1 or 8).
/// - `w`: SIMD weight bits.
///
/// ### Outputs
/// - `sum`: the popcount of XNOR matches (unsigned), or the signed 8-bit dot product.
#[derive(LogicBlock)]
pub struct Lanes {
    /// Input elements.
    pub x: Bus<In>,
    /// Weight bits.
    pub w: Bus<In>,
    /// The sum.
    pub sum: Bus<Out>,
    _simd: usize,
    _input: LaneInput,
    _popcount: Popcount,
}

impl Lanes {
    /// Lanes for `simd` elements.
    pub fn new(simd: usize, input: LaneInput, popcount: Popcount) -> Self {
        Lanes {
            x: bus::bus(simd * input.bits()),
            w: bus::bus(simd),
            sum: bus::bus(input.sum_bits(simd)),
            _simd: simd,
            _input: input,
            _popcount: popcount,
        }
    }

    /// The value the lanes compute for words `x` and `w`.
    pub fn eval(&self, x: &[u64], w: &[u64]) -> i64 {
        blocks::mvtu::lane_sum(self._input, self._simd, x, w)
    }

    fn verilog(&self) -> String {
        let mut v = String::new();
        let b = self._input.bits();
        let _ = writeln!(v, "  wire {} xv = {};", bus::range(self._simd * b), bus::pack("x", self._simd * b));
        let _ = writeln!(v, "  wire {} wv = {};", bus::range(self._simd), bus::pack("w", self._simd));
        let root = match (self._input, self._popcount) {
            (LaneInput::Binary, Popcount::Compressor) => {
                let lanes: Vec<(String, String)> =
                    (0..self._simd).map(|i| (format!("xv[{i}]"), format!("wv[{i}]"))).collect();
                arith::compressor_tree(&mut v, "pc", &lanes)
            }
            (LaneInput::Binary, Popcount::AdderTree) => {
                let terms = (0..self._simd)
                    .map(|i| {
                        let _ = writeln!(v, "  wire m_{i} = ~(xv[{i}] ^ wv[{i}]);");
                        Term { name: format!("m_{i}"), width: 1, lo: 0, hi: 1 }
                    })
                    .collect();
                arith::adder_tree(&mut v, "at", terms)
            }
            (LaneInput::Fixed8 { signed }, _) => {
                let (lo, hi) = self._input.lane_range();
                let terms = (0..self._simd)
                    .map(|i| {
                        let x = format!("xv[{}:{}]", i * 8 + 7, i * 8);
                        let ext = if signed {
                            format!("{{xv[{}], {x}}}", i * 8 + 7)
                        } else {
                            format!("{{1'b0, {x}}}")
                        };
                        let _ = writeln!(v, "  wire [8:0] t_{i} = wv[{i}] ? {ext} : 9'd0 - {ext};");
                        Term { name: format!("t_{i}"), width: 9, lo, hi }
                    })
                    .collect();
                arith::adder_tree(&mut v, "at", terms)
            }
        };
        let out = self.sum.len();
        let signed = matches!(self._input, LaneInput::Fixed8 { .. });
        let root = if root.width < out { arith::extend(&root, out, signed) } else { root.name };
        let _ = writeln!(v, "  wire {} sum_v = {root};", bus::range(out));
        let _ = writeln!(v, "  always @(*) begin");
        v.push_str(&bus::unpack("sum", out, "sum_v"));
        let _ = writeln!(v, "  end");
        v
    }
}

impl Logic for Lanes {
    fn update(&mut self) {
        let s = self.eval(&bus::read(&self.x), &bus::read(&self.w));
        let n = self.sum.len();
        bus::write_field(&mut self.sum, 0, n, s as u64 & words::mask(n));
    }

    fn connect(&mut self) {
        bus::connect(&mut self.sum);
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}
