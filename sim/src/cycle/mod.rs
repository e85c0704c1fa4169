//! The cycle-accurate model of a compiled dataflow graph.
//!
//! Each node is the [`blocks`] unit of its RTL block (the MVTU controller with its memories,
//! lanes and accumulators, the sliding-window unit, max-pool, FIFO, width converter, argmax): the
//! one description of its registers that the rust-hdl leaves of `hdl` run too, so it emits the
//! same words on the same cycles as the Verilog. Data stays bit-packed: an MVTU step is one
//! `u64` XOR + popcount per 64 lanes, where the RTL simulators evaluate every gate.
//!
//! Every node's `m_valid` and `m_data` are registers; `s_ready` may depend combinationally on the
//! consumer's ready (the MVTU, max-pool and argmax pass it through). A cycle therefore evaluates
//! readies from the sink back to the source, then clocks every node from the last to the first,
//! so that each node samples its producer's outputs from before the edge.
//!
//! Most nodes of a pipeline wait most of the time: an MVTU running a pass from its input buffer,
//! a sliding-window unit whose consumer is busy, an empty FIFO. The model visits only the awake
//! ones. A node falls asleep for the edges its unit says nothing will show at its ports while
//! its inputs (`s_valid`, `m_ready`) keep their values ([`blocks::Unit::sleep`]), and wakes,
//! applying the edges it slept through at once ([`blocks::Unit::skip`]), when that time is up or
//! an input changes: its producer's valid after an edge, its consumer's ready in the ready pass,
//! or the accelerator's ports. Its outputs being constant while it sleeps, every other node sees
//! the values of the plain cycle-by-cycle walk, which [`CycleModel::set_per_cycle`] keeps as the
//! reference.
//!
//! The first convolutions' window unit -> FIFO -> MVTU chains move a word every cycle, so none of
//! the three sleeps alone; but while the window unit takes no input word and keeps its `s_ready`,
//! and the MVTU, in a vector's first pass, keeps its output register, nothing outside the chain
//! can tell its edges apart: the three sleep together and run those edges among themselves when
//! they wake (`sleep_chain`, `wake_chain`), without the per-unit bookkeeping of a whole cycle.
//! An MVTU holding a word for a consumer that takes words asleep hands it over as the chain
//! falls asleep: the chain need not wait a cycle for its output register to empty.
//!
//! A window unit whose next input word completes no row takes its words asleep, alone (its
//! read side waiting) or at the head of its chain: the edge pass hands it its producer's word
//! ([`blocks::Swu::absorb`]), which changes neither its `s_ready` nor the rows its read side
//! sees, and wakes it before a word that would. A width converter takes the word that fills
//! its output word asleep too ([`blocks::Unit::completes`]): at the next cycle it hands that
//! word to a consumer taking words asleep without a visit, or wakes (`CycleModel::hand_over`);
//! so do an empty FIFO with its next word and a max-pool with a window's last. An MVTU waiting
//! for a first pass's words takes each but the pass's last asleep, with its whole edge after the
//! edges it slept through ([`blocks::Unit::absorb_is_edge`]): the word only enters stage B. A
//! chain's FIFO and MVTU take none asleep (the chain moves its words among its three units).
//! Units that read a valid (an add's bypass input too) read the model's copy, which a word
//! completed at a sleep's end (before the edge pass) reaches only after the edge pass.
//!
//! An MVTU pass from its input buffer goes further: its edges run the same whatever its inputs
//! ([`blocks::Unit::run_alone`]), up to the one that loads its result into the output register.
//! It sleeps through them without watching its inputs, falling asleep right after the edge of
//! its output handshake (no visit to find out), and wakes with its result in the register and
//! its consumer woken with it: one visit per pass instead of three.
//!
//! When every unit sleeps, none is due to wake and the ports' inputs are the ones those at the
//! ports sleep on, cycles only count until the soonest sleep ends: the driver runs them at once
//! ([`StreamDut::quiet`]). On the CNV that is about a quarter of the cycles.

mod latency;

pub use latency::{latency, LatencyError};

use crate::drive::{Ports, StreamDut};
use crate::golden::SimError;
use blocks::Unit;
use compiler::dataflow::{Graph, Node as GraphNode, NodeKind};
use compiler::model::{Layer, Model};

/// The unit of an MVTU node computing model layer `layer`.
fn mvtu(cfg: &compiler::dataflow::MvtuConfig, model: &Model, layer: usize) -> Result<blocks::Mvtu, SimError> {
    let bad = |m: String| SimError::Graph(format!("node {}: {m}", cfg.name));
    cfg.validate()?;
    let Some(w) = model.layers.get(layer).and_then(Layer::weights) else {
        return Err(bad(format!("model layer {layer} has no weights")));
    };
    if compiler::dataflow::MvtuOutput::of(&w.activation) != cfg.output {
        return Err(bad(format!("its output mode is not model layer {layer}'s activation")));
    }
    let t = compiler::dataflow::activation_thresholds(&w.activation);
    blocks::Mvtu::new(cfg, &w.matrix, t).map_err(|e| bad(e.to_string()))
}

enum Node {
    Mvtu(Box<blocks::Mvtu>),
    Swu(blocks::Swu),
    Pool(blocks::Pool),
    Fifo(blocks::Fifo),
    WidthConverter(blocks::WidthConverter),
    Argmax(blocks::Argmax),
    Sign(blocks::Sign),
    ChannelPad(blocks::ChannelPad),
    Duplicate(blocks::Duplicate),
    Add(blocks::Add),
}

/// `$e` with `$u` bound to the unit of a single-input, single-output node (statically
/// dispatched, so the per-cycle calls inline), else `$o`.
macro_rules! each_unit {
    ($node:expr, $u:ident => $e:expr, $o:expr) => {
        match $node {
            Node::Mvtu($u) => $e,
            Node::Swu($u) => $e,
            Node::Pool($u) => $e,
            Node::Fifo($u) => $e,
            Node::WidthConverter($u) => $e,
            Node::Argmax($u) => $e,
            Node::Sign($u) => $e,
            Node::ChannelPad($u) => $e,
            Node::Duplicate(_) | Node::Add(_) => $o,
        }
    };
}

