//! The matrix-vector-threshold unit: controller and datapath.
//!
//! Schedule: an input vector arrives as `SF = MW/SIMD` words of SIMD elements; the unit makes
//! `NF = MH/PE` passes over it (the first from the stream, storing it in the input buffer, the
//! others from the buffer), each pass computing PE rows and emitting one output word. With no
//! stalls it starts one word per cycle, so a vector takes exactly `NF * SF` cycles in steady
//! state; a word's result leaves `2 + stages` cycles after the word entered (stage A registers
//! the word and reads the memories, stage B computes the lane sums, `stages` pipeline registers
//! carry them, and the last of these stages, stage B itself without any, accumulates and, at a
//! pass's last word, loads the output register). The legalizer decides `stages`
//! (`MvtuHw::latency`): on iCE40 one register splits the lanes and adder tree from the
//! accumulator's add and compare.
//!
//! Row `nf*PE + p` belongs to PE `p`; its weights are words `nf*SF .. nf*SF+SF` of PE `p`'s weight
//! memory and its thresholds are entry `nf` of PE `p`'s threshold memory. In threshold mode the
//! entry is `-T`, so that the accumulator starts a pass at `-T` and the output bit is its sign; in
//! multi mode (k-bit activations) it holds the row's `levels` thresholds `t_j`, the accumulator
//! starts at 0, and at the pass's last word `levels` comparators `acc >= t_j` work in parallel:
//! the output is `bias + ` the number that hold, `k` bits. Output field `p`
//! of word `nf` (one bit, `k` bits or a score) is row `nf*PE + p`.
//!
//! [`Controller`] is the controller's registers; [`Lanes`], [`accumulate`] and [`Finish`] are
//! the datapath (lanes, accumulator, output stage). [`Mvtu`] puts them together with the memories
//! for the cycle model; `hdl::mvtu` wires the same pieces as rust-hdl leaves.

use crate::bits::{get, mask, set, sext, words};
use crate::Unit;
use compiler::dataflow::{LaneInput, MvtuConfig, MvtuOutput};
use compiler::model::BitMatrix;

/// The MVTU's controller: counters, input buffer, the registered input word (stage B), the
/// pipeline after the lanes and the output register.
///
/// Registers (`sf`, `nf`, `waddr`, `v1`, every stage's valid bit and `out_valid` reset to 0):
/// `advance = !out_valid || m_ready`; `fire = advance && (nf != 0 || s_valid)` (a word enters
/// stage A: from the stream in the first pass, from the input buffer in the others). With
/// `stages` pipeline stages (the legalizer's [`compiler::dataflow::MvtuHw::stages`]) each PE's
/// lane sum of the word in stage B moves, at an advancing edge, into a delay line of `stages`
/// slots of (valid, first, last, pass, sums); the word at the line's end (stage B itself with no
/// stages) is the accumulators' (the *accumulate stage*). At an advancing edge: when the
/// accumulate stage holds a pass's last word the output register takes the accumulators'
/// `results`; `out_valid <= (acc_valid && acc_last) || (out_valid && !m_ready)`; the delay line
/// shifts; `v1 <= fire`; on `fire` the word is registered into `x` (and stored in the input buffer
/// in the first pass when `NF > 1`), `first`, `last` and its pass mark its position, and `waddr`,
/// `sf`, `nf` step. Backpressure stays one signal: every register moves on `advance`.
///
/// Outputs: `s_ready = advance && nf == 0`, `m_valid = out_valid`, `m_data = out`; to the weight
/// memories the read address `waddr` of the word entering now, to the threshold memories the pass
/// of the word entering the accumulate stage ([`Controller::taddr`]), both read when `advance`;
/// to the accumulators `acc_en = advance && acc_valid`, `first` and the stage's sums.
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
    /// The pass of the word in stage B.
    pass: usize,
    out_valid: bool,
    out: Vec<u64>,
    ibuf: Vec<u64>,
    /// The delay line after the lanes, `pipe[0]` nearest them.
    pipe: Vec<Slot>,
}

/// One pipeline stage after the lanes: the word's place in its pass and each PE's lane sum.
#[derive(Clone, Debug, Default)]
struct Slot {
    valid: bool,
    first: bool,
    last: bool,
    pass: usize,
    sums: Vec<i64>,
}

