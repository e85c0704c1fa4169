//! The cost model for Lattice iCE40 as Yosys 0.23 `synth_ice40` maps xnorflow's Verilog: LUT4s,
//! carry cells, flip-flops, 4 Kbit EBRs (SB_RAM40_4K) and, on the UltraPlus parts, 256 Kbit SPRAMs,
//! per node of the dataflow graph, from the same graph the 7-series model counts.
//!
//! Three things make iCE40 differ from 7-series beyond the LUT size. There is no LUT RAM: a FIFO
//! (read combinationally) becomes a flip-flop per bit and a read multiplexer in LUT4s, and every
//! memory with a registered read (weight ROMs, an MVTU's input buffer) becomes EBR whatever its
//! size. An EBR is 256 x 16, 512 x 8, 1024 x 4 or 2048 x 2 bits, and each column of a weight ROM
//! that the legalizer cut for RAMB18s is its own memory, mapped on its own. And a LUT4 holds a
//! quarter of a LUT6's function: a threshold ROM bit covers 16 words, not 64.
//!
//! The constants are fitted on Yosys per node (`xnorflow synth --arch ice40`): the demo's digits
//! design and an MNIST SFC (`results/ice40_estimate_vs_synth.csv`, checked by
//! `compiler/tests/ice40_estimate.rs`); each says which rows it was fitted on.

use super::super::{
    ubits, width, Flags, Graph, LaneInput, MvtuConfig, MvtuHw, MvtuOutput, Node, NodeKind, PerNode,
    PoolConfig, Popcount, RomForm, SwuConfig, SwuHw, WeightMem,
};
use super::adder_tree_luts;
use crate::model::{Layer, Model};
use crate::passes::legalize;
use serde::{Deserialize, Serialize};

/// Estimated iCE40 resources and timing of one node or a whole design.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ice40Cost {
    /// LUT4s (SB_LUT4).
    pub lut4: u64,
    /// Carry cells (SB_CARRY); each sits in the logic cell of a LUT4.
    pub carry: u64,
    /// Flip-flops (SB_DFF*).
    pub dff: u64,
    /// 4 Kbit block RAMs (SB_RAM40_4K).
    pub ebr: u64,
    /// 256 Kbit single-port RAMs (SB_SPRAM256KA).
    pub spram: u64,
    /// Flip-flops and carry cells that nextpnr cannot pack into the logic cell of one of the
    /// node's LUT4s, so each takes a cell of its own ([`Ice40Cost::lc`]).
    #[serde(default)]
    pub unpaired: u64,
    /// LUT4s of the node that Yosys removes once it flattens the design for nextpnr (logic
    /// shared across the node's modules), which [`Ice40Cost::lc`] leaves out.
    #[serde(default)]
    pub merged: u64,
    /// Cycles per frame in steady state.
    pub cycles: u64,
    /// Cycles from a frame's first input word to its last output word when nothing stalls.
    pub latency: u64,
}

impl std::ops::Add for Ice40Cost {
    type Output = Ice40Cost;
    fn add(self, o: Ice40Cost) -> Ice40Cost {
        Ice40Cost {
            lut4: self.lut4 + o.lut4,
            carry: self.carry + o.carry,
            dff: self.dff + o.dff,
            ebr: self.ebr + o.ebr,
            spram: self.spram + o.spram,
            unpaired: self.unpaired + o.unpaired,
            merged: self.merged + o.merged,
            cycles: self.cycles.max(o.cycles),
            latency: self.latency + o.latency,
        }
    }
}

impl Ice40Cost {
    /// Logic cells nextpnr will place: every LUT4 (a carry or a flip-flop fed by it shares its
    /// cell), plus the flip-flops and carries that have no LUT4 of their own to share one with.
    pub fn lc(&self) -> u64 {
        self.lut4.saturating_sub(self.merged) + self.unpaired
    }
}

/// Bits of one EBR (SB_RAM40_4K).
pub const EBR_BITS: u64 = 4096;

/// The EBR aspects, `(bits, words)`.
pub const EBR_ASPECTS: [(usize, usize); 4] = [(16, 256), (8, 512), (4, 1024), (2, 2048)];

/// EBRs of one `depth x width` memory: the aspect with the fewest blocks.
pub fn ebr(depth: usize, width: usize) -> u64 {
    EBR_ASPECTS.iter().map(|&(w, d)| (width.div_ceil(w) * depth.div_ceil(d)) as u64).min().unwrap_or(0)
}

/// EBRs of a weight ROM built as `hw` says: each column the legalizer cut is its own memory.
fn wmem_ebr(depth: usize, width: usize, hw: &MvtuHw) -> u64 {
    let col = hw.wmem_column_bits.clamp(1, width.max(1));
    let (full, rest) = (width / col, width % col);
    full as u64 * ebr(depth, col) + if rest > 0 { ebr(depth, rest) } else { 0 }
}

