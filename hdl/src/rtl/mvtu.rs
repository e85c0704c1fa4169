//! The MVTU's Verilog (the blocks: [`crate::mvtu::MvtuCtl`] and the composite
//! [`crate::mvtu::Mvtu`]): the controller, and per PE a weight ROM, lanes and an accumulator
//! (holding the PE's threshold ROM in threshold and multi modes), wired as the composite wires
//! them.

use super::accumulator::{self, AccParams};
use super::builder::{concat, cond, id, if_, if_else, lit, nb, Module};
use super::memory::Rom;
use super::{ident_part, lanes, stream_ports, Design};
use crate::words::ubits;
use crate::HdlError;
use blocks::mvtu::Finish;
use compiler::dataflow::{Cut, MvtuHw, StageCuts};
use compiler::dataflow::{MemStyle, MvtuConfig};
use compiler::model::BitMatrix;
use compiler::passes::legalize;

/// Checks `cfg` against its weights and thresholds (the Verilog and the rust-hdl unit alike).
pub(crate) fn check(
    cfg: &MvtuConfig,
    weights: &BitMatrix,
    thresholds: Option<&[i32]>,
) -> Result<(), HdlError> {
    cfg.validate()?;
    let err = |message: String| Err(HdlError::Folding { layer: cfg.name.clone(), message });
    if weights.rows() != cfg.mh || weights.cols() != cfg.mw {
        return err(format!(
            "weights are {}x{}, the unit is {}x{}",
            weights.rows(),
            weights.cols(),
            cfg.mh,
            cfg.mw
        ));
    }
    let levels = cfg.output.levels();
    match thresholds {
        Some(t) if levels > 0 && t.len() != cfg.mh * levels => {
            err(format!("{} thresholds for {} rows of {levels}", t.len(), cfg.mh))
        }
        None if levels > 0 => err("threshold and multi modes need thresholds".into()),
        Some(_) if levels == 0 => err("scores mode has no thresholds".into()),
        _ => Ok(()),
    }
}

/// The module name of the MVTU of layer `cfg.name` under `prefix` (its memories are its own).
pub fn name(prefix: &str, cfg: &MvtuConfig) -> String {
    ident_part(&format!("{prefix}_mvtu_{}", cfg.name))
}

/// Defines the MVTU module `name` with the legalized hardware `hw` for `weights` (MH x MW) and,
/// in threshold or multi mode, `thresholds` (`levels` per row) in `d`, with its submodules and
/// memory files.
pub fn define(
    d: &mut Design,
    name: String,
    cfg: &MvtuConfig,
    hw: &MvtuHw,
    weights: &BitMatrix,
    thresholds: Option<&[i32]>,
) -> Result<String, HdlError> {
    check(cfg, weights, thresholds)?;
    let prefix = name.clone();
    Ok(d.define(name, |d, n| module(d, n, &prefix, cfg, hw, weights, thresholds)))
}

/// A design whose top module `top` is one MVTU, with the hardware the legalizer gives a unit
/// built alone.
pub fn design(
    top: &str,
    cfg: &MvtuConfig,
    weights: &BitMatrix,
    thresholds: Option<&[i32]>,
) -> Result<Design, HdlError> {
    design_hw(top, cfg, &legalize::mvtu(cfg), weights, thresholds)
}

/// [`design`] with the hardware decisions `hw` (e.g. an iCE40's pipeline stages).
pub fn design_hw(
    top: &str,
    cfg: &MvtuConfig,
    hw: &MvtuHw,
    weights: &BitMatrix,
    thresholds: Option<&[i32]>,
) -> Result<Design, HdlError> {
    let mut d = Design::new(top);
    define(&mut d, top.into(), cfg, hw, weights, thresholds)?;
    Ok(d)
}

