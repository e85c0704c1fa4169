//! The FIFO's Verilog (the block: [`crate::stream::Fifo`]).

use super::builder::{cond, if_, if_else, lit, nb, Expr, Module};
use super::{stream_ports, Design};
use crate::words::ubits;
use crate::HdlError;

/// The module name of a FIFO of `depth` words of `width` bits under `prefix`.
pub fn name(prefix: &str, width: usize, depth: usize) -> String {
    format!("{prefix}_fifo_{width}x{depth}")
}

/// Defines the FIFO module `name` in `d`.
pub fn define(d: &mut Design, name: String, width: usize, depth: usize) -> String {
    d.define(name, |_, n| module(n, width, depth))
}

/// A design whose top module `top` is a FIFO of `depth >= 1` words of `width >= 1` bits.
pub fn design(top: &str, width: usize, depth: usize) -> Result<Design, HdlError> {
    if width == 0 || depth == 0 {
        return Err(HdlError::Folding {
            layer: "fifo".into(),
            message: format!("a FIFO needs width and depth >= 1, got width {width}, depth {depth}"),
        });
    }
    let mut d = Design::new(top);
    define(&mut d, top.into(), width, depth);
    Ok(d)
}

fn module(name: &str, w: usize, depth: usize) -> Module {
    let (pw, cw) = (ubits(depth as u64 - 1), ubits(depth as u64));
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, w, w);
    let mem = m.memory("mem", w, depth, None, None);
    let rptr = m.reg("rptr", pw, Some(0));
    let wptr = m.reg("wptr", pw, Some(0));
    let count = m.reg("count", cw, Some(0));
    let full = m.wire1("full", count.clone().eq(lit(cw, depth as u64)));
    let empty = m.wire1("empty", count.clone().eq(lit(cw, 0)));
    let push = m.wire1("push", p.s_valid.land(full.clone().lnot()));
    let pop = m.wire1("pop", p.m_ready.land(empty.clone().lnot()));
    let step = |ptr: &Expr| {
        cond(ptr.clone().eq(lit(pw, depth as u64 - 1)), lit(pw, 0), ptr.clone().plus(lit(pw, 1)))
    };
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![nb(rptr.clone(), lit(pw, 0)), nb(wptr.clone(), lit(pw, 0)), nb(count.clone(), lit(cw, 0))],
            vec![
                if_(
                    push.clone(),
                    vec![nb(mem.clone().at(wptr.clone()), p.s_data), nb(wptr.clone(), step(&wptr))],
                ),
                if_(pop.clone(), vec![nb(rptr.clone(), step(&rptr))]),
                if_else(
                    push.clone().land(pop.clone().lnot()),
                    vec![nb(count.clone(), count.clone().plus(lit(cw, 1)))],
                    vec![if_(pop.land(push.lnot()), vec![nb(count.clone(), count.minus(lit(cw, 1)))])],
                ),
            ],
        )],
    );
    let head = m.wire("head", w, mem.at(rptr));
    m.assign(p.s_ready, full.lnot());
    m.assign(p.m_valid, empty.lnot());
    m.assign(p.m_data, head);
    m
}
