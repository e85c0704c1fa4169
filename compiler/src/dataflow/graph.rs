//! The dataflow graph: a pipeline of hardware nodes joined by streams.

use super::{
    ubits, DataflowError, Flags, LaneInput, MemStyle, MvtuConfig, MvtuHw, PoolConfig, SwuConfig, SwuHw,
};
use crate::model::{IntType, LayerId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Typed index of a node in [`Graph::nodes`]. Printed as `n3`. Ids are positions, so a pass that
/// inserts nodes renumbers the ones after it; tables keyed by id ([`PerNode`]) are built after the
/// last pass.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl NodeId {
    /// Position in [`Graph::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// One value per node of a graph, indexed by [`NodeId`] (serialized as a plain list in node
/// order).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PerNode<T>(pub Vec<T>);

impl<T> PerNode<T> {
    /// `(id, value)` pairs in node order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.0.iter().enumerate().map(|(i, v)| (NodeId(i as u32), v))
    }

    /// The values in node order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> std::ops::Index<NodeId> for PerNode<T> {
    type Output = T;
    fn index(&self, id: NodeId) -> &T {
        &self.0[id.index()]
    }
}

impl<T> FromIterator<T> for PerNode<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Self {
        PerNode(it.into_iter().collect())
    }
}

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum NodeKind {
    /// A matrix-vector-threshold unit computing model layer `layer`, `vectors` times per frame
    /// (once per output pixel of a convolution).
    Mvtu {
        /// The model layer whose weights it holds.
        layer: LayerId,
        /// Shape, folding and structure.
        cfg: MvtuConfig,
        /// Input vectors per frame.
        #[serde(default = "one")]
        vectors: usize,
        /// The hardware decisions, written by the legalize pass (absent before it, and in a
        /// `graph.json` written before there was one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hw: Option<MvtuHw>,
    },
    /// A sliding-window unit feeding a convolution's MVTU.
    Swu {
        /// Shape, window and folding.
        cfg: SwuConfig,
        /// The hardware decisions, written by the legalize pass (absent before it, and in a
        /// `graph.json` written before there was one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hw: Option<SwuHw>,
    },
    /// A max-pool unit (OR over bits, maximum over integers).
    Pool {
        /// Shape, window, word width and element type.
        cfg: PoolConfig,
    },
    /// A FIFO of `depth` words.
    Fifo {
        /// Words held.
        depth: usize,
        /// Where the words go, as the legalize pass decided: `Distributed` (LUT RAM on 7-series,
        /// flip-flops on iCE40, read combinationally) or `Block` (block RAM, read through its
        /// output register with a bypass for the word written as it is read). Both show the same
        /// words on the same cycles. Absent in a `graph.json` written before there was a choice.
        #[serde(default = "distributed", skip_serializing_if = "is_distributed")]
        ram: MemStyle,
        /// Its handshake flags, as the legalize pass decided (absent: combinational, as in a
        /// `graph.json` written before there was a choice).
        #[serde(default, skip_serializing_if = "is_combinational")]
        flags: Flags,
    },
    /// A data-width converter (widths are the node's stream widths).
    WidthConverter {
        /// Its handshake flags, as the legalize pass decided (absent: combinational, as in a
        /// `graph.json` written before there was a choice).
        #[serde(default, skip_serializing_if = "is_combinational")]
        flags: Flags,
    },
    /// Argmax over the scores: `pe` fields of `bits` bits per word, `words` words per frame.
    Argmax {
        /// Scores per word.
        pe: usize,
        /// Bits per score.
        bits: usize,
        /// Words per frame.
        words: usize,
        /// Two's complement scores.
        signed: bool,
    },
    /// Copies every word of its stream to two consumers: the next node on the main path and the
    /// bypass of the next [`NodeKind::Add`]. It takes a word when both have taken the last.
    Duplicate,
    /// Binarizes words of `ty.bits`-bit signed integers into words of bits, one per element:
    /// `x >= 0` is 1 (+1), as a residual branch's sign.
    Sign {
        /// The element type read.
        ty: IntType,
    },
    /// Appends zero channels to every pixel: `c_in` channels in, `c_out` out, words of the
    /// stream's width (`in_bits / elem_bits` channels each, dividing both).
    ChannelPad {
        /// Channels per input pixel.
        c_in: usize,
        /// Channels per output pixel.
        c_out: usize,
        /// Bits per element.
        elem_bits: usize,
    },
    /// The saturating add of a residual block (model layer `layer`): each element of its main
    /// input plus the matching element of its bypass, clamped to `ty`. The bypass is the chain
    /// of nodes fed by the nearest preceding [`NodeKind::Duplicate`]'s second output (a max-pool
    /// and a channel pad for a downsampling block, width converters, the bypass FIFO); its last
    /// node's words have the main input's shape.
    Add {
        /// The residual block.
        layer: LayerId,
        /// The element type of both inputs and the output.
        ty: IntType,
        /// The bypass chain, in stream order (possibly empty).
        bypass: Vec<Node>,
    },
}

