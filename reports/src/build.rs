//! `xnorflow compile`: a model and a folding in, a build directory out.

use crate::builddir::{self, BuildDirError, BuildWriter};
use compiler::dataflow::cost::{self, Cost};
use compiler::dataflow::fold::{self, Folding};
use compiler::dataflow::{Graph, NodeKind, VerilogIdent};
use compiler::model::Model;
use hdl::harness::Stalls;
use hdl::testbench::{self, TbPorts, TbSpec};
use serde::Serialize;
use sim::golden::{Golden, SimError};
use sim::stream;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What can go wrong while compiling.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The graph or folding.
    #[error(transparent)]
    Dataflow(#[from] compiler::dataflow::DataflowError),
    /// Building or emitting the hardware.
    #[error(transparent)]
    Hdl(#[from] hdl::HdlError),
    /// The golden model.
    #[error("golden model: {0}")]
    Golden(String),
    /// Writing the model file into the build directory.
    #[error(transparent)]
    Format(#[from] compiler::format::FormatError),
    /// The build directory (its target, or a limit on what it may hold).
    #[error(transparent)]
    BuildDir(#[from] BuildDirError),
    /// A limit on the testbench.
    #[error("{0}")]
    Limit(String),
    /// Writing the build directory.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// How to compile.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Verilog top module name.
    pub top: VerilogIdent,
    /// Frames in the testbench.
    pub frames: usize,
    /// Seed of the testbench's frames and stalls.
    pub seed: u64,
    /// Stall probabilities of the testbench (0 = none).
    pub stall_prob: f64,
    /// Clock for the frames/s figures, MHz.
    pub fclk_mhz: f64,
    /// Frames (u8 pixels) for the testbench; empty: `frames` random frames from `seed`.
    pub images: Vec<Vec<u8>>,
    /// The FPGA the build is for, recorded in its graph (`None`: not stated).
    pub arch: Option<compiler::dataflow::target::Arch>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            top: VerilogIdent::new("xnorflow_top").expect("a valid identifier"),
            frames: 8,
            seed: 1,
            stall_prob: 0.0,
            fclk_mhz: 100.0,
            images: Vec::new(),
            arch: None,
        }
    }
}

/// Per-node line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    /// Node name.
    pub name: String,
    /// Kind and folding in words.
    pub what: String,
    /// Estimate.
    pub estimate: Cost,
}

/// The estimate report of a build.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Design name.
    pub name: String,
    /// Clock, MHz.
    pub fclk_mhz: f64,
    /// Cycles per frame (slowest node).
    pub cycles_per_frame: u64,
    /// Frames per second at the clock.
    pub fps: f64,
    /// Latency of one frame through the empty pipeline, cycles, measured with the cycle model.
    pub latency_cycles: u64,
    /// Totals.
    pub total: Cost,
    /// Per node.
    pub nodes: Vec<NodeReport>,
}

/// An add node's line: the shortcut's cost (its adders, the bypass FIFO's bits and resources,
/// the rest of the bypass).
fn shortcut_text(n: &compiler::dataflow::Node, ty: compiler::model::IntType) -> String {
    let s = cost::shortcut(n).unwrap_or_default();
    let fifos: Vec<String> = n
        .bypass()
        .iter()
        .filter_map(|b| match b.kind {
            NodeKind::Fifo { depth, .. } => Some(format!("{depth} x {} bits", b.in_bits)),
            _ => None,
        })
        .collect();
    format!(
        "residual shortcut: {} saturating {ty} adders ({} LUT); bypass FIFO {} = {} bits ({} LUT, {} BRAM18); \
         pool/pad/converters {} LUT",
        s.adders,
        s.add_lut,
        fifos.join(" + "),
        s.fifo_bits,
        s.fifo_lut,
        s.bram18,
        s.other_lut
    )
}

