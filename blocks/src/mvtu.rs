//! The matrix-vector-threshold unit: controller and datapath.
//!
//! Schedule: an input vector arrives as `SF = MW/SIMD` words of SIMD elements; the unit makes
//! `NF = MH/PE` passes over it (the first from the stream, storing it in the input buffer, the
//! others from the buffer), each pass computing PE rows and emitting one output word. With no
//! stalls it starts one word per cycle, so a vector takes exactly `NF * SF` cycles in steady
//! state; a word's result leaves two cycles after the word entered (stage A registers the word
//! and reads the memories, stage B accumulates and, at a pass's last word, loads the output
//! register).
//!
//! Row `nf*PE + p` belongs to PE `p`; its weights are words `nf*SF .. nf*SF+SF` of PE `p`'s weight
//! memory and its threshold is entry `nf` of PE `p`'s threshold memory (`-T`, so that the
//! accumulator starts a pass at `-T` and the output bit is its sign). Output bit (or score field)
//! `p` of word `nf` is row `nf*PE + p`.
//!
//! [`Controller`] is the controller's registers; [`lane_sum`], [`accumulate`] and [`result`] are
//! the datapath (lanes, accumulator, output field). [`Mvtu`] puts them together with the memories
//! for the cycle model; `hdl::mvtu` wires the same pieces as rust-hdl leaves.

use crate::bits::{mask, set, sext, words};
use crate::Unit;
use compiler::dataflow::{LaneInput, MvtuConfig, MvtuOutput};
use compiler::model::BitMatrix;

/// The MVTU's controller: counters, input buffer, the registered input word (stage B) and the
/// output register.
///
/// Registers (`sf`, `nf`, `waddr`, `v1`, `out_valid` reset to 0): `advance = !out_valid ||
/// m_ready`; `fire = advance && (nf != 0 || s_valid)` (a word enters stage A: from the stream in
/// the first pass, from the input buffer in the others). At an advancing edge: when stage B holds
/// a pass's last word (`v1 && last`) the output register takes the accumulators' `results`;
/// `out_valid <= (v1 && last) || (out_valid && !m_ready)`; `v1 <= fire`; on `fire` the word is
/// registered into `x` (and stored in the input buffer in the first pass when `NF > 1`), `first`
/// and `last` mark its position in the pass, and `waddr`, `sf`, `nf` step.
///
/// Outputs: `s_ready = advance && nf == 0`, `m_valid = out_valid`, `m_data = out`; to the
/// memories the read address `waddr` and threshold address `nf` of the word entering now (read
/// when `advance`); to the accumulators `acc_en = advance && v1` and `first`.
#[derive(Clone, Debug)]
pub struct Controller {
    sf_n: usize,
    nf_n: usize,
    in_words: usize,
    sf: usize,
    nf: usize,
    waddr: usize,
    v1: bool,
    first: bool,
    last: bool,
    x: Vec<u64>,
    out_valid: bool,
    out: Vec<u64>,
    ibuf: Vec<u64>,
}

impl Controller {
    /// The controller of `cfg` (validated by the caller).
    pub fn new(cfg: &MvtuConfig) -> Self {
        let in_words = words(cfg.in_bits());
        Controller {
            sf_n: cfg.sf(),
            nf_n: cfg.nf(),
            in_words,
            sf: 0,
            nf: 0,
            waddr: 0,
            v1: false,
            first: false,
            last: false,
            x: vec![0; in_words],
            out_valid: false,
            out: vec![0; words(cfg.out_bits())],
            ibuf: if cfg.nf() > 1 { vec![0; cfg.sf() * in_words] } else { Vec::new() },
        }
    }

    /// The pipeline advances this cycle.
    #[inline]
    pub fn advance(&self, m_ready: bool) -> bool {
        !self.out_valid || m_ready
    }

    /// `s_ready`: the pipeline advances and the unit is in its first pass.
    #[inline]
    pub fn s_ready(&self, m_ready: bool) -> bool {
        self.advance(m_ready) && self.nf == 0
    }

    /// `m_valid`.
    #[inline]
    pub fn m_valid(&self) -> bool {
        self.out_valid
    }

    /// `m_data`: PE bits or PE scores.
    #[inline]
    pub fn m_data(&self) -> &[u64] {
        &self.out
    }

    /// The registered input word (stage B), to the lanes.
    #[inline]
    pub fn x(&self) -> &[u64] {
        &self.x
    }

    /// The weight memory address of the word entering now.
    #[inline]
    pub fn waddr(&self) -> usize {
        self.waddr
    }

    /// The threshold memory address of the word entering now (its pass).
    #[inline]
    pub fn nf(&self) -> usize {
        self.nf
    }

    /// Stage B holds a word.
    #[inline]
    pub fn v1(&self) -> bool {
        self.v1
    }