fn distributed() -> MemStyle {
    MemStyle::Distributed
}

fn is_distributed(m: &MemStyle) -> bool {
    *m == MemStyle::Distributed
}

fn is_combinational(f: &Flags) -> bool {
    *f == Flags::Combinational
}

fn one() -> usize {
    1
}

/// One node with its input and output streams.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Unique name (also the Verilog instance's suffix and the prefix of its memory files).
    pub name: String,
    /// What it is.
    pub kind: NodeKind,
    /// Input word width.
    pub in_bits: usize,
    /// Input words per frame.
    pub in_words: usize,
    /// Output word width.
    pub out_bits: usize,
    /// Output words per frame.
    pub out_words: usize,
}

impl Node {
    /// An MVTU node for model layer `layer`, one vector per frame.
    pub fn mvtu(layer: LayerId, cfg: MvtuConfig) -> Self {
        Self::mvtu_repeated(layer, cfg, 1)
    }

    /// An MVTU node for model layer `layer` taking `vectors` vectors per frame.
    pub fn mvtu_repeated(layer: LayerId, cfg: MvtuConfig, vectors: usize) -> Self {
        Node {
            name: cfg.name.clone(),
            in_bits: cfg.in_bits(),
            in_words: cfg.sf() * vectors,
            out_bits: cfg.out_bits(),
            out_words: cfg.nf() * vectors,
            kind: NodeKind::Mvtu { layer, cfg, vectors, hw: None },
        }
    }

    /// A sliding-window unit node.
    pub fn swu(cfg: SwuConfig) -> Self {
        Node {
            name: cfg.name.clone(),
            in_bits: cfg.bits(),
            in_words: cfg.in_words(),
            out_bits: cfg.bits(),
            out_words: cfg.out_words(),
            kind: NodeKind::Swu { cfg, hw: None },
        }
    }

    /// A max-pool node.
    pub fn pool(cfg: PoolConfig) -> Self {
        Node {
            name: cfg.name.clone(),
            in_bits: cfg.bits(),
            in_words: cfg.in_words(),
            out_bits: cfg.bits(),
            out_words: cfg.out_words(),
            kind: NodeKind::Pool { cfg },
        }
    }

    /// A FIFO on a stream of `bits`-bit words, `words` per frame.
    pub fn fifo(name: &str, bits: usize, words: usize, depth: usize) -> Self {
        Node {
            name: name.into(),
            kind: NodeKind::Fifo { depth, ram: MemStyle::Distributed, flags: Flags::Combinational },
            in_bits: bits,
            in_words: words,
            out_bits: bits,
            out_words: words,
        }
    }

