//! A whole accelerator's Verilog from the dataflow graph and the model: one module per distinct
//! stage, a core chaining the stages by their streams, and the AXI4-Stream style top module.

use super::argmax::{self, ArgmaxParams};
use super::builder::{bit, concat, id, lit, Expr, Module};
use super::loader::{self, LoadBus};
use super::{fifo, mvtu, pool, residual, stream_ports, swu, width_converter, Design};
use crate::words::ubits;
use crate::HdlError;
use compiler::dataflow::{Graph, NodeKind, VerilogIdent};
use compiler::model::Model;

/// A deliberate fault in the core's wiring, for the formal checks' mutants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Stage `i` (>= 1) sees a valid input word every cycle instead of stage `i-1`'s `m_valid`.
    ValidAlwaysHigh(usize),
}

/// The name of the core module under top module `top`.
pub fn core_name(top: &str) -> String {
    format!("{top}_core")
}

/// The instance name of stage `i` in the core.
pub fn stage_instance(i: usize) -> String {
    format!("stages_{i}")
}

/// The design of `graph` with the weights and thresholds of `model`: module `top` with
/// AXI4-Stream style ports (`clk`, `rst` active high, `s_axis_tdata/tvalid/tready`,
/// `m_axis_tdata/tvalid/tready`) around `{top}_core`, whose instance `stages_i` is node `i`, and
/// every memory file. `top` must be a [`VerilogIdent`].
pub fn design(graph: &Graph, model: &Model, top: &str) -> Result<Design, HdlError> {
    design_with(graph, model, top, None)
}

/// [`design`] with a wiring fault in the core (formal mutants only).
pub fn design_with(
    graph: &Graph,
    model: &Model,
    top: &str,
    fault: Option<Fault>,
) -> Result<Design, HdlError> {
    let top = VerilogIdent::new(top)?;
    let top = top.as_str();
    graph.verify_legal()?;
    // Weights in SPRAM: the loader's bus reaches memory number `sel` (loading order, [`loader`]).
    let mems = loader::spram_memories(graph, model)?;
    let bus = LoadBus::of(&mems);
    let mut next_sel = 0usize;
    let mut load_of = |n: &compiler::dataflow::Node| match &n.kind {
        NodeKind::Mvtu { cfg, hw: Some(hw), .. } if hw.wmem.spram() > 0 => {
            let l = Load {
                sel: next_sel,
                pe: cfg.pe,
                addr_bits: ubits(cfg.cycles() as u64 - 1),
                width: cfg.simd,
            };
            next_sel += cfg.pe;
            Some(l)
        }
        _ => None,
    };
    let mut d = Design::new(top);
    let mut stages: Vec<Stage> = Vec::with_capacity(graph.nodes.len());
    let mut dup = None;
    for (k, n) in graph.nodes.iter().enumerate() {
        let prev = if k == 0 { Src::Input } else { Src::Out(stages.len() - 1) };
        let mut byp = None;
        if let NodeKind::Add { bypass, .. } = &n.kind {
            let Some(dj) = dup else {
                return Err(HdlError::Check(format!("node {}: an add with no duplicate", n.name)));
            };
            let mut b = Src::Byp(dj);
            for (j, x) in bypass.iter().enumerate() {
                let module = stage_module(&mut d, x, model, top)?;
                stages.push(Stage {
                    module,
                    out_bits: x.out_bits,
                    instance: bypass_instance(k, j),
                    src: b,
                    byp: None,
                    load: load_of(x),
                });
                b = Src::Out(stages.len() - 1);
            }
            byp = Some(b);
        }
        let module = stage_module(&mut d, n, model, top)?;
        if let NodeKind::Duplicate = n.kind {
            dup = Some(stages.len());
        }
        let load = load_of(n);
        stages.push(Stage {
            module,
            out_bits: n.out_bits,
            instance: stage_instance(k),
            src: prev,
            byp,
            load,
        });
    }
    let core = core_name(top);
    let (iw, ow) = (graph.in_bits(), graph.out_bits());
    d.define(core.clone(), |_, name| core_module(name, &stages, iw, ow, fault, bus));
    d.define(top.to_string(), |_, name| top_module(name, &core, iw, ow, bus));
    Ok(d)
}