/// LUT4s per lane of a binary compressor popcount with its XNORs, at SIMD 2, 4, 16, 32, 49 (the
/// demo's and the SFC's lanes modules in Yosys), interpolated in log2(SIMD).
fn compressor_per_lane(simd: usize) -> f64 {
    const POINTS: [(f64, f64); 5] = [(1.0, 1.0), (2.0, 1.75), (4.0, 2.31), (5.0, 2.56), (5.615, 2.63)];
    let x = (simd.max(2) as f64).log2();
    for w in POINTS.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    POINTS[POINTS.len() - 1].1
}

/// LUT4s and carry cells of one PE's lanes.
pub fn lanes(simd: usize, input: LaneInput, popcount: Popcount) -> (u64, u64) {
    match (input, popcount) {
        (LaneInput::Binary, Popcount::Compressor) => (
            (simd as f64 * compressor_per_lane(simd)).round() as u64,
            ubits(simd as u64).saturating_sub(1) as u64,
        ),
        // Not measured on iCE40: an XNOR per lane, then one LUT4 and one carry per adder bit.
        (LaneInput::Binary, Popcount::AdderTree) => {
            let tree = adder_tree_luts(vec![(0, 1); simd], false);
            (simd as u64 + tree, tree)
        }
        // A k-bit term is a conditional negation, `(x ^ s) + s`: a LUT4 for the XOR and one for the
        // increment per bit, of which Yosys folds three per lane into the tree; the signed adder
        // tree then takes 1.75 LUT4 per result bit (sign extension); one carry per adder bit and
        // k - 2 per lane (the demo's 8-bit L1: 258 LUT4, 123 carries; the int2, int4 and uint8
        // units of `results/ice40_blocks.csv`).
        (LaneInput::Int { bits, .. }, _) => {
            let k = u64::from(bits);
            let tree = adder_tree_luts(vec![input.lane_range(); simd], true);
            (
                (2 * k).saturating_sub(3).max(1) * simd as u64 + (7 * tree).div_ceil(4),
                tree + k.saturating_sub(2) * simd as u64,
            )
        }
    }
}

/// A threshold ROM read into a register: `(LUT4s, register bits)`. Per distinct column that
/// varies, a LUT4 per 16-word chunk that varies and a 2:1 multiplexer LUT4 per chunk beyond the
/// first; constant columns are constants and identical ones are shared, in the ROM and in the
/// register.
fn rom_lut4(words: &[Vec<u64>], bits: usize) -> (u64, u64) {
    let mut cols: std::collections::HashSet<Vec<bool>> = std::collections::HashSet::new();
    for b in 0..bits {
        let col: Vec<bool> = words.iter().map(|w| width::bit(w, b)).collect();
        if col.iter().any(|&x| x != col[0]) {
            cols.insert(col);
        }
    }
    let varies = |c: &[bool]| c.iter().any(|&x| x != c[0]);
    let luts = cols
        .iter()
        .map(|c| {
            let chunks = c.chunks(16).filter(|k| varies(k)).count() as u64;
            chunks + chunks.saturating_sub(1)
        })
        .sum();
    (luts, cols.len() as u64)
}

/// A threshold ROM whose words are unknown: every column varies in every chunk.
fn rom_lut4_any(nf: usize, bits: usize) -> (u64, u64) {
    let chunks = nf.div_ceil(16) as u64;
    (bits as u64 * (2 * chunks - 1), bits as u64)
}

