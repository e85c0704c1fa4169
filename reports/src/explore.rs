//! `xnorflow explore`: sweeps foldings of one or more models with the cost model and writes a CSV
//! and plots: accuracy against cycles per frame, LUTs against frames/s with the Pareto front, and
//! the per-layer cycles of a chosen design with its bottleneck.

use crate::plot::{self, Bars, PlotError, Scatter, Series};
use compiler::dataflow::fold::{self, FoldTarget};
use compiler::dataflow::{cost, DataflowError, MemStyle, NodeKind, Popcount};
use compiler::model::Model;
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Why exploration failed.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// A model cannot be folded.
    #[error("{model}: {source}")]
    Dataflow {
        /// The model's label.
        model: String,
        /// The error.
        source: DataflowError,
    },
    /// A plot.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Simulating a design.
    #[error("{model} at {cycles} cycles/frame, in the cycle model: {source}")]
    Simulate {
        /// The model's label.
        model: String,
        /// The design's cycles per frame.
        cycles: u64,
        /// The error.
        source: Box<crate::cosim::CosimError>,
    },
    /// Writing the CSV.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// How to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// Clock for frames/s, MHz.
    pub fclk_mhz: f64,
    /// Mark designs within this many LUTs, and show the fastest of them per layer.
    pub lut_budget: Option<u64>,
    /// Popcount structure.
    pub popcount: Popcount,
    /// Weight memory style.
    pub mem: MemStyle,
    /// Run these labelled images through every design's cycle model (see [`simulate`]).
    pub simulate: Option<Images>,
}

/// Labelled images: pixels one frame after another, one label per frame.
#[derive(Clone, Debug, Default)]
pub struct Images {
    /// Pixels.
    pub pixels: Vec<u8>,
    /// Labels.
    pub labels: Vec<u8>,
}

/// What the cycle model measured on one design with real images.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Measured {
    /// Images run.
    pub frames: usize,
    /// Steady-state cycles per frame (the predicted ones when a single image ran).
    pub cycles_per_frame: u64,
    /// Frames/s at the clock, from the steady state.
    pub fps: f64,
    /// Cycles from the first image's first input word to its last output word (an empty
    /// pipeline: the latency a single request sees).
    pub latency_cycles: u64,
    /// The median of that over the images, fed back to back (later frames wait behind earlier
    /// ones in the FIFOs).
    pub latency_median_cycles: u64,
    /// Percent of the images whose class, from the design's output words, equals the label.
    pub accuracy: f64,
}

/// One explored design.
#[derive(Clone, Debug, Serialize)]
pub struct Design {
    /// The model's label (file stem).
    pub model: String,
    /// Training method from the model's provenance.
    pub method: String,
    /// Bits of the model's widest hidden activation (1 for W1A1, k for W1Ak).
    pub act_bits: u8,
    /// Test accuracy from the model's provenance, percent.
    pub accuracy: Option<f64>,
    /// The cycle target the folder was given.
    pub target_cycles: u64,
    /// Cycles per frame of the design.
    pub cycles_per_frame: u64,
    /// Frames/s at the clock.
    pub fps: f64,
    /// Estimated LUTs.
    pub lut: u64,
    /// Estimated flip-flops.
    pub ff: u64,
    /// Estimated 18 Kb block RAMs.
    pub bram18: u64,
    /// Pareto-optimal over all models in (fewer LUTs, more frames/s, higher accuracy).
    pub pareto: bool,
    /// Within the LUT budget (true without a budget).
    pub within_budget: bool,
    /// `L1:PExSIMD ...`.
    pub folding: String,
    /// `(node, cycles per frame)` of every MVTU.
    #[serde(skip)]
    pub layer_cycles: Vec<(String, u64)>,
    /// The legal graph (for simulating it).
    #[serde(skip)]
    pub graph: Option<compiler::dataflow::Graph>,
    /// What the cycle model measured with real images, when asked.
    pub measured: Option<Measured>,
}

/// Cycle targets: powers of two from the fastest achievable frame (every layer at its fastest
/// folding) to the slowest single layer at PE = SIMD = 1.
pub fn targets(model: &Model) -> Result<Vec<u64>, DataflowError> {
    let shapes = fold::layer_shapes(model)?;
    let min = shapes.iter().map(fold::LayerShape::fastest).max().unwrap_or(1);
    let max = shapes.iter().map(fold::LayerShape::slowest).max().unwrap_or(1);
    Ok((0..64).map(|k| 1u64 << k).skip_while(|&t| t < min).take_while(|&t| t < 2 * max).collect())
}

