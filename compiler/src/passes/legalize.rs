//! Legalization: every hardware decision the emitter and the cost model used to make on their own
//! is made here, once, and written into the graph ([`MvtuHw`] on every MVTU): the weight memory's
//! resolved style and block-RAM layout, its column slicing, the threshold ROM's read form and the
//! unit's latency; and ([`SwuHw`] on every sliding-window unit) where its ring of rows goes.
//! After this pass `hdl` prints what the graph says and `cost` counts it.
//!
//! The decisions are functions of the node's configuration alone, so the verifier can recompute
//! them and refuse a hand-edited `graph.json` whose hardware would not be what it claims.

use crate::dataflow::cost::ice40;
use crate::dataflow::target::Arch;
use crate::dataflow::{
    ubits, Cut, DataflowError, Flags, Graph, LaneInput, MemStyle, MvtuConfig, MvtuHw, MvtuOutput, NodeKind,
    RomForm, StageCuts, SwuConfig, SwuHw, WeightMem,
};
use crate::model::Model;

/// Cycles from the handshake of a vector's last input word entering an MVTU without pipeline
/// stages (on iCE40 each of [`ice40_cuts`] and [`ICE40_SUM_STAGES`] adds one) to its output word
/// being valid: the registered input word, then the accumulator (`hdl::mvtu` builds these two
/// stages, `sim::cycle` models them). A multi-threshold's comparators sit between the
/// accumulator's adder and the output register, in the same stage, so every output mode has
/// this latency.
pub const MVTU_LATENCY: usize = 2;

/// Pipeline registers an iCE40 MVTU puts on its lane sums before the accumulator. Without them
/// the lanes, the adder tree, the accumulator's add and the threshold compare are one clock:
/// nextpnr's critical path on the UP5K (22 MHz for the demo). One register splits it between
/// the lanes and their tree, and the add and compare. 7-series designs keep none: their LUT6
/// carry chains close that path at their clock, and a register per sum bit would only cost
/// flip-flops.
pub const ICE40_SUM_STAGES: usize = 1;

/// Where an iCE40 MVTU's further pipeline registers sit (one each), before the lane sums'.
///
/// With the sum register alone the demo's critical path on the UP5K (29 MHz) starts at the
/// input buffer's EBR read: the input word's multiplexer (two LUT levels, 9.5 ns with routing),
/// then the 8-bit lanes' negations (one carry chain per element, 11.4 ns), then the adder tree.
/// So every unit registers its selected input word ([`Cut::Input`]: the word once, the weight
/// memories' address); a unit of integer lanes also each element's `+x`/`-x` ([`Cut::Terms`]),
/// leaving the adder tree alone in its stage; a unit of binary lanes splits its tree
/// ([`Cut::Tree`]): a compressor's counters, made for LUT6, are two to three LUT4 levels each
/// on iCE40 (seven between the input register and the final adder for SIMD 32).
pub fn ice40_cuts(cfg: &MvtuConfig) -> StageCuts {
    match cfg.input {
        LaneInput::Int { .. } => StageCuts::of(&[Cut::Input, Cut::Terms]),
        LaneInput::Binary => StageCuts::of(&[Cut::Input, Cut::Tree]),
    }
}

/// The pipeline decisions (latency, cuts) that earlier legalizers wrote into iCE40 graphs,
/// which still load and build as they say: none, then one register on the lane sums.
pub const ICE40_EARLIER_PIPELINES: [(usize, StageCuts); 2] =
    [(MVTU_LATENCY, StageCuts::NONE), (MVTU_LATENCY + 1, StageCuts::NONE)];

/// Threshold ROMs with at most this many address bits (NF <= 8) are read through a registered
/// address, so that each ROM bit, a function of at most three address bits, shares the adder
/// bit's LUT6 with the start multiplexer (a multi-threshold comparator bit's LUT6); deeper ones
/// into a registered word.
pub const MERGE_ADDR_BITS: usize = 3;

/// A memory left to `Auto` goes to block RAM from this many bits, LUTs below.
pub const BLOCK_MIN_BITS: usize = 1024;

/// The RAMB18 aspect ratios, `(bits, words)`.
pub const RAMB18_ASPECTS: [(usize, usize); 6] =
    [(1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)];

