//! `xnorflow sim` and `xnorflow cosim`: a build directory's design run by the cycle model alone
//! (throughput, latency, FIFO fill), or by the golden model, the cycle model and Verilator side
//! by side (agreement in bits and in the cycle of every output word).

use crate::builddir::{self, BuildDirError, StepResult};
use compiler::dataflow::traffic::Stalls;
use compiler::dataflow::NodeKind;
use compiler::model::Layer;
use serde::{Deserialize, Serialize};
use sim::cycle::CycleModel;
use sim::drive::{self, Drive, StreamDrive, StreamDut};
use sim::golden::{Golden, LayerOutput};
use sim::stream::{self, Vectors, Words};
use sim::verilator::{self, Design, VerilatorError};
use std::path::PathBuf;
use std::time::Instant;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum CosimError {
    /// The build directory is incomplete, unreadable or inconsistent.
    #[error(transparent)]
    Build(#[from] BuildDirError),
    /// A request beyond a limit (frames, paths).
    #[error("{0}")]
    Limit(String),
    /// The model or graph cannot be simulated.
    #[error(transparent)]
    Sim(#[from] sim::golden::SimError),
    /// The run did not finish.
    #[error("{executor}: {source}")]
    Drive {
        /// Which executor.
        executor: &'static str,
        /// The watchdog's report.
        source: drive::DriveError,
    },
    /// Verilator could not build or load the design.
    #[error(transparent)]
    Verilator(#[from] VerilatorError),
}

pub use crate::builddir::BuildDir;

impl BuildDir {
    /// The golden vectors of `frames` random frames from `seed`.
    pub fn vectors(&self, frames: usize, seed: u64) -> Result<Vectors, CosimError> {
        let golden = Golden::new(&self.model)?;
        let images = stream::random_images(golden.frame_len(), frames, seed);
        Ok(stream::vectors(&self.model, &self.graph, &images)?)
    }

    /// A watchdog limit for `frames` frames: generous for stalls, small enough to fail fast.
    pub fn max_cycles(&self, frames: usize, stall_prob: f64) -> u64 {
        max_cycles(&self.graph, frames, stall_prob)
    }
}

/// A watchdog limit for `frames` frames through `graph`: generous for stalls, small enough to
/// fail fast.
fn max_cycles(graph: &compiler::dataflow::Graph, frames: usize, stall_prob: f64) -> u64 {
    let slow = if stall_prob > 0.0 { (4.0 / (1.0 - stall_prob.min(0.95))).ceil() as u64 } else { 1 };
    1000 + 4 * (frames as u64 + 2) * graph.cycles_per_frame() as u64 * slow
}

/// The streaming watchdog: cycles without a handshake before a run is called stuck.
fn idle_limit(graph: &compiler::dataflow::Graph) -> u64 {
    max_cycles(graph, 1, 0.0)
}

/// Cycles from a frame's first input word to its last output word, over the frames of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Shortest.
    pub min: u64,
    /// Median (the lower middle value of an even count).
    pub median: u64,
    /// Longest.
    pub max: u64,
}

impl LatencySummary {
    /// The summary of a histogram of latencies (`None` when empty).
    fn of(counts: &std::collections::BTreeMap<u64, u64>) -> Option<Self> {
        let total: u64 = counts.values().sum();
        let (min, max) = (*counts.keys().next()?, *counts.keys().next_back()?);
        let mut seen = 0;
        let median = counts
            .iter()
            .find(|(_, &n)| {
                seen += n;
                2 * seen >= total
            })
            .map_or(min, |(&l, _)| l);
        Some(LatencySummary { min, median, max })
    }
}

/// Accuracy of labelled frames through the cycle model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetAccuracy {
    /// Labelled frames run.
    pub frames: usize,
    /// Frames whose class, decoded from the design's output words, equals the label.
    pub correct: usize,
    /// Frames the golden model (what `xnorflow eval` runs) classifies correctly.
    pub golden_correct: usize,
    /// Frames where the design's class differs from the golden model's.
    pub class_mismatches: usize,
}

/// What `xnorflow sim` measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimReport {
    /// Frames run.
    pub frames: usize,
    /// Cycles per frame predicted by the graph (the slowest node).
    pub predicted_cycles_per_frame: u64,
    /// Cycles between the last output words of consecutive frames, second half of the run.
    pub steady_cycles_per_frame: Option<u64>,
    /// Cycles from the first input word to the first frame's last output word, inclusive.
    pub latency_cycles: u64,
    /// Every frame's latency (first input word to last output word, inclusive); frames queue
    /// behind each other, so later ones wait longer than the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_latency: Option<LatencySummary>,
    /// Frames/s at the build's clock, from the steady state (or the prediction with one frame).
    pub fps: f64,
    /// `(FIFO, depth, most words held)`.
    pub fifo_high_water: Vec<(String, usize, usize)>,
    /// Cycles simulated.
    pub cycles: u64,
    /// Simulated cycles per wall-clock second.
    pub cycles_per_s: f64,
    /// Independent runs (threads) the frames were shared out to: 1, one stream through one
    /// model (see [`simulate_graph`]).
    #[serde(default = "one")]
    pub jobs: usize,
    /// Every output word equals the golden model's.
    pub golden_agrees: bool,
    /// Accuracy, when the frames were labelled images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetAccuracy>,
}

