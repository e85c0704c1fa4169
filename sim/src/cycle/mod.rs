//! The cycle-accurate model of a compiled dataflow graph.
//!
//! Each node is the [`blocks`] unit of its RTL block (the MVTU controller with its memories,
//! lanes and accumulators, the sliding-window unit, max-pool, FIFO, width converter, argmax): the
//! one description of its registers that the rust-hdl leaves of `hdl` run too, so it emits the
//! same words on the same cycles as the Verilog. Data stays bit-packed: an MVTU step is one
//! `u64` XOR + popcount per 64 lanes, where the RTL simulators evaluate every gate.
//!
//! Every node's `m_valid` and `m_data` are registers; `s_ready` may depend combinationally on the
//! consumer's ready (the MVTU, max-pool and argmax pass it through). A cycle therefore evaluates
//! readies from the sink back to the source, then clocks every node from the last to the first,
//! so that each node samples its producer's outputs from before the edge.

mod latency;

pub use latency::{latency, LatencyError};

use crate::drive::{Ports, StreamDut};
use crate::golden::SimError;
use blocks::Unit;
use compiler::dataflow::{Graph, NodeKind};
use compiler::model::{Layer, Model};

/// The unit of an MVTU node computing model layer `layer`.
fn mvtu(cfg: &compiler::dataflow::MvtuConfig, model: &Model, layer: usize) -> Result<blocks::Mvtu, SimError> {
    let bad = |m: String| SimError::Graph(format!("node {}: {m}", cfg.name));
    cfg.validate()?;
    let Some(w) = model.layers.get(layer).and_then(Layer::weights) else {
        return Err(bad(format!("model layer {layer} has no weights")));
    };
    if compiler::dataflow::MvtuOutput::of(&w.activation) != cfg.output {
        return Err(bad(format!("its output mode is not model layer {layer}'s activation")));
    }
    let t = compiler::dataflow::activation_thresholds(&w.activation);
    blocks::Mvtu::new(cfg, &w.matrix, t).map_err(|e| bad(e.to_string()))
}

enum Node {
    Mvtu(Box<blocks::Mvtu>),
    Swu(blocks::Swu),
    Pool(blocks::Pool),
    Fifo(blocks::Fifo),
    WidthConverter(blocks::WidthConverter),
    Argmax(blocks::Argmax),
}

impl Node {
    fn unit(&self) -> &dyn Unit {
        match self {
            Node::Mvtu(u) => u.as_ref(),
            Node::Swu(u) => u,
            Node::Pool(u) => u,
            Node::Fifo(u) => u,
            Node::WidthConverter(u) => u,
            Node::Argmax(u) => u,
        }
    }

    fn unit_mut(&mut self) -> &mut dyn Unit {
        match self {
            Node::Mvtu(u) => u.as_mut(),
            Node::Swu(u) => u,
            Node::Pool(u) => u,
            Node::Fifo(u) => u,
            Node::WidthConverter(u) => u,
            Node::Argmax(u) => u,
        }
    }
}

/// A stream's handshakes: `(cycle, word)` each.
pub type Handshakes = Vec<(u64, Vec<u64>)>;

/// The cycle-accurate model of a graph, driven through [`StreamDut`].
pub struct CycleModel {
    names: Vec<String>,
    nodes: Vec<Node>,
    in_bits: usize,
    out_bits: usize,
    /// Per-cycle scratch: the ready each node sees from its consumer.
    m_ready: Vec<bool>,
    /// Every node's output handshakes `(cycle, word)`, when recording.
    record: Option<Vec<Handshakes>>,
    cycle: u64,
}

