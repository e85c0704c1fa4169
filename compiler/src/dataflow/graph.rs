//! The dataflow graph: a pipeline of hardware nodes joined by streams.

use super::{ubits, DataflowError, LaneInput, MvtuConfig, MvtuHw, PoolConfig, SwuConfig, SwuHw};
use crate::model::LayerId;
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
    },
    /// A data-width converter (widths are the node's stream widths).
    WidthConverter,
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
            kind: NodeKind::Fifo { depth },
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
            kind: NodeKind::WidthConverter,
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
}

impl Graph {
    /// Checks that every stream joins nodes of equal width and frame length, every node's own
    /// streams match its kind, and every unit reads the element type its producer streams.
    pub fn verify(&self) -> Result<(), DataflowError> {
        self.verify_nodes()?;
        for w in self.nodes.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if a.out_bits != b.in_bits || a.out_words != b.in_words {
                return Err(DataflowError::Graph(format!(
                    "stream {} -> {}: {} words of {} bits out, {} words of {} bits expected",
                    a.name, b.name, a.out_words, a.out_bits, b.in_words, b.in_bits
                )));
            }
        }
        self.verify_elements()
    }

    /// Follows the element type along the pipeline (unknown before the first unit that states
    /// it): an MVTU reads the type it states and streams its output's, a max-pool unit keeps its
    /// own, a sliding-window unit keeps elements of its width, FIFOs and width converters keep
    /// the stream's. Words of the right width but another element type would compute another
    /// network.
    fn verify_elements(&self) -> Result<(), DataflowError> {
        let mut cur: Option<LaneInput> = None;
        for n in &self.nodes {
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
                NodeKind::Fifo { .. } | NodeKind::WidthConverter => (None, cur),
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
            cur = streams;
        }
        Ok(())
    }

    /// [`Graph::verify`], and every MVTU carries the legalize pass's decisions.
    pub fn verify_legal(&self) -> Result<(), DataflowError> {
        self.verify()?;
        for n in &self.nodes {
            if let NodeKind::Mvtu { hw: None, .. } | NodeKind::Swu { hw: None, .. } = n.kind {
                return Err(DataflowError::Graph(format!("node {}: not legalized", n.name)));
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
        if self.nodes.len() > MAX_NODES {
            return err(format!("{} nodes, at most {MAX_NODES} are accepted", self.nodes.len()));
        }
        // Names end up in file names (`L1_w0.mem`), Verilog and reports: plain identifiers only.
        let plain = |s: &str| {
            !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for n in &self.nodes {
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
                    let legal = crate::passes::legalize::mvtu(cfg);
                    if hw.is_some_and(|hw| hw != legal) {
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
                    let legal = crate::passes::legalize::swu(cfg);
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
                NodeKind::Fifo { depth } => {
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
                NodeKind::WidthConverter => {
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

    /// Cycles per frame in steady state: the slowest node's.
    pub fn cycles_per_frame(&self) -> usize {
        self.nodes.iter().map(Node::cycles).max().unwrap_or(0)
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

/// An element type in a message: `bits` or the integer type.
fn elem_name(e: LaneInput) -> String {
    e.int_type().map_or("bits".into(), |t| t.to_string())
}
