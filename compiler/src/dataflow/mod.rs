//! The dataflow IR: what the hardware is.
//!
//! A [`Graph`] is a pipeline of nodes (MVTUs, sliding-window units, max-pool units, FIFOs, width
//! converters, argmax) joined by ready/valid streams of a given width, addressed by [`NodeId`]; an
//! MVTU names the model layer it computes by its [`LayerId`](crate::model::LayerId) and, once
//! legalized, carries its hardware decisions ([`MvtuHw`]). The graph has a verifier
//! ([`Graph::verify`]) and a text form that reads back exactly ([`Graph::parse`]). The passes that
//! build it are [`crate::passes`]; the folding search is [`fold`] and the cost model, which counts
//! what the graph says, is [`cost`]. `hdl` turns a graph into rust-hdl blocks and Verilog.

pub mod conv;
pub mod cost;
pub mod fold;
mod graph;
pub mod ident;
pub mod target;
mod text;
pub mod traffic;
pub mod width;

pub use conv::{PoolConfig, SwuConfig};
pub use graph::{
    Graph, Node, NodeId, NodeKind, PerNode, MAX_FIFO_DEPTH, MAX_FRAME_WORDS, MAX_NODES, MAX_STREAM_BITS,
};
pub use ident::{verilog_string, VerilogIdent};
use width::set;
pub use width::{mask, sbits, sext, ubits, width_of, words};

use crate::model::{Activation, BitMatrix, IntType, LayerId, ModelError, MAX_ACT_BITS, MIN_ACT_BITS};
use serde::{Deserialize, Serialize};

fn list(ids: &[LayerId]) -> String {
    ids.iter().map(LayerId::to_string).collect::<Vec<_>>().join(", ")
}

/// Why no folding fits an iCE40 part: what the smallest design needs, and what would hold it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "no folding fits the iCE40 {part} ({part_lc} logic cells, {part_ebr} EBR){at}: the smallest such design \
     ({cycles} cycles per frame) needs an estimated {lc} logic cells ({board_lc} of them the board top's) \
     and {ebr} EBR; {advice}"
)]
pub struct PartShortfall {
    /// The part.
    pub part: String,
    /// Its logic cells.
    pub part_lc: u64,
    /// Its EBRs.
    pub part_ebr: u64,
    /// ` at N cycles per frame` when a cycle target was given, else empty.
    pub at: String,
    /// The smallest design's cycles per frame.
    pub cycles: u64,
    /// Its estimated logic cells, the board top's included.
    pub lc: u64,
    /// The board top's estimated logic cells ([`cost::ice40::board_top`]).
    pub board_lc: u64,
    /// Its estimated EBRs.
    pub ebr: u64,
    /// The smallest part that holds it, or what would have to change.
    pub advice: String,
}

