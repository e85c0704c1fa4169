//! The matrix-vector-threshold unit: an `MH x MW` binary weight matrix folded as `PE` rows by
//! `SIMD` columns, as in FINN.
//!
//! Schedule: an input vector arrives as `SF = MW/SIMD` words of SIMD elements; the unit makes
//! `NF = MH/PE` passes over it (the first from the stream, storing it in the input buffer, the
//! others from the buffer), each pass computing PE rows and emitting one output word. With no
//! stalls it starts one word per cycle, so a vector takes exactly `NF * SF` cycles in steady state;
//! a word's result leaves [`LATENCY`] cycles after the word entered.
//!
//! Row `nf*PE + p` belongs to PE `p`; its weights are words `nf*SF .. nf*SF+SF` of PE `p`'s weight
//! memory and its threshold is entry `nf` of PE `p`'s threshold memory. Output bit (or score field)
//! `p` of word `nf` is row `nf*PE + p`.

use crate::accumulator::Accumulator;
use crate::bus::{self, Bus};
use crate::lanes::Lanes;
use crate::memory::{MemStyle, Memory};
use crate::words;
use crate::HdlError;
pub use compiler::dataflow::{divisors, MvtuConfig, MvtuOutput};
use compiler::model::BitMatrix;
use rust_hdl::prelude::*;

/// Cycles from the handshake of a vector's last input word to its output word being valid.
pub const LATENCY: usize = 2;

/// The MVTU's controller: counters, input buffer, the registered input word, the output register.
/// Memories, lanes and accumulators are sibling blocks wired by [`Mvtu`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words. `m_ready`: the consumer accepts.
/// - `results`: the PE accumulators' output for the word in stage B.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`: output words.
/// - `x`: the registered input word for the lanes; `addr`, `taddr`, `en`: memory reads for the
///   word entering now; `acc_en`, `acc_first`: accumulator control for the word in stage B.
#[derive(LogicBlock)]
pub struct MvtuCtl {
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
    /// Registered input word, to the lanes.
    pub x: Bus<Out>,
    /// Weight memory address.
    pub addr: Bus<Out>,
    /// Threshold memory address.
    pub taddr: Bus<Out>,
    /// Memory read enable (the pipeline advances).
    pub en: Signal<Out, Bit>,
    /// The accumulators take their next value (stage B holds a word and advances).
    pub acc_en: Signal<Out, Bit>,
    /// The word in stage B starts a pass.
    pub acc_first: Signal<Out, Bit>,
    /// The accumulators' results for the word in stage B: PE bits or PE scores.
    pub results: Bus<In>,
    _cfg: MvtuConfig,
    _st: CtlState,
}

#[derive(Clone, Debug, Default)]
struct CtlState {
    sf: usize,
    nf: usize,
    waddr: usize,
    v1: bool,
    first: bool,
    last: bool,
    x: Vec<u64>,
    out_valid: bool,
    out: Vec<u64>,
    ibuf: Vec<Vec<u64>>,
}

impl MvtuCtl {
    fn new(cfg: &MvtuConfig) -> Self {
        let st = CtlState {
            x: vec![0; words::words(cfg.in_bits())],
            out: vec![0; words::words(cfg.out_bits())],
            ibuf: if cfg.nf() > 1 { vec![vec![0; words::words(cfg.in_bits())]; cfg.sf()] } else { vec![] },
            ..CtlState::default()
        };
        MvtuCtl {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(cfg.in_bits()),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(cfg.out_bits()),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            x: bus::bus(cfg.in_bits()),
            addr: bus::bus(words::ubits(cfg.cycles() as u64 - 1)),
            taddr: bus::bus(if cfg.output == MvtuOutput::Threshold {
                words::ubits(cfg.nf() as u64 - 1)
            } else {
                0
            }),
            en: Signal::default(),
            acc_en: Signal::default(),
            acc_first: Signal::default(),
            results: bus::bus(cfg.out_bits()),
            _cfg: cfg.clone(),
            _st: st,
        }
    }

    fn advance(&self) -> bool {
        !self._st.out_valid || self.m_ready.val()
    }

