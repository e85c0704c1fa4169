//! Width conversion: a data-width converter wherever a producer's words are not its consumer's
//! width (the frame's bits are the same on both sides; lowering chose the widths), on the main
//! path and on every add's bypass.

use crate::dataflow::{DataflowError, Graph, Node, NodeKind};
use crate::model::Model;

/// The width-conversion pass: inserts `W<i>` in front of the node of layer `i` whose input width
/// differs from its producer's output width; on the bypass of add `A<i>`, `X<i>_<j>` in front of
/// its `j`-th node (or of the add itself, `j` = the bypass's length) where they differ.
pub fn run(graph: &mut Graph, _model: &Model) -> Result<(), DataflowError> {
    let mut nodes: Vec<Node> = Vec::with_capacity(graph.nodes.len());
    // The stream of the last duplicate: the first bypass node's input.
    let mut dup: Option<(usize, usize)> = None;
    for mut n in graph.nodes.drain(..) {
        if let Some(last) = nodes.last() {
            if last.out_bits != n.in_bits {
                let frame = last.out_bits * last.out_words;
                let name = format!("W{}", super::layer_tag(&n));
                nodes.push(Node::width_converter(&name, last.out_bits, n.in_bits, frame));
            }
        }
        let tag = super::layer_tag(&n).to_string();
        let (add_bits, add_words) = (n.in_bits, n.in_words);
        if let NodeKind::Add { bypass, .. } = &mut n.kind {
            let (mut bits, words) = dup.unwrap_or((add_bits, add_words));
            let frame = bits * words;
            let mut chain = Vec::with_capacity(bypass.len() * 2 + 1);
            let old: Vec<Node> = std::mem::take(bypass);
            let wants: Vec<usize> = old.iter().map(|b| b.in_bits).chain(std::iter::once(add_bits)).collect();
            let mut old = old.into_iter();
            for (j, want) in wants.into_iter().enumerate() {
                if bits != want {
                    // A pool or pad changes the frame's bits: convert what the producer streams.
                    let f = chain.last().map_or(frame, |p: &Node| p.out_bits * p.out_words);
                    chain.push(Node::width_converter(&format!("X{tag}_{j}"), bits, want, f));
                }
                if let Some(b) = old.next() {
                    bits = b.out_bits;
                    chain.push(b);
                }
            }
            *bypass = chain;
        }
        if let NodeKind::Duplicate = n.kind {
            dup = Some((n.out_bits, n.out_words));
        }
        nodes.push(n);
    }
    graph.nodes = nodes;
    Ok(())
}
