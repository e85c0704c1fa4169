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
    ubits, width, Graph, LaneInput, MvtuConfig, MvtuHw, Node, NodeKind, PerNode, PoolConfig, Popcount,
    RomForm, SwuConfig, SwuHw, WeightMem,
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
            cycles: self.cycles.max(o.cycles),
            latency: self.latency + o.latency,
        }
    }
}

/// The share of flip-flops that nextpnr cannot pack beside a LUT4 of their own logic cell.
/// Fitted on the demo design placed on an hx8k (2,923 LUT4 and 1,050 flip-flops in Yosys, 3,354
/// logic cells in nextpnr): the FIFOs' storage flip-flops have no LUT of their own.
const UNPACKED_DFF: f64 = 0.4;

impl Ice40Cost {
    /// Logic cells nextpnr will place: every LUT4, plus the flip-flops it cannot pair with one.
    pub fn lc(&self) -> u64 {
        self.lut4 + (self.dff as f64 * UNPACKED_DFF).ceil() as u64
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
        ebr: 0,
        spram: 0,
        cycles: words as u64,
        latency: 1,
    }
}

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
        spram: 0,
        cycles: words as u64,
        latency: 1,
    }
}

/// The estimate for a sliding-window unit: its ring in EBR (any ring: iCE40 has no LUT RAM,
/// [`legalize::swu_for`]); the counters, address arithmetic and pad multiplexer at 1.7 LUT4 per
/// 7-series LUT6 (their comparisons and sums are carry chains of the arithmetic width on iCE40,
/// 7 per bit, 10 with padding); the 7-series registers, the ring's read register and the output
/// word. Fitted on the seven window units of the digits CNN and ResNet in
/// `results/ice40_estimate_vs_synth.csv` (LUT4 within 7%, flip-flops within 1).
pub fn swu(c: &SwuConfig) -> Ice40Cost {
    let x = super::swu_with(c, &SwuHw { ring: super::super::MemStyle::Block });
    let (depth, width) = (c.ring_words(), c.bits());
    Ice40Cost {
        lut4: (17 * x.lut).div_ceil(10),
        carry: (c.arith_bits() * if c.pad > 0 { 10 } else { 7 }) as u64,
        dff: x.ff + 2 * width as u64 + 4,
        ebr: ebr(depth, width),
        spram: 0,
        cycles: x.cycles,
        latency: x.latency,
    }
}

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
        ebr: 0,
        spram: 0,
        cycles: x.cycles,
        latency: x.latency,
    }
}

/// The estimate for any node.
pub fn node(n: &Node) -> Ice40Cost {
    node_with(n, None)
}

fn node_with(n: &Node, thresholds: Option<&[i32]>) -> Ice40Cost {
    let same = |lut4, carry, dff| Ice40Cost {
        lut4,
        carry,
        dff,
        ebr: 0,
        spram: 0,
        cycles: n.cycles() as u64,
        latency: 1,
    };
    match &n.kind {
        NodeKind::Mvtu { cfg, vectors, hw, .. } => {
            let hw = hw.unwrap_or_else(|| legalize::mvtu(cfg));
            repeated(mvtu_with(cfg, &hw, thresholds), &hw, *vectors)
        }
        NodeKind::Swu { cfg, .. } => swu(cfg),
        NodeKind::Pool { cfg } => pool(cfg),
        NodeKind::Fifo { depth, ram: super::super::MemStyle::Block } => {
            fifo_ebr(*depth, n.in_bits, n.in_words)
        }
        NodeKind::Fifo { depth, .. } => fifo(*depth, n.in_bits, n.in_words),
        // A register of input plus output width and its counter; the LUT4s are least-squares
        // fits over the 13 converters of `results/ice40_blocks.csv`: a wider word in shifts
        // into place (2.75 LUT4 per output bit; a ratio that is not whole costs 4 per input bit
        // more), a narrower word out is selected from the register (about 4.9 per input bit).
        NodeKind::WidthConverter => {
            let (i, o) = (n.in_bits as u64, n.out_bits as u64);
            let lut4 = if i <= o {
                (11 * o + 2 * i).div_ceil(4) + 5 + if o % i != 0 { 4 * i } else { 0 }
            } else {
                ((486 * i + 442 * ubits(i + o) as u64) / 100).saturating_sub((296 * o) / 100)
            };
            same(lut4, if i <= o && o / i >= 8 { 5 } else { 1 }, i + o + 3)
        }
        // As on 7-series (not measured on iCE40): registers, and a LUT4 per bit of logic.
        NodeKind::Duplicate | NodeKind::Sign { .. } | NodeKind::ChannelPad { .. } => {
            let x = super::node(n);
            same(x.lut, 0, x.ff)
        }
        // The adders and output register as on 7-series, and the bypass chain's nodes as iCE40
        // builds them (its FIFOs in flip-flops or EBR, not LUT RAM).
        NodeKind::Add { .. } => {
            let s = super::shortcut(n).unwrap_or_default();
            let by = n.bypass().iter().map(node).fold(Ice40Cost::default(), |a, b| a + b);
            Ice40Cost {
                lut4: s.add_lut + by.lut4,
                dff: n.out_bits as u64 + 1 + by.dff,
                cycles: (n.in_words as u64).max(by.cycles),
                latency: 1,
                ..by
            }
        }
        // The running maximum: per score a comparator (a LUT4 and a carry per bit) and the
        // multiplexers of score and index. Yosys maps the same 10 x 9-bit module (the same
        // Verilog) to 29 LUT4 in the demo and 36 in the SFC: this is the middle, 32.
        NodeKind::Argmax { pe, bits, words, .. } => {
            let ib = n.out_bits as u64;
            let (pe, bits) = (*pe as u64, *bits as u64);
            same(
                pe * (bits + ib) + bits + 2 * ib + 2,
                pe * bits + ib,
                bits + 2 * ib + ubits(*words as u64 - 1) as u64 + 5,
            )
        }
    }
}

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