    /// The word in stage B starts a pass (the accumulators start from the threshold).
    #[inline]
    pub fn first(&self) -> bool {
        self.first
    }

    /// The word in stage B ends a pass (the output register takes the results).
    #[inline]
    pub fn last(&self) -> bool {
        self.last
    }

    /// The accumulators take their next value this cycle.
    #[inline]
    pub fn acc_en(&self, m_ready: bool) -> bool {
        self.advance(m_ready) && self.v1
    }

    /// One edge without reset; `results` is what the accumulators output for the word in stage B
    /// before the edge (read only when that word ends a pass).
    #[inline]
    pub fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool, results: &[u64]) {
        if !self.advance(m_ready) {
            return;
        }
        let fire = self.nf != 0 || s_valid;
        if self.v1 && self.last {
            let n = self.out.len();
            self.out.copy_from_slice(&results[..n]);
        }
        self.out_valid = (self.v1 && self.last) || (self.out_valid && !m_ready);
        self.v1 = fire;
        if fire {
            let iw = self.in_words;
            if self.nf == 0 {
                self.x.copy_from_slice(&s_data[..iw]);
                if self.nf_n > 1 {
                    self.ibuf[self.sf * iw..(self.sf + 1) * iw].copy_from_slice(&s_data[..iw]);
                }
            } else {
                self.x.copy_from_slice(&self.ibuf[self.sf * iw..(self.sf + 1) * iw]);
            }
            self.first = self.sf == 0;
            self.last = self.sf + 1 == self.sf_n;
            self.waddr = if self.waddr + 1 == self.sf_n * self.nf_n { 0 } else { self.waddr + 1 };
            self.sf += 1;
            if self.sf == self.sf_n {
                self.sf = 0;
                self.nf = if self.nf + 1 == self.nf_n { 0 } else { self.nf + 1 };
            }
        }
    }

    /// One edge with reset high.
    pub fn reset(&mut self) {
        (self.sf, self.nf, self.waddr, self.v1, self.out_valid) = (0, 0, 0, false, false);
    }
}

/// The lanes: `sum_i lane(x_i, w_i)` over `simd` elements of `input.bits()` bits against `simd`
/// weight bits. For binary inputs the number of XNOR matches (`simd - popcount(x ^ w)`), with the
/// bits of `x` and `w` above `simd` zero.
#[inline]
pub fn lane_sum(input: LaneInput, simd: usize, x: &[u64], w: &[u64]) -> i64 {
    match input {
        LaneInput::Binary => {
            // `w` holds words(simd) words; bits above `simd` are 0 in both words (every
            // stream and memory word is masked to its width), so no mask is needed.
            // One word (SIMD <= 64) is the common case; the general loop's setup costs more than
            // its single popcount.
            let diff: u32 = match (x, w) {
                ([a, ..], [b]) => (a ^ b).count_ones(),
                _ => x.iter().zip(w).map(|(a, b)| (a ^ b).count_ones()).sum(),
            };
            simd as i64 - i64::from(diff)
        }
        LaneInput::Fixed8 { .. } => {
            (0..simd).map(|j| input.lane(crate::bits::get(x, 8 * j, 8), crate::bits::bit(w, j))).sum()
        }
    }
}

/// The accumulator's next value: `base + sum` in a `reg_bits`-bit two's-complement register
/// (the hardware wraps; valid configurations never overflow it). `base` is the pass's start
/// (`-T`, or 0 for scores) on a pass's first word, else the register.
#[inline]
pub fn accumulate(base: i64, sum: i64, reg_bits: usize) -> i64 {
    // The low `reg_bits` bits, sign-extended: shifting them to the top and back needs no mask.
    let sh = 64 - reg_bits.clamp(1, 64) as u32;
    (((base + sum) as u64) << sh) as i64 >> sh
}

/// A PE's output field: the bit `[acc >= 0]` in threshold mode, else the score's low `acc_bits`.
#[inline]
pub fn result(threshold: bool, acc: i64, acc_bits: usize) -> u64 {
    if threshold {
        u64::from(acc >= 0)
    } else {
        acc as u64 & mask(acc_bits)
    }
}

/// Why an MVTU cannot be built from a layer's weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MvtuError {
    /// The weight matrix is not `MH x MW`.
    Shape {
        /// Weight rows and columns.
        weights: (usize, usize),
        /// The unit's `MH` and `MW`.
        unit: (usize, usize),
    },
    /// Threshold mode without one threshold per row, or thresholds in scores mode.
    Activation,
}

impl std::fmt::Display for MvtuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MvtuError::Shape { weights, unit } => {
                write!(f, "weights are {}x{}, the unit is {}x{}", weights.0, weights.1, unit.0, unit.1)
            }
            MvtuError::Activation => {
                f.write_str("the layer's activation does not match the unit's output mode")
            }
        }
    }
}

