//! ROMs: the weight memories (a synchronous read port, `$readmemh` contents) and the column
//! slicing of a block-RAM ROM. The rust-hdl model of the same read port is
//! [`crate::memory::Memory`].

use super::builder::{cond, if_, if_else, nb, Module};
use super::Design;
use crate::words;
pub use compiler::dataflow::MemStyle;

/// The contents of a ROM: `words` of `width` bits, read from `file`.
#[derive(Clone, Debug)]
pub struct Rom {
    /// Words (little-endian `u64`s each).
    pub words: Vec<Vec<u64>>,
    /// Bits per word.
    pub width: usize,
    /// The `$readmemh` file (one per column slice: `stem_cK.mem`).
    pub file: String,
    /// Where synthesis should put it.
    pub style: MemStyle,
    /// The ROM is cut into column memories of this many bits (the last narrower), each mapped to
    /// its own blocks: the legalizer's `MvtuHw::wmem_column_bits`; `width` keeps it whole.
    pub columns: usize,
}

impl Rom {
    /// Words (at least 1 in the Verilog).
    pub fn depth(&self) -> usize {
        self.words.len().max(1)
    }

    /// Address bits.
    pub fn addr_bits(&self) -> usize {
        words::ubits(self.depth() as u64 - 1)
    }

    /// The `$readmemh` text of bits `lo..lo+width` of every word: one hex word per line.
    fn text(&self, lo: usize, width: usize) -> String {
        let mut s = String::new();
        for w in &self.words {
            let mut part = vec![0u64; words::words(width)];
            for b in 0..width {
                words::set(&mut part, b, 1, u64::from(words::bit(w, lo + b)));
            }
            s.push_str(&words::hex(&part, width));
            s.push('\n');
        }
        s
    }

    /// Column slices `(lowest bit, width)`, each its own memory in the Verilog, so that synthesis
    /// maps each to the blocks the legalizer counted.
    fn slices(&self) -> Vec<(usize, usize)> {
        let w = self.columns.max(1);
        let cols = self.width.div_ceil(w);
        if cols <= 1 {
            return vec![(0, self.width)];
        }
        (0..cols).map(|k| (k * w, w.min(self.width - k * w))).collect()
    }

    fn slice_file(&self, k: usize) -> String {
        match self.file.strip_suffix(".mem") {
            Some(stem) => format!("{stem}_c{k}.mem"),
            None => format!("{}_c{k}", self.file),
        }
    }

    /// Every file the Verilog reads, `(name, $readmemh text)`: one, or one per column slice.
    pub fn files(&self) -> Vec<(String, String)> {
        let sl = self.slices();
        if sl.len() == 1 {
            return vec![(self.file.clone(), self.text(0, self.width))];
        }
        sl.iter().enumerate().map(|(k, &(lo, w))| (self.slice_file(k), self.text(lo, w))).collect()
    }
}

/// Defined by a simulation that loads SPRAM weights through the board's loader: without it (and
/// without `SYNTHESIS`), an SPRAM weight memory starts with its words in place, so that the
/// accelerator's cosimulation runs as with a ROM. Synthesis never sees them: an SPRAM has no
/// initial contents, and an initialized memory would not map to one.
pub const LOADER_MACRO: &str = "XNORFLOW_SPRAM_LOADER";

/// Defines ROM module `name` (ports `clock`, `en`, `addr`, `data`: `data <= mem[addr]` on a
/// rising edge with `en`) in `d`, with its files.
pub fn define(d: &mut Design, name: String, rom: &Rom) -> String {
    d.define(name, |d, n| {
        for (f, text) in rom.files() {
            d.file(f, text);
        }
        module(n, rom)
    })
}

fn module(name: &str, rom: &Rom) -> Module {
    if rom.style == MemStyle::Spram {
        return spram_module(name, rom);
    }
    let (w, depth, a) = (rom.width, rom.depth(), rom.addr_bits());
    let attr = match rom.style {
        MemStyle::Block => Some(("rom_style", "block")),
        // Yosys 0.23 maps a ROM to LUTs with "logic"; "distributed" finds no LUTRAM mapping for a
        // memory without a write port.
        MemStyle::Distributed => Some(("rom_style", "logic")),
        MemStyle::Auto | MemStyle::Spram => None,
    };
    let mut m = Module::new(name);
    m.input("clock");
    let en = m.input("en");
    let addr = m.input_bus("addr", a);
    let data = m.output_bus("data", w);
    // No initial value: Yosys cannot map a read port with one (the register is read only after
    // the first enabled edge).
    let q = m.reg("q", w, None);
    let sl = rom.slices();
    if sl.len() == 1 {
        let mem = m.memory("mem", w, depth, attr, Some(&rom.file));
        m.always("clock", vec![if_(en, vec![nb(q.clone(), mem.at(addr))])]);
    } else {
        for (k, &(lo, sw)) in sl.iter().enumerate() {
            let mem = m.memory(&format!("mem{k}"), sw, depth, attr, Some(&rom.slice_file(k)));
            m.always(
                "clock",
                vec![if_(en.clone(), vec![nb(q.clone().slice(lo + sw - 1, lo), mem.at(addr.clone()))])],
            );
        }
    }
    m.assign(data, q);
    m
}