/// Bits per SPRAM word (SB_SPRAM256KA).
pub const SPRAM_WIDTH: usize = 16;

/// Words per SPRAM.
pub const SPRAM_DEPTH: usize = 16384;

/// The SPRAM layout of a `depth x width` weight memory: 16-bit blocks across, 16K-word blocks
/// down. A PE whose SIMD is not a multiple of 16 leaves the rest of its blocks' words unused, so
/// the folder gives SPRAM layers SIMD 16 or a multiple where it can (the cost counts every block).
pub fn spram_layout(depth: usize, width: usize) -> WeightMem {
    WeightMem::Spram { cols: width.div_ceil(SPRAM_WIDTH).max(1), rows: depth.div_ceil(SPRAM_DEPTH).max(1) }
}

/// The resource a `depth x width` memory of style `style` maps to: `Auto` becomes block RAM from
/// [`BLOCK_MIN_BITS`], LUTs below.
pub fn mem_style(style: MemStyle, depth: usize, width: usize) -> MemStyle {
    match style {
        MemStyle::Auto if depth * width >= BLOCK_MIN_BITS => MemStyle::Block,
        MemStyle::Auto => MemStyle::Distributed,
        s => s,
    }
}

/// The RAMB18 layout of a `depth x width` block-RAM ROM: the aspect giving the fewest blocks (the
/// deepest on ties, so as few rows as possible) and the blocks across and down.
pub fn bram18_layout(depth: usize, width: usize) -> WeightMem {
    let (w0, d0) = RAMB18_ASPECTS[0];
    let mut best =
        WeightMem::Block { width: w0, depth: d0, cols: width.div_ceil(w0), rows: depth.div_ceil(d0) };
    for &(w, d) in &RAMB18_ASPECTS {
        let (cols, rows) = (width.div_ceil(w), depth.div_ceil(d));
        if cols * rows < best.bram18() {
            best = WeightMem::Block { width: w, depth: d, cols, rows };
        }
    }
    best
}

/// A `depth x width` weight memory of style `style`, legalized.
pub fn weight_mem(style: MemStyle, depth: usize, width: usize) -> WeightMem {
    match mem_style(style, depth, width) {
        MemStyle::Block => bram18_layout(depth, width),
        MemStyle::Spram => spram_layout(depth, width),
        _ => WeightMem::Distributed,
    }
}

/// The column width a weight ROM is cut into: a block-RAM ROM one block deep is cut into columns
/// of the block width counted, each its own memory in the Verilog, so that synthesis maps each to
/// one block (left alone, Yosys may pack a ROM more tightly across depths and pay in LUT
/// multiplexers instead); any other ROM stays whole (an SPRAM memory too: Yosys tiles it into
/// 16-bit blocks itself, and the loader writes whole words).
pub fn column_bits(mem: &WeightMem, width: usize) -> usize {
    match *mem {
        WeightMem::Block { width: w, cols, rows: 1, .. } if cols > 1 => w,
        _ => width,
    }
}

/// The hardware decisions for one MVTU on 7-series (or no arch).
pub fn mvtu(cfg: &MvtuConfig) -> MvtuHw {
    mvtu_for(cfg, None)
}

/// The hardware decisions for one MVTU on `arch` (no arch: 7-series): [`mvtu`]'s memories, and
/// on iCE40 pipeline registers at [`ice40_cuts`] and [`ICE40_SUM_STAGES`] on the lane sums
/// (`latency = MVTU_LATENCY + stages`).
pub fn mvtu_for(cfg: &MvtuConfig, arch: Option<Arch>) -> MvtuHw {
    let wmem = weight_mem(cfg.mem_style, cfg.cycles(), cfg.simd);
    // A multi-threshold's ROM feeds its comparators as a threshold ROM feeds the adder: each bit,
    // behind a registered address of at most three bits, shares the comparator bit's LUT6.
    let trom = match cfg.output {
        MvtuOutput::Scores => None,
        _ if ubits(cfg.nf() as u64 - 1) <= MERGE_ADDR_BITS => Some(RomForm::RegisteredAddress),
        _ => Some(RomForm::RegisteredWord),
    };
    let hw = MvtuHw {
        wmem,
        wmem_column_bits: column_bits(&wmem, cfg.simd),
        trom,
        latency: MVTU_LATENCY,
        cuts: StageCuts::NONE,
    };
    match arch {
        Some(Arch::Ice40(_)) => {
            let cuts = ice40_cuts(cfg);
            MvtuHw { latency: MVTU_LATENCY + cuts.len() + ICE40_SUM_STAGES, cuts, ..hw }
        }
        _ => hw,
    }
}

