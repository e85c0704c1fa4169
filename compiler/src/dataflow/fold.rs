//! Choosing foldings. (Lowering a model under a folding is [`crate::passes`].)
//!
//! A folding gives each binary layer its PE and SIMD (and popcount structure and memory style). It
//! comes from the user as JSON, or from [`auto_fold`], which picks PE and SIMD for all layers
//! jointly to minimise the estimated LUTs under a throughput target, or to maximise throughput
//! under a LUT budget. [`finn_fold`] is FINN's heuristic, kept for comparison.

use super::target::Ice40Part;
use super::{cost, divisors, DataflowError, MemStyle, Popcount};
use crate::model::{LayerId, Model};
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

/// A folding: per binary layer of the model. In JSON the layers are keyed by their name, `L` and
/// the model layer's index (`{"layers": {"L1": {"pe": 16, "simd": 49}}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FoldingFile", into = "FoldingFile")]
pub struct Folding {
    /// Each binary layer's folding.
    pub layers: BTreeMap<LayerId, LayerFold>,
}

/// The JSON form of a [`Folding`], as users write it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FoldingFile {
    layers: BTreeMap<String, LayerFold>,
}

/// The layer a folding names `name` (`L` and the model layer's index, exactly as the layer
/// prints: no `L01`, so that one key names one layer).
pub fn layer_id(name: &str) -> Result<LayerId, DataflowError> {
    match name.strip_prefix('L').and_then(|d| d.parse().ok()).map(LayerId) {
        Some(id) if id.to_string() == name => Ok(id),
        _ => Err(DataflowError::LayerKey(name.to_string())),
    }
}

impl TryFrom<FoldingFile> for Folding {
    type Error = DataflowError;
    fn try_from(f: FoldingFile) -> Result<Self, DataflowError> {
        let mut layers = BTreeMap::new();
        for (key, lf) in f.layers {
            layers.insert(layer_id(&key)?, lf);
        }
        Ok(Folding { layers })
    }
}

impl From<Folding> for FoldingFile {
    fn from(f: Folding) -> Self {
        FoldingFile { layers: f.layers.into_iter().map(|(id, lf)| (id.to_string(), lf)).collect() }
    }
}

pub use crate::passes::fifo::fifo_depth;
pub use crate::passes::lower::{layer_shapes, LayerShape, Window};

/// Lowers `model` under `folding` through the whole pass pipeline ([`crate::passes::compile`]):
/// the legal graph.
pub use crate::passes::compile as lower;

/// [`lower`] for `arch` (recorded in the graph before the passes, whose decisions depend on it).
pub fn lower_for(
    model: &Model,
    folding: &Folding,
    arch: Option<super::target::Arch>,
) -> Result<super::Graph, DataflowError> {
    crate::passes::run(model, folding, crate::passes::Options { arch, ..Default::default() })
}

/// What automatic folding aims at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FoldTarget {
    /// At most this many cycles per frame, with the fewest LUTs.
    Cycles(u64),
    /// The fewest cycles per frame within this many LUTs.
    LutBudget(u64),
}

/// The folding of one layer within `cycles` per frame whose `key` (its estimated cost, compared
/// in order) is least, if any.
fn cheapest<K: PartialOrd>(
    s: &LayerShape,
    cycles: u64,
    popcount: Popcount,
    mem: MemStyle,
    key: impl Fn(&LayerShape, &LayerFold) -> K,
) -> Option<LayerFold> {
    let mut best: Option<(LayerFold, K)> = None;
    for pe in divisors(s.mh) {
        for simd in s.legal_simd() {
            if s.cycles(pe, simd) > cycles {
                continue;
            }
            let f = LayerFold { pe, simd, popcount, mem_style: mem };
            let k = key(s, &f);
            if best.as_ref().is_none_or(|(_, b)| k < *b) {
                best = Some((f, k));
            }
        }
    }
    best.map(|(f, _)| f)
}

/// 7-series cost of a layer's folding (MVTU and window unit): LUTs, then BRAM.
fn xc7_key(s: &LayerShape, f: &LayerFold) -> (u64, u64) {
    let mut c = cost::mvtu(&s.config(f));
    if let Some(swu) = s.swu(f) {
        c = c + cost::swu(&swu);
    }
    (c.lut, c.bram18)
}

