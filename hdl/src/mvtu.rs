//! The matrix-vector-threshold unit: an `MH x MW` binary weight matrix folded as `PE` rows by
//! `SIMD` columns, as in FINN.
//!
//! The schedule, the controller's registers and the datapath (lanes, accumulators) are
//! [`blocks::mvtu`], run by the cycle model too; this module wires them as rust-hdl leaves: the
//! controller [`MvtuCtl`], per-PE weight memories, lanes and accumulators. A word's result leaves
//! [`LATENCY`] cycles after the word entered, plus the legalizer's pipeline stages after the lanes
//! (`MvtuHw::stages`, registers the controller holds: [`Mvtu::pipelined`]).

use crate::accumulator::Accumulator;
use crate::bus::{self, Bus};
use crate::lanes::Lanes;
use crate::memory::Memory;
use crate::words;
use crate::HdlError;
pub use compiler::dataflow::{divisors, MvtuConfig, MvtuOutput};
use compiler::model::BitMatrix;
use rust_hdl::prelude::*;

/// Cycles from the handshake of a vector's last input word to its output word being valid (the
/// legalizer's figure, which this unit's two stages implement).
pub use compiler::passes::legalize::MVTU_LATENCY as LATENCY;

/// The MVTU's controller: counters, input buffer, the registered input word, the output register.
/// Memories, lanes and accumulators are sibling blocks wired by [`Mvtu`]. Its registers and their
/// next-state logic are [`blocks::Controller`].
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words. `m_ready`: the consumer accepts.
/// - `results`: the PE accumulators' output for the word in the accumulate stage.
/// - `sums`: each PE's lane sum of the word in stage B (field `p`, read with pipeline stages).
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`: output words.
/// - `x`: the registered input word for the lanes; `addr`, `taddr`, `en`: memory reads for the
///   word entering now (`taddr`: entering the accumulate stage); `acc_en`, `acc_first`,
///   `acc_sums`: accumulator control and, with pipeline stages, the delayed lane sums for the
///   word in the accumulate stage.
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
    /// The accumulators' results for the word in stage B: PE fields (bits, k-bit integers or
    /// scores).
    pub results: Bus<In>,
    /// Each PE's lane sum of the word in stage B.
    pub sums: Bus<In>,
    /// Each PE's lane sum of the word in the accumulate stage (with pipeline stages).
    pub acc_sums: Bus<Out>,
    _cfg: MvtuConfig,
    _c: blocks::Controller,
}

impl MvtuCtl {
    fn new(cfg: &MvtuConfig, stages: usize) -> Self {
        let sum_bits = cfg.pe * cfg.input.sum_bits(cfg.simd);
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
            taddr: bus::bus(if cfg.has_tmem() { words::ubits(cfg.nf() as u64 - 1) } else { 0 }),
            en: Signal::default(),
            acc_en: Signal::default(),
            acc_first: Signal::default(),
            results: bus::bus(cfg.out_bits()),
            sums: bus::bus(sum_bits),
            acc_sums: bus::bus(sum_bits),
            _cfg: cfg.clone(),
            _c: blocks::Controller::new(cfg, stages),
        }
    }

    fn clock_edge(&mut self) {
        if self.rst.val() {
            self._c.reset();
        } else {
            let (s_data, results) = (bus::read(&self.s_data), bus::read(&self.results));
            let (cw, signed) = (self._cfg.input.sum_bits(self._cfg.simd), self._cfg.signed());
            let sums: Vec<i64> = (0..self._cfg.pe)
                .map(|p| {
                    let raw = bus::read_field(&self.sums, p * cw, cw);
                    if signed {
                        words::sext(raw, cw)
                    } else {
                        raw as i64
                    }
                })
                .collect();
            self._c.edge(self.s_valid.val(), &s_data, self.m_ready.val(), &results, &sums);
        }
    }
}

impl Logic for MvtuCtl {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.clock_edge();
        }
        let (c, m_ready) = (&self._c, self.m_ready.val());
        self.s_ready.next = c.s_ready(m_ready);
        self.m_valid.next = c.m_valid();
        self.en.next = c.advance(m_ready);
        self.acc_en.next = c.acc_en(m_ready);
        self.acc_first.next = c.acc_first();
        if let Some(sums) = c.acc_sums() {
            let cw = self.acc_sums.len() / sums.len().max(1);
            for (p, &v) in sums.iter().enumerate() {
                bus::write_field(&mut self.acc_sums, p * cw, cw, v as u64 & words::mask(cw));
            }
        }
        bus::write(&mut self.m_data, c.m_data());
        bus::write(&mut self.x, c.x());
        let (a, t) = (self.addr.len(), self.taddr.len());
        bus::write_field(&mut self.addr, 0, a, c.waddr() as u64);
        bus::write_field(&mut self.taddr, 0, t, c.taddr() as u64);
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
        bus::connect(&mut self.acc_sums);
    }
}

/// A matrix-vector-threshold unit: controller, per-PE weight and threshold memories, per-PE lanes.
///
/// ### Inputs
/// - `clock`, `rst` (synchronous, active high).
/// - `s_data`/`s_valid`: input words of SIMD elements. `m_ready`: the consumer accepts.
///
/// ### Outputs
/// - `s_ready`; `m_data`/`m_valid`: PE bits (threshold mode), PE k-bit integers (multi mode) or
///   PE accumulators (scores mode).
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
    /// Builds the unit for `weights` (MH x MW) and, in threshold or multi mode, `thresholds`
    /// (`levels` per row, row-major). The
    /// legalized hardware decisions (memory style, ROM form) shape only the Verilog (`hdl::rtl`);
    /// the simulation is the same whatever they are.
    pub fn new(cfg: &MvtuConfig, weights: &BitMatrix, thresholds: Option<&[i32]>) -> Result<Self, HdlError> {
        crate::rtl::mvtu::check(cfg, weights, thresholds)?;
        let tmem: Vec<Memory> = match thresholds {
            // `check` has refused a threshold count that is not `levels` per row.
            Some(t) if cfg.has_tmem() => {
                (0..cfg.pe).map(|p| Memory::new(cfg.threshold_words(t, p), cfg.tmem_bits())).collect()
            }
            _ => Vec::new(),
        };
        let wmem = (0..cfg.pe).map(|p| Memory::new(cfg.weight_words(weights, p), cfg.simd)).collect();
        Ok(Mvtu {
            clock: Signal::default(),
            rst: Signal::default(),
            s_data: bus::bus(cfg.in_bits()),
            s_valid: Signal::default(),
            s_ready: Signal::default(),
            m_data: bus::bus(cfg.out_bits()),
            m_valid: Signal::default(),
            m_ready: Signal::default(),
            ctl: MvtuCtl::new(cfg, 0),
            wmem,
            lanes: (0..cfg.pe).map(|_| Lanes::new(cfg.simd, cfg.input, cfg.popcount)).collect(),
            acc: {
                let mut tmem = tmem.into_iter();
                (0..cfg.pe)
                    .map(|_| {
                        let (cw, signed) = (cfg.input.sum_bits(cfg.simd), cfg.signed());
                        let finish = blocks::mvtu::Finish::of(cfg);
                        Accumulator::new(cw, signed, cfg.reg_bits(), finish, tmem.next())
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

    /// The unit with `stages` pipeline stages after the lanes (the legalizer's
    /// `MvtuHw::stages`): the controller delays the lane sums to the accumulators.
    pub fn pipelined(mut self, stages: usize) -> Self {
        self.ctl = MvtuCtl::new(&self._cfg, stages);
        self
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
            let cw = self.lanes[p].sum.len();
            if self.ctl._c.stages() == 0 {
                bus::copy(&mut a.sum, &self.lanes[p].sum);
            } else {
                bus::copy(&mut self.ctl.sums[p * cw..(p + 1) * cw], &self.lanes[p].sum);
                bus::copy(&mut a.sum, &self.ctl.acc_sums[p * cw..(p + 1) * cw]);
            }
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
        bus::connect(&mut self.ctl.sums);
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