impl Controller {
    /// The controller of `cfg` (validated by the caller) with `stages` pipeline stages after the
    /// lanes.
    pub fn new(cfg: &MvtuConfig, stages: usize) -> Self {
        let in_words = words(cfg.in_bits());
        let slot = Slot { sums: vec![0; cfg.pe], ..Slot::default() };
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
            pass: 0,
            out_valid: false,
            out: vec![0; words(cfg.out_bits())],
            ibuf: if cfg.nf() > 1 { vec![0; cfg.sf() * in_words] } else { Vec::new() },
            pipe: vec![slot; stages],
        }
    }

    /// Pipeline stages after the lanes.
    #[inline]
    pub fn stages(&self) -> usize {
        self.pipe.len()
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

    /// `m_data`: PE fields (bits, k-bit integers or scores).
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

    /// The pass of the word in stage B.
    #[inline]
    pub fn pass(&self) -> usize {
        self.pass
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

    /// The accumulate stage holds a word.
    #[inline]
    pub fn acc_valid(&self) -> bool {
        self.pipe.last().map_or(self.v1, |s| s.valid)
    }

    /// The word in the accumulate stage starts a pass (the accumulators start from the
    /// threshold).
    #[inline]
    pub fn acc_first(&self) -> bool {
        self.pipe.last().map_or(self.first, |s| s.first)
    }

    /// The word in the accumulate stage ends a pass (the output register takes the results).
    #[inline]
    pub fn acc_last(&self) -> bool {
        self.pipe.last().map_or(self.last, |s| s.last)
    }

    /// Each PE's lane sum of the word in the accumulate stage (with stages; without, the lanes
    /// compute it from [`Controller::x`]).
    #[inline]
    pub fn acc_sums(&self) -> Option<&[i64]> {
        self.pipe.last().map(|s| &s.sums[..])
    }

    /// The pass of the word in the accumulate stage.
    #[inline]
    pub fn acc_pass(&self) -> usize {
        self.pipe.last().map_or(self.pass, |s| s.pass)
    }

    /// The threshold memory address: the pass of the word entering the accumulate stage at the
    /// next advancing edge (the memory registers it then).
    #[inline]
    pub fn taddr(&self) -> usize {
        match self.pipe.len() {
            0 => self.nf,
            1 => self.pass,
            n => self.pipe[n - 2].pass,
        }
    }

    /// The accumulators take their next value this cycle.
    #[inline]
    pub fn acc_en(&self, m_ready: bool) -> bool {
        self.advance(m_ready) && self.acc_valid()
    }

    /// One edge without reset; `results` is what the accumulators output for the word in the
    /// accumulate stage before the edge (read only when that word ends a pass); `sums` each PE's
    /// lane sum of the word in stage B (read only with stages).
    #[inline]
    pub fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool, results: &[u64], sums: &[i64]) {
        if !self.advance(m_ready) {
            return;
        }
        let fire = self.nf != 0 || s_valid;
        let (acc_valid, acc_last) = (self.acc_valid(), self.acc_last());
        if acc_valid && acc_last {
            // One word (the usual case) without a `memcpy` call.
            if let [o] = &mut self.out[..] {
                *o = results[0];
            } else {
                let n = self.out.len();
                self.out.copy_from_slice(&results[..n]);
            }
        }
        self.out_valid = (acc_valid && acc_last) || (self.out_valid && !m_ready);
        if !self.pipe.is_empty() {
            // The oldest slot's buffer is reused for the newest.
            self.pipe.rotate_right(1);
            let s = &mut self.pipe[0];
            (s.valid, s.first, s.last, s.pass) = (self.v1, self.first, self.last, self.pass);
            if self.v1 {
                let n = s.sums.len();
                s.sums.copy_from_slice(&sums[..n]);
            }
        }
        self.v1 = fire;
        if fire {
            let iw = self.in_words;
            // One word (the usual case) without a `memcpy` call: the cycle model runs this edge
            // for every word of a streaming unit.
            if iw == 1 {
                let w = if self.nf == 0 { s_data[0] } else { self.ibuf[self.sf] };
                self.x[0] = w;
                if self.nf == 0 && self.nf_n > 1 {
                    self.ibuf[self.sf] = w;
                }
            } else if self.nf == 0 {
                self.x.copy_from_slice(&s_data[..iw]);
                if self.nf_n > 1 {
                    self.ibuf[self.sf * iw..(self.sf + 1) * iw].copy_from_slice(&s_data[..iw]);
                }
            } else {
                self.x.copy_from_slice(&self.ibuf[self.sf * iw..(self.sf + 1) * iw]);
            }
            self.first = self.sf == 0;
            self.last = self.sf + 1 == self.sf_n;
            self.pass = self.nf;
            self.waddr = if self.waddr + 1 == self.sf_n * self.nf_n { 0 } else { self.waddr + 1 };
            self.sf += 1;
            if self.sf == self.sf_n {
                self.sf = 0;
                self.nf = if self.nf + 1 == self.nf_n { 0 } else { self.nf + 1 };
            }
        }
    }

    /// The input buffer: the vector's words, stored in its first pass (empty when `NF = 1`).
    #[inline]
    pub fn buffered(&self) -> &[u64] {
        &self.ibuf
    }

    /// Edges with nothing to see at the ports: a pass after the first (its words come from
    /// the input buffer, `s_ready` is low) before its last word enters, the output register
    /// empty. How many of the coming edges are of this kind.
    #[inline]
    pub fn buffered_run(&self) -> usize {
        if self.nf == 0 || self.out_valid || self.pass_end_in_flight() {
            0
        } else {
            self.sf_n - 1 - self.sf
        }
    }

    /// A pass's last word is in stage B or in a pipeline stage after it: the output register
    /// loads when it reaches the end.
    #[inline]
    pub fn pass_end_in_flight(&self) -> bool {
        (self.v1 && self.last) || self.pipe.iter().any(|s| s.valid && s.last)
    }

    /// Applies `edges` edges of a [`Controller::buffered_run`] at once (at most its length).
    pub fn skip(&mut self, edges: usize) {
        let edges = edges.min(self.buffered_run());
        if edges == 0 {
            return;
        }
        // The words `sf .. sf + edges` enter; the last of them is in stage B afterwards. None is
        // the pass's last, so neither the pass nor the weight address wraps.
        let (iw, s) = (self.in_words, self.sf + edges - 1);
        // The delay line moves `edges` places: slot `i` takes slot `i - edges`'s word, stage B's
        // word lands in slot `edges - 1` and the run's words `sf ..` fill the slots below it; its
        // sums are left as they were (only the per-cycle reference, which does not skip, reads
        // them). In place, oldest slot first, so that each slot is read before it is
        // overwritten: no allocation per skip.
        let (sf, nf) = (self.sf, self.nf);
        for i in (0..self.pipe.len()).rev() {
            let item = if i >= edges {
                let t = &self.pipe[i - edges];
                (t.valid, t.first, t.last, t.pass)
            } else if i + 1 == edges {
                (self.v1, self.first, self.last, self.pass)
            } else {
                let w = sf + edges - 2 - i;
                (true, w == 0, false, nf)
            };
            let t = &mut self.pipe[i];
            (t.valid, t.first, t.last, t.pass) = item;
        }
        self.x.copy_from_slice(&self.ibuf[s * iw..(s + 1) * iw]);
        (self.v1, self.first, self.last, self.pass) = (true, s == 0, false, self.nf);
        self.waddr += edges;
        self.sf += edges;
    }

    /// One edge with reset high.
    pub fn reset(&mut self) {
        (self.sf, self.nf, self.waddr, self.v1, self.out_valid) = (0, 0, 0, false, false);
        self.pipe.iter_mut().for_each(|s| s.valid = false);
    }

    /// Nothing in stage B or the pipeline after it.
    #[inline]
    pub fn drained(&self) -> bool {
        !self.v1 && self.pipe.iter().all(|s| !s.valid)
    }
}

/// The lanes of one unit: `sum_i lane(x_i, w_i)` over `simd` elements of type `input` against
/// `simd` weight bits. For binary inputs the number of XNOR matches (`simd - popcount(x ^ w)`),
/// with the bits of `x` and `w` above `simd` zero; for integers `+x_i` under a 1 weight bit and
/// `-x_i` under a 0, a few popcounts per word with the masks of each element bit's plane.
///
/// An integer element is `v = sum_b c_b x_b` over its bits (`c_b = 2^b`, the top bit `-2^b` for
/// two's complement), and its lane adds `v` under a 1 weight and `-v` under a 0, so the sum is
/// `sum_b c_b (2 * #{j : w_j, x_jb} - #{j : x_jb})`: per plane two popcounts, of the plane under
/// the weights spread over the element fields ([`Lanes::weights`]) and of the plane.
#[derive(Clone, Debug)]
pub struct Lanes {
    input: LaneInput,
    simd: usize,
    /// `masks[b * n + i]`: bit `b` of every element field in word `i` (`n` words of the input).
    masks: Vec<u64>,
}

impl Lanes {
    /// The lanes of `simd` elements of type `input`.
    pub fn new(input: LaneInput, simd: usize) -> Self {
        let (eb, n) = (input.bits(), words(simd * input.bits()));
        let mut masks = Vec::new();
        if let LaneInput::Int { .. } = input {
            masks = vec![0u64; eb * n];
            for b in 0..eb {
                for j in 0..simd {
                    let bit = j * eb + b;
                    masks[b * n + bit / 64] |= 1 << (bit % 64);
                }
            }
        }
        Lanes { input, simd, masks }
    }

    /// A weight word of `simd` bits in the form [`Lanes::sum`] takes: as is for binary elements;
    /// for integers spread over the element fields (bit `j * k + b` is weight bit `j`).
    pub fn weights(&self, w: &[u64]) -> Vec<u64> {
        match self.input {
            LaneInput::Binary => w.to_vec(),
            LaneInput::Int { .. } => {
                let eb = self.input.bits();
                let mut spread = vec![0u64; words(self.simd * eb)];
                for j in (0..self.simd).filter(|&j| crate::bits::bit(w, j)) {
                    set(&mut spread, j * eb, eb, mask(eb));
                }
                spread
            }
        }
    }

    /// The lanes' sum for input word `x` and weight word `w` in the form of [`Lanes::weights`].
    #[inline]
    pub fn sum(&self, x: &[u64], w: &[u64]) -> i64 {
        sum_lanes(self.input, self.simd, &self.masks, x, w)
    }
}

/// [`Lanes::sum`] with its parts, so that a caller that knows `input` at compile time gets a
/// copy specialized for it.
#[inline(always)]
fn sum_lanes(input: LaneInput, simd: usize, masks: &[u64], x: &[u64], w: &[u64]) -> i64 {
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
        LaneInput::Int { bits, signed } => {
            let (eb, n) = (usize::from(bits), w.len());
            let mut sum = 0i64;
            for (b, m) in masks.chunks_exact(n).enumerate().take(eb) {
                let (mut under_one, mut all) = (0u32, 0u32);
                for ((&xi, &wi), &mi) in x.iter().zip(w).zip(m) {
                    let plane = xi & mi;
                    all += plane.count_ones();
                    under_one += (plane & wi).count_ones();
                }
                let weight = if signed && b + 1 == eb { -(1i64 << b) } else { 1i64 << b };
                sum += weight * (2 * i64::from(under_one) - i64::from(all));
            }
            sum
        }
    }
}

