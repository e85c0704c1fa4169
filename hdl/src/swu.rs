//! The sliding-window unit: im2col on a stream of pixels, for a convolution's MVTU.
//!
//! Input rows go into a ring of `R = ring_rows()` rows of `W * CF` words, a FIFO of whole rows
//! across frames; for every output pixel the unit reads the `K x K` window's words (kernel row,
//! kernel column, channel word fastest) from the ring, or emits the pad word for a position
//! outside the frame. The schedule, register for register, is the one documented in
//! `compiler::dataflow::conv` and implemented again by `sim::cycle`: see [`Swu`].

use crate::bus::{self, Bus};
use crate::words;
use crate::HdlError;
pub use compiler::dataflow::SwuConfig;
use rust_hdl::prelude::*;

/// The sizes the schedule uses, taken once from the configuration.
#[derive(Clone, Copy, Debug)]
struct Dims {
    h: usize,
    w: usize,
    cf: usize,
    k: usize,
    s: usize,
    p: usize,
    r: usize,
    oh: usize,
    ow: usize,
}

impl Dims {
    fn of(c: &SwuConfig) -> Self {
        Dims {
            h: c.h,
            w: c.w,
            cf: c.cf(),
            k: c.kernel,
            s: c.stride,
            p: c.pad,
            r: c.ring_rows(),
            oh: c.oh(),
            ow: c.ow(),
        }
    }
}

/// The registers (memory contents apart).
#[derive(Clone, Debug, Default)]
struct SwuState {
    wx: usize,
    wc: usize,
    wslot: usize,
    avail: usize,
    head: usize,
    /// The oldest held row relative to the frame being read (negative: the previous frame's).
    lo: i64,
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
    rc: usize,
    qv: bool,
    q: Vec<u64>,
    padr: bool,
}

impl SwuState {
    /// The first frame row the current output row reads (padded rows above the frame count as 0).
    fn y0(&self, d: &Dims) -> i64 {
        (self.oy * d.s).saturating_sub(d.p) as i64
    }

    /// The last frame row the current output row reads.
    fn ylast(&self, d: &Dims) -> i64 {
        (self.oy * d.s + d.k - 1 - d.p).min(d.h - 1) as i64
    }

    /// Every row the current output row reads is held.
    fn can(&self, d: &Dims) -> bool {
        self.lo + self.avail as i64 > self.ylast(d)
    }

    /// The oldest held row is no longer needed.
    fn free(&self, d: &Dims) -> bool {
        self.avail > 0 && self.lo < self.y0(d)
    }
}

/// A sliding-window unit: frames of `H x W` pixels of `C` elements (`elem_bits` each) arrive as
/// `CF = C/SIMD` words per pixel, channel fastest; per output pixel `(oy, ox)` in row-major order
/// it emits the `K x K` window's words in the order kernel row, kernel column, channel word
/// (fastest), pad words (all `pad_bit`) outside the frame.
///
/// Registers (reset to 0; the ring memory and the read register `q` are not reset): write side
/// `wx`, `wc`, `wslot`; `avail` (complete rows held); read side `head`, `lo` (the oldest held
/// row relative to the frame being read, negative for the previous frame's rows; the Verilog keeps
/// `lo + H + R`), the output counters `oy, ox, ky, kx, rc`; the output register `qv`, `q`, `padr`.
/// Each cycle:
/// - `s_ready = avail < R`; a handshake writes `mem[(wslot*W + wx)*CF + wc]`, steps `wc`, `wx` and
///   at a row's last word `wslot` (`row_done`).
/// - `free = avail > 0 && lo < y0` with `y0 = max(0, oy*S - P)`: `head` steps and `lo` grows.
/// - `can = lo + avail > min(oy*S + K - 1 - P, H - 1)`; when the output register advances
///   (`!qv || m_ready`) it loads `qv <= can`, and if `can` the word of padded position
///   `(oy*S + ky, ox*S + kx)`, channel word `rc` (a memory read into `q`, or `padr` for a pad
///   position), then steps the counters; after the frame's last word `lo` drops by `H`.
/// - `avail <= avail + row_done - free`.
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words of SIMD elements. `m_ready`: the consumer accepts.
///
/// ### Outputs
/// - `s_ready` (a ring slot is free); `m_data`/`m_valid`: the window words.
#[derive(LogicBlock)]
pub struct Swu {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub rst: Signal<In, Bit>,
    /// Input word.
    pub s_data: Bus<In>,
    /// Input valid.
    pub s_valid: Signal<In, Bit>,
    /// Input ready.
    pub s_ready: Signal<Out, Bit>,
    /// Output word.
    pub m_data: Bus<Out>,
    /// Output valid.
    pub m_valid: Signal<Out, Bit>,
    /// Output ready.
    pub m_ready: Signal<In, Bit>,
    _cfg: SwuConfig,
    _d: Dims,
    _pad: Vec<u64>,
    _mem: Vec<Vec<u64>>,
    _st: SwuState,
}

