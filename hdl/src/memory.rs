//! A read-only memory initialised from a `$readmemh` file, with a synchronous read port.

use crate::bus::{self, Bus};
use crate::words;
pub use compiler::dataflow::MemStyle;
use rust_hdl::prelude::*;
use std::fmt::Write;

/// A `depth x width` ROM: `data <= mem[addr]` on a rising clock edge while `en` is high. The
/// Verilog reads its contents with `$readmemh` from `file`, which [`Memory::file_text`] writes; the
/// simulation reads the same words.
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

    /// The `$readmemh` text: one hex word per line.
    pub fn file_text(&self) -> String {
        self.slice_text(0, self._width)
    }

    fn slice_text(&self, lo: usize, width: usize) -> String {
        let mut s = String::new();
        for w in &self._words {
            let mut part = vec![0u64; words::words(width)];
            for b in 0..width {
                words::set(&mut part, b, 1, u64::from(words::bit(w, lo + b)));
            }
            s.push_str(&words::hex(&part, width));
            s.push('\n');
        }
        s
    }

    /// Column slices `(lowest bit, width)`: each its own memory in the Verilog, so that synthesis
    /// maps each to the blocks the legalizer counted.
    fn slices(&self) -> Vec<(usize, usize)> {
        let (w, cols) = (self._columns, self._width.div_ceil(self._columns));
        if cols <= 1 {
            return vec![(0, self._width)];
        }
        (0..cols).map(|k| (k * w, w.min(self._width - k * w))).collect()
    }

    fn slice_file(&self, k: usize) -> String {
        match self._file.strip_suffix(".mem") {
            Some(stem) => format!("{stem}_c{k}.mem"),
            None => format!("{}_c{k}", self._file),
        }
    }

    /// Every file the Verilog reads, `(name, $readmemh text)`: one, or one per column slice.
    pub fn files(&self) -> Vec<(String, String)> {
        let sl = self.slices();
        if sl.len() == 1 {
            return vec![(self._file.clone(), self.file_text())];
        }
        sl.iter().enumerate().map(|(k, &(lo, w))| (self.slice_file(k), self.slice_text(lo, w))).collect()
    }

    /// Word `a` (zeros past the end), little-endian `u64`s.
    pub fn word(&self, a: usize) -> Vec<u64> {
        self._words.get(a).cloned().unwrap_or_else(|| vec![0; words::words(self._width)])
    }

    /// Words.
    pub fn depth(&self) -> usize {
        self._words.len()
    }

    fn verilog(&self) -> String {
        let (w, d, a) = (self._width, self.depth().max(1), self.addr.len());
        let style = match self._style {
            MemStyle::Block => "(* rom_style = \"block\" *) ",
            // Yosys 0.23 maps a ROM to LUTs with "logic"; "distributed" finds no LUTRAM mapping for a
            // memory without a write port.
            MemStyle::Distributed => "(* rom_style = \"logic\" *) ",
            MemStyle::Auto => "",
        };
        let mut v = String::new();
        let _ = writeln!(v, "  wire {} addr_v = {};", bus::range(a), bus::pack("addr", a));
        // No initial value: Yosys cannot map a read port with one (the register is read only
        // after the first enabled edge).
        let _ = writeln!(v, "  reg {} q;", bus::range(w));
        let sl = self.slices();
        if sl.len() == 1 {
            let _ = writeln!(v, "  {style}reg {} mem [0:{}];", bus::range(w), d - 1);
            let _ = writeln!(v, "  initial $readmemh(\"{}\", mem);", self._file);
            let _ = writeln!(v, "  always @(posedge clock) if (en) q <= mem[addr_v];");
        } else {
            for (k, &(lo, sw)) in sl.iter().enumerate() {
                let _ = writeln!(v, "  {style}reg {} mem{k} [0:{}];", bus::range(sw), d - 1);
                let _ = writeln!(v, "  initial $readmemh(\"{}\", mem{k});", self.slice_file(k));
                let _ = writeln!(
                    v,
                    "  always @(posedge clock) if (en) q[{}:{lo}] <= mem{k}[addr_v];",
                    lo + sw - 1
                );
            }
        }
        let _ = writeln!(v, "  always @(*) begin");
        v.push_str(&bus::unpack("data", w, "q"));
        let _ = writeln!(v, "  end");
        v
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

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rom_is_cut_into_the_legalized_columns() {
        // 7168 x 14 in block RAM: the legalizer's two bits by 8192 words per RAMB18, seven columns.
        let ws: Vec<Vec<u64>> = (0..7168u64).map(|i| vec![i.wrapping_mul(0x9e37_79b9) & 0x3fff]).collect();
        let m = Memory::new(ws.clone(), 14, "w.mem", MemStyle::Block).with_columns(2);
        let files = m.files();
        assert_eq!(files.len(), 7);
        assert_eq!(files[6].0, "w_c6.mem");
        // Reassembled, the columns give back every word.
        for (i, w) in ws.iter().enumerate().step_by(97) {
            let mut back = 0u64;
            for (k, (_, text)) in files.iter().enumerate() {
                let line = text.lines().nth(i).expect("line");
                back |= words::parse_hex(line, 2).expect("hex")[0] << (2 * k);
            }
            assert_eq!(back, w[0], "word {i}");
        }
        let v = m.verilog();
        assert!(v.contains("q[13:12] <= mem6[addr_v]") && v.contains("$readmemh(\"w_c0.mem\", mem0)"), "{v}");
        // Uncut (the legalizer's columns as wide as the ROM), it stays whole.
        assert_eq!(Memory::new(ws.clone(), 14, "w.mem", MemStyle::Block).with_columns(14).files().len(), 1);
        assert_eq!(Memory::new(ws[..512].to_vec(), 14, "w.mem", MemStyle::Block).files().len(), 1);
    }

    #[test]
    fn memory_file_holds_the_simulated_words() {
        let ws: Vec<Vec<u64>> = (0..5u64).map(|i| vec![i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i]).collect();
        let m = Memory::new(ws.clone(), 70, "m.mem", MemStyle::Block);
        let back: Vec<Vec<u64>> =
            m.file_text().lines().map(|l| words::parse_hex(l, 70).expect("hex word")).collect();
        let masked: Vec<Vec<u64>> = ws.iter().map(|w| vec![w[0], w[1] & words::mask(6)]).collect();
        assert_eq!(back, masked);
        assert_eq!(m.addr.len(), 3, "5 words need 3 address bits");
    }
}
