//! Formal proofs of the stream blocks with open tools: Yosys 0.23 reads the emitted Verilog and a
//! generated wrapper with `read_verilog -formal`, writes an SMT-LIB2 model (`prep`, `flatten`,
//! `memory_map`, `async2sync`, `dffunmap`, `write_smt2 -wires`, and a second, bit-level model after
//! `opt -full; techmap; opt -full`) and `yosys-smtbmc -s z3` proves it by bounded model checking
//! (`-t N`) and k-induction (`-i`), on both models with and without `--unroll` side by side: z3
//! 4.8 hangs on the word-level model of some blocks (the sliding-window unit's address
//! arithmetic), on the bit-level model of others (the FIFO), and on some before the first query
//! unless the state functions are unrolled, so the first answer wins.
//!
//! The properties live only in the wrapper, never in the emitted design; the wrapper instantiates
//! the design as `core` and adds immediate `assert`/`assume` statements with `$past`:
//! - [`Property::Axi`]: on the output port, TVALID once high stays high until the handshake and
//!   TDATA is stable while TVALID && !TREADY; TVALID is low at power-up, after every cycle of reset
//!   and in the cycle right after reset. The input port is driven by a legal AXI4-Stream source
//!   (`assume`s of the same rules) and the reset may come at any cycle.
//! - [`Property::NoExtra`]: token conservation, the safety half. Counters of input and output
//!   frames and of the word within the frame: the output never runs ahead of the frames begun at
//!   the input (no duplicated or invented word), and the frames in flight stay bounded.
//! - [`Property::Drain`]: token conservation, the no-loss half. Once the source stops at a frame
//!   boundary (a free `stop` input, the sink always ready), within the measured drain bound every
//!   frame that went in has come out with exactly `out_words` words.
//! - [`Property::Progress`]: with the source always valid and the sink always ready, no stretch of
//!   more than the latency bound cycles passes without an output handshake (the first one counted
//!   from reset).
//!
//! Latency and drain bounds are measured per configuration on the block's rust-hdl simulation
//! ([`crate::harness`], cycle-exact with the Verilog by `tests/verilog.rs`) and then proven tight
//! enough by the solver. Memories become registers (`memory_map`): z3 proves that form faster
//! than SMT arrays, and `$readmemh` ROM contents are then plain initial values.
//!
//! Where an induction needs facts about the block's registers (the FIFO's pointers), the wrapper
//! declares probe wires that the script connects to the flattened registers
//! (`connect -set probe core.reg`): the design text stays untouched.

use crate::accel::Accelerator;
use crate::harness::{self, Stalls, StreamBlock};
use crate::mvtu::{MvtuConfig, MvtuOutput};
use crate::pool::{Pool, PoolConfig};
use crate::rtl;
use crate::stream::{Argmax, Fifo, WidthConverter};
use crate::swu::{Swu, SwuConfig};
use crate::{HdlError, LaneInput, MemStyle, Mvtu, Popcount};
use compiler::dataflow::fold::{self, Folding, LayerFold};
use compiler::dataflow::{DataflowError, Flags};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Layer, Shape};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The kind of block a design is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// `stream::Fifo`.
    Fifo,
    /// `stream::WidthConverter`.
    WidthConverter,
    /// `stream::Argmax`.
    Argmax,
    /// `mvtu::Mvtu`.
    Mvtu,
    /// `swu::Swu`.
    Swu,
    /// `pool::Pool`.
    Pool,
    /// `rtl::accel::design`'s AXI4-Stream top.
    Accel,
}

impl fmt::Display for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockKind::Fifo => "FIFO",
            BlockKind::WidthConverter => "width converter",
            BlockKind::Argmax => "argmax",
            BlockKind::Mvtu => "MVTU",
            BlockKind::Swu => "SWU",
            BlockKind::Pool => "max-pool",
            BlockKind::Accel => "accelerator top",
        })
    }
}

/// A property the wrapper checks (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Property {
    /// AXI4-Stream rules on the output port, under a legal source and any reset.
    Axi,
    /// Token conservation, safety: no output beyond what the input frames allow.
    NoExtra,
    /// Token conservation, liveness within a bound: every frame in comes out whole.
    Drain,
    /// Bounded progress under an always-valid source and an always-ready sink.
    Progress,
}

impl Property {
    /// Every property, in table order.
    pub const ALL: [Property; 4] = [Property::Axi, Property::NoExtra, Property::Drain, Property::Progress];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Property::Axi => "axi4-stream",
            Property::NoExtra => "conservation: no extra word",
            Property::Drain => "conservation: no lost word (drain)",
            Property::Progress => "bounded progress",
        }
    }
}

/// How the design's stream ports are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ports {
    /// `clock`, `rst`, `s_data`, `s_valid`, `s_ready`, `m_data`, `m_valid`, `m_ready`.
    Block,
    /// `clk`, `rst`, `s_axis_tdata`, ..., as `rtl::accel::design` writes them.
    Axis,
}

/// A design under proof: emitted Verilog plus what the wrapper needs to know about it.
#[derive(Clone, Debug)]
pub struct Design {
    /// Block kind.
    pub kind: BlockKind,
    /// Human-readable configuration.
    pub config: String,
    /// The emitted Verilog (every module).
    pub verilog: String,
    /// `$readmemh` files `(name, text)` the Verilog reads.
    pub mems: Vec<(String, String)>,
    /// The module to instantiate.
    pub module: String,
    ports: Ports,
    /// Input word width.
    pub in_bits: usize,
    /// Output word width.
    pub out_bits: usize,
    /// Input words per frame.
    pub in_words: usize,
    /// Output words per frame.
    pub out_words: usize,
    /// The longest stretch of cycles without an output handshake, source always valid, sink
    /// always ready (the first stretch counted from the reset cycle).
    pub progress_bound: usize,
    /// Cycles from a frame's last input handshake until its last output word has gone, sink
    /// always ready.
    pub drain_bound: usize,
    /// Extra wrapper wires connected to flattened registers: `(wire, register path, width)`.
    probes: Vec<(String, String, usize)>,
    /// Strengthening invariants over probes and wrapper counters, asserted in every property.
    invariants: Vec<String>,
    /// The accelerator's Verilog with a wiring fault in the core, printed by the builder
    /// (`rtl::accel::Fault`), for its mutant.
    faulty: Option<String>,
}