/// What can be wrong with a dataflow graph or a folding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataflowError {
    /// The model itself does not verify.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model has no dense or convolutional layer.
    #[error("the model has no binary layer to lower")]
    NoBinaryLayer,
    /// A folding names a layer that is not one of the model's binary layers.
    #[error(
        "the folding names layer {layer}, which the model does not have (its binary layers: {})",
        list(known)
    )]
    UnknownLayer {
        /// The layer named.
        layer: LayerId,
        /// The model's binary layers.
        known: Vec<LayerId>,
    },
    /// A folding file's layer key is not `L` and a layer index.
    #[error("layer key {0:?}: a folding names layers as L and the model layer's index (L1, L2, ...)")]
    LayerKey(String),
    /// No folding is as fast as the cycle target.
    #[error("no folding reaches {target} cycles per frame (the fastest is {fastest})")]
    CyclesOutOfReach {
        /// Cycles per frame asked for.
        target: u64,
        /// The fastest folding's cycles per frame.
        fastest: u64,
    },
    /// A residual block's bypass node is slower than the cycle target under every folding the
    /// folder tried: its words are as wide as its producer allows.
    #[error(
        "no folding reaches {target} cycles per frame: node {node} on a residual bypass needs {cycles} \
         (its words are as wide as the layer before the block allows); ask for at least {cycles} cycles"
    )]
    BypassOutOfReach {
        /// The bypass node.
        node: String,
        /// Its cycles per frame at the widest words found.
        cycles: u64,
        /// Cycles per frame asked for.
        target: u64,
    },
    /// No folding fits the LUT budget.
    #[error(
        "no folding fits in {budget} LUTs: the smallest design (PE = SIMD = 1, {slowest} cycles per frame) \
         needs an estimated {least} LUTs"
    )]
    OverBudget {
        /// LUTs allowed.
        budget: u64,
        /// The smallest design's cycles per frame.
        slowest: u64,
        /// The smallest design's estimated LUTs.
        least: u64,
    },
    /// No folding fits an iCE40 part (`compile --arch ice40 --part`).
    #[error("{0}")]
    PartTooSmall(Box<PartShortfall>),
    /// A clock frequency out of range.
    #[error("the clock must be a number of MHz above 0 and at most {max}, got {got}", max = fold::MAX_FCLK_MHZ)]
    Clock {
        /// The frequency given, MHz.
        got: f64,
    },
    /// A cycle target of zero.
    #[error(
        "the target is 0 cycles per frame (or more frames/s than the clock has cycles); a frame takes at least 1 cycle"
    )]
    ZeroCycles,
    /// A LUT budget out of range.
    #[error("the LUT budget must be from 1 to {max} (more than the largest FPGA has), got {got}", max = fold::MAX_LUT_BUDGET)]
    LutBudget {
        /// The budget given.
        got: u64,
    },
    /// A graph the verifier refuses after a pass of the pipeline: a bug in that pass.
    #[error("internal error: after the {pass} pass the graph fails the verifier ({source}); this is a bug")]
    Pass {
        /// The pass.
        pass: &'static str,
        /// What the verifier found.
        source: Box<DataflowError>,
    },
    /// A line of the graph's text form that does not parse.
    #[error("line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An illegal folding or shape of one layer.
    #[error("layer {layer}: {message}")]
    Folding {
        /// The layer's name.
        layer: String,
        /// What is wrong and the legal values.
        message: String,
    },
    /// A graph that does not fit together (the verifier's finding).
    #[error("{0}")]
    Graph(String),
}

/// How the lanes' popcount is built.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Popcount {
    /// A balanced binary tree of adders over the XNOR bits.
    AdderTree,
    /// 3:2 counters with the XNOR folded in, then 6:3 counters, then one adder (LUT6-friendly).
    #[default]
    Compressor,
}

/// The element type of the lanes' input.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", from = "LaneInputFile")]
pub enum LaneInput {
    /// One bit per element (1 = +1): the lanes count XNOR matches.
    Binary,
    /// Integers of `bits` bits per element (the 8-bit input quantizers, or a k-bit activation):
    /// the lanes sum `+x` where the weight bit is 1, `-x` where it is 0.
    Int {
        /// Bits per element, [`MIN_ACT_BITS`]`..=`[`MAX_ACT_BITS`].
        bits: u8,
        /// Two's complement elements (else `0 ..= 2^bits - 1`).
        signed: bool,
    },
}

/// The serde form of [`LaneInput`] as read: graphs written before k-bit inputs name the 8-bit
/// input `fixed8`.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum LaneInputFile {
    Binary,
    Fixed8 { signed: bool },
    Int { bits: u8, signed: bool },
}

impl From<LaneInputFile> for LaneInput {
    fn from(f: LaneInputFile) -> Self {
        match f {
            LaneInputFile::Binary => LaneInput::Binary,
            LaneInputFile::Fixed8 { signed } => LaneInput::Int { bits: 8, signed },
            LaneInputFile::Int { bits, signed } => LaneInput::Int { bits, signed },
        }
    }
}

impl From<IntType> for LaneInput {
    fn from(t: IntType) -> Self {
        LaneInput::Int { bits: t.bits, signed: t.signed }
    }
}

impl LaneInput {
    /// Bits per input element.
    pub fn bits(self) -> usize {
        match self {
            LaneInput::Binary => 1,
            LaneInput::Int { bits, .. } => usize::from(bits),
        }
    }

    /// The integer type of the elements (`None` for binary).
    pub fn int_type(self) -> Option<IntType> {
        match self {
            LaneInput::Binary => None,
            LaneInput::Int { bits, signed } => Some(IntType { bits, signed }),
        }
    }

    /// The range of one lane's contribution: `0..=1` for binary; `+-x` over the element type
    /// (`-max ..= max` unsigned, `min ..= -min` two's complement).
    pub fn lane_range(self) -> (i64, i64) {
        match self.int_type() {
            None => (0, 1),
            Some(t) if t.signed => (t.min(), -t.min()),
            Some(t) => (-t.max(), t.max()),
        }
    }

