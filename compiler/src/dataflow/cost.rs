//! The cost model: LUT, FF, BRAM, cycles and latency per node, for Xilinx 7-series as Yosys
//! 0.23 `synth_xilinx` maps xnorflow's Verilog.
//!
//! The LUT counts are structural: the compressor tree's schedule is the one the Verilog emitter
//! uses ([`reduce_columns`]), each counter output is one LUT6, adders and accumulators cost one LUT
//! per bit, LUT RAMs and ROMs as Yosys maps them. The constants were checked against the Yosys runs
//! in `results/hdl_lanes.csv` (a test holds every row within tolerance).

use super::{
    ubits, Graph, LaneInput, MemStyle, MvtuConfig, MvtuHw, MvtuOutput, Node, NodeKind, PerNode, PoolConfig,
    Popcount, RomForm, SwuConfig, SwuHw, WeightMem,
};
use crate::model::{Layer, Model};
use crate::passes::legalize;
use serde::{Deserialize, Serialize};

pub mod ice40;

/// Estimated resources and timing of one node or a whole design.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Look-up tables (LUT RAM and ROM included).
    pub lut: u64,
    /// Flip-flops.
    pub ff: u64,
    /// 18 Kb block RAMs.
    pub bram18: u64,
    /// Cycles per frame in steady state.
    pub cycles: u64,
    /// Cycles from a frame's first input word to its last output word when nothing stalls.
    pub latency: u64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            lut: self.lut + o.lut,
            ff: self.ff + o.ff,
            bram18: self.bram18 + o.bram18,
            cycles: self.cycles.max(o.cycles),
            latency: self.latency + o.latency,
        }
    }
}

/// Reduces columns of bits (column `k` has weight `2^k`) with counters of three to six inputs
/// until every column holds at most two bits: the compressor tree's schedule. `counter(inputs,
/// k, next)` consumes `inputs` from column `k` and pushes its output bits into `next` (columns
/// `k`, `k+1`, `k+2`); bits not taken pass to `next` unchanged. Shared by the Verilog emitter and
/// the cost model so that the estimate counts the counters the hardware has.
pub fn reduce_columns<T: Clone>(
    mut cols: Vec<Vec<T>>,
    mut counter: impl FnMut(&[T], usize, &mut Vec<Vec<T>>),
) -> Vec<Vec<T>> {
    while cols.iter().any(|c| c.len() > 2) {
        cols = reduce_level(&cols, &mut counter);
    }
    cols
}

/// One level of [`reduce_columns`]: every column of three or more bits through counters.
pub fn reduce_level<T: Clone>(
    cols: &[Vec<T>],
    counter: &mut impl FnMut(&[T], usize, &mut Vec<Vec<T>>),
) -> Vec<Vec<T>> {
    let mut next: Vec<Vec<T>> = vec![Vec::new(); cols.len()];
    for (k, col) in cols.iter().enumerate() {
        let mut rest = col.as_slice();
        while rest.len() >= 3 {
            let take = rest.len().min(6);
            counter(&rest[..take], k, &mut next);
            rest = &rest[take..];
        }
        next[k].extend(rest.iter().cloned());
    }
    next
}

/// Bits a pipeline register at [`super::Cut::Tree`] holds in one PE's lanes: the columns after
/// the compressor's first counters and [`super::TREE_CUT_LEVELS`]` - 1` levels of
/// [`reduce_level`] (fewer where the columns are done), or the terms after as many levels of an
/// adder tree (fewer where it reaches its root), as `hdl::rtl::lanes` builds them.
pub fn tree_cut_bits(simd: usize, input: LaneInput, popcount: Popcount) -> usize {
    match (input, popcount) {
        (LaneInput::Binary, Popcount::Compressor) => {
            let mut cols: Vec<Vec<()>> = vec![Vec::new(); ubits(simd as u64) + 1];
            for g in 0..simd.div_ceil(3) {
                cols[0].push(());
                if (simd - g * 3).min(3) > 1 {
                    cols[1].push(());
                }
            }
            let mut counter = |inputs: &[()], k: usize, next: &mut Vec<Vec<()>>| {
                for b in 0..ubits(inputs.len() as u64) {
                    next[k + b].push(());
                }
            };
            for _ in 1..super::TREE_CUT_LEVELS {
                if cols.iter().any(|c| c.len() > 2) {
                    cols = reduce_level(&cols, &mut counter);
                }
            }
            cols.iter().map(Vec::len).sum()
        }
        _ => {
            let signed = matches!(input, LaneInput::Int { .. });
            let (lo, hi) = input.lane_range();
            let width = if signed { input.bits() + 1 } else { 1 };
            let mut terms = vec![(lo, hi, width); simd];
            for _ in 0..super::TREE_CUT_LEVELS {
                if terms.len() <= 1 {
                    break;
                }
                terms = terms
                    .chunks(2)
                    .map(|p| match p {
                        [a, b] => {
                            let (lo, hi) = (a.0 + b.0, a.1 + b.1);
                            (lo, hi, super::width_of(lo, hi, signed).max(a.2).max(b.2))
                        }
                        _ => p[0],
                    })
                    .collect();
            }
            terms.iter().map(|t| t.2).sum()
        }
    }
}