/// Proof effort for one run.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// Extra BMC steps beyond the minimum each property needs.
    pub extra_depth: usize,
    /// k for the induction attempt (0: no induction).
    pub induction: usize,
    /// Wall-clock limit per tool call.
    pub timeout: Duration,
    /// Wall-clock limit of the induction attempt (past it: not proven inductive).
    pub induction_timeout: Duration,
    /// Attempt induction only on designs with strengthening invariants (the others' registers
    /// are unconstrained in an induction and it fails slowly).
    pub induction_needs_invariants: bool,
}

impl Default for Effort {
    fn default() -> Self {
        Effort {
            extra_depth: 2,
            induction: 4,
            timeout: Duration::from_secs(600),
            induction_timeout: Duration::from_secs(30),
            induction_needs_invariants: false,
        }
    }
}

/// What the solver said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No counterexample up to `bmc_depth` steps; `induction` tells whether k-induction also
    /// proved it for every depth (`None`: not attempted).
    Proven {
        /// BMC steps.
        bmc_depth: usize,
        /// k-induction result.
        induction: Option<bool>,
    },
    /// A counterexample: the step and the failing assertion's wrapper line.
    Failed {
        /// Step of the failure.
        step: usize,
        /// The failing check, as written in the wrapper.
        check: String,
    },
    /// The tool ran past its time limit.
    Timeout,
}

/// One proof's result.
#[derive(Clone, Debug)]
pub struct FormalResult {
    /// Block kind.
    pub block: BlockKind,
    /// Configuration.
    pub config: String,
    /// Property.
    pub property: Property,
    /// Outcome.
    pub outcome: Outcome,
    /// Wall-clock seconds of the Yosys and solver runs.
    pub seconds: f64,
}

impl FormalResult {
    /// The outcome as a table cell.
    pub fn cell(&self) -> String {
        match &self.outcome {
            Outcome::Proven { bmc_depth, induction } => match induction {
                Some(true) => format!("proven: BMC {bmc_depth} + induction"),
                Some(false) => format!("BMC {bmc_depth} (induction: not inductive)"),
                None => format!("BMC {bmc_depth}"),
            },
            Outcome::Failed { step, check } => format!("FAILED at step {step}: {check}"),
            Outcome::Timeout => "timeout".into(),
        }
    }

    /// Whether no counterexample was found.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Proven { .. })
    }
}

