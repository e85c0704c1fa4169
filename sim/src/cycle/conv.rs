//! The convolution units of the cycle model: the sliding-window unit and the max-pool unit, with
//! the registers and schedule of `compiler::dataflow::conv` (which `hdl::swu` and `hdl::pool`
//! implement in RTL).

use super::Unit;
use compiler::dataflow::width::{mask, words};
use compiler::dataflow::{PoolConfig, SwuConfig};

/// The sliding-window unit's registers and ring buffer.
pub(super) struct Swu {
    h: usize,
    w: usize,
    cf: usize,
    k: usize,
    s: usize,
    p: usize,
    r: usize,
    oh: usize,
    ow: usize,
    ww: usize,
    mem: Vec<u64>,
    pad_word: Vec<u64>,
    // Write side.
    wx: usize,
    wc: usize,
    wslot: usize,
    avail: usize,
    // Read side.
    head: usize,
    /// The oldest held row's index relative to the frame being read (negative: the previous
    /// frame's).
    lo: i64,
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
    rc: usize,
    qv: bool,
    padr: bool,
    q: Vec<u64>,
    /// `m_data`: the pad word or `q`.
    out: Vec<u64>,
}

impl Swu {
    pub(super) fn new(c: &SwuConfig) -> Self {
        let ww = words(c.bits());
        let mut pad_word = vec![0u64; ww];
        if c.pad_bit {
            for (i, w) in pad_word.iter_mut().enumerate() {
                *w = mask((c.bits() - i * 64).min(64));
            }
        }
        Swu {
            h: c.h,
            w: c.w,
            cf: c.cf(),
            k: c.kernel,
            s: c.stride,
            p: c.pad,
            r: c.ring_rows(),
            oh: c.oh(),
            ow: c.ow(),
            ww,
            mem: vec![0; c.ring_words() * ww],
            pad_word,
            wx: 0,
            wc: 0,
            wslot: 0,
            avail: 0,
            head: 0,
            lo: 0,
            oy: 0,
            ox: 0,
            ky: 0,
            kx: 0,
            rc: 0,
            qv: false,
            padr: false,
            q: vec![0; ww],
            out: vec![0; ww],
        }
    }

    fn refresh(&mut self) {
        let src = if self.padr { &self.pad_word } else { &self.q };
        self.out.copy_from_slice(src);
    }
}

impl Unit for Swu {
    fn valid(&self) -> bool {
        self.qv
    }

    fn data(&self) -> &[u64] {
        &self.out
    }

    fn ready(&self, _m_ready: bool) -> bool {
        self.avail < self.r
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let (k, s, p, h, w, cf, r, ww) = (self.k, self.s, self.p, self.h, self.w, self.cf, self.r, self.ww);
        // Everything below reads the registers as they were before the edge.
        let y0 = (self.oy * s).saturating_sub(p) as i64;
        let ylast = (self.oy * s + k - 1 - p).min(h - 1) as i64;
        let can = self.lo + self.avail as i64 > ylast;
        let adv = !self.qv || m_ready;
        let free = self.avail > 0 && self.lo < y0;
        let mut frame_done = false;
        let push = s_valid && self.avail < r;
        // Read side first: it reads the memory before this edge's write (never the same row).
        if adv {
            self.qv = can;
            if can {
                let (yy, xx) = (self.oy * s + self.ky, self.ox * s + self.kx);
                let pad = yy < p || yy >= h + p || xx < p || xx >= w + p;
                self.padr = pad;
                if !pad {
                    let slot = (self.head + ((yy - p) as i64 - self.lo) as usize) % r;
                    let a = ((slot * w + (xx - p)) * cf + self.rc) * ww;
                    self.q.copy_from_slice(&self.mem[a..a + ww]);
                }
                let last = self.rc + 1 == cf
                    && self.kx + 1 == k
                    && self.ky + 1 == k
                    && self.ox + 1 == self.ow
                    && self.oy + 1 == self.oh;
                self.rc += 1;
                if self.rc == cf {
                    self.rc = 0;
                    self.kx += 1;
                    if self.kx == k {
                        self.kx = 0;
                        self.ky += 1;
                        if self.ky == k {
                            self.ky = 0;
                            self.ox += 1;
                            if self.ox == self.ow {
                                self.ox = 0;
                                self.oy += 1;
                                if self.oy == self.oh {
                                    self.oy = 0;
                                }
                            }
                        }
                    }
                }
                frame_done = last;
            }
            self.refresh();
        }
        let mut row_done = false;
        if push {
            let a = ((self.wslot * w + self.wx) * cf + self.wc) * ww;
            self.mem[a..a + ww].copy_from_slice(&s_data[..ww]);
            row_done = self.wc + 1 == cf && self.wx + 1 == w;
            self.wc += 1;
            if self.wc == cf {
                self.wc = 0;
                self.wx = if self.wx + 1 == w { 0 } else { self.wx + 1 };
            }
            if row_done {
                self.wslot = (self.wslot + 1) % r;
            }
        }
        if free {
            self.head = (self.head + 1) % r;
        }
        self.lo += i64::from(free) - if frame_done { h as i64 } else { 0 };
        self.avail = self.avail + usize::from(row_done) - usize::from(free);
    }

    fn reset(&mut self) {
        (self.wx, self.wc, self.wslot, self.avail) = (0, 0, 0, 0);
        (self.head, self.lo) = (0, 0);
        (self.oy, self.ox, self.ky, self.kx, self.rc) = (0, 0, 0, 0, 0);
        (self.qv, self.padr) = (false, false);
        self.refresh();
    }
}

/// The max-pool unit's registers and row buffer of partial ORs.
pub(super) struct Pool {
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
    pub(super) fn new(c: &PoolConfig) -> Self {
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
    }
}
