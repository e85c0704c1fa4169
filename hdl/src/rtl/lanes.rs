//! The XNOR-popcount lanes' Verilog (the block: [`crate::lanes::Lanes`]): adder and compressor
//! trees over bits, an adder tree over `+-x` for k-bit integers, with exact widths, so that the
//! arithmetic carries no extension or truncation that Verilator's `-Wall` would flag.

use super::builder::{bit, concat, cond, if_, lit, nb, repeat, Expr, Module};
use super::{ident_part, Design};
use crate::words::ubits;
use compiler::dataflow::cost::{reduce_columns, reduce_level};
pub use compiler::dataflow::width_of;
use compiler::dataflow::{Cut, LaneInput, Popcount, StageCuts, TREE_CUT_LEVELS};

/// A vector with the range of values it may hold.
#[derive(Clone, Debug)]
pub struct Term {
    /// The expression (a wire).
    pub expr: Expr,
    /// Width in bits.
    pub width: usize,
    /// Smallest value.
    pub lo: i64,
    /// Largest value.
    pub hi: i64,
}

impl Term {
    /// Whether the term is two's complement.
    pub fn signed(&self) -> bool {
        self.lo < 0
    }
}

/// `t` extended (sign or zero, by `signed`) to `w >= t.width` bits.
pub fn extend(t: &Term, w: usize, signed: bool) -> Expr {
    let k = w - t.width;
    match (k, signed) {
        (0, _) => t.expr.clone(),
        (_, true) if t.width == 1 => concat(vec![repeat(k, t.expr.clone()), t.expr.clone()]),
        (_, true) => concat(vec![repeat(k, t.expr.clone().bit(t.width - 1)), t.expr.clone()]),
        (_, false) => concat(vec![lit(k, 0), t.expr.clone()]),
    }
}

/// Adds a balanced adder tree over `terms` to `m` (wires named `{prefix}_{level}_{i}`) and
/// returns the root. Signed arithmetic when any term can be negative.
pub fn adder_tree(m: &mut Module, prefix: &str, terms: Vec<Term>) -> Term {
    adder_tree_cut(m, prefix, terms, None)
}

/// [`adder_tree`] with, given the enable `cut`, a pipeline register on every partial sum after
/// [`TREE_CUT_LEVELS`] levels (at the root where the tree has fewer): [`Cut::Tree`](compiler::dataflow::Cut::Tree).
fn adder_tree_cut(m: &mut Module, prefix: &str, mut terms: Vec<Term>, mut cut: Option<&Expr>) -> Term {
    let signed = terms.iter().any(Term::signed);
    let mut level = 0;
    loop {
        if let Some(en) = cut.filter(|_| level == TREE_CUT_LEVELS || terms.len() <= 1) {
            terms = terms
                .into_iter()
                .enumerate()
                .map(|(i, t)| Term {
                    expr: register(m, &format!("{prefix}_r{i}"), t.width, t.expr.clone(), en),
                    ..t
                })
                .collect();
            cut = None;
        }
        if terms.len() <= 1 {
            break;
        }
        let mut next = Vec::with_capacity(terms.len().div_ceil(2));
        for (i, pair) in terms.chunks(2).enumerate() {
            if let [a, b] = pair {
                let (lo, hi) = (a.lo + b.lo, a.hi + b.hi);
                let w = width_of(lo, hi, signed).max(a.width).max(b.width);
                let e = m.wire(
                    &format!("{prefix}_{level}_{i}"),
                    w,
                    extend(a, w, signed).plus(extend(b, w, signed)),
                );
                next.push(Term { expr: e, width: w, lo, hi });
            } else {
                next.push(pair[0].clone());
            }
        }
        terms = next;
        level += 1;
    }
    terms.pop().unwrap_or(Term { expr: bit(false), width: 1, lo: 0, hi: 0 })
}

