//! The cycle-accurate model of a compiled dataflow graph.
//!
//! Each node keeps the registers of its RTL block (`hdl`: the MVTU controller's counters, stage
//! registers and accumulators, the sliding-window unit's ring and counters, the max-pool row
//! buffer, the FIFO's pointers, the width converter's buffer, the argmax state) and updates them once per clock edge with the same handshakes, so it emits the same
//! words on the same cycles as the Verilog. Data stays bit-packed: an MVTU step is one
//! `u64` XOR + popcount per 64 lanes, where the RTL simulators evaluate every gate.
//!
//! Every node's `m_valid` and `m_data` are registers; `s_ready` may depend combinationally on the
//! consumer's ready (the MVTU, max-pool and argmax pass it through). A cycle therefore evaluates readies from
//! the sink back to the source, then clocks every node from the last to the first, so that each
//! node samples its producer's outputs from before the edge.

mod conv;

use crate::drive::{Ports, StreamDut};
use crate::golden::SimError;
use compiler::dataflow::width::{get, mask, set, sext, words};
use compiler::dataflow::{Graph, LaneInput, MvtuConfig, MvtuOutput, NodeKind};
use compiler::model::{Activation, Layer, Model};

/// A node's registers and its clock edge.
trait Unit {
    fn valid(&self) -> bool;
    fn data(&self) -> &[u64];
    fn ready(&self, m_ready: bool) -> bool;
    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool);
    fn reset(&mut self);
}

/// One MVTU: the controller of `hdl::mvtu` with its memories, lanes and accumulators.
struct Mvtu {
    sf_n: usize,
    nf_n: usize,
    pe: usize,
    simd: usize,
    input: LaneInput,
    threshold: bool,
    /// Accumulator register width (the hardware wraps at it).
    reg_bits: usize,
    /// Output field width per PE in scores mode.
    acc_bits: usize,
    in_words: usize,
    /// Weight words per memory word (SIMD bits).
    ww: usize,
    /// `weights[(p * cycles + addr) * ww ..]`: PE `p`'s memory word `addr`.
    weights: Vec<u64>,
    /// `starts[p * nf_n + nf]`: the accumulator's start value (`-T` as the threshold memory holds
    /// it, sign-extended), 0 in scores mode.
    starts: Vec<i64>,
    // Controller registers.
    sf: usize,
    nf: usize,
    waddr: usize,
    v1: bool,
    first: bool,
    last: bool,
    x: Vec<u64>,
    /// The weight and threshold addresses the memories latched with `x`.
    wq: usize,
    tq: usize,
    acc: Vec<i64>,
    out_valid: bool,
    out: Vec<u64>,
    ibuf: Vec<u64>,
}

impl Mvtu {
    fn new(cfg: &MvtuConfig, model: &Model, layer: usize) -> Result<Self, SimError> {
        let bad = |m: String| SimError::Graph(format!("node {}: {m}", cfg.name));
        cfg.validate().map_err(|e| bad(e.to_string()))?;
        let Some(w) = model.layers.get(layer).and_then(Layer::weights) else {
            return Err(bad(format!("model layer {layer} has no weights")));
        };
        if w.matrix.rows() != cfg.mh || w.matrix.cols() != cfg.mw {
            return Err(bad(format!(
                "weights are {}x{}, the unit is {}x{}",
                w.matrix.rows(),
                w.matrix.cols(),
                cfg.mh,
                cfg.mw
            )));
        }
        let threshold = cfg.output == MvtuOutput::Threshold;
        let starts = match (&w.activation, threshold) {
            (Activation::Threshold(t), true) if t.len() == cfg.mh => {
                let tw = cfg.thr_bits();
                (0..cfg.pe).flat_map(|p| cfg.threshold_words(t, p)).map(|w| sext(w[0], tw)).collect()
            }
            (Activation::Scores, false) => vec![0; cfg.pe * cfg.nf()],
            _ => return Err(bad("the layer's activation does not match the unit's output mode".into())),
        };
        let ww = words(cfg.simd);
        let weights = (0..cfg.pe).flat_map(|p| cfg.weight_words(&w.matrix, p)).flatten().collect();
        let in_words = words(cfg.in_bits());
        Ok(Mvtu {
            sf_n: cfg.sf(),
            nf_n: cfg.nf(),
            pe: cfg.pe,
            simd: cfg.simd,
            input: cfg.input,
            threshold,
            reg_bits: cfg.reg_bits(),
            acc_bits: cfg.acc_bits(),
            in_words,
            ww,
            weights,
            starts,
            sf: 0,
            nf: 0,
            waddr: 0,
            v1: false,
            first: false,
            last: false,
            x: vec![0; in_words],
            wq: 0,
            tq: 0,
            acc: vec![0; cfg.pe],
            out_valid: false,
            out: vec![0; words(cfg.out_bits())],
            ibuf: if cfg.nf() > 1 { vec![0; cfg.sf() * in_words] } else { Vec::new() },
        })
    }

