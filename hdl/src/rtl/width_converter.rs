//! The data-width converter's Verilog (the block: [`crate::stream::WidthConverter`]).

use super::builder::{concat, cond, if_else, lit, nb, Module};
use super::{stream_ports, Design};
use crate::words::ubits;
use crate::HdlError;

/// The module name of a converter from `i` to `o` bits under `prefix`.
pub fn name(prefix: &str, i: usize, o: usize) -> String {
    format!("{prefix}_dwc_{i}_{o}")
}

/// Defines the converter module `name` in `d`.
pub fn define(d: &mut Design, name: String, i: usize, o: usize) -> String {
    d.define(name, |_, n| module(n, i, o))
}

/// A design whose top module `top` converts `i`-bit words to `o`-bit words (both >= 1).
pub fn design(top: &str, i: usize, o: usize) -> Result<Design, HdlError> {
    if i == 0 || o == 0 {
        return Err(HdlError::Folding {
            layer: "width converter".into(),
            message: format!("widths must be >= 1, got {i} -> {o}"),
        });
    }
    let mut d = Design::new(top);
    define(&mut d, top.into(), i, o);
    Ok(d)
}

fn module(name: &str, i: usize, o: usize) -> Module {
    let cap = i + o;
    let cb = ubits(cap as u64);
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, i, o);
    let buffer = m.reg("buffer", cap, Some(0));
    let cnt = m.reg("cnt", cb, Some(0));
    let ready = m.wire1("ready", cnt.clone().le(lit(cb, o as u64)));
    let valid = m.wire1("valid", cnt.clone().ge(lit(cb, o as u64)));
    let pop = m.wire1("pop", valid.clone().land(p.m_ready));
    let push = m.wire1("push", p.s_valid.land(ready.clone()));
    let after = m.wire("after", cb, cond(pop.clone(), cnt.clone().minus(lit(cb, o as u64)), cnt.clone()));
    let shifted = m.wire(
        "shifted",
        cap,
        cond(pop, concat(vec![lit(o, 0), buffer.clone().slice(cap - 1, o)]), buffer.clone()),
    );
    let incoming = m.wire("incoming", cap, concat(vec![lit(o, 0), p.s_data]).shift_left(after.clone()));
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![nb(buffer.clone(), lit(cap, 0)), nb(cnt.clone(), lit(cb, 0))],
            vec![
                nb(buffer.clone(), cond(push.clone(), shifted.clone().or(incoming), shifted)),
                nb(cnt, cond(push, after.clone().plus(lit(cb, i as u64)), after)),
            ],
        )],
    );
    m.assign(p.s_ready, ready);
    m.assign(p.m_valid, valid);
    m.assign(p.m_data, buffer.slice(o - 1, 0));
    m
}
