//! Width conversion: a data-width converter wherever a producer's words are not its consumer's
//! width (the frame's bits are the same on both sides; lowering chose the widths).

use crate::dataflow::{DataflowError, Graph, Node};
use crate::model::Model;

/// The width-conversion pass: inserts `W<i>` in front of the node of layer `i` whose input width
/// differs from its producer's output width.
pub fn run(graph: &mut Graph, _model: &Model) -> Result<(), DataflowError> {
    let mut nodes: Vec<Node> = Vec::with_capacity(graph.nodes.len());
    for n in graph.nodes.drain(..) {
        if let Some(last) = nodes.last() {
            if last.out_bits != n.in_bits {
                let frame = last.out_bits * last.out_words;
                let name = format!("W{}", super::layer_tag(&n));
                nodes.push(Node::width_converter(&name, last.out_bits, n.in_bits, frame));
            }
        }
        nodes.push(n);
    }
    graph.nodes = nodes;
    Ok(())
}
