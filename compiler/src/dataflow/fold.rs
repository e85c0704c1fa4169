//! Lowering a model to a dataflow graph under a folding, and choosing foldings.
//!
//! A folding gives each binary layer its PE and SIMD (and popcount structure and memory style). It
//! comes from the user as JSON, or from [`auto_fold`], which picks PE and SIMD for all layers
//! jointly to minimise the estimated LUTs under a throughput target, or to maximise throughput
//! under a LUT budget. [`finn_fold`] is FINN's heuristic, kept for comparison.

use super::{
    cost, divisors, DataflowError, Graph, LaneInput, MemStyle, MvtuConfig, MvtuOutput, Node, Popcount,
};
use crate::model::{Activation, Layer, Model, OutputMode};
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
}

impl LayerShape {
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

/// The binary layers of a fully connected model, in order.
pub fn layer_shapes(model: &Model) -> Result<Vec<LayerShape>, DataflowError> {
    let err = |m: String| Err(DataflowError::Graph(m));
    let mut input = None;
    let mut shapes = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        match layer {
            Layer::QuantBinary { .. } => input = Some(LaneInput::Binary),
            Layer::QuantFixed8(f) => input = Some(LaneInput::Fixed8 { signed: f.signed }),
            Layer::Dense(w) => {
                let kind = input.take().unwrap_or(LaneInput::Binary);
                shapes.push(LayerShape {
                    name: format!("L{i}"),
                    layer: i,
                    mw: w.fan_in(),
                    mh: w.out(),
                    input: if shapes.is_empty() { kind } else { LaneInput::Binary },
                    output: match w.activation {
                        Activation::Threshold(_) => MvtuOutput::Threshold,
                        Activation::Scores => MvtuOutput::Scores,
                    },
                });
            }
            Layer::Conv2d { .. } | Layer::MaxPool { .. } => {
                return err(format!(
                    "layer L{i} is a {}: `compile` lowers fully connected networks for now (convolutions \
                     need the sliding-window unit)",
                    if matches!(layer, Layer::MaxPool { .. }) { "max-pool" } else { "convolution" }
                ));
            }
        }
    }
    if shapes.is_empty() {
        return err("the model has no binary layer to lower".into());
    }
    Ok(shapes)
}

/// FIFO depth between `producer` and `consumer` (in consumer words), from the schedule: the
/// consumer takes its `SF` input words in its first pass and none in the `NF - 1` passes that
/// follow; meanwhile the producer keeps emitting at its own rate. The FIFO holds what the producer
/// emits in that window (at most one consumer frame), plus two words so that a full FIFO still
/// passes a word per cycle.
pub fn fifo_depth(producer: &MvtuConfig, consumer: &MvtuConfig) -> usize {
    let (sf, nf) = (consumer.sf(), consumer.nf());
    let idle = (nf - 1) * sf;
    // Consumer words per cycle from the producer: a frame of `sf` words over its own cycles.
    let produced = (idle * sf).div_ceil(producer.cycles());
    produced.min(sf) + 2
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
    let mut nodes: Vec<Node> = Vec::new();
    let mut prev: Option<MvtuConfig> = None;
    for s in &shapes {
        let f = folding.layers.get(&s.name).ok_or_else(|| DataflowError::Folding {
            layer: s.name.clone(),
            message: format!("the folding does not give PE and SIMD for this {}x{} layer", s.mh, s.mw),
        })?;
        let cfg = s.config(f);
        cfg.validate()?;
        if let Some(p) = &prev {
            let idx = s.layer;
            if p.out_bits() != cfg.in_bits() {
                nodes.push(Node::width_converter(&format!("W{idx}"), p.out_bits(), cfg.in_bits(), p.mh));
            }
            nodes.push(Node::fifo(&format!("F{idx}"), cfg.in_bits(), cfg.sf(), fifo_depth(p, &cfg)));
        }
        nodes.push(Node::mvtu(s.layer, cfg.clone()));
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
        for simd in divisors(s.mw) {
            if ((s.mh / pe) * (s.mw / simd)) as u64 > cycles {
                continue;
            }
            let f = LayerFold { pe, simd, popcount, mem_style: mem };
            let c = cost::mvtu(&s.config(&f));
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
            DataflowError::Graph(format!("no folding reaches {c} cycles per frame (the fastest is 1 cycle)"))
        }),
        FoldTarget::LutBudget(budget) => {
            let mut times: Vec<u64> = shapes
                .iter()
                .flat_map(|s| {
                    divisors(s.mh).into_iter().flat_map(move |pe| {
                        divisors(s.mw).into_iter().map(move |simd| ((s.mh / pe) * (s.mw / simd)) as u64)
                    })
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
        let (pes, simds) = (divisors(s.mh), divisors(s.mw));
        while ((s.mh / pe) * (s.mw / simd)) as u64 > cycles {
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

/// The cycle target that reaches `fps` at `fclk_mhz`.
pub fn cycles_for_fps(fps: f64, fclk_mhz: f64) -> u64 {
    ((fclk_mhz * 1e6) / fps).floor().max(0.0) as u64
}
