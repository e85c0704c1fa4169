//! Lowering a model to a dataflow graph under a folding, and choosing foldings.
//!
//! A folding gives each binary layer its PE and SIMD (and popcount structure and memory style). It
//! comes from the user as JSON, or from [`auto_fold`], which picks PE and SIMD for all layers
//! jointly to minimise the estimated LUTs under a throughput target, or to maximise throughput
//! under a LUT budget. [`finn_fold`] is FINN's heuristic, kept for comparison.

use super::{
    cost, divisors, DataflowError, Graph, LaneInput, MemStyle, MvtuConfig, MvtuOutput, Node, PoolConfig,
    Popcount, SwuConfig,
};
use crate::model::{Activation, Layer, Model, OutputMode, Padding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One layer's folding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFold {
    /// Rows computed in parallel (divides the layer's outputs).
    pub pe: usize,
    /// Inputs consumed per cycle (divides the layer's fan-in).
    pub simd: usize,
    /// Popcount structure.
    #[serde(default)]
    pub popcount: Popcount,
    /// Weight memory resource.
    #[serde(default)]
    pub mem_style: MemStyle,
}

/// A folding: per binary layer, by name (`L1`, `L2`, ...: `L` and the model layer's index).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Folding {
    /// Layer name to its folding.
    pub layers: BTreeMap<String, LayerFold>,
}

/// The input geometry of a convolution, for its sliding-window unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on each side.
    pub pad: usize,
    /// Padding bit.
    pub pad_bit: bool,
}

/// A binary layer as the hardware sees it, before folding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// `L<index>`.
    pub name: String,
    /// Model layer index.
    pub layer: usize,
    /// Fan-in.
    pub mw: usize,
    /// Outputs.
    pub mh: usize,
    /// Input element type.
    pub input: LaneInput,
    /// Threshold bits or scores.
    pub output: MvtuOutput,
    /// Vectors per frame: output pixels of a convolution, 1 for a dense layer.
    pub vectors: usize,
    /// A convolution's input geometry.
    pub window: Option<Window>,
}

impl LayerShape {
    /// The legal SIMD values: divisors of the fan-in, or of a convolution's input channels (the
    /// sliding-window unit's words never straddle a pixel).
    pub fn legal_simd(&self) -> Vec<usize> {
        divisors(self.window.map_or(self.mw, |w| w.c))
    }

    /// The fewest cycles per frame any folding reaches: every row in parallel at the widest
    /// legal SIMD.
    pub fn fastest(&self) -> u64 {
        self.cycles(self.mh, self.legal_simd().last().copied().unwrap_or(1))
    }

    /// Cycles per frame at PE = SIMD = 1.
    pub fn slowest(&self) -> u64 {
        self.cycles(1, 1)
    }

    /// Cycles per frame at `pe` and `simd`.
    pub fn cycles(&self, pe: usize, simd: usize) -> u64 {
        ((self.mh / pe) * (self.mw / simd) * self.vectors) as u64
    }

    /// The sliding-window unit of a convolution under folding `f`.
    pub fn swu(&self, f: &LayerFold) -> Option<SwuConfig> {
        self.window.map(|w| SwuConfig {
            name: format!("S{}", self.layer),
            h: w.h,
            w: w.w,
            c: w.c,
            elem_bits: self.input.bits(),
            simd: f.simd,
            kernel: w.kernel,
            stride: w.stride,
            pad: w.pad,
            pad_bit: w.pad_bit,
        })
    }

    /// The MVTU configuration under `f`.
    pub fn config(&self, f: &LayerFold) -> MvtuConfig {
        MvtuConfig {
            name: self.name.clone(),
            mw: self.mw,
            mh: self.mh,
            pe: f.pe,
            simd: f.simd,
            input: self.input,
            output: self.output,
            popcount: f.popcount,
            mem_style: f.mem_style,
        }
    }
}

