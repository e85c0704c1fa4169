//! The sliding-window unit's Verilog (the block and its schedule: [`crate::swu::Swu`]).

use super::builder::{and_reduce, bit, concat, cond, if_, if_else, lit, nb, repeat, Expr, Module};
use super::{ident_part, stream_ports, Design};
use crate::words::ubits;
use crate::HdlError;
use compiler::dataflow::SwuConfig;
use compiler::dataflow::{MemStyle, SwuHw};

/// The module name of a sliding-window unit under `prefix`: every field of the configuration
/// but its name decides the text.
pub fn name(prefix: &str, c: &SwuConfig) -> String {
    ident_part(&format!(
        "{prefix}_swu_{}x{}x{}_e{}_s{}_k{}s{}p{}_{}",
        c.h,
        c.w,
        c.c,
        c.elem_bits,
        c.simd,
        c.kernel,
        c.stride,
        c.pad,
        u8::from(c.pad_bit)
    ))
}

/// Defines the unit's module `name` in `d` (`cfg` checked with [`SwuConfig::validate`]).
pub fn define(d: &mut Design, name: String, cfg: &SwuConfig, hw: &SwuHw) -> Result<String, HdlError> {
    cfg.validate()?;
    Ok(d.define(name, |_, n| module(n, cfg, hw)))
}

/// A design whose top module `top` is a sliding-window unit, with the hardware the legalizer
/// gives a unit built alone.
pub fn design(top: &str, cfg: &SwuConfig) -> Result<Design, HdlError> {
    let mut d = Design::new(top);
    define(&mut d, top.into(), cfg, &compiler::passes::legalize::swu(cfg))?;
    Ok(d)
}