    /// PE `p`'s lane sum for the latched word.
    fn sum(&self, p: usize) -> i64 {
        let base = (p * self.sf_n * self.nf_n + self.wq) * self.ww;
        let w = &self.weights[base..base + self.ww];
        match self.input {
            LaneInput::Binary => {
                let diff: u32 = self.x.iter().zip(w).map(|(a, b)| (a ^ b).count_ones()).sum();
                self.simd as i64 - i64::from(diff)
            }
            LaneInput::Fixed8 { .. } => (0..self.simd)
                .map(|j| self.input.lane(get(&self.x, 8 * j, 8), (w[j / 64] >> (j % 64)) & 1 == 1))
                .sum(),
        }
    }
}

impl Unit for Mvtu {
    fn valid(&self) -> bool {
        self.out_valid
    }

    fn data(&self) -> &[u64] {
        &self.out
    }

    fn ready(&self, m_ready: bool) -> bool {
        (!self.out_valid || m_ready) && self.nf == 0
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        if self.out_valid && !m_ready {
            return;
        }
        let fire = self.nf != 0 || s_valid;
        if self.v1 {
            let rb = self.reg_bits;
            if self.last {
                self.out.iter_mut().for_each(|w| *w = 0);
            }
            for p in 0..self.pe {
                let base = if self.first { self.starts[p * self.nf_n + self.tq] } else { self.acc[p] };
                let next = sext((base + self.sum(p)) as u64 & mask(rb), rb);
                self.acc[p] = next;
                if self.last {
                    if self.threshold {
                        set(&mut self.out, p, 1, u64::from(next >= 0));
                    } else {
                        let aw = self.acc_bits;
                        set(&mut self.out, p * aw, aw, next as u64 & mask(aw));
                    }
                }
            }
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
            (self.wq, self.tq) = (self.waddr, self.nf);
            self.waddr = if self.waddr + 1 == self.sf_n * self.nf_n { 0 } else { self.waddr + 1 };
            self.sf += 1;
            if self.sf == self.sf_n {
                self.sf = 0;
                self.nf = if self.nf + 1 == self.nf_n { 0 } else { self.nf + 1 };
            }
        }
    }

    fn reset(&mut self) {
        (self.sf, self.nf, self.waddr, self.v1, self.out_valid) = (0, 0, 0, false, false);
    }
}

/// A first-word-fall-through FIFO (`hdl::stream::Fifo`).
struct Fifo {
    depth: usize,
    ww: usize,
    mem: Vec<u64>,
    rptr: usize,
    wptr: usize,
    count: usize,
    high_water: usize,
}

impl Unit for Fifo {
    fn valid(&self) -> bool {
        self.count > 0
    }

    fn data(&self) -> &[u64] {
        &self.mem[self.rptr * self.ww..(self.rptr + 1) * self.ww]
    }

    fn ready(&self, _m_ready: bool) -> bool {
        self.count < self.depth
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let push = s_valid && self.count < self.depth;
        let pop = m_ready && self.count > 0;
        if push {
            let ww = self.ww;
            self.mem[self.wptr * ww..(self.wptr + 1) * ww].copy_from_slice(&s_data[..ww]);
            self.wptr = (self.wptr + 1) % self.depth;
        }
        if pop {
            self.rptr = (self.rptr + 1) % self.depth;
        }
        self.count = self.count + usize::from(push) - usize::from(pop);
        self.high_water = self.high_water.max(self.count);
    }

    fn reset(&mut self) {
        (self.rptr, self.wptr, self.count) = (0, 0, 0);
    }
}

/// A data-width converter (`hdl::stream::WidthConverter`): a bit buffer of `in + out` bits.
struct WidthConverter {
    i: usize,
    o: usize,
    buf: Vec<u64>,
    cnt: usize,
    /// The low `o` bits of `buf`: the output word.
    view: Vec<u64>,
}

impl WidthConverter {
    fn refresh(&mut self) {
        let n = self.view.len();
        self.view.copy_from_slice(&self.buf[..n]);
        if self.o % 64 != 0 {
            self.view[n - 1] &= mask(self.o % 64);
        }
    }
}