fn module(
    d: &mut Design,
    name: &str,
    prefix: &str,
    cfg: &MvtuConfig,
    hw: &MvtuHw,
    weights: &BitMatrix,
    thresholds: Option<&[i32]>,
) -> Module {
    let c = cfg;
    let (iw, ow, cw) = (c.in_bits(), c.out_bits(), c.input.sum_bits(c.simd));
    let rb = c.field_bits();
    let threshold = c.has_tmem();
    let abits = ubits(c.cycles() as u64 - 1);
    let tbits = ubits(c.nf() as u64 - 1);
    // Submodules shared by every MVTU of the design with the same parameters take the design's
    // prefix (the part of `prefix` before the layer), the memories this layer's.
    let shared = d.top.clone();
    let stages = hw.stages();
    let ctl = d.define(ctl_name(&shared, c, stages), |_, n| ctl_module(n, c, stages));
    // The cuts inside the lanes give them a clock and the enable.
    let inner = StageCuts::of(&[Cut::Terms, Cut::Tree]);
    let lane_cuts = StageCuts::of(&hw.cuts.iter().filter(|&c| inner.has(c)).collect::<Vec<_>>());
    let lanes = lanes::define(
        d,
        lanes::name(&shared, c.simd, c.input, c.popcount, lane_cuts),
        c.simd,
        c.input,
        c.popcount,
        lane_cuts,
    );
    // The legalized style, stated in the Verilog: left to Yosys, a small `Auto` ROM may land in
    // LUTs where the estimate counted a block RAM.
    let style = hw.wmem.style();
    let acc_params =
        AccParams { sum_bits: cw, sum_signed: c.signed(), width: c.reg_bits(), finish: Finish::of(c) };
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, iw, ow);
    // Weights in SPRAM: the board's loader writes PE p's memory with `load_we[p]`.
    let load = (hw.wmem.spram() > 0).then(|| {
        (m.input_bus("load_we", c.pe), m.input_bus("load_addr", abits), m.input_bus("load_data", c.simd))
    });
    let clock = id("clock");
    let x = m.net("ctl_x", Some(iw));
    let addr = m.net("ctl_addr", Some(abits));
    let taddr = threshold.then(|| m.net("ctl_taddr", Some(tbits)));
    let en = m.net("ctl_en", None);
    let acc_en = m.net("ctl_acc_en", None);
    let acc_first = m.net("ctl_acc_first", None);
    let results = m.net("ctl_results", Some(ow));
    let mut conns = vec![
        ("clock", clock.clone()),
        ("rst", p.rst),
        ("s_data", p.s_data),
        ("s_valid", p.s_valid),
        ("s_ready", p.s_ready),
        ("m_data", p.m_data),
        ("m_valid", p.m_valid),
        ("m_ready", p.m_ready),
        ("x", x.clone()),
        ("addr", addr.clone()),
    ];
    if let Some(t) = &taddr {
        conns.push(("taddr", t.clone()));
    }
    conns.extend([("en", en.clone()), ("acc_en", acc_en.clone()), ("acc_first", acc_first.clone())]);
    conns.push(("results", results.clone()));
    m.instance(&ctl, "ctl", conns);
    // The input cut: the selected word once for every PE, and the memories' address, so that
    // each read lands beside it a cycle later; both advance with the controller's delay line.
    let (x, raddr) = if hw.cuts.has(Cut::Input) {
        let xq = m.reg("x_q", iw, None);
        let aq = m.reg("addr_q", abits, None);
        m.always("clock", vec![if_(en.clone(), vec![nb(xq.clone(), x), nb(aq.clone(), addr.clone())])]);
        (xq, aq)
    } else {
        (x, addr)
    };
    let mut pe_results = Vec::new();
    for pe in 0..c.pe {
        let rom = Rom {
            words: c.weight_words(weights, pe),
            width: c.simd,
            file: format!("{}_w{pe}.mem", c.name),
            style,
            columns: hw.wmem_column_bits,
        };
        let wmem = super::memory::define(d, format!("{prefix}_wmem{pe}"), &rom);
        let data = m.net(&format!("wmem{pe}_data"), Some(c.simd));
        let mut wconns = vec![
            ("clock", clock.clone()),
            ("en", en.clone()),
            ("addr", raddr.clone()),
            ("data", data.clone()),
        ];
        if let Some((we, la, ld)) = &load {
            wconns.extend([
                ("load_we", we.clone().bit(pe)),
                ("load_addr", la.clone()),
                ("load_data", ld.clone()),
            ]);
        }
        m.instance(&wmem, &format!("wmem{pe}"), wconns);
        let sum = m.net(&format!("lanes{pe}_sum"), Some(cw));
        let mut lconns = Vec::new();
        if !lane_cuts.is_empty() {
            lconns.extend([("clock", clock.clone()), ("en", en.clone())]);
        }
        lconns.extend([("x", x.clone()), ("w", data), ("sum", sum.clone())]);
        m.instance(&lanes, &format!("lanes{pe}"), lconns);
        // The stages on the lane sums: the sum moves one register per advancing edge, beside the
        // controller's valid, first, last and pass of the same word (the cuts' registers hold
        // the rest of the delay line's stages).
        let mut sum = sum;
        for k in 0..hw.sum_stages() {
            let q = m.reg(&format!("sum{pe}_q{k}"), cw, None);
            m.always("clock", vec![if_(en.clone(), vec![nb(q.clone(), sum)])]);
            sum = q;
        }
        let trom = thresholds.filter(|_| threshold).map(|t| Rom {
            words: c.threshold_words(t, pe),
            width: c.tmem_bits(),
            file: format!("{}_t{pe}.mem", c.name),
            style: MemStyle::Distributed,
            columns: c.tmem_bits(),
        });
        let acc = match (&trom, hw.trom) {
            (Some(r), Some(form)) => {
                accumulator::define(d, format!("{prefix}_acc{pe}"), acc_params, Some((r, form)))
            }
            _ => accumulator::define(d, accumulator::scores_name(&shared, acc_params), acc_params, None),
        };
        let result = m.net(&format!("acc{pe}_result"), Some(rb));
        let mut conns = vec![
            ("clock", clock.clone()),
            ("en", acc_en.clone()),
            ("first", acc_first.clone()),
            ("sum", sum),
            ("ren", en.clone()),
        ];
        if let (Some(t), Some(_)) = (&taddr, &trom) {
            conns.push(("taddr", t.clone()));
        }
        conns.push(("result", result.clone()));
        m.instance(&acc, &format!("acc{pe}"), conns);
        pe_results.push(result);
    }
    // PE p's result is field p of the output word.
    pe_results.reverse();
    m.assign(results, concat(pe_results));
    m
}