/// LUTs of a compressor-tree popcount over `n` XNOR lanes.
pub fn compressor_luts(n: usize) -> u64 {
    let cw = ubits(n as u64);
    let mut cols: Vec<Vec<()>> = vec![Vec::new(); cw + 1];
    let mut luts = 0u64;
    // First level: three lanes (six inputs) per 3:2 counter, two per half adder, one alone.
    for g in 0..n.div_ceil(3) {
        let k = (n - g * 3).min(3);
        luts += if k == 1 { 1 } else { 2 };
        cols[0].push(());
        if k > 1 {
            cols[1].push(());
        }
    }
    reduce_columns(cols, |inputs, k, next| {
        let outs = ubits(inputs.len() as u64);
        luts += outs as u64;
        for b in 0..outs {
            next[k + b].push(());
        }
    });
    luts + cw as u64
}

/// LUTs of a balanced adder tree over terms with the given value ranges (one LUT per result bit).
fn adder_tree_luts(mut terms: Vec<(i64, i64)>, signed: bool) -> u64 {
    let mut luts = 0u64;
    while terms.len() > 1 {
        terms = terms
            .chunks(2)
            .map(|p| match p {
                [a, b] => {
                    let (lo, hi) = (a.0 + b.0, a.1 + b.1);
                    luts += super::width_of(lo, hi, signed) as u64;
                    (lo, hi)
                }
                _ => p[0],
            })
            .collect();
    }
    luts
}

/// Yosys/ABC maps a structure into fewer LUTs than its counters suggest, most for small trees
/// that it can take whole. The measured ratio (lanes LUTs in `results/hdl_lanes.csv` over the
/// structural count) at SIMD = 8, 32, 64, 128, interpolated in log2(SIMD); below 8 lanes the
/// structure is small enough to map one to one (4 lanes: 6 LUTs in Yosys).
fn calibration(simd: usize, popcount: Popcount) -> f64 {
    let points: [(f64, f64); 5] = match popcount {
        Popcount::Compressor => [(2.0, 1.0), (3.0, 0.54), (5.0, 0.91), (6.0, 0.92), (7.0, 1.0)],
        Popcount::AdderTree => [(2.0, 1.0), (3.0, 0.53), (5.0, 0.68), (6.0, 0.90), (7.0, 0.87)],
    };
    let x = (simd.max(1) as f64).log2().clamp(2.0, 7.0);
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points[points.len() - 1].1
}

/// LUTs of one PE's lanes.
pub fn lanes_luts(simd: usize, input: LaneInput, popcount: Popcount) -> u64 {
    let scaled = |n: u64| (n as f64 * calibration(simd, popcount)).round() as u64;
    match (input, popcount) {
        (LaneInput::Binary, Popcount::Compressor) => scaled(compressor_luts(simd)),
        (LaneInput::Binary, Popcount::AdderTree) => scaled(adder_tree_luts(vec![(0, 1); simd], false)),
        // A k-bit term is a conditional negation, then a signed adder tree. Yosys folds most of
        // the negation into the tree's first adders: what remains is (k - 1) / 2 LUTs per lane
        // (lanes modules in `make mvtu-estimate`: 4.6-5.3 LUT/lane at k = 2, 7.4-8.3 at 4,
        // 12.9-14.3 at 8, SIMD 8..64, each within 3% of this count).
        (LaneInput::Int { bits, .. }, _) => {
            ((u64::from(bits) - 1) * simd as u64).div_ceil(2)
                + adder_tree_luts(vec![input.lane_range(); simd], true)
        }
    }
}

/// 18 Kb block RAMs for a `depth x width` block-RAM ROM, in the legalizer's layout.
pub fn bram18(depth: usize, width: usize) -> u64 {
    legalize::bram18_layout(depth, width).bram18() as u64
}

