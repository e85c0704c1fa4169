//! XNOR-popcount lanes (and their k-bit integer variant): SIMD input elements against SIMD weight
//! bits.

use crate::bus::{self, Bus};
use crate::words;
pub use compiler::dataflow::{LaneInput, Popcount};
use rust_hdl::prelude::*;

/// SIMD lanes: `sum = sum_i lane(x_i, w_i)`, combinational.
///
/// ### Inputs
/// - `x`: SIMD elements, element `i` in bits `i*b .. i*b+b` (`b` = 1, or `k` for `k`-bit
///   integers).
/// - `w`: SIMD weight bits.
///
/// ### Outputs
/// - `sum`: the popcount of XNOR matches (unsigned), or the signed sum of `+-x_i`.
#[derive(LogicBlock)]
pub struct Lanes {
    /// Input elements.
    pub x: Bus<In>,
    /// Weight bits.
    pub w: Bus<In>,
    /// The sum.
    pub sum: Bus<Out>,
    _lanes: blocks::mvtu::Lanes,
    _popcount: Popcount,
}

impl Lanes {
    /// Lanes for `simd` elements.
    pub fn new(simd: usize, input: LaneInput, popcount: Popcount) -> Self {
        Lanes {
            x: bus::bus(simd * input.bits()),
            w: bus::bus(simd),
            sum: bus::bus(input.sum_bits(simd)),
            _lanes: blocks::mvtu::Lanes::new(input, simd),
            _popcount: popcount,
        }
    }

    /// The value the lanes compute for words `x` and `w`.
    pub fn eval(&self, x: &[u64], w: &[u64]) -> i64 {
        self._lanes.sum(x, &self._lanes.weights(w))
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
}