/// A register `name` of `width` bits taking `value` at every edge with `en` (the controller's
/// advance, shared by every register of the MVTU's delay line).
fn register(m: &mut Module, name: &str, width: usize, value: Expr, en: &Expr) -> Expr {
    let q = m.reg(name, width, None);
    m.always("clock", vec![if_(en.clone(), vec![nb(q.clone(), value)])]);
    q
}

/// Adds a compressor tree counting the ones of `lanes` (pairs of 1-bit expressions whose XNOR is
/// counted) to `m` and returns the root, of exactly `ubits(lanes.len())` bits.
///
/// The first level takes three lanes (six inputs: one LUT6 per output bit) into 3:2 counters, so
/// that the XNOR folds into the counters' LUTs; later levels are 6:3 counters (three LUT6 for six
/// bits) until every column holds at most two bits; a final carry-chain adder adds the two rows.
pub fn compressor_tree(m: &mut Module, prefix: &str, lanes: &[(Expr, Expr)]) -> Term {
    compressor_tree_cut(m, prefix, lanes, None)
}

/// [`compressor_tree`] with, given the enable `cut`, a pipeline register on every column bit
/// after [`TREE_CUT_LEVELS`] levels of counters (fewer where the columns are done):
/// [`Cut::Tree`](compiler::dataflow::Cut::Tree), as [`compiler::dataflow::cost::tree_cut_bits`]
/// counts it.
fn compressor_tree_cut(m: &mut Module, prefix: &str, lanes: &[(Expr, Expr)], cut: Option<&Expr>) -> Term {
    let cw = ubits(lanes.len() as u64);
    let mut cols: Vec<Vec<Expr>> = vec![Vec::new(); cw + 1];
    // The first level; `reduce_columns` (shared with the cost model) schedules the rest.
    let mut n = 0;
    // Counters are written as XOR/AND/OR networks, not `+`: an adder would be mapped to a carry
    // chain, while each counter output is a function of at most six inputs, one LUT6.
    let mut counter = |m: &mut Module, inputs: &[Expr], col: usize, cols: &mut Vec<Vec<Expr>>| {
        let name = format!("{prefix}_c{n}");
        n += 1;
        for (b, bit) in count_bits(m, &name, inputs).into_iter().enumerate() {
            cols[col + b].push(bit);
        }
    };
    for group in lanes.chunks(3) {
        let xnor: Vec<Expr> = group.iter().map(|(x, w)| x.clone().xor(w.clone()).bitnot()).collect();
        if group.len() == 1 {
            let name = format!("{prefix}_m{}", cols[0].len());
            let e = m.wire1(&name, xnor[0].clone());
            cols[0].push(e);
        } else {
            let id = cols[0].len() + cols[1].len();
            let inputs: Vec<Expr> = xnor
                .into_iter()
                .enumerate()
                .map(|(j, e)| m.wire1(&format!("{prefix}_x{id}_{j}"), e))
                .collect();
            counter(m, &inputs, 0, &mut cols);
        }
    }
    if let Some(en) = cut {
        for _ in 1..TREE_CUT_LEVELS {
            if cols.iter().any(|c| c.len() > 2) {
                cols = reduce_level(&cols, &mut |inputs: &[Expr], k: usize, next: &mut Vec<Vec<Expr>>| {
                    counter(m, inputs, k, next)
                });
            }
        }
        for (k, col) in cols.iter_mut().enumerate() {
            for (i, b) in col.iter_mut().enumerate() {
                *b = register(m, &format!("{prefix}_r{k}_{i}"), 1, b.clone(), en);
            }
        }
    }
    let cols = reduce_columns(cols, |inputs, k, next| counter(m, inputs, k, next));
    debug_assert!(cols[cw..].iter().all(Vec::is_empty), "sum fits ubits(lanes)");
    let row =
        |r: usize| concat((0..cw).rev().map(|k| cols[k].get(r).cloned().unwrap_or(bit(false))).collect());
    let e = m.wire(&format!("{prefix}_sum"), cw, row(0).plus(row(1)));
    Term { expr: e, width: cw, lo: 0, hi: lanes.len() as i64 }
}