/// The estimate for one MVTU built as `hw` says, with its thresholds when known.
pub fn mvtu_with(cfg: &MvtuConfig, hw: &MvtuHw, thresholds: Option<&[i32]>) -> Ice40Cost {
    let (sf, nf, pe) = (cfg.sf(), cfg.nf(), cfg.pe as u64);
    let (iw, ow) = (cfg.in_bits(), cfg.out_bits());
    let rw = cfg.reg_bits() as u64;
    let depth = sf * nf;
    let mut c =
        Ice40Cost { cycles: depth as u64, latency: (depth + hw.latency) as u64, ..Ice40Cost::default() };
    let (ll, lc) = lanes(cfg.simd, cfg.input, cfg.popcount);
    c.lut4 += pe * ll;
    c.carry += pe * lc;
    // The accumulator: an adder and its register, a carry per bit but the last. With thresholds,
    // the ROM, the comparison and the accumulator are fitted together (least squares on the
    // accumulator modules of the demo's L1 and L2 and the SFC's L1 to L3): Yosys merges ROM
    // bits into the comparison's LUT4s (0.815 LUT4 per counted ROM LUT4), and the accumulator
    // with its comparison takes 1.6 LUT4 per bit for a popcount's sum, 2.9 for a signed sum
    // of integer lanes. Scores: the adder and its sign extension, 2 LUT4 per bit.
    let int = matches!(cfg.input, LaneInput::Int { .. });
    c.carry += pe * rw.saturating_sub(1);
    c.dff += pe * rw;
    if cfg.has_tmem() {
        let tw = cfg.tmem_bits();
        let (rom, cols) = match thresholds {
            Some(t) if t.len() == cfg.mh * cfg.output.levels() => (0..cfg.pe)
                .map(|p| rom_lut4(&cfg.threshold_words(t, p), tw))
                .fold((0, 0), |(a, b), (x, y)| (a + x, b + y)),
            _ => {
                let (l, r) = rom_lut4_any(nf, tw);
                (pe * l, pe * r)
            }
        };
        let per_bit = if int { 2.9 } else { 1.6 };
        c.lut4 += (0.815 * rom as f64 + per_bit * (pe * rw) as f64).round() as u64;
        // A registered word holds its varying columns; a registered address its bits.
        c.dff += match hw.trom {
            Some(RomForm::RegisteredAddress) => pe * ubits(nf as u64 - 1) as u64,
            _ => cols,
        };
    } else {
        c.lut4 += pe * (2 * rw).saturating_sub(1);
    }
    // Weight memory: EBR, or a LUT4 ROM of 16 words per LUT4 and its multiplexers.
    match hw.wmem {
        WeightMem::Block { .. } => c.ebr += pe * wmem_ebr(depth, cfg.simd, hw),
        WeightMem::Distributed => {
            c.lut4 += pe * rom_lut4_any(depth, cfg.simd).0;
            c.dff += pe * cfg.simd as u64;
        }
        // SB_SPRAM256KA blocks (their read register is the block's own), and the single port's
        // address multiplexer between the loader and the controller, one LUT4 per address bit,
        // plus the clock enable (`en | load_we`): Yosys' synth_ice40 -spram on the memory module
        // alone gives 15 LUT4 at 12544 x 16, 14 at 6272 x 32, 13 at 4096 x 16.
        WeightMem::Spram { .. } => {
            c.spram += pe * hw.wmem.spram() as u64;
            c.lut4 += pe * (ubits(depth as u64 - 1).max(1) as u64 + 1);
        }
    }
    // Controller: the input buffer and its bypass multiplexer, the counters, the input and
    // output registers (the six controller modules of the demo and the SFC). Yosys puts a buffer
    // of more than four words in EBR, one of four or fewer in flip-flops read through a
    // multiplexer, as a FIFO's (`results/ice40_blocks.csv`: SF = 4 in flip-flops, 5 to 16 in EBR).
    let counters = (ubits(sf as u64 - 1) + ubits(nf as u64 - 1) + ubits(depth as u64 - 1)) as u64;
    if nf > 1 {
        c.lut4 += iw as u64;
        if sf > SMALL_BUFFER_WORDS {
            c.ebr += ebr(sf, iw);
        } else {
            c.lut4 += fifo_mux(sf, iw) + sf as u64;
            c.dff += (sf * iw) as u64;
        }
    }
    c.lut4 += (3 * counters).div_ceil(2) + 12;
    c.carry += counters.saturating_sub(6);
    c.dff += (iw + ow) as u64 + counters + 6;
    // The pipeline stages: each cut's register (the input word and the weight address, the
    // lane terms), every PE's sum per stage on the sums, and the word's valid, first and last
    // bits and its pass (the threshold address) beside them; flip-flops with the controller's
    // enable, no logic.
    c.dff += cfg.pipeline_bits(hw) as u64;
    c
}

/// An MVTU's estimate over a frame of `vectors` vectors.
fn repeated(c: Ice40Cost, hw: &MvtuHw, vectors: usize) -> Ice40Cost {
    let v = vectors.max(1) as u64;
    Ice40Cost { cycles: c.cycles * v, latency: c.cycles * v + hw.latency as u64, ..c }
}

/// [`mvtu_with`] with its logic-cell packing: the flip-flops and carries that take a cell of
/// their own ([`mvtu_unpaired`]) and, for integer lanes, the LUT4s Yosys shares once it
/// flattens the lanes into the accumulator ([`INT_LANES_MERGED_PCT`]).
pub fn mvtu_packed(cfg: &MvtuConfig, hw: &MvtuHw, thresholds: Option<&[i32]>) -> Ice40Cost {
    let mut c = mvtu_with(cfg, hw, thresholds);
    c.unpaired = mvtu_unpaired(cfg, hw);
    if matches!(cfg.input, LaneInput::Int { .. }) {
        let lanes_lut4 = cfg.pe as u64 * lanes(cfg.simd, cfg.input, cfg.popcount).0;
        c.merged = lanes_lut4 * INT_LANES_MERGED_PCT / 100;
    }
    c
}