/// The SPRAM form: a single-port RAM with the ROM's ports and read (`data <= mem[addr]` on a
/// rising edge with `en`), plus the loader's write port (`load_we`, `load_addr`, `load_data`).
/// The one address is muxed between the loader and the controller, and a write leaves the read
/// register unchanged (SB_SPRAM256KA's `no_change`), which is what `synth_ice40 -spram` maps to
/// SPRAM (measured with Yosys 0.23: one SB_SPRAM256KA and 15 LUT4 at 12544 x 16). The words are preloaded only in simulation without [`LOADER_MACRO`].
fn spram_module(name: &str, rom: &Rom) -> Module {
    let (w, depth, a) = (rom.width, rom.depth(), rom.addr_bits());
    let mut m = Module::new(name);
    m.input("clock");
    let en = m.input("en");
    let addr = m.input_bus("addr", a);
    let data = m.output_bus("data", w);
    let we = m.input("load_we");
    let load_addr = m.input_bus("load_addr", a);
    let load_data = m.input_bus("load_data", w);
    let q = m.reg("q", w, None);
    // "huge" makes Yosys take SPRAM whatever its cost table says: left alone, it prices two
    // SPRAMs above 50 EBRs and would put a 6272 x 32 memory in EBR.
    let attr = Some(("ram_style", "huge"));
    let mem = m.memory_unless("mem", w, depth, attr, &rom.file, &["SYNTHESIS", LOADER_MACRO]);
    let at = m.wire("a", a, cond(we.clone(), load_addr, addr));
    m.always(
        "clock",
        vec![if_else(
            we,
            vec![nb(mem.clone().at(at.clone()), load_data)],
            vec![if_(en, vec![nb(q.clone(), mem.at(at))])],
        )],
    );
    m.assign(data, q);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use compiler::passes::legalize;

    #[test]
    fn a_one_block_deep_block_rom_is_cut_into_block_wide_columns() {
        // 7168 x 14: the legalizer's two bits by 8192 words per RAMB18, seven columns.
        let ws: Vec<Vec<u64>> = (0..7168u64).map(|i| vec![i.wrapping_mul(0x9e37_79b9) & 0x3fff]).collect();
        let rom = |ws: Vec<Vec<u64>>, style| {
            let mem = legalize::weight_mem(style, ws.len(), 14);
            Rom {
                words: ws,
                width: 14,
                file: "w.mem".into(),
                style: mem.style(),
                columns: legalize::column_bits(&mem, 14),
            }
        };
        let m = rom(ws.clone(), MemStyle::Block);
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
        let mut d = Design::new("t");
        define(&mut d, "t".into(), &m);
        let v = d.verilog();
        assert!(v.contains("q[13:12] <= mem6[addr]") && v.contains("$readmemh(\"w_c0.mem\", mem0)"), "{v}");
        assert_eq!(d.files.len(), 7);
        // A LUT ROM, or one that fits a single block, stays whole.
        assert_eq!(rom(ws.clone(), MemStyle::Distributed).files().len(), 1);
        assert_eq!(rom(ws[..512].to_vec(), MemStyle::Block).files().len(), 1);
    }

    #[test]
    fn an_spram_memory_is_a_single_port_ram_preloaded_only_in_simulation() {
        let ws: Vec<Vec<u64>> = (0..12544u64).map(|i| vec![i & 0xffff]).collect();
        let mem = legalize::weight_mem(MemStyle::Spram, ws.len(), 16);
        assert_eq!(mem, compiler::dataflow::WeightMem::Spram { cols: 1, rows: 1 });
        let rom = Rom {
            words: ws,
            width: 16,
            file: "w.mem".into(),
            style: mem.style(),
            columns: legalize::column_bits(&mem, 16),
        };
        assert_eq!(rom.files().len(), 1, "an SPRAM memory stays whole");
        let mut d = Design::new("t");
        define(&mut d, "t".into(), &rom);
        let v = d.verilog();
        assert!(v.contains("wire [13:0] a = load_we ? load_addr : addr;"), "{v}");
        assert!(v.contains("if (load_we) begin\n    mem[a] <= load_data;"), "{v}");
        assert!(v.contains("q <= mem[a];"), "{v}");
        assert!(
            v.contains(
                "`ifndef SYNTHESIS\n`ifndef XNORFLOW_SPRAM_LOADER\n  initial $readmemh(\"w.mem\", mem);\n`endif\n`endif"
            ),
            "{v}"
        );
        assert!(v.contains("(* ram_style = \"huge\" *) reg [15:0] mem [0:12543];"), "{v}");
    }

    #[test]
    fn memory_file_holds_the_words() {
        let ws: Vec<Vec<u64>> = (0..5u64).map(|i| vec![i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i]).collect();
        let m = Rom {
            words: ws.clone(),
            width: 70,
            file: "m.mem".into(),
            style: MemStyle::Distributed,
            columns: 70,
        };
        let files = m.files();
        let back: Vec<Vec<u64>> =
            files[0].1.lines().map(|l| words::parse_hex(l, 70).expect("hex word")).collect();
        let masked: Vec<Vec<u64>> = ws.iter().map(|w| vec![w[0], w[1] & words::mask(6)]).collect();
        assert_eq!(back, masked);
        assert_eq!(m.addr_bits(), 3, "5 words need 3 address bits");
    }
}
