//! FIFO sizing: a FIFO in front of every MVTU that has a producer, as deep as the MVTU's
//! schedule needs.

use crate::dataflow::{DataflowError, Graph, MvtuConfig, Node, NodeKind};
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

/// The FIFO-sizing pass: inserts `F<i>` in front of the MVTU of layer `i` unless it is the first
/// node, sized by [`fifo_depth`] from the slowest node upstream of it.
pub fn run(graph: &mut Graph, _model: &Model) -> Result<(), DataflowError> {
    let mut nodes: Vec<Node> = Vec::with_capacity(graph.nodes.len() * 2);
    for n in graph.nodes.drain(..) {
        if let (NodeKind::Mvtu { cfg, vectors, .. }, false) = (&n.kind, nodes.is_empty()) {
            let upstream = nodes.iter().map(Node::cycles).max().unwrap_or(1);
            let depth = fifo_depth(upstream, cfg, *vectors);
            let name = format!("F{}", super::layer_tag(&n));
            nodes.push(Node::fifo(&name, cfg.in_bits(), cfg.sf() * vectors, depth));
        }
        nodes.push(n);
    }
    graph.nodes = nodes;
    Ok(())
}
