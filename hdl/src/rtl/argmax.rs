//! The argmax's Verilog (the block: [`crate::stream::Argmax`]).

use super::builder::{cond, if_, if_else, lit, nb, signed, Expr, Module};
use super::{stream_ports, Design};
use crate::words::ubits;
use crate::HdlError;

/// The parameters of an argmax over `pe * words` scores of `bits` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgmaxParams {
    /// Scores per input word.
    pub pe: usize,
    /// Bits per score.
    pub bits: usize,
    /// Words per vector.
    pub words: usize,
    /// Two's-complement scores.
    pub signed: bool,
}

impl ArgmaxParams {
    /// Output bits: the class index.
    pub fn out_bits(&self) -> usize {
        ubits((self.pe * self.words) as u64 - 1)
    }
}

/// The module name of an argmax under `prefix`.
pub fn name(prefix: &str, a: ArgmaxParams) -> String {
    let s = if a.signed { 's' } else { 'u' };
    format!("{prefix}_argmax_{}x{}{s}_{}", a.pe, a.bits, a.words)
}

/// Defines the argmax module `name` in `d`.
pub fn define(d: &mut Design, name: String, a: ArgmaxParams) -> String {
    d.define(name, |_, n| module(n, a))
}

/// A design whose top module `top` is an argmax.
pub fn design(top: &str, a: ArgmaxParams) -> Result<Design, HdlError> {
    if a.pe == 0 || a.bits == 0 || a.bits > 63 || a.words == 0 {
        return Err(HdlError::Folding {
            layer: "argmax".into(),
            message: format!(
                "needs pe, words >= 1 and 1..=63-bit scores, got {} x {} of {} bits",
                a.pe, a.words, a.bits
            ),
        });
    }
    let mut d = Design::new(top);
    define(&mut d, top.into(), a);
    Ok(d)
}

fn module(name: &str, a: ArgmaxParams) -> Module {
    let (pe, b, nw) = (a.pe, a.bits, a.words);
    let ib = a.out_bits();
    let jb = ubits(nw as u64 - 1);
    let gt = |x: Expr, y: Expr| if a.signed { signed(x).gt(signed(y)) } else { x.gt(y) };
    let mut m = Module::new(name);
    let p = stream_ports(&mut m, pe * b, ib);
    let j = m.reg("j", jb, Some(0));
    let base = m.reg("base", ib, Some(0));
    let best = m.reg("best", b, Some(0));
    let idx = m.reg("idx", ib, Some(0));
    let out = m.reg("out", ib, Some(0));
    let out_valid = m.reg1("out_valid", false);
    let ready = m.wire1("ready", out_valid.clone().lnot().lor(p.m_ready.clone()));
    let push = m.wire1("push", p.s_valid.land(ready.clone()));
    // A chain of compares over the word's scores: the lowest index wins ties.
    let (mut bv, mut bi) = (p.s_data.clone(), base.clone());
    for q in 0..pe {
        let v = m.wire(&format!("v_{q}"), b, p.s_data.clone().slice(q * b + b - 1, q * b));
        if q == 0 {
            bv = m.wire("bv_0", b, v);
            bi = m.wire("bi_0", ib, base.clone());
        } else {
            let take = m.wire1(&format!("take_{q}"), gt(v.clone(), bv.clone()));
            bv = m.wire(&format!("bv_{q}"), b, cond(take.clone(), v, bv));
            bi = m.wire(&format!("bi_{q}"), ib, cond(take, base.clone().plus(lit(ib, q as u64)), bi));
        }
    }
    let first = m.wire1("first", j.clone().eq(lit(jb, 0)));
    let better = m.wire1("better", first.lor(gt(bv.clone(), best.clone())));
    m.always(
        "clock",
        vec![if_else(
            p.rst,
            vec![nb(j.clone(), lit(jb, 0)), nb(base.clone(), lit(ib, 0)), nb(out_valid.clone(), lit(1, 0))],
            vec![
                if_(out_valid.clone().land(p.m_ready), vec![nb(out_valid.clone(), lit(1, 0))]),
                if_(
                    push,
                    vec![
                        if_(better.clone(), vec![nb(best, bv), nb(idx.clone(), bi.clone())]),
                        if_else(
                            j.clone().eq(lit(jb, nw as u64 - 1)),
                            vec![
                                nb(j.clone(), lit(jb, 0)),
                                nb(base.clone(), lit(ib, 0)),
                                nb(out_valid.clone(), lit(1, 1)),
                                nb(out.clone(), cond(better, bi, idx)),
                            ],
                            vec![
                                nb(j.clone(), j.plus(lit(jb, 1))),
                                nb(base.clone(), base.plus(lit(ib, pe as u64))),
                            ],
                        ),
                    ],
                ),
            ],
        )],
    );
    m.assign(p.s_ready, ready);
    m.assign(p.m_valid, out_valid);
    m.assign(p.m_data, out);
    m
}