/// The share (percent) of integer lanes' LUT4s that Yosys removes when the design is flattened
/// (nextpnr's netlist) against the same MVTU synthesized with its hierarchy kept (what
/// [`lanes`] counts). Fitted on the MVTUs with integer lanes, each synthesized alone and packed
/// by nextpnr (`results/ice40_lc.csv`): the demo's L1 (uint8, SIMD 8) and resnet-digits' L7
/// (int8, SIMD 1).
const INT_LANES_MERGED_PCT: u64 = 30;

/// Flip-flops and carries of an MVTU that no LUT4 of their own feeds (nextpnr gives each a
/// logic cell): the input word register (loaded from the stream as it is), an input buffer in
/// flip-flops, the pipeline stages' delayed control (valid, first, last and the threshold
/// address, copied from register to register; the sums beside them come from the adders'
/// LUT4s), a scores output register (copied from the accumulator), for a k-bit multi-threshold
/// output a carry chain per threshold comparison of the accumulator (a comparison uses only the
/// chain's carry out, so its carries have no LUT4 to share), for integer lanes a register bit
/// per input bit and PE, and the controller's and accumulator's registers loaded from a shared
/// value, [`MVTU_UNPAIRED`] per unit. Fitted on the MVTUs of demo, sfc, demo-up5k and cnn-digits
/// in `results/ice40_lc.csv` (each synthesized alone, packed by `nextpnr-ice40 --pack-only`), the
/// multi-threshold term on resnet-digits' five; sfc-spram's four were measured after the fit.
pub fn mvtu_unpaired(cfg: &MvtuConfig, hw: &MvtuHw) -> u64 {
    let (sf, nf, pe) = (cfg.sf(), cfg.nf(), cfg.pe as u64);
    let iw = cfg.in_bits() as u64;
    let buffer = if nf > 1 && sf <= SMALL_BUFFER_WORDS { sf as u64 * iw } else { 0 };
    let pass_bits = if cfg.has_tmem() { ubits(nf as u64 - 1) as u64 } else { 0 };
    let delay = hw.stages() as u64 * (3 + pass_bits);
    let output = match cfg.output {
        MvtuOutput::Scores => cfg.out_bits() as u64,
        MvtuOutput::Multi { levels, .. } => pe * levels as u64 * cfg.reg_bits() as u64,
        MvtuOutput::Threshold => 0,
    };
    let int = match cfg.input {
        LaneInput::Int { bits, .. } => pe * u64::from(bits),
        LaneInput::Binary => 0,
    };
    iw + buffer + delay + output + int + MVTU_UNPAIRED
}

/// The controller's and accumulator's flip-flops of an MVTU that nextpnr cannot pair (see
/// [`mvtu_unpaired`]).
const MVTU_UNPAIRED: u64 = 18;

/// The most words of an MVTU input buffer that Yosys keeps in flip-flops rather than EBR.
const SMALL_BUFFER_WORDS: usize = 4;

/// LUT4s of the `depth`:1 read multiplexers of `width` bits of a memory in flip-flops: 0.8 LUT4
/// per input beyond the first.
fn fifo_mux(depth: usize, width: usize) -> u64 {
    (4 * (width * depth.saturating_sub(1)) as u64).div_ceil(5)
}

/// A FIFO of `depth` words of `width` bits read combinationally: flip-flops for the words, the
/// read multiplexers ([`fifo_mux`]), a LUT4 per word of write decoding and 13.5 per pointer bit
/// for the three pointers, less 20 (least squares over the eleven FIFOs of
/// `results/ice40_blocks.csv` and the five of the demo and the SFC gave 0.78 LUT4 per
/// multiplexer input; 0.8 puts the 32 x 10 FIFO, which Yosys maps to 266 LUT4 in the demo and
/// to 300 and 301 alone and in the demo folded for the UP5K, within 10% of all three).
pub fn fifo(depth: usize, width: usize, words: usize) -> Ice40Cost {
    let aw = ubits(depth as u64 - 1) as u64;
    Ice40Cost {
        // The fit's constant takes a two-word FIFO below zero; Yosys' smallest are 13 LUT4 and
        // one per bit (a 2 x 1 FIFO: 14).
        lut4: (fifo_mux(depth, width) + depth as u64 + (27 * aw).div_ceil(2))
            .saturating_sub(20)
            .max(13 + width as u64),
        carry: 3 * aw - 1,
        dff: (depth * width) as u64 + 3 * aw,
        // Every storage bit is written from the input word, which feeds all the words: none
        // has a LUT4 of its own. And a few pointer and count bits (FIFO_POINTERS_UNPAIRED).
        unpaired: (depth * width) as u64 + (aw + FIFO_POINTERS_UNPAIRED.0).min(FIFO_POINTERS_UNPAIRED.1),
        cycles: words as u64,
        latency: 1,
        ..Ice40Cost::default()
    }
}

