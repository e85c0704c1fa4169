//! The data-width converter.

use crate::bits::{mask, or_at, shift_right, words};
use crate::Unit;

/// A converter from `i`-bit to `o`-bit words, bit 0 first: the bit stream is unchanged, so a
/// frame of `n` bits stays aligned when `n` is a multiple of both widths. It holds up to `i + o`
/// bits, enough to accept a word every cycle while emitting.
///
/// Registers (reset to 0): the bit buffer `buf` and the bit count `cnt`. At each edge
/// `pop = cnt >= o && m_ready` shifts the buffer right by `o`, then `push = s_valid && cnt <= o`
/// appends the input word at bit `cnt` (after the pop's shift). Outputs: `s_ready = cnt <= o`,
/// `m_valid = cnt >= o`, `m_data` = the low `o` bits of `buf`.
#[derive(Clone, Debug)]
pub struct WidthConverter {
    i: usize,
    o: usize,
    buf: Vec<u64>,
    cnt: usize,
    /// The low `o` bits of `buf`: the output word.
    view: Vec<u64>,
}

impl WidthConverter {
    /// A converter from `in_bits` to `out_bits`; the caller checks both are at least 1.
    pub fn new(in_bits: usize, out_bits: usize) -> Self {
        let (i, o) = (in_bits.max(1), out_bits.max(1));
        WidthConverter { i, o, buf: vec![0; words(i + o) + 1], cnt: 0, view: vec![0; words(o)] }
    }

    fn refresh(&mut self) {
        let n = self.view.len();
        self.view.copy_from_slice(&self.buf[..n]);
        if self.o % 64 != 0 {
            self.view[n - 1] &= mask(self.o % 64);
        }
    }
}

impl Unit for WidthConverter {
    fn valid(&self) -> bool {
        self.cnt >= self.o
    }

    fn data(&self) -> &[u64] {
        &self.view
    }

    fn ready(&self, _m_ready: bool) -> bool {
        self.cnt <= self.o
    }

    /// The word is pushed and leaves the buffer short of an output word: `s_ready` stays high,
    /// `m_valid` low, and without input words nothing changes.
    #[inline]
    fn absorbs(&self) -> bool {
        self.cnt + self.i < self.o
    }

    /// The word fills the output word exactly: `s_ready` (`cnt <= o`) stays high, and after
    /// the pop the buffer is empty.
    #[inline]
    fn completes(&self) -> bool {
        self.cnt + self.i == self.o
    }

    #[inline]
    fn absorb(&mut self, s_data: &[u64]) {
        debug_assert!(self.takes_next_asleep(), "a word absorbed that finds no room");
        self.edge(true, s_data, false);
    }

    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        // Neither a push nor a pop: nothing changes.
        let pop = self.cnt >= self.o && m_ready;
        let push = s_valid && self.cnt <= self.o;
        if pop || push {
            0
        } else {
            crate::FOREVER
        }
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let pop = self.cnt >= self.o && m_ready;
        let push = s_valid && self.cnt <= self.o;
        if pop {
            shift_right(&mut self.buf, self.o);
            self.cnt -= self.o;
        }
        if push {
            or_at(&mut self.buf, self.cnt, s_data, self.i);
            self.cnt += self.i;
        }
        if pop || push {
            self.refresh();
        }
    }

    fn reset(&mut self) {
        self.buf.iter_mut().for_each(|w| *w = 0);
        self.cnt = 0;
        self.refresh();
    }
}