/// The instance name of node `j` of the bypass of the add that is node `k` of the graph.
pub fn bypass_instance(k: usize, j: usize) -> String {
    format!("stages_{k}_b{j}")
}

/// Where a stage's input comes from.
#[derive(Clone, Copy, Debug)]
enum Src {
    /// The core's input.
    Input,
    /// Stage `i`'s output (a duplicate's main output).
    Out(usize),
    /// Duplicate stage `i`'s bypass output.
    Byp(usize),
}

/// One instance of the core: its module, output width, instance name and inputs (an add's
/// bypass in `byp`).
struct Stage {
    module: String,
    out_bits: usize,
    instance: String,
    src: Src,
    byp: Option<Src>,
    load: Option<Load>,
}

/// An MVTU stage whose weights are in SPRAM: its PEs are loader memories `sel..sel + pe`.
#[derive(Clone, Copy, Debug)]
struct Load {
    sel: usize,
    pe: usize,
    addr_bits: usize,
    width: usize,
}

/// The loader's ports (`wload_we`, `wload_sel`, `wload_addr`, `wload_data`), as inputs of `m`.
fn load_ports(m: &mut Module, bus: LoadBus) -> [Expr; 4] {
    [
        m.input(loader::PORTS[0]),
        m.input_bus(loader::PORTS[1], bus.sel_bits),
        m.input_bus(loader::PORTS[2], bus.addr_bits),
        m.input_bus(loader::PORTS[3], bus.data_bits),
    ]
}

/// Defines the module of node `n` in `d`; returns its name.
fn stage_module(
    d: &mut Design,
    n: &compiler::dataflow::Node,
    model: &Model,
    top: &str,
) -> Result<String, HdlError> {
    Ok(match &n.kind {
        NodeKind::Mvtu { layer, cfg, hw, .. } => {
            let Some(hw) = hw else {
                return Err(HdlError::Check(format!("node {}: not legalized", n.name)));
            };
            let (w, t) = crate::accel::layer_weights(model, &n.name, *layer, cfg)?;
            mvtu::define(d, mvtu::name(top, cfg), cfg, hw, w, t)?
        }
        NodeKind::Swu { cfg, hw: Some(hw) } => swu::define(d, swu::name(top, cfg), cfg, hw)?,
        NodeKind::Swu { hw: None, .. } => {
            return Err(HdlError::Check(format!("node {}: not legalized", n.name)));
        }
        NodeKind::Pool { cfg } => pool::define(d, pool::name(top, cfg), cfg)?,
        NodeKind::Fifo { depth, ram, flags } => fifo::define_node(d, top, n.in_bits, *depth, *ram, *flags),
        NodeKind::WidthConverter { flags } => {
            width_converter::define_node(d, top, n.in_bits, n.out_bits, *flags)
        }
        NodeKind::Argmax { pe, bits, words, signed } => {
            let a = ArgmaxParams { pe: *pe, bits: *bits, words: *words, signed: *signed };
            argmax::define(d, argmax::name(top, a), a)
        }
        NodeKind::Duplicate => residual::define_dup(d, residual::dup_name(top, n.in_bits), n.in_bits),
        NodeKind::Sign { ty } => {
            residual::define_sign(d, residual::sign_name(top, *ty, n.out_bits), *ty, n.out_bits)
        }
        NodeKind::ChannelPad { c_in, c_out, elem_bits } => {
            let simd = n.in_bits / elem_bits;
            let (ci, co) = (c_in / simd, c_out / simd);
            residual::define_pad(d, residual::pad_name(top, n.in_bits, ci, co), n.in_bits, ci, co)
        }
        NodeKind::Add { ty, .. } => {
            let elems = n.in_bits / usize::from(ty.bits);
            residual::define_add(d, residual::add_name(top, *ty, elems), *ty, elems)
        }
    })
}