impl Node {
    /// The single-input, single-output units (all but the duplicate and the add).
    fn unit_mut(&mut self) -> Option<&mut dyn Unit> {
        Some(match self {
            Node::Mvtu(u) => u.as_mut(),
            Node::Swu(u) => u,
            Node::Pool(u) => u,
            Node::Fifo(u) => u,
            Node::WidthConverter(u) => u,
            Node::Argmax(u) => u,
            Node::Sign(u) => u,
            Node::ChannelPad(u) => u,
            Node::Duplicate(_) | Node::Add(_) => return None,
        })
    }

    /// The `m_valid` of its main output (a duplicate's: the one to the next node on the main
    /// path).
    #[inline]
    fn valid(&self) -> bool {
        match self {
            Node::Duplicate(d) => d.valid_main(),
            Node::Add(a) => a.valid(),
            u => each_unit!(u, x => x.valid(), false),
        }
    }

    #[inline]
    fn data(&self) -> &[u64] {
        match self {
            Node::Duplicate(d) => d.data(),
            Node::Add(a) => a.data(),
            u => each_unit!(u, x => x.data(), &[]),
        }
    }

    fn reset(&mut self) {
        match self {
            Node::Duplicate(d) => d.reset(),
            Node::Add(a) => a.reset(),
            u => {
                if let Some(u) = u.unit_mut() {
                    u.reset();
                }
            }
        }
    }
}

/// Where a unit's input comes from.
#[derive(Clone, Copy, Debug)]
enum Src {
    /// The accelerator's input.
    Input,
    /// Unit `i`'s main output.
    Out(usize),
    /// Duplicate `i`'s bypass output.
    Byp(usize),
}

/// A unit's sleep: the edges from cycle `since` on are left out, to be applied when it wakes (by
/// its end in `CycleModel::timer` at the latest), while its inputs keep these values (`None`:
/// not watched: both in a run alone, [`blocks::Unit::run_alone`]; `s_valid` for a window unit
/// taking its words asleep, which `CycleModel::absorbing` marks and `wake` tells apart first).
#[derive(Clone, Copy, Debug)]
struct Sleep {
    since: u64,
    s_valid: Option<bool>,
    m_ready: Option<bool>,
}

/// The inputs a unit falling asleep in the ready pass watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Watch {
    /// Both (a plain sleep).
    Both,
    /// Only `m_ready`: a window unit taking its words asleep ([`blocks::Swu::absorb`]).
    Ready,
    /// Neither: a run alone.
    None,
}

/// An input watched at `w` (`None`: not watched) wakes its sleeper at value `v`.
#[inline]
fn changes(w: Option<bool>, v: bool) -> bool {
    w.is_some_and(|w| w != v)
}

/// A stream's handshakes: `(cycle, word)` each.
pub type Handshakes = Vec<(u64, Vec<u64>)>;

/// The cycle-accurate model of a graph, driven through [`StreamDut`].
///
/// The units are the graph's nodes in [`Graph::all_nodes`] order (each add's bypass just before
/// the add), a topological order: every unit's producers come before it and its consumers after
/// it, so readies are evaluated and edges applied from the last unit to the first.
pub struct CycleModel {
    names: Vec<String>,
    nodes: Vec<Node>,
    /// Each unit's input (an add's main input).
    src: Vec<Src>,
    /// An add's bypass input.
    src_byp: Vec<Option<Src>>,
    /// The unit reading each unit's main output (`None`: the accelerator's output).
    cons: Vec<Option<usize>>,
    /// The unit reading a duplicate's bypass output.
    cons_byp: Vec<Option<usize>>,
    /// The unit of each main-path node, in graph order.
    main: Vec<usize>,
    in_bits: usize,
    out_bits: usize,
    /// Per-cycle scratch: the ready each unit's main output sees from its consumer.
    m_ready: Vec<bool>,
    /// Per-cycle scratch: the ready a duplicate's bypass output sees.
    m_ready_byp: Vec<bool>,
    /// Per-cycle scratch: each unit's `s_ready`.
    s_ready: Vec<bool>,
    /// Every main-path node's output handshakes `(cycle, word)`, when recording.
    record: Option<Vec<Handshakes>>,
    cycle: u64,
    /// Let units sleep (see the module documentation); off in the per-cycle reference.
    fast: bool,
    /// The awake units, a bit each.
    awake: Vec<u64>,
    /// Each sleeping unit's sleep.
    sleep: Vec<Sleep>,
    /// Each unit's sleep's end, `u64::MAX` for a sleep without one or an awake unit (a chain's
    /// is its MVTU's): scanned when the soonest comes, rather than kept in a heap, because a
    /// graph has tens of units and their sleeps end about once per pass, where a heap's push
    /// and pop cost more than the scan's few vector compares.
    timer: Vec<u64>,
    /// The units with an end in `timer`, a bit each: the scan reads only theirs (a few of the
    /// graph's units sleep on a timer at a time).
    timed: Vec<u64>,
    /// At most the soonest end in `timer` (a sleep that ended early leaves it earlier, and the
    /// next scan finds nothing due).
    next_timer: u64,
    /// Units to wake at the next cycle (an input changed), a bit each.
    due: Vec<u64>,
    /// Per-cycle scratch: each unit's `m_valid` (a duplicate's main one), then each duplicate's
    /// bypass one, then the accelerator's `s_valid`: what `vsrc` indexes.
    valid: Vec<bool>,
    /// Where each unit's main input's valid is in `valid`.
    vsrc: Vec<usize>,
    /// Where an add's bypass input's valid is in `valid` (`usize::MAX`: no bypass input). Read
    /// there, not from the unit: a unit that takes words asleep may complete one at a sleep's
    /// end, before the edge pass, while its consumer must see its valid from the next cycle.
    vbyp: Vec<usize>,
    /// The units reading the accelerator's input.
    from_input: Vec<usize>,
    /// The units driving the accelerator's output.
    to_output: Vec<usize>,
    /// Per-cycle scratch: the units still awake after the ready pass, last first: the ones the
    /// edge pass clocks (kept so that it does not scan the awake bits again).
    clocked: Vec<usize>,
    /// Window unit -> FIFO -> MVTU chains `[swu, fifo, mvtu]` (consecutive units, each the only
    /// reader of the one before), which may sleep together (see [`CycleModel::wake_chain`]).
    chains: Vec<[usize; 3]>,
    /// The chain each unit belongs to (`usize::MAX`: none).
    chain_of: Vec<usize>,
    /// The chains asleep together.
    chain_asleep: Vec<bool>,
    /// The units asleep, alone or at the head of a chain asleep, that take their input words
    /// as they come ([`blocks::Unit::absorb`]).
    absorbing: Vec<bool>,
    /// Per-cycle scratch: the units that fell asleep at this edge taking their words asleep
    /// from the next one on.
    absorb_next: Vec<usize>,
    /// The units asleep holding an output word completed by a word they took asleep
    /// ([`blocks::Unit::completes`]), to hand over at their sleep's end, the next cycle.
    handoff: Vec<bool>,
    /// Per-cycle scratch: the units that completed an output word asleep at this edge, whose
    /// valid their consumers see from the next cycle (a sleep's end hands words over before
    /// the edge pass, where a consumer awake must still see the valid of before the edge).
    completed: Vec<usize>,
    /// The units that may take their input words asleep ([`CycleModel::takes_asleep`]).
    asleep_ok: Vec<bool>,
}

