//! A whole accelerator: the blocks of a dataflow graph chained by their streams, and its Verilog
//! with an AXI4-Stream style top module.

use crate::bus::{self, Bus};
use crate::harness::{StreamBlock, StreamPorts};
use crate::memory::Memory;
use crate::mvtu::Mvtu;
use crate::pool::Pool;
use crate::stream::{Argmax, Fifo, WidthConverter};
use crate::swu::Swu;
use crate::HdlError;
use compiler::dataflow::{Graph, NodeKind};
use compiler::model::{Activation, Layer, Model};
use rust_hdl::prelude::*;
use std::fmt::Write;

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
                NodeKind::Mvtu { layer, cfg, hw: Some(hw), .. } => {
                    let Some(w) = model.layers.get(layer.index()).and_then(Layer::weights) else {
                        return Err(HdlError::Check(format!(
                            "node {}: model layer {layer} has no weights",
                            n.name
                        )));
                    };
                    let t = match &w.activation {
                        Activation::Threshold(t) => Some(t.as_slice()),
                        Activation::Scores => None,
                    };
                    Stage::Mvtu(Box::new(Mvtu::with_hw(cfg, hw, &w.matrix, t)?))
                }
                NodeKind::Mvtu { .. } => {
                    return Err(HdlError::Check(format!("node {}: not legalized", n.name)))
                }
                NodeKind::Swu { cfg } => Stage::Swu(Box::new(Swu::new(cfg)?)),
                NodeKind::Pool { cfg } => Stage::Pool(Box::new(Pool::new(cfg)?)),
                NodeKind::Fifo { depth } => Stage::Fifo(Fifo::new(n.in_bits, *depth)?),
                NodeKind::WidthConverter => {
                    Stage::WidthConverter(WidthConverter::new(n.in_bits, n.out_bits)?)
                }
                NodeKind::Argmax { pe, bits, words, signed } => {
                    Stage::Argmax(Argmax::new(*pe, *bits, *words, *signed)?)
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

    fn verilog(&self) -> String {
        let mut v = String::new();
        let n = self.stages.len();
        for (i, st) in self.stages.iter().enumerate() {
            let _ = writeln!(v, "    stages${i}$clock = clock;\n    stages${i}$rst = rst;");
            let src = if i == 0 { String::new() } else { format!("stages${}$", i - 1) };
            let inw = each_stage!(st, b => b.s_data.len());
            if i == 0 {
                v.push_str(&bus::wire(&format!("stages${i}$s_data"), "s_data", inw));
                let _ = writeln!(v, "    stages${i}$s_valid = s_valid;\n    s_ready = stages${i}$s_ready;");
            } else {
                v.push_str(&bus::wire(&format!("stages${i}$s_data"), &format!("{src}m_data"), inw));
                let _ = writeln!(
                    v,
                    "    stages${i}$s_valid = {src}m_valid;\n    {src}m_ready = stages${i}$s_ready;"
                );
            }
            if i + 1 == n {
                v.push_str(&bus::wire("m_data", &format!("stages${i}$m_data"), self.m_data.len()));
                let _ = writeln!(v, "    m_valid = stages${i}$m_valid;\n    stages${i}$m_ready = m_ready;");
            }
        }
        bus::one_block_per_wire(&v)
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

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self.verilog())
    }
}

crate::stream_block!(Accelerator);

/// The Verilog of the whole design: rust-hdl's modules under `{top}_core`, and module `top` with
/// AXI4-Stream style ports (`clk`, `rst` active high, `s_axis_tdata/tvalid/tready`,
/// `m_axis_tdata/tvalid/tready`). `top` must be a [`compiler::dataflow::VerilogIdent`].
pub fn verilog(acc: &mut Accelerator, top: &str) -> Result<String, HdlError> {
    let top = compiler::dataflow::VerilogIdent::new(top)?;
    let core = format!("{top}_core");
    let mut v = crate::emit::verilog(acc, &core)?;
    let (iw, ow) = (acc.s_data.len(), acc.m_data.len());
    let _ = writeln!(v, "\n// AXI4-Stream style top level.\nmodule {top} (");
    let _ = writeln!(v, "    input wire clk,\n    input wire rst,");
    let _ = writeln!(
        v,
        "    input wire [{}:0] s_axis_tdata,\n    input wire s_axis_tvalid,\n    output wire s_axis_tready,",
        iw - 1
    );
    let _ = writeln!(v, "    output wire [{}:0] m_axis_tdata,\n    output wire m_axis_tvalid,\n    input wire m_axis_tready\n);", ow - 1);
    let mut ports = vec![".clock(clk)".to_string(), ".rst(rst)".into(), ".s_valid(s_axis_tvalid)".into()];
    ports.push(".s_ready(s_axis_tready)".into());
    ports.push(".m_valid(m_axis_tvalid)".into());
    ports.push(".m_ready(m_axis_tready)".into());
    ports.extend((0..iw).map(|i| format!(".s_data${i}(s_axis_tdata[{i}])")));
    ports.extend((0..ow).map(|i| format!(".m_data${i}(m_axis_tdata[{i}])")));
    let _ = writeln!(v, "  {core} core (\n    {}\n  );\nendmodule", ports.join(",\n    "));
    Ok(v)
}