impl Report {
    /// The report of a graph of `model` (whose thresholds refine the estimates).
    pub fn new(g: &Graph, model: &Model, fclk_mhz: f64) -> Self {
        let (per, total) = cost::graph_with(g, model);
        let nodes = g
            .iter()
            .map(|(id, n)| (n, per[id]))
            .map(|(n, c)| NodeReport {
                name: n.name.clone(),
                what: match &n.kind {
                    NodeKind::Mvtu { cfg, .. } => {
                        format!(
                            "MVTU {}x{} PE={} SIMD={} {:?}",
                            cfg.mh, cfg.mw, cfg.pe, cfg.simd, cfg.popcount
                        )
                    }
                    NodeKind::Swu { cfg: c, .. } => format!(
                        "sliding window {}x{} over {}x{}x{}, stride {}, SIMD={}",
                        c.kernel, c.kernel, c.h, c.w, c.c, c.stride, c.simd
                    ),
                    NodeKind::Pool { cfg: c } => {
                        format!("max-pool {}x{} over {}x{}x{}", c.kernel, c.kernel, c.h, c.w, c.c)
                    }
                    NodeKind::Fifo { depth, .. } => format!("FIFO {depth} x {} bits", n.in_bits),
                    NodeKind::WidthConverter { .. } => {
                        format!("width converter {} -> {} bits", n.in_bits, n.out_bits)
                    }
                    NodeKind::Argmax { pe, words, .. } => format!("argmax over {}", pe * words),
                    NodeKind::Duplicate => {
                        format!("duplicate {} bits to the branch and the bypass", n.in_bits)
                    }
                    NodeKind::Sign { ty } => format!("sign of {} {ty} elements", n.out_bits),
                    NodeKind::ChannelPad { c_in, c_out, .. } => format!("channel pad {c_in} -> {c_out}"),
                    NodeKind::Add { ty, .. } => shortcut_text(n, *ty),
                },
                estimate: c,
            })
            .collect();
        Report {
            name: g.name.clone(),
            fclk_mhz,
            cycles_per_frame: total.cycles,
            fps: fold::fps(total.cycles, fclk_mhz),
            latency_cycles: total.latency,
            total,
            nodes,
        }
    }

    /// Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {}: estimate\n", self.name);
        let _ = writeln!(
            s,
            "{} cycles per frame, {:.0} frames/s at {} MHz, latency {} cycles ({:.2} us).\n",
            self.cycles_per_frame,
            self.fps,
            self.fclk_mhz,
            self.latency_cycles,
            self.latency_cycles as f64 / self.fclk_mhz
        );
        let _ = writeln!(s, "| node | what | cycles/frame | LUT | FF | BRAM18 |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
        for n in &self.nodes {
            let e = &n.estimate;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                n.name, n.what, e.cycles, e.lut, e.ff, e.bram18
            );
        }
        let t = &self.total;
        let _ = writeln!(s, "| **total** | | {} | {} | {} | {} |", t.cycles, t.lut, t.ff, t.bram18);
        s
    }
}

fn golden(e: SimError) -> BuildError {
    BuildError::Golden(e.to_string())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), BuildError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| BuildError::Io { path, source })
}

/// What [`compile`] produced.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    /// The graph.
    pub graph: Graph,
    /// The estimate report.
    pub report: Report,
    /// Input words of the testbench.
    pub inputs: Vec<Vec<u64>>,
    /// Expected output words.
    pub expected: Vec<Vec<u64>>,
    /// The testbench's cycle limit.
    pub max_cycles: u64,
}

/// The most lines of a testbench's stall pattern (`tb_stall.mem`, one per simulated cycle).
pub const MAX_STALL_LINES: u64 = 1 << 24;