/// A full adder over three 1-bit signals: (sum, carry) wires named `{name}_s`, `{name}_c`.
fn full_adder(m: &mut Module, name: &str, a: &Expr, b: &Expr, c: &Expr) -> (Expr, Expr) {
    let s = m.wire1(&format!("{name}_s"), a.clone().xor(b.clone()).xor(c.clone()));
    let k = m.wire1(
        &format!("{name}_c"),
        a.clone().and(b.clone()).or(a.clone().and(c.clone())).or(b.clone().and(c.clone())),
    );
    (s, k)
}

/// The bits (weights 1, 2, 4) of the number of ones among 2 to 6 one-bit signals, as logic.
fn count_bits(m: &mut Module, name: &str, x: &[Expr]) -> Vec<Expr> {
    match x {
        [a, b] => {
            let s = m.wire1(&format!("{name}_s"), a.clone().xor(b.clone()));
            let c = m.wire1(&format!("{name}_c"), a.clone().and(b.clone()));
            vec![s, c]
        }
        [a, b, c] => {
            let (s, k) = full_adder(m, name, a, b, c);
            vec![s, k]
        }
        [a, b, c, d] => {
            let (s1, c1) = full_adder(m, &format!("{name}_f"), a, b, c);
            let s = m.wire1(&format!("{name}_s"), s1.clone().xor(d.clone()));
            let t = m.wire1(&format!("{name}_t"), s1.and(d.clone()));
            let b1 = m.wire1(&format!("{name}_b1"), c1.clone().xor(t.clone()));
            let b2 = m.wire1(&format!("{name}_b2"), c1.and(t));
            vec![s, b1, b2]
        }
        [a, b, c, d, e] => {
            let (s1, c1) = full_adder(m, &format!("{name}_f"), a, b, c);
            let (s0, c2) = full_adder(m, &format!("{name}_g"), &s1, d, e);
            let b1 = m.wire1(&format!("{name}_b1"), c1.clone().xor(c2.clone()));
            let b2 = m.wire1(&format!("{name}_b2"), c1.and(c2));
            vec![s0, b1, b2]
        }
        [a, b, c, d, e, f] => {
            let (s1, c1) = full_adder(m, &format!("{name}_f"), a, b, c);
            let (s2, c2) = full_adder(m, &format!("{name}_g"), d, e, f);
            let s0 = m.wire1(&format!("{name}_s"), s1.clone().xor(s2.clone()));
            let h = m.wire1(&format!("{name}_h"), s1.and(s2));
            let (b1, b2) = full_adder(m, &format!("{name}_k"), &c1, &c2, &h);
            vec![s0, b1, b2]
        }
        _ => unreachable!("counters take 2 to 6 inputs"),
    }
}

/// The module name of `simd` lanes under `prefix` (`_r` when each lane's term is registered,
/// `_c` when the tree holds a register).
pub fn name(prefix: &str, simd: usize, input: LaneInput, popcount: Popcount, cuts: StageCuts) -> String {
    let kind = match (input, popcount) {
        (LaneInput::Binary, Popcount::AdderTree) => "adder".to_string(),
        (LaneInput::Binary, Popcount::Compressor) => "comp".to_string(),
        // Integer lanes always add with a tree.
        (LaneInput::Int { bits, signed }, _) => format!("{}{bits}", if signed { 's' } else { 'u' }),
    };
    let r = if cuts.has(Cut::Terms) { "_r" } else { "" };
    let t = if cuts.has(Cut::Tree) { "_c" } else { "" };
    ident_part(&format!("{prefix}_lanes_{simd}_{kind}{r}{t}"))
}

