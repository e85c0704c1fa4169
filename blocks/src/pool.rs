//! The max-pool unit: the maximum over `K x K` windows with stride `K` (an OR over bits).

use crate::bits::{get, set, sext, words};
use crate::Unit;
use compiler::dataflow::PoolConfig;

/// The max-pool unit: frames of `H x W` pixels of `C` channels arrive as `CF = C/SIMD` words of
/// `SIMD` elements per pixel; per output pixel (row-major, `OH = H/K` by `OW = W/K`) it emits
/// `CF` words, each element the maximum over its `K x K` window's elements of that channel: the
/// OR for binary elements, the largest `k`-bit integer (two's complement when signed) for
/// integers ([`max_word`]). Trailing rows and columns outside every window are consumed and
/// dropped.
///
/// Registers (reset to 0; the row buffer `buf` of `OW * CF` words is not): counters `wc`
/// (fastest), `x` with `kx` and `ox`, `y` with `ky`; the output register `ov`, `od`. When the
/// output register advances (`adv = !ov || m_ready`, also `s_ready`): a handshake on a word inside
/// a window (`x < OW*K && y < OH*K`) starts the window's maximum (`kx == 0 && ky == 0`) or takes
/// the maximum of the word and `buf[ox*CF + wc]` into the buffer, and at the window's last word
/// loads `od` instead of the buffer and sets `ov`; without a handshake `ov <= 0`. The Verilog
/// names the buffer `rowbuf` (`buf` is a Verilog keyword).
#[derive(Clone, Debug)]
pub struct Pool {
    w: usize,
    h: usize,
    k: usize,
    cf: usize,
    simd: usize,
    elem_bits: usize,
    signed: bool,
    ow_k: usize,
    oh_k: usize,
    ww: usize,
    buf: Vec<u64>,
    wc: usize,
    x: usize,
    kx: usize,
    ox: usize,
    y: usize,
    ky: usize,
    ov: bool,
    od: Vec<u64>,
}

impl Pool {
    /// The unit for `c` (the caller validates it).
    pub fn new(c: &PoolConfig) -> Self {
        let ww = words(c.bits());
        Pool {
            w: c.w,
            h: c.h,
            k: c.kernel,
            cf: c.cf(),
            simd: c.simd,
            elem_bits: c.elem_bits,
            signed: c.signed,
            ow_k: c.ow() * c.kernel,
            oh_k: c.oh() * c.kernel,
            ww,
            buf: vec![0; c.ow() * c.cf() * ww],
            wc: 0,
            x: 0,
            kx: 0,
            ox: 0,
            y: 0,
            ky: 0,
            ov: false,
            od: vec![0; ww],
        }
    }
}

impl Pool {
    /// The next input word is the last of a window (not a trailing row's or column's).
    #[inline]
    fn window_ends(&self) -> bool {
        self.x < self.ow_k && self.y < self.oh_k && self.kx + 1 == self.k && self.ky + 1 == self.k
    }
}

impl Unit for Pool {
    fn valid(&self) -> bool {
        self.ov
    }

    fn data(&self) -> &[u64] {
        &self.od
    }

    fn ready(&self, m_ready: bool) -> bool {
        !self.ov || m_ready
    }

    /// The output register is empty and the word is not a window's last: `s_ready` stays high,
    /// `m_valid` low, and without input words nothing changes.
    #[inline]
    fn absorbs(&self) -> bool {
        !(self.ov || self.window_ends())
    }

    /// The output register is empty and the word is a window's last: it loads the register.
    /// `s_ready` then follows the consumer's ready (high while it takes words asleep).
    #[inline]
    fn completes(&self) -> bool {
        !self.ov && self.window_ends()
    }