/// The accumulator's next value: `base + sum` in a `reg_bits`-bit two's-complement register
/// (the hardware wraps; valid configurations never overflow it). `base` is the pass's start
/// (`-T`, or 0 in the other modes) on a pass's first word, else the register.
#[inline]
pub fn accumulate(base: i64, sum: i64, reg_bits: usize) -> i64 {
    // The low `reg_bits` bits, sign-extended: shifting them to the top and back needs no mask.
    let sh = 64 - reg_bits.clamp(1, 64) as u32;
    (((base + sum) as u64) << sh) as i64 >> sh
}

/// A PE's output stage: what it makes of its accumulator at a pass's last word, reading its
/// threshold memory's word for the pass (`-T`, or `levels` fields `t_j`, see
/// [`MvtuConfig::threshold_words`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The bit `[acc >= 0]`: the accumulator started the pass at `-T`.
    Threshold {
        /// Width of the stored `-T` (the accumulator's).
        thr_bits: usize,
    },
    /// `bias + #{j : acc >= t_j}` in `bits` bits (two's complement or not, the low bits either
    /// way): `levels` comparators in parallel, each of the accumulator against field `j` of the
    /// threshold word (`t_bits`-bit two's complement).
    Multi {
        /// Thresholds per row.
        levels: usize,
        /// Width of each stored `t_j`.
        t_bits: usize,
        /// The output of an accumulator below every threshold.
        bias: i64,
        /// Output bits.
        bits: usize,
    },
    /// The low `bits` bits of the accumulator (the scores).
    Scores {
        /// Score width.
        bits: usize,
    },
}

impl Finish {
    /// The output stage of `cfg`'s PEs.
    pub fn of(cfg: &MvtuConfig) -> Self {
        match cfg.output {
            MvtuOutput::Threshold => Finish::Threshold { thr_bits: cfg.thr_bits() },
            MvtuOutput::Multi { ty, bias, levels } => Finish::Multi {
                levels,
                t_bits: cfg.tfield_bits(),
                bias: i64::from(bias),
                bits: usize::from(ty.bits),
            },
            MvtuOutput::Scores => Finish::Scores { bits: cfg.acc_bits() },
        }
    }

    /// Bits of the PE's output field.
    pub fn field_bits(self) -> usize {
        match self {
            Finish::Threshold { .. } => 1,
            Finish::Multi { bits, .. } | Finish::Scores { bits } => bits,
        }
    }

    /// The accumulator's value at a pass's start: the stored `-T` in threshold mode, else 0.
    #[inline]
    pub fn start(self, tword: &[u64]) -> i64 {
        match self {
            Finish::Threshold { thr_bits } => sext(tword.first().copied().unwrap_or(0), thr_bits),
            _ => 0,
        }
    }