/// Checks that Yosys, yosys-smtbmc and z3 are installed; the error says which is missing.
pub fn tools_available() -> Result<(), HdlError> {
    for (tool, arg) in [("yosys", "-V"), ("yosys-smtbmc", "-h"), ("z3", "--version")] {
        let ok = Command::new(tool).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
        if !ok {
            return Err(HdlError::Tool(format!(
                "{tool} is not installed: formal checks need yosys, yosys-smtbmc and z3 (`make deps`)"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Designs.

/// Measures the progress and drain bounds of a block on its rust-hdl simulation.
fn measure<B: StreamBlock>(
    block: &mut B,
    in_bits: usize,
    in_words: usize,
    out_words: usize,
) -> Result<(usize, usize), HdlError> {
    const FRAMES: usize = 4;
    let inputs: Vec<Vec<u64>> =
        (0..FRAMES * in_words).map(|i| vec![(i as u64).wrapping_mul(0x9e37_79b9) & mask(in_bits)]).collect();
    let n_out = FRAMES * out_words;
    let limit = 10_000 + 40 * (n_out + inputs.len()) as u64;
    let full = harness::run(block, &inputs, n_out, Stalls { gap: 0.0, backpressure: 0.0, seed: 1 }, limit)?;
    let mut progress = full.out_cycles.first().map_or(0, |&t| t as usize + 1);
    for w in full.out_cycles.windows(2) {
        progress = progress.max((w[1] - w[0]) as usize);
    }
    let mut drain = 0usize;
    for (seed, gap) in [(1u64, 0.0), (2, 0.5), (3, 0.3), (4, 0.7)] {
        let r = harness::run(block, &inputs, n_out, Stalls { gap, backpressure: 0.0, seed }, limit)?;
        for f in 0..FRAMES {
            let (li, lo) = (r.in_cycles[(f + 1) * in_words - 1], r.out_cycles[(f + 1) * out_words - 1]);
            drain = drain.max(lo.saturating_sub(li) as usize);
        }
    }
    Ok((progress, drain))
}

fn mask(bits: usize) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// A design from a block's Verilog (`rtl`, top module `dut`) and its rust-hdl simulation, which
/// measures the bounds.
fn block_design<B: StreamBlock>(
    kind: BlockKind,
    config: String,
    mut block: B,
    rtl: rtl::Design,
    in_words: usize,
    out_words: usize,
) -> Result<Design, HdlError> {
    let (in_bits, out_bits) = {
        let p = block.ports();
        (p.s_data.len(), p.m_data.len())
    };
    let (progress_bound, drain_bound) = measure(&mut block, in_bits, in_words, out_words)?;
    Ok(Design {
        kind,
        config,
        verilog: rtl.verilog(),
        mems: rtl.files,
        module: rtl.top,
        ports: Ports::Block,
        in_bits,
        out_bits,
        in_words,
        out_words,
        progress_bound,
        drain_bound,
        probes: Vec::new(),
        invariants: Vec::new(),
        faulty: None,
    })
}

/// A FIFO of `depth` words of `width` bits on frames of `frame` words, with the pointer
/// invariants that make its proofs inductive.
pub fn fifo(width: usize, depth: usize, frame: usize) -> Result<Design, HdlError> {
    fifo_in(width, depth, frame, MemStyle::Distributed)
}

/// [`fifo`] with its words in `ram`: in block RAM the output register and its bypass hold state
/// the pointer invariants do not describe, so its proofs are bounded.
pub fn fifo_in(width: usize, depth: usize, frame: usize, ram: MemStyle) -> Result<Design, HdlError> {
    fifo_flags(width, depth, frame, ram, Flags::Combinational)
}

/// [`fifo_in`] with handshake flags `flags`; registered flags are tied to the count by two
/// more invariants (each is the compare of the count it was loaded from).
pub fn fifo_flags(
    width: usize,
    depth: usize,
    frame: usize,
    ram: MemStyle,
    flags: Flags,
) -> Result<Design, HdlError> {
    let b = Fifo::new(width, depth)?;
    let form = if ram == MemStyle::Block { ", block RAM" } else { "" };
    let reg = if flags.registered() { ", registered flags" } else { "" };
    let mut d = block_design(
        BlockKind::Fifo,
        format!("{width} bits x {depth} deep{form}{reg}, {frame} words/frame"),
        b,
        rtl::fifo::design_flags("dut", width, depth, ram, flags)?,
        frame,
        frame,
    )?;
    let (pw, cw) = (ubits(depth - 1), ubits(depth));
    d.probes = vec![
        ("p_count".into(), "core.count".into(), cw),
        ("p_rptr".into(), "core.rptr".into(), pw),
        ("p_wptr".into(), "core.wptr".into(), pw),
    ];
    d.invariants = vec![
        format!("p_count <= {depth}"),
        format!("p_rptr < {depth} && p_wptr < {depth}"),
        format!("(p_rptr + p_count) % {depth} == p_wptr"),
        // Words in minus words out is what the FIFO holds.
        format!("(fd - 2) * {frame} + ic - oc == p_count"),
    ];
    if flags.registered() {
        d.probes
            .extend([("p_full".into(), "core.full".into(), 1), ("p_empty".into(), "core.empty".into(), 1)]);
        d.invariants.extend([format!("p_full == (p_count == {depth})"), "p_empty == (p_count == 0)".into()]);
    }
    Ok(d)
}

/// A width converter from `i` to `o` bits on frames of `frame_bits` bits.
pub fn width_converter(i: usize, o: usize, frame_bits: usize) -> Result<Design, HdlError> {
    width_converter_flags(i, o, frame_bits, Flags::Combinational)
}

/// [`width_converter`] with handshake flags `flags`; registered flags are tied to the count by
/// two more invariants (each is the compare of the count it was loaded from).
pub fn width_converter_flags(
    i: usize,
    o: usize,
    frame_bits: usize,
    flags: Flags,
) -> Result<Design, HdlError> {
    let b = WidthConverter::new(i, o)?;
    let reg = if flags.registered() { ", registered flags" } else { "" };
    let mut d = block_design(
        BlockKind::WidthConverter,
        format!("{i} -> {o} bits{reg}, {frame_bits}-bit frames"),
        b,
        rtl::width_converter::design_flags("dut", i, o, flags)?,
        frame_bits / i,
        frame_bits / o,
    )?;
    let cb = ubits(i + o);
    d.probes = vec![("p_cnt".into(), "core.cnt".into(), cb)];
    d.invariants = vec![
        format!("p_cnt <= {}", i + o),
        // Bits in minus bits out is what the buffer holds.
        format!("(fd - 2) * {frame_bits} + ic * {i} - oc * {o} == p_cnt"),
    ];
    if flags.registered() {
        d.probes
            .extend([("p_ready".into(), "core.ready".into(), 1), ("p_valid".into(), "core.valid".into(), 1)]);
        d.invariants.extend([format!("p_ready == (p_cnt <= {o})"), format!("p_valid == (p_cnt >= {o})")]);
    }
    Ok(d)
}

/// An argmax over `words` words of `pe` scores of `bits` bits.
pub fn argmax(pe: usize, bits: usize, words: usize, signed: bool) -> Result<Design, HdlError> {
    let b = Argmax::new(pe, bits, words, signed)?;
    let jb = ubits(words - 1);
    let mut d = block_design(
        BlockKind::Argmax,
        format!(
            "{pe} x {bits}-bit {} scores/word, {words} words",
            if signed { "signed" } else { "unsigned" }
        ),
        b,
        rtl::argmax::design("dut", rtl::argmax::ArgmaxParams { pe, bits, words, signed })?,
        words,
        1,
    )?;
    d.probes = vec![("p_j".into(), "core.j".into(), jb), ("p_out_valid".into(), "core.out_valid".into(), 1)];
    d.invariants = vec![format!("p_j == ic"), "fd - 2 == p_out_valid".into()];
    Ok(d)
}

/// An MVTU of an `mh x mw` random layer folded `pe x simd`, 1-bit or 8-bit inputs, threshold or
/// scores output.
pub fn mvtu(
    mw: usize,
    mh: usize,
    pe: usize,
    simd: usize,
    fixed8: bool,
    scores: bool,
) -> Result<Design, HdlError> {
    mvtu_on(mw, mh, pe, simd, fixed8, scores, false)
}

/// [`mvtu`] as the legalizer builds it for iCE40 (`ice40`): pipeline registers at its cuts
/// (after the input word, inside the lanes) and on the lane sums, sharing the controller's one
/// enable.
pub fn mvtu_on(
    mw: usize,
    mh: usize,
    pe: usize,
    simd: usize,
    fixed8: bool,
    scores: bool,
    ice40: bool,
) -> Result<Design, HdlError> {
    let input = if fixed8 { LaneInput::Int { bits: 8, signed: false } } else { LaneInput::Binary };
    let output = if scores { MvtuOutput::Scores } else { MvtuOutput::Threshold };
    let cfg = MvtuConfig {
        name: "l1".into(),
        mw,
        mh,
        pe,
        simd,
        input,
        output,
        popcount: Popcount::Compressor,
        mem_style: MemStyle::Distributed,
    };
    let quant = if fixed8 { LayerSpec::QuantFixed8(false) } else { LayerSpec::QuantBinary(128) };
    let mut specs = vec![quant, LayerSpec::Dense(mh)];
    if !scores {
        specs.push(LayerSpec::Dense(2));
    }
    let model = random_model("f", Shape::new(1, 1, mw), &specs, 7).map_err(DataflowError::from)?;
    let Some(Layer::Dense(w)) = model.layers.get(1) else {
        return Err(HdlError::Check("random model: layer 1 is not dense".into()));
    };
    let t = w.activation.thresholds();
    let hw = if ice40 {
        compiler::passes::legalize::mvtu_ice40(&cfg)
    } else {
        compiler::passes::legalize::mvtu(&cfg)
    };
    let m = Mvtu::new(&cfg, &w.matrix, t)?.pipelined(hw.stages());
    let v = rtl::mvtu::design_hw("dut", &cfg, &hw, &w.matrix, t)?;
    let cuts: Vec<String> = hw.cuts.iter().map(|c| format!("{c:?}").to_lowercase()).collect();
    block_design(
        BlockKind::Mvtu,
        format!(
            "{mh}x{mw}, PE {pe}, SIMD {simd}, {} in, {}{}",
            if fixed8 { "8-bit" } else { "1-bit" },
            if scores { "scores" } else { "thresholds" },
            if ice40 {
                format!(", iCE40 pipeline: latency {}, cuts {}", hw.latency, cuts.join("+"))
            } else {
                String::new()
            }
        ),
        m,
        v,
        cfg.sf(),
        cfg.nf(),
    )
}

/// MVTUs as the iCE40 legalizer pipelines them: a binary one (registers after the input word,
/// inside the compressor tree and on the lane sums) and an 8-bit one (after the input word, after
/// the lanes' negations and on the sums).
pub fn pipelined_mvtus() -> Result<Vec<Design>, HdlError> {
    Ok(vec![mvtu_on(4, 4, 2, 2, false, false, true)?, mvtu_on(2, 4, 2, 1, true, false, true)?])
}

/// A sliding-window unit.
#[allow(clippy::too_many_arguments)]
pub fn swu(
    h: usize,
    w: usize,
    c: usize,
    simd: usize,
    k: usize,
    s: usize,
    p: usize,
) -> Result<Design, HdlError> {
    let cfg = SwuConfig {
        name: "swu".into(),
        h,
        w,
        c,
        elem_bits: 1,
        simd,
        kernel: k,
        stride: s,
        pad: p,
        pad_bit: true,
    };
    let b = Swu::new(&cfg)?;
    block_design(
        BlockKind::Swu,
        format!("{h}x{w}x{c}, SIMD {simd}, K {k}, S {s}, P {p}"),
        b,
        rtl::swu::design("dut", &cfg)?,
        cfg.in_words(),
        cfg.out_words(),
    )
}

/// A binary max-pool unit on words of `bits` channels.
pub fn pool(h: usize, w: usize, c: usize, bits: usize, k: usize) -> Result<Design, HdlError> {
    let cfg = PoolConfig { name: "pool".into(), h, w, c, simd: bits, elem_bits: 1, signed: false, kernel: k };
    let b = Pool::new(&cfg)?;
    block_design(
        BlockKind::Pool,
        format!("{h}x{w}x{c}, {bits}-bit words, K {k}"),
        b,
        rtl::pool::design("dut", &cfg)?,
        cfg.in_words(),
        cfg.out_words(),
    )
}

/// The accelerator of a small random model, lowered under `folds` (`(layer name, PE, SIMD)`),
/// through `rtl::accel::design`'s AXI4-Stream top.
pub fn accelerator(
    label: &str,
    input: Shape,
    specs: &[LayerSpec],
    folds: &[(&str, usize, usize)],
) -> Result<Design, HdlError> {
    let model = random_model("f", input, specs, 11).map_err(DataflowError::from)?;
    let mut folding = Folding::default();
    for &(name, pe, simd) in folds {
        let lf = LayerFold { pe, simd, popcount: Popcount::Compressor, mem_style: MemStyle::Distributed };
        folding.layers.insert(fold::layer_id(name)?, lf);
    }
    let graph = fold::lower(&model, &folding)?;
    let mut acc = Accelerator::new(&graph, &model)?;
    let rtl = rtl::accel::design(&graph, &model, "top")?;
    // The standard mutant: stage 1 sees a valid word every cycle (a two-stage design at least).
    let faulty = match graph.nodes.len() {
        0 | 1 => None,
        _ => Some(
            rtl::accel::design_with(&graph, &model, "top", Some(rtl::accel::Fault::ValidAlwaysHigh(1)))?
                .verilog(),
        ),
    };
    let (first, last) = match (graph.nodes.first(), graph.nodes.last()) {
        (Some(f), Some(l)) => (f.clone(), l.clone()),
        _ => return Err(HdlError::Check("empty graph".into())),
    };
    let (in_words, out_words) = (first.in_words, last.out_words);
    let (progress_bound, drain_bound) = measure(&mut acc, graph.in_bits(), in_words, out_words)?;
    // Every stage, a residual block's bypass chain included (just before its add).
    let stages: Vec<String> = graph.all_nodes().map(|n| n.name.clone()).collect();
    Ok(Design {
        kind: BlockKind::Accel,
        config: format!("{label} ({} stages: {})", stages.len(), stages.join(" ")),
        verilog: rtl.verilog(),
        mems: rtl.files,
        module: "top".into(),
        ports: Ports::Axis,
        in_bits: graph.in_bits(),
        out_bits: graph.out_bits(),
        in_words,
        out_words,
        progress_bound,
        drain_bound,
        probes: Vec::new(),
        invariants: Vec::new(),
        faulty,
    })
}

// ---------------------------------------------------------------------------------------------
// Mutants.

/// A deliberately broken variant of a design.
#[derive(Clone, Debug)]
pub struct Mutant {
    /// What the mutation breaks.
    pub description: String,
    /// The property expected to fail.
    pub expected: Property,
    /// The broken design.
    pub design: Design,
}

/// Applies a text substitution to a design's Verilog; the text must occur.
pub fn mutate(
    d: &Design,
    description: &str,
    expected: Property,
    from: &str,
    to: &str,
) -> Result<Mutant, HdlError> {
    if !d.verilog.contains(from) {
        return Err(HdlError::Check(format!(
            "mutant `{description}`: `{from}` is not in the {} Verilog",
            d.kind
        )));
    }
    let mut design = d.clone();
    design.verilog = d.verilog.replacen(from, to, 1);
    // A mutant must break a property itself, not only a strengthening invariant of the original.
    design.invariants.clear();
    Ok(Mutant { description: description.into(), expected, design })
}

/// The standard mutant of each block kind, with the property it must fail.
pub fn standard_mutant(d: &Design) -> Result<Mutant, HdlError> {
    use Property::{Axi, NoExtra};
    match d.kind {
        BlockKind::Fifo => mutate(
            d,
            "push ignores full (overwrites a held word)",
            Axi,
            "wire push = s_valid && !full;",
            "wire push = s_valid;",
        ),
        BlockKind::WidthConverter => mutate(
            d,
            "pop ignores m_ready (drops a ready term)",
            Axi,
            "wire pop = valid && m_ready;",
            "wire pop = valid;",
        ),
        BlockKind::Argmax => mutate(
            d,
            "valid clears without a handshake",
            Axi,
            "if (out_valid && m_ready) out_valid <= 1'b0;",
            "if (out_valid) out_valid <= 1'b0;",
        ),
        BlockKind::Mvtu => mutate(
            d,
            "controller advances under backpressure (drops a ready term)",
            Axi,
            "wire advance = !out_valid || m_ready;",
            "wire advance = 1'b1;",
        ),
        BlockKind::Swu => mutate(
            d,
            "output register advances under backpressure (drops a ready term)",
            Axi,
            "wire adv = !qv || m_ready;",
            "wire adv = 1'b1;",
        ),
        BlockKind::Pool => mutate(
            d,
            "every word inside a window is emitted (double counting)",
            NoExtra,
            "ov <= in_window && last;",
            "ov <= in_window;",
        ),
        BlockKind::Accel => {
            let description = "stage 1 sees a valid word every cycle (invents words)";
            let Some(v) = &d.faulty else {
                return Err(HdlError::Check(format!(
                    "mutant `{description}`: the {} has fewer than two stages",
                    d.kind
                )));
            };
            let mut design = d.clone();
            design.verilog = v.clone();
            design.invariants.clear();
            Ok(Mutant { description: description.into(), expected: NoExtra, design })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wrapper and scripts.

fn ubits(v: usize) -> usize {
    crate::words::ubits(v as u64).max(1)
}

/// The minimum BMC depth at which a property says something about a whole frame.
fn min_depth(d: &Design, p: Property) -> usize {
    match p {
        // Past the first output word, so that a held word is reachable.
        Property::Axi => (d.progress_bound + 6).max(8),
        Property::NoExtra => d.in_words + d.out_words.min(d.in_words) + 4,
        Property::Drain => d.in_words + d.drain_bound + 4,
        Property::Progress => 2 * d.progress_bound + 3,
    }
}

/// The wrapper module `formal_top` around `d` for property `p`.
pub fn wrapper(d: &Design, p: Property) -> String {
    let (ib, ob) = (d.in_bits, d.out_bits);
    let mut v = String::new();
    let _ = writeln!(v, "// Generated by xnorflow's hdl::formal: {} {} / {}.", d.kind, d.config, p.name());
    let _ = writeln!(v, "module formal_top (");
    let _ = writeln!(v, "  input wire clock, input wire rst, input wire stop,");
    let _ = writeln!(v, "  input wire [{}:0] s_data, input wire s_valid, input wire m_ready", ib - 1);
    let _ = writeln!(v, ");");
    let _ = writeln!(v, "  wire s_ready, m_valid;\n  wire [{}:0] m_data;", ob - 1);
    let mut conns: Vec<String> = Vec::new();
    match d.ports {
        Ports::Block => {
            conns.extend(
                ["clock(clock)", "rst(rst)", "s_valid(s_valid)", "s_ready(s_ready)"].map(String::from),
            );
            conns.extend(["m_valid(m_valid)", "m_ready(m_ready)"].map(String::from));
            conns.extend(["s_data(s_data)", "m_data(m_data)"].map(String::from));
        }
        Ports::Axis => {
            conns.extend(
                ["clk(clock)", "rst(rst)", "s_axis_tdata(s_data)", "s_axis_tvalid(s_valid)"]
                    .map(String::from),
            );
            conns.extend(
                [
                    "s_axis_tready(s_ready)",
                    "m_axis_tdata(m_data)",
                    "m_axis_tvalid(m_valid)",
                    "m_axis_tready(m_ready)",
                ]
                .map(String::from),
            );
        }
    }
    let conns: Vec<String> = conns.into_iter().map(|c| format!(".{c}")).collect();
    let _ = writeln!(v, "  {} core (\n    {}\n  );", d.module, conns.join(",\n    "));
    for (name, _, w) in &d.probes {
        let _ = writeln!(v, "  (* keep *) wire [{}:0] {name};", w - 1);
    }
    // Environment.
    let _ = writeln!(v, "  reg past_valid = 1'b0;");
    let _ = writeln!(v, "  always @(posedge clock) past_valid <= 1'b1;");
    let _ = writeln!(v, "  always @(*) if (!past_valid) assume(rst);");
    if p != Property::Axi {
        let _ = writeln!(v, "  always @(*) if (past_valid) assume(!rst);");
    }
    let _ = writeln!(v, "  // A legal AXI4-Stream source: valid and data held until the handshake.");
    let _ = writeln!(
        v,
        "  always @(posedge clock) if (past_valid && !$past(rst) && !rst && $past(s_valid && !s_ready)) assume(s_valid && s_data == $past(s_data));"
    );
    match p {
        Property::Progress => {
            let _ = writeln!(v, "  always @(*) if (past_valid && !rst) assume(s_valid && m_ready);");
        }
        Property::Drain => {
            let _ = writeln!(v, "  always @(*) assume(m_ready);");
            let _ = writeln!(v, "  always @(*) if (stop) assume(!s_valid);");
            let _ = writeln!(v, "  always @(posedge clock) if (past_valid && $past(stop)) assume(stop);");
        }
        _ => {}
    }
    // Counters: words within the frame at each side, and frames in minus frames out (plus 2).
    let (icw, ocw) = (ubits(d.in_words), ubits(d.out_words));
    let _ = writeln!(v, "  wire in_hs = s_valid && s_ready;\n  wire out_hs = m_valid && m_ready;");
    let _ =
        writeln!(v, "  reg [{}:0] ic = 0;\n  reg [{}:0] oc = 0;\n  reg [7:0] fd = 8'd2;", icw - 1, ocw - 1);
    let _ = writeln!(v, "  wire in_last = in_hs && ic == {}'d{};", icw, d.in_words - 1);
    let _ = writeln!(v, "  wire out_last = out_hs && oc == {}'d{};", ocw, d.out_words - 1);
    let _ = writeln!(v, "  always @(posedge clock) begin");
    let _ = writeln!(v, "    if (rst) begin ic <= 0; oc <= 0; fd <= 8'd2; end");
    let _ = writeln!(v, "    else begin");
    let _ = writeln!(v, "      if (in_hs) ic <= in_last ? {icw}'d0 : ic + {icw}'d1;");
    let _ = writeln!(v, "      if (out_hs) oc <= out_last ? {ocw}'d0 : oc + {ocw}'d1;");
    let _ = writeln!(v, "      fd <= fd + {{7'd0, in_last}} - {{7'd0, out_last}};");
    let _ = writeln!(v, "    end");
    let _ = writeln!(v, "  end");
    // The counters' own ranges, so that an induction does not start from impossible counts.
    let _ = writeln!(v, "  always @(*) if (past_valid) assert(ic < {icw}'d{} && oc < {ocw}'d{}); // invariant: counters in range", d.in_words, d.out_words);
    // Checks. Each assert sits on its own line: a failure names it by line.
    let _ = writeln!(v, "  // Strengthening invariants (hold in every property).");
    for inv in &d.invariants {
        let _ = writeln!(v, "  always @(*) if (past_valid) assert({inv}); // invariant: {inv}");
    }
    match p {
        Property::Axi => {
            let _ = writeln!(v, "  always @(*) if (!past_valid) assert(!m_valid); // TVALID low at power-up");
            let _ = writeln!(
                v,
                "  always @(posedge clock) if (past_valid && $past(rst)) assert(!m_valid); // TVALID low in and right after reset"
            );
            let _ = writeln!(
                v,
                "  always @(posedge clock) if (past_valid && !$past(rst) && $past(m_valid && !m_ready)) assert(m_valid); // TVALID held until the handshake"
            );
            let _ = writeln!(
                v,
                "  always @(posedge clock) if (past_valid && !$past(rst) && $past(m_valid && !m_ready)) assert(m_data == $past(m_data)); // TDATA stable while TVALID && !TREADY"
            );
        }
        Property::NoExtra => {
            let _ = writeln!(
                v,
                "  always @(*) if (past_valid) assert((fd >= 8'd3 && fd < 8'd64) || (fd == 8'd2 && (ic != 0 || oc == 0)) || (fd == 8'd1 && ic != 0 && oc == 0)); // outputs within the frames begun"
            );
        }
        Property::Drain => {
            let db = ubits(d.drain_bound + 2);
            let _ = writeln!(v, "  reg [{}:0] since_stop = 0;", db - 1);
            let _ = writeln!(
                v,
                "  always @(posedge clock) if (!stop) since_stop <= 0; else if (since_stop != {db}'d{}) since_stop <= since_stop + {db}'d1;",
                mask(db)
            );
            let _ = writeln!(
                v,
                "  always @(*) if (past_valid && stop && ic == 0 && since_stop >= {db}'d{}) assert(fd == 8'd2 && oc == 0); // every frame out whole within {} cycles",
                d.drain_bound,
                d.drain_bound
            );
        }
        Property::Progress => {
            let pb = ubits(d.progress_bound + 2);
            let _ = writeln!(v, "  reg [{}:0] since_out = 0;", pb - 1);
            let _ = writeln!(
                v,
                "  always @(posedge clock) if (rst || out_hs) since_out <= 0; else if (since_out != {pb}'d{}) since_out <= since_out + {pb}'d1;",
                mask(pb)
            );
            let _ = writeln!(
                v,
                "  always @(*) if (past_valid && !rst) assert(since_out < {pb}'d{}); // an output handshake at least every {} cycles",
                d.progress_bound,
                d.progress_bound
            );
        }
    }
    let _ = writeln!(v, "endmodule");
    v
}

/// The Yosys script that turns `design.v` and `wrapper.v` into the two models (word level and
/// bit level).
fn yosys_script(d: &Design) -> String {
    let mut s = String::from("read_verilog -formal design.v wrapper.v\nprep -top formal_top\nflatten\n");
    for (name, path, _) in &d.probes {
        let _ = writeln!(s, "connect -set {name} {path}");
    }
    // Registers rather than SMT arrays: z3 is much faster on them at these sizes.
    s.push_str("memory_map\nopt -fast\nasync2sync\ndffunmap\n");
    let _ = writeln!(s, "write_smt2 -wires {}", MODELS[0]);
    s.push_str("opt -full\ntechmap\nopt -full\ndffunmap\n");
    let _ = writeln!(s, "write_smt2 -wires {}", MODELS[1]);
    s
}

static RUN_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn work_dir() -> Result<PathBuf, HdlError> {
    let n = RUN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("xnorflow-formal-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|source| HdlError::Io { path: dir.display().to_string(), source })?;
    Ok(dir)
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), HdlError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| HdlError::Io { path: path.display().to_string(), source })
}

/// Ends a child and, on Unix, its process group (the solver that yosys-smtbmc started): ours
/// alone, by id.
fn stop(child: &mut std::process::Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `cmds` in `dir` side by side with a time limit and returns the first to finish (its
/// index, success, output), ending the others; `Ok(None)` on timeout.
fn run_race(
    cmds: Vec<Command>,
    dir: &Path,
    limit: Duration,
) -> Result<Option<(usize, bool, String)>, HdlError> {
    let mut running = Vec::new();
    for (i, mut cmd) in cmds.into_iter().enumerate() {
        let log = dir.join(format!("tool{i}.log"));
        let io = |source| HdlError::Io { path: log.display().to_string(), source };
        let file = std::fs::File::create(&log).map_err(io)?;
        let err =
            file.try_clone().map_err(|source| HdlError::Io { path: log.display().to_string(), source })?;
        let name = format!("{:?}", cmd.get_program());
        // Its own process group, so that ending it also ends the solver it started.
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| HdlError::Tool(format!("{name}: {e} (is it installed? `make deps`)")));
        match child {
            Ok(c) => running.push((i, c, log)),
            Err(e) => {
                running.iter_mut().for_each(|(_, c, _)| stop(c));
                return Err(e);
            }
        }
    }
    let start = Instant::now();
    loop {
        let mut done = None;
        for (k, (_, child, _)) in running.iter_mut().enumerate() {
            match child.try_wait() {
                Ok(Some(status)) => {
                    done = Some((k, status.success()));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    running.iter_mut().for_each(|(_, c, _)| stop(c));
                    return Err(HdlError::Tool(format!("waiting for a tool: {e}")));
                }
            }
        }
        if let Some((k, ok)) = done {
            for (j, (_, c, _)) in running.iter_mut().enumerate() {
                if j != k {
                    stop(c);
                }
            }
            let (i, _, log) = &running[k];
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Ok(Some((*i, ok, text)));
        }
        if start.elapsed() > limit {
            running.iter_mut().for_each(|(_, c, _)| stop(c));
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One tool run with a time limit: `Ok(None)` on timeout, else success and output.
fn run_limited(cmd: Command, dir: &Path, limit: Duration) -> Result<Option<(bool, String)>, HdlError> {
    Ok(run_race(vec![cmd], dir, limit)?.map(|(_, ok, text)| (ok, text)))
}

/// yosys-smtbmc with `args` on both encodings of the model, each with and without `--unroll`,
/// side by side: z3 4.8 is erratic, hanging on the word-level model of some blocks, on the
/// bit-level model of others, and on some models before its first query unless the state
/// functions are unrolled, so the first answer wins (all encode the same circuit, so the answers
/// agree).
fn smtbmc_race(args: &[&str], dir: &Path, limit: Duration) -> Result<Option<(bool, String)>, HdlError> {
    let cmds = MODELS
        .iter()
        .flat_map(|m| [(m, false), (m, true)])
        .map(|(m, unroll)| {
            let mut c = Command::new("yosys-smtbmc");
            c.args(["-s", "z3", "--noprogress"]);
            if unroll {
                c.arg("--unroll");
            }
            c.args(args).arg(m);
            c
        })
        .collect();
    Ok(run_race(cmds, dir, limit)?.map(|(_, ok, text)| (ok, text)))
}

/// The two encodings of the model: word level, and bit level (`techmap`).
const MODELS: [&str; 2] = ["word.smt2", "bit.smt2"];

/// Which wrapper line a failure names (`wrapper.v:LINE.COL-...`), as the line's comment.
fn failing_check(log: &str, wrapper: &str) -> String {
    for line in log.lines() {
        if let Some(pos) = line.find("wrapper.v:") {
            let rest = &line[pos + "wrapper.v:".len()..];
            let num: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = num.parse::<usize>() {
                if let Some(src) = wrapper.lines().nth(n.saturating_sub(1)) {
                    return src.split("// ").nth(1).unwrap_or(src.trim()).to_string();
                }
            }
        }
    }
    log.lines()
        .rev()
        .find(|l| l.contains("failed") || l.contains("FAILED"))
        .unwrap_or("unknown")
        .trim()
        .to_string()
}

fn failed_step(log: &str) -> usize {
    // smtbmc names the step it was checking when the assertion failed.
    let mut step = 0;
    for line in log.lines() {
        if let Some(p) = line.find("in step ") {
            let num: String = line[p + 8..].chars().take_while(char::is_ascii_digit).collect();
            step = num.parse().unwrap_or(step);
        }
    }
    step
}

/// Proves property `p` of design `d`: Yosys, then BMC, then (when `effort.induction > 0` and
/// BMC passed) k-induction.
pub fn check(d: &Design, p: Property, effort: &Effort) -> Result<FormalResult, HdlError> {
    let dir = work_dir()?;
    let result = check_in(&dir, d, p, effort);
    // FORMAL_KEEP keeps the scripts, models and logs for a look at a counterexample.
    if std::env::var_os("FORMAL_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn check_in(dir: &Path, d: &Design, p: Property, effort: &Effort) -> Result<FormalResult, HdlError> {
    let start = Instant::now();
    let wrap = wrapper(d, p);
    write(dir, "design.v", &d.verilog)?;
    write(dir, "wrapper.v", &wrap)?;
    for (name, text) in &d.mems {
        write(dir, name, text)?;
    }
    write(dir, "model.ys", &yosys_script(d))?;
    let done = |outcome| FormalResult {
        block: d.kind,
        config: d.config.clone(),
        property: p,
        outcome,
        seconds: start.elapsed().as_secs_f64(),
    };
    let mut y = Command::new("yosys");
    y.args(["-q", "-s", "model.ys"]);
    match run_limited(y, dir, effort.timeout)? {
        None => return Ok(done(Outcome::Timeout)),
        Some((false, log)) => {
            return Err(HdlError::Tool(format!("yosys failed on the {} wrapper:\n{log}", d.kind)))
        }
        Some((true, _)) => {}
    }
    let depth = min_depth(d, p) + effort.extra_depth;
    let Some((ok, log)) = smtbmc_race(&["-t", &depth.to_string()], dir, effort.timeout)? else {
        return Ok(done(Outcome::Timeout));
    };
    if !ok || !log.contains("Status: PASSED") {
        if log.contains("Status: FAILED") {
            return Ok(done(Outcome::Failed { step: failed_step(&log), check: failing_check(&log, &wrap) }));
        }
        return Err(HdlError::Tool(format!("yosys-smtbmc failed:\n{log}")));
    }
    let induction =
        if effort.induction > 0 && (!effort.induction_needs_invariants || !d.invariants.is_empty()) {
            match smtbmc_race(&["-i", "-t", &effort.induction.to_string()], dir, effort.induction_timeout)? {
                Some((_, log)) => {
                    let _ = write(dir, "induction.log", &log);
                    Some(log.contains("Status: PASSED"))
                }
                None => Some(false),
            }
        } else {
            None
        };
    Ok(done(Outcome::Proven { bmc_depth: depth, induction }))
}

/// The whole suite's designs: `fast` picks one small configuration per block kind.
pub fn designs(fast: bool) -> Result<Vec<Design>, HdlError> {
    let mut v = vec![fifo(4, 3, 2)?, width_converter(4, 2, 8)?, argmax(2, 3, 2, true)?];
    v.push(mvtu(4, 4, 2, 2, false, false)?);
    v.push(swu(3, 3, 2, 2, 2, 1, 0)?);
    v.push(pool(2, 4, 2, 2, 2)?);
    v.push(accelerator(
        "dense 1x1x4 -> 2 scores",
        Shape::new(1, 1, 4),
        &[LayerSpec::QuantBinary(128), LayerSpec::Dense(2)],
        &[("L1", 1, 4)],
    )?);
    if !fast {
        v.push(fifo(3, 2, 3)?);
        v.push(fifo(2, 5, 4)?);
        v.push(fifo_in(3, 5, 2, MemStyle::Block)?);
        v.push(width_converter(2, 6, 12)?);
        v.push(width_converter(6, 4, 12)?);
        // iCE40's registered handshake flags, both FIFO memory forms.
        v.push(fifo_flags(3, 2, 3, MemStyle::Distributed, Flags::Registered)?);
        v.push(fifo_flags(3, 2, 3, MemStyle::Block, Flags::Registered)?);
        v.push(width_converter_flags(2, 6, 12, Flags::Registered)?);
        v.push(width_converter_flags(6, 4, 12, Flags::Registered)?);
        v.push(argmax(1, 4, 3, false)?);
        v.push(argmax(3, 2, 1, true)?);
        v.push(mvtu(4, 4, 1, 4, false, true)?);
        v.push(mvtu(4, 2, 2, 1, true, false)?);
        v.extend(pipelined_mvtus()?);
        v.push(swu(4, 3, 1, 1, 3, 1, 1)?);
        v.push(swu(5, 4, 1, 1, 2, 2, 0)?);
        v.push(pool(3, 3, 1, 1, 2)?);
        v.push(pool(4, 4, 4, 2, 2)?);
        v.push(accelerator(
            "dense 1x1x4 -> 4 -> 2 scores",
            Shape::new(1, 1, 4),
            &[LayerSpec::QuantBinary(128), LayerSpec::Dense(4), LayerSpec::Dense(2)],
            &[("L1", 2, 2), ("L2", 1, 2)],
        )?);
        // Residual tops: the duplicate, sign, add and bypass FIFO between a 1x1 stem to int2 and
        // the scores; the stride-2 block's bypass also pools and pads 2 channels to 4.
        let ty = compiler::model::IntType { bits: 2, signed: true };
        for (label, out, stride) in [
            ("residual 2x2x2: 1x1 stem to int2, identity block, dense -> 2 scores", 2, 1),
            (
                "residual 2x2x2: 1x1 stem to int2, stride-2 block to 4 channels (pool and pad), dense -> 2 scores",
                4,
                2,
            ),
        ] {
            let padding = compiler::model::Padding::None;
            v.push(accelerator(
                label,
                Shape::new(2, 2, 2),
                &[
                    LayerSpec::QuantBinary(128),
                    LayerSpec::Conv2dMulti { out: 2, kernel: 1, stride: 1, padding, ty },
                    LayerSpec::Residual { out, kernel: 1, stride, pad_bit: false },
                    LayerSpec::Dense(2),
                ],
                &[("L1", 2, 2), ("L2", 2, 2), ("L3", 1, 4)],
            )?);
        }
    }
    Ok(v)
}