/// LUTs of a `depth x width` ROM in LUTs: one LUT6 per 64 entries per bit; two share a free
/// MUXF7, more need a LUT of muxing per four.
fn rom_luts(depth: usize, width: usize) -> u64 {
    let per_bit = depth.div_ceil(64);
    let mux = if per_bit > 2 { per_bit.div_ceil(4) } else { 0 };
    (width * (per_bit + mux)) as u64
}

/// LUTs of the input buffer: `depth x width` LUT RAM with one write and one read port.
fn lutram_luts(depth: usize, width: usize) -> u64 {
    match depth {
        0..=32 => 4 * width.div_ceil(6) as u64,
        33..=64 => 4 * width.div_ceil(3) as u64,
        _ => (width * depth.div_ceil(64)) as u64 + (width * depth.div_ceil(256)) as u64,
    }
}

/// LUTs of a FIFO's `depth x width` LUT RAM (one write port, one asynchronous read port), as
/// Yosys maps it for 7-series (fitted on `results/fifo_estimate_vs_synth.csv`): a RAM32M holds
/// 32 x 6 bits in four LUTs, a RAM64M 64 x 3; deeper memories are banks of 64 words (65 to 96
/// words: one of 64 and one of 32) whose outputs a LUT per bit per three more banks selects.
fn fifo_ram_luts(depth: usize, width: usize) -> u64 {
    match depth {
        0..=64 => lutram_luts(depth, width),
        _ => {
            let (full, rem) = (depth / 64, depth % 64);
            let b32 = usize::from(full == 1 && (1..=32).contains(&rem));
            let b64 = full + usize::from(rem > 0 && b32 == 0);
            let mux = (b64 + b32 - 1).div_ceil(3);
            (b64 * 4 * width.div_ceil(3) + b32 * 4 * width.div_ceil(6) + width * mux) as u64
        }
    }
}

/// LUTs of a `depth x width` single-port LUT RAM (read and written at one address, as the pool's
/// row buffer is): a RAM32M holds 32 x 8 bits in four LUTs, a RAM64M 64 x 4.
fn lutram_sp_luts(depth: usize, width: usize) -> u64 {
    match depth {
        0..=32 => 4 * width.div_ceil(8) as u64,
        33..=64 => 4 * width.div_ceil(4) as u64,
        _ => (width * depth.div_ceil(64)) as u64 + (width * depth.div_ceil(256)) as u64,
    }
}

/// The estimate for one MVTU as the legalizer would build it (for foldings not yet lowered).
pub fn mvtu(cfg: &MvtuConfig) -> Cost {
    mvtu_with(cfg, &legalize::mvtu(cfg), None)
}

/// LUTs of PE `p`'s threshold ROM given the thresholds. Synthesis drops the bit columns that are
/// the same in every word (trained thresholds, clustered around half the fan-in, have many),
/// shares identical columns, and folds a constant run of 64 words into the output register's
/// set or reset, so a column costs one LUT6 per 64-word chunk that varies (plus muxes).
fn threshold_rom_luts(cfg: &MvtuConfig, thresholds: &[i32], p: usize) -> u64 {
    let words = cfg.threshold_words(thresholds, p);
    // A set: a multi-threshold word has `levels` fields, up to thousands of columns.
    let mut cols: std::collections::HashSet<Vec<bool>> = std::collections::HashSet::new();
    for b in 0..cfg.tmem_bits() {
        let col: Vec<bool> = words.iter().map(|w| super::width::bit(w, b)).collect();
        if col.iter().any(|&x| x != col[0]) {
            cols.insert(col);
        }
    }
    let varies = |c: &[bool]| c.iter().any(|&x| x != c[0]);
    cols.iter()
        .map(|c| {
            let chunks = c.chunks(64).filter(|k| varies(k)).count();
            (chunks + if chunks > 2 { chunks.div_ceil(4) } else { 0 }) as u64
        })
        .sum()
}

/// LUTs of one PE's multi-threshold output stage: `levels` comparators of `tfield_bits` against
/// the threshold memory's fields, the count of those that hold, and the bias.
fn multi_stage_luts(cfg: &MvtuConfig) -> u64 {
    let MvtuOutput::Multi { levels, .. } = cfg.output else { return 0 };
    // Fitted on Yosys (`make mvtu-estimate`, 2 and 15 levels, 7- to 17-bit fields, 80 units
    // within 7.5%): a comparator against a ROM field shares LUT6s with its neighbours' carry
    // logic, about 5/8 LUT per bit, and the count of the comparators that hold and the bias add
    // about seven LUTs whatever the number of levels (Yosys builds the count as one adder tree).
    (levels * (5 * cfg.tfield_bits()).div_ceil(8) + 7) as u64
}