/// The core: every stage's output stream feeds its consumer (the next stage on a chain; a
/// duplicate's bypass output the first stage of its add's bypass, the bypass's last stage the
/// add's `b_` input).
fn core_module(
    name: &str,
    stages: &[Stage],
    iw: usize,
    ow: usize,
    fault: Option<Fault>,
    bus: Option<LoadBus>,
) -> Module {
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, iw, ow);
    let wload = bus.map(|b| (b, load_ports(&mut m, b)));
    let n = stages.len();
    // The nets of every stage's output but the last: its word, valid, and its consumer's ready
    // (and a duplicate's bypass valid and ready).
    let mut links = Vec::new();
    for (i, s) in stages.iter().enumerate().take(n.saturating_sub(1)) {
        links.push((
            m.net(&format!("s{i}_m_data"), Some(s.out_bits)),
            m.net(&format!("s{i}_m_valid"), None),
            m.net(&format!("s{i}_m_ready"), None),
        ));
    }
    let dups: Vec<usize> = stages
        .iter()
        .filter_map(|s| match s.byp {
            Some(Src::Byp(j)) => Some(j),
            _ => None,
        })
        .chain(stages.iter().filter_map(|s| match s.src {
            Src::Byp(j) => Some(j),
            _ => None,
        }))
        .collect();
    let mut byp_links = std::collections::BTreeMap::new();
    for &j in &dups {
        byp_links.entry(j).or_insert_with(|| {
            (m.net(&format!("s{j}_b_valid"), None), m.net(&format!("s{j}_b_ready"), None))
        });
    }
    let input = |s: Src| -> (Expr, Expr, Expr) {
        match s {
            Src::Input => (p.s_data.clone(), p.s_valid.clone(), p.s_ready.clone()),
            Src::Out(j) => links[j].clone(),
            Src::Byp(j) => {
                let (v, r) = &byp_links[&j];
                (links[j].0.clone(), v.clone(), r.clone())
            }
        }
    };
    for (i, st) in stages.iter().enumerate() {
        let (s_data, mut s_valid, s_ready) = input(st.src);
        if let (Some(Fault::ValidAlwaysHigh(f)), Src::Out(_)) = (fault, st.src) {
            if f == i {
                s_valid = bit(true);
            }
        }
        let (m_data, m_valid, m_ready) = if i + 1 == n {
            (p.m_data.clone(), p.m_valid.clone(), p.m_ready.clone())
        } else {
            links[i].clone()
        };
        let mut conns = stream_conns(
            [id("clock"), p.rst.clone()],
            [s_data, s_valid, s_ready],
            [m_data, m_valid, m_ready],
        );
        if let Some((v, r)) = byp_links.get(&i) {
            conns.push(("b_valid", v.clone()));
            conns.push(("b_ready", r.clone()));
        }
        if let Some(b) = st.byp {
            let (bd, bv, br) = input(b);
            conns.push(("b_data", bd));
            conns.push(("b_valid", bv));
            conns.push(("b_ready", br));
        }
        if let (Some(l), Some((b, [we, sel, addr, data]))) = (st.load, &wload) {
            // PE p's write enable: the bus writes and selects memory `l.sel + p`.
            let mut wes: Vec<Expr> = (0..l.pe)
                .map(|q| we.clone().land(sel.clone().eq(lit(b.sel_bits, (l.sel + q) as u64))))
                .collect();
            wes.reverse();
            conns.push(("load_we", concat(wes)));
            conns.push(("load_addr", addr.clone().slice(l.addr_bits - 1, 0)));
            conns.push(("load_data", data.clone().slice(l.width - 1, 0)));
        }
        m.instance(&st.module, &st.instance, conns);
    }
    if let Some(Fault::ValidAlwaysHigh(s)) = fault {
        // The stage's `m_valid` is left unread by the fault.
        if s >= 1 && s <= links.len() {
            let v = links[s - 1].1.clone();
            m.wire1("unused_fault", v);
        }
    }
    m
}

/// A stream block's connections: clock and reset, the input stream (data, valid, ready) and the
/// output stream, by the names every block module uses.
fn stream_conns(clock_rst: [Expr; 2], s: [Expr; 3], m: [Expr; 3]) -> Vec<(&'static str, Expr)> {
    let names = ["clock", "rst", "s_data", "s_valid", "s_ready", "m_data", "m_valid", "m_ready"];
    names.into_iter().zip(clock_rst.into_iter().chain(s).chain(m)).collect()
}