    /// The range of a sum over `n` lanes.
    pub fn sum_range(self, n: usize) -> (i64, i64) {
        let (lo, hi) = self.lane_range();
        (lo * n as i64, hi * n as i64)
    }

    /// Width of a sum over `n` lanes (unsigned for binary, two's complement for integers).
    pub fn sum_bits(self, n: usize) -> usize {
        let (lo, hi) = self.sum_range(n);
        match self {
            LaneInput::Binary => ubits(hi as u64),
            LaneInput::Int { .. } => sbits(lo, hi),
        }
    }

    /// One lane's contribution: element `x` (its raw bits) against weight bit `w`.
    #[inline]
    pub fn lane(self, x: u64, w: bool) -> i64 {
        match self {
            LaneInput::Binary => i64::from((x & 1 == 1) == w),
            LaneInput::Int { bits, signed } => {
                let v = if signed { sext(x, usize::from(bits)) } else { x as i64 };
                if w {
                    v
                } else {
                    -v
                }
            }
        }
    }

    /// Checks the element width: binary, or integers of [`MIN_ACT_BITS`]`..=`[`MAX_ACT_BITS`].
    pub fn validate(self) -> Result<(), String> {
        match self {
            LaneInput::Int { bits, .. } if !(MIN_ACT_BITS..=MAX_ACT_BITS).contains(&bits) => Err(format!(
                "{bits}-bit integer elements: integers have {MIN_ACT_BITS} to {MAX_ACT_BITS} bits (1 bit is binary)"
            )),
            _ => Ok(()),
        }
    }
}

/// Which FPGA resource a memory should map to.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemStyle {
    /// Block RAM (`rom_style = "block"`).
    Block,
    /// LUTs (`rom_style = "logic"`, what Yosys maps to LUTs; Vivado calls this distributed).
    Distributed,
    /// Left to synthesis.
    #[default]
    Auto,
    /// iCE40 UltraPlus single-port RAM (SB_SPRAM256KA, 16K x 16 bits): not initialized by the
    /// configuration image, so the weights arrive through the board top's loader. Only the iCE40
    /// folder chooses it, for UltraPlus parts whose EBRs cannot hold the weights
    /// ([`crate::dataflow::fold::auto_fold_ice40`]); the legalizer refuses it for any other arch.
    Spram,
}

/// How a FIFO or a width converter builds its handshake flags (`s_ready`, `m_valid`), as the
/// legalizer decided ([`crate::passes::legalize::flags`]). Both blocks' flags are functions of
/// their word count alone, so both forms show the same flags on the same cycles.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flags {
    /// Compared from the count after it is registered: the compare sits in front of every
    /// neighbour's handshake logic.
    #[default]
    Combinational,
    /// Flip-flops loaded with the next count's compares: each flag leaves a register, which
    /// keeps the compare off the ready and valid chains between blocks (two flip-flops).
    Registered,
}

impl Flags {
    /// Whether the flags are flip-flops.
    pub fn registered(self) -> bool {
        self == Flags::Registered
    }

    /// The flip-flops the flags add to a block (both cost models count them): `s_ready` and
    /// `m_valid` when registered; the compares' LUTs are there in both forms.
    pub fn flip_flops(self) -> u64 {
        if self.registered() {
            2
        } else {
            0
        }
    }
}

/// How a threshold ROM is read, as the legalizer decided ([`crate::passes::legalize`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RomForm {
    /// The address is registered and the ROM read combinationally after it: a shallow ROM's bits
    /// then share LUT6s with the accumulator's start multiplexer and adder.
    RegisteredAddress,
    /// The word read is registered: a deeper ROM stays off the adder's path and its constant bits
    /// become flip-flop set/reset values.
    RegisteredWord,
}

/// One PE's weight memory, as the legalizer decided.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "style")]
pub enum WeightMem {
    /// A ROM in LUTs (`rom_style = "logic"`).
    Distributed,
    /// Block RAM (`rom_style = "block"`): RAMB18s in the aspect `width` bits x `depth` words, `cols`
    /// across and `rows` down.
    Block {
        /// Bits per RAMB18 word in the chosen aspect.
        width: usize,
        /// Words per RAMB18 in the chosen aspect.
        depth: usize,
        /// Blocks across the ROM's width.
        cols: usize,
        /// Blocks down the ROM's depth.
        rows: usize,
    },
    /// iCE40 UltraPlus SPRAM (16,384 words x 16 bits each): `cols` blocks across the memory's
    /// width and `rows` down its depth. A single-port RAM with the same registered read as the
    /// block ROM; its write port belongs to the board's weight loader.
    Spram {
        /// Blocks across the memory's width (16 bits each).
        cols: usize,
        /// Blocks down the memory's depth (16,384 words each).
        rows: usize,
    },
}