/// [`mvtu_for`] on any iCE40 part (the decisions do not depend on which).
pub fn mvtu_ice40(cfg: &MvtuConfig) -> MvtuHw {
    mvtu_for(cfg, Some(Arch::Ice40(crate::dataflow::target::Ice40Part::Up5k)))
}

/// Whether `hw` is a pipeline the legalizer writes for `cfg` on `arch` now, or, on iCE40, one
/// that an earlier legalizer wrote ([`ICE40_EARLIER_PIPELINES`]) with the same memories: each
/// builds and counts as it says.
pub fn mvtu_is_legal(cfg: &MvtuConfig, arch: Option<Arch>, hw: &MvtuHw) -> bool {
    let legal = mvtu_for(cfg, arch);
    hw == &legal
        || matches!(arch, Some(Arch::Ice40(_)))
            && ICE40_EARLIER_PIPELINES.iter().any(|&(latency, cuts)| hw == &MvtuHw { latency, cuts, ..legal })
}

/// The hardware decisions for one sliding-window unit: its ring of rows in block RAM from
/// [`BLOCK_MIN_BITS`], in LUT RAM below.
pub fn swu(cfg: &SwuConfig) -> SwuHw {
    SwuHw { ring: mem_style(MemStyle::Auto, cfg.ring_words(), cfg.bits()) }
}

/// [`swu`] on `arch`: iCE40 has no LUT RAM (Yosys finds no mapping for a ring marked
/// distributed), so every ring there is in EBR.
pub fn swu_for(cfg: &SwuConfig, arch: Option<Arch>) -> SwuHw {
    match arch {
        Some(Arch::Ice40(_)) => SwuHw { ring: MemStyle::Block },
        _ => swu(cfg),
    }
}

/// Where a FIFO of `depth` words of `width` bits keeps them on `arch` (no arch: 7-series).
///
/// On iCE40, which has no LUT RAM, a FIFO in flip-flops costs a flip-flop per bit and about
/// 0.8 LUT4 per bit of read multiplexer: a 1024 x 4 FIFO is 4,096 flip-flops and 4,527 LUT4 in
/// Yosys, where one 4 Kbit EBR holds it. It goes to EBR from [`BLOCK_MIN_BITS`] when its words
/// fill at least a quarter of the EBRs they take (a wide, shallow FIFO would waste most of
/// them; EBRs are few: 30 on the UP5K). On 7-series a LUT holds 64 bits of LUT RAM, so FIFOs
/// stay there (deep ones in RAMB18 are not measured yet).
pub fn fifo_ram(arch: Option<Arch>, depth: usize, width: usize) -> MemStyle {
    let bits = depth * width;
    match arch {
        Some(Arch::Ice40(_))
            if bits >= BLOCK_MIN_BITS && 4 * bits as u64 >= ice40::ebr(depth, width) * ice40::EBR_BITS =>
        {
            MemStyle::Block
        }
        _ => MemStyle::Distributed,
    }
}

/// How FIFOs and width converters build their handshake flags on `arch` (no arch: 7-series).
///
/// On the UP5K, with the MVTUs' data paths pipelined, the demo's critical path (29.4 ns,
/// 34.0 MHz) was a width converter's word count -> its `cnt <= o` compare (a LUT and a carry
/// chain) -> the MVTU's `advance` before it and the next FIFO's write enables; the FIFOs' `count
/// == depth` compares sit the same way in front of their neighbours' handshakes. Registering the
/// next count's compares (two flip-flops a block, no change in any cycle) takes them off those
/// chains. 7-series designs keep the compares: a LUT6 holds one, and their text stays as it was.
pub fn flags(arch: Option<Arch>) -> Flags {
    match arch {
        Some(Arch::Ice40(_)) => Flags::Registered,
        _ => Flags::Combinational,
    }
}