/// The AXI4-Stream style top around the core.
fn top_module(name: &str, core: &str, iw: usize, ow: usize, bus: Option<LoadBus>) -> Module {
    let mut m = Module::new(name);
    let clk = m.input("clk");
    let rst = m.input("rst");
    let s_data = m.input_bus("s_axis_tdata", iw);
    let s_valid = m.input("s_axis_tvalid");
    let s_ready = m.output("s_axis_tready");
    let m_data = m.output_bus("m_axis_tdata", ow);
    let m_valid = m.output("m_axis_tvalid");
    let m_ready = m.input("m_axis_tready");
    let mut conns = stream_conns([clk, rst], [s_data, s_valid, s_ready], [m_data, m_valid, m_ready]);
    if let Some(b) = bus {
        conns.extend(loader::PORTS.into_iter().zip(load_ports(&mut m, b)));
    }
    m.instance(core, "core", conns);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use compiler::dataflow::fold::{self, Folding, LayerFold};
    use compiler::dataflow::{MemStyle, Popcount};
    use compiler::model::random::{random_model, LayerSpec};
    use compiler::model::Shape;

    fn lowered(pe: usize) -> (Graph, Model) {
        let specs =
            [LayerSpec::QuantBinary(128), LayerSpec::Dense(8), LayerSpec::Dense(8), LayerSpec::Dense(2)];
        let model = random_model("m", Shape::new(1, 1, 16), &specs, 3).expect("model");
        let mut folding = Folding::default();
        for (layer, simd) in [(1, 8), (2, 8), (3, 4)] {
            let pe = if layer == 3 { 1 } else { pe };
            let lf = LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Distributed };
            folding.layers.insert(compiler::model::LayerId(layer), lf);
        }
        (fold::lower(&model, &folding).expect("lower"), model)
    }

    #[test]
    fn identical_blocks_share_one_module() {
        let (graph, model) = lowered(4);
        let d = design(&graph, &model, "top").expect("design");
        let names: Vec<&str> = d.modules().iter().map(|m| m.name.as_str()).collect();
        // Layers L1 and L2 have the same lanes (SIMD 8, compressor): one module for 8 PEs.
        let lanes: Vec<&&str> = names.iter().filter(|n| n.contains("_lanes_")).collect();
        assert_eq!(lanes, [&"top_lanes_8_comp", &"top_lanes_4_comp"], "{names:?}");
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "every module once: {names:?}");
        // Each PE's weight and threshold ROMs are its own, with their files.
        assert!(names.contains(&"top_mvtu_L2_wmem3") && names.contains(&"top_mvtu_L2_acc3"), "{names:?}");
        assert!(d.files.iter().any(|(f, _)| f == "L2_t3.mem"));
        // The core instantiates stage i as `stages_i`, the top the core.
        let v = d.verilog();
        for i in 0..graph.nodes.len() {
            assert!(v.contains(&format!(" {} (\n", stage_instance(i))), "stage {i}");
        }
        assert!(v.contains("  top_core core (\n    .clock(clk),"), "{v}");
        assert_eq!(names.last(), Some(&"top"));
    }

    #[test]
    fn a_fault_changes_only_the_core_wiring() {
        let (graph, model) = lowered(2);
        let good = design(&graph, &model, "top").expect("design").verilog();
        let bad =
            design_with(&graph, &model, "top", Some(Fault::ValidAlwaysHigh(1))).expect("design").verilog();
        assert!(good.contains(".s_valid(s0_m_valid)") && !bad.contains(".s_valid(s0_m_valid)"));
        assert!(bad.contains(".s_valid(1'b1)") && bad.contains("wire unused_fault = s0_m_valid;"));
        assert_eq!(good.lines().count() + 1, bad.lines().count());
    }

    #[test]
    fn a_bad_top_name_is_an_error() {
        let (graph, model) = lowered(1);
        assert!(design(&graph, &model, "1top").is_err());
        assert!(design(&graph, &model, "a b").is_err());
    }
}
