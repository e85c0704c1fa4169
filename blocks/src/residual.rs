//! The blocks of a residual block's plumbing: the duplicate that feeds the branch and the
//! bypass, the sign node that binarizes the branch's input, the channel pad of a downsampling
//! shortcut, and the saturating add that joins the two streams.
//!
//! The sign node and the channel pad are [`Unit`]s. The duplicate has two outputs and the add
//! two inputs, so they have their own ports; the same clocking rules hold: every `m_valid` and
//! `m_data` is a register, a ready may depend combinationally on the consumers' readies and on
//! the producers' (registered) valids.

use crate::bits::{get, set, sext, words};
use crate::Unit;
use compiler::model::IntType;

/// The duplicate: one input, two outputs (`main`, the next node on the main path, and `byp`, the
/// add's bypass), one data register shared by both.
///
/// Registers (reset: both valids 0): `d`, `vm`, `vb`. At each edge an output whose consumer is
/// ready drops its valid; then, when both valids are (now) low, a handshake loads `d` and raises
/// both. Outputs: `m_valid` of each side is its valid, `m_data` is `d`, and
/// `s_ready = (!vm || m_ready_main) && (!vb || m_ready_byp)`: a word is taken only when both
/// sides will have taken the last, so neither side can run ahead of the other by more than this
/// one register.
#[derive(Clone, Debug)]
pub struct Duplicate {
    d: Vec<u64>,
    vm: bool,
    vb: bool,
}

impl Duplicate {
    /// A duplicate of `bits`-bit words.
    pub fn new(bits: usize) -> Self {
        Duplicate { d: vec![0; words(bits.max(1))], vm: false, vb: false }
    }

    /// The main output's `m_valid`.
    pub fn valid_main(&self) -> bool {
        self.vm
    }

    /// The bypass output's `m_valid`.
    pub fn valid_byp(&self) -> bool {
        self.vb
    }

    /// Both outputs' `m_data`.
    pub fn data(&self) -> &[u64] {
        &self.d
    }

    /// `s_ready` when the main consumer's ready is `rm` and the bypass's is `rb`.
    pub fn ready(&self, rm: bool, rb: bool) -> bool {
        (!self.vm || rm) && (!self.vb || rb)
    }

    /// One clock edge without reset.
    pub fn edge(&mut self, s_valid: bool, s_data: &[u64], rm: bool, rb: bool) {
        let take = s_valid && self.ready(rm, rb);
        if self.vm && rm {
            self.vm = false;
        }
        if self.vb && rb {
            self.vb = false;
        }
        if take {
            let n = self.d.len();
            self.d.copy_from_slice(&s_data[..n]);
            (self.vm, self.vb) = (true, true);
        }
    }

    /// One clock edge with reset high.
    pub fn reset(&mut self) {
        (self.vm, self.vb) = (false, false);
    }
}

/// The sign node: words of `n` elements of `k`-bit two's complement integers become words of `n`
/// bits, bit `j` set when element `j` is `>= 0` (its sign bit clear).
///
/// Registers (reset: `ov` 0): `ov`, `od`. `s_ready = !ov || m_ready`; when it holds, `ov <=
/// s_valid` and a handshake loads `od`.
#[derive(Clone, Debug)]
pub struct Sign {
    n: usize,
    k: usize,
    ov: bool,
    od: Vec<u64>,
}

impl Sign {
    /// The sign node for words of `elems` elements of type `ty`.
    pub fn new(ty: IntType, elems: usize) -> Self {
        Sign { n: elems, k: usize::from(ty.bits), ov: false, od: vec![0; words(elems.max(1))] }
    }
}

impl Unit for Sign {
    fn valid(&self) -> bool {
        self.ov
    }

    fn data(&self) -> &[u64] {
        &self.od
    }

    fn ready(&self, m_ready: bool) -> bool {
        !self.ov || m_ready
    }

    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        // A stalled output register, or an empty one without an input word.
        if (self.ov && !m_ready) || (!self.ov && !s_valid) {
            crate::FOREVER
        } else {
            0
        }
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        if self.ov && !m_ready {
            return;
        }
        self.ov = s_valid;
        if s_valid {
            self.od.iter_mut().for_each(|w| *w = 0);
            for j in 0..self.n {
                let neg = get(s_data, j * self.k + self.k - 1, 1) == 1;
                set(&mut self.od, j, 1, u64::from(!neg));
            }
        }
    }

    fn reset(&mut self) {
        self.ov = false;
    }
}

/// The channel pad: per pixel, its `cf_in` input words, then `cf_out - cf_in` zero words (words of
/// the same width: zero elements are the appended channels).
///
/// Registers (reset: `wc` and `ov` 0): the word counter `wc` (`0 .. cf_out`), `ov`, `od`.
/// `adv = !ov || m_ready`; `s_ready = adv && wc < cf_in`. On `adv`: while `wc < cf_in`, `ov <=
/// s_valid` and a handshake loads `od` and steps `wc`; past it, `ov <= 1`, `od <= 0` and `wc`
/// steps (wrapping to 0 after the pixel's last word).
#[derive(Clone, Debug)]
pub struct ChannelPad {
    cf_in: usize,
    cf_out: usize,
    wc: usize,
    ov: bool,
    od: Vec<u64>,
}