    /// The output field for accumulator `acc` (its last value of the pass) and the pass's
    /// threshold word `tword`.
    #[inline]
    pub fn result(self, acc: i64, tword: &[u64]) -> u64 {
        match self {
            Finish::Threshold { .. } => u64::from(acc >= 0),
            Finish::Multi { levels, t_bits, bias, bits } => {
                let met =
                    (0..levels).filter(|&j| acc >= sext(get(tword, j * t_bits, t_bits), t_bits)).count();
                (bias + met as i64) as u64 & mask(bits)
            }
            Finish::Scores { bits } => acc as u64 & mask(bits),
        }
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
    /// Threshold or multi mode without `levels` thresholds per row, or thresholds in scores mode.
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
    finish: Finish,
    reg_bits: usize,
    /// The lanes (shared by every PE).
    lanes: Lanes,
    /// Words per weight word in the lanes' form ([`Lanes::weights`]).
    ww: usize,
    /// `weights[(p * cycles + addr) * ww ..]`: PE `p`'s memory word `addr`, in the lanes' form.
    weights: Vec<u64>,
    /// `starts[p * NF + nf]`: the accumulator's start value (`-T` as the threshold memory holds
    /// it, sign-extended), 0 in the other modes.
    starts: Vec<i64>,
    /// Words per threshold-memory word in multi mode (0 otherwise).
    tw: usize,
    /// `tmem[(p * NF + nf) * tw ..]`: PE `p`'s threshold word `nf` in multi mode.
    tmem: Vec<u64>,
    wq: usize,
    tq: usize,
    acc: Vec<i64>,
    results: Vec<u64>,
    /// Each PE's lane sum of the word in stage B (with pipeline stages, per cycle).
    sums: Vec<i64>,
    /// Lazy mode with pipeline stages: the results of the passes whose last word is on its way
    /// from stage B to the accumulate stage, oldest first, in a ring of `stages + 1` buffers
    /// (each computed when its word was in stage B) from `q_head`, `q_len` of them.
    queued: Vec<Vec<u64>>,
    q_head: usize,
    q_len: usize,
    /// Accumulate a pass at its last word (see [`Mvtu::set_per_cycle`]).
    lazy: bool,
    /// The input words of the pass so far, in stage-B order (lazy mode, `NF = 1`; with more
    /// passes the controller's input buffer holds them).
    pass_x: Vec<u64>,
    /// Words in `pass_x`.
    pass_n: usize,
    /// Lazy mode: the vector of the pass, its `SF` words of `lb = SIMD * element bits` bits
    /// packed into one bit string of `pw` words, cut into the element-bit planes of integer
    /// inputs (one for binary ones), every pass over the vector reading the same.
    planes: Vec<u64>,
    /// `sum_b c_b #{x_jb}` over the planes (integer inputs; see [`Lanes`]).
    planes_all: i64,
    /// `planes` holds the present vector (every pass after the first reuses it).
    planes_fresh: bool,
    /// Words of a packed bit string (`MW * element bits` bits).
    pw: usize,
    /// `packed_w[((p * NF) + nf) * pw ..]`: PE `p`'s weights of pass `nf` in the lanes' form,
    /// packed as the vector is.
    packed_w: Vec<u64>,
    /// `packed_masks[b * pw ..]`: bit `b` of every element of the packed vector (integers of
    /// fewer than [`WIDE_BITS`] bits).
    packed_masks: Vec<u64>,
    /// Integers of [`WIDE_BITS`] bits or more, lazy mode: the vector's elements, one each.
    values: Vec<i32>,
    /// `selects[(p * NF + nf) * MW + j]`: all ones where PE `p`'s weight `j` of pass `nf` is 1,
    /// else 0 (wide integers).
    selects: Vec<i32>,
    /// PE-major copies of the pass weights, for units of at least [`PE_MAJOR`] PEs: binary
    /// inputs `major_w[(nf * pw + i) * P + p]` (word `i` of `packed_w`'s row `p * NF + nf`),
    /// wide integers `major_sel[(nf * MW + j) * P + p]` (of `selects`), `P` the PE count
    /// rounded up to a whole vector of lanes ([`U64_LANES`], [`I32_LANES`]; zeros beyond the
    /// PEs); empty otherwise. A pass then takes each vector word (element) once across the PEs,
    /// their sums held in vector registers.
    major_w: Vec<u64>,
    major_sel: Vec<i32>,
    /// `major_starts[nf * PE + p]`: `starts[p * NF + nf]`, with PE-major weights.
    major_starts: Vec<i64>,
    /// Scratch of the PE-major pass: each PE's differing bits (binary) or selected sum (wide).
    major_diff: Vec<u64>,
    major_under: Vec<i32>,
}

/// From this many bits per element on, a lane sum is cheaper element by element (a few
/// elements per vector instruction) than by element-bit planes (`bits` popcounts per word).
const WIDE_BITS: usize = 4;

/// From this many PEs on, a lazy pass runs PE-major (see `Mvtu::major_w`): fewer PEs fill too
/// little of a vector register to beat each PE's own loop over its words.
const PE_MAJOR: usize = 4;

/// The PEs a PE-major binary pass counts at once: `u64` lanes of a 512-bit vector.
const U64_LANES: usize = 8;

/// The PEs a PE-major wide pass sums at once: `i32` lanes of a 512-bit vector.
const I32_LANES: usize = 16;

/// The most elements a PE-major wide pass sums in `i32` lanes: `|x_j| < 2^8`, so the sum stays
/// below `2^30`.
const MAJOR_MAX_MW: usize = 1 << 22;

impl Mvtu {
    /// The unit of `cfg` (validated by the caller) holding `weights` (MH x MW) and, in threshold
    /// or multi mode, `levels` thresholds per row (row-major).
    pub fn new(cfg: &MvtuConfig, weights: &BitMatrix, thresholds: Option<&[i32]>) -> Result<Self, MvtuError> {
        if weights.rows() != cfg.mh || weights.cols() != cfg.mw {
            return Err(MvtuError::Shape {
                weights: (weights.rows(), weights.cols()),
                unit: (cfg.mh, cfg.mw),
            });
        }
        let finish = Finish::of(cfg);
        let tmem: Vec<Vec<u64>> = match thresholds {
            Some(t) if cfg.has_tmem() && t.len() == cfg.mh * cfg.output.levels() => {
                (0..cfg.pe).flat_map(|p| cfg.threshold_words(t, p)).collect()
            }
            None if !cfg.has_tmem() => Vec::new(),
            _ => return Err(MvtuError::Activation),
        };
        let starts = match finish {
            Finish::Threshold { .. } => tmem.iter().map(|w| finish.start(w)).collect(),
            _ => vec![0; cfg.pe * cfg.nf()],
        };
        let multi = matches!(finish, Finish::Multi { .. });
        let lanes = Lanes::new(cfg.input, cfg.simd);
        let weights: Vec<u64> =
            (0..cfg.pe).flat_map(|p| cfg.weight_words(weights, p)).flat_map(|w| lanes.weights(&w)).collect();
        let (eb, sf, nf) = (cfg.input.bits(), cfg.sf(), cfg.nf());
        let (lb, ww) = (cfg.simd * eb, words(cfg.simd * eb));
        let pw = words(sf * lb);
        let mut packed_w = vec![0u64; cfg.pe * nf * pw];
        for (dst, pass) in packed_w.chunks_exact_mut(pw).zip(weights.chunks_exact(sf * ww)) {
            pack(dst, pass, ww, lb);
        }
        let (mut packed_masks, mut selects) = (Vec::new(), Vec::new());
        let wide = matches!(cfg.input, LaneInput::Int { .. }) && eb >= WIDE_BITS;
        if wide {
            // A weight in the lanes' form covers its element's whole field.
            selects = packed_w
                .chunks_exact(pw)
                .flat_map(|w| (0..cfg.mw).map(move |j| -i32::from(crate::bits::bit(w, j * eb))))
                .collect();
        } else if let LaneInput::Int { .. } = cfg.input {
            packed_masks = vec![0u64; eb * pw];
            for b in 0..eb {
                for j in 0..cfg.mw {
                    let bit = j * eb + b;
                    packed_masks[b * pw + bit / 64] |= 1 << (bit % 64);
                }
            }
        }
        let (pe, mw) = (cfg.pe, cfg.mw);
        let (mut major_w, mut major_sel) = (Vec::new(), Vec::new());
        if pe >= PE_MAJOR && cfg.input == LaneInput::Binary {
            let (w, lanes) = (&packed_w, pe.next_multiple_of(U64_LANES));
            major_w = (0..nf * pw)
                .flat_map(|k| {
                    (0..lanes).map(move |p| if p < pe { w[(p * nf + k / pw) * pw + k % pw] } else { 0 })
                })
                .collect();
        } else if pe >= PE_MAJOR && wide && mw <= MAJOR_MAX_MW {
            let (sel, lanes) = (&selects, pe.next_multiple_of(I32_LANES));
            major_sel = (0..nf * mw)
                .flat_map(|k| {
                    (0..lanes).map(move |p| if p < pe { sel[(p * nf + k / mw) * mw + k % mw] } else { 0 })
                })
                .collect();
        }
        let major_starts = if major_w.is_empty() && major_sel.is_empty() {
            Vec::new()
        } else {
            (0..nf * pe).map(|k| starts[(k % pe) * nf + k / pe]).collect()
        };
        Ok(Mvtu {
            ctl: Controller::new(cfg, 0),
            nf_n: cfg.nf(),
            sf_n: cfg.sf(),
            simd: cfg.simd,
            input: cfg.input,
            finish,
            reg_bits: cfg.reg_bits(),
            ww,
            weights,
            lanes,
            starts,
            tw: if multi { words(cfg.tmem_bits()) } else { 0 },
            tmem: if multi { tmem.into_iter().flatten().collect() } else { Vec::new() },
            wq: 0,
            tq: 0,
            acc: vec![0; cfg.pe],
            results: vec![0; words(cfg.out_bits())],
            sums: vec![0; cfg.pe],
            queued: Vec::new(),
            q_head: 0,
            q_len: 0,
            lazy: true,
            pass_x: vec![0; cfg.sf() * words(cfg.simd * cfg.input.bits())],
            pass_n: 0,
            planes: vec![0; if wide { pw } else { eb * pw }],
            planes_all: 0,
            planes_fresh: false,
            pw,
            packed_w,
            packed_masks,
            values: vec![0; if wide { cfg.mw } else { 0 }],
            selects,
            major_diff: vec![0; if major_w.is_empty() { 0 } else { pe.next_multiple_of(U64_LANES) }],
            major_under: vec![0; if major_sel.is_empty() { 0 } else { pe.next_multiple_of(I32_LANES) }],
            major_starts,
            major_w,
            major_sel,
        })
    }

    /// Accumulate every cycle, as the hardware does (`true`), or (the default) accumulate the
    /// whole pass at its last word, over the vector packed once (from the input buffer, or the
    /// words kept when there is one pass per vector), and let a pass from the input buffer
    /// sleep ([`Unit::sleep`]) until its last word. The ports see the same words
    /// on the same cycles either way: the accumulators are internal, the output register takes
    /// them only at a pass's end, and a wrapping register's sum does not depend on the order of
    /// its additions. Per cycle is the reference the lazy form is tested against. Call it
    /// between runs, with the unit drained (the driver's reset drains it): a pass end still in
    /// the pipeline would find its queued result gone.
    pub fn set_per_cycle(&mut self, per_cycle: bool) {
        debug_assert!(self.ctl.drained(), "set_per_cycle on an MVTU with words in flight");
        self.lazy = !per_cycle;
        (self.pass_n, self.planes_fresh, self.q_len) = (0, false, 0);
    }

    /// The unit with `stages` pipeline stages after the lanes (the legalizer's
    /// [`compiler::dataflow::MvtuHw::stages`]; `cfg` is the one it was built from).
    pub fn pipelined(mut self, cfg: &MvtuConfig, stages: usize) -> Self {
        self.ctl = Controller::new(cfg, stages);
        self.queued = vec![vec![0; self.results.len()]; stages + 1];
        self.set_per_cycle(!self.lazy);
        self
    }