/// The estimate for one MVTU built as `hw` says, with its thresholds when known (they refine the
/// threshold ROM).
pub fn mvtu_with(cfg: &MvtuConfig, hw: &MvtuHw, thresholds: Option<&[i32]>) -> Cost {
    let (sf, nf, pe) = (cfg.sf(), cfg.nf(), cfg.pe as u64);
    let (iw, ow) = (cfg.in_bits(), cfg.out_bits());
    let rw = cfg.reg_bits() as u64;
    let depth = sf * nf;
    let (mut lut, mut ff, mut bram) = (0u64, 0u64, 0u64);
    // Per PE: lanes, accumulator, threshold memory, weight memory. An integer input's signed sum
    // costs the accumulator a second LUT per bit in Yosys (the sign extension into the register
    // does not share the adder's LUT6 as a popcount's unsigned sum does): `make mvtu-estimate`,
    // +tfield bits per PE at 2, 4 and 8 bits, threshold and multi outputs alike.
    let acc_luts = if matches!(cfg.input, LaneInput::Int { .. }) { 2 * rw } else { rw };
    lut += pe * (lanes_luts(cfg.simd, cfg.input, cfg.popcount) + acc_luts);
    ff += pe * rw;
    if cfg.has_tmem() {
        let tw = cfg.tmem_bits();
        let rom = match thresholds {
            Some(t) if t.len() == cfg.mh * cfg.output.levels() => {
                (0..cfg.pe).map(|p| threshold_rom_luts(cfg, t, p)).sum()
            }
            _ => pe * rom_luts(nf, tw),
        };
        // Behind a registered address a ROM bit and the start multiplexer share the adder bit's
        // LUT6, and Yosys leaves about two LUTs per PE (results/hdl_lanes.csv, NF = 8); a
        // multi-threshold comparator bit takes its ROM bit into its LUT6 the same way. A
        // registered word costs the whole ROM and a word of flip-flops.
        let (lut_rom, reg) = match hw.trom {
            Some(RomForm::RegisteredAddress) => (rom.min(2 * pe), ubits(nf as u64 - 1)),
            _ => (rom, tw),
        };
        lut += lut_rom + pe * multi_stage_luts(cfg);
        ff += pe * reg as u64;
    }
    match hw.wmem {
        WeightMem::Block { rows, .. } => {
            bram += pe * hw.wmem.bram18() as u64;
            // A ROM a few blocks deep reads through a multiplexer over the block rows (about a
            // LUT per bit per extra row in Yosys: CNV's 2304 x 32 ROMs, five rows, 129 LUTs).
            if (2..=8).contains(&rows) {
                lut += pe * (cfg.simd * (rows - 1)) as u64;
            }
        }
        WeightMem::Distributed => {
            lut += pe * rom_luts(depth, cfg.simd);
            ff += pe * cfg.simd as u64;
        }
        // iCE40 only (the legalizer refuses it elsewhere); counted as the block ROM it would be.
        WeightMem::Spram { .. } => bram += pe * legalize::bram18_layout(depth, cfg.simd).bram18() as u64,
    }
    // Shared controller: input buffer and its bypass mux, counters, input and output registers.
    let counters = (ubits(sf as u64 - 1) + ubits(nf as u64 - 1) + ubits(depth as u64 - 1)) as u64;
    if nf > 1 {
        lut += lutram_luts(sf, iw) + iw as u64;
    }
    lut += counter_luts(counters as usize);
    ff += (iw + ow) as u64 + counters + 4;
    // Pipeline stages (none on 7-series as legalized): the cuts' registers, each PE's sum and
    // the word's valid, first, last and pass.
    ff += cfg.pipeline_bits(hw) as u64;
    Cost { lut, ff, bram18: bram, cycles: depth as u64, latency: (depth + hw.latency) as u64 }
}

/// An MVTU's estimate over a frame of `vectors` vectors.
fn repeated(c: Cost, hw: &MvtuHw, vectors: usize) -> Cost {
    let v = vectors.max(1) as u64;
    Cost { cycles: c.cycles * v, latency: c.cycles * v + hw.latency as u64, ..c }
}

/// Counters with their wrap compares and enables: 1.5 LUT per bit (Yosys, 12 to 20 bits).
fn counter_luts(bits: usize) -> u64 {
    (3 * bits as u64).div_ceil(2) + 2
}