fn one() -> usize {
    1
}

/// The frames of a simulation.
#[derive(Clone, Copy, Debug)]
pub enum SimFrames<'a> {
    /// `frames` random frames from `seed`.
    Random {
        /// How many.
        frames: usize,
        /// Their seed.
        seed: u64,
    },
    /// Labelled images: pixels one frame after another, one label per frame.
    Labelled {
        /// Pixels.
        images: &'a [u8],
        /// Labels.
        labels: &'a [u8],
    },
}

/// One frame's result from the design: its class, and its scores when the design streams them.
pub type HwPrediction = (usize, Option<Vec<i32>>);

/// Runs `frames` random frames (from `seed`) through the cycle model with no stalls.
pub fn simulate(b: &BuildDir, frames: usize, seed: u64) -> Result<SimReport, CosimError> {
    simulate_with(b, SimFrames::Random { frames, seed }, false, 1, &mut |_| {}).map(|(r, _)| r)
}

/// Frames whose golden vectors are computed together while a run streams.
const CHUNK: usize = 256;

/// [`simulate`], streaming: frames are made and checked a chunk at a time, so memory does not
/// grow with the frames; `progress(frames_done)` hears each finished frame. With labelled frames
/// the report carries the accuracy, and with `keep` every frame's [`HwPrediction`] comes back,
/// in order. `jobs` (see [`simulate_graph`]) splits the frames into independent runs on as many
/// threads.
pub fn simulate_with(
    b: &BuildDir,
    frames: SimFrames,
    keep: bool,
    jobs: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<(SimReport, Vec<HwPrediction>), CosimError> {
    simulate_graph(&b.model, &b.graph, b.info.fclk_mhz, frames, keep, jobs, progress)
}

/// What one run of a share of the frames measured ([`simulate_graph`]).
struct Share {
    stats: drive::StreamStats,
    /// Last output cycles of its first frame, its middle one (where the steady state is measured
    /// from) and its last.
    first_end: u64,
    mid_end: u64,
    last_end: u64,
    /// Its middle frame's index within the share.
    mid: usize,
    latencies: std::collections::BTreeMap<u64, u64>,
    acc: DatasetAccuracy,
    kept: Vec<HwPrediction>,
    fifo_high_water: Vec<(String, usize)>,
}

/// Frames `range` of `frames` through a fresh cycle model, from reset; `tick()` hears each
/// finished frame.
fn simulate_share(
    model: &compiler::model::Model,
    graph: &compiler::dataflow::Graph,
    frames: SimFrames,
    range: std::ops::Range<usize>,
    keep: bool,
    tick: &mut dyn FnMut(),
) -> Result<Share, CosimError> {
    let golden = Golden::new(model)?;
    let frame_len = golden.frame_len();
    let count = range.len();
    let labels = match frames {
        SimFrames::Random { .. } => None,
        SimFrames::Labelled { labels, .. } => Some(&labels[range.clone()]),
    };
    let mut random = match frames {
        // The frames a single run would draw at these indices.
        SimFrames::Random { seed, .. } => {
            let mut r = stream::RandomImages::new(frame_len, seed);
            if range.start > 0 {
                r.nth(range.start - 1);
            }
            Some(r)
        }
        SimFrames::Labelled { .. } => None,
    };
    let mut chunk = std::collections::VecDeque::new();
    // The golden model's class of every frame pulled and not yet finished, in order.
    // Shared by the source, which fills it, and the frame handler, which drains it.
    let golden_class = std::cell::RefCell::new(std::collections::VecDeque::new());
    let mut next = 0usize;
    let mut source = std::iter::from_fn(|| {
        if chunk.is_empty() && next < count {
            let n = (count - next).min(CHUNK);
            let imgs: Vec<Vec<u8>> = match (&mut random, frames) {
                (Some(r), _) => r.take(n).collect(),
                (None, SimFrames::Labelled { images, .. }) => {
                    let at = range.start + next;
                    images[at * frame_len..(at + n) * frame_len]
                        .chunks(frame_len)
                        .map(<[u8]>::to_vec)
                        .collect()
                }
                (None, SimFrames::Random { .. }) => unreachable!("random frames have a generator"),
            };
            next += n;
            if labels.is_some() {
                match golden.run_batch(&imgs.concat()) {
                    Ok(p) => golden_class.borrow_mut().extend(p.into_iter().map(|p| p.class)),
                    Err(e) => return Some(Err(e)),
                }
            }
            match stream::vectors(model, graph, &imgs) {
                Ok(v) => chunk.extend(v.inputs.into_iter().zip(v.expected)),
                Err(e) => return Some(Err(e)),
            }
        }
        chunk.pop_front().map(Ok)
    });
    let mut cm = CycleModel::new(graph, model)?;
    let drive = StreamDrive { stalls: Stalls::default(), idle_limit: idle_limit(graph) };
    // The steady state is measured over the second half of the run: the ends of frames
    // `mid` and `frames - 1`.
    let mid = (count / 2).min(count.saturating_sub(2));
    let (mut first_end, mut mid_end, mut last_end) = (0u64, 0u64, 0u64);
    let mut latencies = std::collections::BTreeMap::new();
    let mut acc = DatasetAccuracy { frames: 0, correct: 0, golden_correct: 0, class_mismatches: 0 };
    let mut kept = Vec::new();
    let stats = drive::run_streaming(&mut cm, &mut source, &drive, &mut |f| {
        if f.index == 0 {
            first_end = f.last_out;
        }
        if f.index == mid {
            mid_end = f.last_out;
        }
        last_end = f.last_out;
        *latencies.entry(f.latency()).or_insert(0u64) += 1;
        let hw = stream::decode_output(graph, f.outputs);
        let g = golden_class.borrow_mut().pop_front();
        if let (Some(labels), Some(g)) = (labels, g) {
            let label = usize::from(labels[f.index]);
            let class = hw.as_ref().map(|h| h.0);
            acc.frames += 1;
            acc.correct += usize::from(class == Some(label));
            acc.golden_correct += usize::from(g == label);
            acc.class_mismatches += usize::from(class != Some(g));
        }
        if keep {
            // A frame whose words do not decode is no class; it is counted as a mismatch above.
            kept.push(hw.unwrap_or((usize::MAX, None)));
        }
        tick();
    })?
    .map_err(|source| CosimError::Drive { executor: "cycle model", source })?;
    let fifo_high_water = cm.fifo_high_water();
    Ok(Share { stats, first_end, mid_end, last_end, mid, latencies, acc, kept, fifo_high_water })
}

/// `count` frames cut into `jobs` consecutive shares for independent runs
/// ([`simulate_graph`]'s `jobs`), their lengths a frame apart at most.
pub fn share_ranges(count: usize, jobs: usize) -> Vec<std::ops::Range<usize>> {
    (0..jobs).map(|j| (j * count / jobs)..((j + 1) * count / jobs)).collect()
}

/// [`simulate_with`] on a legal graph of `model` (no build directory), at `fclk_mhz` for frames/s.
///
/// With `jobs` above 1 the frames are cut into that many consecutive shares (of two frames at
/// least), each run on a thread of its own through a cycle model of its own from reset, as on as
/// many accelerators side by side: every frame's output words, classes and the accuracy are
/// those of one run (a frame's words do not depend on the frames around it), the steady state
/// and the first frame's latency are the first share's (the pipeline's timing does not depend on
/// the data), the frame latencies are every share's (each share's first frame meets an empty
/// pipeline), and the cycles simulated are all the shares' together.
pub fn simulate_graph(
    model: &compiler::model::Model,
    graph: &compiler::dataflow::Graph,
    fclk_mhz: f64,
    frames: SimFrames,
    keep: bool,
    jobs: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<(SimReport, Vec<HwPrediction>), CosimError> {
    // The golden model's frame (each share builds its own golden model).
    let frame_len = model.input.len();
    let (count, labelled) = match frames {
        SimFrames::Random { frames, .. } => (frames, false),
        SimFrames::Labelled { images, labels } => {
            let n = builddir::check_labelled(images, labels, frame_len, &model.input)
                .map_err(CosimError::Limit)?;
            (n, true)
        }
    };
    if count == 0 || count > builddir::MAX_SIM_FRAMES {
        return Err(CosimError::Limit(format!(
            "--frames must be from 1 to {} (the cycle model runs about a million cycles a second), got {count}",
            builddir::MAX_SIM_FRAMES
        )));
    }
    let jobs = jobs.clamp(1, (count / 2).max(1));
    let ranges = share_ranges(count, jobs);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    let shares: Vec<Result<Share, CosimError>> = std::thread::scope(|scope| {
        let done = &done;
        let others: Vec<_> = ranges[1..]
            .iter()
            .map(|r| {
                let r = r.clone();
                scope.spawn(move || {
                    simulate_share(model, graph, frames, r, keep, &mut || {
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    })
                })
            })
            .collect();
        // The first share runs here, where the progress callback lives, and reports everyone's.
        let first = simulate_share(model, graph, frames, ranges[0].clone(), keep, &mut || {
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
        });
        std::iter::once(first)
            .chain(others.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))))
            .collect()
    });
    let wall = t0.elapsed().as_secs_f64();
    let shares = shares.into_iter().collect::<Result<Vec<_>, _>>()?;
    progress(count);
    let first = &shares[0];
    let n0 = ranges[0].len();
    let steady = (n0 >= 2).then(|| (first.last_end - first.mid_end) / (n0 - 1 - first.mid) as u64);
    let predicted = graph.cycles_per_frame() as u64;
    let depths = graph.all_nodes().filter_map(|n| match n.kind {
        NodeKind::Fifo { depth, .. } => Some(depth),
        _ => None,
    });
    let mut high = first.fifo_high_water.clone();
    for s in &shares[1..] {
        for (h, (_, w)) in high.iter_mut().zip(&s.fifo_high_water) {
            h.1 = h.1.max(*w);
        }
    }
    let fifo_high_water = high.into_iter().zip(depths).map(|((name, hw), depth)| (name, depth, hw)).collect();
    let mut latencies = std::collections::BTreeMap::new();
    let mut acc = DatasetAccuracy { frames: 0, correct: 0, golden_correct: 0, class_mismatches: 0 };
    let (mut cycles, mut done_frames) = (0, 0);
    for s in &shares {
        for (&l, &n) in &s.latencies {
            *latencies.entry(l).or_insert(0) += n;
        }
        acc.frames += s.acc.frames;
        acc.correct += s.acc.correct;
        acc.golden_correct += s.acc.golden_correct;
        acc.class_mismatches += s.acc.class_mismatches;
        cycles += s.stats.cycles;
        done_frames += s.stats.frames;
    }
    let report = SimReport {
        frames: done_frames,
        predicted_cycles_per_frame: predicted,
        steady_cycles_per_frame: steady,
        latency_cycles: first.first_end - first.stats.first_in_cycle.unwrap_or(0) + 1,
        frame_latency: LatencySummary::of(&latencies),
        fps: compiler::dataflow::fold::fps(steady.unwrap_or(predicted), fclk_mhz),
        fifo_high_water,
        cycles,
        cycles_per_s: cycles as f64 / wall.max(1e-9),
        jobs,
        golden_agrees: shares.iter().all(|s| s.stats.mismatches == 0 && s.stats.words > 0),
        dataset: labelled.then_some(acc),
    };
    let kept = shares.into_iter().flat_map(|s| s.kept).collect();
    Ok((report, kept))
}

