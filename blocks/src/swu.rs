//! The sliding-window unit: im2col on a stream of pixels, for a convolution's MVTU.
//!
//! For every output pixel the unit reads the `K x K` window's words (kernel row, kernel column,
//! channel word fastest) from a ring of input rows, or emits the pad word for a position outside
//! the frame. `compiler::dataflow::SwuConfig` sizes it; this is its schedule.
//!
//! Input rows go into a ring of [`SwuConfig::ring_rows`] rows of `W * CF` words (`CF = C/SIMD`);
//! the ring is a FIFO of whole rows across frames. Registers: write side `wx`, `wc`, `wslot`;
//! shared `avail` (complete rows held); read side `head` (slot of the oldest held row), `lo` (that
//! row's index relative to the frame being read: negative while rows of the previous frame are
//! held, kept as `lo + H + R` in hardware), the output counters `oy, ox, ky, kx, rc` (`rc`
//! fastest, then `kx`, `ky`, `ox`, `oy`) and the output register (`qv`, the memory's read word,
//! `padr`). Each cycle, with `R` ring rows and all decisions on the registers before the edge:
//! - `s_ready = avail < R`; a handshake writes `mem[(wslot*W + wx)*CF + wc]` and steps `wc, wx`;
//!   the row's last word sets `row_done` (`wslot` steps, `avail` grows by one).
//! - `free = avail > 0 && lo < max(0, oy*S - P)`: the oldest row is dropped (`head` steps, `lo`
//!   grows).
//! - `can = lo + avail > min(oy*S - P + K - 1, H - 1)`: every row the current output row reads is
//!   held. `adv = !qv || m_ready`; on `adv`: `qv <= can`, and if `can` the unit reads the word for
//!   `(y, x) = (oy*S - P + ky, ox*S - P + kx)` channel word `rc` (a pad word when outside the
//!   frame) at `mem[((head + y - lo) mod R * W + x)*CF + rc]` and steps the counters.
//! - `lo <= lo + free - (H if the word just read was the frame's last)`: the next frame's rows
//!   are counted from its own row 0, and the rows still held from this frame become negative, to
//!   be dropped while the next frame is read. `avail <= avail + row_done - free`.

use crate::bits::{mask, words};
use crate::{Fifo, Mvtu, Unit};
use compiler::dataflow::SwuConfig;