fn module(name: &str, c: &SwuConfig, hw: &SwuHw) -> Module {
    let (h, w, cf, k, s, pd, r, oh, ow) =
        (c.h, c.w, c.cf(), c.kernel, c.stride, c.pad, c.ring_rows(), c.oh(), c.ow());
    let bw = c.bits();
    let rw = c.ring_words();
    let ab = c.addr_bits();
    let u = |v: usize| ubits(v as u64);
    let (wxb, wcb, rb, avb, lob) = (u(w - 1), u(cf - 1), u(r - 1), u(r), u(2 * h + r));
    // `lo` is kept as `lo + H + R`, never negative.
    let off = h + r;
    let (oyb, oxb, kb) = (u(oh - 1), u(ow - 1), u(k - 1));
    let nb_ = c.arith_bits();
    let n = |v: usize| lit(nb_, v as u64);
    let ext =
        |e: &Expr, wd: usize| if wd < nb_ { concat(vec![lit(nb_ - wd, 0), e.clone()]) } else { e.clone() };
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, bw, bw);
    // The legalized resource, stated: left to Yosys, a ring could land elsewhere than counted.
    let style = if hw.ring == MemStyle::Block { "block" } else { "distributed" };
    let mem = m.memory("mem", bw, rw, Some(("ram_style", style)), None);
    let wx = m.reg("wx", wxb, Some(0));
    let wc = m.reg("wc", wcb, Some(0));
    let wslot = m.reg("wslot", rb, Some(0));
    let head = m.reg("head", rb, Some(0));
    let avail = m.reg("avail", avb, Some(0));
    let lo = m.reg("lo", lob, Some(off as u64));
    let qv = m.reg1("qv", false);
    let padr = m.reg1("padr", false);
    let oy = m.reg("oy", oyb, Some(0));
    let ox = m.reg("ox", oxb, Some(0));
    let ky = m.reg("ky", kb, Some(0));
    let kx = m.reg("kx", kb, Some(0));
    let rc = m.reg("rc", wcb, Some(0));
    m.comment("The memory's read register: no initial value, so that it can be a block RAM's.");
    let q = m.reg("q", bw, None);
    let lo_n = m.wire("lo_n", nb_, ext(&lo, lob));
    let avail_n = m.wire("avail_n", nb_, ext(&avail, avb));
    let oys = m.wire("oys", nb_, ext(&oy, oyb).times(n(s)));
    let y0 = if pd > 0 {
        m.wire("y0", nb_, cond(oys.clone().lt(n(pd)), n(0), oys.clone().minus(n(pd))))
    } else {
        m.wire("y0", nb_, oys.clone())
    };
    let yk = m.wire("yk", nb_, oys.clone().plus(n(k - 1 - pd)));
    let ylast = m.wire("ylast", nb_, cond(yk.clone().gt(n(h - 1)), n(h - 1), yk));
    let ready = m.wire1("ready", avail.clone().lt(lit(avb, r as u64)));
    let push = m.wire1("push", p.rst.clone().lnot().land(p.s_valid).land(ready.clone()));
    let row_done = m.wire1(
        "row_done",
        push.clone().land(wc.clone().eq(lit(wcb, cf as u64 - 1))).land(wx.clone().eq(lit(wxb, w as u64 - 1))),
    );
    let free = m.wire1("free", avail.clone().ne(lit(avb, 0)).land(lo_n.clone().lt(y0.plus(n(off)))));
    let can = m.wire1("can", lo_n.clone().plus(avail_n).gt(ylast.plus(n(off))));
    let adv = m.wire1("adv", qv.clone().lnot().lor(p.m_ready));
    let yy = m.wire("yy", nb_, oys.plus(ext(&ky, kb)));
    let xx = m.wire("xx", nb_, ext(&ox, oxb).times(n(s)).plus(ext(&kx, kb)));
    let pad = if pd > 0 {
        m.wire1(
            "pad",
            yy.clone()
                .lt(n(pd))
                .lor(yy.clone().ge(n(h + pd)))
                .lor(xx.clone().lt(n(pd)))
                .lor(xx.clone().ge(n(w + pd))),
        )
    } else {
        m.wire1("pad", bit(false))
    };
    m.comment("head + (yy - P) - lo, in 0 .. 2R-2.");
    let ring = m.wire("ring", nb_, ext(&head, rb).plus(yy).plus(n(off - pd)).minus(lo_n));
    let slot = m.wire("slot", nb_, cond(ring.clone().ge(n(r)), ring.clone().minus(n(r)), ring));
    let raddr_n =
        m.wire("raddr_n", nb_, slot.times(n(w)).plus(xx).minus(n(pd)).times(n(cf)).plus(ext(&rc, wcb)));
    let waddr_n = m.wire(
        "waddr_n",
        nb_,
        ext(&wslot, rb).times(n(w)).plus(ext(&wx, wxb)).times(n(cf)).plus(ext(&wc, wcb)),
    );
    let raddr = m.wire("raddr", ab, raddr_n.clone().slice(ab - 1, 0));
    let waddr = m.wire("waddr", ab, waddr_n.clone().slice(ab - 1, 0));
    if nb_ > ab {
        m.wire1(
            "unused_hi",
            and_reduce(concat(vec![bit(false), raddr_n.slice(nb_ - 1, ab), waddr_n.slice(nb_ - 1, ab)])),
        );
    }
    let ren =
        m.wire1("ren", p.rst.clone().lnot().land(adv.clone()).land(can.clone()).land(pad.clone().lnot()));
    let last = m.wire1(
        "last",
        rc.clone()
            .eq(lit(wcb, cf as u64 - 1))
            .land(kx.clone().eq(lit(kb, k as u64 - 1)))
            .land(ky.clone().eq(lit(kb, k as u64 - 1)))
            .land(ox.clone().eq(lit(oxb, ow as u64 - 1)))
            .land(oy.clone().eq(lit(oyb, oh as u64 - 1))),
    );
    m.always("clock", vec![if_(push.clone(), vec![nb(mem.clone().at(waddr), p.s_data)])]);
    m.always("clock", vec![if_(ren, vec![nb(q.clone(), mem.at(raddr))])]);
    let wrap = |e: &Expr, wd: usize, max: usize| {
        cond(e.clone().eq(lit(wd, max as u64)), lit(wd, 0), e.clone().plus(lit(wd, 1)))
    };
    let zero = |e: &Expr, wd: usize| nb(e.clone(), lit(wd, 0));
    let step = |e: &Expr, wd: usize| nb(e.clone(), e.clone().plus(lit(wd, 1)));
    let free_ext =
        if lob > 1 { concat(vec![lit(lob - 1, 0), free.clone()]) } else { concat(vec![free.clone()]) };
    let counters = if_else(
        rc.clone().eq(lit(wcb, cf as u64 - 1)),
        vec![
            zero(&rc, wcb),
            if_else(
                kx.clone().eq(lit(kb, k as u64 - 1)),
                vec![
                    zero(&kx, kb),
                    if_else(
                        ky.clone().eq(lit(kb, k as u64 - 1)),
                        vec![
                            zero(&ky, kb),
                            if_else(
                                ox.clone().eq(lit(oxb, ow as u64 - 1)),
                                vec![zero(&ox, oxb), nb(oy.clone(), wrap(&oy, oyb, oh - 1))],
                                vec![step(&ox, oxb)],
                            ),
                        ],
                        vec![step(&ky, kb)],
                    ),
                ],
                vec![step(&kx, kb)],
            ),
        ],
        vec![step(&rc, wcb)],
    );
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![
                zero(&wx, wxb),
                zero(&wc, wcb),
                zero(&wslot, rb),
                zero(&avail, avb),
                zero(&head, rb),
                nb(lo.clone(), lit(lob, off as u64)),
                zero(&oy, oyb),
                zero(&ox, oxb),
                zero(&ky, kb),
                zero(&kx, kb),
                zero(&rc, wcb),
                nb(qv.clone(), bit(false)),
                nb(padr.clone(), bit(false)),
            ],
            vec![
                if_(
                    push,
                    vec![
                        if_else(
                            wc.clone().eq(lit(wcb, cf as u64 - 1)),
                            vec![zero(&wc, wcb), nb(wx.clone(), wrap(&wx, wxb, w - 1))],
                            vec![step(&wc, wcb)],
                        ),
                        if_(row_done.clone(), vec![nb(wslot.clone(), wrap(&wslot, rb, r - 1))]),
                    ],
                ),
                if_(free.clone(), vec![nb(head.clone(), wrap(&head, rb, r - 1))]),
                nb(
                    lo.clone(),
                    lo.clone().plus(free_ext).minus(cond(
                        adv.clone().land(can.clone()).land(last),
                        lit(lob, h as u64),
                        lit(lob, 0),
                    )),
                ),
                if_else(
                    row_done.clone().land(free.clone().lnot()),
                    vec![step(&avail, avb)],
                    vec![if_(
                        free.clone().land(row_done.lnot()),
                        vec![nb(avail.clone(), avail.clone().minus(lit(avb, 1)))],
                    )],
                ),
                if_(adv, vec![nb(qv.clone(), can.clone()), if_(can, vec![nb(padr.clone(), pad), counters])]),
            ],
        )],
    );
    let padw = repeat(bw, bit(c.pad_bit));
    let od = m.wire("od", bw, cond(padr, padw, q));
    m.assign(p.s_ready, ready);
    m.assign(p.m_valid, qv);
    m.assign(p.m_data, od);
    m
}