impl CycleModel {
    /// The model of `graph` holding the weights and thresholds of `model`.
    pub fn new(graph: &Graph, model: &Model) -> Result<Self, SimError> {
        graph.verify()?;
        let mut m = CycleModel {
            names: Vec::new(),
            nodes: Vec::new(),
            src: Vec::new(),
            src_byp: Vec::new(),
            cons: Vec::new(),
            cons_byp: Vec::new(),
            main: Vec::new(),
            in_bits: graph.in_bits(),
            out_bits: graph.out_bits(),
            m_ready: Vec::new(),
            m_ready_byp: Vec::new(),
            s_ready: Vec::new(),
            record: None,
            cycle: 0,
            fast: true,
            awake: Vec::new(),
            sleep: Vec::new(),
            timer: Vec::new(),
            timed: Vec::new(),
            next_timer: u64::MAX,
            due: Vec::new(),
            valid: Vec::new(),
            vsrc: Vec::new(),
            vbyp: Vec::new(),
            from_input: Vec::new(),
            to_output: Vec::new(),
            clocked: Vec::new(),
            chains: Vec::new(),
            chain_of: Vec::new(),
            chain_asleep: Vec::new(),
            absorbing: Vec::new(),
            absorb_next: Vec::new(),
            handoff: Vec::new(),
            completed: Vec::new(),
            asleep_ok: Vec::new(),
        };
        let mut prev = Src::Input;
        let mut dup = None;
        for n in &graph.nodes {
            let mut byp = None;
            if !n.bypass().is_empty() || matches!(n.kind, NodeKind::Add { .. }) {
                // Verified: an add follows its duplicate.
                let mut b =
                    Src::Byp(dup.ok_or_else(|| SimError::Graph(format!("node {}: no duplicate", n.name)))?);
                for x in n.bypass() {
                    b = Src::Out(m.push(x, model, b, None)?);
                }
                byp = Some(b);
            }
            let i = m.push(n, model, prev, byp)?;
            if let NodeKind::Duplicate = n.kind {
                dup = Some(i);
            }
            m.main.push(i);
            prev = Src::Out(i);
        }
        let n = m.nodes.len();
        (m.cons, m.cons_byp) = (vec![None; n], vec![None; n]);
        for i in 0..n {
            for s in std::iter::once(Some(m.src[i])).chain(std::iter::once(m.src_byp[i])).flatten() {
                match s {
                    Src::Out(j) => m.cons[j] = Some(i),
                    Src::Byp(j) => m.cons_byp[j] = Some(i),
                    Src::Input => {}
                }
            }
        }
        (m.m_ready, m.m_ready_byp, m.s_ready) = (vec![false; n], vec![false; n], vec![false; n]);
        m.from_input = (0..n).filter(|&i| matches!(m.src[i], Src::Input)).collect();
        m.to_output =
            (0..n).filter(|&i| m.cons[i].is_none() && !matches!(m.nodes[i], Node::Duplicate(_))).collect();
        m.awake = vec![0; n.div_ceil(64)];
        m.due = vec![0; n.div_ceil(64)];
        m.valid = vec![false; 2 * n + 1];
        // Each unit's valid, then each duplicate's bypass valid, then the accelerator's.
        let at = |s: Src| match s {
            Src::Input => 2 * n,
            Src::Out(j) => j,
            Src::Byp(j) => n + j,
        };
        m.vsrc = m.src.iter().map(|&s| at(s)).collect();
        m.vbyp = m.src_byp.iter().map(|s| s.map_or(usize::MAX, at)).collect();
        m.sleep = vec![Sleep { since: 0, s_valid: Some(false), m_ready: Some(false) }; n];
        m.timer = vec![u64::MAX; n];
        m.timed = vec![0; n.div_ceil(64)];
        m.clocked = Vec::with_capacity(n);
        m.chain_of = vec![usize::MAX; n];
        for i in 0..n.saturating_sub(2) {
            let linked = |a: usize| matches!(m.src[a + 1], Src::Out(p) if p == a) && m.cons[a] == Some(a + 1);
            let kinds = matches!(
                (&m.nodes[i], &m.nodes[i + 1], &m.nodes[i + 2]),
                (Node::Swu(_), Node::Fifo(_), Node::Mvtu(_))
            );
            if kinds && linked(i) && linked(i + 1) {
                for u in i..i + 3 {
                    m.chain_of[u] = m.chains.len();
                }
                m.chains.push([i, i + 1, i + 2]);
            }
        }
        m.chain_asleep = vec![false; m.chains.len()];
        m.asleep_ok = (0..n)
            .map(|i| {
                let c = m.chain_of[i];
                !matches!(m.src[i], Src::Byp(_)) && (c == usize::MAX || m.chains[c][0] == i)
            })
            .collect();
        m.absorbing = vec![false; n];
        m.handoff = vec![false; n];
        m.wake_all();
        m.refresh_valid();
        Ok(m)
    }