/// The pointer and count flip-flops and carries of a FIFO in flip-flops that nextpnr cannot
/// pair, `min(address bits + .0, .1)`: fitted on the FIFOs of `results/ice40_lc.csv` (2 to 74
/// words, 1 to 32 bits; 4 to 9 beyond the storage).
const FIFO_POINTERS_UNPAIRED: (u64, u64) = (4, 9);

/// A FIFO of `depth` words of `width` bits in EBR ([`crate::passes::legalize::fifo_ram`]): the
/// blocks; the pointers, the count and the read address after the edge (the EBR's read address
/// register); the registers of the EBR's output and of the word written as it is read, and the
/// multiplexer between them, about two LUT4 and two flip-flops per bit. Fitted on the 13 EBR
/// FIFOs of `results/ice40_blocks.csv` (1 to 64 bits, 64 to 2,000 words): LUT4 within 10%,
/// flip-flops within 2.
pub fn fifo_ebr(depth: usize, width: usize, words: usize) -> Ice40Cost {
    let (aw, w) = (ubits(depth as u64 - 1) as u64, width as u64);
    Ice40Cost {
        lut4: 2 * w + 8 * aw + 19,
        carry: (4 * aw).saturating_sub(6),
        dff: 4 * aw + 2 * w + 4,
        ebr: ebr(depth, width),
        // The EBR's output register and the word written as it is read are copies.
        unpaired: 2 * w + FIFO_EBR_UNPAIRED,
        cycles: words as u64,
        latency: 1,
        ..Ice40Cost::default()
    }
}

/// The pointer flip-flops and carries of a FIFO in EBR that nextpnr cannot pair, beyond its two
/// word registers. The EBR FIFOs are measured only inside resnet-digits' adds, whose rows (A2,
/// A3, A5 in `results/ice40_lc.csv`) give 28 cells beyond the FIFO's word registers for the
/// FIFO and the add together: split as 10 here and [`ADD_UNPAIRED`].
const FIFO_EBR_UNPAIRED: u64 = 10;

/// The estimate for a sliding-window unit: its ring in EBR (any ring: iCE40 has no LUT RAM,
/// [`legalize::swu_for`]); the counters, address arithmetic and pad multiplexer at 1.67 LUT4 per
/// 7-series LUT6 (their comparisons and sums are carry chains of the arithmetic width on iCE40,
/// 7 per bit, 10 with padding); the 7-series registers, the ring's read register and the output
/// word. Fitted (least squares) on the seven window units of the digits CNN and ResNet in
/// `results/ice40_estimate_vs_synth.csv`, pipelined designs (LUT4 -6% to +9%: resnet-digits' S5
/// reads 154 and 148 LUT4 in two runs of the same Verilog; flip-flops within 1).
pub fn swu(c: &SwuConfig) -> Ice40Cost {
    let x = super::swu_with(c, &SwuHw { ring: super::super::MemStyle::Block });
    let (depth, width) = (c.ring_words(), c.bits());
    Ice40Cost {
        lut4: (167 * x.lut).div_ceil(100),
        carry: (c.arith_bits() * if c.pad > 0 { 10 } else { 7 }) as u64,
        dff: x.ff + 2 * width as u64 + 4,
        ebr: ebr(depth, width),
        // The ring's read register, the output word and the row and column counters are
        // loaded from shared values or from each other; only a few bits have their own LUT4.
        unpaired: (x.ff + 2 * width as u64 + 4).saturating_sub(SWU_PAIRED),
        cycles: x.cycles,
        latency: x.latency,
        ..Ice40Cost::default()
    }
}

/// The flip-flops of a window unit that nextpnr pairs with a LUT4 (the rest take a cell each):
/// fitted on the window units of `results/ice40_lc.csv`.
const SWU_PAIRED: u64 = 5;

/// The estimate for a max-pool unit: its row buffer in flip-flops and a multiplexer (no LUT RAM),
/// the combine logic and counters as on 7-series. Not measured on iCE40.
pub fn pool(c: &PoolConfig) -> Ice40Cost {
    let x = super::pool(c);
    let (depth, width) = (c.ow() * c.cf(), c.bits());
    let store = fifo(depth.max(1), width, 0);
    Ice40Cost {
        lut4: x.lut - super::lutram_sp_luts(depth, width) + store.lut4,
        carry: 0,
        dff: x.ff + (depth * width) as u64,
        // The row buffer is a FIFO's storage; the other registers take the combined word.
        unpaired: (x.ff + (depth * width) as u64).saturating_sub(POOL_PAIRED),
        cycles: x.cycles,
        latency: x.latency,
        ..Ice40Cost::default()
    }
}

/// The flip-flops of a max-pool unit that nextpnr pairs with a LUT4: fitted on the pools of
/// `results/ice40_lc.csv`.
const POOL_PAIRED: u64 = 6;

/// The estimate for any node.
pub fn node(n: &Node) -> Ice40Cost {
    node_with(n, None)
}