impl CycleModel {
    /// The model of `graph` holding the weights and thresholds of `model`.
    pub fn new(graph: &Graph, model: &Model) -> Result<Self, SimError> {
        graph.verify()?;
        let mut nodes = Vec::with_capacity(graph.nodes.len());
        for n in &graph.nodes {
            nodes.push(match &n.kind {
                NodeKind::Swu { cfg, .. } => Node::Swu(blocks::Swu::new(cfg)),
                NodeKind::Pool { cfg } => Node::Pool(blocks::Pool::new(cfg)),
                NodeKind::Mvtu { layer, cfg, .. } => Node::Mvtu(Box::new(mvtu(cfg, model, layer.index())?)),
                NodeKind::Fifo { depth } => Node::Fifo(blocks::Fifo::new(n.in_bits, *depth)),
                NodeKind::WidthConverter => {
                    Node::WidthConverter(blocks::WidthConverter::new(n.in_bits, n.out_bits))
                }
                NodeKind::Argmax { pe, bits, words, signed } => {
                    Node::Argmax(blocks::Argmax::new(*pe, *bits, *words, *signed))
                }
            });
        }
        Ok(CycleModel {
            names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
            m_ready: vec![false; nodes.len()],
            nodes,
            in_bits: graph.in_bits(),
            out_bits: graph.out_bits(),
            record: None,
            cycle: 0,
        })
    }

    /// From now on, records every node's output words and their cycles (counted from the first
    /// cycle after the last reset), to locate the node where a stream first goes wrong.
    pub fn record_streams(&mut self) {
        self.record = Some(vec![Vec::new(); self.nodes.len()]);
    }

    /// The recorded output handshakes of each node, in graph order (empty unless recording).
    pub fn streams(&self) -> &[Handshakes] {
        self.record.as_deref().unwrap_or(&[])
    }

    /// Step every MVTU's accumulators each cycle as the hardware does (`true`), or (the default)
    /// accumulate each pass at its last word: the same words on the same cycles at every port
    /// (see `blocks::Mvtu::set_per_cycle`), the per-cycle form being the reference.
    pub fn set_per_cycle(&mut self, per_cycle: bool) {
        for n in &mut self.nodes {
            if let Node::Mvtu(u) = n {
                u.set_per_cycle(per_cycle);
            }
        }
    }

    /// The most words each FIFO held since the model was built: `(node name, words)`.
    pub fn fifo_high_water(&self) -> Vec<(String, usize)> {
        self.names
            .iter()
            .zip(&self.nodes)
            .filter_map(|(name, n)| match n {
                Node::Fifo(f) => Some((name.clone(), f.high_water())),
                _ => None,
            })
            .collect()
    }
}

impl StreamDut for CycleModel {
    fn in_bits(&self) -> usize {
        self.in_bits
    }

    fn out_bits(&self) -> usize {
        self.out_bits
    }

    fn cycle(
        &mut self,
        rst: bool,
        s_valid: bool,
        s_data: &[u64],
        m_ready: bool,
        out: &mut Vec<u64>,
    ) -> Ports {
        let n = self.nodes.len();
        let mut ready = m_ready;
        for i in (0..n).rev() {
            self.m_ready[i] = ready;
            ready = self.nodes[i].unit().ready(ready);
        }
        let last = self.nodes[n - 1].unit();
        let ports = Ports { s_ready: ready, m_valid: last.valid() };
        if ports.m_valid {
            out.clear();
            out.extend_from_slice(last.data());
        }
        if rst {
            self.nodes.iter_mut().for_each(|u| u.unit_mut().reset());
            self.cycle = 0;
            if let Some(r) = &mut self.record {
                r.iter_mut().for_each(Vec::clear);
            }
            return ports;
        }
        if let Some(r) = &mut self.record {
            for (i, node) in self.nodes.iter().enumerate() {
                let u = node.unit();
                if u.valid() && self.m_ready[i] {
                    r[i].push((self.cycle, u.data().to_vec()));
                }
            }
        }
        self.cycle += 1;
        for i in (0..n).rev() {
            let (before, rest) = self.nodes.split_at_mut(i);
            let (valid, data) = match before.last() {
                Some(p) => (p.unit().valid(), p.unit().data()),
                None => (s_valid, s_data),
            };
            rest[0].unit_mut().edge(valid, data, self.m_ready[i]);
        }
        ports
    }
}
