//! The Verilog of a residual block's plumbing (the blocks: `blocks::residual`): the duplicate
//! (ports `b_valid`/`b_ready` for its bypass output, which shares `m_data`), the sign node, the
//! channel pad and the saturating add (ports `b_data`/`b_valid`/`b_ready` for its bypass input).

use super::builder::{bit, concat, cond, if_, if_else, lit, nb, repeat, Expr, Module};
use super::{stream_ports, Design};
use crate::words::ubits;
use compiler::model::IntType;

/// The module name of a duplicate of `bits`-bit words under `prefix`.
pub fn dup_name(prefix: &str, bits: usize) -> String {
    format!("{prefix}_dup_{bits}")
}

/// Defines the duplicate module `name` in `d`.
pub fn define_dup(d: &mut Design, name: String, bits: usize) -> String {
    d.define(name, |_, n| dup(n, bits))
}

fn dup(name: &str, w: usize) -> Module {
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, w, w);
    let b_valid = m.output("b_valid");
    let b_ready = m.input("b_ready");
    let d = m.reg("d", w, Some(0));
    let vm = m.reg1("vm", false);
    let vb = m.reg1("vb", false);
    let ready = m.wire1(
        "ready",
        vm.clone().lnot().lor(p.m_ready.clone()).land(vb.clone().lnot().lor(b_ready.clone())),
    );
    let take = m.wire1("take", p.s_valid.land(ready.clone()));
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![nb(vm.clone(), bit(false)), nb(vb.clone(), bit(false))],
            vec![if_else(
                take,
                vec![nb(d.clone(), p.s_data), nb(vm.clone(), bit(true)), nb(vb.clone(), bit(true))],
                vec![
                    if_(vm.clone().land(p.m_ready), vec![nb(vm.clone(), bit(false))]),
                    if_(vb.clone().land(b_ready), vec![nb(vb.clone(), bit(false))]),
                ],
            )],
        )],
    );
    m.assign(p.s_ready, ready);
    m.assign(p.m_valid, vm);
    m.assign(b_valid, vb);
    m.assign(p.m_data, d);
    m
}

/// The module name of a sign node on words of `elems` elements of type `ty` under `prefix`.
pub fn sign_name(prefix: &str, ty: IntType, elems: usize) -> String {
    format!("{prefix}_sign_{elems}x{}", ty.bits)
}

/// Defines the sign module `name` in `d`.
pub fn define_sign(d: &mut Design, name: String, ty: IntType, elems: usize) -> String {
    d.define(name, |_, n| sign(n, usize::from(ty.bits), elems))
}

fn sign(name: &str, k: usize, n: usize) -> Module {
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, n * k, n);
    let ov = m.reg1("ov", false);
    let od = m.reg("od", n, Some(0));
    let adv = m.wire1("adv", ov.clone().lnot().lor(p.m_ready));
    // Element j's bit: its sign bit inverted (x >= 0 is 1), most significant element first.
    let bits = m.wire(
        "bits",
        n,
        concat((0..n).rev().map(|j| p.s_data.clone().bit(j * k + k - 1).bitnot()).collect()),
    );
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![nb(ov.clone(), bit(false))],
            vec![if_(
                adv.clone(),
                vec![nb(ov.clone(), p.s_valid.clone()), if_(p.s_valid, vec![nb(od.clone(), bits)])],
            )],
        )],
    );
    m.assign(p.s_ready, adv);
    m.assign(p.m_valid, ov);
    m.assign(p.m_data, od);
    m
}

/// The module name of a channel pad from `cf_in` to `cf_out` words of `bits` bits per pixel under
/// `prefix`.
pub fn pad_name(prefix: &str, bits: usize, cf_in: usize, cf_out: usize) -> String {
    format!("{prefix}_chpad_{bits}_{cf_in}_{cf_out}")
}

