//! A whole accelerator in rust-hdl: the blocks of a dataflow graph joined by their streams, a
//! chain or a residual graph's series-parallel DAG (its Verilog: [`crate::rtl::accel`]).

use crate::bus::{self, Bus};
use crate::harness::{StreamBlock, StreamPorts};
use crate::memory::Memory;
use crate::mvtu::Mvtu;
use crate::pool::Pool;
use crate::residual::{Add, ChannelPad, Duplicate, Sign};
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
    /// A residual block's duplicate (its bypass output feeds the block's bypass chain).
    Duplicate(Duplicate),
    /// A residual branch's sign node.
    Sign(Sign),
    /// A downsampling shortcut's channel pad.
    ChannelPad(ChannelPad),
    /// A residual block's saturating add (its bypass input is the end of the bypass chain).
    Add(Add),
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
            Stage::Duplicate($b) => $e,
            Stage::Sign($b) => $e,
            Stage::ChannelPad($b) => $e,
            Stage::Add($b) => $e,
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

/// Where a stage's input (or an add's bypass input) comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    /// The accelerator's input.
    Input,
    /// Stage `i`'s output (a duplicate's main output).
    Out(usize),
    /// Duplicate `i`'s bypass output.
    Bypass(usize),
}

/// The accelerator: its stages in [`Graph::all_nodes`] order (each bypass chain just before its
/// add), each fed by an earlier stage.
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
    /// The stages.
    pub stages: Vec<Stage>,
    /// Each stage's input.
    _src: Vec<Src>,
    /// Each add stage's bypass input, by stage.
    _byp: Vec<Option<Src>>,
}

impl Accelerator {
    /// Builds the blocks of `graph`, with the weights and thresholds of `model`.
    pub fn new(graph: &Graph, model: &Model) -> Result<Self, HdlError> {
        graph.verify_legal()?;
        let mut stages = Vec::new();
        let (mut src, mut byp) = (Vec::new(), Vec::new());
        let (mut main, mut dup) = (Src::Input, None);
        for n in &graph.nodes {
            // The bypass chain: from the block's duplicate to the add.
            let mut chain = None;
            for b in n.bypass() {
                let from = match chain {
                    Some(i) => Src::Out(i),
                    None => Src::Bypass(dup.ok_or_else(|| {
                        HdlError::Check(format!("node {}: no duplicate feeds its bypass", n.name))
                    })?),
                };
                chain = Some(stages.len());
                stages.push(stage(b, model)?);
                src.push(from);
                byp.push(None);
            }
            if matches!(n.kind, NodeKind::Add { .. }) {
                byp.push(chain.map(Src::Out).or(dup.map(Src::Bypass)));
            } else {
                byp.push(None);
            }
            if matches!(n.kind, NodeKind::Duplicate) {
                dup = Some(stages.len());
            }
            src.push(main);
            main = Src::Out(stages.len());
            stages.push(stage(n, model)?);
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
            _src: src,
            _byp: byp,
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

/// The rust-hdl block of node `n`.
fn stage(n: &compiler::dataflow::Node, model: &Model) -> Result<Stage, HdlError> {
    Ok(match &n.kind {
        NodeKind::Mvtu { layer, cfg, hw, .. } => {
            let (w, t) = layer_weights(model, &n.name, *layer, cfg)?;
            let stages = compiler::dataflow::mvtu_stages(hw.as_ref());
            Stage::Mvtu(Box::new(Mvtu::new(cfg, w, t)?.pipelined(stages)))
        }
        NodeKind::Swu { cfg, .. } => Stage::Swu(Box::new(Swu::new(cfg)?)),
        NodeKind::Pool { cfg } => Stage::Pool(Box::new(Pool::new(cfg)?)),
        NodeKind::Fifo { depth, .. } => Stage::Fifo(Fifo::new(n.in_bits, *depth)?),
        NodeKind::WidthConverter { .. } => Stage::WidthConverter(WidthConverter::new(n.in_bits, n.out_bits)?),
        NodeKind::Argmax { pe, bits, words, signed } => {
            Stage::Argmax(Argmax::new(*pe, *bits, *words, *signed)?)
        }
        NodeKind::Duplicate => Stage::Duplicate(Duplicate::new(n.in_bits)?),
        NodeKind::Sign { ty } => Stage::Sign(Sign::new(*ty, n.out_bits)?),
        NodeKind::ChannelPad { c_in, c_out, elem_bits } => {
            let simd = (n.in_bits / elem_bits.max(&1)).max(1);
            Stage::ChannelPad(ChannelPad::new(n.in_bits, c_in / simd, c_out / simd)?)
        }
        NodeKind::Add { ty, .. } => Stage::Add(Add::new(*ty, n.in_bits / usize::from(ty.bits).max(1))?),
    })
}

/// The output stream `from` of `done` (stages before the consumer) as (data, valid), with its
/// ready set to `ready`; the accelerator's own input when `from` is [`Src::Input`].
fn feed(
    done: &mut [Stage],
    from: Src,
    input: (&Bus<In>, &Signal<In, Bit>, &mut Signal<Out, Bit>),
    to: (&mut Bus<In>, &mut Signal<In, Bit>),
    ready: bool,
) {
    match from {
        Src::Input => {
            bus::copy(to.0, input.0);
            to.1.next = input.1.val();
            input.2.next = ready;
        }
        Src::Out(j) => {
            let q = done[j].ports();
            bus::copy(to.0, q.m_data);
            to.1.next = q.m_valid.val();
            q.m_ready.next = ready;
        }
        Src::Bypass(j) => {
            if let Stage::Duplicate(d) = &mut done[j] {
                bus::copy(to.0, &d.b_data);
                to.1.next = d.b_valid.val();
                d.b_ready.next = ready;
            }
        }
    }
}

impl Logic for Accelerator {
    fn update(&mut self) {
        let (clock, rst) = (self.clock.val(), self.rst.val());
        let n = self.stages.len();
        for i in 0..n {
            let (done, rest) = self.stages.split_at_mut(i);
            let input = (&self.s_data, &self.s_valid, &mut self.s_ready);
            if let (Stage::Add(a), Some(from)) = (&mut rest[0], self._byp[i]) {
                let ready = a.b_ready.val();
                feed(done, from, (input.0, input.1, &mut *input.2), (&mut a.b_data, &mut a.b_valid), ready);
            }
            let p = rest[0].ports();
            p.clock.next = clock;
            p.rst.next = rst;
            let ready = p.s_ready.val();
            feed(done, self._src[i], input, (p.s_data, p.s_valid), ready);
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
            match s {
                Stage::Duplicate(d) => d.b_ready.connect(),
                Stage::Add(a) => {
                    bus::connect(&mut a.b_data);
                    a.b_valid.connect();
                }
                _ => {}
            }
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