/// Shifts a little-endian bit vector right by `s` bits in place.
fn shift_right(w: &mut [u64], s: usize) {
    let (q, r) = (s / 64, s % 64);
    let n = w.len();
    for i in 0..n {
        let lo = w.get(i + q).copied().unwrap_or(0);
        let hi = w.get(i + q + 1).copied().unwrap_or(0);
        w[i] = if r == 0 { lo } else { (lo >> r) | (hi << (64 - r)) };
    }
}

/// ORs the low `len` bits of `src` into `dst` at bit `off`.
fn or_at(dst: &mut [u64], off: usize, src: &[u64], len: usize) {
    let (q, r) = (off / 64, off % 64);
    for (i, &s) in src.iter().enumerate().take(words(len)) {
        let s = if (i + 1) * 64 > len { s & mask(len - i * 64) } else { s };
        dst[q + i] |= s << r;
        if r != 0 && q + i + 1 < dst.len() {
            dst[q + i + 1] |= s >> (64 - r);
        }
    }
}

impl Unit for WidthConverter {
    fn valid(&self) -> bool {
        self.cnt >= self.o
    }

    fn data(&self) -> &[u64] {
        &self.view
    }

    fn ready(&self, _m_ready: bool) -> bool {
        self.cnt <= self.o
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let pop = self.cnt >= self.o && m_ready;
        let push = s_valid && self.cnt <= self.o;
        if pop {
            shift_right(&mut self.buf, self.o);
            self.cnt -= self.o;
        }
        if push {
            or_at(&mut self.buf, self.cnt, s_data, self.i);
            self.cnt += self.i;
        }
        if pop || push {
            self.refresh();
        }
    }

    fn reset(&mut self) {
        self.buf.iter_mut().for_each(|w| *w = 0);
        self.cnt = 0;
        self.refresh();
    }
}

/// Argmax over scores (`hdl::stream::Argmax`): the lowest index wins ties.
struct Argmax {
    pe: usize,
    bits: usize,
    words: usize,
    signed: bool,
    j: usize,
    best: i64,
    idx: usize,
    out_valid: bool,
    out: [u64; 1],
}

impl Unit for Argmax {
    fn valid(&self) -> bool {
        self.out_valid
    }

    fn data(&self) -> &[u64] {
        &self.out
    }

    fn ready(&self, m_ready: bool) -> bool {
        !self.out_valid || m_ready
    }

    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let ready = !self.out_valid || m_ready;
        if self.out_valid && m_ready {
            self.out_valid = false;
        }
        if !(s_valid && ready) {
            return;
        }
        let (mut bv, mut bi) = (i64::MIN, 0);
        for p in 0..self.pe {
            let raw = get(s_data, p * self.bits, self.bits);
            let v = if self.signed { sext(raw, self.bits) } else { raw as i64 };
            if p == 0 || v > bv {
                (bv, bi) = (v, self.j * self.pe + p);
            }
        }
        if self.j == 0 || bv > self.best {
            (self.best, self.idx) = (bv, bi);
        }
        if self.j + 1 == self.words {
            self.j = 0;
            self.out_valid = true;
            self.out[0] = self.idx as u64;
        } else {
            self.j += 1;
        }
    }

    fn reset(&mut self) {
        self.j = 0;
        self.out_valid = false;
    }
}

enum Node {
    Mvtu(Box<Mvtu>),
    Swu(conv::Swu),
    Pool(conv::Pool),
    Fifo(Fifo),
    WidthConverter(WidthConverter),
    Argmax(Argmax),
}

impl Node {
    fn unit(&self) -> &dyn Unit {
        match self {
            Node::Mvtu(u) => u.as_ref(),
            Node::Swu(u) => u,
            Node::Pool(u) => u,
            Node::Fifo(u) => u,
            Node::WidthConverter(u) => u,
            Node::Argmax(u) => u,
        }
    }

    fn unit_mut(&mut self) -> &mut dyn Unit {
        match self {
            Node::Mvtu(u) => u.as_mut(),
            Node::Swu(u) => u,
            Node::Pool(u) => u,
            Node::Fifo(u) => u,
            Node::WidthConverter(u) => u,
            Node::Argmax(u) => u,
        }
    }
}

/// A stream's handshakes: `(cycle, word)` each.
pub type Handshakes = Vec<(u64, Vec<u64>)>;

/// The cycle-accurate model of a graph, driven through [`StreamDut`].
pub struct CycleModel {
    names: Vec<String>,
    nodes: Vec<Node>,
    in_bits: usize,
    out_bits: usize,
    /// Per-cycle scratch: the ready each node sees from its consumer.
    m_ready: Vec<bool>,
    /// Every node's output handshakes `(cycle, word)`, when recording.
    record: Option<Vec<Handshakes>>,
    cycle: u64,
}