/// How to co-simulate.
#[derive(Clone, Debug, Default)]
pub struct CosimOptions {
    /// Frames.
    pub frames: usize,
    /// Seed of the frames and the stalls.
    pub seed: u64,
    /// Input gap and output backpressure probability.
    pub stall_prob: f64,
    /// Write Verilator's waveforms here.
    pub vcd: Option<PathBuf>,
    /// Frames (pixels) to run instead of `frames` random ones.
    pub images: Vec<Vec<u8>>,
}

/// The first disagreement of a co-simulation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Mismatch {
    /// Which executors disagree.
    pub between: String,
    /// Frame index.
    pub frame: usize,
    /// Output word index within the run.
    pub word: usize,
    /// The node (and model layer) where the streams first differ, as far as it can be located.
    pub at: String,
    /// Cycle of the word (the later executor's).
    pub cycle: Option<u64>,
    /// What each side gave.
    pub detail: String,
}

/// What `xnorflow cosim` found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CosimReport {
    /// Frames run.
    pub frames: usize,
    /// Output words compared.
    pub words: usize,
    /// Cycles of the cycle model's run.
    pub cycles: u64,
    /// The cycle model's words equal the golden model's.
    pub cycle_vs_golden: bool,
    /// Verilator's words equal the golden model's (None: Verilator did not run).
    pub verilator_vs_golden: Option<bool>,
    /// Verilator's output cycles equal the cycle model's.
    pub verilator_vs_cycle_timing: Option<bool>,
    /// Why Verilator did not run.
    pub verilator_skipped: Option<String>,
    /// The first disagreement.
    pub first_mismatch: Option<Mismatch>,
    /// Wall-clock seconds: cycle model, Verilator build, Verilator run.
    pub seconds: (f64, f64, f64),
}

