//! FIFO sizing: a FIFO in front of every MVTU that has a producer, as deep as the MVTU's
//! schedule needs, and at the end of every residual block's bypass, as deep as the branch's
//! lookahead needs (the bound and its proof: ARCHITECTURE.md, "Bypass FIFO depth").

use crate::dataflow::{DataflowError, Graph, MvtuConfig, Node, NodeKind, SwuConfig};
use crate::model::Model;

/// FIFO depth in front of `consumer` (in its words), from the schedule: the consumer takes a
/// vector's `SF` input words in its first pass and none in the `NF - 1` passes that follow;
/// meanwhile the stream keeps arriving at the rate of the slowest node upstream
/// (`upstream_cycles` per frame, `vectors` vectors of `SF` words). The FIFO holds what arrives in
/// that window (at most one vector), plus two words so that a full FIFO still passes a word per
/// cycle.
pub fn fifo_depth(upstream_cycles: usize, consumer: &MvtuConfig, vectors: usize) -> usize {
    let (sf, nf) = (consumer.sf(), consumer.nf());
    let idle = (nf - 1) * sf;
    let produced = (idle * sf * vectors).div_ceil(upstream_cycles.max(1));
    produced.min(sf) + 2
}

/// The depth of a residual block's bypass FIFO, in words of the add's stream, and where it
/// comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BypassDepth {
    /// The structural lookahead: the most bypass words that exist, before the add has paired
    /// the oldest of them, once the branch holds every block-input word it needs to emit the
    /// output word that pairs with it (the input rows its window reads, through the max-pool
    /// for a downsampling block).
    pub lag: usize,
    /// Of those, the words held outside the FIFO that the bound counts: 1 when the bypass is the
    /// duplicate's second output register and the FIFO alone (words of the same shape), else 0
    /// (a max-pool's, channel pad's or converter's registers only add margin).
    pub held: usize,
    /// Words for the branch's pipeline at the bottleneck rate: two output pixels' words (the
    /// MVTU's pixel in flight and the window prefetched into its FIFO) and four pipeline
    /// registers (duplicate, sign, window unit's read and output registers).
    pub rate: usize,
}

impl BypassDepth {
    /// The shallowest depth that never deadlocks: `lag - held`, at least 1.
    pub fn deadlock_free(&self) -> usize {
        self.lag.saturating_sub(self.held).max(1)
    }

    /// The depth the pass writes: [`BypassDepth::deadlock_free`] plus the rate margin.
    pub fn depth(&self) -> usize {
        self.deadlock_free() + self.rate
    }
}

/// The bypass depth of a residual block whose branch window is `swu`, with `c_out` output
/// channels, add words of `q` elements, and a bypass that is the duplicate's register and the
/// FIFO alone when `direct`.
///
/// Output row `oy` needs the block-input rows up to `last = min(oy*S + K - 1 - P, H - 1)`
/// complete (the window unit starts an output row only when every row it reads is held). By
/// then the bypass has received `last + 1` input rows (identity) or `(last + 1) / 2` pooled rows
/// (a pooled row is complete with its odd input row), one output row each, and the add has paired
/// at most the `oy` rows before: the lag is the largest difference, in output rows of
/// `OW * c_out / q` words.
pub fn bypass_depth(swu: &SwuConfig, c_out: usize, q: usize, direct: bool) -> BypassDepth {
    let (h, k, s, p) = (swu.h, swu.kernel, swu.stride, swu.pad);
    let rows = (0..swu.oh())
        .map(|oy| {
            let last = (oy * s + k - 1).saturating_sub(p).min(h - 1);
            let delivered = if s == 1 { last + 1 } else { (last + 1) / s };
            delivered.saturating_sub(oy)
        })
        .max()
        .unwrap_or(0);
    let pixel = c_out / q.max(1);
    BypassDepth { lag: rows * swu.ow() * pixel, held: usize::from(direct), rate: 2 * pixel + 4 }
}

/// The FIFO-sizing pass: inserts `F<i>` in front of the MVTU of layer `i` unless it is the first
/// node, sized by [`fifo_depth`] from the slowest node upstream of it, and `R<i>` at the end of
/// add `A<i>`'s bypass, sized by [`bypass_depth`] from the block's window unit.
pub fn run(graph: &mut Graph, _model: &Model) -> Result<(), DataflowError> {
    let mut nodes: Vec<Node> = Vec::with_capacity(graph.nodes.len() * 2);
    for mut n in graph.nodes.drain(..) {
        if let (NodeKind::Mvtu { cfg, vectors, .. }, false) = (&n.kind, nodes.is_empty()) {
            let upstream = nodes.iter().map(Node::cycles).max().unwrap_or(1);
            let depth = fifo_depth(upstream, cfg, *vectors);
            let name = format!("F{}", super::layer_tag(&n));
            nodes.push(Node::fifo(&name, cfg.in_bits(), cfg.sf() * vectors, depth));
        }
        let (tag, bits, words) = (super::layer_tag(&n).to_string(), n.in_bits, n.in_words);
        if let NodeKind::Add { bypass, ty, .. } = &mut n.kind {
            let swu = nodes.iter().rev().find_map(|m| match &m.kind {
                NodeKind::Swu { cfg, .. } => Some(cfg),
                _ => None,
            });
            let mh = nodes.iter().rev().find_map(Node::mvtu_cfg).map(|c| c.mh);
            let (Some(swu), Some(mh)) = (swu, mh) else {
                return Err(DataflowError::Graph(format!("node A{tag}: an add with no branch before it")));
            };
            let q = bits / usize::from(ty.bits);
            let depth = bypass_depth(swu, mh, q, bypass.is_empty()).depth();
            bypass.push(Node::fifo(&format!("R{tag}"), bits, words, depth));
        }
        nodes.push(n);
    }
    graph.nodes = nodes;
    Ok(())
}