/// The legalize pass: writes [`mvtu`]'s decisions into every MVTU, [`swu`]'s into every
/// sliding-window unit, [`fifo_ram`]'s into every FIFO and [`flags`]' into every FIFO and width
/// converter (bypass chains included).
///
/// Weights in SPRAM (`mem=spram`, which only the iCE40 folder chooses) are refused unless the
/// graph is for an iCE40 part that has SPRAM.
pub fn run(graph: &mut Graph, _model: &Model) -> Result<(), DataflowError> {
    let arch = graph.arch;
    spram_allowed(graph)?;
    let decide = |n: &mut crate::dataflow::Node| match &mut n.kind {
        NodeKind::Mvtu { cfg, hw, .. } => *hw = Some(mvtu_for(cfg, arch)),
        NodeKind::Swu { cfg, hw } => *hw = Some(swu_for(cfg, arch)),
        NodeKind::Fifo { depth, ram, flags: f } => {
            *ram = fifo_ram(arch, *depth, n.in_bits);
            *f = flags(arch);
        }
        NodeKind::WidthConverter { flags: f } => *f = flags(arch),
        _ => {}
    };
    for n in &mut graph.nodes {
        if let NodeKind::Add { bypass, .. } = &mut n.kind {
            bypass.iter_mut().for_each(&decide);
        }
        decide(n);
    }
    Ok(())
}