impl StepResult for SimReport {
    type Key = ();
    fn file_name(_: &()) -> String {
        builddir::SIM_JSON.into()
    }
    fn key(&self) {}
}

impl StepResult for CosimReport {
    type Key = ();
    fn file_name(_: &()) -> String {
        builddir::COSIM_JSON.into()
    }
    fn key(&self) {}
}

impl CosimReport {
    /// Golden, cycle model and Verilator (if it ran) agree on every bit and cycle.
    pub fn agrees(&self) -> bool {
        self.first_mismatch.is_none()
    }
}

/// The first index where two word lists differ (or one ends).
fn first_diff(a: &[Vec<u64>], b: &[Vec<u64>]) -> Option<usize> {
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))
}

fn hex(w: Option<&Vec<u64>>) -> String {
    w.map_or("nothing".into(), |w| w.iter().rev().map(|x| format!("{x:016x}")).collect::<Vec<_>>().join("_"))
}

/// Per MVTU node: the golden model's output words of its layer for every frame.
fn golden_streams(b: &BuildDir, images: &[Vec<u8>]) -> Result<Vec<Option<Words>>, CosimError> {
    let golden = Golden::new(&b.model)?;
    let traces: Vec<Vec<LayerOutput>> = images.iter().map(|im| golden.trace(im)).collect::<Result<_, _>>()?;
    Ok(b.graph
        .nodes
        .iter()
        .map(|n| match &n.kind {
            // A residual block's layer output is its add's, not its branch MVTU's.
            NodeKind::Mvtu { layer, .. }
                if matches!(b.model.layers.get(layer.index()), Some(Layer::Residual { .. })) =>
            {
                None
            }
            NodeKind::Add { layer, ty, .. } => {
                let (k, per) = (usize::from(ty.bits), n.in_bits / usize::from(ty.bits));
                let mut words = Words::new();
                for t in &traces {
                    if let LayerOutput::Ints { values, .. } = &t[layer.index()] {
                        words.extend(stream::pack_ints(values, k, per));
                    }
                }
                Some(words)
            }
            NodeKind::Mvtu { layer, cfg, .. } => {
                let mut words = Words::new();
                for t in &traces {
                    match &t[layer.index()] {
                        LayerOutput::Bits { bits, .. } => {
                            let v: Vec<u64> = bits.iter().map(|&x| u64::from(x)).collect();
                            words.extend(stream::pack(&v, 1, cfg.pe));
                        }
                        // k-bit activations or scores, a field of the unit's output width each.
                        LayerOutput::Ints { values, .. } => {
                            words.extend(stream::pack_ints(values, cfg.field_bits(), cfg.pe));
                        }
                    }
                }
                Some(words)
            }
            _ => None,
        })
        .collect())
}

