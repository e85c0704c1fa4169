//! The latency of a design, measured on its cycle model: nodes overlap within a frame, so no sum
//! of per-node figures gives it.

use super::CycleModel;
use crate::drive::{self, Drive, DriveError};
use crate::golden::SimError;
use compiler::dataflow::traffic::Stalls;
use compiler::dataflow::Graph;
use compiler::model::Model;

/// Why the latency could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    /// The model or graph cannot be simulated.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The frame did not come out (a deadlock or a lost word).
    #[error("cycle model: {0}")]
    Drive(#[from] DriveError),
}

/// Cycles from a frame's first input word to its last output word in an empty pipeline with no
/// stalls (`frame`: one frame's input words; `n_out`: its output words), 0 when nothing moved.
pub fn latency(model: &Model, graph: &Graph, frame: &[Vec<u64>], n_out: usize) -> Result<u64, LatencyError> {
    let mut cm = CycleModel::new(graph, model)?;
    // A frame crosses every node at most a few times its slowest node's cycles; past that the
    // pipeline is stuck.
    let max_cycles = 1000 + 4 * graph.cycles_per_frame() as u64 * graph.nodes.len() as u64;
    let drive = Drive { stalls: Stalls::default(), max_cycles, stop_at: None };
    let t = drive::run(&mut cm, frame, n_out, &drive)?;
    Ok(match (t.in_cycles.first(), t.out_cycles.last()) {
        (Some(a), Some(z)) => z - a + 1,
        _ => 0,
    })
}