impl std::error::Error for MvtuError {}

/// A whole MVTU for the cycle model: the [`Controller`], each PE's weight memory (its read
/// register `wq`), threshold memory (its address register `tq`) and accumulator.
#[derive(Clone, Debug)]
pub struct Mvtu {
    ctl: Controller,
    nf_n: usize,
    sf_n: usize,
    simd: usize,
    input: LaneInput,
    threshold: bool,
    reg_bits: usize,
    acc_bits: usize,
    /// Weight words per memory word (SIMD bits).
    ww: usize,
    /// `weights[(p * cycles + addr) * ww ..]`: PE `p`'s memory word `addr`.
    weights: Vec<u64>,
    /// `starts[p * NF + nf]`: the accumulator's start value (`-T` as the threshold memory holds
    /// it, sign-extended), 0 in scores mode.
    starts: Vec<i64>,
    wq: usize,
    tq: usize,
    acc: Vec<i64>,
    results: Vec<u64>,
}

impl Mvtu {
    /// The unit of `cfg` (validated by the caller) holding `weights` (MH x MW) and, in threshold
    /// mode, one threshold per row.
    pub fn new(cfg: &MvtuConfig, weights: &BitMatrix, thresholds: Option<&[i32]>) -> Result<Self, MvtuError> {
        if weights.rows() != cfg.mh || weights.cols() != cfg.mw {
            return Err(MvtuError::Shape {
                weights: (weights.rows(), weights.cols()),
                unit: (cfg.mh, cfg.mw),
            });
        }
        let threshold = cfg.output == MvtuOutput::Threshold;
        let starts = match (thresholds, threshold) {
            (Some(t), true) if t.len() == cfg.mh => {
                let tw = cfg.thr_bits();
                (0..cfg.pe).flat_map(|p| cfg.threshold_words(t, p)).map(|w| sext(w[0], tw)).collect()
            }
            (None, false) => vec![0; cfg.pe * cfg.nf()],
            _ => return Err(MvtuError::Activation),
        };
        Ok(Mvtu {
            ctl: Controller::new(cfg),
            nf_n: cfg.nf(),
            sf_n: cfg.sf(),
            simd: cfg.simd,
            input: cfg.input,
            threshold,
            reg_bits: cfg.reg_bits(),
            acc_bits: cfg.acc_bits(),
            ww: words(cfg.simd),
            weights: (0..cfg.pe).flat_map(|p| cfg.weight_words(weights, p)).flatten().collect(),
            starts,
            wq: 0,
            tq: 0,
            acc: vec![0; cfg.pe],
            results: vec![0; words(cfg.out_bits())],
        })
    }
}

impl Mvtu {
    /// Stage B: every PE's accumulator takes its next value; at a pass's last word the results.
    #[inline(always)]
    fn accumulate_pes(&mut self, input: LaneInput) {
        let field = if self.threshold { 1 } else { self.acc_bits };
        let cycles = self.sf_n * self.nf_n;
        let (first, last, x) = (self.ctl.first(), self.ctl.last(), self.ctl.x());
        let (ww, wq, tq, nf_n) = (self.ww, self.wq, self.tq, self.nf_n);
        let rows = self.weights.chunks_exact(cycles * ww);
        for (p, (acc, wrow)) in self.acc.iter_mut().zip(rows).enumerate() {
            let base = if first { self.starts[p * nf_n + tq] } else { *acc };
            let sum = lane_sum(input, self.simd, x, &wrow[wq * ww..(wq + 1) * ww]);
            *acc = accumulate(base, sum, self.reg_bits);
            if last {
                set(&mut self.results, p * field, field, result(self.threshold, *acc, self.acc_bits));
            }
        }
    }
}

impl Unit for Mvtu {
    fn valid(&self) -> bool {
        self.ctl.m_valid()
    }

    fn data(&self) -> &[u64] {
        self.ctl.m_data()
    }

    fn ready(&self, m_ready: bool) -> bool {
        self.ctl.s_ready(m_ready)
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        if !self.ctl.advance(m_ready) {
            return;
        }
        if self.ctl.v1() {
            // One copy of the PE loop per input kind, so that `lane_sum`'s match is decided
            // outside the loop (the binary popcount then inlines to a few instructions).
            match self.input {
                LaneInput::Binary => self.accumulate_pes(LaneInput::Binary),
                input => self.accumulate_pes(input),
            }
        }
        // The memories read the addresses of the word entering now.
        let fire = self.ctl.nf() != 0 || s_valid;
        if fire {
            (self.wq, self.tq) = (self.ctl.waddr(), self.ctl.nf());
        }
        self.ctl.edge(s_valid, s_data, m_ready, &self.results);
    }

    fn reset(&mut self) {
        self.ctl.reset();
    }
}