fn node_with(n: &Node, thresholds: Option<&[i32]>) -> Ice40Cost {
    let same = |lut4, carry, dff, unpaired| Ice40Cost {
        lut4,
        carry,
        dff,
        unpaired,
        cycles: n.cycles() as u64,
        latency: 1,
        ..Ice40Cost::default()
    };
    match &n.kind {
        NodeKind::Mvtu { cfg, vectors, hw, .. } => {
            let hw = hw.unwrap_or_else(|| legalize::mvtu(cfg));
            repeated(mvtu_packed(cfg, &hw, thresholds), &hw, *vectors)
        }
        NodeKind::Swu { cfg, .. } => swu(cfg),
        NodeKind::Pool { cfg } => pool(cfg),
        // Registered flags: two flip-flops more, each loaded from its compare's LUT4.
        NodeKind::Fifo { depth, ram, flags } => {
            let store = match ram {
                super::super::MemStyle::Block => fifo_ebr(*depth, n.in_bits, n.in_words),
                _ => fifo(*depth, n.in_bits, n.in_words),
            };
            Ice40Cost { dff: flags.flip_flops(), ..Ice40Cost::default() } + store
        }
        // A register of input plus output width and its counter; the LUT4s are least-squares
        // fits over the 13 converters of `results/ice40_blocks.csv`: a wider word in shifts
        // into place (2.75 LUT4 per output bit; a ratio that is not whole costs 4 per input bit
        // more), a narrower word out is selected from the register.
        NodeKind::WidthConverter { flags } => {
            let (i, o) = (n.in_bits as u64, n.out_bits as u64);
            let lut4 = if i <= o {
                (11 * o + 2 * i).div_ceil(4) + 5 + if o % i != 0 { 4 * i } else { 0 }
            } else if i % o == 0 {
                // A whole ratio: each input bit through a select of log2(ratio) levels, 2.18
                // LUT4 per bit and level, and 14 for the counter (the four 4:1 converters of
                // `results/ice40_blocks.csv` and resnet-digits' 2:1 W7, 47 LUT4).
                (218 * i * ubits(i / o - 1) as u64).div_ceil(100) + 14
            } else {
                ((486 * i + 442 * ubits(i + o) as u64) / 100).saturating_sub((296 * o) / 100)
            };
            // Most register bits are loaded through a LUT4 of their own (a shift or a select);
            // the counter and control are not (DWC_UNPAIRED).
            // (its counter and control, about one cell per input word of an output word, at
            // most eight; three for a narrowing converter).
            let unpaired = if i <= o { (o / i).clamp(2, DWC_UNPAIRED) } else { 3 };
            same(lut4, if i <= o && o / i >= 8 { 5 } else { 1 }, i + o + 3 + flags.flip_flops(), unpaired)
        }
        // Registers as on 7-series. The duplicate's and the pad's registers copy the input
        // word, so none has a LUT4 of its own, and two control bits neither (resnet-digits'
        // duplicates: 20 and 36 cells beyond 18 and 34 LUT4s).
        NodeKind::Duplicate => {
            let x = super::node(n);
            same(DUP_LUT4, 0, x.ff, x.ff + 2)
        }
        NodeKind::ChannelPad { .. } => {
            let x = super::node(n);
            same(x.lut, 0, x.ff, x.ff + 2)
        }
        // Each output bit is an input's sign bit inverted on its way into the register, a LUT4
        // of its own (Yosys keeps the inversion out of the flip-flop), plus the control
        // (SIGN_CONTROL_LUT4); three control cells have no LUT4 in resnet-digits' sign nodes.
        NodeKind::Sign { .. } => {
            let x = super::node(n);
            same(n.out_bits as u64 + SIGN_CONTROL_LUT4, 0, x.ff, x.ff.min(3))
        }
        // The adders and output register as on 7-series, and the bypass chain's nodes as iCE40
        // builds them (its FIFOs in flip-flops or EBR, not LUT RAM).
        NodeKind::Add { .. } => {
            let s = super::shortcut(n).unwrap_or_default();
            let by = n.bypass().iter().map(node).fold(Ice40Cost::default(), |a, b| a + b);
            Ice40Cost {
                lut4: s.add_lut + by.lut4,
                dff: n.out_bits as u64 + 1 + by.dff,
                // The saturated sums' register is fed by the adders' LUT4s.
                unpaired: by.unpaired + ADD_UNPAIRED,
                cycles: (n.in_words as u64).max(by.cycles),
                latency: 1,
                ..by
            }
        }
        // The running maximum: per score a comparator on the carry chain, the select of the
        // best score and the index multiplexer. A least-squares fit in the score's width on the
        // three argmax modules of `results/ice40_estimate_vs_synth.csv`, each synthesized alone
        // (10 scores of 7, 9 and 16 bits: 33, 35 and 51 LUT4; 2.07 per bit and 17.6). ABC maps
        // the same module several ways depending only on the names in its Yosys session (the
        // 9-bit one 29 to 39 LUT4, the 16-bit one 37 in resnet-digits' whole synthesis); the
        // counts alone are the common ones: read after a dummy module of 0 to 80 wires, the
        // 9-bit module is 35 in 37 of 41 sessions (else 29), the 16-bit one 51 (else 37).
        // All three have one PE and 4 index bits: the slope per score bit is fitted, how the
        // constant splits into PEs and index bits is not (an argmax of several PEs or over
        // more than 16 classes is an extrapolation).
        NodeKind::Argmax { pe, bits, words, .. } => {
            let ib = n.out_bits as u64;
            let (pe, bits) = (*pe as u64, *bits as u64);
            let dff = bits + 2 * ib + ubits(*words as u64 - 1) as u64 + 5;
            // The best score and index registers load the input or hold: a select in the
            // flip-flop's enable, no LUT4 of their own (ARGMAX_PAIRED of them have one).
            same(pe * (2 * bits + ib) + 3 * ib + 2, pe * bits + ib, dff, dff.saturating_sub(ARGMAX_PAIRED))
        }
    }
}