/// The sliding-window unit: frames of `H x W` pixels of `C` elements (`elem_bits` each) arrive as
/// `CF = C/SIMD` words per pixel, channel fastest; per output pixel `(oy, ox)` in row-major order
/// it emits the `K x K` window's words in the order kernel row, kernel column, channel word
/// (fastest), pad words (all `pad_bit`) outside the frame.
///
/// Registers and schedule: see the module documentation (`q` and the ring are not reset).
#[derive(Clone, Debug)]
pub struct Swu {
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
    /// The unit for `c` (the caller validates it).
    pub fn new(c: &SwuConfig) -> Self {
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

    /// `(free, can)` on the registers before an edge: the oldest row is dropped; every row the
    /// current output row reads is held.
    #[inline]
    fn free_can(&self) -> (bool, bool) {
        let (k, s, p, h) = (self.k, self.s, self.p, self.h);
        let y0 = (self.oy * s).saturating_sub(p) as i64;
        let ylast = (self.oy * s + k - 1 - p).min(h - 1) as i64;
        (self.avail > 0 && self.lo < y0, self.lo + self.avail as i64 > ylast)
    }

    /// How many coming edges, with `s_valid` held, write no input word and leave `s_ready` as it
    /// is: when no word can enter and no row is to be dropped now, the reads left in the present
    /// output row (a row is dropped only after the output row moves on, which takes its last
    /// read); 0 otherwise. The output side may run meanwhile: a simulator may run such edges for
    /// the unit and its consumer without looking at the unit's producer.
    pub fn quiet_input(&self, s_valid: bool) -> u64 {
        if s_valid && self.avail < self.r {
            return 0;
        }
        self.quiet_read()
    }

    /// How many coming edges drop no row (the reads left in the present output row, when no
    /// row is to be dropped now; 0 otherwise): with [`Swu::absorbs`], the read side's edges
    /// among them see the same rows held whatever words enter (none completes a row), so a
    /// simulator may run them apart from the words written, which [`Swu::absorb`] takes.
    pub fn quiet_read(&self) -> u64 {
        let (free, _) = self.free_can();
        if free {
            return 0;
        }
        let pixel = self.k * self.k * self.cf;
        let read = (self.ky * self.k + self.kx) * self.cf + self.rc;
        ((self.ow - self.ox) * pixel - read) as u64
    }

    /// Writes the input word and steps the write counters; returns whether it completed a row.
    #[inline(always)]
    fn push(&mut self, s_data: &[u64]) -> bool {
        let (w, cf, r, ww) = (self.w, self.cf, self.r, self.ww);
        let a = ((self.wslot * w + self.wx) * cf + self.wc) * ww;
        if ww == 1 {
            self.mem[a] = s_data[0];
        } else {
            self.mem[a..a + ww].copy_from_slice(&s_data[..ww]);
        }
        let row_done = self.wc + 1 == cf && self.wx + 1 == w;
        self.wc += 1;
        if self.wc == cf {
            self.wc = 0;
            self.wx = if self.wx + 1 == w { 0 } else { self.wx + 1 };
        }
        if row_done {
            self.wslot = if self.wslot + 1 == r { 0 } else { self.wslot + 1 };
        }
        row_done
    }

    /// The read side of an edge: with `adv`, `qv <= can` and, if `can`, the next window word is
    /// read and the counters step. Returns whether that word was the frame's last.
    #[inline(always)]
    fn read_side(&mut self, can: bool, adv: bool) -> bool {
        if !adv {
            return false;
        }
        let (k, s, p, h, w, cf, r, ww) = (self.k, self.s, self.p, self.h, self.w, self.cf, self.r, self.ww);
        let mut frame_done = false;
        self.qv = can;
        if can {
            let (yy, xx) = (self.oy * s + self.ky, self.ox * s + self.kx);
            let pad = yy < p || yy >= h + p || xx < p || xx >= w + p;
            self.padr = pad;
            if !pad {
                // `head + (row - lo)` is below `2R` (both terms are ring slots): one compare
                // instead of a division, every cycle the unit emits.
                let slot = self.head + ((yy - p) as i64 - self.lo) as usize;
                let slot = if slot >= r { slot - r } else { slot };
                let a = ((slot * w + (xx - p)) * cf + self.rc) * ww;
                if ww == 1 {
                    self.q[0] = self.mem[a];
                } else {
                    self.q.copy_from_slice(&self.mem[a..a + ww]);
                }
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
        frame_done
    }

    /// Runs `edges` edges of the unit feeding a FIFO and an MVTU asleep together: a
    /// simulator's batch of [`Unit::edge`] of the three (each sampling the others' registers
    /// from before the edge), for edges where the unit takes no input word and drops no row
    /// (at most [`Swu::quiet_input`]`(s_valid)`), or takes only words that complete no row,
    /// written apart by [`Swu::absorb`] (at most [`Swu::quiet_read`]), and the MVTU keeps its
    /// output register empty but for the first edge, whose handshake with `m_ready` high may
    /// empty it, and the last, which may load it (at most [`Mvtu::chain_run`]: the rest of a
    /// first pass or of a pass from the input buffer). Within them the rows held stay as they
    /// are, so whether the unit can read (`can`) is decided once, and the MVTU sees the
    /// consumer's ready it slept on. Edges where only the MVTU moves (a pass from its buffer,
    /// the FIFO full, this unit's word waiting) run at once ([`Unit::run_alone`], [`Unit::skip`]).
    pub fn run_chain(&mut self, fifo: &mut Fifo, mvtu: &mut Mvtu, edges: u64, m_ready: bool) {
        let (free, can) = self.free_can();
        debug_assert!(!free, "a row to drop in a quiet chain");
        let mut e = 0;
        while e < edges {
            // The MVTU takes every word but at the run's last edge, after the pass's last word.
            let mr = mvtu.ready(m_ready);
            let (fv, fr) = (fifo.valid(), fifo.ready(mr));
            if !mr && !fr && self.qv {
                // A pass from the input buffer with the FIFO full and this unit's word waiting:
                // only the MVTU moves, on its own until its run ends ([`Unit::run_alone`]).
                let alone = mvtu.run_alone().min(edges - e);
                if alone > 1 {
                    mvtu.skip(alone);
                    e += alone;
                    continue;
                }
            }
            e += 1;
            if fv {
                mvtu.edge(true, fifo.data(), m_ready);
            } else {
                mvtu.edge(false, &[], m_ready);
            }
            fifo.edge(self.qv, &self.out, mr);
            if self.read_side(can, !self.qv || fr) {
                // The frame's last word: the next frame's rows count from its own row 0.
                self.lo -= self.h as i64;
            }
        }
    }

    fn refresh(&mut self) {
        let src = if self.padr { &self.pad_word } else { &self.q };
        if self.ww == 1 {
            // One word (the usual case): no `memcpy` call.
            self.out[0] = src[0];
        } else {
            self.out.copy_from_slice(src);
        }
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

    /// The word finds room and completes no row: writing it changes neither `s_ready` nor the
    /// rows the read side sees (its edges run apart, see [`Swu::quiet_read`]).
    #[inline]
    fn absorbs(&self) -> bool {
        self.avail < self.r && !(self.wc + 1 == self.cf && self.wx + 1 == self.w)
    }

    #[inline]
    fn absorb(&mut self, s_data: &[u64]) {
        debug_assert!(self.absorbs(), "a word absorbed that completes a row or finds no room");
        self.push(s_data);
    }

    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        // No row to drop, no word to write, and a read side that stalls or has nothing to read.
        let (free, can) = self.free_can();
        let push = s_valid && self.avail < self.r;
        let read = if self.qv { m_ready } else { can };
        if free || push || read {
            0
        } else {
            crate::FOREVER
        }
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let r = self.r;
        // Everything below reads the registers as they were before the edge.
        let (free, can) = self.free_can();
        let push = s_valid && self.avail < r;
        // Read side first: it reads the memory before this edge's write (never the same row).
        let frame_done = self.read_side(can, !self.qv || m_ready);
        let row_done = push && self.push(s_data);
        if free {
            self.head = if self.head + 1 == r { 0 } else { self.head + 1 };
        }
        self.lo += i64::from(free) - if frame_done { self.h as i64 } else { 0 };
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