impl WeightMem {
    /// The `rom_style` the Verilog states.
    pub fn style(&self) -> MemStyle {
        match self {
            WeightMem::Distributed => MemStyle::Distributed,
            WeightMem::Block { .. } => MemStyle::Block,
            WeightMem::Spram { .. } => MemStyle::Spram,
        }
    }

    /// SPRAMs per PE (iCE40 UltraPlus).
    pub fn spram(&self) -> usize {
        match self {
            WeightMem::Spram { cols, rows } => cols * rows,
            _ => 0,
        }
    }

    /// 18 Kb block RAMs per PE.
    pub fn bram18(&self) -> usize {
        match self {
            WeightMem::Distributed | WeightMem::Spram { .. } => 0,
            WeightMem::Block { cols, rows, .. } => cols * rows,
        }
    }
}

/// The hardware decisions of one MVTU, written by the legalize pass; `hdl` builds exactly this
/// and `cost` counts it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MvtuHw {
    /// Each PE's weight memory.
    pub wmem: WeightMem,
    /// The weight memory is cut into column memories of this many bits (the last narrower),
    /// each mapped to its own blocks; `simd` when it stays whole.
    pub wmem_column_bits: usize,
    /// How the threshold ROM is read (threshold and multi modes).
    pub trom: Option<RomForm>,
    /// Cycles from the handshake of a vector's last input word to its output word being valid:
    /// [`crate::passes::legalize::MVTU_LATENCY`] plus [`MvtuHw::stages`].
    pub latency: usize,
    /// Where the pipeline stages sit between the input word and the accumulator: one register at
    /// each cut named here, the rest on the lane sums (graphs written before there were cuts
    /// have none: every stage on the sums).
    #[serde(default, skip_serializing_if = "StageCuts::is_empty")]
    pub cuts: StageCuts,
}

impl MvtuHw {
    /// Pipeline stages between the input word and the accumulator (0 in graphs written before
    /// there were any: their latency is the base one): [`MvtuHw::cuts`] and the registers on the
    /// lane sums.
    pub fn stages(&self) -> usize {
        self.latency.saturating_sub(crate::passes::legalize::MVTU_LATENCY)
    }

    /// The stages on the lane sums: those not at one of the [`MvtuHw::cuts`].
    pub fn sum_stages(&self) -> usize {
        self.stages().saturating_sub(self.cuts.len())
    }
}

/// A point between an MVTU's input-word selection and its accumulator where a pipeline register
/// may sit. Every register of the delay line advances on the controller's one enable, so moving
/// one from the lane sums to an earlier cut changes neither the latency nor any handshake.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cut {
    /// Before the lanes: the selected input word (once, shared by the PEs) and the weight
    /// memories' address, so that each memory's read lands a cycle later, beside it.
    Input,
    /// Inside the lanes, after each element's term (a k-bit lane's `+x` or `-x`, a binary
    /// lane's XNOR bit, which compressor lanes then count against a constant one) and before
    /// the tree.
    Terms,
    /// Inside the lanes' tree, after [`TREE_CUT_LEVELS`] of its levels (a compressor's first
    /// counters over the XNOR bits and one level of 6:3 counters; an adder tree's first two
    /// levels of adders), or before its final adder where it has fewer.
    Tree,
}

/// The levels of the lanes' tree before a register at [`Cut::Tree`].
pub const TREE_CUT_LEVELS: usize = 2;

impl Cut {
    /// Every cut, in pipeline order.
    pub const ALL: [Cut; 3] = [Cut::Input, Cut::Terms, Cut::Tree];

    /// The name the text form and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Cut::Input => "input",
            Cut::Terms => "terms",
            Cut::Tree => "tree",
        }
    }
}

/// The set of [`Cut`]s an MVTU's pipeline registers use (at most one register each), in
/// pipeline order; a list in JSON.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StageCuts(u8);

impl StageCuts {
    /// No cut: every stage on the lane sums.
    pub const NONE: StageCuts = StageCuts(0);