    /// Adds the unit of node `n` reading `src` (and `byp`, for an add); returns its index.
    fn push(&mut self, n: &GraphNode, model: &Model, src: Src, byp: Option<Src>) -> Result<usize, SimError> {
        self.nodes.push(match &n.kind {
            NodeKind::Swu { cfg, .. } => Node::Swu(blocks::Swu::new(cfg)),
            NodeKind::Pool { cfg } => Node::Pool(blocks::Pool::new(cfg)),
            NodeKind::Mvtu { layer, cfg, hw, .. } => {
                let stages = compiler::dataflow::mvtu_stages(hw.as_ref());
                Node::Mvtu(Box::new(mvtu(cfg, model, layer.index())?.pipelined(cfg, stages)))
            }
            NodeKind::Fifo { depth, .. } => Node::Fifo(blocks::Fifo::new(n.in_bits, *depth)),
            NodeKind::WidthConverter { .. } => {
                Node::WidthConverter(blocks::WidthConverter::new(n.in_bits, n.out_bits))
            }
            NodeKind::Argmax { pe, bits, words, signed } => {
                Node::Argmax(blocks::Argmax::new(*pe, *bits, *words, *signed))
            }
            NodeKind::Sign { ty } => Node::Sign(blocks::Sign::new(*ty, n.out_bits)),
            NodeKind::ChannelPad { c_in, c_out, elem_bits } => {
                let simd = n.in_bits / elem_bits;
                Node::ChannelPad(blocks::ChannelPad::new(n.in_bits, c_in / simd, c_out / simd))
            }
            NodeKind::Duplicate => Node::Duplicate(blocks::Duplicate::new(n.in_bits)),
            NodeKind::Add { ty, .. } => Node::Add(blocks::Add::new(*ty, n.in_bits / usize::from(ty.bits))),
        });
        self.names.push(n.name.clone());
        self.src.push(src);
        self.src_byp.push(byp);
        Ok(self.nodes.len() - 1)
    }

    /// From now on, records every main-path node's output words and their cycles (counted from
    /// the first cycle after the last reset), to locate the node where a stream first goes
    /// wrong.
    pub fn record_streams(&mut self) {
        self.record = Some(vec![Vec::new(); self.main.len()]);
    }

    /// The recorded output handshakes of each main-path node, in graph order (empty unless
    /// recording).
    pub fn streams(&self) -> &[Handshakes] {
        self.record.as_deref().unwrap_or(&[])
    }

    /// Clock every unit every cycle and step every MVTU's accumulators each cycle as the hardware
    /// does (`true`), or (the default) let units sleep and accumulate each pass at its last
    /// word: the same words on the same cycles at every port (see the module documentation and
    /// `blocks::Mvtu::set_per_cycle`), the per-cycle form being the reference. Call it between
    /// runs: each run's reset drains the units it switches.
    pub fn set_per_cycle(&mut self, per_cycle: bool) {
        // The reference also clocks every block every cycle: no unit sleeps.
        self.wake_all();
        self.fast = !per_cycle;
        for n in &mut self.nodes {
            if let Node::Mvtu(u) = n {
                u.set_per_cycle(per_cycle);
            }
        }
    }

    /// The most words each FIFO held since the model was built, bypass FIFOs included:
    /// `(node name, words)`.
    pub fn fifo_high_water(&self) -> Vec<(String, usize)> {
        self.names
            .iter()
            .zip(&self.nodes)
            .filter_map(|(name, n)| match n {
                Node::Fifo(f) => Some((name.clone(), f.high_water())),
                _ => None,
            })
            .collect()
    }

    #[inline]
    fn is_awake(&self, i: usize) -> bool {
        self.awake[i / 64] >> (i % 64) & 1 == 1
    }

    /// The highest awake unit below `i`.
    #[inline]
    fn prev_awake(&self, i: usize) -> Option<usize> {
        let mut i = i;
        while i > 0 {
            let (w, b) = ((i - 1) / 64, (i - 1) % 64);
            let m = self.awake[w] & (u64::MAX >> (63 - b));
            if m != 0 {
                return Some(w * 64 + 63 - m.leading_zeros() as usize);
            }
            i = w * 64;
        }
        None
    }

    /// Unit `i` wakes at cycle `now`: it applies the edges it slept through (those before `now`).
    fn wake(&mut self, i: usize, now: u64) {
        let c = self.chain_of[i];
        if c != usize::MAX && self.chain_asleep[c] {
            self.wake_chain(c, now);
            return;
        }
        let Sleep { since, s_valid, .. } = self.sleep[i];
        self.handoff[i] = false;
        each_unit!(&mut self.nodes[i], u => u.skip(now - since), ());
        self.awake[i / 64] |= 1 << (i % 64);
        self.clear_timer(i);
        if std::mem::take(&mut self.absorbing[i]) {
            return;
        }
        if s_valid.is_none() {
            // A run alone may end in an output register loading: its consumer sees the word
            // from now on, as after any edge that changes it.
            let v = self.nodes[i].valid();
            if v != self.valid[i] {
                self.valid[i] = v;
                // A consumer taking its words asleep takes this one at its edge.
                if let Some(j) = self.cons[i].filter(|&j| !self.is_awake(j) && !self.absorbing[j]) {
                    self.wake(j, now);
                }
            }
        }
    }

    /// Unit `i`'s sleep ends at cycle `now` (its end in `timer`). A run alone that loaded its
    /// output register, whose consumer takes words asleep and which takes no input word at
    /// this edge, makes its output handshake (the consumer's ready is high whatever its own
    /// consumer's) without a visit: its consumer takes the word and it runs this edge at once,
    /// then sleeps on if a run alone follows; nothing else sees these edges (its valid only
    /// reaches that consumer, its ready stays low). A unit that completed an output word with a
    /// word it took asleep hands it over the same way ([`CycleModel::hand_over`]). Otherwise it
    /// wakes.
    fn sleep_ends(&mut self, i: usize, now: u64) {
        let Sleep { since, s_valid, .. } = self.sleep[i];
        let j = match self.cons[i] {
            Some(j) if s_valid.is_none() && self.absorbing[j] && self.record.is_none() => j,
            // A chain's end is its MVTU's, which sleeps watching its inputs.
            _ => {
                let c = self.chain_of[i];
                if c != usize::MAX && self.chain_asleep[c] {
                    return self.chain_ends(c, now);
                }
                return self.wake(i, now);
            }
        };
        if self.handoff[i] {
            return self.hand_over(i, j, now);
        }
        self.sleep[i].since = now;
        let quiet_input = !self.s_ready[i];
        let ends = each_unit!(
            &mut self.nodes[i],
            x => {
                x.skip(now - since);
                x.valid() && !x.ready(true) && quiet_input
            },
            false
        );
        if !ends {
            return self.wake(i, now);
        }
        let more = self.absorb(j, Some(i), &[], now + 1);
        let (v, alone) = each_unit!(
            &mut self.nodes[i],
            x => {
                x.edge(false, &[], true);
                let alone = x.run_alone();
                let alone = if alone > 0 && !x.ready(false) && !x.ready(true) { alone } else { 0 };
                (x.valid(), alone)
            },
            (false, 0)
        );
        self.valid[i] = v;
        if !more {
            self.watch_valid(j, v);
        }
        // Asleep from the next edge on, alone or until it wakes at the next cycle.
        self.sleep[i].since = now + 1;
        self.set_timer(i, now + 1 + alone);
    }