/// The binary layers (dense and convolutional) of a model, in order.
pub fn layer_shapes(model: &Model) -> Result<Vec<LayerShape>, DataflowError> {
    let types = model.infer().map_err(|e| DataflowError::Graph(e.to_string()))?;
    let mut input = LaneInput::Binary;
    let mut shapes = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        let output = |w: &crate::model::BinaryWeights| match w.activation {
            Activation::Threshold(_) => MvtuOutput::Threshold,
            Activation::Scores => MvtuOutput::Scores,
        };
        // The first binary layer takes the quantizer's elements, every later one bits.
        let kind = if shapes.is_empty() { input } else { LaneInput::Binary };
        match layer {
            Layer::QuantBinary { .. } => input = LaneInput::Binary,
            Layer::QuantFixed8(f) => input = LaneInput::Fixed8 { signed: f.signed },
            // The stream carries the table's values as bytes (`sim::stream::vectors` packs the
            // golden model's first integers), so the lanes see an 8-bit input like any other.
            Layer::QuantTable(t) => input = LaneInput::Fixed8 { signed: t.signed() },
            Layer::Dense(w) => shapes.push(LayerShape {
                name: format!("L{i}"),
                layer: i,
                mw: w.fan_in(),
                mh: w.out(),
                input: kind,
                output: output(w),
                vectors: 1,
                window: None,
            }),
            Layer::Conv2d { kernel, stride, padding, weights: w } => {
                let (inp, out) = (types[i - 1].shape, types[i].shape);
                shapes.push(LayerShape {
                    name: format!("L{i}"),
                    layer: i,
                    mw: w.fan_in(),
                    mh: w.out(),
                    input: kind,
                    output: output(w),
                    vectors: out.h * out.w,
                    window: Some(Window {
                        h: inp.h,
                        w: inp.w,
                        c: inp.c,
                        kernel: *kernel,
                        stride: *stride,
                        pad: padding.amount(),
                        pad_bit: matches!(padding, Padding::Bit { bit: true, .. }),
                    }),
                });
            }
            Layer::MaxPool { .. } => {}
        }
    }
    if shapes.is_empty() {
        return Err(DataflowError::Graph("the model has no binary layer to lower".into()));
    }
    Ok(shapes)
}

/// FIFO depth in front of `consumer` (in its words), from the schedule: the consumer takes a
/// vector's `SF` input words in its first pass and none in the `NF - 1` passes that follow;
/// meanwhile the stream keeps arriving at the rate of the slowest node upstream
/// (`upstream_cycles` per frame, `vectors` vectors of `SF` words). The FIFO holds what arrives in
/// that window (at most one vector), plus two words so that a full FIFO still passes a word per
/// cycle.
pub fn fifo_depth(upstream_cycles: usize, consumer: &MvtuConfig, vectors: usize) -> usize {
    let (sf, nf) = (consumer.sf(), consumer.nf());
    let idle = (nf - 1) * sf;
    let produced = (idle * sf * vectors).div_ceil(upstream_cycles.max(1));
    produced.min(sf) + 2
}