    /// A width converter for frames of `frame_bits` bits.
    pub fn width_converter(name: &str, in_bits: usize, out_bits: usize, frame_bits: usize) -> Self {
        Node {
            name: name.into(),
            kind: NodeKind::WidthConverter { flags: Flags::Combinational },
            in_bits,
            in_words: frame_bits / in_bits,
            out_bits,
            out_words: frame_bits / out_bits,
        }
    }

    /// An argmax over the scores of `mvtu`.
    pub fn argmax(name: &str, mvtu: &MvtuConfig) -> Self {
        let (pe, words) = (mvtu.pe, mvtu.nf());
        Node {
            name: name.into(),
            kind: NodeKind::Argmax { pe, bits: mvtu.acc_bits(), words, signed: mvtu.signed() },
            in_bits: mvtu.out_bits(),
            in_words: words,
            out_bits: ubits((pe * words) as u64 - 1),
            out_words: 1,
        }
    }

    /// A stream-preserving node of kind `kind` (duplicate, add) on words of `bits`, `words` per
    /// frame.
    pub fn keeping(name: &str, kind: NodeKind, bits: usize, words: usize) -> Self {
        Node { name: name.into(), kind, in_bits: bits, in_words: words, out_bits: bits, out_words: words }
    }

    /// A sign node on words of `elems` integers of type `ty`, `words` per frame.
    pub fn sign(name: &str, ty: IntType, elems: usize, words: usize) -> Self {
        Node {
            name: name.into(),
            kind: NodeKind::Sign { ty },
            in_bits: elems * usize::from(ty.bits),
            in_words: words,
            out_bits: elems,
            out_words: words,
        }
    }

    /// A channel pad from `c_in` to `c_out` channels of `elem_bits` bits on words of `simd`
    /// elements, over `pixels` pixels per frame.
    pub fn channel_pad(
        name: &str,
        c_in: usize,
        c_out: usize,
        elem_bits: usize,
        simd: usize,
        pixels: usize,
    ) -> Self {
        Node {
            name: name.into(),
            kind: NodeKind::ChannelPad { c_in, c_out, elem_bits },
            in_bits: simd * elem_bits,
            in_words: pixels * (c_in / simd.max(1)),
            out_bits: simd * elem_bits,
            out_words: pixels * (c_out / simd.max(1)),
        }
    }

    /// The bypass chain of an add node (empty for every other kind).
    pub fn bypass(&self) -> &[Node] {
        match &self.kind {
            NodeKind::Add { bypass, .. } => bypass,
            _ => &[],
        }
    }

    /// Cycles this node needs per frame when nothing stalls it.
    pub fn cycles(&self) -> usize {
        match &self.kind {
            NodeKind::Mvtu { cfg, vectors, .. } => cfg.cycles() * vectors,
            _ => self.in_words.max(self.out_words),
        }
    }

    /// The MVTU configuration, for MVTU nodes.
    pub fn mvtu_cfg(&self) -> Option<&MvtuConfig> {
        match &self.kind {
            NodeKind::Mvtu { cfg, .. } => Some(cfg),
            _ => None,
        }
    }
}

/// The most nodes a graph may have: far beyond any network, small enough to bound every
/// per-node table a simulator allocates from a hand-edited `graph.json`.
pub const MAX_NODES: usize = 4096;
/// The widest stream word accepted, bits (the widest real stream, a fully parallel 8-bit input
/// of a 28x28 image, is 6,272 bits).
pub const MAX_STREAM_BITS: usize = 1 << 16;
/// The most words a stream may carry per frame.
pub const MAX_FRAME_WORDS: usize = 1 << 26;
/// The deepest FIFO accepted, words: the schedule's depths are a few words to a few frames.
pub const MAX_FIFO_DEPTH: usize = 1 << 20;

/// A pipeline: node `i`'s output stream is node `i+1`'s input stream; the first node's input is
/// the accelerator's input, the last node's output its output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    /// The design's name.
    pub name: String,
    /// Nodes in stream order.
    pub nodes: Vec<Node>,
    /// The FPGA `compile` built it for (absent: not stated, as in a `graph.json` written before
    /// there was one; the 7-series estimates apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<super::target::Arch>,
}

