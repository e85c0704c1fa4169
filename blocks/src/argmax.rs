//! Argmax over the last layer's scores.

use crate::bits::{get, sext};
use crate::Unit;

/// Argmax over a vector of scores arriving as `words` words of `pe` fields of `bits` bits (two's
/// complement when `signed`): one class index per vector, the lowest index on ties (as the golden
/// model).
///
/// Registers (`j` and `out_valid` reset to 0): the word counter `j`, the best score and index so
/// far, the output register. `s_ready = !out_valid || m_ready`; a handshake compares the word's
/// fields (the first field, or a strictly greater one, wins) with the best so far (word 0
/// replaces it), and the vector's last word loads the index into the output register.
#[derive(Clone, Debug)]
pub struct Argmax {
    pe: usize,
    bits: usize,
    words: usize,
    signed: bool,
    j: usize,
    best: i64,
    idx: usize,
    out_valid: bool,
    out: [u64; 1],
}

impl Argmax {
    /// Argmax over `words` words of `pe` scores of `bits` bits each.
    pub fn new(pe: usize, bits: usize, words: usize, signed: bool) -> Self {
        Argmax { pe, bits, words, signed, j: 0, best: 0, idx: 0, out_valid: false, out: [0] }
    }
}

impl Unit for Argmax {
    fn valid(&self) -> bool {
        self.out_valid
    }

    fn data(&self) -> &[u64] {
        &self.out
    }

    fn ready(&self, m_ready: bool) -> bool {
        !self.out_valid || m_ready
    }

    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        // Neither the output nor the input makes a handshake.
        let pop = self.out_valid && m_ready;
        let take = s_valid && self.ready(m_ready);
        if pop || take {
            0
        } else {
            crate::FOREVER
        }
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let ready = !self.out_valid || m_ready;
        if self.out_valid && m_ready {
            self.out_valid = false;
        }
        if !(s_valid && ready) {
            return;
        }
        let (mut bv, mut bi) = (i64::MIN, 0);
        for p in 0..self.pe {
            let raw = get(s_data, p * self.bits, self.bits);
            let v = if self.signed { sext(raw, self.bits) } else { raw as i64 };
            if p == 0 || v > bv {
                (bv, bi) = (v, self.j * self.pe + p);
            }
        }
        if self.j == 0 || bv > self.best {
            (self.best, self.idx) = (bv, bi);
        }
        if self.j + 1 == self.words {
            self.j = 0;
            self.out_valid = true;
            self.out[0] = self.idx as u64;
        } else {
            self.j += 1;
        }
    }

    fn reset(&mut self) {
        self.j = 0;
        self.out_valid = false;
    }
}