/// Appends a width converter when the last node's words are not `bits` wide.
fn adapt(nodes: &mut Vec<Node>, bits: usize, layer: usize) {
    if let Some(last) = nodes.last() {
        if last.out_bits != bits {
            let frame = last.out_bits * last.out_words;
            nodes.push(Node::width_converter(&format!("W{layer}"), last.out_bits, bits, frame));
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Lowers `model` under `folding` (every binary layer must be listed, no other name).
pub fn lower(model: &Model, folding: &Folding) -> Result<Graph, DataflowError> {
    let shapes = layer_shapes(model)?;
    for name in folding.layers.keys() {
        if !shapes.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = shapes.iter().map(|s| s.name.as_str()).collect();
            return Err(DataflowError::Graph(format!(
                "the folding names layer {name}, which the model does not have (its binary layers: {})",
                known.join(", ")
            )));
        }
    }
    let types = model.infer().map_err(|e| DataflowError::Graph(e.to_string()))?;
    let mut shapes = shapes.iter();
    let mut nodes: Vec<Node> = Vec::new();
    let mut prev: Option<MvtuConfig> = None;
    for (idx, layer) in model.layers.iter().enumerate() {
        if let Layer::MaxPool { kernel, stride } = layer {
            let inp = types[idx - 1].shape;
            if kernel != stride {
                return Err(DataflowError::Folding {
                    layer: format!("L{idx}"),
                    message: format!(
                        "the max-pool unit takes windows with stride = kernel; this one has kernel {kernel}, \
                         stride {stride}"
                    ),
                });
            }
            // Words of the producer's width when they hold whole channel groups.
            let bits = gcd(nodes.last().map_or(inp.c, |n| n.out_bits), inp.c);
            adapt(&mut nodes, bits, idx);
            let cfg =
                PoolConfig { name: format!("P{idx}"), h: inp.h, w: inp.w, c: inp.c, bits, kernel: *kernel };
            cfg.validate()?;
            nodes.push(Node::pool(cfg));
            continue;
        }
        if layer.weights().is_none() {
            continue;
        }
        let Some(s) = shapes.next() else { break };
        let f = folding.layers.get(&s.name).ok_or_else(|| DataflowError::Folding {
            layer: s.name.clone(),
            message: format!("the folding does not give PE and SIMD for this {}x{} layer", s.mh, s.mw),
        })?;
        let cfg = s.config(f);
        if let Some(swu) = s.swu(f) {
            swu.validate().map_err(|e| DataflowError::Folding {
                layer: s.name.clone(),
                message: match e {
                    DataflowError::Folding { message, .. } => message,
                    other => other.to_string(),
                },
            })?;
            adapt(&mut nodes, swu.bits(), idx);
            nodes.push(Node::swu(swu));
        } else {
            adapt(&mut nodes, cfg.in_bits(), idx);
        }
        cfg.validate()?;
        if !nodes.is_empty() {
            let upstream = nodes.iter().map(Node::cycles).max().unwrap_or(1);
            let depth = fifo_depth(upstream, &cfg, s.vectors);
            nodes.push(Node::fifo(&format!("F{idx}"), cfg.in_bits(), cfg.sf() * s.vectors, depth));
        }
        nodes.push(Node::mvtu_repeated(s.layer, cfg.clone(), s.vectors));
        prev = Some(cfg);
    }
    if let (OutputMode::Argmax, Some(last)) = (model.output, &prev) {
        if last.output == MvtuOutput::Scores {
            nodes.push(Node::argmax("argmax", last));
        }
    }
    let g = Graph { name: model.name.clone(), nodes };
    g.verify()?;
    Ok(g)
}

/// What automatic folding aims at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FoldTarget {
    /// At most this many cycles per frame, with the fewest LUTs.
    Cycles(u64),
    /// The fewest cycles per frame within this many LUTs.
    LutBudget(u64),
}

/// The cheapest folding of one layer within `cycles` per frame (LUTs, then BRAM), if any.
fn cheapest(
    s: &LayerShape,
    cycles: u64,
    popcount: Popcount,
    mem: MemStyle,
) -> Option<(LayerFold, cost::Cost)> {
    let mut best: Option<(LayerFold, cost::Cost)> = None;
    for pe in divisors(s.mh) {
        for simd in s.legal_simd() {
            if s.cycles(pe, simd) > cycles {
                continue;
            }
            let f = LayerFold { pe, simd, popcount, mem_style: mem };
            let mut c = cost::mvtu(&s.config(&f));
            if let Some(swu) = s.swu(&f) {
                c = c + cost::swu(&swu);
            }
            if best.as_ref().is_none_or(|(_, b)| (c.lut, c.bram18) < (b.lut, b.bram18)) {
                best = Some((f, c));
            }
        }
    }
    best
}

/// The estimated LUTs of a whole lowered folding (FIFOs, converters and argmax included).
pub fn folding_luts(model: &Model, folding: &Folding) -> Result<u64, DataflowError> {
    Ok(cost::graph(&lower(model, folding)?).1.lut)
}

/// Chooses PE and SIMD for every layer jointly. For a cycle target each layer takes its cheapest
/// folding that meets it (the slowest layer sets the frame rate, LUTs add up, so the joint optimum
/// is this per-layer optimum). For a LUT budget it searches the achievable frame times, fastest
/// first, for the first whose cheapest design fits. An impossible target is an error that gives
/// the best achievable figure.
pub fn auto_fold(
    model: &Model,
    target: FoldTarget,
    popcount: Popcount,
    mem: MemStyle,
) -> Result<Folding, DataflowError> {
    let target = check_target(target)?;
    let shapes = layer_shapes(model)?;
    let fold_at = |cycles: u64| -> Option<Folding> {
        let mut f = Folding::default();
        for s in &shapes {
            let (lf, _) = cheapest(s, cycles, popcount, mem)?;
            f.layers.insert(s.name.clone(), lf);
        }
        Some(f)
    };
    // The fastest possible frame: every layer fully parallel, one cycle.
    match target {
        FoldTarget::Cycles(c) => fold_at(c.max(1)).ok_or_else(|| {
            let fastest = shapes.iter().map(LayerShape::fastest).max().unwrap_or(1);
            DataflowError::Graph(format!(
                "no folding reaches {c} cycles per frame (the fastest is {fastest})"
            ))
        }),
        FoldTarget::LutBudget(budget) => {
            let mut times: Vec<u64> = shapes
                .iter()
                .flat_map(|s| {
                    divisors(s.mh)
                        .into_iter()
                        .flat_map(move |pe| s.legal_simd().into_iter().map(move |simd| s.cycles(pe, simd)))
                })
                .collect();
            times.sort_unstable();
            times.dedup();
            // LUTs fall as the frame time grows: binary search for the fastest time that fits.
            let fits = |t: u64| -> Option<Folding> {
                let f = fold_at(t)?;
                (folding_luts(model, &f).ok()? <= budget).then_some(f)
            };
            let (mut lo, mut hi) = (0usize, times.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if fits(times[mid]).is_some() {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            match times.get(lo).and_then(|&t| fits(t)) {
                Some(f) => Ok(f),
                None => {
                    let slowest = times.last().copied().unwrap_or(1);
                    let least = fold_at(slowest).and_then(|f| folding_luts(model, &f).ok()).unwrap_or(0);
                    Err(DataflowError::Graph(format!(
                        "no folding fits in {budget} LUTs: the smallest design (PE = SIMD = 1, {slowest} cycles \
                         per frame) needs an estimated {least} LUTs"
                    )))
                }
            }
        }
    }
}

/// FINN's folding heuristic (`SetFolding`): per layer, raise SIMD through its divisors, then PE,
/// until the layer meets the cycle target; resources are not considered.
pub fn finn_fold(
    model: &Model,
    cycles: u64,
    popcount: Popcount,
    mem: MemStyle,
) -> Result<Folding, DataflowError> {
    let mut f = Folding::default();
    for s in layer_shapes(model)? {
        let (mut pe, mut simd) = (1, 1);
        let (pes, simds) = (divisors(s.mh), s.legal_simd());
        while s.cycles(pe, simd) > cycles {
            if let Some(&n) = simds.iter().find(|&&d| d > simd) {
                simd = n;
            } else if let Some(&n) = pes.iter().find(|&&d| d > pe) {
                pe = n;
            } else {
                break;
            }
        }
        f.layers.insert(s.name.clone(), LayerFold { pe, simd, popcount, mem_style: mem });
    }
    Ok(f)
}

/// Frames per second at `fclk_mhz` for `cycles` per frame.
pub fn fps(cycles: u64, fclk_mhz: f64) -> f64 {
    fclk_mhz * 1e6 / cycles.max(1) as f64
}

/// The highest clock accepted anywhere, MHz: beyond every FPGA and ASIC process, low enough that
/// every frames/s and microsecond figure stays finite.
pub const MAX_FCLK_MHZ: f64 = 10_000.0;

/// The largest LUT budget accepted: beyond the largest FPGA (about 4 million LUT6), so a budget
/// above it only asks for the fully parallel design by accident.
pub const MAX_LUT_BUDGET: u64 = 10_000_000;

/// Checks a clock frequency in MHz: finite, positive, at most [`MAX_FCLK_MHZ`].
pub fn check_fclk_mhz(fclk_mhz: f64) -> Result<f64, DataflowError> {
    if fclk_mhz.is_finite() && fclk_mhz > 0.0 && fclk_mhz <= MAX_FCLK_MHZ {
        Ok(fclk_mhz)
    } else {
        Err(DataflowError::Graph(format!(
            "the clock must be a number of MHz above 0 and at most {MAX_FCLK_MHZ}, got {fclk_mhz}"
        )))
    }
}

/// Checks an automatic-folding target before any search: a cycle target of at least one cycle, a
/// LUT budget from 1 to [`MAX_LUT_BUDGET`].
pub fn check_target(target: FoldTarget) -> Result<FoldTarget, DataflowError> {
    match target {
        FoldTarget::Cycles(0) => Err(DataflowError::Graph(
            "the target is 0 cycles per frame (or more frames/s than the clock has cycles); a frame takes at least 1 cycle"
                .into(),
        )),
        FoldTarget::LutBudget(b) if b == 0 || b > MAX_LUT_BUDGET => Err(DataflowError::Graph(format!(
            "the LUT budget must be from 1 to {MAX_LUT_BUDGET} (more than the largest FPGA has), got {b}"
        ))),
        t => Ok(t),
    }
}

/// Cycles per frame of the fastest folding of `model`: its slowest layer fully parallel.
pub fn fastest_cycles(model: &Model) -> Result<u64, DataflowError> {
    Ok(layer_shapes(model)?.iter().map(LayerShape::fastest).max().unwrap_or(1))
}

/// The cycle target that reaches `fps` at `fclk_mhz`.
pub fn cycles_for_fps(fps: f64, fclk_mhz: f64) -> u64 {
    ((fclk_mhz * 1e6) / fps).floor().max(0.0) as u64
}