/// iCE40 cost of a layer's folding (MVTU and window unit), compared in order: for a layer with
/// its weights in SPRAM (`mem=spram`) SPRAMs first (the UP5K has four), then logic cells, then
/// EBRs.
fn ice40_key(s: &LayerShape, f: &LayerFold) -> (u64, u64, u64) {
    let cfg = s.config(f);
    let mut c = cost::ice40::mvtu_packed(&cfg, &crate::passes::legalize::mvtu_ice40(&cfg), None);
    if let Some(swu) = s.swu(f) {
        c = c + cost::ice40::swu(&swu);
    }
    let spram = if f.mem_style == MemStyle::Spram { c.spram } else { 0 };
    (spram, c.lc(), c.ebr)
}

/// A folding of every layer, each from `layer` (none when one layer has none).
fn fold_each(shapes: &[LayerShape], layer: impl Fn(&LayerShape) -> Option<LayerFold>) -> Option<Folding> {
    let mut f = Folding::default();
    for s in shapes {
        f.layers.insert(s.layer, layer(s)?);
    }
    Some(f)
}

/// The fastest of `times` (ascending) at which `fits` gives a design. Resources fall as the frame
/// time grows, so a binary search finds it.
fn fastest_fitting(times: &[u64], fits: impl Fn(u64) -> Option<Folding>) -> Option<Folding> {
    let (mut lo, mut hi) = (0usize, times.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fits(times[mid]).is_some() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    times.get(lo).and_then(|&t| fits(t))
}

/// Every frame time some folding of some layer gives, fastest first.
fn frame_times(shapes: &[LayerShape]) -> Vec<u64> {
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
    times
}

/// The estimated resources of a whole folding lowered for iCE40 part `part`, with the board top
/// that `xnorflow bitstream` wraps it in ([`cost::ice40::board_top`]): what the part must hold.
pub fn folding_ice40(
    model: &Model,
    folding: &Folding,
    part: Ice40Part,
) -> Result<cost::ice40::Ice40Cost, DataflowError> {
    Ok(folding_ice40_parts(model, folding, part)?.0)
}

/// [`folding_ice40`], and the board top's share of it.
fn folding_ice40_parts(
    model: &Model,
    folding: &Folding,
    part: Ice40Part,
) -> Result<(cost::ice40::Ice40Cost, cost::ice40::Ice40Cost), DataflowError> {
    let g = lower_for(model, folding, Some(super::target::Arch::Ice40(part)))?;
    let board = cost::ice40::board_top(&g, model);
    Ok((cost::ice40::graph_with(&g, model).1 + board, board))
}

/// The foldings that move 1, 2, ... of `f`'s layers to SPRAM (`mem=spram`), those with the most
/// weight EBRs first, each moved layer refolded within `t` cycles for the fewest SPRAMs (SIMD
/// 16 or a multiple, a PE's words at most 16K deep, as few PEs as the frame time allows).
fn spill_to_spram(shapes: &[LayerShape], f: &Folding, t: u64, popcount: Popcount) -> Vec<Folding> {
    let mut order: Vec<(u64, &LayerShape)> =
        shapes.iter().filter_map(|s| Some((ice40_key(s, f.layers.get(&s.layer)?).2, s))).collect();
    order.sort_by_key(|&(ebr, s)| (std::cmp::Reverse(ebr), s.layer));
    let mut g = f.clone();
    let mut out = Vec::new();
    for (_, s) in order {
        let Some(l) = cheapest(s, t, popcount, MemStyle::Spram, ice40_key) else { break };
        g.layers.insert(s.layer, l);
        out.push(g.clone());
    }
    out
}

/// Automatic folding for an iCE40 part: the fastest folding whose estimate, with the board top
/// around it ([`folding_ice40`]), fits the part's logic cells, EBRs and SPRAMs (each layer at its cheapest for a frame time, as [`auto_fold`] does for
/// a LUT budget; on the UltraPlus, the layers with the most weight EBRs moved to SPRAM until the
/// design fits, see `spill_to_spram`), or with `cycles`, the cheapest within that many cycles per frame if it fits. When
/// none fits, the error gives what the smallest design needs and the smallest part that holds it.
pub fn auto_fold_ice40(
    model: &Model,
    part: Ice40Part,
    cycles: Option<u64>,
    popcount: Popcount,
    mem: MemStyle,
) -> Result<Folding, DataflowError> {
    if cycles == Some(0) {
        return Err(DataflowError::ZeroCycles);
    }
    let shapes = layer_shapes(model)?;
    let spec = part.spec();
    let fits_in = |c: &cost::ice40::Ice40Cost, p: Ice40Part| {
        let s = p.spec();
        c.lc() <= s.lc && c.ebr <= s.ebr && c.spram <= s.spram
    };
    // Every node within the frame time, the bypass chains of residual blocks included.
    let plain_at = |t: u64| within_cycles(model, &shapes, t, popcount, mem, ice40_key).ok();
    // On a part with SPRAM, a design whose weights overflow the EBRs moves the layers with the
    // most weight EBRs to SPRAM, one more at a time, until it fits.
    let fold_at = |t: u64| -> Option<Folding> {
        let f = plain_at(t)?;
        if spec.spram == 0 || fits_in(&folding_ice40(model, &f, part).ok()?, part) {
            return Some(f);
        }
        spill_to_spram(&shapes, &f, t, popcount)
            .into_iter()
            .find(|g| folding_ice40(model, g, part).is_ok_and(|c| fits_in(&c, part)))
            .or(Some(f))
    };
    let fits = |t: u64| -> Option<Folding> {
        let f = fold_at(t)?;
        fits_in(&folding_ice40(model, &f, part).ok()?, part).then_some(f)
    };
    let times = frame_times(&shapes);
    let (smallest, at) = match cycles {
        Some(c) => {
            // Out of reach is an error of its own; within reach, the folding with any SPRAM spill.
            let f = within_cycles(model, &shapes, c, popcount, mem, ice40_key)?;
            let f = fold_at(c).unwrap_or(f);
            if fits_in(&folding_ice40(model, &f, part)?, part) {
                return Ok(f);
            }
            (f, format!(" at {c} cycles per frame"))
        }
        None => {
            if let Some(f) = fastest_fitting(&times, fits) {
                return Ok(f);
            }
            let slowest = times.last().copied().unwrap_or(1);
            (fold_at(slowest).ok_or(DataflowError::NoBinaryLayer)?, String::new())
        }
    };
    let (need, board) = folding_ice40_parts(model, &smallest, part)?;
    let cycles = lower(model, &smallest)?.cycles_per_frame() as u64;
    let advice = match Ice40Part::ALL.into_iter().find(|&p| fits_in(&need, p)) {
        Some(p) => format!("the smallest part that holds it is the {p} (--part {p})"),
        None if !at.is_empty() => match auto_fold_ice40(model, part, None, popcount, mem) {
            Ok(f) => {
                let fastest = lower(model, &f)?.cycles_per_frame();
                format!(
                    "no iCE40 part holds it; the fastest design that fits the {part} takes {fastest} cycles \
                     per frame (--target-cycles {fastest})"
                )
            }
            Err(_) => "no iCE40 part holds it: use --arch xc7 or a smaller model".into(),
        },
        None => "no iCE40 part holds it: use --arch xc7 or a smaller model".into(),
    };
    Err(DataflowError::PartTooSmall(Box::new(super::PartShortfall {
        part: part.name().into(),
        part_lc: spec.lc,
        part_ebr: spec.ebr,
        at,
        cycles,
        lc: need.lc(),
        board_lc: board.lc(),
        ebr: need.ebr,
        advice,
    })))
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
    let fold_at = |cycles: u64| fold_each(&shapes, |s| cheapest(s, cycles, popcount, mem, xc7_key));
    match target {
        FoldTarget::Cycles(c) => within_cycles(model, &shapes, c.max(1), popcount, mem, xc7_key),
        FoldTarget::LutBudget(budget) => {
            let times = frame_times(&shapes);
            let fits = |t: u64| -> Option<Folding> {
                let f = fold_at(t)?;
                (folding_luts(model, &f).ok()? <= budget).then_some(f)
            };
            match fastest_fitting(&times, fits) {
                Some(f) => Ok(f),
                None => {
                    let slowest = times.last().copied().unwrap_or(1);
                    let least = fold_at(slowest).and_then(|f| folding_luts(model, &f).ok()).unwrap_or(0);
                    Err(DataflowError::OverBudget { budget, slowest, least })
                }
            }
        }
    }
}

/// The cheapest folding (by `key`) with every node within `c` cycles per frame: each layer at its
/// cheapest within `c`; then, while a bypass node is slower than `c` (its words are as wide as
/// the layer before its block emits), that layer gets a tighter limit (more PE, wider words)
/// until the bypass fits or the layer cannot widen further. Limits only fall, so this ends.
fn within_cycles<K: PartialOrd>(
    model: &Model,
    shapes: &[LayerShape],
    c: u64,
    popcount: Popcount,
    mem: MemStyle,
    key: impl Fn(&LayerShape, &LayerFold) -> K + Copy,
) -> Result<Folding, DataflowError> {
    let fold_within = |limit: &dyn Fn(LayerId) -> u64| {
        fold_each(shapes, |s| cheapest(s, limit(s.layer), popcount, mem, key))
    };
    let mut limits: BTreeMap<LayerId, u64> = shapes.iter().map(|s| (s.layer, c)).collect();
    let mut f = fold_within(&|_| c).ok_or_else(|| {
        let fastest = shapes.iter().map(LayerShape::fastest).max().unwrap_or(1);
        DataflowError::CyclesOutOfReach { target: c, fastest }
    })?;
    loop {
        let g = lower(model, &f)?;
        let Some((node, cycles, producer)) = slow_bypass(&g, c) else { return Ok(f) };
        let out_of_reach = || DataflowError::BypassOutOfReach { node: node.clone(), cycles, target: c };
        let layer = producer.ok_or_else(out_of_reach)?;
        let old = limits[&layer];
        let tighter = (old.saturating_mul(c) / cycles).min(old - 1);
        if tighter == 0 {
            return Err(out_of_reach());
        }
        limits.insert(layer, tighter);
        let widened = fold_within(&|l| limits[&l]).ok_or_else(out_of_reach)?;
        if widened == f {
            return Err(out_of_reach());
        }
        f = widened;
    }
}

/// The first bypass node of `g` slower than `cycles`: its name, its cycles, and the model layer
/// of the MVTU that feeds its block's duplicate (none when no MVTU precedes it).
fn slow_bypass(g: &super::Graph, cycles: u64) -> Option<(String, u64, Option<LayerId>)> {
    g.nodes.iter().enumerate().find_map(|(i, add)| {
        let slow = add.bypass().iter().find(|n| n.cycles() as u64 > cycles)?;
        let dup = g.nodes[..i].iter().rposition(|n| matches!(n.kind, super::NodeKind::Duplicate))?;
        let producer = g.nodes[..dup].iter().rev().find_map(|n| match n.kind {
            super::NodeKind::Mvtu { layer, .. } => Some(layer),
            _ => None,
        });
        Some((slow.name.clone(), slow.cycles() as u64, producer))
    })
}

/// A legal folding of `model` drawn from `seed` (for tests and benchmarks): each layer's PE among
/// the divisors of its outputs and SIMD among its legal values, compressor popcount, automatic
/// memory style.
pub fn random_folding(model: &Model, seed: u64) -> Result<Folding, DataflowError> {
    let mut r = seed;
    let mut pick = |n: usize| {
        r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (r >> 33) as usize % n
    };
    let mut f = Folding::default();
    for s in layer_shapes(model)? {
        let (pes, simds) = (divisors(s.mh), s.legal_simd());
        let lf = LayerFold {
            pe: pes[pick(pes.len())],
            simd: simds[pick(simds.len())],
            popcount: Popcount::Compressor,
            mem_style: MemStyle::Auto,
        };
        f.layers.insert(s.layer, lf);
    }
    Ok(f)
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
        f.layers.insert(s.layer, LayerFold { pe, simd, popcount, mem_style: mem });
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
        Err(DataflowError::Clock { got: fclk_mhz })
    }
}

/// Checks an automatic-folding target before any search: a cycle target of at least one cycle, a
/// LUT budget from 1 to [`MAX_LUT_BUDGET`].
pub fn check_target(target: FoldTarget) -> Result<FoldTarget, DataflowError> {
    match target {
        FoldTarget::Cycles(0) => Err(DataflowError::ZeroCycles),
        FoldTarget::LutBudget(b) if b == 0 || b > MAX_LUT_BUDGET => Err(DataflowError::LutBudget { got: b }),
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
