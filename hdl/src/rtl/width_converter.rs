//! The data-width converter's Verilog (the block: [`crate::stream::WidthConverter`]).

use super::builder::{concat, cond, if_else, lit, nb, Module};
use super::{stream_ports, Design};
use crate::words::ubits;
use crate::HdlError;
use compiler::dataflow::Flags;

/// The module name of a converter from `i` to `o` bits under `prefix` (combinational flags).
pub fn name(prefix: &str, i: usize, o: usize) -> String {
    format!("{prefix}_dwc_{i}_{o}")
}

/// Defines the converter from `i` to `o` bits with handshake flags `flags` under `prefix` in
/// `d`, and returns its module name.
pub fn define_node(d: &mut Design, prefix: &str, i: usize, o: usize, flags: Flags) -> String {
    define_flags(d, super::flags_name(name(prefix, i, o), flags), i, o, flags)
}

fn define_flags(d: &mut Design, name: String, i: usize, o: usize, flags: Flags) -> String {
    d.define(name, |_, n| module(n, i, o, flags))
}

/// A design whose top module `top` converts `i`-bit words to `o`-bit words (both >= 1).
pub fn design(top: &str, i: usize, o: usize) -> Result<Design, HdlError> {
    design_flags(top, i, o, Flags::Combinational)
}

/// [`design`] with handshake flags `flags`.
pub fn design_flags(top: &str, i: usize, o: usize, flags: Flags) -> Result<Design, HdlError> {
    if i == 0 || o == 0 {
        return Err(HdlError::Folding {
            layer: "width converter".into(),
            message: format!("widths must be >= 1, got {i} -> {o}"),
        });
    }
    let mut d = Design::new(top);
    define_flags(&mut d, top.into(), i, o, flags);
    Ok(d)
}

/// Registered flags are loaded with `cnt <= o` and `cnt >= o` of the count after the edge, so
/// on every cycle they equal the compares of the count (the block's `s_ready` and `m_valid`).
fn module(name: &str, i: usize, o: usize, flags: Flags) -> Module {
    let cap = i + o;
    let cb = ubits(cap as u64);
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, i, o);
    let buffer = m.reg("buffer", cap, Some(0));
    let cnt = m.reg("cnt", cb, Some(0));
    let reg = flags.registered();
    let (ready, valid) = if reg {
        // The reset count, 0, is at most `o` and below it.
        (m.reg1("ready", true), m.reg1("valid", false))
    } else {
        (
            m.wire1("ready", cnt.clone().le(lit(cb, o as u64))),
            m.wire1("valid", cnt.clone().ge(lit(cb, o as u64))),
        )
    };
    let pop = m.wire1("pop", valid.clone().land(p.m_ready));
    let push = m.wire1("push", p.s_valid.land(ready.clone()));
    let after = m.wire("after", cb, cond(pop.clone(), cnt.clone().minus(lit(cb, o as u64)), cnt.clone()));
    let shifted = m.wire(
        "shifted",
        cap,
        cond(pop, concat(vec![lit(o, 0), buffer.clone().slice(cap - 1, o)]), buffer.clone()),
    );
    let incoming = m.wire("incoming", cap, concat(vec![lit(o, 0), p.s_data]).shift_left(after.clone()));
    let next = cond(push.clone(), after.clone().plus(lit(cb, i as u64)), after);
    let mut on_reset = vec![nb(buffer.clone(), lit(cap, 0)), nb(cnt.clone(), lit(cb, 0))];
    let mut step = vec![nb(buffer.clone(), cond(push, shifted.clone().or(incoming), shifted))];
    if reg {
        let next = m.wire("next", cb, next);
        on_reset.extend([nb(ready.clone(), lit(1, 1)), nb(valid.clone(), lit(1, 0))]);
        step.extend([
            nb(cnt.clone(), next.clone()),
            nb(ready.clone(), next.clone().le(lit(cb, o as u64))),
            nb(valid.clone(), next.ge(lit(cb, o as u64))),
        ]);
    } else {
        step.push(nb(cnt, next));
    }
    m.always("clock", vec![if_else(p.rst, on_reset, step)]);
    m.assign(p.s_ready, ready);
    m.assign(p.m_valid, valid);
    m.assign(p.m_data, buffer.slice(o - 1, 0));
    m
}