    /// How many coming edges leave `m_valid` and `m_data` as they are whatever words enter: in a
    /// vector's first pass with the output register empty, the edges up to the one that takes
    /// the pass's last word (the register loads only at the edge after it, or after the pipeline
    /// stages, and no earlier pass's last word is still on its way); 0 otherwise. A
    /// simulator may run such edges for the unit and the FIFO feeding it without looking at the
    /// unit's consumer. With `hand_over`, a full output register counts too, its word taken by
    /// the consumer at the first of these edges (`m_ready` high): the register is empty after
    /// it, the pipeline advancing as it does with an empty one.
    pub fn first_pass_quiet(&self, hand_over: bool) -> u64 {
        let c = &self.ctl;
        if c.m_valid() && !hand_over || c.nf() != 0 || c.pass_end_in_flight() {
            0
        } else {
            // In the first pass the weight address is the word index `sf` of the next word.
            (self.sf_n - c.waddr()) as u64
        }
    }

    /// [`Mvtu::first_pass_quiet`] and, without pipeline stages, the edge after it: the one that
    /// may load the output register (when the pass's words entered on consecutive edges), and
    /// the run's last. Its words still come from the FIFO as it is ready for them; a simulator
    /// may run these edges for the unit and its FIFO without looking at the unit's consumer
    /// (but for the handshake at the first, with `hand_over`), which sees the register from
    /// the cycle after the last.
    pub fn first_pass_run(&self, hand_over: bool) -> u64 {
        let q = self.first_pass_quiet(hand_over);
        q + u64::from(q > 0 && self.ctl.stages() == 0)
    }

    /// [`Mvtu::first_pass_run`] and, without pipeline stages, the same in a pass from the
    /// input buffer: the edges up to the one that loads the output register at the present
    /// pass's end (the pass's words still to enter, one an edge, and the edge after the last),
    /// none loading it before (no pass end in flight), the register empty but for the first
    /// edge's handshake with `hand_over`. A buffered pass takes no word from the FIFO but the
    /// vector's last, whose last word raises `s_ready` for the next vector's, which the FIFO
    /// hands over as in a first pass. A simulator running the unit with its FIFO and window
    /// unit may run these edges without looking at the unit's consumer.
    pub fn chain_run(&self, hand_over: bool) -> u64 {
        let c = &self.ctl;
        if c.stages() > 0 {
            return self.first_pass_run(hand_over);
        }
        if c.m_valid() && !hand_over || c.pass_end_in_flight() {
            return 0;
        }
        // The weight address counts the vector's words: the next word's index in its pass (in
        // a first pass, `first_pass_run`'s count).
        (self.sf_n - c.waddr() % self.sf_n + 1) as u64
    }
}

impl Mvtu {
    /// Edges of a pass from the input buffer that show nothing at the ports: the controller's
    /// [`Controller::buffered_run`] and, in a pass before the vector's last, the edge that
    /// takes the pass's last word too (the next pass also reads the buffer, so `s_ready` stays
    /// low, and the output register loads only an edge or more later). Waking before that edge
    /// cost the cycle model a visit per pass.
    fn buffered_quiet(&self) -> usize {
        let c = &self.ctl;
        if c.nf() == 0 || c.m_valid() || c.pass_end_in_flight() {
            return 0;
        }
        c.buffered_run() + usize::from(c.nf() + 1 < self.nf_n)
    }

    /// [`Unit::run_alone`]: in lazy mode without pipeline stages, a pass from the input buffer
    /// with the output register empty runs whatever the inputs (its words come from the
    /// buffer, `s_ready` stays low, and the pipeline advances whatever the consumer's ready)
    /// up to and including its last word entering (in the vector's last pass that edge raises
    /// `s_ready`, ending the run); in a pass before the vector's last, also the edge after it,
    /// which loads the output register as the next pass's first word enters (unless that word
    /// ends the vector's passes, raising `s_ready`; a guard only: that needs one word a pass,
    /// where a pass end is always in flight and nothing runs alone). 0 otherwise. The cycle
    /// model then visits the unit once per pass, for the output handshake, instead of three
    /// times.
    fn alone(&self) -> usize {
        let c = &self.ctl;
        if !self.lazy || c.stages() > 0 || c.nf() == 0 || c.m_valid() || c.pass_end_in_flight() {
            return 0;
        }
        let more = c.nf() + 1 < self.nf_n;
        let load = more && (self.sf_n > 1 || c.nf() + 2 < self.nf_n);
        // In the vector's last pass the edge taking its last word ends the run: it raises
        // `s_ready` for the next vector's words, which the unit takes awake.
        c.buffered_run() + 1 + usize::from(load)
    }

    /// Stage B: every PE's accumulator takes its next value; at a pass's last word the results.
    #[inline(always)]
    fn accumulate_pes(&mut self, input: LaneInput) {
        let field = self.finish.field_bits();
        let cycles = self.sf_n * self.nf_n;
        let (first, last, x) = (self.ctl.first(), self.ctl.last(), self.ctl.x());
        let (ww, wq, tq, nf_n, tw) = (self.ww, self.wq, self.tq, self.nf_n, self.tw);
        let rows = self.weights.chunks_exact(cycles * ww);
        for (p, (acc, wrow)) in self.acc.iter_mut().zip(rows).enumerate() {
            let base = if first { self.starts[p * nf_n + tq] } else { *acc };
            let sum = sum_lanes(input, self.simd, &self.lanes.masks, x, &wrow[wq * ww..(wq + 1) * ww]);
            *acc = accumulate(base, sum, self.reg_bits);
            if last {
                let t = (p * nf_n + tq) * tw;
                let r = self.finish.result(*acc, &self.tmem[t..t + tw]);
                set(&mut self.results, p * field, field, r);
            }
        }
    }
}

impl Mvtu {
    /// With stages: every PE's lane sum of the word in stage B, into `sums`.
    #[inline(always)]
    fn lane_sums(&mut self, input: LaneInput) {
        let cycles = self.sf_n * self.nf_n;
        let (x, ww, wq) = (self.ctl.x(), self.ww, self.wq);
        let rows = self.weights.chunks_exact(cycles * ww);
        for (sum, wrow) in self.sums.iter_mut().zip(rows) {
            *sum = sum_lanes(input, self.simd, &self.lanes.masks, x, &wrow[wq * ww..(wq + 1) * ww]);
        }
    }

    /// With stages: every PE's accumulator takes the sum the pipeline delivers; at a pass's last
    /// word the results.
    fn accumulate_delayed(&mut self) {
        let field = self.finish.field_bits();
        let (first, last) = (self.ctl.acc_first(), self.ctl.acc_last());
        let (tq, nf_n, tw) = (self.tq, self.nf_n, self.tw);
        let sums = self.ctl.acc_sums().unwrap_or(&[]);
        for (p, (acc, &sum)) in self.acc.iter_mut().zip(sums).enumerate() {
            let base = if first { self.starts[p * nf_n + tq] } else { *acc };
            *acc = accumulate(base, sum, self.reg_bits);
            if last {
                let t = (p * nf_n + tq) * tw;
                let r = self.finish.result(*acc, &self.tmem[t..t + tw]);
                set(&mut self.results, p * field, field, r);
            }
        }
    }

    /// Lazy mode with one pass per vector: keeps the word in stage B for its pass.
    #[inline]
    fn keep_word(&mut self) {
        if self.ctl.first() {
            self.pass_n = 0;
        }
        let x = self.ctl.x();
        let iw = x.len();
        self.pass_x[self.pass_n * iw..(self.pass_n + 1) * iw].copy_from_slice(x);
        self.pass_n += 1;
    }