impl Graph {
    /// Checks that every stream joins nodes of equal width and frame length (the main path's, each
    /// bypass chain's from its duplicate to its add), every duplicate feeds exactly one add (the
    /// next one, with no other duplicate between them), every node's own streams match its kind,
    /// and every unit reads the element type its producer streams.
    pub fn verify(&self) -> Result<(), DataflowError> {
        self.verify_nodes()?;
        let link = |a: &Node, b: &Node| {
            if a.out_bits != b.in_bits || a.out_words != b.in_words {
                return Err(DataflowError::Graph(format!(
                    "stream {} -> {}: {} words of {} bits out, {} words of {} bits expected",
                    a.name, b.name, a.out_words, a.out_bits, b.in_words, b.in_bits
                )));
            }
            Ok(())
        };
        for w in self.nodes.windows(2) {
            link(&w[0], &w[1])?;
        }
        let mut open: Option<&Node> = None;
        for n in &self.nodes {
            match &n.kind {
                NodeKind::Duplicate => {
                    if let Some(d) = open {
                        return Err(DataflowError::Graph(format!(
                            "node {}: a second duplicate before the add that {} feeds",
                            n.name, d.name
                        )));
                    }
                    open = Some(n);
                }
                NodeKind::Add { bypass, .. } => {
                    let Some(d) = open.take() else {
                        return Err(DataflowError::Graph(format!(
                            "node {}: an add with no duplicate before it to feed its bypass",
                            n.name
                        )));
                    };
                    let mut prev = d;
                    for b in bypass {
                        link(prev, b)?;
                        prev = b;
                    }
                    // The bypass's last word shape is the main input's.
                    link(prev, n)?;
                }
                _ => {}
            }
        }
        if let Some(d) = open {
            return Err(DataflowError::Graph(format!("node {}: a duplicate that feeds no add", d.name)));
        }
        self.verify_elements()
    }

    /// The element type node `n` streams when its producer streams `cur` (unknown before the
    /// first unit that states it): an MVTU reads the type it states and streams its output's, a
    /// max-pool unit and a channel pad keep their own, a sign node reads its integers and
    /// streams bits, a sliding-window unit keeps elements of its width, FIFOs, width converters
    /// and duplicates keep the stream's, an add reads and streams its type.
    fn elem_step(n: &Node, cur: Option<LaneInput>) -> Result<Option<LaneInput>, DataflowError> {
        let (reads, streams) = match &n.kind {
            NodeKind::Mvtu { cfg, .. } => (Some(cfg.input), cfg.output.elem()),
            NodeKind::Pool { cfg } => (Some(cfg.elem()), Some(cfg.elem())),
            NodeKind::Swu { cfg, .. } => {
                if let Some(c) = cur.filter(|c| c.bits() != cfg.elem_bits) {
                    return Err(DataflowError::Graph(format!(
                        "node {}: {}-bit elements in, its producer streams {}",
                        n.name,
                        cfg.elem_bits,
                        elem_name(c)
                    )));
                }
                (None, cur)
            }
            NodeKind::ChannelPad { elem_bits, .. } => {
                if let Some(c) = cur.filter(|c| c.bits() != *elem_bits) {
                    return Err(DataflowError::Graph(format!(
                        "node {}: {elem_bits}-bit elements in, its producer streams {}",
                        n.name,
                        elem_name(c)
                    )));
                }
                (None, cur)
            }
            NodeKind::Sign { ty } => (Some((*ty).into()), Some(LaneInput::Binary)),
            NodeKind::Add { ty, .. } => (Some((*ty).into()), Some((*ty).into())),
            NodeKind::Fifo { .. } | NodeKind::WidthConverter { .. } | NodeKind::Duplicate => (None, cur),
            NodeKind::Argmax { .. } => (None, None),
        };
        if let (Some(r), Some(c)) = (reads, cur) {
            if r != c {
                return Err(DataflowError::Graph(format!(
                    "node {} reads {}, its producer streams {}",
                    n.name,
                    elem_name(r),
                    elem_name(c)
                )));
            }
        }
        Ok(streams)
    }