    fn clock_edge(&mut self) {
        let c = &self._cfg;
        let (sf_n, nf_n) = (c.sf(), c.nf());
        if self.rst.val() {
            let st = &mut self._st;
            (st.sf, st.nf, st.waddr, st.v1, st.out_valid) = (0, 0, 0, false, false);
            return;
        }
        if !self.advance() {
            return;
        }
        let fire = self._st.nf != 0 || self.s_valid.val();
        let s_data = bus::read(&self.s_data);
        let results = bus::read(&self.results);
        let m_ready = self.m_ready.val();
        let st = &mut self._st;
        // Stage B: the accumulators hold the word registered last cycle.
        if st.v1 && st.last {
            st.out = results;
        }
        st.out_valid = (st.v1 && st.last) || (st.out_valid && !m_ready);
        // Stage A: the word entering now.
        st.v1 = fire;
        if fire {
            st.x = if st.nf == 0 { s_data.clone() } else { st.ibuf[st.sf].clone() };
            if st.nf == 0 && nf_n > 1 {
                st.ibuf[st.sf] = s_data;
            }
            st.first = st.sf == 0;
            st.last = st.sf + 1 == sf_n;
            st.waddr = if st.waddr + 1 == sf_n * nf_n { 0 } else { st.waddr + 1 };
            st.sf += 1;
            if st.sf == sf_n {
                st.sf = 0;
                st.nf = if st.nf + 1 == nf_n { 0 } else { st.nf + 1 };
            }
        }
    }
}

impl Logic for MvtuCtl {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.clock_edge();
        }
        let st = &self._st;
        let advance = self.advance();
        self.s_ready.next = advance && st.nf == 0;
        self.m_valid.next = st.out_valid;
        self.en.next = advance;
        self.acc_en.next = advance && st.v1;
        self.acc_first.next = st.first;
        let (x, out, waddr, nf) = (st.x.clone(), st.out.clone(), st.waddr as u64, st.nf as u64);
        bus::write(&mut self.m_data, &out);
        bus::write(&mut self.x, &x);
        let (a, t) = (self.addr.len(), self.taddr.len());
        bus::write_field(&mut self.addr, 0, a, waddr);
        bus::write_field(&mut self.taddr, 0, t, nf);
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        self.en.connect();
        self.acc_en.connect();
        self.acc_first.connect();
        bus::connect(&mut self.m_data);
        bus::connect(&mut self.x);
        bus::connect(&mut self.addr);
        bus::connect(&mut self.taddr);
    }
}