    /// The set of `cuts`.
    pub fn of(cuts: &[Cut]) -> StageCuts {
        StageCuts(cuts.iter().fold(0, |s, &c| s | 1 << c as u8))
    }

    /// Whether `cut` holds a register.
    pub fn has(self, cut: Cut) -> bool {
        self.0 & 1 << cut as u8 != 0
    }

    /// Whether there is no cut.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// How many cuts hold a register.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The cuts, in pipeline order.
    pub fn iter(self) -> impl Iterator<Item = Cut> {
        Cut::ALL.into_iter().filter(move |&c| self.has(c))
    }
}

impl Serialize for StageCuts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for StageCuts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let cuts = Vec::<Cut>::deserialize(d)?;
        let set = StageCuts::of(&cuts);
        if set.len() != cuts.len() {
            return Err(serde::de::Error::custom("a cut is named twice"));
        }
        Ok(set)
    }
}

/// [`MvtuHw::stages`] of an MVTU node's decisions, 0 before legalization.
pub fn mvtu_stages(hw: Option<&MvtuHw>) -> usize {
    hw.map_or(0, MvtuHw::stages)
}

/// The hardware decisions of one sliding-window unit, written by the legalize pass.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwuHw {
    /// Where the ring of input rows goes: `Block` (its read register in the block RAM's output
    /// register) or `Distributed` (LUT RAM), stated in the Verilog as `ram_style`.
    pub ring: MemStyle,
}

/// What the unit emits.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MvtuOutput {
    /// One bit per row: `[acc >= T]`.
    Threshold,
    /// A `ty.bits`-bit integer per row: `bias + #{j : acc >= t_j}` over the row's `levels`
    /// thresholds (FINN's MultiThreshold, [`crate::model::MultiThreshold`]), compared in parallel.
    Multi {
        /// The output type.
        ty: IntType,
        /// Output of a row whose accumulator is below all its thresholds.
        bias: i32,
        /// Thresholds per row.
        levels: usize,
    },
    /// The accumulator of every row (the last layer's scores).
    Scores,
}

impl MvtuOutput {
    /// The output mode that computes a layer's activation.
    pub fn of(a: &Activation) -> Self {
        match a {
            Activation::Threshold(_) => MvtuOutput::Threshold,
            Activation::Multi(m) => MvtuOutput::Multi { ty: m.ty, bias: m.bias, levels: m.levels },
            Activation::Scores => MvtuOutput::Scores,
        }
    }

    /// Thresholds per row in the threshold memory: 1, `levels`, or 0 for scores.
    pub fn levels(self) -> usize {
        match self {
            MvtuOutput::Threshold => 1,
            MvtuOutput::Multi { levels, .. } => levels,
            MvtuOutput::Scores => 0,
        }
    }

    /// The element type the next unit reads: bits, or the multi-threshold's integers (`None` for
    /// scores).
    pub fn elem(self) -> Option<LaneInput> {
        match self {
            MvtuOutput::Threshold => Some(LaneInput::Binary),
            MvtuOutput::Multi { ty, .. } => Some(ty.into()),
            MvtuOutput::Scores => None,
        }
    }
}

/// A layer's thresholds, channel-major (`levels` per channel for a multi-threshold); `None` for
/// scores.
pub fn activation_thresholds(a: &Activation) -> Option<&[i32]> {
    match a {
        Activation::Threshold(t) => Some(t),
        Activation::Multi(m) => Some(&m.thresholds),
        Activation::Scores => None,
    }
}

/// The shape and folding of one MVTU: everything the hardware depends on except the weights.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MvtuConfig {
    /// The layer's name, used in errors and file names.
    pub name: String,
    /// Columns (input elements per vector).
    pub mw: usize,
    /// Rows (outputs per vector).
    pub mh: usize,
    /// Rows computed in parallel.
    pub pe: usize,
    /// Columns consumed per cycle.
    pub simd: usize,
    /// Input element type.
    pub input: LaneInput,
    /// Output kind.
    pub output: MvtuOutput,
    /// Popcount structure of the lanes.
    pub popcount: Popcount,
    /// Resource for the weight memories.
    pub mem_style: MemStyle,
}

/// Divisors of `n`, the legal foldings of a dimension of size `n`.
pub fn divisors(n: usize) -> Vec<usize> {
    (1..=n).filter(|d| n % d == 0).collect()
}

