//! A PE's accumulator's Verilog (the block: [`crate::accumulator::Accumulator`]). In threshold
//! mode it holds its PE's threshold ROM and outputs the sign of a sum that started at `-T`; in
//! multi mode it holds the ROM of the PE's `levels` thresholds per pass and outputs `bias` plus
//! the number of parallel comparators (`acc >= t_j`) that hold, `k` bits.

use super::builder::{cond, if_, lit, nb, signed, Expr, Module};
use super::lanes::{adder_tree, extend, Term};
use super::memory::Rom;
use super::{ident_part, Design};
use blocks::mvtu::Finish;
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
    /// The output stage: what the accumulator makes of its sum at a pass's end.
    pub finish: Finish,
}

/// The module name of a scores-mode accumulator (no ROM: shared by every PE) under `prefix`.
pub fn scores_name(prefix: &str, a: AccParams) -> String {
    let s = if a.sum_signed { 's' } else { 'u' };
    ident_part(&format!("{prefix}_acc_{}{s}_{}", a.sum_bits, a.width))
}

/// Defines accumulator module `name` in `d`: with a threshold ROM (threshold mode: `width` bits,
/// `-T` per pass, a one-bit `result`; multi mode: `levels` fields `t_j` per pass, a `k`-bit
/// `result`), with the `taddr` input, read in the legalized `form`; without in scores mode.
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
    let result = m.output_bus("result", a.finish.field_bits());
    let term = Term { expr: sum.clone(), width: cw, lo: 0, hi: 0 };
    let ext = if rw > cw { extend(&term, rw, a.sum_signed) } else { sum };
    // The pass's threshold word, as the legalizer decided to read it.
    let tword: Option<Expr> = match (rom, taddr) {
        (Some((r, form)), Some(taddr)) => {
            let (ab, tw) = (r.addr_bits(), r.width);
            let trom = m.memory("trom", tw, r.depth(), Some(("rom_style", "logic")), Some(&r.file));
            Some(if form == RomForm::RegisteredAddress {
                // A registered address: each ROM bit is a function of few enough inputs that
                // synthesis folds it into the start multiplexer and the adder bit's LUT6 (or a
                // comparator bit's).
                let ta = m.reg("ta", ab, Some(0));
                m.always("clock", vec![if_(ren, vec![nb(ta.clone(), taddr)])]);
                m.wire("start_v", tw, trom.at(ta))
            } else {
                // A deeper ROM takes whole LUT6s per bit: a registered word keeps it off the
                // adder's path and lets constant bits become flip-flop set/reset values.
                let start = m.reg("start_v", tw, Some(0));
                m.always("clock", vec![if_(ren, vec![nb(start.clone(), trom.at(taddr))])]);
                start
            })
        }
        _ => {
            // Verilator's -Wall accepts an unused input whose name says so.
            m.wire1("unused_ren", ren);
            None
        }
    };
    let base = match (a.finish, &tword) {
        (Finish::Threshold { .. }, Some(t)) => t.clone(),
        _ => lit(rw, 0),
    };
    let acc = m.reg("acc", rw, Some(0));
    let next = m.wire("acc_next", rw, cond(first, base, acc.clone()).plus(ext));
    m.always("clock", vec![if_(en, vec![nb(acc, next.clone())])]);
    match (a.finish, tword) {
        (Finish::Threshold { .. }, Some(_)) => m.assign(result, next.bit(rw - 1).lnot()),
        (Finish::Multi { levels, t_bits: tw, bias, bits }, Some(t)) => {
            // Comparator j: the accumulator, sign-extended to the thresholds' width, against t_j.
            let wide = extend(&Term { expr: next, width: rw, lo: -1, hi: 0 }, tw, true);
            let wide = m.wire("acc_wide", tw, wide);
            let met: Vec<Term> = (0..levels)
                .map(|j| {
                    let tj = t.clone().slice(j * tw + tw - 1, j * tw);
                    let e = m.wire1(&format!("met{j}"), signed(wide.clone()).ge(signed(tj)));
                    Term { expr: e, width: 1, lo: 0, hi: 1 }
                })
                .collect();
            let count = adder_tree(&mut m, "cnt", met);
            let count = extend(&count, bits, false);
            let out = if bias == 0 { count } else { count.plus(lit(bits, bias as u64)) };
            m.assign(result, out);
        }
        _ => m.assign(result, next),
    }
    m
}
