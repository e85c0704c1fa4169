//! Verilog generation for adder and compressor trees with exact widths, so that the emitted
//! arithmetic carries no extension or truncation that Verilator's `-Wall` would flag.

use crate::words::ubits;
pub use compiler::dataflow::width_of;
use std::fmt::Write;

/// A Verilog vector with the range of values it may hold.
#[derive(Clone, Debug)]
pub struct Term {
    /// Verilog name.
    pub name: String,
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
pub fn extend(t: &Term, w: usize, signed: bool) -> String {
    let k = w - t.width;
    match (k, signed) {
        (0, _) => t.name.clone(),
        (_, true) if t.width == 1 => format!("{{{k}{{{}}}, {}}}", t.name, t.name),
        (_, true) => format!("{{{{{k}{{{}[{}]}}}}, {}}}", t.name, t.width - 1, t.name),
        (_, false) => format!("{{{k}'d0, {}}}", t.name),
    }
}

/// Emits a balanced adder tree over `terms` into `out` (wires named `{prefix}_{level}_{i}`) and
/// returns the root. Signed arithmetic when any term can be negative.
pub fn adder_tree(out: &mut String, prefix: &str, mut terms: Vec<Term>) -> Term {
    let signed = terms.iter().any(Term::signed);
    let mut level = 0;
    while terms.len() > 1 {
        let mut next = Vec::with_capacity(terms.len().div_ceil(2));
        for (i, pair) in terms.chunks(2).enumerate() {
            if let [a, b] = pair {
                let (lo, hi) = (a.lo + b.lo, a.hi + b.hi);
                let w = width_of(lo, hi, signed).max(a.width).max(b.width);
                let name = format!("{prefix}_{level}_{i}");
                let _ = writeln!(
                    out,
                    "  wire [{}:0] {name} = {} + {};",
                    w - 1,
                    extend(a, w, signed),
                    extend(b, w, signed)
                );
                next.push(Term { name, width: w, lo, hi });
            } else {
                next.push(pair[0].clone());
            }
        }
        terms = next;
        level += 1;
    }
    terms.pop().unwrap_or(Term { name: "1'b0".into(), width: 1, lo: 0, hi: 0 })
}

/// Emits a compressor tree counting the ones of `lanes` (pairs of 1-bit expressions whose XNOR is
/// counted) and returns the root, of exactly `ubits(lanes.len())` bits.
///
/// The first level takes three lanes (six inputs: one LUT6 per output bit) into 3:2 counters, so
/// that the XNOR folds into the counters' LUTs; later levels are 6:3 counters (three LUT6 for six
/// bits) until every column holds at most two bits; a final carry-chain adder adds the two rows.
pub fn compressor_tree(out: &mut String, prefix: &str, lanes: &[(String, String)]) -> Term {
    let cw = ubits(lanes.len() as u64);
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); cw + 1];
    // The first level; `reduce_columns` (shared with the cost model) schedules the rest.
    let mut n = 0;
    // Counters are written as XOR/AND/OR networks, not `+`: an adder would be mapped to a carry
    // chain, while each counter output is a function of at most six inputs, one LUT6.
    let mut counter = |out: &mut String, inputs: &[String], col: usize, cols: &mut Vec<Vec<String>>| {
        let name = format!("{prefix}_c{n}");
        n += 1;
        for (b, bit) in count_bits(out, &name, inputs).into_iter().enumerate() {
            cols[col + b].push(bit);
        }
    };
    for group in lanes.chunks(3) {
        let xnor: Vec<String> = group.iter().map(|(x, w)| format!("~({x} ^ {w})")).collect();
        if group.len() == 1 {
            let name = format!("{prefix}_m{}", cols[0].len());
            let _ = writeln!(out, "  wire {name} = {};", xnor[0]);
            cols[0].push(name);
        } else {
            let id = cols[0].len() + cols[1].len();
            let inputs: Vec<String> = xnor
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    let name = format!("{prefix}_x{id}_{j}");
                    let _ = writeln!(out, "  wire {name} = {e};");
                    name
                })
                .collect();
            counter(out, &inputs, 0, &mut cols);
        }
    }
    let cols =
        compiler::dataflow::cost::reduce_columns(cols, |inputs, k, next| counter(out, inputs, k, next));
    debug_assert!(cols[cw..].iter().all(Vec::is_empty), "sum fits ubits(lanes)");
    let row = |r: usize| -> String {
        let bits: Vec<String> =
            (0..cw).rev().map(|k| cols[k].get(r).cloned().unwrap_or("1'b0".into())).collect();
        format!("{{{}}}", bits.join(", "))
    };
    let name = format!("{prefix}_sum");
    let _ = writeln!(out, "  wire [{}:0] {name} = {} + {};", cw - 1, row(0), row(1));
    Term { name, width: cw, lo: 0, hi: lanes.len() as i64 }
}