/// Sweeps every model over the cycle targets (in parallel); `tick` is called once per design.
pub fn explore(
    models: &[(String, Model)],
    o: &ExploreOptions,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Design>, ExploreError> {
    let mut jobs = Vec::new();
    for (label, m) in models {
        let ts = targets(m).map_err(|source| ExploreError::Dataflow { model: label.clone(), source })?;
        jobs.extend(ts.into_iter().map(|t| (label, m, t)));
    }
    let mut designs: Vec<Design> = jobs
        .par_iter()
        .map(|&(label, m, t)| {
            let bad = |source| ExploreError::Dataflow { model: label.clone(), source };
            let f = fold::auto_fold(m, FoldTarget::Cycles(t), o.popcount, o.mem).map_err(bad)?;
            let g = fold::lower(m, &f).map_err(bad)?;
            let (per, total) = cost::graph_with(&g, m);
            tick();
            let layer_cycles = g
                .iter()
                .filter(|(_, n)| matches!(n.kind, NodeKind::Mvtu { .. }))
                .map(|(id, n)| (n.name.clone(), per[id].cycles))
                .collect();
            let folding = f
                .layers
                .iter()
                .map(|(k, l)| format!("{k}:{}x{}", l.pe, l.simd))
                .collect::<Vec<_>>()
                .join(" ");
            Ok(Design {
                model: label.clone(),
                method: m.provenance.method.clone().unwrap_or_else(|| "?".into()),
                act_bits: m.act_bits(),
                accuracy: m.provenance.accuracy.map(|a| 100.0 * a),
                target_cycles: t,
                cycles_per_frame: total.cycles,
                fps: fold::fps(total.cycles, o.fclk_mhz),
                lut: total.lut,
                ff: total.ff,
                bram18: total.bram18,
                pareto: false,
                within_budget: o.lut_budget.is_none_or(|b| total.lut <= b),
                folding,
                layer_cycles,
                graph: Some(g),
                measured: None,
            })
        })
        .collect::<Result<_, ExploreError>>()?;
    // Several targets can give one design.
    designs.sort_by(|a, b| (&a.model, a.cycles_per_frame, a.lut).cmp(&(&b.model, b.cycles_per_frame, b.lut)));
    designs.dedup_by(|a, b| a.model == b.model && a.cycles_per_frame == b.cycles_per_frame && a.lut == b.lut);
    // Fewer LUTs, more frames/s, higher accuracy (a model without one counts as 0).
    let pts: Vec<Vec<f64>> =
        designs.iter().map(|d| vec![-(d.lut as f64), d.fps, d.accuracy.unwrap_or(0.0)]).collect();
    for i in plot::pareto(&pts) {
        designs[i].pareto = true;
    }
    Ok(designs)
}

/// Runs `images` through the cycle model of every design (in parallel) and records what it
/// measured: frames/s and latency next to the predicted ones, and the accuracy from the
/// design's own output words. `tick(cycles)` hears each finished design's simulated cycles.
pub fn simulate(
    designs: &mut [Design],
    models: &[(String, Model)],
    images: &Images,
    fclk_mhz: f64,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<(), ExploreError> {
    designs.par_iter_mut().try_for_each(|d| {
        let model = models.iter().find(|(l, _)| *l == d.model).map(|(_, m)| m);
        let (Some(model), Some(graph)) = (model, &d.graph) else { return Ok(()) };
        let frames = crate::cosim::SimFrames::Labelled { images: &images.pixels, labels: &images.labels };
        let bad = |e| ExploreError::Simulate {
            model: d.model.clone(),
            cycles: d.cycles_per_frame,
            source: Box::new(e),
        };
        let (r, _) = crate::cosim::simulate_graph(model, graph, fclk_mhz, frames, false, 1, &mut |_| {})
            .map_err(bad)?;
        let a = r.dataset.unwrap_or(crate::cosim::DatasetAccuracy {
            frames: 0,
            correct: 0,
            golden_correct: 0,
            class_mismatches: 0,
        });
        d.measured = Some(Measured {
            frames: r.frames,
            cycles_per_frame: r.steady_cycles_per_frame.unwrap_or(r.predicted_cycles_per_frame),
            fps: r.fps,
            latency_cycles: r.latency_cycles,
            latency_median_cycles: r.frame_latency.map_or(r.latency_cycles, |l| l.median),
            accuracy: 100.0 * a.correct as f64 / a.frames.max(1) as f64,
        });
        tick(r.cycles);
        Ok(())
    })
}

/// The designs no other design beats in both cycles per frame and accuracy, across all models:
/// where more activation bits (or another method) buy accuracy for cycles. `None` when no design
/// has an accuracy.
fn accuracy_front(designs: &[Design]) -> Option<Series> {
    let with: Vec<(&Design, f64)> = designs.iter().filter_map(|d| d.accuracy.map(|a| (d, a))).collect();
    if with.is_empty() {
        return None;
    }
    let pts: Vec<Vec<f64>> = with.iter().map(|(d, a)| vec![-(d.cycles_per_frame as f64), *a]).collect();
    let mut points: Vec<(f64, f64)> =
        plot::pareto(&pts).into_iter().map(|i| (with[i].0.cycles_per_frame as f64, with[i].1)).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(Series { name: "Pareto-optimal (cycles, accuracy)".into(), points })
}

/// The design whose layers the bar chart shows: the fastest within the budget, else the Pareto
/// design in the middle of the front.
pub fn chosen(designs: &[Design], budget: Option<u64>) -> Option<&Design> {
    if budget.is_some() {
        return designs.iter().filter(|d| d.within_budget).max_by(|a, b| a.fps.total_cmp(&b.fps));
    }
    let mut front: Vec<&Design> = designs.iter().filter(|d| d.pareto).collect();
    front.sort_by_key(|d| d.lut);
    front.get(front.len() / 2).copied()
}

/// The CSV of the designs.
pub fn csv(designs: &[Design]) -> String {
    let mut s = String::from(
        "model,method,act_bits,accuracy_pct,target_cycles,cycles_per_frame,fps,lut,ff,bram18,pareto,within_budget,folding,\
         sim_frames,sim_cycles_per_frame,sim_fps,sim_latency_cycles,sim_latency_median_cycles,sim_accuracy_pct\n",
    );
    for d in designs {
        let acc = d.accuracy.map_or(String::new(), |a| format!("{a:.2}"));
        let sim = d.measured.map_or(",,,,,".to_string(), |m| {
            let (c, l, lm) = (m.cycles_per_frame, m.latency_cycles, m.latency_median_cycles);
            format!("{},{c},{:.1},{l},{lm},{:.2}", m.frames, m.fps, m.accuracy)
        });
        let _ = writeln!(
            s,
            "{},{},{},{acc},{},{},{:.1},{},{},{},{},{},{},{sim}",
            d.model,
            d.method,
            d.act_bits,
            d.target_cycles,
            d.cycles_per_frame,
            d.fps,
            d.lut,
            d.ff,
            d.bram18,
            d.pareto,
            d.within_budget,
            d.folding
        );
    }
    s
}

/// Writes `explore.csv` and the plots (SVG and PNG) into `dir`; returns the files written.
pub fn write(dir: &Path, designs: &[Design], o: &ExploreOptions) -> Result<Vec<PathBuf>, ExploreError> {
    std::fs::create_dir_all(dir).map_err(|source| ExploreError::Io { path: dir.into(), source })?;
    let mut files = Vec::new();
    let path = dir.join("explore.csv");
    std::fs::write(&path, csv(designs)).map_err(|source| ExploreError::Io { path: path.clone(), source })?;
    files.push(path);
    let mut models: Vec<&str> = designs.iter().map(|d| d.model.as_str()).collect();
    models.dedup();
    let label = |m: &str| {
        let d = designs.iter().find(|d| d.model == m);
        match d.and_then(|d| d.accuracy.map(|a| (d, a))) {
            Some((d, a)) => format!("{m} (W1A{}, {}, {a:.2}%)", d.act_bits, d.method),
            None => m.to_string(),
        }
    };
    let acc = Scatter {
        title: "Accuracy against cycles per frame".into(),
        x_label: "cycles per frame (log)".into(),
        y_label: "test accuracy (%)".into(),
        log_x: true,
        log_y: false,
        series: models
            .iter()
            .map(|&m| Series {
                name: label(m),
                points: designs
                    .iter()
                    .filter(|d| d.model == m)
                    .filter_map(|d| d.accuracy.map(|a| (d.cycles_per_frame as f64, a)))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .chain(measured_series(designs, |m| (m.cycles_per_frame as f64, m.accuracy), |_| 0.0))
            .collect(),
        front: accuracy_front(designs),
        legend_left: false,
    };
    let budget = o.lut_budget.map_or(String::new(), |b| format!(", budget {b} LUT"));
    let lut = Scatter {
        title: format!("LUTs against frames/s at {} MHz{budget}", o.fclk_mhz),
        x_label: "frames per second (log)".into(),
        y_label: "LUTs, estimated (log)".into(),
        log_x: true,
        log_y: true,
        series: models
            .iter()
            .map(|&m| Series {
                name: label(m),
                points: designs.iter().filter(|d| d.model == m).map(|d| (d.fps, d.lut as f64)).collect(),
            })
            .chain(measured_series(designs, |m| (m.fps, 0.0), |d| d.lut as f64))
            .collect(),
        front: Some(Series {
            name: "Pareto-optimal (LUT, frames/s, accuracy)".into(),
            points: designs.iter().filter(|d| d.pareto).map(|d| (d.fps, d.lut as f64)).collect(),
        }),
        legend_left: true,
    };
    for ext in ["svg", "png"] {
        if !acc.series.is_empty() {
            let p = dir.join(format!("accuracy_vs_cycles.{ext}"));
            plot::scatter(&p, &acc)?;
            files.push(p);
        }
        let p = dir.join(format!("lut_vs_fps.{ext}"));
        plot::scatter(&p, &lut)?;
        files.push(p);
    }
    if let Some(d) = chosen(designs, o.lut_budget) {
        files.extend(layer_bars(dir, d)?);
    }
    Ok(files)
}

/// One series of what the cycle model measured on every simulated design, `point(measured)`
/// plus `(0, y(design))`; `None` when nothing was simulated.
fn measured_series(
    designs: &[Design],
    point: impl Fn(&Measured) -> (f64, f64),
    y: impl Fn(&Design) -> f64,
) -> Option<Series> {
    let points: Vec<(f64, f64)> = designs
        .iter()
        .filter_map(|d| d.measured.as_ref().map(|m| (d, m)))
        .map(|(d, m)| {
            let (px, py) = point(m);
            (px, py + y(d))
        })
        .collect();
    let frames = designs.iter().find_map(|d| d.measured.map(|m| m.frames))?;
    Some(Series { name: format!("measured: cycle model, {frames} real images"), points })
}

/// The per-layer cycles of `d` as bars, the bottleneck highlighted: `layer_cycles.svg` and `.png`.
pub fn layer_bars(dir: &Path, d: &Design) -> Result<Vec<PathBuf>, ExploreError> {
    let worst = d.layer_cycles.iter().enumerate().max_by_key(|(_, c)| c.1).map(|(i, _)| i);
    let b = Bars {
        title: format!("{}: cycles per frame by layer ({} LUT)", d.model, d.lut),
        y_label: "cycles per frame".into(),
        bars: d.layer_cycles.iter().map(|(n, c)| (n.clone(), *c as f64)).collect(),
        highlight: worst.map(|i| (i, format!("bottleneck: {} cycles", d.layer_cycles[i].1))),
    };
    let mut files = Vec::new();
    for ext in ["svg", "png"] {
        let p = dir.join(format!("layer_cycles.{ext}"));
        plot::bars(&p, &b)?;
        files.push(p);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(model: &str, bits: u8, cycles: u64, accuracy: Option<f64>) -> Design {
        Design {
            model: model.into(),
            method: "irnet".into(),
            act_bits: bits,
            accuracy,
            target_cycles: cycles,
            cycles_per_frame: cycles,
            fps: 1e8 / cycles as f64,
            lut: 1000,
            ff: 0,
            bram18: 0,
            pareto: false,
            within_budget: true,
            folding: String::new(),
            layer_cycles: vec![],
            graph: None,
            measured: None,
        }
    }

    #[test]
    fn the_accuracy_front_runs_across_models() {
        // A1 is faster at equal folding effort, A2 more accurate: the front takes A1's fast points
        // and A2's accurate ones, and drops A1's slow point that A2 beats on both counts.
        let ds = vec![
            design("a1", 1, 100, Some(97.0)),
            design("a1", 1, 400, Some(97.0)),
            design("a2", 2, 200, Some(98.0)),
            design("a2", 2, 800, Some(98.0)),
            design("none", 1, 50, None),
        ];
        let front = accuracy_front(&ds).expect("accuracies");
        assert_eq!(front.points, vec![(100.0, 97.0), (200.0, 98.0)]);
        assert!(accuracy_front(&ds[4..]).is_none());
        let text = csv(&ds);
        assert!(text.starts_with("model,method,act_bits,accuracy_pct,"), "{text}");
        assert!(text.contains("\na2,irnet,2,98.00,200,200,"), "{text}");
    }
}
