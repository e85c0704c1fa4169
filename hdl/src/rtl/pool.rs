//! The max-pool unit's Verilog (the block and its schedule: [`crate::pool::Pool`]): the OR of bits,
//! or per `k`-bit element a comparator (`$signed` for two's complement) and a multiplexer. The row
//! buffer is named `rowbuf` (`buf` is a Verilog keyword).

use super::builder::{and_reduce, bit, concat, cond, if_, if_else, lit, nb, signed, Expr, Module};
use super::{ident_part, stream_ports, Design};
use crate::words::ubits;
use crate::HdlError;
use compiler::dataflow::PoolConfig;

/// The module name of a max-pool unit under `prefix`.
pub fn name(prefix: &str, c: &PoolConfig) -> String {
    let elem = match c.elem().int_type() {
        Some(t) => format!("_{t}"),
        None => String::new(),
    };
    ident_part(&format!("{prefix}_pool_{}x{}x{}_b{}{elem}_k{}", c.h, c.w, c.c, c.simd, c.kernel))
}

/// Defines the unit's module `name` in `d` (`cfg` checked with [`PoolConfig::validate`]).
pub fn define(d: &mut Design, name: String, cfg: &PoolConfig) -> Result<String, HdlError> {
    cfg.validate()?;
    Ok(d.define(name, |_, n| module(n, cfg)))
}

/// A design whose top module `top` is a max-pool unit.
pub fn design(top: &str, cfg: &PoolConfig) -> Result<Design, HdlError> {
    let mut d = Design::new(top);
    define(&mut d, top.into(), cfg)?;
    Ok(d)
}

fn module(name: &str, c: &PoolConfig) -> Module {
    let (h, w, k, cf, oh, ow, b) = (c.h, c.w, c.kernel, c.cf(), c.oh(), c.ow(), c.bits());
    let depth = ow * cf;
    let u = |v: usize| ubits(v as u64);
    let (wcb, xb, kb, oxb, yb) = (u(cf - 1), u(w - 1), u(k - 1), u(ow), u(h - 1));
    let bab = u(depth - 1);
    let nb_ = u((ow + 1) * cf);
    let ext =
        |e: &Expr, wd: usize| if wd < nb_ { concat(vec![lit(nb_ - wd, 0), e.clone()]) } else { e.clone() };
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, b, b);
    let wc = m.reg("wc", wcb, Some(0));
    let x = m.reg("x", xb, Some(0));
    let kx = m.reg("kx", kb, Some(0));
    let ky = m.reg("ky", kb, Some(0));
    let ox = m.reg("ox", oxb, Some(0));
    let y = m.reg("y", yb, Some(0));
    let ov = m.reg1("ov", false);
    let od = m.reg("od", b, Some(0));
    let rowbuf = m.memory("rowbuf", b, depth, None, None);
    let adv = m.wire1("adv", ov.clone().lnot().lor(p.m_ready));
    let push = m.wire1("push", p.rst.clone().lnot().land(adv.clone()).land(p.s_valid.clone()));
    let xin = if ow * k == w { bit(true) } else { x.clone().lt(lit(xb, (ow * k) as u64)) };
    let yin = if oh * k == h { bit(true) } else { y.clone().lt(lit(yb, (oh * k) as u64)) };
    let in_window = m.wire1("in_window", xin.land(yin));
    let first = m.wire1("first", kx.clone().eq(lit(kb, 0)).land(ky.clone().eq(lit(kb, 0))));
    let kl = lit(kb, k as u64 - 1);
    let last = m.wire1("last", kx.clone().eq(kl.clone()).land(ky.clone().eq(kl)));
    let baddr_n = m.wire("baddr_n", nb_, ext(&ox, oxb).times(lit(nb_, cf as u64)).plus(ext(&wc, wcb)));
    let baddr = m.wire("baddr", bab, baddr_n.clone().slice(bab - 1, 0));
    if nb_ > bab {
        m.wire1("unused_hi", and_reduce(concat(vec![bit(false), baddr_n.slice(nb_ - 1, bab)])));
    }
    let held = rowbuf.clone().at(baddr.clone());
    let larger = if c.elem_bits == 1 {
        held.or(p.s_data.clone())
    } else {
        // Element j: the larger of the buffer's and the input's, most significant element first.
        let held = m.wire("held", b, held);
        let eb = c.elem_bits;
        let field = |e: &Expr, j: usize| e.clone().slice(j * eb + eb - 1, j * eb);
        let maxes = (0..c.simd)
            .rev()
            .map(|j| {
                let (x, y) = (field(&p.s_data, j), field(&held, j));
                let gt =
                    if c.signed { signed(x.clone()).gt(signed(y.clone())) } else { x.clone().gt(y.clone()) };
                m.wire(&format!("max{j}"), eb, cond(gt, x, y))
            })
            .collect();
        concat(maxes)
    };
    let v = m.wire("v", b, cond(first, p.s_data.clone(), larger));
    m.always(
        "clock",
        vec![if_(
            push.land(in_window.clone()).land(last.clone().lnot()),
            vec![nb(rowbuf.at(baddr), v.clone())],
        )],
    );
    let zero = |e: &Expr, wd: usize| nb(e.clone(), lit(wd, 0));
    let step = |e: &Expr, wd: usize| nb(e.clone(), e.clone().plus(lit(wd, 1)));
    let window = in_window.land(last);
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![
                zero(&wc, wcb),
                zero(&x, xb),
                zero(&kx, kb),
                zero(&ox, oxb),
                zero(&y, yb),
                zero(&ky, kb),
                nb(ov.clone(), bit(false)),
                zero(&od, b),
            ],
            vec![if_(
                adv.clone(),
                vec![if_else(
                    p.s_valid,
                    vec![
                        nb(ov.clone(), window.clone()),
                        if_(window, vec![nb(od.clone(), v)]),
                        if_else(
                            wc.clone().eq(lit(wcb, cf as u64 - 1)),
                            vec![
                                zero(&wc, wcb),
                                if_else(
                                    x.clone().eq(lit(xb, w as u64 - 1)),
                                    vec![
                                        zero(&x, xb),
                                        zero(&kx, kb),
                                        zero(&ox, oxb),
                                        if_else(
                                            y.clone().eq(lit(yb, h as u64 - 1)),
                                            vec![zero(&y, yb), zero(&ky, kb)],
                                            vec![
                                                step(&y, yb),
                                                nb(
                                                    ky.clone(),
                                                    cond(
                                                        ky.clone().eq(lit(kb, k as u64 - 1)),
                                                        lit(kb, 0),
                                                        ky.clone().plus(lit(kb, 1)),
                                                    ),
                                                ),
                                            ],
                                        ),
                                    ],
                                    vec![
                                        step(&x, xb),
                                        if_else(
                                            kx.clone().eq(lit(kb, k as u64 - 1)),
                                            vec![zero(&kx, kb), step(&ox, oxb)],
                                            vec![step(&kx, kb)],
                                        ),
                                    ],
                                ),
                            ],
                            vec![step(&wc, wcb)],
                        ),
                    ],
                    vec![nb(ov.clone(), bit(false))],
                )],
            )],
        )],
    );
    m.assign(p.s_ready, adv);
    m.assign(p.m_valid, ov);
    m.assign(p.m_data, od);
    m
}
