//! A read-only memory initialised from a `$readmemh` file, with a synchronous read port.

use crate::bus::{self, Bus};
use crate::words;
pub use compiler::dataflow::MemStyle;
use rust_hdl::prelude::*;

/// A `depth x width` ROM: `data <= mem[addr]` on a rising clock edge while `en` is high. The
/// Verilog reads its contents with `$readmemh` from `file`, which [`crate::rtl::memory::Rom`]
/// writes; the simulation reads the same words.
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
    _file: String,
    _style: MemStyle,
    _columns: usize,
    _q: Vec<u64>,
}

impl Memory {
    /// A memory holding `words` (each `width` bits, little-endian `u64`s), named `file` in Verilog.
    pub fn new(words: Vec<Vec<u64>>, width: usize, file: &str, style: MemStyle) -> Self {
        let depth = words.len().max(1);
        Memory {
            clock: Signal::default(),
            en: Signal::default(),
            addr: bus::bus(words::ubits(depth as u64 - 1)),
            data: bus::bus(width),
            _q: vec![0; words::words(width)],
            _words: words,
            _width: width,
            _file: file.to_string(),
            _style: style,
            _columns: width,
        }
    }

    /// The same memory cut into column memories of `bits` bits (the last narrower), as the
    /// legalizer decided (`MvtuHw::wmem_column_bits`).
    pub fn with_columns(mut self, bits: usize) -> Self {
        self._columns = bits.max(1);
        self
    }

    /// The memory file's name.
    pub fn file(&self) -> &str {
        &self._file
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
