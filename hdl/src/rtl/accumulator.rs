//! A PE's accumulator's Verilog (the block: [`crate::accumulator::Accumulator`]). In threshold
//! mode it holds its PE's threshold ROM.

use super::builder::{if_, lit, nb, Expr, Module};
use super::lanes::{extend, Term};
use super::memory::Rom;
use super::{ident_part, Design};
use compiler::dataflow::RomForm;

/// The parameters of an accumulator.
#[derive(Clone, Copy, Debug)]
pub struct AccParams {
    /// Bits of the lanes' sum.
    pub sum_bits: usize,
    /// The sum is two's complement.
    pub sum_signed: bool,
    /// Accumulator bits (two's complement).
    pub width: usize,
}

/// The module name of a scores-mode accumulator (no ROM: shared by every PE) under `prefix`.
pub fn scores_name(prefix: &str, a: AccParams) -> String {
    let s = if a.sum_signed { 's' } else { 'u' };
    ident_part(&format!("{prefix}_acc_{}{s}_{}", a.sum_bits, a.width))
}

/// Defines accumulator module `name` in `d`: with a threshold ROM (`width` bits, `-T` per pass)
/// in threshold mode (a one-bit `result`, `taddr` input), read in the legalized `form`, without
/// in scores mode.
pub fn define(d: &mut Design, name: String, a: AccParams, rom: Option<(&Rom, RomForm)>) -> String {
    d.define(name, |d, n| {
        if let Some((r, _)) = rom {
            for (f, text) in r.files() {
                d.file(f, text);
            }
        }
        module(n, a, rom)
    })
}

fn module(name: &str, a: AccParams, rom: Option<(&Rom, RomForm)>) -> Module {
    let (cw, rw) = (a.sum_bits, a.width);
    let mut m = Module::new(name);
    m.input("clock");
    let en = m.input("en");
    let first = m.input("first");
    let sum = m.input_bus("sum", cw);
    let ren = m.input("ren");
    let taddr = rom.map(|(r, _)| m.input_bus("taddr", r.addr_bits()));
    let result = m.output_bus("result", if rom.is_some() { 1 } else { rw });
    let term = Term { expr: sum.clone(), width: cw, lo: 0, hi: 0 };
    let ext = if rw > cw { extend(&term, rw, a.sum_signed) } else { sum };
    let base: Expr = match (rom, taddr) {
        (Some((r, form)), Some(taddr)) => {
            let ab = r.addr_bits();
            let trom = m.memory("trom", rw, r.depth(), Some(("rom_style", "logic")), Some(&r.file));
            if form == RomForm::RegisteredAddress {
                // A registered address: each ROM bit is a function of few enough inputs that
                // synthesis folds it into the start multiplexer and the adder bit's LUT6.
                let ta = m.reg("ta", ab, Some(0));
                m.always("clock", vec![if_(ren, vec![nb(ta.clone(), taddr)])]);
                m.wire("start_v", rw, trom.at(ta))
            } else {
                // A deeper ROM takes whole LUT6s per bit: a registered word keeps it off the
                // adder's path and lets constant bits become flip-flop set/reset values.
                let start = m.reg("start_v", rw, Some(0));
                m.always("clock", vec![if_(ren, vec![nb(start.clone(), trom.at(taddr))])]);
                start
            }
        }
        _ => {
            // Verilator's -Wall accepts an unused input whose name says so.
            m.wire1("unused_ren", ren);
            lit(rw, 0)
        }
    };
    let acc = m.reg("acc", rw, Some(0));
    let next = m.wire("acc_next", rw, super::builder::cond(first, base, acc.clone()).plus(ext));
    m.always("clock", vec![if_(en, vec![nb(acc, next.clone())])]);
    if rom.is_some() {
        m.assign(result, next.bit(rw - 1).lnot());
    } else {
        m.assign(result, next);
    }
    m
}
