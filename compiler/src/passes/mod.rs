//! The compiler's passes from a model to a legal dataflow graph, one file and one signature each.
//!
//! [`lower`] turns a model under a folding into compute nodes; every later pass is a
//! [`Pass`], `fn(&mut Graph, &Model) -> Result<(), DataflowError>`. [`PIPELINE`] lists their
//! order and [`run`] runs them. With [`Options::verify_each`] the graph verifier runs after every
//! pass, at the level that pass guarantees; a failure is a bug in the pass, reported as
//! [`DataflowError::Pass`]. The finished graph is always verified.
//!
//! The folding itself (automatic, JSON, FINN's heuristic) is chosen in
//! [`crate::dataflow::fold`], before the pipeline.

pub mod argmax;
pub mod fifo;
pub mod legalize;
pub mod lower;
pub mod width;

use crate::dataflow::fold::Folding;
use crate::dataflow::{DataflowError, Graph, Node};
use crate::model::Model;

/// A pass after lowering.
pub type Pass = fn(&mut Graph, &Model) -> Result<(), DataflowError>;

/// What the verifier checks after a pass.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Every node on its own ([`Graph::verify_nodes`]): streams between nodes may still differ.
    Nodes,
    /// The whole graph ([`Graph::verify`]).
    Graph,
    /// The whole graph, every hardware decision written ([`Graph::verify_legal`]).
    Legal,
}

/// The passes after lowering, in order, with their names and what holds after each.
pub const PIPELINE: [(&str, Pass, Check); 4] = [
    ("width", width::run, Check::Graph),
    ("fifo", fifo::run, Check::Graph),
    ("argmax", argmax::run, Check::Graph),
    ("legalize", legalize::run, Check::Legal),
];

/// How [`run`] runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Verify the graph after every pass (on in tests and debug builds; the finished graph is
    /// verified either way).
    pub verify_each: bool,
    /// The FPGA the graph is built for, recorded in it before the passes run (the legalizer's
    /// decisions depend on it); `None` is 7-series.
    pub arch: Option<crate::dataflow::target::Arch>,
}

/// Whether [`Options::default`] verifies after every pass: in the compiler's tests and debug
/// builds, where a pass's bug should stop at the pass.
pub const VERIFY_EACH_BY_DEFAULT: bool = cfg!(any(test, debug_assertions));

impl Default for Options {
    fn default() -> Self {
        Options { verify_each: VERIFY_EACH_BY_DEFAULT, arch: None }
    }
}

fn check(graph: &Graph, level: Check) -> Result<(), DataflowError> {
    match level {
        Check::Nodes => graph.verify_nodes(),
        Check::Graph => graph.verify(),
        Check::Legal => graph.verify_legal(),
    }
}

/// Lowers `model` under `folding` and runs [`PIPELINE`]: the legal graph every consumer takes.
pub fn run(model: &Model, folding: &Folding, opts: Options) -> Result<Graph, DataflowError> {
    let mut graph = lower::run(model, folding)?;
    graph.arch = opts.arch;
    let bug = |pass: &'static str| move |e| DataflowError::Pass { pass, source: Box::new(e) };
    if opts.verify_each {
        check(&graph, Check::Nodes).map_err(bug("lower"))?;
    }
    for (name, pass, level) in PIPELINE {
        pass(&mut graph, model)?;
        if opts.verify_each {
            check(&graph, level).map_err(bug(name))?;
        }
    }
    graph.verify_legal()?;
    Ok(graph)
}

/// [`run`] with the default options.
pub fn compile(model: &Model, folding: &Folding) -> Result<Graph, DataflowError> {
    run(model, folding, Options::default())
}

/// The index of the model layer a node was lowered from or serves, as it appears in its name
/// (`L3`, `S3`, `P5`: a letter and the index, see [`lower`]).
fn layer_tag(n: &Node) -> &str {
    n.name.get(1..).unwrap_or("")
}