    #[inline]
    fn absorb(&mut self, s_data: &[u64]) {
        debug_assert!(!self.ov, "a word absorbed behind a full output register");
        self.edge(true, s_data, false);
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
        if !s_valid {
            self.ov = false;
            return;
        }
        let ww = self.ww;
        let in_window = self.x < self.ow_k && self.y < self.oh_k;
        let last = self.kx + 1 == self.k && self.ky + 1 == self.k;
        self.ov = in_window && last;
        if in_window {
            let a = (self.ox * self.cf + self.wc) * ww;
            let start = self.kx == 0 && self.ky == 0;
            let (simd, eb, signed) = (self.simd, self.elem_bits, self.signed);
            if last {
                // The buffer keeps the window's maximum so far; the result goes to `od`.
                self.od.copy_from_slice(&self.buf[a..a + ww]);
            }
            let dst = if last { &mut self.od[..] } else { &mut self.buf[a..a + ww] };
            if start {
                dst.copy_from_slice(&s_data[..ww]);
            } else {
                max_word(dst, &s_data[..ww], simd, eb, signed);
            }
        }
        self.wc += 1;
        if self.wc == self.cf {
            self.wc = 0;
            self.x += 1;
            self.kx += 1;
            if self.kx == self.k {
                self.kx = 0;
                self.ox += 1;
            }
            if self.x == self.w {
                (self.x, self.kx, self.ox) = (0, 0, 0);
                self.y += 1;
                self.ky += 1;
                if self.ky == self.k {
                    self.ky = 0;
                }
                if self.y == self.h {
                    (self.y, self.ky) = (0, 0);
                }
            }
        }
    }

    fn reset(&mut self) {
        (self.wc, self.x, self.kx, self.ox, self.y, self.ky, self.ov) = (0, 0, 0, 0, 0, 0, false);
        self.od.iter_mut().for_each(|w| *w = 0);
    }
}

/// `acc` becomes the element-wise maximum of `acc` and `x`, words of `simd` elements of
/// `elem_bits` bits: the OR for bits, else the larger integer of each field (two's complement
/// when `signed`).
#[inline]
pub fn max_word(acc: &mut [u64], x: &[u64], simd: usize, elem_bits: usize, signed: bool) {
    if elem_bits == 1 {
        acc.iter_mut().zip(x).for_each(|(a, &b)| *a |= b);
        return;
    }
    let value = |w: &[u64], j: usize| {
        let raw = get(w, j * elem_bits, elem_bits);
        if signed {
            sext(raw, elem_bits)
        } else {
            raw as i64
        }
    };
    for j in 0..simd {
        if value(x, j) > value(acc, j) {
            set(acc, j * elem_bits, elem_bits, get(x, j * elem_bits, elem_bits));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed maxima of packed fields.
    #[test]
    fn max_word_takes_the_larger_field() {
        // Two-bit fields (low first): acc = [1, 2, 3, 0], x = [2, 1, 3, 3].
        let (acc, x) = (0b00_11_10_01u64, 0b11_11_01_10u64);
        let mut u = [acc];
        max_word(&mut u, &[x], 4, 2, false);
        assert_eq!(u[0], 0b11_11_10_10, "unsigned: [2, 2, 3, 3]");
        // Signed: acc = [1, -2, -1, 0], x = [-2, 1, -1, -1].
        let mut s = [acc];
        max_word(&mut s, &[x], 4, 2, true);
        assert_eq!(s[0], 0b00_11_01_01, "signed: [1, 1, -1, 0]");
        // Bits: the OR.
        let mut b = [0b1010u64];
        max_word(&mut b, &[0b0110], 4, 1, false);
        assert_eq!(b[0], 0b1110);
        // Fields across a word boundary: 3-bit fields, field 21 at bits 63..66.
        let mut a = vec![0u64; 2];
        let mut y = vec![0u64; 2];
        set(&mut a, 63, 3, 0b011);
        set(&mut y, 63, 3, 0b101);
        max_word(&mut a, &y, 22, 3, false);
        assert_eq!(get(&a, 63, 3), 0b101, "5 > 3 unsigned");
        set(&mut a, 63, 3, 0b011);
        max_word(&mut a, &y, 22, 3, true);
        assert_eq!(get(&a, 63, 3), 0b011, "3 > -3 signed");
    }
}