    /// Follows the element type along the main path and every bypass (from its duplicate's
    /// type to its add, which reads the same type on both inputs). Words of the right width but
    /// another element type would compute another network.
    fn verify_elements(&self) -> Result<(), DataflowError> {
        let mut cur: Option<LaneInput> = None;
        let mut dup: Option<LaneInput> = None;
        for n in &self.nodes {
            if let NodeKind::Add { bypass, .. } = &n.kind {
                let mut b = dup;
                for m in bypass {
                    b = Self::elem_step(m, b)?;
                }
                // The add reads its type from the bypass as from the main input.
                Self::elem_step(n, b)?;
            }
            if let NodeKind::Duplicate = n.kind {
                dup = cur;
            }
            cur = Self::elem_step(n, cur)?;
        }
        Ok(())
    }

    /// Every node: the main path in stream order, each add's bypass chain just before it (the
    /// order in which the cycle model and the Verilog list them).
    pub fn all_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flat_map(|n| n.bypass().iter().chain(std::iter::once(n)))
    }

    /// [`Graph::verify`], and every MVTU, window unit and FIFO carries the legalize pass's
    /// decisions.
    pub fn verify_legal(&self) -> Result<(), DataflowError> {
        self.verify()?;
        crate::passes::legalize::spram_allowed(self)?;
        for n in self.all_nodes() {
            if let NodeKind::Mvtu { hw: None, .. } | NodeKind::Swu { hw: None, .. } = n.kind {
                return Err(DataflowError::Graph(format!("node {}: not legalized", n.name)));
            }
            // A FIFO's memory reads `Distributed` until the legalizer decides (and in graphs
            // written before there was a choice), so it is checked here, not in `verify`.
            // Registered flags are iCE40's choice alone (`legalize::flags`), so elsewhere they
            // are refused; combinational ones are what every earlier legalizer wrote, and build
            // and count as they say on any arch.
            if let NodeKind::Fifo { flags, .. } | NodeKind::WidthConverter { flags } = n.kind {
                let legal = crate::passes::legalize::flags(self.arch);
                if flags != legal && flags != Flags::Combinational {
                    return Err(DataflowError::Graph(format!(
                        "node {}: handshake flags {flags:?} are not the legalizer's {legal:?}",
                        n.name
                    )));
                }
            }
            if let NodeKind::Fifo { depth, ram, .. } = n.kind {
                let legal = crate::passes::legalize::fifo_ram(self.arch, depth, n.in_bits);
                if ram != legal {
                    return Err(DataflowError::Graph(format!(
                        "node {}: FIFO memory {ram:?} is not the legalizer's {legal:?}",
                        n.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks every node on its own: names, sizes, and its streams against its kind (what holds
    /// after lowering, before the streams between nodes are matched).
    pub fn verify_nodes(&self) -> Result<(), DataflowError> {
        let err = |m: String| Err(DataflowError::Graph(m));
        if self.nodes.is_empty() {
            return err("the graph has no nodes".into());
        }
        let count = self.all_nodes().count();
        if count > MAX_NODES {
            return err(format!("{count} nodes, at most {MAX_NODES} are accepted"));
        }
        // Names end up in file names (`L1_w0.mem`), Verilog and reports: plain identifiers only.
        let plain = |s: &str| {
            !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for n in self.all_nodes() {
            let cfg_name = match &n.kind {
                NodeKind::Mvtu { cfg, .. } => Some(cfg.name.as_str()),
                NodeKind::Swu { cfg, .. } => Some(cfg.name.as_str()),
                NodeKind::Pool { cfg } => Some(cfg.name.as_str()),
                _ => None,
            };
            if let Some(bad) = std::iter::once(n.name.as_str()).chain(cfg_name).find(|s| !plain(s)) {
                return err(format!("node name {bad:?}: names are 1 to 64 letters, digits or '_'"));
            }
            if n.in_bits == 0 || n.out_bits == 0 || n.in_words == 0 || n.out_words == 0 {
                return err(format!("node {}: empty stream", n.name));
            }
            if n.in_bits.max(n.out_bits) > MAX_STREAM_BITS {
                return err(format!(
                    "node {}: {}-bit stream words, at most {MAX_STREAM_BITS} bits are accepted",
                    n.name,
                    n.in_bits.max(n.out_bits)
                ));
            }
            if n.in_words.max(n.out_words) > MAX_FRAME_WORDS {
                return err(format!(
                    "node {}: {} words per frame, at most {MAX_FRAME_WORDS} are accepted",
                    n.name,
                    n.in_words.max(n.out_words)
                ));
            }
            match &n.kind {
                NodeKind::Mvtu { cfg, vectors, hw, .. } => {
                    cfg.validate()?;
                    if cfg.name != n.name {
                        return err(format!("node {}: its MVTU is named {}", n.name, cfg.name));
                    }
                    if (n.in_bits, n.in_words, n.out_bits, n.out_words)
                        != (cfg.in_bits(), cfg.sf() * vectors, cfg.out_bits(), cfg.nf() * vectors)
                    {
                        return err(format!("node {}: streams do not match its MVTU configuration", n.name));
                    }
                    // Decisions the legalizer would not make would build one design and count
                    // another.
                    let legal = crate::passes::legalize::mvtu_for(cfg, self.arch);
                    // An iCE40 graph written by an earlier legalizer (no pipeline stages, or one
                    // on the lane sums) builds and counts as it says.
                    if hw.is_some_and(|hw| !crate::passes::legalize::mvtu_is_legal(cfg, self.arch, &hw)) {
                        return err(format!(
                            "node {}: hardware decisions {:?} are not the legalizer's {legal:?}",
                            n.name, hw
                        ));
                    }
                }
                NodeKind::Swu { cfg, hw } => {
                    cfg.validate()?;
                    let expect = Node { kind: n.kind.clone(), ..Node::swu(cfg.clone()) };
                    if *n != expect {
                        return err(format!(
                            "node {}: streams do not match its window configuration",
                            n.name
                        ));
                    }
                    let legal = crate::passes::legalize::swu_for(cfg, self.arch);
                    if hw.is_some_and(|hw| hw != legal) {
                        return err(format!(
                            "node {}: hardware decisions {:?} are not the legalizer's {legal:?}",
                            n.name, hw
                        ));
                    }
                }
                NodeKind::Pool { cfg } => {
                    cfg.validate()?;
                    if *n != Node::pool(cfg.clone()) {
                        return err(format!("node {}: streams do not match its pool configuration", n.name));
                    }
                }
                NodeKind::Fifo { depth, .. } => {
                    if *depth > MAX_FIFO_DEPTH {
                        return err(format!(
                            "node {}: FIFO depth {depth}, at most {MAX_FIFO_DEPTH} words are accepted",
                            n.name
                        ));
                    }
                    if *depth == 0 || n.in_bits != n.out_bits || n.in_words != n.out_words {
                        return err(format!("node {}: a FIFO keeps its stream and needs depth >= 1", n.name));
                    }
                }
                NodeKind::WidthConverter { .. } => {
                    if n.in_bits * n.in_words != n.out_bits * n.out_words {
                        return err(format!(
                            "node {}: {} x {} bits in, {} x {} bits out",
                            n.name, n.in_words, n.in_bits, n.out_words, n.out_bits
                        ));
                    }
                }
                NodeKind::Argmax { pe, bits, words, .. } => {
                    if n.in_bits != pe * bits || n.in_words != *words || n.out_words != 1 {
                        return err(format!("node {}: argmax streams do not match its scores", n.name));
                    }
                }
                NodeKind::Duplicate => {
                    if n.in_bits != n.out_bits || n.in_words != n.out_words {
                        return err(format!("node {}: a duplicate keeps its stream", n.name));
                    }
                }
                NodeKind::Sign { ty } => {
                    int_type_ok(&n.name, *ty)?;
                    if n.in_bits != n.out_bits * usize::from(ty.bits) || n.in_words != n.out_words {
                        return err(format!(
                            "node {}: a sign node turns words of {ty} into words of as many bits",
                            n.name
                        ));
                    }
                }
                NodeKind::ChannelPad { c_in, c_out, elem_bits } => {
                    let simd = n.in_bits / (*elem_bits).max(1);
                    let fits = (1..=usize::from(crate::model::MAX_ACT_BITS)).contains(elem_bits)
                        && n.in_bits % elem_bits == 0
                        && simd > 0
                        && n.in_bits == n.out_bits
                        && *c_in > 0
                        && c_out >= c_in
                        && c_in % simd == 0
                        && c_out % simd == 0
                        && n.in_words % (c_in / simd) == 0
                        && n.out_words == n.in_words / (c_in / simd) * (c_out / simd);
                    if !fits {
                        return err(format!(
                            "node {}: a channel pad from {c_in} to {c_out} channels of {elem_bits} bits does \
                             not match its streams",
                            n.name
                        ));
                    }
                }
                NodeKind::Add { ty, bypass, .. } => {
                    int_type_ok(&n.name, *ty)?;
                    if n.in_bits != n.out_bits
                        || n.in_words != n.out_words
                        || n.in_bits % usize::from(ty.bits) != 0
                    {
                        return err(format!("node {}: an add keeps its stream of {ty} elements", n.name));
                    }
                    if let Some(b) = bypass.iter().find(|b| {
                        !matches!(
                            b.kind,
                            NodeKind::Fifo { .. }
                                | NodeKind::WidthConverter { .. }
                                | NodeKind::Pool { .. }
                                | NodeKind::ChannelPad { .. }
                        )
                    }) {
                        return err(format!(
                            "node {}: its bypass holds {}, but a bypass holds only FIFOs, width converters, \
                             max-pools and channel pads",
                            n.name, b.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Input word width of the accelerator.
    pub fn in_bits(&self) -> usize {
        self.nodes.first().map_or(0, |n| n.in_bits)
    }

    /// Output word width of the accelerator.
    pub fn out_bits(&self) -> usize {
        self.nodes.last().map_or(0, |n| n.out_bits)
    }

    /// Cycles per frame in steady state: the slowest node's (bypass nodes included).
    pub fn cycles_per_frame(&self) -> usize {
        self.all_nodes().map(Node::cycles).max().unwrap_or(0)
    }

    /// The MVTU nodes.
    pub fn mvtus(&self) -> impl Iterator<Item = &MvtuConfig> {
        self.nodes.iter().filter_map(Node::mvtu_cfg)
    }

    /// `(id, node)` pairs in stream order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes.iter().enumerate().map(|(i, n)| (NodeId(i as u32), n))
    }

    /// The node with id `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }
}

/// Checks a residual stream's element type: signed, of a legal width.
fn int_type_ok(name: &str, ty: IntType) -> Result<(), DataflowError> {
    let legal = (crate::model::MIN_ACT_BITS..=crate::model::MAX_ACT_BITS).contains(&ty.bits);
    if !ty.signed || !legal {
        return Err(DataflowError::Graph(format!(
            "node {name}: {ty} elements; a residual stream is a signed integer of {} to {} bits",
            crate::model::MIN_ACT_BITS,
            crate::model::MAX_ACT_BITS
        )));
    }
    Ok(())
}

/// An element type in a message: `bits` or the integer type.
fn elem_name(e: LaneInput) -> String {
    e.int_type().map_or("bits".into(), |t| t.to_string())
}