    /// Lazy mode: packs the vector of the pass into `planes` (and counts them), unless they
    /// hold it already (a pass after the first).
    fn pack_vector(&mut self, input: LaneInput, pass: usize) {
        if self.planes_fresh && pass != 0 {
            return;
        }
        // Every pass over a vector reads the same words: those of the input buffer (filled in
        // the first pass, overwritten only by the next vector's first words, which enter after
        // this edge) or, with one pass, the ones kept.
        let (eb, pw) = (input.bits(), self.pw);
        let iw = self.ctl.x().len();
        let xs = if self.nf_n > 1 { self.ctl.buffered() } else { &self.pass_x[..] };
        let (first, rest) = self.planes.split_at_mut(pw);
        pack(first, &xs[..self.sf_n * iw], iw, self.simd * eb);
        self.planes_all = 0;
        if !self.selects.is_empty() {
            let signed = matches!(input, LaneInput::Int { signed: true, .. });
            for (j, v) in self.values.iter_mut().enumerate() {
                let raw = get(first, j * eb, eb);
                *v = if signed { sext(raw, eb) as i32 } else { raw as i32 };
                self.planes_all += i64::from(*v);
            }
        } else if let LaneInput::Int { .. } = input {
            // An integer lane sums `c_b (2 #{w_j, x_jb} - #{x_jb})` per plane `b` (see
            // [`Lanes`]): the planes are cut once, and their counts `#{x_jb}` are the same for
            // every PE. Plane 0 is cut last, from the packed words it replaces.
            for b in (0..eb).rev() {
                let m = &self.packed_masks[b * pw..(b + 1) * pw];
                let ones: u32 = if b == 0 {
                    first
                        .iter_mut()
                        .zip(m)
                        .map(|(d, m)| {
                            *d &= m;
                            d.count_ones()
                        })
                        .sum()
                } else {
                    let plane = &mut rest[(b - 1) * pw..b * pw];
                    plane
                        .iter_mut()
                        .zip(first.iter())
                        .zip(m)
                        .map(|((d, x), m)| {
                            *d = x & m;
                            d.count_ones()
                        })
                        .sum()
                };
                self.planes_all += plane_weight(input, b) * i64::from(ones);
            }
        }
        self.planes_fresh = true;
    }

    /// Lazy mode, at the last word of pass `pass`: every PE's accumulator over the whole pass,
    /// then the results, as [`Mvtu::accumulate_pes`] leaves them after the pass's last cycle.
    fn accumulate_pass(&mut self, input: LaneInput, pass: usize) {
        self.pack_vector(input, pass);
        let field = self.finish.field_bits();
        let (tq, nf_n, tw, pw) = (pass, self.nf_n, self.tw, self.pw);
        let lanes = (self.sf_n * self.simd) as i64;
        if !(self.major_w.is_empty() && self.major_sel.is_empty()) {
            self.major_pass(pass);
            self.major_finish(input, lanes, pass);
            return;
        }
        let (planes, all) = (&self.planes, self.planes_all);
        // Threshold mode's fields are single bits, all of them rewritten at a pass's end: set
        // them whole words at a time rather than through `set`'s per-bit loop, which cost as
        // much as a short pass's popcounts.
        let bits = matches!(self.finish, Finish::Threshold { .. });
        if bits {
            self.results.iter_mut().for_each(|w| *w = 0);
        }
        for (p, acc) in self.acc.iter_mut().enumerate() {
            // PE `p`'s weights of pass `tq`, indexed directly: a `skip().step_by()` over the
            // chunks cost more per PE than a short pass's popcounts.
            let row = p * nf_n + tq;
            let w = &self.packed_w[row * pw..(row + 1) * pw];
            let sum: i64 = match input {
                LaneInput::Binary => {
                    let diff: u32 = if pw == 1 {
                        (planes[0] ^ w[0]).count_ones()
                    } else {
                        planes.iter().zip(w).map(|(a, b)| (a ^ b).count_ones()).sum()
                    };
                    lanes - i64::from(diff)
                }
                LaneInput::Int { .. } if !self.selects.is_empty() => {
                    // `sum_j (w_j ? x_j : -x_j) = 2 sum_{w_j} x_j - sum_j x_j`.
                    let mw = self.values.len();
                    let sel = &self.selects[row * mw..(row + 1) * mw];
                    2 * select_sum(sel, &self.values) - all
                }
                LaneInput::Int { .. } => {
                    // A spread weight word selects whole elements of every plane.
                    let under: i64 = planes
                        .chunks_exact(pw)
                        .enumerate()
                        .map(|(b, plane)| {
                            let ones: u32 = plane.iter().zip(w).map(|(x, w)| (x & w).count_ones()).sum();
                            plane_weight(input, b) * i64::from(ones)
                        })
                        .sum();
                    2 * under - all
                }
            };
            *acc = accumulate(self.starts[row], sum, self.reg_bits);
            if bits {
                self.results[p / 64] |= u64::from(*acc >= 0) << (p % 64);
            } else {
                let t = row * tw;
                let r = self.finish.result(*acc, &self.tmem[t..t + tw]);
                set(&mut self.results, p * field, field, r);
            }
        }
    }
}

impl Mvtu {
    /// Lazy mode, PE-major weights, after [`Mvtu::major_pass`]: the accumulators and results,
    /// PE after PE over contiguous arrays (the starts of the pass in `major_starts`), so that
    /// the compiler runs these loops in vector lanes too.
    fn major_finish(&mut self, input: LaneInput, lanes: i64, tq: usize) {
        let (pe, reg_bits, all) = (self.acc.len(), self.reg_bits, self.planes_all);
        let starts = &self.major_starts[tq * pe..(tq + 1) * pe];
        if input == LaneInput::Binary {
            for ((acc, &d), &s) in self.acc.iter_mut().zip(&self.major_diff).zip(starts) {
                *acc = accumulate(s, lanes - d as i64, reg_bits);
            }
        } else {
            for ((acc, &u), &s) in self.acc.iter_mut().zip(&self.major_under).zip(starts) {
                *acc = accumulate(s, 2 * i64::from(u) - all, reg_bits);
            }
        }
        if let Finish::Threshold { .. } = self.finish {
            for (word, accs) in self.results.iter_mut().zip(self.acc.chunks(64)) {
                *word = accs.iter().enumerate().fold(0, |w, (k, &a)| w | u64::from(a >= 0) << k);
            }
        } else {
            let (field, nf_n, tw) = (self.finish.field_bits(), self.nf_n, self.tw);
            for (p, &acc) in self.acc.iter().enumerate() {
                let t = (p * nf_n + tq) * tw;
                let r = self.finish.result(acc, &self.tmem[t..t + tw]);
                set(&mut self.results, p * field, field, r);
            }
        }
    }

    /// Lazy mode, PE-major weights: every PE's differing bits (binary) or selected sum (wide
    /// integers) of the pass into `major_diff` or `major_under`, one vector word or element at
    /// a time across all PEs.
    fn major_pass(&mut self, tq: usize) {
        if !self.major_w.is_empty() {
            let (pw, lanes) = (self.pw, self.major_diff.len());
            let pass = &self.major_w[tq * pw * lanes..(tq + 1) * pw * lanes];
            for (c, out) in self.major_diff.chunks_exact_mut(U64_LANES).enumerate() {
                // A local array of one vector's width stays in a register across the words.
                let mut diff = [0u64; U64_LANES];
                for (i, &x) in self.planes[..pw].iter().enumerate() {
                    let col = &pass[i * lanes + c * U64_LANES..][..U64_LANES];
                    for (d, &w) in diff.iter_mut().zip(col) {
                        *d += u64::from((x ^ w).count_ones());
                    }
                }
                out.copy_from_slice(&diff);
            }
        } else {
            let (mw, lanes) = (self.values.len(), self.major_under.len());
            let pass = &self.major_sel[tq * mw * lanes..(tq + 1) * mw * lanes];
            for (c, out) in self.major_under.chunks_exact_mut(I32_LANES).enumerate() {
                let mut under = [0i32; I32_LANES];
                for (j, &x) in self.values.iter().enumerate() {
                    let col = &pass[j * lanes + c * I32_LANES..][..I32_LANES];
                    for (u, &s) in under.iter_mut().zip(col) {
                        *u += s & x;
                    }
                }
                out.copy_from_slice(&under);
            }
        }
    }
}

/// `sum_j (sel_j & x_j)` over elements of at most [`compiler::model::MAX_ACT_BITS`] bits: in
/// `i32` lanes (twice as many per vector instruction as `i64`), a block at a time so that no
/// block's sum can overflow them.
#[inline]
fn select_sum(sel: &[i32], x: &[i32]) -> i64 {
    // |x_j| < 2^8: a block of 2^20 elements sums below 2^28.
    const BLOCK: usize = 1 << 20;
    sel.chunks(BLOCK)
        .zip(x.chunks(BLOCK))
        .map(|(s, x)| i64::from(s.iter().zip(x).map(|(s, v)| s & v).sum::<i32>()))
        .sum()
}

impl Mvtu {
    /// In a vector's first pass (its next word comes from the stream), the output register empty
    /// and no pass's last word on its way to it: edges without an input word change nothing at
    /// the ports (words already in stage B or after it move on, settled after one edge per
    /// stage and one more).
    fn waiting(&self) -> bool {
        let c = &self.ctl;
        !c.m_valid() && c.nf() == 0 && !c.pass_end_in_flight()
    }