/// Defines the lanes module `name` in `d`: inputs `x` (SIMD elements), `w` (SIMD weight bits),
/// output `sum` (`input.sum_bits(simd)` bits); combinational, or with pipeline registers at
/// `cuts`' [`Cut::Terms`] (each lane's term) and [`Cut::Tree`] (inside the tree), inputs `clock`
/// and `en` (the controller's advance).
pub fn define(
    d: &mut Design,
    name: String,
    simd: usize,
    input: LaneInput,
    popcount: Popcount,
    cuts: StageCuts,
) -> String {
    d.define(name, |_, n| module(n, simd, input, popcount, cuts))
}

fn module(name: &str, simd: usize, input: LaneInput, popcount: Popcount, cuts: StageCuts) -> Module {
    let b = input.bits();
    let out = input.sum_bits(simd);
    let mut m = Module::new(name);
    let terms = cuts.has(Cut::Terms);
    let en = (terms || cuts.has(Cut::Tree)).then(|| {
        m.input("clock");
        m.input("en")
    });
    let tree_en = en.as_ref().filter(|_| cuts.has(Cut::Tree));
    let x = m.input_bus("x", simd * b);
    let w = m.input_bus("w", simd);
    let sum = m.output_bus("sum", out);
    // Every PE of a layer instantiates the same lanes: Verilator, which inlines small modules,
    // would copy this logic into its C++ once per PE (two thirds of the LFC's C++, which takes
    // most of the time to verilate a design); kept out of line, it compiles once.
    m.verilator_no_inline();
    // A term, or with the cut its register (advancing with the rest of the delay line).
    let term = |m: &mut Module, name: &str, width: usize, value: Expr| {
        let e = m.wire(name, width, value);
        match en.as_ref().filter(|_| terms) {
            Some(en) => register(m, &format!("{name}_q"), width, e, en),
            None => e,
        }
    };
    let root = match (input, popcount) {
        (LaneInput::Binary, Popcount::Compressor) if terms => {
            // The XNOR bits registered, counted as XNOR against a constant one.
            let lanes: Vec<(Expr, Expr)> = (0..simd)
                .map(|i| {
                    let e =
                        term(&mut m, &format!("m_{i}"), 1, x.clone().bit(i).xor(w.clone().bit(i)).bitnot());
                    (e, bit(true))
                })
                .collect();
            compressor_tree_cut(&mut m, "pc", &lanes, tree_en)
        }
        (LaneInput::Binary, Popcount::Compressor) => {
            let lanes: Vec<(Expr, Expr)> = (0..simd).map(|i| (x.clone().bit(i), w.clone().bit(i))).collect();
            compressor_tree_cut(&mut m, "pc", &lanes, tree_en)
        }
        (LaneInput::Binary, Popcount::AdderTree) => {
            let terms = (0..simd)
                .map(|i| {
                    let e =
                        term(&mut m, &format!("m_{i}"), 1, x.clone().bit(i).xor(w.clone().bit(i)).bitnot());
                    Term { expr: e, width: 1, lo: 0, hi: 1 }
                })
                .collect();
            adder_tree_cut(&mut m, "at", terms, tree_en)
        }
        (LaneInput::Int { signed, .. }, _) => {
            // Each element, extended by one bit, is added or subtracted: `k + 1` bits hold both
            // `x` and `-x` (for the most negative `x` too).
            let (lo, hi) = input.lane_range();
            let tb = b + 1;
            let terms = (0..simd)
                .map(|i| {
                    let xi = x.clone().slice(i * b + b - 1, i * b);
                    let ext = if signed {
                        concat(vec![x.clone().bit(i * b + b - 1), xi])
                    } else {
                        concat(vec![bit(false), xi])
                    };
                    let e = term(
                        &mut m,
                        &format!("t_{i}"),
                        tb,
                        cond(w.clone().bit(i), ext.clone(), lit(tb, 0).minus(ext)),
                    );
                    Term { expr: e, width: tb, lo, hi }
                })
                .collect();
            adder_tree_cut(&mut m, "at", terms, tree_en)
        }
    };
    let signed = matches!(input, LaneInput::Int { .. });
    let root = if root.width < out { extend(&root, out, signed) } else { root.expr };
    m.assign(sum, root);
    m
}