/// Where the cycle model's streams first leave the golden model's: `(node and layer, frame,
/// cycle)` of the first MVTU whose output differs.
fn locate(
    b: &BuildDir,
    cm: &CycleModel,
    images: &[Vec<u8>],
) -> Result<Option<(String, usize, u64)>, CosimError> {
    let want = golden_streams(b, images)?;
    for ((node, got), want) in b.graph.nodes.iter().zip(cm.streams()).zip(want) {
        let Some(want) = want else { continue };
        let words: Vec<Vec<u64>> = got.iter().map(|(_, w)| w.clone()).collect();
        if let Some(i) = first_diff(&words, &want) {
            let layer = match &node.kind {
                NodeKind::Mvtu { layer, .. } | NodeKind::Add { layer, .. } => layer.index(),
                _ => 0,
            };
            let kind = b.model.layers.get(layer).map_or("?", Layer::kind);
            let cycle = got.get(i).map_or(u64::MAX, |(c, _)| *c);
            return Ok(Some((
                format!("node {} (model layer {layer}, {kind})", node.name),
                i / node.out_words,
                cycle,
            )));
        }
    }
    Ok(None)
}

/// Runs the golden model, the cycle model and (when installed) Verilator on the same frames and
/// stalls and compares them. `progress` hears each step.
pub fn cosim(
    b: &BuildDir,
    o: &CosimOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<CosimReport, CosimError> {
    if o.images.is_empty() {
        builddir::check_frames(&b.graph, o.frames, "--frames").map_err(CosimError::Limit)?;
    }
    if let Some(p) = &o.vcd {
        builddir::check_output_file(b, p)?;
    }
    let golden = Golden::new(&b.model)?;
    let images = if o.images.is_empty() {
        stream::random_images(golden.frame_len(), o.frames.max(1), o.seed)
    } else {
        o.images.clone()
    };
    let v = stream::vectors(&b.model, &b.graph, &images)?;
    let (inputs, expected) = (v.flat_inputs(), v.flat_expected());
    let per_frame = expected.len() / v.expected.len();
    let stalls = Stalls { gap: o.stall_prob, backpressure: o.stall_prob, seed: o.seed };
    let drive = Drive { stalls, max_cycles: b.max_cycles(images.len(), o.stall_prob), stop_at: None };

    progress("cycle model");
    let t0 = Instant::now();
    // The cycle model as `sim` runs it (units and chains asleep while quiet), so Verilator checks
    // those fast paths directly; recording every node's stream would keep them awake.
    let mut cm = CycleModel::new(&b.graph, &b.model)?;
    let ct = drive::run(&mut cm, &inputs, expected.len(), &drive)
        .map_err(|source| CosimError::Drive { executor: "cycle model", source })?;
    let t_cycle = t0.elapsed().as_secs_f64();
    let mut first_mismatch = None;
    if let Some(i) = first_diff(&ct.outputs, &expected) {
        // Locating the node needs every node's stream: a second run that records them.
        let mut rec = CycleModel::new(&b.graph, &b.model)?;
        rec.record_streams();
        drive::run(&mut rec, &inputs, expected.len(), &drive)
            .map_err(|source| CosimError::Drive { executor: "cycle model", source })?;
        let at = locate(b, &rec, &images)?
            .map_or("the output stream (every MVTU's stream agrees)".to_string(), |(n, _, c)| {
                format!("{n}, its word at cycle {c}")
            });
        first_mismatch = Some(Mismatch {
            between: "cycle model vs golden".into(),
            frame: i / per_frame,
            word: i,
            at,
            cycle: ct.out_cycles.get(i).copied(),
            detail: format!("cycle model {} golden {}", hex(ct.outputs.get(i)), hex(expected.get(i))),
        });
    }

    let (mut vg, mut vt, mut skipped, mut tb, mut tr) = (None, None, None, 0.0, 0.0);
    match verilator::version() {
        Err(e) => skipped = Some(e.to_string()),
        Ok(_) => {
            let t1 = Instant::now();
            let d = Design {
                verilog: b.dir.join(builddir::DESIGN_V),
                top: b.info.top.to_string(),
                in_bits: b.graph.in_bits(),
                out_bits: b.graph.out_bits(),
                work: b.dir.join(builddir::VERILATOR_DIR),
                trace: o.vcd.is_some(),
                opt: "1".into(),
            };
            let lib = verilator::verilate(&d, progress)?;
            tb = t1.elapsed().as_secs_f64();
            progress("Verilator");
            let t2 = Instant::now();
            let mut dut = lib.instance(o.vcd.as_deref())?;
            let vt_run = drive::run(&mut dut as &mut dyn StreamDut, &inputs, expected.len(), &drive)
                .map_err(|source| CosimError::Drive { executor: "Verilator", source })?;
            tr = t2.elapsed().as_secs_f64();
            vg = Some(vt_run.outputs == expected);
            vt = Some(vt_run.out_cycles == ct.out_cycles && vt_run.in_cycles == ct.in_cycles);
            if first_mismatch.is_none() {
                let bits = first_diff(&vt_run.outputs, &ct.outputs);
                let when = (0..vt_run.out_cycles.len().max(ct.out_cycles.len()))
                    .find(|&i| vt_run.out_cycles.get(i) != ct.out_cycles.get(i));
                if let Some(i) = [bits, when].into_iter().flatten().min() {
                    first_mismatch = Some(Mismatch {
                        between: "Verilator vs cycle model".into(),
                        frame: i / per_frame,
                        word: i,
                        at: "the output stream (the cycle model agrees with the golden model at every node)"
                            .into(),
                        cycle: vt_run.out_cycles.get(i).copied(),
                        detail: format!(
                            "Verilator {} at cycle {:?}, cycle model {} at cycle {:?}",
                            hex(vt_run.outputs.get(i)),
                            vt_run.out_cycles.get(i),
                            hex(ct.outputs.get(i)),
                            ct.out_cycles.get(i)
                        ),
                    });
                }
            }
        }
    }
    Ok(CosimReport {
        frames: images.len(),
        words: expected.len(),
        cycles: ct.cycles,
        cycle_vs_golden: ct.outputs == expected,
        verilator_vs_golden: vg,
        verilator_vs_cycle_timing: vt,
        verilator_skipped: skipped,
        first_mismatch,
        seconds: (t_cycle, tb, tr),
    })
}