    /// Lazy mode, the word in stage B ending its pass: the whole pass, into `results`.
    fn pass_at_stage_b(&mut self) {
        let pass = self.ctl.pass();
        match self.input {
            LaneInput::Binary => self.accumulate_pass(LaneInput::Binary, pass),
            input => self.accumulate_pass(input, pass),
        }
    }

    /// [`Unit::edge`] with pipeline stages after the lanes, the pipeline advancing: the
    /// accumulate stage's word first, then stage B's. In lazy mode a pass is computed when its
    /// last word is in stage B, while the vector's words are all still held (the next vector's
    /// would overwrite the input buffer or the kept words before that word reaches the
    /// accumulators), and its results wait in `queued` until that word reaches the accumulate
    /// stage and the output register takes them.
    fn edge_pipelined(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let c = &self.ctl;
        let (v1, pass_ends, ends_in_b) = (c.v1(), c.acc_valid() && c.acc_last(), c.v1() && c.last());
        if self.lazy {
            if v1 && self.nf_n == 1 {
                self.keep_word();
            }
            let n = self.queued.len();
            if ends_in_b {
                self.pass_at_stage_b();
                std::mem::swap(&mut self.results, &mut self.queued[(self.q_head + self.q_len) % n]);
                self.q_len += 1;
            }
            if pass_ends {
                self.results.copy_from_slice(&self.queued[self.q_head]);
                (self.q_head, self.q_len) = ((self.q_head + 1) % n, self.q_len - 1);
            }
        } else {
            if c.acc_valid() {
                self.accumulate_delayed();
            }
            if v1 {
                match self.input {
                    LaneInput::Binary => self.lane_sums(LaneInput::Binary),
                    input => self.lane_sums(input),
                }
            }
        }
        if self.ctl.nf() != 0 || s_valid {
            self.wq = self.ctl.waddr();
        }
        self.tq = self.ctl.taddr();
        self.ctl.edge(s_valid, s_data, m_ready, &self.results, &self.sums);
    }
}

/// The weight `c_b` of element bit `b` (the top bit of a two's-complement element counts
/// `-2^b`).
#[inline]
fn plane_weight(input: LaneInput, b: usize) -> i64 {
    match input {
        LaneInput::Int { signed: true, .. } if b + 1 == input.bits() => -(1i64 << b),
        _ => 1i64 << b,
    }
}

/// Packs the words of `src` (`iw` words each, `lb` bits used) one after another into the bit
/// string `dst` (cleared first).
fn pack(dst: &mut [u64], src: &[u64], iw: usize, lb: usize) {
    dst.iter_mut().for_each(|d| *d = 0);
    if lb == 64 * iw {
        dst[..src.len()].copy_from_slice(src);
        return;
    }
    if iw == 1 {
        // Words narrower than 64 bits (the usual case, packed once per vector): each lands in
        // at most two words of `dst`, without `or_at`'s per-word loop.
        let m = mask(lb);
        for (s, &w) in src.iter().enumerate() {
            let (q, r) = (s * lb / 64, s * lb % 64);
            let w = w & m;
            dst[q] |= w << r;
            if r + lb > 64 {
                dst[q + 1] |= w >> (64 - r);
            }
        }
        return;
    }
    for (s, w) in src.chunks_exact(iw).enumerate() {
        crate::bits::or_at(dst, s * lb, w, lb);
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

    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        let c = &self.ctl;
        if c.m_valid() && !m_ready {
            // A stalled output register holds the whole pipeline.
            crate::FOREVER
        } else if self.waiting() && !s_valid {
            // Waiting for a pass's next word, none entering, no pass's end on its way.
            crate::FOREVER
        } else if self.lazy {
            // A pass from the input buffer runs on its own until its last word; the per-cycle
            // reference steps the accumulators at each of its edges.
            self.buffered_quiet() as u64
        } else {
            0
        }
    }

    fn run_alone(&self) -> u64 {
        self.alone() as u64
    }

    /// Waiting for a pass's word that is not its last: the word enters stage B, which no
    /// port sees (the output register loads only after a pass's last word).
    #[inline]
    fn absorbs(&self) -> bool {
        // In the first pass the weight address counts the pass's words in.
        self.waiting() && self.ctl.waddr() + 1 < self.sf_n
    }

    /// The word moves through stage B and the pipeline: taken with its whole edge.
    fn absorb_is_edge(&self) -> bool {
        true
    }

    fn absorb(&mut self, s_data: &[u64]) {
        debug_assert!(self.absorbs(), "a word absorbed that ends a pass or finds no room");
        self.edge(true, s_data, true);
    }

    fn skip(&mut self, edges: u64) {
        let run = self.buffered_quiet().max(self.alone());
        if run == 0 || edges == 0 {
            // The other sleeps: a stalled output register, which holds everything, or a waiting
            // unit, whose edges move the words in stage B and after it on (none ends a pass),
            // then shift empty pipeline slots and read the threshold address of none
            // (registers nothing looks at, settled after one edge per stage and one more).
            if self.waiting() {
                for _ in 0..edges.min(self.ctl.stages() as u64 + 1) {
                    self.edge(false, &[], true);
                }
            }
            return;
        }
        debug_assert!(edges <= run as u64, "{edges} edges skipped of a run of {run}");
        let e = usize::try_from(edges).map_or(run, |e| e.min(run));
        let inner = e.min(self.ctl.buffered_run());
        if inner > 0 {
            // The memories read the address of the last word entering; in lazy mode the pass's
            // words wait in the input buffer.
            self.wq = self.ctl.waddr() + inner - 1;
            self.ctl.skip(inner);
            self.tq = self.ctl.acc_pass();
        }
        for _ in inner..e {
            // The pass's last word enters, then (in a run alone) it loads the output register:
            // ordinary edges, which read the buffer, not the stream, and (the output register
            // empty) advance whatever the consumer's ready.
            self.edge(false, &[], true);
        }
    }

    #[inline]
    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        if !self.ctl.advance(m_ready) {
            return;
        }
        if self.ctl.stages() > 0 {
            self.edge_pipelined(s_valid, s_data, m_ready);
            return;
        }
        if self.lazy && self.ctl.v1() {
            if self.nf_n == 1 {
                self.keep_word();
            }
            if self.ctl.last() {
                self.pass_at_stage_b();
            }
        } else if self.ctl.v1() {
            // One copy of the PE loop per input kind, so that the lanes' match is decided
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
        self.ctl.edge(s_valid, s_data, m_ready, &self.results, &[]);
    }

    fn reset(&mut self) {
        self.ctl.reset();
        (self.pass_n, self.planes_fresh, self.q_len) = (0, false, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compiler::dataflow::{MemStyle, Popcount};
    use compiler::model::IntType;

    /// The lanes' sum for weights held as plain bits.
    fn lane_sum(input: LaneInput, simd: usize, x: &[u64], w: &[u64]) -> i64 {
        let lanes = Lanes::new(input, simd);
        lanes.sum(x, &lanes.weights(w))
    }

    fn cfg(input: LaneInput, output: MvtuOutput) -> MvtuConfig {
        MvtuConfig {
            name: "L1".into(),
            mw: 4,
            mh: 2,
            pe: 1,
            simd: 4,
            input,
            output,
            popcount: Popcount::Compressor,
            mem_style: MemStyle::Auto,
        }
    }

    /// k-bit lanes by hand: elements packed low first, `+x` under a 1 weight bit, `-x` under a 0.
    #[test]
    fn kbit_lanes_add_or_subtract_each_element() {
        // Two-bit elements [3, 0, 2, 1] against weights [1, 0, 0, 1]: 3 - 0 - 2 + 1.
        let x = [0b01_10_00_11u64];
        let w = [0b1001u64];
        assert_eq!(lane_sum(LaneInput::Int { bits: 2, signed: false }, 4, &x, &w), 2);
        // The same bits as int2, [-1, 0, -2, 1]: -1 - 0 + 2 + 1.
        assert_eq!(lane_sum(LaneInput::Int { bits: 2, signed: true }, 4, &x, &w), 2);
        // Weights [0, 1, 1, 0]: the negations, -2 both ways.
        assert_eq!(lane_sum(LaneInput::Int { bits: 2, signed: false }, 4, &x, &[0b0110]), -2);
        assert_eq!(lane_sum(LaneInput::Int { bits: 2, signed: true }, 4, &x, &[0b0110]), -2);
        // [3, 3, 0, 0] under [1, 1, 0, 0]: 6 unsigned, -2 as int2.
        assert_eq!(lane_sum(LaneInput::Int { bits: 2, signed: false }, 4, &[0b1111], &[0b0011]), 6);
        assert_eq!(lane_sum(LaneInput::Int { bits: 2, signed: true }, 4, &[0b1111], &[0b0011]), -2);
        // Four-bit elements across a word boundary (field 15 at bits 60..64, 16 at 64..68).
        let mut x = vec![0u64; 2];
        set(&mut x, 60, 4, 0b1001);
        set(&mut x, 64, 4, 0b0111);
        let w = [1u64 << 15, 0];
        assert_eq!(lane_sum(LaneInput::Int { bits: 4, signed: true }, 17, &x, &w), -7 - 7);
        assert_eq!(lane_sum(LaneInput::Int { bits: 4, signed: false }, 17, &x, &w), 9 - 7);
    }

    proptest::proptest! {
        /// The plane popcounts give the per-element definition (`LaneInput::lane`, one element
        /// at a time) for every width, signedness, SIMD (fields across word boundaries too) and
        /// bits.
        #[test]
        fn integer_lanes_sum_as_element_by_element(
            bits in 1u8..=8,
            signed: bool,
            simd in 1usize..150,
            seed: u64,
        ) {
            let input = if bits == 1 { LaneInput::Binary } else { LaneInput::Int { bits, signed } };
            let eb = input.bits();
            let mut r = seed | 1;
            let mut next = move || {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                r
            };
            let mut x = vec![0u64; words(simd * eb)];
            let mut w = vec![0u64; words(simd)];
            for j in 0..simd {
                set(&mut x, j * eb, eb, next() & mask(eb));
                set(&mut w, j, 1, next() & 1);
            }
            let want: i64 =
                (0..simd).map(|j| input.lane(get(&x, j * eb, eb), crate::bits::bit(&w, j))).sum();
            proptest::prop_assert_eq!(lane_sum(input, simd, &x, &w), want);
        }
    }

    /// The multi-threshold output by hand: `bias + #{j : acc >= t_j}` in k bits, thresholds read
    /// from the memory word as the hardware stores them (clamped).
    #[test]
    fn multi_threshold_counts_the_thresholds_met() {
        let ty = IntType { bits: 2, signed: true };
        let c = cfg(LaneInput::Binary, MvtuOutput::Multi { ty, bias: -1, levels: 2 });
        // Row 0: thresholds 1, 3; row 1: 0 (below the range's start) and 5 (above its end + 1).
        let t = [1, 3, 0, 5];
        let f = Finish::of(&c);
        assert_eq!(f, Finish::Multi { levels: 2, t_bits: c.tfield_bits(), bias: -1, bits: 2 });
        let words = c.threshold_words(&t, 0);
        let (w0, w1) = (&words[0], &words[1]);
        // Row 0: acc 0 -> -1, 1 -> 0, 2 -> 0, 3 -> +1; as int2 bits 11, 00, 00, 01.
        let got: Vec<u64> = (0..4).map(|acc| f.result(acc, w0)).collect();
        assert_eq!(got, [0b11, 0b00, 0b00, 0b01]);
        // Row 1: every accumulator meets 0 and none meets 5 (clamped to 5 = MW + 1): always 0.
        assert!((0..=4).all(|acc| f.result(acc, w1) == 0));
        // Unsigned, bias 0, three levels: the count itself.
        let ty = IntType { bits: 2, signed: false };
        let c = cfg(LaneInput::Int { bits: 3, signed: true }, MvtuOutput::Multi { ty, bias: 0, levels: 3 });
        let (lo, hi) = c.acc_range();
        assert_eq!((lo, hi), (-16, 16));
        let t = [-3, 0, 7, -20, -20, 40];
        let f = Finish::of(&c);
        let w = c.threshold_words(&t, 0);
        let got: Vec<u64> = [-16, -4, -3, -1, 0, 6, 7, 16].iter().map(|&a| f.result(a, &w[0])).collect();
        assert_eq!(got, [0, 0, 1, 1, 2, 2, 3, 3]);
        // Thresholds clamped to the range: -20 -> -16 is met by every accumulator, 40 -> 17 by none.
        assert!((lo..=hi).all(|a| f.result(a, &w[1]) == 2));
        assert_eq!(f.field_bits(), 2);
        assert_eq!(f.start(&w[0]), 0, "a multi pass starts from 0");
    }

    /// A whole unit: 2 passes (NF = 2) of one word each, against the rows' hand-computed sums.
    #[test]
    fn a_multi_unit_emits_the_counts_of_each_row() {
        let ty = IntType { bits: 3, signed: true };
        let mut c =
            cfg(LaneInput::Int { bits: 2, signed: false }, MvtuOutput::Multi { ty, bias: -2, levels: 4 });
        c.mh = 2;
        let w = BitMatrix::from_fn(2, 4, |r, col| (r + col) % 2 == 0);
        // Row 0 weights [1, 0, 1, 0], row 1 [0, 1, 0, 1]; x = [3, 1, 2, 0]: sums 3-1+2-0 = 4,
        // -3+1-2+0 = -4.
        let t = [-5, 0, 4, 5, -4, -3, 0, 9];
        let mut u = Mvtu::new(&c, &w, Some(&t)).expect("unit");
        let x = [0b00_10_01_11u64];
        let mut out = Vec::new();
        for _ in 0..8 {
            if u.valid() {
                out.push(u.data()[0]);
            }
            u.edge(true, &x, true);
        }
        // Row 0: 4 meets -5, 0, 4 -> -2 + 3 = 1; row 1: -4 meets -4 -> -2 + 1 = -1 (int3 0b111).
        assert_eq!(&out[..2], [0b001, 0b111]);
        assert_eq!(Mvtu::new(&c, &w, Some(&t[..4])).err(), Some(MvtuError::Activation), "levels per row");
    }
}