impl CycleModel {
    /// The model of `graph` holding the weights and thresholds of `model`.
    pub fn new(graph: &Graph, model: &Model) -> Result<Self, SimError> {
        graph.verify()?;
        let mut nodes = Vec::with_capacity(graph.nodes.len());
        for n in &graph.nodes {
            nodes.push(match &n.kind {
                NodeKind::Swu { cfg } => Node::Swu(conv::Swu::new(cfg)),
                NodeKind::Pool { cfg } => Node::Pool(conv::Pool::new(cfg)),
                NodeKind::Mvtu { layer, cfg, .. } => {
                    Node::Mvtu(Box::new(Mvtu::new(cfg, model, layer.index())?))
                }
                NodeKind::Fifo { depth } => Node::Fifo(Fifo {
                    depth: *depth,
                    ww: words(n.in_bits),
                    mem: vec![0; depth * words(n.in_bits)],
                    rptr: 0,
                    wptr: 0,
                    count: 0,
                    high_water: 0,
                }),
                NodeKind::WidthConverter => Node::WidthConverter(WidthConverter {
                    i: n.in_bits,
                    o: n.out_bits,
                    buf: vec![0; words(n.in_bits + n.out_bits) + 1],
                    cnt: 0,
                    view: vec![0; words(n.out_bits)],
                }),
                NodeKind::Argmax { pe, bits, words, signed } => Node::Argmax(Argmax {
                    pe: *pe,
                    bits: *bits,
                    words: *words,
                    signed: *signed,
                    j: 0,
                    best: 0,
                    idx: 0,
                    out_valid: false,
                    out: [0],
                }),
            });
        }
        Ok(CycleModel {
            names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
            m_ready: vec![false; nodes.len()],
            nodes,
            in_bits: graph.in_bits(),
            out_bits: graph.out_bits(),
            record: None,
            cycle: 0,
        })
    }

    /// From now on, records every node's output words and their cycles (counted from the first
    /// cycle after the last reset), to locate the node where a stream first goes wrong.
    pub fn record_streams(&mut self) {
        self.record = Some(vec![Vec::new(); self.nodes.len()]);
    }

    /// The recorded output handshakes of each node, in graph order (empty unless recording).
    pub fn streams(&self) -> &[Handshakes] {
        self.record.as_deref().unwrap_or(&[])
    }

    /// The most words each FIFO held since the model was built: `(node name, words)`.
    pub fn fifo_high_water(&self) -> Vec<(String, usize)> {
        self.names
            .iter()
            .zip(&self.nodes)
            .filter_map(|(name, n)| match n {
                Node::Fifo(f) => Some((name.clone(), f.high_water)),
                _ => None,
            })
            .collect()
    }
}

impl StreamDut for CycleModel {
    fn in_bits(&self) -> usize {
        self.in_bits
    }

    fn out_bits(&self) -> usize {
        self.out_bits
    }

    fn cycle(
        &mut self,
        rst: bool,
        s_valid: bool,
        s_data: &[u64],
        m_ready: bool,
        out: &mut Vec<u64>,
    ) -> Ports {
        let n = self.nodes.len();
        let mut ready = m_ready;
        for i in (0..n).rev() {
            self.m_ready[i] = ready;
            ready = self.nodes[i].unit().ready(ready);
        }
        let last = self.nodes[n - 1].unit();
        let ports = Ports { s_ready: ready, m_valid: last.valid() };
        if ports.m_valid {
            out.clear();
            out.extend_from_slice(last.data());
        }
        if rst {
            self.nodes.iter_mut().for_each(|u| u.unit_mut().reset());
            self.cycle = 0;
            if let Some(r) = &mut self.record {
                r.iter_mut().for_each(Vec::clear);
            }
            return ports;
        }
        if let Some(r) = &mut self.record {
            for (i, node) in self.nodes.iter().enumerate() {
                let u = node.unit();
                if u.valid() && self.m_ready[i] {
                    r[i].push((self.cycle, u.data().to_vec()));
                }
            }
        }
        self.cycle += 1;
        for i in (0..n).rev() {
            let (before, rest) = self.nodes.split_at_mut(i);
            let (valid, data) = match before.last() {
                Some(p) => (p.unit().valid(), p.unit().data()),
                None => (s_valid, s_data),
            };
            rest[0].unit_mut().edge(valid, data, self.m_ready[i]);
        }
        ports
    }
}