/// The estimate for a sliding-window unit as the legalizer would build it alone: see
/// [`swu_with`].
pub fn swu(c: &SwuConfig) -> Cost {
    swu_with(c, &legalize::swu(c))
}

/// The estimate for a sliding-window unit with the legalized decisions `hw`: its ring buffer
/// (block RAM, or LUT RAM with one write and one read port), the write and read counters, the
/// address arithmetic and the output register with its pad multiplexer.
pub fn swu_with(c: &SwuConfig, hw: &SwuHw) -> Cost {
    let (depth, width) = (c.ring_words(), c.bits());
    let (mut lut, mut bram, mut out_reg) = (0u64, 0u64, width as u64);
    match hw.ring {
        // The read register goes into the block RAM's output register.
        MemStyle::Block => (bram, out_reg) = (bram18(depth, width), 0),
        _ => lut += lutram_luts(depth, width),
    }
    let rows = ubits(c.ring_rows() as u64);
    let counters = ubits(c.w as u64 - 1) * 2
        + ubits(c.cf() as u64 - 1) * 2
        + ubits(c.oh() as u64 - 1)
        + ubits(c.ow() as u64 - 1)
        + 2 * ubits(c.kernel as u64 - 1)
        + 3 * rows
        + ubits(c.h as u64);
    let ab = c.addr_bits() as u64;
    lut += counter_luts(counters) + 3 * ab + if c.pad > 0 { width as u64 } else { 0 } + 8;
    let ff = counters as u64 + out_reg + 4;
    Cost {
        lut,
        ff,
        bram18: bram,
        cycles: c.in_words().max(c.out_words()) as u64,
        latency: c.in_words() as u64,
    }
}

/// The estimate for a max-pool unit: the row buffer of partial maxima (LUT RAM), per bit the OR
/// and window-start multiplexer (binary elements) or per `k`-bit element a comparator (a carry
/// chain, `k` LUTs) and a `k`-bit multiplexer, counters and the output register.
pub fn pool(c: &PoolConfig) -> Cost {
    let counters = ubits(c.cf() as u64 - 1)
        + ubits(c.w as u64 - 1)
        + ubits(c.ow() as u64)
        + 2 * ubits(c.kernel as u64 - 1)
        + ubits(c.h as u64 - 1);
    let bits = c.bits();
    let combine = if c.elem_bits == 1 { bits } else { 2 * bits };
    let lut = lutram_sp_luts(c.ow() * c.cf(), bits) + combine as u64 + counter_luts(counters) + 4;
    let ff = (bits + counters + 2) as u64;
    Cost {
        lut,
        ff,
        bram18: 0,
        cycles: c.in_words() as u64,
        latency: (c.w * c.cf() * (c.kernel - 1)) as u64 + 2,
    }
}

/// What a residual block's shortcut costs: its add node and everything on its bypass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortcutCost {
    /// Saturating `k`-bit adders, one per element of a word.
    pub adders: u64,
    /// Their LUTs: per element a `k`-bit carry adder and a `k`-bit saturation multiplexer.
    pub add_lut: u64,
    /// Bits of the bypass FIFOs (depth x width).
    pub fifo_bits: u64,
    /// LUTs of the bypass FIFOs.
    pub fifo_lut: u64,
    /// 18 Kb block RAMs of the bypass.
    pub bram18: u64,
    /// LUTs of the max-pool, channel pad and width converters on the bypass.
    pub other_lut: u64,
}

/// The shortcut's cost of an add node (`None` for any other node).
pub fn shortcut(n: &Node) -> Option<ShortcutCost> {
    let NodeKind::Add { ty, bypass, .. } = &n.kind else { return None };
    let k = u64::from(ty.bits);
    let adders = n.in_bits as u64 / k;
    let mut s = ShortcutCost { adders, add_lut: adders * (2 * k + 1) + 3, ..ShortcutCost::default() };
    for b in bypass {
        let c = node(b);
        s.bram18 += c.bram18;
        match b.kind {
            NodeKind::Fifo { depth, .. } => {
                s.fifo_bits += (depth * b.in_bits) as u64;
                s.fifo_lut += c.lut;
            }
            _ => s.other_lut += c.lut,
        }
    }
    Some(s)
}

