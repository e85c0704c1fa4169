//! Argmax: a model that outputs its class gets an argmax unit after the last MVTU's scores.

use crate::dataflow::{DataflowError, Graph, MvtuOutput, Node};
use crate::model::{Model, OutputMode};

/// The argmax pass: appends `argmax` when the model outputs its class and the last MVTU emits
/// scores.
pub fn run(graph: &mut Graph, model: &Model) -> Result<(), DataflowError> {
    if let (OutputMode::Argmax, Some(last)) = (model.output, graph.mvtus().last()) {
        if last.output == MvtuOutput::Scores {
            let node = Node::argmax("argmax", last);
            graph.nodes.push(node);
        }
    }
    Ok(())
}