/// Defines the channel-pad module `name` in `d`.
pub fn define_pad(d: &mut Design, name: String, bits: usize, cf_in: usize, cf_out: usize) -> String {
    d.define(name, |_, n| pad(n, bits, cf_in, cf_out))
}

fn pad(name: &str, w: usize, cf_in: usize, cf_out: usize) -> Module {
    let cb = ubits(cf_out as u64);
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, w, w);
    let wc = m.reg("wc", cb, Some(0));
    let ov = m.reg1("ov", false);
    let od = m.reg("od", w, Some(0));
    let adv = m.wire1("adv", ov.clone().lnot().lor(p.m_ready));
    let inw = m.wire1("inw", wc.clone().lt(lit(cb, cf_in as u64)));
    let next = m.wire(
        "next",
        cb,
        cond(wc.clone().eq(lit(cb, cf_out as u64 - 1)), lit(cb, 0), wc.clone().plus(lit(cb, 1))),
    );
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![nb(wc.clone(), lit(cb, 0)), nb(ov.clone(), bit(false))],
            vec![if_(
                adv.clone(),
                vec![if_else(
                    inw.clone(),
                    vec![
                        nb(ov.clone(), p.s_valid.clone()),
                        if_(p.s_valid, vec![nb(od.clone(), p.s_data), nb(wc.clone(), next.clone())]),
                    ],
                    vec![nb(ov.clone(), bit(true)), nb(od.clone(), lit(w, 0)), nb(wc, next)],
                )],
            )],
        )],
    );
    m.assign(p.s_ready, adv.land(inw));
    m.assign(p.m_valid, ov);
    m.assign(p.m_data, od);
    m
}

/// The module name of a saturating add of words of `elems` elements of type `ty` under `prefix`.
pub fn add_name(prefix: &str, ty: IntType, elems: usize) -> String {
    format!("{prefix}_add_{elems}x{}", ty.bits)
}

/// Defines the add module `name` in `d`.
pub fn define_add(d: &mut Design, name: String, ty: IntType, elems: usize) -> String {
    d.define(name, |_, n| add(n, usize::from(ty.bits), elems))
}

fn add(name: &str, k: usize, n: usize) -> Module {
    let w = n * k;
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, w, w);
    let b_data = m.input_bus("b_data", w);
    let b_valid = m.input("b_valid");
    let b_ready = m.output("b_ready");
    let ov = m.reg1("ov", false);
    let od = m.reg("od", w, Some(0));
    let adv = m.wire1("adv", ov.clone().lnot().lor(p.m_ready));
    let both = m.wire1("both", p.s_valid.land(b_valid));
    let ext = |e: &Expr, j: usize| {
        concat(vec![e.clone().bit(j * k + k - 1), e.clone().slice(j * k + k - 1, j * k)])
    };
    // Element j: the (k+1)-bit sum, clamped to the type's range when its two top bits differ.
    let sums: Vec<Expr> = (0..n)
        .rev()
        .map(|j| {
            let s = m.wire(&format!("sum{j}"), k + 1, ext(&p.s_data, j).plus(ext(&b_data, j)));
            let clamp = concat(vec![s.clone().bit(k), repeat(k - 1, s.clone().bit(k).bitnot())]);
            m.wire(
                &format!("sat{j}"),
                k,
                cond(s.clone().bit(k).ne(s.clone().bit(k - 1)), clamp, s.slice(k - 1, 0)),
            )
        })
        .collect();
    let total = m.wire("total", w, concat(sums));
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![nb(ov.clone(), bit(false))],
            vec![if_(
                adv.clone(),
                vec![nb(ov.clone(), both.clone()), if_(both.clone(), vec![nb(od.clone(), total)])],
            )],
        )],
    );
    let ready = m.wire1("ready", adv.land(both));
    m.assign(p.s_ready, ready.clone());
    m.assign(b_ready, ready);
    m.assign(p.m_valid, ov);
    m.assign(p.m_data, od);
    m
}