/// Lowers `model` under `folding` and writes the build directory: `design.v` (top module
/// `opts.top`), the memory files, `tb.v` with its vectors, `Makefile` (`make sim`, `make lint`),
/// `folding.json`, `graph.txt`, `report.md` and `report.json`, and for `sim`/`cosim` the model
/// (`model.xnf`), the graph (`graph.json`) and `build.json`. Everything is checked before the
/// directory is touched, and the files go into a temporary directory that replaces `dir` only
/// when complete ([`BuildWriter`]): `dir` must be new, empty, or an earlier build. `progress`
/// hears each step.
pub fn compile(
    model: &Model,
    folding: &Folding,
    dir: &Path,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BuildSummary, BuildError> {
    let fclk_mhz = fold::check_fclk_mhz(opts.fclk_mhz)?;
    if !(0.0..1.0).contains(&opts.stall_prob) {
        return Err(BuildError::Limit(format!(
            "the stall probability must be in [0, 1), got {}",
            opts.stall_prob
        )));
    }
    progress("lowering");
    let graph = fold::lower_for(model, folding, opts.arch)?;
    let frames = if opts.images.is_empty() { opts.frames } else { opts.images.len() };
    builddir::check_frames(&graph, frames, "--frames").map_err(BuildError::Limit)?;
    let max_cycles = 1000
        + 4 * (frames as u64 + 2)
            * graph.cycles_per_frame() as u64
            * if opts.stall_prob > 0.0 { 4 } else { 1 };
    if opts.stall_prob > 0.0 && max_cycles > MAX_STALL_LINES {
        return Err(BuildError::Limit(format!(
            "a testbench of {frames} frames with stalls replays up to {max_cycles} cycles of stall pattern, \
             more than the {MAX_STALL_LINES} accepted: use fewer --frames or no --stall-prob"
        )));
    }
    let out = BuildWriter::new(dir)?;
    let dir = out.dir();
    progress("emitting Verilog");
    let design = hdl::rtl::accel::design(&graph, model, opts.top.as_str())?;
    write(dir, builddir::DESIGN_V, &design.verilog())?;
    design.write_memories(dir)?;
    progress("golden vectors");
    let images = if opts.images.is_empty() {
        stream::random_images(Golden::new(model).map_err(golden)?.frame_len(), opts.frames, opts.seed)
    } else {
        opts.images.clone()
    };
    let vecs = stream::vectors(model, &graph, &images).map_err(golden)?;
    let (inputs, expected) = (vecs.flat_inputs(), vecs.flat_expected());
    let stalls = Stalls { gap: opts.stall_prob, backpressure: opts.stall_prob, seed: opts.seed };
    let spec = TbSpec {
        dut: opts.top.as_str(),
        ports: TbPorts::Axis,
        in_bits: graph.in_bits(),
        out_bits: graph.out_bits(),
        inputs: &inputs,
        expected: &expected,
        stalls,
        max_cycles: max_cycles as usize,
        tied_low: if hdl::rtl::loader::spram_memories(&graph, model)?.is_empty() {
            &[]
        } else {
            &hdl::rtl::loader::PORTS
        },
    };
    testbench::write(dir, &spec)?;
    progress("reports");
    let mut report = Report::new(&graph, model, fclk_mhz);
    // The latency is the cycle model's: nodes overlap within a frame, so no sum of per-node
    // figures gives it.
    let lat = sim::cycle::latency(model, &graph, &vecs.inputs[0], vecs.expected[0].len())
        .map_err(|e| BuildError::Golden(format!("cycle model: {e}")))?;
    (report.latency_cycles, report.total.latency) = (lat, lat);
    write(dir, builddir::REPORT_MD, &report.markdown())?;
    write(dir, builddir::REPORT_JSON, &serde_json::to_string_pretty(&report).unwrap_or_default())?;
    write(dir, builddir::FOLDING_JSON, &serde_json::to_string_pretty(folding).unwrap_or_default())?;
    write(dir, builddir::GRAPH_TXT, &graph.to_string())?;
    write(dir, builddir::GRAPH_JSON, &serde_json::to_string_pretty(&graph).unwrap_or_default())?;
    compiler::format::save(model, &dir.join(builddir::MODEL_FILE))?;
    write(
        dir,
        builddir::MAKEFILE,
        &format!(
            "# Generated by xnorflow compile.\n.PHONY: sim lint\nsim:\n\tiverilog -g2005 -s tb -o tb.vvp tb.v design.v\n\tvvp -n tb.vvp\n\nlint:\n\tverilator --lint-only -Wall --top-module {} design.v\n",
            opts.top
        ),
    )?;
    out.finish(&opts.top, fclk_mhz)?;
    Ok(BuildSummary { graph, report, inputs, expected, max_cycles })
}