    /// Unit `i`, asleep with the output word it completed at the last edge with a word it took
    /// asleep ([`blocks::Unit::completes`]), hands it to its consumer `j`, which takes words
    /// asleep, at cycle `now`'s edge: `j` takes it, `i` runs the handshake's edge at once and
    /// takes words asleep again, this edge's input word among them (the edge pass hands it
    /// over after this, as [`blocks::Unit::completes`] orders it). Its ready stays high
    /// throughout and its valid reaches only `j`: no other unit sees these edges.
    fn hand_over(&mut self, i: usize, j: usize, now: u64) {
        self.handoff[i] = false;
        let more = self.absorb(j, Some(i), &[], now + 1);
        let again = each_unit!(
            &mut self.nodes[i],
            x => {
                x.edge(false, &[], true);
                debug_assert!(!x.valid() && x.takes_next_asleep(), "a handshake left a word");
                x.takes_next_asleep()
            },
            false
        );
        self.valid[i] = false;
        if !more {
            self.watch_valid(j, false);
        }
        self.clear_timer(i);
        self.sleep[i] = Sleep { since: now + 1, s_valid: None, m_ready: None };
        if !again {
            // Not by the contract; watch the producer's valid as a plain sleeper would.
            self.sleep[i].s_valid = Some(self.valid[self.vsrc[i]]);
            self.sleep[i].m_ready = Some(true);
            return;
        }
        self.absorbing[i] = true;
    }

    /// A window unit -> FIFO -> MVTU chain whose ends show nothing for a while sleeps as one:
    /// when, at cycle `now` of the ready pass, the window unit (`s_valid` from its producer) takes
    /// no word and keeps its `s_ready` ([`blocks::Swu::quiet_input`]) and the MVTU keeps its
    /// output register but at the last ([`blocks::Mvtu::chain_run`]) for `k` edges, the
    /// three sleep for them; words still move inside the chain, and [`CycleModel::wake_chain`] runs those edges
    /// on the three alone, without the per-unit work of the whole model's cycle. The chain's
    /// readies of this cycle were evaluated (the MVTU's and the FIFO's are its last two awake
    /// units); returns whether it fell asleep. Not while recording streams: the handshakes
    /// inside a chain would be known only when it wakes, after a run may have ended.
    fn sleep_chain(&mut self, c: usize, s_valid: bool, now: u64) -> bool {
        let [s, f, m] = self.chains[c];
        let n = self.clocked.len();
        if self.record.is_some() || n < 2 || self.clocked[n - 1] != f || self.clocked[n - 2] != m {
            return false;
        }
        // An MVTU word that a consumer taking words asleep takes at this edge leaves the chain
        // now: the consumer takes it here, as the edge pass would have handed it over.
        let hand = self.cons[m].filter(|&j| self.absorbing[j] && self.m_ready[m] && self.valid[m]);
        // A window unit whose next word completes no row takes words while the chain sleeps
        // (`absorb`): they change nothing its read side or its producer sees.
        let (k, absorb) = match (&self.nodes[s], &self.nodes[m]) {
            (Node::Swu(su), Node::Mvtu(mu)) if self.takes_asleep(s) && su.absorbs() => {
                (su.quiet_read().min(mu.chain_run(hand.is_some())), true)
            }
            (Node::Swu(su), Node::Mvtu(mu)) => {
                (su.quiet_input(s_valid).min(mu.chain_run(hand.is_some())), false)
            }
            _ => (0, false),
        };
        // Two edges at least: fewer save nothing over clocking the three.
        if k < 2 {
            return false;
        }
        if let Some(j) = hand {
            self.chain_hands_over(m, j, now);
        }
        self.clocked.truncate(n - 2);
        let until = now.saturating_add(k);
        for u in [s, f, m] {
            self.sleep[u] = Sleep { since: now, s_valid: Some(false), m_ready: Some(false) };
            self.awake[u / 64] &= !(1 << (u % 64));
        }
        // What wakes the chain early: its window unit's `s_valid` (unless it takes words
        // asleep), its MVTU's `m_ready`.
        self.sleep[s].s_valid = (!absorb).then_some(s_valid);
        self.absorbing[s] = absorb;
        self.sleep[m].m_ready = Some(self.m_ready[m]);
        self.set_timer(m, until);
        self.chain_asleep[c] = true;
        true
    }

    /// Chain `c`'s sleep ends at cycle `now` (its MVTU's output register loaded at the last
    /// edge). When the MVTU's consumer takes words asleep, and the chain may run on with the
    /// word handed over at this edge ([`blocks::Mvtu::chain_run`]) while its window unit stays
    /// quiet, the consumer takes the word and the chain sleeps on, without a visit: the
    /// handshake reaches only the consumer, as in [`CycleModel::sleep_chain`]. Otherwise it
    /// wakes.
    #[inline(never)]
    fn chain_ends(&mut self, c: usize, now: u64) {
        let [s, _, m] = self.chains[c];
        self.catch_up_chain(c, now);
        let j = match self.cons[m] {
            Some(j) if self.absorbing[j] && self.s_ready[j] && self.record.is_none() => j,
            _ => return self.chain_awake(c, now),
        };
        let due = |u: usize| self.due[u / 64] >> (u % 64) & 1 == 1;
        let k = match (&self.nodes[s], &self.nodes[m]) {
            (Node::Swu(su), Node::Mvtu(mu)) if mu.valid() && !due(s) => {
                // A window unit watching an input that changed at this cycle wakes the chain
                // in this cycle's pass, after the hand-over: not here.
                let sv = self.valid[self.vsrc[s]];
                let quiet = if self.absorbing[s] {
                    su.quiet_read()
                } else if self.sleep[s].s_valid == Some(sv) {
                    su.quiet_input(sv)
                } else {
                    0
                };
                quiet.min(mu.chain_run(true))
            }
            _ => 0,
        };
        if k < 2 {
            return self.chain_awake(c, now);
        }
        self.chain_hands_over(m, j, now);
        self.sleep[m].m_ready = Some(true);
        self.set_timer(m, now.saturating_add(k));
    }