/// A full adder over three 1-bit signals: (sum, carry) wires named `{name}_s`, `{name}_c`.
fn full_adder(out: &mut String, name: &str, a: &str, b: &str, c: &str) -> (String, String) {
    let (s, k) = (format!("{name}_s"), format!("{name}_c"));
    let _ = writeln!(out, "  wire {s} = {a} ^ {b} ^ {c};");
    let _ = writeln!(out, "  wire {k} = ({a} & {b}) | ({a} & {c}) | ({b} & {c});");
    (s, k)
}

/// The bits (weights 1, 2, 4) of the number of ones among 2 to 6 one-bit signals, as logic.
fn count_bits(out: &mut String, name: &str, x: &[String]) -> Vec<String> {
    match x {
        [a, b] => {
            let (s, c) = (format!("{name}_s"), format!("{name}_c"));
            let _ = writeln!(out, "  wire {s} = {a} ^ {b};");
            let _ = writeln!(out, "  wire {c} = {a} & {b};");
            vec![s, c]
        }
        [a, b, c] => {
            let (s, k) = full_adder(out, name, a, b, c);
            vec![s, k]
        }
        [a, b, c, d] => {
            let (s1, c1) = full_adder(out, &format!("{name}_f"), a, b, c);
            let (s, t) = (format!("{name}_s"), format!("{name}_t"));
            let _ = writeln!(out, "  wire {s} = {s1} ^ {d};");
            let _ = writeln!(out, "  wire {t} = {s1} & {d};");
            let (b1, b2) = (format!("{name}_b1"), format!("{name}_b2"));
            let _ = writeln!(out, "  wire {b1} = {c1} ^ {t};");
            let _ = writeln!(out, "  wire {b2} = {c1} & {t};");
            vec![s, b1, b2]
        }
        [a, b, c, d, e] => {
            let (s1, c1) = full_adder(out, &format!("{name}_f"), a, b, c);
            let (s0, c2) = full_adder(out, &format!("{name}_g"), &s1, d, e);
            let (b1, b2) = (format!("{name}_b1"), format!("{name}_b2"));
            let _ = writeln!(out, "  wire {b1} = {c1} ^ {c2};");
            let _ = writeln!(out, "  wire {b2} = {c1} & {c2};");
            vec![s0, b1, b2]
        }
        [a, b, c, d, e, f] => {
            let (s1, c1) = full_adder(out, &format!("{name}_f"), a, b, c);
            let (s2, c2) = full_adder(out, &format!("{name}_g"), d, e, f);
            let (s0, h) = (format!("{name}_s"), format!("{name}_h"));
            let _ = writeln!(out, "  wire {s0} = {s1} ^ {s2};");
            let _ = writeln!(out, "  wire {h} = {s1} & {s2};");
            let (b1, b2) = full_adder(out, &format!("{name}_k"), &c1, &c2, &h);
            vec![s0, b1, b2]
        }
        _ => unreachable!("counters take 2 to 6 inputs"),
    }
}
