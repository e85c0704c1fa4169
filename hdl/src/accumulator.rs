//! A PE's accumulator: sums the lanes' results over a pass and produces the output bit (the sign
//! of `sum - T`, the accumulator having started at `-T`) or the score.
//!
//! In threshold mode the accumulator holds its PE's threshold ROM and registers the ROM's address,
//! not its word: the ROM's LUTs then sit in the same module as the adder that consumes them, and
//! synthesis can merge a small ROM into the adder's LUTs (about 3 LUTs per PE at 8 thresholds).

use crate::bus::{self, Bus};
use crate::memory::Memory;
use crate::words;
use rust_hdl::prelude::*;

/// One PE's accumulator.
///
/// ### Inputs
/// - `clock`; `en`: take `acc_next` on the rising edge; `first`: the word starts a pass.
/// - `sum`: the lanes' result for the current word (unsigned for binary lanes, two's complement
///   for 8-bit lanes).
/// - `ren`, `taddr` (threshold mode; zero bits wide in scores mode): on a rising edge with `ren`
///   high the threshold ROM's address register takes `taddr`; `start = rom[address register]` is
///   the value a pass starts from (`-T`; 0 in scores mode).
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
    /// Threshold ROM address register enable.
    pub ren: Signal<In, Bit>,
    /// Threshold ROM address.
    pub taddr: Bus<In>,
    /// Output bit or score.
    pub result: Bus<Out>,
    _sum_signed: bool,
    _width: usize,
    _rom: Option<Memory>,
    _ta: usize,
    _acc: i64,
}

impl Accumulator {
    /// An accumulator of `width` bits (two's complement) for sums of `sum_bits` bits. With a
    /// threshold ROM (`width` bits wide, holding `-T` per pass) it is in threshold mode: a one-bit
    /// output and the `ren`/`taddr` inputs. However the Verilog reads the ROM (the legalizer's
    /// `RomForm`), the start value is the word of the address latched on the last `ren` edge.
    pub fn new(sum_bits: usize, sum_signed: bool, width: usize, rom: Option<Memory>) -> Self {
        let threshold = rom.is_some();
        Accumulator {
            clock: Signal::default(),
            en: Signal::default(),
            first: Signal::default(),
            sum: bus::bus(sum_bits),
            ren: Signal::default(),
            taddr: bus::bus(rom.as_ref().map_or(0, |m| m.addr.len())),
            result: bus::bus(if threshold { 1 } else { width }),
            _sum_signed: sum_signed,
            _width: width,
            _rom: rom,
            _ta: 0,
            _acc: 0,
        }
    }

    /// The threshold ROM, for writing its file (threshold mode).
    pub fn rom(&self) -> Option<&Memory> {
        self._rom.as_ref()
    }

    fn next(&self) -> i64 {
        let n = self.sum.len();
        let raw = bus::read_field(&self.sum, 0, n);
        let s = if self._sum_signed { words::sext(raw, n) } else { raw as i64 };
        let base = match &self._rom {
            _ if !self.first.val() => self._acc,
            Some(rom) => words::sext(rom.word(self._ta).first().copied().unwrap_or(0), self._width),
            None => 0,
        };
        blocks::mvtu::accumulate(base, s, self._width)
    }
}

impl Logic for Accumulator {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self.en.val() {
                self._acc = self.next();
            }
            if self.ren.val() {
                self._ta = bus::read_field(&self.taddr, 0, self.taddr.len()) as usize;
            }
        }
        let next = self.next();
        let w = self._width;
        let n = self.result.len();
        bus::write_field(&mut self.result, 0, n, blocks::mvtu::result(self._rom.is_some(), next, w));
    }

    fn connect(&mut self) {
        bus::connect(&mut self.result);
    }
}