/// A matrix-vector-threshold unit: controller, per-PE weight and threshold memories, per-PE lanes.
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words of SIMD elements. `m_ready`: the consumer accepts.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`: PE bits (threshold mode) or PE accumulators (scores mode).
#[derive(LogicBlock)]
pub struct Mvtu {
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
    /// Controller and datapath.
    pub ctl: MvtuCtl,
    /// Weight memory per PE.
    pub wmem: Vec<Memory>,
    /// Lanes per PE.
    pub lanes: Vec<Lanes>,
    /// Accumulator per PE, holding its threshold memory in threshold mode.
    pub acc: Vec<Accumulator>,
    _cfg: MvtuConfig,
}

impl Mvtu {
    /// Builds the unit for `weights` (MH x MW) and, in threshold mode, `thresholds` (MH).
    pub fn new(cfg: &MvtuConfig, weights: &BitMatrix, thresholds: Option<&[i32]>) -> Result<Self, HdlError> {
        cfg.validate()?;
        let err = |message: String| Err(HdlError::Folding { layer: cfg.name.clone(), message });
        if weights.rows() != cfg.mh || weights.cols() != cfg.mw {
            return err(format!(
                "weights are {}x{}, the unit is {}x{}",
                weights.rows(),
                weights.cols(),
                cfg.mh,
                cfg.mw
            ));
        }
        let tmem: Vec<Memory> = match (cfg.output, thresholds) {
            (MvtuOutput::Threshold, Some(t)) if t.len() == cfg.mh => (0..cfg.pe)
                .map(|p| {
                    let file = format!("{}_t{p}.mem", cfg.name);
                    Memory::new(cfg.threshold_words(t, p), cfg.thr_bits(), &file, MemStyle::Distributed)
                })
                .collect(),
            (MvtuOutput::Threshold, Some(t)) => {
                return err(format!("{} thresholds for {} rows", t.len(), cfg.mh))
            }
            (MvtuOutput::Threshold, None) => return err("threshold mode needs thresholds".into()),
            (MvtuOutput::Scores, _) => Vec::new(),
        };
        let wmem = (0..cfg.pe)
            .map(|p| {
                let file = format!("{}_w{p}.mem", cfg.name);
                // The style the cost model assumed, stated in the Verilog: left to Yosys, a small
                // `Auto` ROM may land in LUTs where the estimate counted a block RAM.
                let style = compiler::dataflow::cost::resolve_style(cfg.mem_style, cfg.cycles(), cfg.simd);
                Memory::new(cfg.weight_words(weights, p), cfg.simd, &file, style)
            })
            .collect();
        Ok(Mvtu {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(cfg.in_bits()),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(cfg.out_bits()),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            ctl: MvtuCtl::new(cfg),
            wmem,
            lanes: (0..cfg.pe).map(|_| Lanes::new(cfg.simd, cfg.input, cfg.popcount)).collect(),
            acc: {
                let mut tmem = tmem.into_iter();
                (0..cfg.pe)
                    .map(|_| {
                        let (cw, signed) = (cfg.input.sum_bits(cfg.simd), cfg.signed());
                        Accumulator::new(cw, signed, cfg.reg_bits(), tmem.next())
                    })
                    .collect()
            },
            _cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MvtuConfig {
        &self._cfg
    }

    /// The memories, for writing their files.
    pub fn memories(&self) -> impl Iterator<Item = &Memory> {
        self.wmem.iter().chain(self.acc.iter().filter_map(Accumulator::rom))
    }
}

impl Logic for Mvtu {
    fn update(&mut self) {
        let c = &self._cfg;
        let rb = c.out_bits() / c.pe;
        self.ctl.clock.next = self.clock.val();
        self.ctl.rst.next = self.rst.val();
        self.ctl.s_valid.next = self.s_valid.val();
        self.s_ready.next = self.ctl.s_ready.val();
        self.m_valid.next = self.ctl.m_valid.val();
        self.ctl.m_ready.next = self.m_ready.val();
        bus::copy(&mut self.ctl.s_data, &self.s_data);
        bus::copy(&mut self.m_data, &self.ctl.m_data);
        for p in 0..c.pe {
            let m = &mut self.wmem[p];
            m.clock.next = self.clock.val();
            m.en.next = self.ctl.en.val();
            bus::copy(&mut m.addr, &self.ctl.addr);
            bus::copy(&mut self.lanes[p].x, &self.ctl.x);
            bus::copy(&mut self.lanes[p].w, &self.wmem[p].data);
            let a = &mut self.acc[p];
            a.clock.next = self.clock.val();
            a.en.next = self.ctl.acc_en.val();
            a.first.next = self.ctl.acc_first.val();
            bus::copy(&mut a.sum, &self.lanes[p].sum);
            a.ren.next = self.ctl.en.val();
            bus::copy(&mut a.taddr, &self.ctl.taddr);
            bus::copy(&mut self.ctl.results[p * rb..(p + 1) * rb], &self.acc[p].result);
        }
    }

    fn connect(&mut self) {
        self.s_ready.connect();
        self.m_valid.connect();
        bus::connect(&mut self.m_data);
        self.ctl.clock.connect();
        self.ctl.rst.connect();
        self.ctl.s_valid.connect();
        self.ctl.m_ready.connect();
        bus::connect(&mut self.ctl.s_data);
        bus::connect(&mut self.ctl.results);
        for a in &mut self.acc {
            a.clock.connect();
            a.en.connect();
            a.first.connect();
            a.ren.connect();
            bus::connect(&mut a.sum);
            bus::connect(&mut a.taddr);
        }
        for m in &mut self.wmem {
            m.clock.connect();
            m.en.connect();
            bus::connect(&mut m.addr);
        }
        for l in &mut self.lanes {
            bus::connect(&mut l.x);
            bus::connect(&mut l.w);
        }
    }
}

crate::stream_block!(Mvtu);