/// Clocks per UART bit of the board top: the boards' 12 MHz clock over `xnorflow bitstream`'s
/// default 115,200 baud (only the bit timers' widths depend on it).
pub const BOARD_CLKS_PER_BIT: u64 = 12_000_000 / 115_200;

/// The board top that `xnorflow bitstream` wraps design `g` in (`hdl::rtl::board`): the input
/// quantizer, a 256-entry table of the first layer's element ([`table_lut4`]); the one-frame
/// queue of those elements in EBR ([`fifo_ebr`], `frame x element bits`: one EBR for the demo
/// and the MNIST SFC); the packer behind it (its word register, loaded or cleared through a
/// LUT4 a bit, a LUT4 per element slot and its pixel counter); the UART receiver and
/// transmitter, power-on reset, the receive side's counters, error and timeout logic and the
/// output serializer ([`BOARD_FIXED`]); and for weights in SPRAM the loader ([`BOARD_LOADER`],
/// and a LUT4, a flip-flop and a cell per bit of the widest SPRAM word it assembles).
pub fn board_top(g: &Graph, model: &Model) -> Ice40Cost {
    let eb = g.mvtus().next().map_or(1, |c| c.input.bits()).max(1);
    let iw = g.in_bits().max(eb);
    let epw = (iw / eb).max(1);
    let frame = model.input.len().max(1);
    let table: Vec<u64> = (0..=255u8)
        .map(|p| {
            let v = match model.layers.first() {
                Some(Layer::QuantBinary { threshold }) => i32::from(p >= *threshold),
                Some(Layer::QuantFixed8(q)) => q.apply(p),
                Some(Layer::QuantTable(t)) => t.apply(p),
                _ => 0,
            };
            v as u64
        })
        .collect();
    let queue =
        fifo_ebr(frame, eb, 0) + Ice40Cost { dff: BOARD_QUEUE_FLAGS.flip_flops(), ..Ice40Cost::default() };
    // The packer's slot and pixel counters, and its `full` flag (the registered reset is in
    // `BOARD_FIXED`, fitted on boards that have it).
    let counters = (ubits(epw as u64 - 1) + ubits(frame as u64)) as u64;
    let packer_full = 1;
    let mut c = Ice40Cost {
        lut4: queue.lut4 + table_lut4(&table, eb) + iw as u64 + epw as u64 + counters + BOARD_FIXED.0,
        carry: queue.carry,
        dff: queue.dff + iw as u64 + counters + packer_full + BOARD_FIXED.1,
        ebr: queue.ebr,
        unpaired: queue.unpaired + BOARD_FIXED.2,
        ..Ice40Cost::default()
    };
    let spram_bits = g
        .all_nodes()
        .filter_map(|n| match &n.kind {
            NodeKind::Mvtu { cfg, hw: Some(hw), .. } if hw.wmem.spram() > 0 => Some(cfg.simd as u64),
            _ => None,
        })
        .max();
    if let Some(bits) = spram_bits {
        c.lut4 += BOARD_LOADER.0 + bits;
        c.dff += BOARD_LOADER.1 + bits;
        c.unpaired += BOARD_LOADER.2 + bits;
    }
    c
}

/// LUT4s of the input quantizer's 256-entry table of `bits`-bit elements, read combinationally
/// by the pixel byte: a column that is a bit of the byte is a wire, its inverse one LUT4, any
/// other a threshold ROM's column ([`rom_lut4`]; an 8-bit fixed-point input is the byte itself,
/// or with its top bit inverted).
fn table_lut4(table: &[u64], bits: usize) -> u64 {
    (0..bits)
        .map(|b| {
            let col: Vec<bool> = table.iter().map(|v| (v >> b) & 1 == 1).collect();
            let addr = |j: usize, inv: bool| (0..col.len()).all(|p| (((p >> j) & 1 == 1) != inv) == col[p]);
            if (0..8).any(|j| addr(j, false)) {
                0
            } else if (0..8).any(|j| addr(j, true)) {
                1
            } else {
                let words: Vec<Vec<u64>> = col.iter().map(|&x| vec![u64::from(x)]).collect();
                rom_lut4(&words, 1).0
            }
        })
        .sum()
}