impl ChannelPad {
    /// A pad from `cf_in` to `cf_out` words per pixel of `bits`-bit words.
    pub fn new(bits: usize, cf_in: usize, cf_out: usize) -> Self {
        ChannelPad {
            cf_in,
            cf_out: cf_out.max(cf_in).max(1),
            wc: 0,
            ov: false,
            od: vec![0; words(bits.max(1))],
        }
    }

    fn step(&mut self) {
        self.wc = if self.wc + 1 == self.cf_out { 0 } else { self.wc + 1 };
    }
}

impl Unit for ChannelPad {
    fn valid(&self) -> bool {
        self.ov
    }

    fn data(&self) -> &[u64] {
        &self.od
    }

    fn ready(&self, m_ready: bool) -> bool {
        (!self.ov || m_ready) && self.wc < self.cf_in
    }

    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        // A stalled output register, or an empty one waiting for an input word.
        if (self.ov && !m_ready) || (!self.ov && !s_valid && self.wc < self.cf_in) {
            crate::FOREVER
        } else {
            0
        }
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        if self.ov && !m_ready {
            return;
        }
        if self.wc < self.cf_in {
            self.ov = s_valid;
            if s_valid {
                let n = self.od.len();
                self.od.copy_from_slice(&s_data[..n]);
                self.step();
            }
        } else {
            self.ov = true;
            self.od.iter_mut().for_each(|w| *w = 0);
            self.step();
        }
    }

    fn reset(&mut self) {
        (self.wc, self.ov) = (0, false);
    }
}

/// The saturating add: words of `n` elements of type `ty` from the main input and the bypass
/// become `saturate(ty, a + b)` element by element.
///
/// Registers (reset: `ov` 0): `ov`, `od`. `adv = !ov || m_ready`; both inputs' ready is
/// `adv && main_valid && byp_valid` (a join: a word leaves both inputs together). On `adv`,
/// `ov <= main_valid && byp_valid` and then `od` is loaded with the sum.
#[derive(Clone, Debug)]
pub struct Add {
    ty: IntType,
    n: usize,
    ov: bool,
    od: Vec<u64>,
}

impl Add {
    /// The add of words of `elems` elements of type `ty`.
    pub fn new(ty: IntType, elems: usize) -> Self {
        Add { ty, n: elems, ov: false, od: vec![0; words((elems * usize::from(ty.bits)).max(1))] }
    }

    /// `m_valid`.
    pub fn valid(&self) -> bool {
        self.ov
    }

    /// `m_data`.
    pub fn data(&self) -> &[u64] {
        &self.od
    }

    /// Both inputs' `s_ready`, given the consumer's ready and the two inputs' valids.
    pub fn ready(&self, m_ready: bool, main_valid: bool, byp_valid: bool) -> bool {
        (!self.ov || m_ready) && main_valid && byp_valid
    }

    /// One clock edge without reset.
    pub fn edge(&mut self, main: (bool, &[u64]), byp: (bool, &[u64]), m_ready: bool) {
        if self.ov && !m_ready {
            return;
        }
        self.ov = main.0 && byp.0;
        if self.ov {
            let k = usize::from(self.ty.bits);
            for j in 0..self.n {
                let a = sext(get(main.1, j * k, k), k);
                let b = sext(get(byp.1, j * k, k), k);
                let v = compiler::model::saturate(self.ty, a + b);
                set(&mut self.od, j * k, k, v as u64 & compiler::dataflow::mask(k));
            }
        }
    }

    /// One clock edge with reset high.
    pub fn reset(&mut self) {
        self.ov = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_saturates_and_sign_reads_the_sign_bit() {
        let ty = IntType { bits: 4, signed: true };
        let mut a = Add::new(ty, 3);
        // Fields low first: main [7, -8, 3], bypass [1, -1, -5].
        let pack = |v: &[i64]| v.iter().enumerate().fold(0u64, |w, (j, &x)| w | ((x as u64 & 15) << (4 * j)));
        a.edge((true, &[pack(&[7, -8, 3])]), (true, &[pack(&[1, -1, -5])]), true);
        assert!(a.valid());
        assert_eq!(a.data()[0], pack(&[7, -8, -2]));
        let mut s = Sign::new(ty, 3);
        s.edge(true, &[pack(&[0, -1, 5])], true);
        assert_eq!(s.data()[0], 0b101);
    }

    #[test]
    fn channel_pad_appends_zero_words() {
        let mut p = ChannelPad::new(8, 1, 3);
        let mut out = Vec::new();
        for cycle in 0..8 {
            let ready = p.ready(true);
            if p.valid() {
                out.push(p.data()[0]);
            }
            p.edge(ready, &[0x10 + cycle], true);
        }
        // Pixel words: the input word, then two zero words.
        assert_eq!(out[..6], [0x10, 0, 0, 0x13, 0, 0]);
    }
}