impl MvtuConfig {
    /// Checks the folding: `MH % PE == 0`, `MW % SIMD == 0`, sizes non-zero.
    pub fn validate(&self) -> Result<(), DataflowError> {
        let err = |message: String| Err(DataflowError::Folding { layer: self.name.clone(), message });
        if self.mw == 0 || self.mh == 0 {
            return err(format!("a {}x{} matrix has no weights", self.mh, self.mw));
        }
        let legal = |n: usize| {
            let d = divisors(n);
            d.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        };
        if self.pe == 0 || self.mh % self.pe != 0 {
            return err(format!(
                "PE = {} does not divide MH = {}; legal PE: {}",
                self.pe,
                self.mh,
                legal(self.mh)
            ));
        }
        if self.simd == 0 || self.mw % self.simd != 0 {
            return err(format!(
                "SIMD = {} does not divide MW = {}; legal SIMD: {}",
                self.simd,
                self.mw,
                legal(self.mw)
            ));
        }
        self.input.validate().or_else(|m| err(format!("input: {m}")))?;
        if let MvtuOutput::Multi { ty, bias, levels } = self.output {
            if !(MIN_ACT_BITS..=MAX_ACT_BITS).contains(&ty.bits) {
                return err(format!(
                    "a multi-threshold output has {MIN_ACT_BITS} to {MAX_ACT_BITS} bits, found {}",
                    ty.bits
                ));
            }
            let most = (1usize << ty.bits) - 1;
            if levels == 0 || levels > most {
                return err(format!("{levels} thresholds per row: a {ty} output has 1 to {most}"));
            }
            let (lo, hi) = (i64::from(bias), i64::from(bias) + levels as i64);
            if lo < ty.min() || hi > ty.max() {
                return err(format!(
                    "outputs {lo} ..= {hi} (bias ..= bias + levels) do not fit {ty} ({} ..= {})",
                    ty.min(),
                    ty.max()
                ));
            }
        }
        Ok(())
    }

    /// Synapse fold: input words per vector.
    pub fn sf(&self) -> usize {
        self.mw / self.simd
    }

    /// Neuron fold: output words per vector.
    pub fn nf(&self) -> usize {
        self.mh / self.pe
    }

    /// Cycles per vector in steady state.
    pub fn cycles(&self) -> usize {
        self.sf() * self.nf()
    }

    /// Flip-flops of the pipeline register at `cut`: the selected input word and the weight
    /// memories' (shared) address at [`Cut::Input`]; at [`Cut::Terms`] every PE's lane terms
    /// (`k + 1` bits each for k-bit integers, one XNOR bit for binary lanes); at [`Cut::Tree`]
    /// every PE's partial sums ([`cost::tree_cut_bits`]).
    pub fn cut_bits(&self, cut: Cut) -> usize {
        match cut {
            Cut::Input => self.in_bits() + ubits(self.cycles() as u64 - 1),
            Cut::Terms => {
                let per_lane = match self.input {
                    LaneInput::Binary => 1,
                    LaneInput::Int { bits, .. } => usize::from(bits) + 1,
                };
                self.pe * self.simd * per_lane
            }
            Cut::Tree => self.pe * cost::tree_cut_bits(self.simd, self.input, self.popcount),
        }
    }

    /// Flip-flops of the pipeline stages of `hw` between the input word and the accumulator:
    /// its cuts' registers, every PE's sum per stage on the lane sums, and per stage the word's
    /// valid, first and last bits and its pass (the threshold address) in the controller.
    pub fn pipeline_bits(&self, hw: &MvtuHw) -> usize {
        let pass_bits = if self.has_tmem() { ubits(self.nf() as u64 - 1) } else { 0 };
        hw.cuts.iter().map(|c| self.cut_bits(c)).sum::<usize>()
            + hw.sum_stages() * self.pe * self.input.sum_bits(self.simd)
            + hw.stages() * (3 + pass_bits)
    }

    /// Input word width.
    pub fn in_bits(&self) -> usize {
        self.simd * self.input.bits()
    }

    /// The accumulator's range.
    pub fn acc_range(&self) -> (i64, i64) {
        self.input.sum_range(self.mw)
    }

    /// Whether the accumulator is two's complement (integer input).
    pub fn signed(&self) -> bool {
        matches!(self.input, LaneInput::Int { .. })
    }

