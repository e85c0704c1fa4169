//! A read-only memory initialised from a `$readmemh` file, with a synchronous read port.

use crate::bus::{self, Bus};
use crate::words;
pub use compiler::dataflow::MemStyle;
use rust_hdl::prelude::*;

/// A `depth x width` ROM: `data <= mem[addr]` on a rising clock edge while `en` is high. Its
/// Verilog (with the `$readmemh` file of the same words, the legalized style and column slicing)
/// is [`crate::rtl::memory`].
///
/// ### Inputs
/// - `clock`, `en` (read enable, also the output hold), `addr`.
///
/// ### Outputs
/// - `data`: the word read on the last enabled edge (0 before the first).
#[derive(LogicBlock)]
pub struct Memory {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Read enable.
    pub en: Signal<In, Bit>,
    /// Word address.
    pub addr: Bus<In>,
    /// Registered read data.
    pub data: Bus<Out>,
    _words: Vec<Vec<u64>>,
    _width: usize,
    _q: Vec<u64>,
}

impl Memory {
    /// A memory holding `words` (each `width` bits, little-endian `u64`s).
    pub fn new(words: Vec<Vec<u64>>, width: usize) -> Self {
        let depth = words.len().max(1);
        Memory {
            clock: Signal::default(),
            en: Signal::default(),
            addr: bus::bus(words::ubits(depth as u64 - 1)),
            data: bus::bus(width),
            _q: vec![0; words::words(width)],
            _words: words,
            _width: width,
        }
    }

    /// Word `a` (zeros past the end), little-endian `u64`s.
    pub fn word(&self, a: usize) -> Vec<u64> {
        self._words.get(a).cloned().unwrap_or_else(|| vec![0; words::words(self._width)])
    }

    /// Words.
    pub fn depth(&self) -> usize {
        self._words.len()
    }
}

impl Logic for Memory {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            self._q = self.word(bus::read_field(&self.addr, 0, self.addr.len()) as usize);
        }
        bus::write(&mut self.data, &self._q);
    }

    fn connect(&mut self) {
        bus::connect(&mut self.data);
    }
}