/// The module name of an MVTU controller under `prefix`: its text depends on the word widths,
/// the folding (SF, NF), whether the PEs have a threshold memory (its address port) and the
/// pipeline stages after the lanes.
fn ctl_name(prefix: &str, c: &MvtuConfig, stages: usize) -> String {
    let mode = if c.has_tmem() { 't' } else { 's' };
    let p = if stages > 0 { format!("_p{stages}") } else { String::new() };
    ident_part(&format!("{prefix}_ctl_{}_{}_sf{}_nf{}{mode}{p}", c.in_bits(), c.out_bits(), c.sf(), c.nf()))
}

fn ctl_module(name: &str, c: &MvtuConfig, stages: usize) -> Module {
    let (sf_n, nf_n) = (c.sf(), c.nf());
    let (iw, ow) = (c.in_bits(), c.out_bits());
    let (abits, tbits) = (ubits(c.cycles() as u64 - 1), ubits(nf_n as u64 - 1));
    let sfb = ubits(sf_n as u64 - 1);
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, iw, ow);
    let x = m.output_bus("x", iw);
    let addr = m.output_bus("addr", abits);
    let taddr = c.has_tmem().then(|| m.output_bus("taddr", tbits));
    let en = m.output("en");
    let acc_en = m.output("acc_en");
    let acc_first = m.output("acc_first");
    let results = m.input_bus("results", ow);
    let sf = m.reg("sf", sfb, Some(0));
    let nf = m.reg("nf", tbits, Some(0));
    let waddr = m.reg("waddr", abits, Some(0));
    let v1 = m.reg1("v1", false);
    let first = m.reg1("first", false);
    let last = m.reg1("last", false);
    let out_valid = m.reg1("out_valid", false);
    let xr = m.reg("xr", iw, Some(0));
    let out = m.reg("out", ow, Some(0));
    let advance = m.wire1("advance", out_valid.clone().lnot().lor(p.m_ready.clone()));
    let first_pass = m.wire1("first_pass", nf.clone().eq(lit(tbits, 0)));
    let fire = m.wire1("fire", advance.clone().land(first_pass.clone().lnot().lor(p.s_valid.clone())));
    // Later passes read the vector back from the input buffer.
    let ibuf = (nf_n > 1).then(|| m.memory("ibuf", iw, sf_n, None, None));
    let word = match &ibuf {
        Some(b) => cond(first_pass.clone(), p.s_data.clone(), b.clone().at(sf.clone())),
        None => p.s_data.clone(),
    };
    let word = m.wire("word", iw, word);
    let mut on_fire = vec![nb(xr.clone(), word)];
    // The first pass writes its word at `sf` on every cycle that offers one, not only on the
    // handshake: `sf` moves only on a handshake, whose own write leaves the accepted word there,
    // and the first pass reads no word from the buffer. The write enable then leaves out
    // `advance` and `fire` (the downstream ready), which were the UP5K demo's critical path into
    // the buffer's EBR write masks.
    if let Some(b) = ibuf {
        let offered = first_pass.clone().land(p.s_valid.clone());
        m.always("clock", vec![if_(offered, vec![nb(b.at(sf.clone()), p.s_data)])]);
    }
    on_fire.push(nb(first.clone(), sf.clone().eq(lit(sfb, 0))));
    on_fire.push(nb(last.clone(), sf.clone().eq(lit(sfb, sf_n as u64 - 1))));
    on_fire.push(nb(
        waddr.clone(),
        cond(
            waddr.clone().eq(lit(abits, (sf_n * nf_n) as u64 - 1)),
            lit(abits, 0),
            waddr.clone().plus(lit(abits, 1)),
        ),
    ));
    on_fire.push(if_else(
        sf.clone().eq(lit(sfb, sf_n as u64 - 1)),
        vec![
            nb(sf.clone(), lit(sfb, 0)),
            nb(
                nf.clone(),
                cond(
                    nf.clone().eq(lit(tbits, nf_n as u64 - 1)),
                    lit(tbits, 0),
                    nf.clone().plus(lit(tbits, 1)),
                ),
            ),
        ],
        vec![nb(sf.clone(), sf.clone().plus(lit(sfb, 1)))],
    ));
    // The pipeline after the lanes: per stage the word's valid, first, last and pass (the
    // threshold address it is read at); the last stage is the accumulators'.
    // The pipeline after the lanes: per stage the word's valid, first and last bits, and the
    // pass (the threshold address it is read at, one stage before the accumulators'; so the last
    // stage needs none, nor does a unit without thresholds).
    let tmem = c.has_tmem();
    let mut ap = nf.clone();
    if stages > 0 && tmem {
        let pass = m.reg("pass_b", tbits, Some(0));
        on_fire.push(nb(pass.clone(), nf.clone()));
        ap = pass;
    }
    let mut shift = Vec::new();
    let mut on_reset = Vec::new();
    let (mut av, mut af, mut al) = (v1.clone(), first.clone(), last.clone());
    let mut taddr_e = ap.clone();
    for k in 0..stages {
        taddr_e = ap.clone();
        let pv = m.reg1(&format!("pv{k}"), false);
        let pf = m.reg1(&format!("pf{k}"), false);
        let pl = m.reg1(&format!("pl{k}"), false);
        shift.extend([nb(pv.clone(), av), nb(pf.clone(), af), nb(pl.clone(), al)]);
        if tmem && k + 1 < stages {
            let pp = m.reg(&format!("pp{k}"), tbits, Some(0));
            shift.push(nb(pp.clone(), ap));
            ap = pp;
        }
        on_reset.push(nb(pv.clone(), lit(1, 0)));
        (av, af, al) = (pv, pf, pl);
    }
    let acc_last = av.clone().land(al);
    let mut reset = vec![
        nb(sf.clone(), lit(sfb, 0)),
        nb(nf.clone(), lit(tbits, 0)),
        nb(waddr.clone(), lit(abits, 0)),
        nb(v1.clone(), lit(1, 0)),
        nb(out_valid.clone(), lit(1, 0)),
    ];
    reset.extend(on_reset);
    let mut step = vec![
        if_(acc_last.clone(), vec![nb(out.clone(), results)]),
        nb(out_valid.clone(), acc_last.lor(out_valid.clone().land(p.m_ready.lnot()))),
    ];
    step.extend(shift);
    step.extend([nb(v1.clone(), fire.clone()), if_(fire, on_fire)]);
    m.always("clock", vec![if_else(p.rst, reset, vec![if_(advance.clone(), step)])]);
    m.assign(p.s_ready, advance.clone().land(first_pass));
    m.assign(p.m_valid, out_valid);
    m.assign(en, advance.clone());
    m.assign(acc_en, advance.land(av));
    m.assign(acc_first, af);
    m.assign(p.m_data, out);
    m.assign(x, xr);
    m.assign(addr, waddr);
    if let Some(t) = taddr {
        m.assign(t, taddr_e);
    }
    m
}
