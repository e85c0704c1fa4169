//! A whole accelerator in rust-hdl: the blocks of a dataflow graph chained by their streams (its
//! Verilog: [`crate::rtl::accel`]).

use crate::bus::{self, Bus};
use crate::harness::{StreamBlock, StreamPorts};
use crate::memory::Memory;
use crate::mvtu::Mvtu;
use crate::pool::Pool;
use crate::stream::{Argmax, Fifo, WidthConverter};
use crate::swu::Swu;
use crate::HdlError;
use compiler::dataflow::{activation_thresholds, Graph, MvtuConfig, MvtuOutput, NodeKind};
use compiler::model::{BitMatrix, Layer, Model};
use rust_hdl::prelude::*;

/// The weights and (threshold and multi modes) thresholds of model layer `layer`, for node `node`
/// whose configuration is `cfg` (its output mode must be the layer's activation).
pub(crate) fn layer_weights<'m>(
    model: &'m Model,
    node: &str,
    layer: compiler::model::LayerId,
    cfg: &MvtuConfig,
) -> Result<(&'m BitMatrix, Option<&'m [i32]>), HdlError> {
    let Some(w) = model.layers.get(layer.index()).and_then(Layer::weights) else {
        return Err(HdlError::Check(format!("node {node}: model layer {layer} has no weights")));
    };
    if MvtuOutput::of(&w.activation) != cfg.output {
        return Err(HdlError::Check(format!(
            "node {node}: its output mode is not model layer {layer}'s activation ({})",
            w.activation.kind()
        )));
    }
    Ok((&w.matrix, activation_thresholds(&w.activation)))
}

/// One stage of the pipeline.
pub enum Stage {
    /// A matrix-vector-threshold unit.
    Mvtu(Box<Mvtu>),
    /// A FIFO.
    Fifo(Fifo),
    /// A width converter.
    WidthConverter(WidthConverter),
    /// Argmax.
    Argmax(Argmax),
    /// A sliding-window unit.
    Swu(Box<Swu>),
    /// A max-pool unit.
    Pool(Box<Pool>),
}

macro_rules! each_stage {
    ($s:expr, $b:ident => $e:expr) => {
        match $s {
            Stage::Mvtu($b) => $e,
            Stage::Fifo($b) => $e,
            Stage::WidthConverter($b) => $e,
            Stage::Argmax($b) => $e,
            Stage::Swu($b) => $e,
            Stage::Pool($b) => $e,
        }
    };
}

impl Logic for Stage {
    fn update(&mut self) {}
}

impl Block for Stage {
    fn connect_all(&mut self) {
        each_stage!(self, b => b.connect_all())
    }
    fn update_all(&mut self) {
        each_stage!(self, b => b.update_all())
    }
    fn has_changed(&self) -> bool {
        each_stage!(self, b => b.has_changed())
    }
    fn accept(&self, name: &str, probe: &mut dyn Probe) {
        each_stage!(self, b => b.accept(name, probe))
    }
}

impl StreamBlock for Stage {
    fn ports(&mut self) -> StreamPorts<'_> {
        each_stage!(self, b => b.ports())
    }
}

/// The accelerator: stage `i`'s output stream feeds stage `i+1`.
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high); `s_data`/`s_valid`: the first stage's input
///   words; `m_ready`.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`: the last stage's output words.
#[derive(LogicBlock)]
pub struct Accelerator {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub rst: Signal<In, Bit>,
    /// Input word.
    pub s_data: Bus<In>,
    /// Input valid.
    pub s_valid: Signal<In, Bit>,
    /// Input ready.
    pub s_ready: Signal<Out, Bit>,
    /// Output word.
    pub m_data: Bus<Out>,
    /// Output valid.
    pub m_valid: Signal<Out, Bit>,
    /// Output ready.
    pub m_ready: Signal<In, Bit>,
    /// The pipeline.
    pub stages: Vec<Stage>,
}

impl Accelerator {
    /// Builds the blocks of `graph`, with the weights and thresholds of `model`.
    pub fn new(graph: &Graph, model: &Model) -> Result<Self, HdlError> {
        graph.verify_legal()?;
        let mut stages = Vec::with_capacity(graph.nodes.len());
        for n in &graph.nodes {
            stages.push(match &n.kind {
                NodeKind::Mvtu { layer, cfg, .. } => {
                    let (w, t) = layer_weights(model, &n.name, *layer, cfg)?;
                    Stage::Mvtu(Box::new(Mvtu::new(cfg, w, t)?))
                }
                NodeKind::Swu { cfg, .. } => Stage::Swu(Box::new(Swu::new(cfg)?)),
                NodeKind::Pool { cfg } => Stage::Pool(Box::new(Pool::new(cfg)?)),
                NodeKind::Fifo { depth } => Stage::Fifo(Fifo::new(n.in_bits, *depth)?),
                NodeKind::WidthConverter => {
                    Stage::WidthConverter(WidthConverter::new(n.in_bits, n.out_bits)?)
                }
                NodeKind::Argmax { pe, bits, words, signed } => {
                    Stage::Argmax(Argmax::new(*pe, *bits, *words, *signed)?)
                }
                NodeKind::Duplicate
                | NodeKind::Sign { .. }
                | NodeKind::ChannelPad { .. }
                | NodeKind::Add { .. } => {
                    return Err(HdlError::Check(format!(
                        "node {}: the rust-hdl accelerator is a chain; a residual block's graph runs on the \
                         cycle model and as Verilog",
                        n.name
                    )))
                }
            });
        }
        Ok(Accelerator {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(graph.in_bits()),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(graph.out_bits()),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            stages,
        })
    }

    /// Every memory of the design, for writing their files.
    pub fn memories(&self) -> Vec<&Memory> {
        self.stages
            .iter()
            .filter_map(|s| match s {
                Stage::Mvtu(m) => Some(m.memories()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

impl Logic for Accelerator {
    fn update(&mut self) {
        let (clock, rst) = (self.clock.val(), self.rst.val());
        let n = self.stages.len();
        for i in 0..n {
            let (done, rest) = self.stages.split_at_mut(i);
            let p = rest[0].ports();
            p.clock.next = clock;
            p.rst.next = rst;
            if let Some(prev) = done.last_mut() {
                let q = prev.ports();
                bus::copy(p.s_data, q.m_data);
                p.s_valid.next = q.m_valid.val();
                q.m_ready.next = p.s_ready.val();
            } else {
                bus::copy(p.s_data, &self.s_data);
                p.s_valid.next = self.s_valid.val();
                self.s_ready.next = p.s_ready.val();
            }
            if i + 1 == n {
                bus::copy(&mut self.m_data, p.m_data);
                self.m_valid.next = p.m_valid.val();
                p.m_ready.next = self.m_ready.val();
            }
        }
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
        for s in &mut self.stages {
            let p = s.ports();
            p.clock.connect();
            p.rst.connect();
            bus::connect(p.s_data);
            p.s_valid.connect();
            p.m_ready.connect();
        }
    }
}

crate::stream_block!(Accelerator);