/// The board top's fixed part, `(LUT4, DFF, unpaired)`: both UARTs, the power-on reset, the
/// receive side's counters, the error and timeout logic, the output serializer. Fitted on the
/// whole boards of `results/ice40_lc.csv` (the five `board-total` rows, least squares on the
/// relative error, beside the accelerators' own estimates: 376 cells). The rows by difference
/// (`board`, the board less the accelerator alone) leave 168 to 396 cells beyond the other
/// terms for the same UART Verilog: the accelerator synthesized inside the board and alone
/// differ by that much, so the whole board is what the constant answers for. Its LUT4s and
/// flip-flops are the mean of what the `board` rows leave (168 and 100).
const BOARD_FIXED: (u64, u64, u64) = (168, 100, 208);

/// The handshake flags of the board top's input queue (`hdl::rtl::board::QUEUE_FLAGS`):
/// registered, as on every iCE40 FIFO, which keeps its count's compares off the packer's path.
pub const BOARD_QUEUE_FLAGS: Flags = Flags::Registered;

/// The SPRAM weight loader's fixed part, `(LUT4, DFF, unpaired)`: its state, byte counter and
/// word address. Fitted on the one board top with a loader, the SFC folded for the UP5K
/// (`results/ice40_lc.csv`, `sfc-spram,board`), beyond [`BOARD_FIXED`].
const BOARD_LOADER: (u64, u64, u64) = (92, 62, 25);

/// LUT4s of a duplicate, whatever its width: its ready, the word register's enable and both
/// outputs' valid flags with their reset (the data bits are loaded as they are). Yosys: 7 for
/// resnet-digits' four duplicates of 34 and 18 bits.
const DUP_LUT4: u64 = 7;

/// LUT4s of a sign node beyond one per output bit: its advance, the output's valid flag and the
/// word register's enable. Yosys: resnet-digits' sign nodes, 4 bits out in 7 LUT4 and 2 in 5.
const SIGN_CONTROL_LUT4: u64 = 3;

/// The most flip-flops and carries of a width converter that nextpnr cannot pair: fitted on the
/// eleven converters of `results/ice40_lc.csv` (2 to 8).
const DWC_UNPAIRED: u64 = 8;

/// The flip-flops and carries of an add (beyond its bypass chain's) that nextpnr cannot pair:
/// its saturation's comparisons (carries without a LUT4) and control. See [`FIFO_EBR_UNPAIRED`].
const ADD_UNPAIRED: u64 = 18;

/// The flip-flops of an argmax that nextpnr pairs with a LUT4: fitted on the argmax units of
/// `results/ice40_lc.csv`.
const ARGMAX_PAIRED: u64 = 4;

/// Estimates for every node of a graph, and the design's total.
pub fn graph(g: &Graph) -> (PerNode<Ice40Cost>, Ice40Cost) {
    total(g.nodes.iter().map(node).collect())
}

/// [`graph`] with the model's thresholds refining each MVTU's threshold ROM.
pub fn graph_with(g: &Graph, model: &Model) -> (PerNode<Ice40Cost>, Ice40Cost) {
    total(
        g.nodes
            .iter()
            .map(|n| {
                let t = match &n.kind {
                    NodeKind::Mvtu { layer, .. } => model
                        .layers
                        .get(layer.index())
                        .and_then(Layer::weights)
                        .and_then(|w| super::super::activation_thresholds(&w.activation)),
                    _ => None,
                };
                node_with(n, t)
            })
            .collect(),
    )
}

fn total(per: PerNode<Ice40Cost>) -> (PerNode<Ice40Cost>, Ice40Cost) {
    let total = per.values().fold(Ice40Cost::default(), |a, &b| a + b);
    (per, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebr_takes_the_best_aspect() {
        assert_eq!(ebr(512, 8), 1);
        assert_eq!(ebr(2048, 9), 5);
        assert_eq!(ebr(16, 49), 4);
        assert_eq!(ebr(64, 4), 1);
        assert_eq!(ebr(4096, 2), 2);
    }

    #[test]
    fn a_fifo_costs_a_flip_flop_per_bit() {
        let f = fifo(66, 4, 64);
        assert_eq!(f.dff, 66 * 4 + 3 * 7);
        assert_eq!(f.ebr, 0);
        assert!(fifo(132, 4, 64).lut4 > f.lut4);
    }
}