    /// A chain falling or staying asleep at cycle `now` with its MVTU `m`'s word in the
    /// register: `m`'s consumer `j`, which takes words asleep, takes it at this edge, as the
    /// edge pass would have handed it over.
    fn chain_hands_over(&mut self, m: usize, j: usize, now: u64) {
        // The MVTU's valid after this edge: its register empties (no pass end in flight).
        self.valid[m] = false;
        if !self.absorb(j, Some(m), &[], now + 1) {
            self.watch_valid(j, false);
        }
    }

    /// Chain `c`, asleep, runs the edges it slept through up to cycle `now` and sleeps on from
    /// there.
    fn catch_up_chain(&mut self, c: usize, now: u64) {
        let [s, f, m] = self.chains[c];
        let (since, rm) = (self.sleep[s].since, self.sleep[m].m_ready == Some(true));
        let (head, tail) = self.nodes.split_at_mut(f);
        let (Node::Swu(su), [Node::Fifo(fu), Node::Mvtu(mu), ..]) = (&mut head[s], tail) else {
            unreachable!("a chain is a window unit, a FIFO and an MVTU");
        };
        su.run_chain(fu, mu, now - since, rm);
        for u in [s, f, m] {
            self.sleep[u].since = now;
        }
    }

    /// Chain `c` wakes at cycle `now`: its three units run the edges they slept through
    /// ([`blocks::Swu::run_chain`]: the edges the whole model's cycle would run, readies from
    /// the MVTU back and edges from the MVTU to the window unit, with the inputs they slept on,
    /// less what the sleep's conditions keep constant).
    fn wake_chain(&mut self, c: usize, now: u64) {
        self.catch_up_chain(c, now);
        self.chain_awake(c, now);
    }

    /// Chain `c`, caught up to cycle `now`, is awake.
    fn chain_awake(&mut self, c: usize, now: u64) {
        let [s, f, m] = self.chains[c];
        self.chain_asleep[c] = false;
        self.absorbing[s] = false;
        for u in [s, f, m] {
            self.awake[u / 64] |= 1 << (u % 64);
            self.valid[u] = self.nodes[u].valid();
        }
        self.clear_timer(m);
        // The run's last edge may have loaded the MVTU's output register: its consumer sees the
        // word from now on (one taking words asleep takes it at the MVTU's edge).
        if self.valid[m] {
            if let Some(j) = self.cons[m].filter(|&j| !self.is_awake(j) && !self.absorbing[j]) {
                self.wake(j, now);
            }
        }
    }

    /// Unit `i`'s sleep ends at cycle `until` (`u64::MAX`: none).
    #[inline]
    fn set_timer(&mut self, i: usize, until: u64) {
        self.timer[i] = until;
        self.timed[i / 64] |= u64::from(until != u64::MAX) << (i % 64);
        self.next_timer = self.next_timer.min(until);
    }

    /// Unit `i`'s sleep has no end (any more).
    #[inline]
    fn clear_timer(&mut self, i: usize) {
        self.timer[i] = u64::MAX;
        self.timed[i / 64] &= !(1 << (i % 64));
    }

    /// Reads every unit's valids into `valid`.
    fn refresh_valid(&mut self) {
        let n = self.nodes.len();
        for i in 0..n {
            self.valid[i] = self.nodes[i].valid();
            self.valid[n + i] = matches!(&self.nodes[i], Node::Duplicate(d) if d.valid_byp());
        }
    }

    /// Every sleeping unit wakes (at the present cycle).
    fn wake_all(&mut self) {
        for i in 0..self.nodes.len() {
            if !self.is_awake(i) {
                self.wake(i, self.cycle);
            }
        }
        self.timer.iter_mut().for_each(|t| *t = u64::MAX);
        self.timed.iter_mut().for_each(|w| *w = 0);
        self.next_timer = u64::MAX;
        self.due.iter_mut().for_each(|w| *w = 0);
    }

    /// The units whose sleep ends by cycle `now`, or whose input changed at the last edge,
    /// wake.
    #[inline]
    fn wake_due(&mut self, now: u64) {
        for w in 0..self.due.len() {
            let mut bits = std::mem::take(&mut self.due[w]);
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !self.is_awake(i) {
                    self.wake(i, now);
                }
            }
        }
        // After the wakes due: a sleep ending here may leave a wake due at the next cycle (a
        // consumer that took its last word asleep, `watch_valid`).
        if self.next_timer <= now {
            // Ends set during the scan (a run alone handing its word over and running alone
            // again) come into `next_timer` through `set_timer`.
            self.next_timer = u64::MAX;
            let mut next = u64::MAX;
            for w in 0..self.timed.len() {
                // A unit woken here clears its own end (a chain's, its MVTU's) and, through the
                // consumers a run alone wakes, only ends of units after it, never one before it:
                // the scan reads each end once, and one cleared since the word was read as
                // `u64::MAX`.
                let mut bits = self.timed[w];
                while bits != 0 {
                    let i = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let t = self.timer[i];
                    if t <= now {
                        self.sleep_ends(i, now);
                    } else {
                        next = next.min(t);
                    }
                }
            }
            self.next_timer = self.next_timer.min(next);
        }
    }

    /// Unit `i`, if asleep, wakes at the next cycle (an input changed at this edge).
    #[inline]
    fn wake_next(&mut self, i: Option<usize>) {
        if let Some(i) = i.filter(|&i| !self.is_awake(i) && self.sleep[i].s_valid.is_some()) {
            self.due[i / 64] |= 1 << (i % 64);
        }
    }

    /// Unit `i`, if asleep on another `m_ready`, wakes at cycle `now`.
    #[inline]
    fn wake_on_ready(&mut self, s: Option<Src>, ready: bool, now: u64) {
        if let Some(Src::Out(p)) = s {
            if !self.is_awake(p) && changes(self.sleep[p].m_ready, ready) {
                self.wake(p, now);
            }
        }
    }

    /// The data of input `s` (both outputs of a duplicate carry the same), with the
    /// accelerator's input `s_data`.
    #[inline]
    fn data<'a>(nodes: &'a [Node], s: Src, s_data: &'a [u64]) -> &'a [u64] {
        match s {
            Src::Input => s_data,
            Src::Out(j) | Src::Byp(j) => nodes[j].data(),
        }
    }
}