/// The estimate for any node (an add's includes its bypass, [`shortcut`]).
pub fn node(n: &Node) -> Cost {
    match &n.kind {
        NodeKind::Mvtu { cfg, vectors, hw, .. } => {
            // A node not yet legalized is counted as the legalizer will build it.
            let hw = hw.unwrap_or_else(|| legalize::mvtu(cfg));
            repeated(mvtu_with(cfg, &hw, None), &hw, *vectors)
        }
        NodeKind::Swu { cfg, hw } => swu_with(cfg, &hw.unwrap_or_else(|| legalize::swu(cfg))),
        NodeKind::Pool { cfg } => pool(cfg),
        NodeKind::Fifo { depth, ram, flags } => {
            let aw = ubits(*depth as u64 - 1) as u64;
            let control = Cost {
                lut: 4 * aw + 9,
                ff: 3 * aw + 2 + flags.flip_flops(),
                bram18: 0,
                cycles: n.in_words as u64,
                latency: 1,
            };
            match ram {
                // Not a legal 7-series decision ([`legalize::fifo_ram`]); counted by its parts:
                // the blocks, and the bypass register, its multiplexer and the address compare.
                MemStyle::Block => Cost {
                    lut: control.lut + n.in_bits as u64 + aw.div_ceil(3),
                    ff: control.ff + n.in_bits as u64 + 1,
                    bram18: legalize::bram18_layout(*depth, n.in_bits).bram18() as u64,
                    ..control
                },
                _ => Cost { lut: control.lut + fifo_ram_luts(*depth, n.in_bits), ..control },
            }
        }
        NodeKind::WidthConverter { flags } => {
            let cap = (n.in_bits + n.out_bits) as u64;
            let ff = cap + 8 + flags.flip_flops();
            Cost { lut: 2 * cap + 8, ff, bram18: 0, cycles: n.cycles() as u64, latency: 1 }
        }
        NodeKind::Duplicate => {
            // One data register loaded when both outputs are free, two valid flags.
            Cost { lut: 4, ff: n.in_bits as u64 + 2, bram18: 0, cycles: n.in_words as u64, latency: 1 }
        }
        NodeKind::Sign { .. } => {
            // Each output bit is an inverted sign bit, registered (the inverter folds into the
            // flip-flop's input LUT, shared with the load enable).
            let b = n.out_bits as u64;
            Cost { lut: b.div_ceil(2) + 2, ff: b + 1, bram18: 0, cycles: n.in_words as u64, latency: 1 }
        }
        NodeKind::ChannelPad { c_out, elem_bits, .. } => {
            let cf = c_out / (n.in_bits / elem_bits).max(1);
            let cw = ubits(cf as u64 - 1);
            let b = n.out_bits as u64;
            Cost {
                lut: b + counter_luts(cw) + 3,
                ff: b + cw as u64 + 1,
                bram18: 0,
                cycles: n.cycles() as u64,
                latency: 1,
            }
        }
        NodeKind::Add { .. } => {
            let s = shortcut(n).unwrap_or_default();
            let by: Cost = n.bypass().iter().map(node).fold(Cost::default(), |a, b| a + b);
            Cost {
                lut: s.add_lut + by.lut,
                ff: n.out_bits as u64 + 1 + by.ff,
                bram18: by.bram18,
                cycles: (n.in_words as u64).max(by.cycles),
                latency: 1,
            }
        }
        NodeKind::Argmax { pe, bits, words, .. } => {
            let ib = n.out_bits as u64;
            let (pe, bits) = (*pe as u64, *bits as u64);
            Cost {
                lut: pe * (bits + ib) + bits + 2 * ib + 4,
                ff: bits + 2 * ib + ubits(*words as u64 - 1) as u64 + 2,
                bram18: 0,
                cycles: *words as u64,
                latency: 1,
            }
        }
    }
}

/// Estimates for every node of a graph, and the design's total (cycles per frame: the slowest
/// node; latency: the sum along the pipeline, an upper bound, since a node starts on its
/// producer's first word; `reports::build` replaces it with the cycle model's exact figure).
pub fn graph(g: &Graph) -> (PerNode<Cost>, Cost) {
    total(g.nodes.iter().map(node).collect())
}

/// [`graph`] with the model's thresholds refining each MVTU's threshold ROM.
pub fn graph_with(g: &Graph, model: &Model) -> (PerNode<Cost>, Cost) {
    total(
        g.nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Mvtu { layer, cfg, vectors, hw } => {
                    let hw = hw.unwrap_or_else(|| legalize::mvtu(cfg));
                    let t = model
                        .layers
                        .get(layer.index())
                        .and_then(Layer::weights)
                        .and_then(|w| super::activation_thresholds(&w.activation));
                    repeated(mvtu_with(cfg, &hw, t), &hw, *vectors)
                }
                _ => node(n),
            })
            .collect(),
    )
}

