//! The binary max-pool unit: OR over `K x K` windows with stride `K`.

use crate::bits::words;
use crate::Unit;
use compiler::dataflow::PoolConfig;

/// The binary max-pool unit: frames of `H x W` pixels of `C` channel bits arrive as `CF = C/bits`
/// words per pixel; per output pixel (row-major, `OH = H/K` by `OW = W/K`) it emits `CF` words,
/// each the OR of its `K x K` window's words for that channel word. Trailing rows and columns
/// outside every window are consumed and dropped.
///
/// Registers (reset to 0; the row buffer `buf` of `OW * CF` words is not): counters `wc`
/// (fastest), `x` with `kx` and `ox`, `y` with `ky`; the output register `ov`, `od`. When the
/// output register advances (`adv = !ov || m_ready`, also `s_ready`): a handshake on a word inside
/// a window (`x < OW*K && y < OH*K`) starts the window's OR (`kx == 0 && ky == 0`) or ORs the word
/// into `buf[ox*CF + wc]`, and at the window's last word loads `od` instead of the buffer and sets
/// `ov`; without a handshake `ov <= 0`. The Verilog names the buffer `rowbuf` (`buf` is a Verilog
/// keyword).
#[derive(Clone, Debug)]
pub struct Pool {
    w: usize,
    h: usize,
    k: usize,
    cf: usize,
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
        let ww = words(c.bits);
        Pool {
            w: c.w,
            h: c.h,
            k: c.kernel,
            cf: c.cf(),
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
            for (i, &x) in s_data.iter().enumerate().take(ww) {
                let v = if start { x } else { self.buf[a + i] | x };
                if last {
                    self.od[i] = v;
                } else {
                    self.buf[a + i] = v;
                }
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