    /// Score width (scores mode).
    pub fn acc_bits(&self) -> usize {
        let (lo, hi) = self.acc_range();
        width_of(lo, hi, self.signed())
    }

    /// Accumulator width in threshold mode, also the width of the stored thresholds: the
    /// accumulator starts at `-T` (T clamped to `lo ..= hi + 1`) and the output bit is its sign,
    /// so the unit needs no comparator.
    pub fn thr_bits(&self) -> usize {
        let (lo, hi) = self.acc_range();
        width_of(lo - hi - 1, hi - lo, true)
    }

    /// The accumulator's width in this unit's output mode (in multi mode two's complement, so
    /// that the comparators sign-extend it).
    pub fn reg_bits(&self) -> usize {
        match self.output {
            MvtuOutput::Threshold => self.thr_bits(),
            MvtuOutput::Multi { .. } => {
                let (lo, hi) = self.acc_range();
                sbits(lo, hi)
            }
            MvtuOutput::Scores => self.acc_bits(),
        }
    }

    /// Bits of one PE's field of the output word: 1, the multi-threshold's `k`, or the score
    /// width.
    pub fn field_bits(&self) -> usize {
        match self.output {
            MvtuOutput::Threshold => 1,
            MvtuOutput::Multi { ty, .. } => usize::from(ty.bits),
            MvtuOutput::Scores => self.acc_bits(),
        }
    }

    /// Output word width.
    pub fn out_bits(&self) -> usize {
        self.pe * self.field_bits()
    }

    /// Whether each PE has a threshold memory (threshold and multi modes).
    pub fn has_tmem(&self) -> bool {
        self.output.levels() > 0
    }

    /// Bits of one threshold field of the threshold memory: the stored `-T` in threshold mode
    /// ([`MvtuConfig::thr_bits`]); in multi mode a clamped `t_j` (`lo ..= hi + 1`, two's
    /// complement), which a comparator `acc >= t_j` reads; 0 in scores mode.
    pub fn tfield_bits(&self) -> usize {
        let (lo, hi) = self.acc_range();
        match self.output {
            MvtuOutput::Threshold => self.thr_bits(),
            MvtuOutput::Multi { .. } => sbits(lo, hi + 1),
            MvtuOutput::Scores => 0,
        }
    }

    /// Bits of a threshold memory word: `levels` fields of [`MvtuConfig::tfield_bits`] (0 in
    /// scores mode).
    pub fn tmem_bits(&self) -> usize {
        self.output.levels() * self.tfield_bits()
    }

    /// A threshold clamped into the accumulator's range plus one (same decisions, fewer bits).
    pub fn clamp_threshold(&self, t: i32) -> i64 {
        let (lo, hi) = self.acc_range();
        i64::from(t).clamp(lo, hi + 1)
    }

    /// The weight words of PE `p`: `NF * SF` words of SIMD bits.
    pub fn weight_words(&self, w: &BitMatrix, p: usize) -> Vec<Vec<u64>> {
        let mut out = Vec::with_capacity(self.cycles());
        for nf in 0..self.nf() {
            let row = nf * self.pe + p;
            for sf in 0..self.sf() {
                let mut word = vec![0u64; words(self.simd)];
                for j in 0..self.simd {
                    if w.get(row, sf * self.simd + j) {
                        word[j / 64] |= 1 << (j % 64);
                    }
                }
                out.push(word);
            }
        }
        out
    }

    /// The threshold words of PE `p`: per pass `nf`, row `nf * PE + p`'s thresholds clamped into
    /// `lo ..= hi + 1`, [`MvtuConfig::tfield_bits`] each: in threshold mode `-T` (the
    /// accumulator's start value), in multi mode its `levels` thresholds `t_j`, level `j` in
    /// field `j`. `t` holds `levels` thresholds per row, row-major.
    pub fn threshold_words(&self, t: &[i32], p: usize) -> Vec<Vec<u64>> {
        let (tw, levels) = (self.tfield_bits(), self.output.levels());
        let negate = self.output == MvtuOutput::Threshold;
        (0..self.nf())
            .map(|nf| {
                let row = nf * self.pe + p;
                let mut word = vec![0u64; words(levels * tw)];
                for j in 0..levels {
                    let v = self.clamp_threshold(t[row * levels + j]);
                    set(&mut word, j * tw, tw, (if negate { -v } else { v }) as u64 & mask(tw));
                }
                word
            })
            .collect()
    }
}