impl StreamDut for CycleModel {
    fn in_bits(&self) -> usize {
        self.in_bits
    }

    fn out_bits(&self) -> usize {
        self.out_bits
    }

    /// Every unit asleep, none due to wake at the next cycle and those at the accelerator's
    /// ports asleep on these inputs: until the first sleep ends, a cycle would only count (the
    /// ports being registers or readies of sleeping units, which stay as they are).
    fn quiet(&self, s_valid: bool, m_ready: bool) -> u64 {
        let now = self.cycle;
        if self.next_timer <= now
            || self.awake.iter().chain(&self.due).any(|&w| w != 0)
            || s_valid && self.from_input.iter().any(|&i| self.absorbing[i])
            || self.from_input.iter().any(|&i| changes(self.sleep[i].s_valid, s_valid))
            || self.to_output.iter().any(|&i| changes(self.sleep[i].m_ready, m_ready))
        {
            return 0;
        }
        self.next_timer - now
    }

    fn pass(&mut self, cycles: u64) {
        self.cycle += cycles;
    }

    fn cycle(
        &mut self,
        rst: bool,
        s_valid: bool,
        s_data: &[u64],
        m_ready: bool,
        out: &mut Vec<u64>,
    ) -> Ports {
        let (n, now) = (self.nodes.len(), self.cycle);
        // Before the wakes: a chain's sleep ending here sleeps on only where its window unit's
        // input keeps the valid it slept on (`chain_ends`).
        self.valid[2 * n] = s_valid;
        self.wake_due(now);
        for k in 0..self.from_input.len() {
            let i = self.from_input[k];
            if !self.is_awake(i) && changes(self.sleep[i].s_valid, s_valid) {
                self.wake(i, now);
            }
        }
        for k in 0..self.to_output.len() {
            let i = self.to_output[k];
            if !self.is_awake(i) && changes(self.sleep[i].m_ready, m_ready) {
                self.wake(i, now);
            }
        }
        // Readies from the last awake unit to the first; a sleeping unit's is constant.
        let may_sleep = self.fast && !rst;
        self.clocked.clear();
        let mut next = n;
        while let Some(i) = self.prev_awake(next) {
            next = i;
            let rm = self.cons[i].map_or(m_ready, |j| self.s_ready[j]);
            let rb = self.cons_byp[i].is_some_and(|j| self.s_ready[j]);
            (self.m_ready[i], self.m_ready_byp[i]) = (rm, rb);
            let sv = self.valid[self.vsrc[i]];
            // The ready, and how long the unit may sleep from now.
            let (sr, k, watch) = match &self.nodes[i] {
                Node::Duplicate(d) => (d.ready(rm, rb), 0, Watch::Both),
                Node::Add(a) => {
                    let bv = self.src_byp[i].is_some() && self.valid[self.vbyp[i]];
                    (a.ready(rm, sv, bv), 0, Watch::Both)
                }
                u => each_unit!(
                    u,
                    x => {
                        // A unit whose next word changes nothing its neighbours see (a window
                        // unit's that completes no row, a width converter's that completes no
                        // output word) takes its words asleep.
                        let k = if may_sleep && self.takes_asleep(i) && x.takes_next_asleep() {
                            x.sleep(false, rm)
                        } else {
                            0
                        };
                        if k > 0 {
                            (x.ready(rm), k, Watch::Ready)
                        } else {
                        let k = if may_sleep { x.sleep(sv, rm) } else { 0 };
                        // A run alone as long needs no watching of the inputs. Looked for only
                        // where a sleep of some edges is (an MVTU's pass from its buffer):
                        // most visits find none, and skip the call.
                        let a = if k > 0 && k < blocks::FOREVER { x.run_alone() } else { 0 };
                        if a > 0 && a >= k {
                            (x.ready(rm), a, Watch::None)
                        } else {
                            (x.ready(rm), k, Watch::Both)
                        }
                        }
                    },
                    (false, 0, Watch::Both)
                ),
            };
            // A producer asleep on the other ready wakes (it comes later in this pass). One asleep
            // watches the ready stored here (every change of it is made here or by a unit awake
            // at the next cycle, which makes it here then), so only a change can wake one.
            if sr != self.s_ready[i] {
                self.s_ready[i] = sr;
                self.wake_on_ready(Some(self.src[i]), sr, now);
                self.wake_on_ready(self.src_byp[i], sr, now);
            }
            if k > 0 {
                let until = now.saturating_add(k);
                self.sleep[i] = match watch {
                    Watch::None => Sleep { since: now, s_valid: None, m_ready: None },
                    Watch::Ready => Sleep { since: now, s_valid: None, m_ready: Some(rm) },
                    Watch::Both => Sleep { since: now, s_valid: Some(sv), m_ready: Some(rm) },
                };
                self.absorbing[i] = watch == Watch::Ready;
                self.awake[i / 64] &= !(1 << (i % 64));
                self.set_timer(i, until);
            } else if !(may_sleep
                && self.chain_of[i] != usize::MAX
                && self.chains[self.chain_of[i]][0] == i
                && self.sleep_chain(self.chain_of[i], sv, now))
            {
                self.clocked.push(i);
            }
        }
        let last = &self.nodes[n - 1];
        let ports = Ports { s_ready: self.s_ready[0], m_valid: last.valid() };
        if ports.m_valid {
            out.clear();
            out.extend_from_slice(last.data());
        }
        if rst {
            self.completed.clear();
            self.wake_all();
            self.nodes.iter_mut().for_each(Node::reset);
            self.refresh_valid();
            self.cycle = 0;
            if let Some(r) = &mut self.record {
                r.iter_mut().for_each(Vec::clear);
            }
            return ports;
        }
        if let Some(r) = &mut self.record {
            for (k, &i) in self.main.iter().enumerate() {
                let u = &self.nodes[i];
                if u.valid() && self.m_ready[i] {
                    r[k].push((self.cycle, u.data().to_vec()));
                }
            }
        }
        self.cycle += 1;
        // Edges from the last awake unit to the first (those the ready pass left awake: no unit
        // wakes between the passes); a consumer asleep on a valid that changes wakes at the next
        // cycle.
        for k in 0..self.clocked.len() {
            let i = self.clocked[k];
            // An absorbing consumer takes the word before this unit's edge replaces it; one that
            // can take no more (`full`) watches this unit's valid after the edge.
            let full = self.cons[i].filter(|&j| {
                self.absorbing[j] && self.valid[i] && !self.absorb(j, Some(i), s_data, self.cycle)
            });
            let (before, rest) = self.nodes.split_at_mut(i);
            let valid = self.valid[self.vsrc[i]];
            // Every unit reads its input word only when it is valid: the producer's data is
            // looked up (a match on its kind) only then.
            let data = if valid { Self::data(before, self.src[i], s_data) } else { &[] };
            let rm = self.m_ready[i];
            let (mut alone, mut absorbs) = (0, 0);
            let (v, changed_byp) = match &mut rest[0] {
                Node::Duplicate(d) => {
                    d.edge(valid, data, rm, self.m_ready_byp[i]);
                    let vb = d.valid_byp();
                    let changed = vb != self.valid[n + i];
                    self.valid[n + i] = vb;
                    (d.valid_main(), changed)
                }
                Node::Add(a) => {
                    let byp = self.src_byp[i].map_or((false, &[][..]), |b| {
                        (self.valid[self.vbyp[i]], Self::data(before, b, s_data))
                    });
                    a.edge((valid, data), byp, rm);
                    (a.valid(), false)
                }
                u => each_unit!(
                    u,
                    x => {
                        x.edge(valid, data, rm);
                        // A unit that runs alone from the next edge on (and keeps the ready its
                        // producer saw this cycle) sleeps now: no visit to find it out.
                        // One that takes its next word asleep, likewise (it waits for words and
                        // its ready is high whatever its consumer's).
                        if self.fast {
                            alone = x.run_alone();
                            let r = self.s_ready[i];
                            if alone > 0 && (x.ready(false) != r || x.ready(true) != r) {
                                alone = 0;
                            }
                            if alone == 0
                                && x.takes_next_asleep()
                                && self.s_ready[i]
                                && self.asleep_ok[i]
                            {
                                absorbs = x.sleep(false, rm);
                            }
                        }
                        (x.valid(), false)
                    },
                    (false, false)
                ),
            };
            let changed = v != self.valid[i];
            self.valid[i] = v;
            if changed {
                self.wake_next(self.cons[i]);
            }
            if let Some(j) = full {
                self.watch_valid(j, v);
            }
            if alone > 0 {
                let since = self.cycle;
                self.sleep[i] = Sleep { since, s_valid: None, m_ready: None };
                self.awake[i / 64] &= !(1 << (i % 64));
                self.set_timer(i, since.saturating_add(alone));
            } else if absorbs > 0 {
                // Its consumer's ready may differ at the next cycle: the consumer's visit wakes
                // it then. It takes words from the next edge on: the producer's word of this
                // edge, handed over later in this pass, is the one it took now.
                let since = self.cycle;
                self.sleep[i] = Sleep { since, s_valid: None, m_ready: Some(rm) };
                self.awake[i / 64] &= !(1 << (i % 64));
                self.set_timer(i, since.saturating_add(absorbs));
                self.absorb_next.push(i);
            }
            if changed_byp {
                self.wake_next(self.cons_byp[i]);
            }
        }
        if s_valid {
            for k in 0..self.from_input.len() {
                let j = self.from_input[k];
                // The accelerator's next valid is checked at the next cycle.
                if self.absorbing[j] && !self.absorb(j, None, s_data, self.cycle) {
                    self.watch_valid(j, false);
                }
            }
        }
        for k in 0..self.absorb_next.len() {
            self.absorbing[self.absorb_next[k]] = true;
        }
        self.absorb_next.clear();
        for k in 0..self.completed.len() {
            let j = self.completed[k];
            self.valid[j] = true;
            self.wake_next(self.cons[j]);
        }
        self.completed.clear();
        ports
    }
}

