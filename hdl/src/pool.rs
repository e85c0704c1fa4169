//! The binary max-pool unit: OR over `K x K` windows with stride `K`.
//!
//! The schedule, register for register, is the one documented in `compiler::dataflow::conv` and
//! implemented again by `sim::cycle`: see [`Pool`].

use crate::bus::{self, Bus};
use crate::words;
use crate::HdlError;
pub use compiler::dataflow::PoolConfig;
use rust_hdl::prelude::*;

/// The registers (row buffer apart).
#[derive(Clone, Debug, Default)]
struct PoolState {
    wc: usize,
    x: usize,
    kx: usize,
    ox: usize,
    y: usize,
    ky: usize,
    ov: bool,
    od: Vec<u64>,
}

/// A binary max-pool unit: frames of `H x W` pixels of `C` channel bits arrive as `CF = C/bits`
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
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words of `bits` channels. `m_ready`: the consumer accepts.
///
/// ### Outputs
/// - `s_ready` (the output register advances); `m_data`/`m_valid`: pooled words.
#[derive(LogicBlock)]
pub struct Pool {
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
    _cfg: PoolConfig,
    _buf: Vec<Vec<u64>>,
    _st: PoolState,
}

impl Pool {
    /// The unit for `cfg` (checked with [`PoolConfig::validate`]).
    pub fn new(cfg: &PoolConfig) -> Result<Self, HdlError> {
        cfg.validate()?;
        let nw = words::words(cfg.bits);
        Ok(Pool {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(cfg.bits),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(cfg.bits),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            _cfg: cfg.clone(),
            _buf: vec![vec![0; nw]; cfg.ow() * cfg.cf()],
            _st: PoolState { od: vec![0; nw], ..PoolState::default() },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self._cfg
    }

    fn adv(&self) -> bool {
        !self._st.ov || self.m_ready.val()
    }

    fn clock_edge(&mut self) {
        let c = &self._cfg;
        let (h, w, k, cf, oh, ow) = (c.h, c.w, c.kernel, c.cf(), c.oh(), c.ow());
        if self.rst.val() {
            self._st = PoolState { od: vec![0; words::words(c.bits)], ..PoolState::default() };
            return;
        }
        if !self.adv() {
            return;
        }
        let st = &mut self._st;
        if !self.s_valid.val() {
            st.ov = false;
            return;
        }
        let in_window = st.x < ow * k && st.y < oh * k;
        let last = st.kx == k - 1 && st.ky == k - 1;
        st.ov = in_window && last;
        if in_window {
            let a = st.ox * cf + st.wc;
            let mut v = bus::read(&self.s_data);
            if st.kx != 0 || st.ky != 0 {
                v.iter_mut().zip(&self._buf[a]).for_each(|(x, b)| *x |= b);
            }
            if last {
                st.od = v;
            } else {
                self._buf[a] = v;
            }
        }
        if st.wc == cf - 1 {
            st.wc = 0;
            if st.x == w - 1 {
                (st.x, st.kx, st.ox) = (0, 0, 0);
                if st.y == h - 1 {
                    (st.y, st.ky) = (0, 0);
                } else {
                    st.y += 1;
                    st.ky = if st.ky == k - 1 { 0 } else { st.ky + 1 };
                }
            } else {
                st.x += 1;
                if st.kx == k - 1 {
                    st.kx = 0;
                    st.ox += 1;
                } else {
                    st.kx += 1;
                }
            }
        } else {
            st.wc += 1;
        }
    }
}

impl Logic for Pool {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.clock_edge();
        }
        self.s_ready.next = self.adv();
        self.m_valid.next = self._st.ov;
        let od = self._st.od.clone();
        bus::write(&mut self.m_data, &od);
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
    }
}

crate::stream_block!(Pool);
