//! The FIFO's Verilog (the block: [`crate::stream::Fifo`]), in two forms that show the same words
//! on the same cycles: words in LUT RAM or flip-flops read combinationally at the read pointer,
//! or in block RAM read through its output register (iCE40 EBRs have no other read).

use super::builder::{cond, if_, if_else, lit, nb, Expr, Module};
use super::{stream_ports, Design};
use crate::words::ubits;
use crate::{HdlError, MemStyle};
use compiler::dataflow::Flags;

/// The module name of a FIFO of `depth` words of `width` bits in `ram` under `prefix`.
pub fn name(prefix: &str, width: usize, depth: usize, ram: MemStyle) -> String {
    match ram {
        MemStyle::Block => format!("{prefix}_fifo_{width}x{depth}_block"),
        _ => format!("{prefix}_fifo_{width}x{depth}"),
    }
}

/// Defines the FIFO of `depth` words of `width` bits in `ram` with handshake flags `flags` under
/// `prefix` in `d`, and returns its module name.
pub fn define_node(
    d: &mut Design,
    prefix: &str,
    width: usize,
    depth: usize,
    ram: MemStyle,
    flags: Flags,
) -> String {
    define_flags(d, super::flags_name(name(prefix, width, depth, ram), flags), width, depth, ram, flags)
}

fn define_flags(
    d: &mut Design,
    name: String,
    width: usize,
    depth: usize,
    ram: MemStyle,
    flags: Flags,
) -> String {
    d.define(name, |_, n| module(n, width, depth, ram, flags))
}

/// A design whose top module `top` is a FIFO of `depth >= 1` words of `width >= 1` bits in `ram`.
pub fn design(top: &str, width: usize, depth: usize, ram: MemStyle) -> Result<Design, HdlError> {
    design_flags(top, width, depth, ram, Flags::Combinational)
}

/// [`design`] with handshake flags `flags`.
pub fn design_flags(
    top: &str,
    width: usize,
    depth: usize,
    ram: MemStyle,
    flags: Flags,
) -> Result<Design, HdlError> {
    if width == 0 || depth == 0 {
        return Err(HdlError::Folding {
            layer: "fifo".into(),
            message: format!("a FIFO needs width and depth >= 1, got width {width}, depth {depth}"),
        });
    }
    let mut d = Design::new(top);
    define_flags(&mut d, top.into(), width, depth, ram, flags);
    Ok(d)
}

/// Both forms keep `m_data = mem[rptr]` (the block's definition). The block form reads
/// `mem[rnext]`, the read pointer after the edge, into its output register at every edge; the
/// one word that read cannot see is the one written at the same edge to the same address (a
/// block RAM reads the old word), and a register of that word and a flag select it instead.
///
/// Registered flags hold `count == depth` and `count == 0` of the count after the edge (the
/// block's `!s_ready` and `!m_valid`); that form also writes its words outside the reset's
/// branch (a word written under reset is never read: the count restarts at 0), which keeps the
/// reset off the words' write enables.
fn module(name: &str, w: usize, depth: usize, ram: MemStyle, flags: Flags) -> Module {
    let (pw, cw) = (ubits(depth as u64 - 1), ubits(depth as u64));
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, w, w);
    let mem = m.memory("mem", w, depth, None, None);
    let rptr = m.reg("rptr", pw, Some(0));
    let wptr = m.reg("wptr", pw, Some(0));
    let count = m.reg("count", cw, Some(0));
    let reg = flags.registered();
    let (full, empty) = if reg {
        (m.reg1("full", false), m.reg1("empty", true))
    } else {
        (
            m.wire1("full", count.clone().eq(lit(cw, depth as u64))),
            m.wire1("empty", count.clone().eq(lit(cw, 0))),
        )
    };
    let push = m.wire1("push", p.s_valid.land(full.clone().lnot()));
    let pop = m.wire1("pop", p.m_ready.land(empty.clone().lnot()));
    let step = |ptr: &Expr| {
        cond(ptr.clone().eq(lit(pw, depth as u64 - 1)), lit(pw, 0), ptr.clone().plus(lit(pw, 1)))
    };
    let write = nb(mem.clone().at(wptr.clone()), p.s_data.clone());
    let grow = push.clone().land(pop.clone().lnot());
    let shrink = pop.clone().land(push.clone().lnot());
    let mut on_reset =
        vec![nb(rptr.clone(), lit(pw, 0)), nb(wptr.clone(), lit(pw, 0)), nb(count.clone(), lit(cw, 0))];
    let steps = if reg {
        m.always("clock", vec![if_(push.clone(), vec![write])]);
        let next = m.wire(
            "next",
            cw,
            cond(
                grow,
                count.clone().plus(lit(cw, 1)),
                cond(shrink, count.clone().minus(lit(cw, 1)), count.clone()),
            ),
        );
        on_reset.extend([nb(full.clone(), lit(1, 0)), nb(empty.clone(), lit(1, 1))]);
        vec![
            if_(push.clone(), vec![nb(wptr.clone(), step(&wptr))]),
            if_(pop.clone(), vec![nb(rptr.clone(), step(&rptr))]),
            nb(count.clone(), next.clone()),
            nb(full.clone(), next.clone().eq(lit(cw, depth as u64))),
            nb(empty.clone(), next.eq(lit(cw, 0))),
        ]
    } else {
        vec![
            if_(push.clone(), vec![write, nb(wptr.clone(), step(&wptr))]),
            if_(pop.clone(), vec![nb(rptr.clone(), step(&rptr))]),
            if_else(
                grow,
                vec![nb(count.clone(), count.clone().plus(lit(cw, 1)))],
                vec![if_(shrink, vec![nb(count.clone(), count.minus(lit(cw, 1)))])],
            ),
        ]
    };
    m.always("clock", vec![if_else(p.rst.clone(), on_reset, steps)]);
    let head = match ram {
        MemStyle::Block => {
            let rnext =
                m.wire("rnext", pw, cond(p.rst.clone(), lit(pw, 0), cond(pop, step(&rptr), rptr.clone())));
            let q = m.reg("q", w, None);
            let bypass = m.reg("bypass", 1, Some(0));
            let written = m.reg("written", w, None);
            m.always(
                "clock",
                vec![
                    nb(q.clone(), mem.at(rnext.clone())),
                    nb(bypass.clone(), p.rst.lnot().land(push).land(wptr.eq(rnext))),
                    nb(written.clone(), p.s_data),
                ],
            );
            m.wire("head", w, cond(bypass, written, q))
        }
        _ => m.wire("head", w, mem.at(rptr)),
    };
    m.assign(p.s_ready, full.lnot());
    m.assign(p.m_valid, empty.lnot());
    m.assign(p.m_data, head);
    m
}