/// Refuses `mem=spram` on an MVTU of a graph whose arch has no SPRAM (7-series, no arch, or an
/// iCE40 part other than the UltraPlus).
pub fn spram_allowed(graph: &Graph) -> Result<(), DataflowError> {
    let has = matches!(graph.arch, Some(Arch::Ice40(p)) if p.spec().spram > 0);
    for n in graph.all_nodes() {
        if let NodeKind::Mvtu { cfg, .. } = &n.kind {
            if cfg.mem_style == MemStyle::Spram && !has {
                return Err(DataflowError::Graph(format!(
                    "node {}: weights in SPRAM need an iCE40 UltraPlus part (--arch ice40 --part up5k)",
                    n.name
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::{LaneInput, Popcount};

    fn cfg(mw: usize, mh: usize, pe: usize, simd: usize, output: MvtuOutput) -> MvtuConfig {
        MvtuConfig {
            name: "L1".into(),
            mw,
            mh,
            pe,
            simd,
            input: LaneInput::Binary,
            output,
            popcount: Popcount::Compressor,
            mem_style: MemStyle::Auto,
        }
    }

    #[test]
    fn auto_memories_go_to_block_ram_from_one_kilobit() {
        assert_eq!(mem_style(MemStyle::Auto, 64, 16), MemStyle::Block);
        assert_eq!(mem_style(MemStyle::Auto, 63, 16), MemStyle::Distributed);
        assert_eq!(mem_style(MemStyle::Distributed, 4096, 64), MemStyle::Distributed);
    }

    #[test]
    fn a_one_block_deep_block_rom_is_cut_into_block_wide_columns() {
        // 7168 x 14: two bits by 8192 words per RAMB18, seven columns.
        let m = weight_mem(MemStyle::Block, 7168, 14);
        assert_eq!(m, WeightMem::Block { width: 2, depth: 8192, cols: 7, rows: 1 });
        assert_eq!(column_bits(&m, 14), 2);
        // A LUT ROM, one that fits a single block, or one several blocks deep stays whole.
        assert_eq!(column_bits(&weight_mem(MemStyle::Distributed, 7168, 14), 14), 14);
        assert_eq!(column_bits(&weight_mem(MemStyle::Block, 512, 14), 14), 14);
        let deep = weight_mem(MemStyle::Block, 2304, 32);
        assert!(matches!(deep, WeightMem::Block { rows, .. } if rows > 1), "{deep:?}");
        assert_eq!(column_bits(&deep, 32), 32);
    }

    /// SPRAM is 16 bits by 16K words: a PE's memory takes its blocks across (SIMD / 16, rounded
    /// up) and down (words / 16K, rounded up), stays one memory in the Verilog, and only the
    /// folding's `mem=spram` puts it there (`Auto` never does: the part's budget decides that).
    #[test]
    fn spram_memories_take_sixteen_bit_sixteen_k_word_blocks() {
        assert_eq!(weight_mem(MemStyle::Spram, 12544, 16), WeightMem::Spram { cols: 1, rows: 1 });
        assert_eq!(weight_mem(MemStyle::Spram, 16384, 16), WeightMem::Spram { cols: 1, rows: 1 });
        assert_eq!(weight_mem(MemStyle::Spram, 16385, 16), WeightMem::Spram { cols: 1, rows: 2 });
        assert_eq!(weight_mem(MemStyle::Spram, 6272, 32), WeightMem::Spram { cols: 2, rows: 1 });
        assert_eq!(weight_mem(MemStyle::Spram, 4096, 8), WeightMem::Spram { cols: 1, rows: 1 });
        assert_eq!(weight_mem(MemStyle::Spram, 6272, 32).spram(), 2);
        assert_eq!(column_bits(&weight_mem(MemStyle::Spram, 6272, 32), 32), 32);
        assert_eq!(weight_mem(MemStyle::Auto, 1 << 20, 64).spram(), 0);
        let mut c = cfg(784, 256, 1, 16, MvtuOutput::Threshold);
        c.mem_style = MemStyle::Spram;
        assert_eq!(mvtu(&c).wmem, WeightMem::Spram { cols: 1, rows: 1 });
        // The iCE40 estimate counts the blocks (per PE), and the 7-series one the RAMB18s it
        // would be, since SPRAM is not legal there.
        c.pe = 2;
        let hw = mvtu(&c);
        let e = ice40::mvtu_with(&c, &hw, None);
        c.mem_style = MemStyle::Block;
        let b = ice40::mvtu_with(&c, &mvtu(&c), None);
        assert_eq!((e.spram, b.spram), (2, 0), "{e:?}");
        // The weights' EBRs (two PEs of 6272 x 16 bits: 25 each) leave; the rest stays.
        assert_eq!(b.ebr - e.ebr, 2 * ice40::ebr(6272, 16), "{e:?} {b:?}");
    }

    #[test]
    fn threshold_roms_up_to_eight_words_are_read_through_a_registered_address() {
        let hw = |nf: usize| mvtu(&cfg(64, 4 * nf, 4, 8, MvtuOutput::Threshold)).trom;
        assert_eq!(hw(1), Some(RomForm::RegisteredAddress));
        assert_eq!(hw(8), Some(RomForm::RegisteredAddress));
        assert_eq!(hw(9), Some(RomForm::RegisteredWord));
        assert_eq!(mvtu(&cfg(64, 8, 4, 8, MvtuOutput::Scores)).trom, None);
        assert_eq!(mvtu(&cfg(64, 8, 4, 8, MvtuOutput::Scores)).latency, MVTU_LATENCY);
    }

    /// A multi-threshold's ROM (levels fields per word) is read as a threshold ROM is: through a
    /// registered address up to NF = 8, into a registered word beyond; the latency is the same.
    #[test]
    fn multi_threshold_roms_take_the_threshold_roms_forms() {
        let ty = crate::model::IntType { bits: 3, signed: true };
        let multi = MvtuOutput::Multi { ty, bias: -3, levels: 6 };
        let hw = |nf: usize| mvtu(&cfg(64, 4 * nf, 4, 8, multi));
        assert_eq!(hw(8).trom, Some(RomForm::RegisteredAddress));
        assert_eq!(hw(9).trom, Some(RomForm::RegisteredWord));
        assert_eq!(hw(9).latency, MVTU_LATENCY);
        let c = cfg(64, 36, 4, 8, multi);
        // Six thresholds clamped into 0..=65: 8 bits each.
        assert_eq!((c.tfield_bits(), c.tmem_bits(), c.field_bits(), c.out_bits()), (8, 48, 3, 12));
    }

    /// `g` legalized (its decisions need no weights, so no model layers), verified and read back
    /// from its text form; the text.
    fn legalized(g: &mut Graph) -> String {
        let model = Model {
            name: "m".into(),
            input: crate::model::Shape::new(1, 1, 1),
            layers: Vec::new(),
            output: Default::default(),
            provenance: Default::default(),
        };
        run(g, &model).expect("legalize");
        g.verify_legal().expect("legalized");
        let text = g.to_string();
        assert_eq!(&Graph::parse(&text).expect("parse"), g);
        text
    }

    /// On iCE40 every FIFO and width converter gets registered handshake flags, written in the
    /// text as `flags=registered` and read back; 7-series keeps the compares and its text. A
    /// graph written before (combinational flags) still loads on iCE40; registered flags on
    /// 7-series are refused.
    #[test]
    fn ice40_fifos_and_converters_get_registered_flags() {
        use crate::dataflow::target::Ice40Part;
        use crate::dataflow::Node;
        let up5k = Some(Arch::Ice40(Ice40Part::Up5k));
        let chain = |arch| Graph {
            name: "g".into(),
            nodes: vec![Node::width_converter("W1", 4, 16, 64), Node::fifo("F1", 16, 4, 3)],
            arch,
        };
        let flags_of = |g: &Graph| -> Vec<Flags> {
            g.nodes
                .iter()
                .filter_map(|n| match n.kind {
                    NodeKind::Fifo { flags, .. } | NodeKind::WidthConverter { flags } => Some(flags),
                    _ => None,
                })
                .collect()
        };
        let mut g = chain(up5k);
        let text = legalized(&mut g);
        assert_eq!(flags_of(&g), [Flags::Registered; 2]);
        assert_eq!(text.matches("flags=registered").count(), 2, "{text}");
        let mut x = chain(None);
        let text = legalized(&mut x);
        assert_eq!(flags_of(&x), [Flags::Combinational; 2]);
        assert!(!text.contains("flags="), "{text}");
        // An earlier legalizer's iCE40 graph (no flags written) loads and builds as it says.
        let old = chain(up5k);
        old.verify_legal().expect("an earlier iCE40 graph");
        // Registered flags where the legalizer would not put them are refused.
        let mut bad = chain(None);
        bad.nodes[1].kind = NodeKind::Fifo { depth: 4, ram: MemStyle::Distributed, flags: Flags::Registered };
        let e = bad.verify_legal().expect_err("registered flags on 7-series");
        assert!(e.to_string().contains("not the legalizer's"), "{e}");
    }

    /// On iCE40 a FIFO whose words fill a quarter of the EBRs they take goes to EBR; on 7-series
    /// (or no arch) every FIFO stays in LUT RAM. The decision round-trips through the text form
    /// and a hand-edited one is refused.
    #[test]
    fn deep_fifos_go_to_ebr_on_ice40() {
        use crate::dataflow::target::Ice40Part;
        let up5k = Some(Arch::Ice40(Ice40Part::Up5k));
        assert_eq!(fifo_ram(up5k, 1024, 4), MemStyle::Block);
        assert_eq!(fifo_ram(up5k, 64, 16), MemStyle::Block, "1 Kbit in one EBR");
        assert_eq!(fifo_ram(up5k, 63, 16), MemStyle::Distributed, "under 1 Kbit");
        assert_eq!(fifo_ram(up5k, 64, 64), MemStyle::Block, "4 Kbit in 4 EBRs: a quarter full");
        assert_eq!(fifo_ram(up5k, 2, 1000), MemStyle::Distributed, "63 EBRs for 2 Kbit");
        for arch in [None, Some(Arch::Xc7)] {
            assert_eq!(fifo_ram(arch, 1024, 4), MemStyle::Distributed);
        }
        let fifo = crate::dataflow::Node::fifo("F1", 4, 64, 1024);
        let mut g = Graph { name: "g".into(), nodes: vec![fifo], arch: up5k };
        assert!(g.verify_legal().is_err(), "an iCE40 FIFO left in flip-flops is not the legalizer's");
        let text = legalized(&mut g);
        assert!(text.contains("fifo depth=1024 ram=block"), "{text}");
        g.arch = Some(Arch::Xc7);
        let e = g.verify_legal().expect_err("a 7-series FIFO in block RAM");
        assert!(e.to_string().contains("not the legalizer's"), "{e}");
    }

    /// An iCE40 MVTU's pipeline: the sum register and a register at each of `ice40_cuts`
    /// (the input word, and the k-bit lanes' terms or the binary lanes' tree), written as
    /// `latency=5 cuts=...` and read back; the pipelines earlier legalizers wrote still verify,
    /// cuts the legalizer would not choose do not, and the estimate counts every cut's
    /// flip-flops.
    #[test]
    fn ice40_mvtus_place_their_stages_at_the_cuts_and_old_pipelines_still_load() {
        use crate::dataflow::target::Ice40Part;
        let up5k = Some(Arch::Ice40(Ice40Part::Up5k));
        let mut int = cfg(64, 16, 4, 8, MvtuOutput::Threshold);
        int.input = LaneInput::Int { bits: 8, signed: false };
        let bin = cfg(256, 16, 4, 32, MvtuOutput::Threshold);
        for (c, cuts) in [(&int, "input,terms"), (&bin, "input,tree")] {
            let hw = mvtu_for(c, up5k);
            assert_eq!((hw.latency, hw.stages(), hw.sum_stages()), (MVTU_LATENCY + 3, 3, 1));
            let node = crate::dataflow::Node::mvtu(crate::model::LayerId(1), c.clone());
            let mut g = Graph { name: "g".into(), nodes: vec![node], arch: up5k };
            let text = legalized(&mut g);
            assert!(text.contains(&format!("latency=5 cuts={cuts} ")), "{text}");
            let set = |g: &mut Graph, new: MvtuHw| {
                if let NodeKind::Mvtu { hw: h, .. } = &mut g.nodes[0].kind {
                    *h = Some(new);
                }
            };
            for (latency, cuts) in ICE40_EARLIER_PIPELINES {
                set(&mut g, MvtuHw { latency, cuts, ..hw });
                g.verify_legal().expect("an earlier legalizer's pipeline");
            }
            set(&mut g, MvtuHw { cuts: StageCuts::of(&[Cut::Terms, Cut::Tree]), ..hw });
            let e = g.verify().expect_err("cuts the legalizer would not choose");
            assert!(e.to_string().contains("not the legalizer's"), "{e}");
            // The flip-flops: one stage on the sums counts as before, each cut its register.
            let sums = MvtuHw { latency: MVTU_LATENCY + 1, cuts: StageCuts::NONE, ..hw };
            let cut_ff: usize = hw.cuts.iter().map(|k| c.cut_bits(k)).sum();
            let ctl = 2 * (3 + ubits(c.nf() as u64 - 1));
            assert_eq!(c.pipeline_bits(&hw), c.pipeline_bits(&sums) + cut_ff + ctl);
            let (a, b) = (ice40::mvtu_with(c, &hw, None), ice40::mvtu_with(c, &sums, None));
            assert_eq!(a.dff - b.dff, (cut_ff + ctl) as u64);
        }
        // The input word (64 bits) and the address (ubits(8 * 4 - 1) = 5); 4 PEs x 8 terms of
        // 9 bits; SIMD 32: 11 first counters put 11 bits in columns 0 and 1, whose 6:3 and 5:3
        // counters leave 2, 4, 4 and 2 bits in columns 0 to 3: 12 per PE.
        assert_eq!(int.cut_bits(Cut::Input), 64 + 5);
        assert_eq!(int.cut_bits(Cut::Terms), 4 * 8 * 9);
        assert_eq!(bin.cut_bits(Cut::Tree), 4 * 12);
        // 7-series keeps no stages.
        assert_eq!(mvtu(&bin).cuts, StageCuts::NONE);
    }

    #[test]
    fn a_window_units_ring_is_decided_and_a_hand_edited_decision_is_refused() {
        let swu = |h: usize, w: usize, c: usize| SwuConfig {
            name: "S1".into(),
            h,
            w,
            c,
            elem_bits: 1,
            simd: c,
            kernel: 3,
            stride: 1,
            pad: 0,
            pad_bit: false,
        };
        // 6 rows of 4 pixels of 8 bits: 192 bits in LUT RAM; of 32 x 64 bits: 12 Kb in a block.
        assert_eq!(super::swu(&swu(4, 4, 8)).ring, MemStyle::Distributed);
        assert_eq!(super::swu(&swu(32, 32, 64)).ring, MemStyle::Block);
        let mut g =
            Graph { name: "g".into(), nodes: vec![crate::dataflow::Node::swu(swu(32, 32, 64))], arch: None };
        assert!(g.verify_legal().is_err(), "a window unit without its decision is not legal");
        let text = legalized(&mut g);
        assert!(text.contains("ringmem=block"), "{text}");
        if let NodeKind::Swu { hw, .. } = &mut g.nodes[0].kind {
            *hw = Some(SwuHw { ring: MemStyle::Distributed });
        }
        let e = g.verify().expect_err("a ring the legalizer would not choose");
        assert!(e.to_string().contains("not the legalizer's"), "{e}");
    }
}