impl CycleModel {
    /// Unit `i` may take its input words asleep: they come from a unit's main output or the
    /// accelerator's input, which the edge pass hands over (not a duplicate's bypass), and it
    /// is no chain's FIFO or MVTU (those move words among themselves, asleep together).
    #[inline]
    fn takes_asleep(&self, i: usize) -> bool {
        self.asleep_ok[i]
    }

    /// The unit `j`, asleep alone or at the head of its chain and taking its words asleep,
    /// takes the word of unit `from` (before that unit's edge) or, from the accelerator's input,
    /// `s_data`, at this edge (`next` is the cycle after it). Returns whether it takes the next
    /// word asleep too, or, when the word completed an output word
    /// ([`blocks::Unit::completes`]), holds it to hand over at the next cycle (`true`: no valid
    /// to watch).
    fn absorb(&mut self, j: usize, from: Option<usize>, s_data: &[u64], next: u64) -> bool {
        let since = self.sleep[j].since;
        let (before, rest) = self.nodes.split_at_mut(j);
        let (more, completed, whole) = each_unit!(
            &mut rest[0],
            x => {
                let (completes, whole) = (x.completes(), x.absorb_is_edge());
                if whole {
                    // The edges before the word's, then its whole edge.
                    debug_assert!(since < next, "a word absorbed before its sleep began");
                    x.skip(next - 1 - since);
                }
                x.absorb(from.map_or(s_data, |i| before[i].data()));
                (x.takes_next_asleep(), completes, whole)
            },
            (false, false, false)
        );
        if whole {
            // The wake skips the edges after the word's.
            self.sleep[j].since = next;
        }
        if completed {
            // Asleep until the next cycle, its ready high, its valid seen by its consumer from
            // then on: `sleep_ends` hands the word over or wakes it.
            self.absorbing[j] = false;
            self.handoff[j] = true;
            self.completed.push(j);
            self.sleep[j] = Sleep { since: next, s_valid: None, m_ready: None };
            self.set_timer(j, next);
            return true;
        }
        more
    }

    /// The unit `j`, which took a word asleep and would not take the next one so (it would
    /// complete a row or an output word, or find no room), sleeps on as a plain sleeper
    /// watching its producer's valid, `valid` after this edge; or, where a word comes at the
    /// next cycle already, wakes for it. Its edges without words are the ones it slept on, so
    /// the sleep's end stays.
    fn watch_valid(&mut self, j: usize, valid: bool) {
        self.absorbing[j] = false;
        if valid {
            self.due[j / 64] |= 1 << (j % 64);
        } else {
            self.sleep[j].s_valid = Some(false);
        }
    }
}