fn total(per: PerNode<Cost>) -> (PerNode<Cost>, Cost) {
    let total = per.values().fold(Cost::default(), |a, &b| a + b);
    (per, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(simd: usize, pe: usize, popcount: Popcount) -> MvtuConfig {
        MvtuConfig {
            name: "l0".into(),
            mw: 8 * simd,
            mh: 8 * pe,
            pe,
            simd,
            input: LaneInput::Binary,
            output: MvtuOutput::Threshold,
            popcount,
            mem_style: MemStyle::Block,
        }
    }

    #[test]
    fn constant_threshold_bits_cost_no_rom_luts() {
        let c = MvtuConfig { mw: 1024, mh: 1024, ..cfg(16, 8, Popcount::Compressor) };
        // T in 504..=511: the stored -T are 0xE01..=0xE08, only the low four bits vary.
        let clustered: Vec<i32> = (0..1024).map(|i| 504 + i / 8 % 8).collect();
        let spread: Vec<i32> = (0..1024).map(|i| i * 7919 % 1025).collect();
        let hw = legalize::mvtu(&c);
        let (b, a, none) =
            (mvtu_with(&c, &hw, Some(&clustered)), mvtu_with(&c, &hw, Some(&spread)), mvtu(&c));
        // 8 PEs x 128 x 12-bit ROMs at two LUTs per bit: 8 columns of each go.
        assert_eq!(none.lut - b.lut, 8 * (12 - 4) * 2);
        assert!(b.lut < a.lut && a.lut <= none.lut);
    }

    /// Every row of the committed Yosys measurements (`make hdl-lanes`) against the estimate: the
    /// calibration points themselves, so this pins the model to the data it was fit on; held-out
    /// layers are compared in the synthesis report.
    #[test]
    fn estimates_track_yosys_measurements() {
        let csv = include_str!("../../../results/hdl_lanes.csv");
        let mut worst = 0f64;
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let (simd, pe): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
            let pc = if f[2] == "compressor" { Popcount::Compressor } else { Popcount::AdderTree };
            let (lut, bram): (u64, u64) = (f[5].parse().unwrap(), f[8].parse().unwrap());
            let est = mvtu(&cfg(simd, pe, pc));
            let err = (est.lut as f64 - lut as f64) / lut as f64;
            worst = worst.max(err.abs());
            assert!(err.abs() <= 0.05, "simd {simd} pe {pe} {pc:?}: estimate {} LUT, Yosys {lut}", est.lut);
            assert_eq!(est.bram18, bram, "simd {simd} pe {pe}: BRAM");
            let ff: f64 = f[7].parse().unwrap();
            assert!(
                (est.ff as f64 - ff).abs() / ff <= 0.15,
                "simd {simd} pe {pe}: estimate {} FF, Yosys {ff}",
                est.ff
            );
        }
        assert!(worst > 0.0, "the table was read");
    }

    /// Every unit of the committed k-bit measurements (`make mvtu-estimate`: inputs of 1, 2, 4
    /// and 8 bits, outputs of one bit, int2 and 15-level int4, SIMD 8..64, PE 1 and 4) against
    /// the estimate without the thresholds (the measured units had random ones, so their ROMs
    /// vary in every column as the estimate without thresholds assumes): all within 10%.
    #[test]
    fn kbit_estimates_track_yosys_measurements() {
        let csv = include_str!("../../../results/mvtu_estimate_vs_synth.csv");
        let ty = |bits| crate::model::IntType { bits, signed: true };
        let mut n = 0;
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let input = match f[0] {
                "binary" => LaneInput::Binary,
                "uint4" => LaneInput::Int { bits: 4, signed: false },
                k => LaneInput::Int { bits: k[3..].parse().unwrap(), signed: true },
            };
            let output = match f[1] {
                "bit" => MvtuOutput::Threshold,
                "int2" => MvtuOutput::Multi { ty: ty(2), bias: -1, levels: 2 },
                _ => MvtuOutput::Multi { ty: ty(4), bias: -8, levels: 15 },
            };
            let num = |i: usize| -> usize { f[i].parse().unwrap() };
            let c = MvtuConfig {
                name: "l0".into(),
                mw: num(4),
                mh: num(5),
                pe: num(3),
                simd: num(2),
                input,
                output,
                popcount: Popcount::Compressor,
                mem_style: MemStyle::Auto,
            };
            let (est, lut) = (mvtu(&c), num(7) as f64);
            let err = (est.lut as f64 - lut) / lut;
            assert!(err.abs() <= 0.10, "{line}: estimate {} LUT ({:+.1}%)", est.lut, 100.0 * err);
            assert_eq!(est.bram18, num(12) as u64, "{line}: BRAM");
            n += 1;
        }
        assert_eq!(n, 120, "the table was read");
    }

    /// Every FIFO of the Yosys sweep (`cargo run --release -p xnorflow-hdl --example
    /// fifo_estimate`: widths 8 to 64, depths 8 to 512) within 10% of its LUTs, or 6 LUTs for the
    /// smallest (an 8-bit FIFO of a few dozen LUTs), with its flip-flops and no BRAM.
    #[test]
    fn fifo_estimates_track_yosys_measurements() {
        let csv = include_str!("../../../results/fifo_estimate_vs_synth.csv");
        let mut n = 0;
        for line in csv.lines().skip(1) {
            let f: Vec<usize> = line.split(',').filter_map(|x| x.parse().ok()).collect();
            let (width, depth, lut) = (f[0], f[1], f[3] as f64);
            let est = node(&Node::fifo("f", width, 1024, depth));
            let err = est.lut as f64 - lut;
            assert!(err.abs() <= (0.10 * lut).max(6.0), "{line}: estimate {} LUT ({err:+})", est.lut);
            assert_eq!(est.bram18, 0, "{line}");
            n += 1;
        }
        assert_eq!(n, 42, "the table was read");
    }

    /// The k-bit structures by hand: a conditional negation of `k + 1` LUTs per lane and a signed
    /// adder tree; per multi-threshold PE `levels` comparators, the counter and the bias adder; a
    /// comparator and multiplexer per pool element.
    #[test]
    fn kbit_lanes_comparators_and_pools_are_counted() {
        // Four int8 lanes: what is left of the negations, (8 - 1) / 2 per lane, then two 10-bit
        // adders and one 11-bit adder.
        assert_eq!(
            lanes_luts(4, LaneInput::Int { bits: 8, signed: true }, Popcount::Compressor),
            14 + 20 + 11
        );
        // Four uint2 lanes: terms -3..=3 (half a LUT each), adders of 4 and 5 bits.
        assert_eq!(lanes_luts(4, LaneInput::Int { bits: 2, signed: false }, Popcount::AdderTree), 2 + 8 + 5);
        let lanes = |bits| lanes_luts(16, LaneInput::Int { bits, signed: true }, Popcount::Compressor);
        assert!(lanes(2) < lanes(3) && lanes(3) < lanes(4) && lanes(4) < lanes(8));
        let ty = crate::model::IntType { bits: 2, signed: true };
        let multi = |levels, bias| MvtuConfig {
            output: MvtuOutput::Multi { ty, bias, levels },
            mem_style: MemStyle::Distributed,
            ..cfg(8, 4, Popcount::Compressor)
        };
        // MW = 64 binary lanes: accumulator 0..=64, thresholds 0..=65 in 8 bits.
        assert_eq!(multi(3, -1).tfield_bits(), 8);
        // Three comparators of 8 bits at 5/8 LUT a bit, seven LUTs for the count and the bias.
        assert_eq!(multi_stage_luts(&multi(3, -1)), 3 * 5 + 7);
        assert_eq!(multi_stage_luts(&multi(15, -1)), 15 * 5 + 7);
        let (one, three) = (mvtu(&multi(1, 0)), mvtu(&multi(3, 0)));
        assert!(three.lut > one.lut, "{three:?} {one:?}");
        assert_eq!(three.ff, one.ff, "the ROM address is registered, not its word");
        let pool_of = |elem_bits, simd| {
            pool(&PoolConfig {
                name: "P".into(),
                h: 8,
                w: 8,
                c: 12,
                simd,
                elem_bits,
                signed: false,
                kernel: 2,
            })
        };
        // Four channels a word, of 3 bits or of 1: four comparators and multiplexers (24 LUTs) for
        // 4 ORs, a row buffer of 12-bit words (RAM32M: 8 LUTs) for 4-bit ones (4), 8 more FFs.
        assert_eq!(pool_of(3, 4).lut, pool_of(1, 4).lut + (24 - 4) + (8 - 4));
        assert_eq!(pool_of(3, 4).ff, pool_of(1, 4).ff + 8);
    }

    #[test]
    fn bram_aspect_ratios() {
        assert_eq!(bram18(64, 64), 2);
        assert_eq!(bram18(64, 128), 4);
        assert_eq!(bram18(4096, 1), 1);
        assert_eq!(bram18(784, 16), 1);
    }
}