impl Swu {
    /// The unit for `cfg` (checked with [`SwuConfig::validate`]).
    pub fn new(cfg: &SwuConfig) -> Result<Self, HdlError> {
        cfg.validate()?;
        let bits = cfg.bits();
        let mut pad = vec![0u64; words::words(bits)];
        if cfg.pad_bit {
            for i in 0..bits {
                words::set(&mut pad, i, 1, 1);
            }
        }
        Ok(Swu {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(bits),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _cfg: cfg.clone(),
            _d: Dims::of(cfg),
            _pad: pad,
            _mem: vec![vec![0; words::words(bits)]; cfg.ring_words()],
            _st: SwuState { q: vec![0; words::words(bits)], ..SwuState::default() },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SwuConfig {
        &self._cfg
    }

    fn clock_edge(&mut self) {
        let d = self._d;
        let st = &mut self._st;
        if self.rst.val() {
            let q = std::mem::take(&mut st.q);
            *st = SwuState { q, ..SwuState::default() };
            return;
        }
        // Every decision from the values before the edge.
        let push = self.s_valid.val() && st.avail < d.r;
        let row_done = push && st.wc == d.cf - 1 && st.wx == d.w - 1;
        let free = st.free(&d);
        let can = st.can(&d);
        let adv = !st.qv || self.m_ready.val();
        let (lo, head) = (st.lo, st.head);
        let mut frame_done = false;
        // Read side (it never reads the slot being written).
        if adv {
            st.qv = can;
            if can {
                let (yy, xx) = (st.oy * d.s + st.ky, st.ox * d.s + st.kx);
                let pad = yy < d.p || yy >= d.h + d.p || xx < d.p || xx >= d.w + d.p;
                st.padr = pad;
                if !pad {
                    let mut slot = head + ((yy - d.p) as i64 - lo) as usize;
                    if slot >= d.r {
                        slot -= d.r;
                    }
                    st.q.clone_from(&self._mem[(slot * d.w + (xx - d.p)) * d.cf + st.rc]);
                }
                let last = st.rc == d.cf - 1
                    && st.kx == d.k - 1
                    && st.ky == d.k - 1
                    && st.ox == d.ow - 1
                    && st.oy == d.oh - 1;
                st.rc += 1;
                if st.rc == d.cf {
                    st.rc = 0;
                    st.kx += 1;
                    if st.kx == d.k {
                        st.kx = 0;
                        st.ky += 1;
                        if st.ky == d.k {
                            st.ky = 0;
                            st.ox += 1;
                            if st.ox == d.ow {
                                st.ox = 0;
                                st.oy = if st.oy == d.oh - 1 { 0 } else { st.oy + 1 };
                            }
                        }
                    }
                }
                frame_done = last;
            }
        }
        // Write side.
        if push {
            self._mem[(st.wslot * d.w + st.wx) * d.cf + st.wc] = bus::read(&self.s_data);
            if st.wc == d.cf - 1 {
                st.wc = 0;
                st.wx = if st.wx == d.w - 1 { 0 } else { st.wx + 1 };
            } else {
                st.wc += 1;
            }
            if row_done {
                st.wslot = (st.wslot + 1) % d.r;
            }
        }
        // Dropping the oldest row.
        if free {
            st.head = (head + 1) % d.r;
        }
        st.lo = lo + i64::from(free) - if frame_done { d.h as i64 } else { 0 };
        st.avail = st.avail + usize::from(row_done) - usize::from(free);
    }
}

impl Logic for Swu {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.clock_edge();
        }
        let st = &self._st;
        self.s_ready.next = st.avail < self._d.r;
        self.m_valid.next = st.qv;
        let od = if st.padr { self._pad.clone() } else { st.q.clone() };
        bus::write(&mut self.m_data, &od);
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
    }
}

crate::stream_block!(Swu);
