//! A PE's accumulator: sums the lanes' results over a pass and produces the output bit (the sign
//! of `sum - T`, the accumulator having started at `-T`), the k-bit multi-threshold output
//! (`bias` plus the number of thresholds met, from parallel comparators) or the score.
//!
//! In threshold mode the accumulator holds its PE's threshold ROM and registers the ROM's address,
//! not its word: the ROM's LUTs then sit in the same module as the adder that consumes them, and
//! synthesis can merge a small ROM into the adder's LUTs (about 3 LUTs per PE at 8 thresholds).

use crate::bus::{self, Bus};
use crate::memory::Memory;
use crate::words;
use blocks::mvtu::Finish;
use rust_hdl::prelude::*;

/// One PE's accumulator.
///
/// ### Inputs
/// - `clock`; `en`: take `acc_next` on the rising edge; `first`: the word starts a pass.
/// - `sum`: the lanes' result for the current word (unsigned for binary lanes, two's complement
///   for 8-bit lanes).
/// - `ren`, `taddr` (threshold and multi modes; zero bits wide in scores mode): on a rising edge
///   with `ren` high the threshold ROM's address register takes `taddr`; the word at the address
///   register holds the pass's `-T` (threshold mode: the value a pass starts from; 0 in the other
///   modes) or its `levels` thresholds `t_j` (multi mode).
///
/// ### Outputs
/// - `result`: [`blocks::mvtu::Finish::result`] of `acc_next = (first ? start : acc) + sum`:
///   `[acc_next >= 0]` (one bit) in threshold mode, `bias + #{j : acc_next >= t_j}` (k bits)
///   in multi mode, `acc_next` in scores mode.
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
    _finish: Finish,
    _rom: Option<Memory>,
    _ta: usize,
    _acc: i64,
}

impl Accumulator {
    /// An accumulator of `width` bits (two's complement) for sums of `sum_bits` bits with output
    /// stage `finish`. In threshold and multi modes it holds the threshold ROM (its words as
    /// [`compiler::dataflow::MvtuConfig::threshold_words`] makes them) and has the
    /// `ren`/`taddr` inputs. However the Verilog reads the ROM (the legalizer's `RomForm`), the
    /// word used is the one at the address latched on the last `ren` edge.
    pub fn new(sum_bits: usize, sum_signed: bool, width: usize, finish: Finish, rom: Option<Memory>) -> Self {
        Accumulator {
            clock: Signal::default(),
            en: Signal::default(),
            first: Signal::default(),
            sum: bus::bus(sum_bits),
            ren: Signal::default(),
            taddr: bus::bus(rom.as_ref().map_or(0, |m| m.addr.len())),
            result: bus::bus(finish.field_bits()),
            _sum_signed: sum_signed,
            _width: width,
            _finish: finish,
            _rom: rom,
            _ta: 0,
            _acc: 0,
        }
    }

    /// The threshold ROM, for writing its file (threshold and multi modes).
    pub fn rom(&self) -> Option<&Memory> {
        self._rom.as_ref()
    }

    /// The threshold word at the latched address (empty without a ROM).
    fn tword(&self) -> Vec<u64> {
        self._rom.as_ref().map_or_else(Vec::new, |rom| rom.word(self._ta))
    }

    fn next(&self, tword: &[u64]) -> i64 {
        let n = self.sum.len();
        let raw = bus::read_field(&self.sum, 0, n);
        let s = if self._sum_signed { words::sext(raw, n) } else { raw as i64 };
        let base = if self.first.val() { self._finish.start(tword) } else { self._acc };
        blocks::mvtu::accumulate(base, s, self._width)
    }
}

impl Logic for Accumulator {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self.en.val() {
                self._acc = self.next(&self.tword());
            }
            if self.ren.val() {
                self._ta = bus::read_field(&self.taddr, 0, self.taddr.len()) as usize;
            }
        }
        let tword = self.tword();
        let next = self.next(&tword);
        let n = self.result.len();
        bus::write_field(&mut self.result, 0, n, self._finish.result(next, &tword));
    }

    fn connect(&mut self) {
        bus::connect(&mut self.result);
    }
}
