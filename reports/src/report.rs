//! `xnorflow report`: one self-contained HTML page (and its Markdown twin) for a build: the model,
//! the folding, per-node estimates beside synthesis, the plots, and the simulation verdicts,
//! from the files `compile`, `sim`, `cosim` and `synth` left in the build directory.

use crate::build::Report;
use crate::builddir::{self, BuildDir, Loaded, StepResult};
use crate::cosim::{CosimReport, SimReport};
use crate::explore::{self, Design};
use crate::synth::SynthResult;
use compiler::dataflow::cost::ice40;
use compiler::dataflow::target::Arch;
use compiler::dataflow::NodeKind;
use hdl::synth::Target;
use std::fmt::Write;
use std::path::PathBuf;

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The build directory.
    #[error(transparent)]
    BuildDir(#[from] builddir::BuildDirError),
    /// A plot.
    #[error(transparent)]
    Explore(#[from] explore::ExploreError),
}

/// What the build directory holds besides the design: the results that `sim`, `cosim` and
/// `synth` (7-series) left, if they ran and measured this design (their stamp is the build's
/// design hash now).
#[derive(Default)]
pub struct Results {
    /// `sim`'s.
    pub sim: Option<SimReport>,
    /// `cosim`'s.
    pub cosim: Option<CosimReport>,
    /// `synth`'s for 7-series.
    pub synth: Option<SynthResult>,
    /// `synth --arch ice40`'s.
    pub synth_ice40: Option<SynthResult>,
    /// `bitstream`'s.
    pub board: Option<crate::board::Bitstream>,
    /// Result files that were ignored, and why.
    pub stale: Vec<String>,
}

impl Results {
    /// Reads what is there and current.
    pub fn read(b: &BuildDir) -> Self {
        let mut r = Results::default();
        r.sim = current(b.load(&()), &mut r.stale);
        r.cosim = current(b.load(&()), &mut r.stale);
        r.synth = current(b.load(&Target::Xc7), &mut r.stale);
        r.synth_ice40 = current(b.load(&Target::Ice40), &mut r.stale);
        r.board = current(b.load(&()), &mut r.stale);
        r
    }
}

/// The result if it is current; a stale one's reason goes to `stale`.
fn current<T>(l: Loaded<T>, stale: &mut Vec<String>) -> Option<T> {
    match l {
        Loaded::Missing => None,
        Loaded::Current(v) => Some(v),
        Loaded::Stale(why) => {
            stale.push(why);
            None
        }
    }
}

/// Writes a step's result into the build directory, stamped with the design it measured (the
/// report reads it back).
pub fn save<T: StepResult>(b: &BuildDir, value: &T) -> Result<(), ReportError> {
    b.save(value)?;
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Markdown table rendered as HTML as well: `rows[0]` is the header.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn markdown(&self) -> String {
        let mut s = String::new();
        for (i, r) in self.rows.iter().enumerate() {
            let _ = writeln!(s, "| {} |", r.join(" | "));
            if i == 0 {
                let _ = writeln!(s, "|{}", "---|".repeat(r.len()));
            }
        }
        s
    }

    fn html(&self) -> String {
        let mut s = String::from("<table>\n");
        for (i, r) in self.rows.iter().enumerate() {
            let tag = if i == 0 { "th" } else { "td" };
            let cells: String = r.iter().map(|c| format!("<{tag}>{}</{tag}>", esc(c))).collect();
            let _ = writeln!(s, "<tr>{cells}</tr>");
        }
        s.push_str("</table>\n");
        s
    }
}

/// One section: a heading, paragraphs, tables and embedded SVG plots.
struct Section {
    title: String,
    text: Vec<String>,
    tables: Vec<Table>,
    plots: Vec<PathBuf>,
}

/// A count for a table cell, `-` when there is none.
fn count(x: Option<u64>) -> String {
    x.map_or("-".into(), |x| x.to_string())
}

/// For a build compiled for an iCE40 or synthesized for one: the iCE40 cost model's estimate per
/// node beside Yosys `synth_ice40`'s counts and, for the part, the logic cells and EBRs it needs.
fn ice40_section(b: &BuildDir, synth: Option<&SynthResult>) -> Option<Section> {
    let part = match b.graph.arch {
        Some(Arch::Ice40(p)) => Some(p),
        _ if synth.is_some() => None,
        _ => return None,
    };
    let (per, total) = ice40::graph_with(&b.graph, &b.model);
    let head = [
        "node",
        "LUT4 est.",
        "LUT4 Yosys",
        "carry est.",
        "carry Yosys",
        "DFF est.",
        "DFF Yosys",
        "EBR est.",
        "EBR Yosys",
        "LC est.",
    ];
    let mut rows = vec![head.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    let row = |name: &str, e: &ice40::Ice40Cost, y: Option<&hdl::synth::SynthStats>| {
        vec![
            name.to_string(),
            e.lut4.to_string(),
            count(y.map(|y| y.lut)),
            e.carry.to_string(),
            count(y.map(|y| y.carry)),
            e.dff.to_string(),
            count(y.map(|y| y.ff)),
            e.ebr.to_string(),
            count(y.map(|y| y.bram18)),
            e.lc().to_string(),
        ]
    };
    for (id, n) in b.graph.iter() {
        let y = synth.and_then(|s| s.nodes.iter().find(|x| x.name == n.name)).map(|x| &x.synth);
        rows.push(row(&n.name, &per[id], y));
    }
    rows.push(row("total", &total, synth.map(|s| &s.total)));
    let mut text = vec![match synth {
        Some(s) => format!("Yosys synth_ice40 beside the iCE40 estimate: {}.", s.per_node.describe()),
        None => format!("No iCE40 synthesis yet: run `xnorflow synth {} --arch ice40`.", b.dir.display()),
    }];
    // What `xnorflow bitstream` adds around the accelerator: the part must hold both.
    let board = ice40::board_top(&b.graph, &b.model);
    rows.push(row("board top", &board, None));
    let spram = b
        .graph
        .all_nodes()
        .any(|n| matches!(&n.kind, NodeKind::Mvtu { hw: Some(hw), .. } if hw.wmem.spram() > 0));
    if let Some(p) = part {
        let spec = p.spec();
        text.push(format!(
            "Compiled for the iCE40 {p}: an estimated {} of its {} logic cells ({} the accelerator, {} the board \
             top of `xnorflow bitstream`: UART, input quantizer, one-frame input queue in EBR, packer{}) and {} of its {} EBRs.",
            (total + board).lc(),
            spec.lc,
            total.lc(),
            board.lc(),
            if spram { ", SPRAM weight loader" } else { "" },
            (total + board).ebr,
            spec.ebr
        ));
    }
    if let Some(t) = synth.and_then(|s| s.timing.as_ref()) {
        text.push(match (&t.part, t.fmax_mhz) {
            (Ok(p), Some(f)) => {
                format!("nextpnr-ice40 on {} ({}): max clock {f:.1} MHz.", p.device, p.package)
            }
            (Ok(p), None) => format!("nextpnr-ice40 on {} ({}): no timing result.", p.device, p.package),
            (Err(why), _) => format!("No iCE40 place and route: {why}."),
        });
    }
    Some(Section {
        title: "iCE40: estimate and synthesis".into(),
        text,
        tables: vec![Table { rows }],
        plots: vec![],
    })
}

/// Writes `report.html` and `report.md` into the build directory; returns their paths and the
/// result files it ignored as stale, with why.
pub fn write(b: &BuildDir) -> Result<(PathBuf, PathBuf, Vec<String>), ReportError> {
    let r = Results::read(b);
    let est = Report::new(&b.graph, &b.model, b.info.fclk_mhz);
    let mut sections = Vec::new();

    let m = &b.model;
    let p = &m.provenance;
    let mut model_text = vec![format!(
        "Model \"{}\": input {}, {} layers; {}{}{}.",
        m.name,
        m.input,
        m.layers.len(),
        p.method.as_deref().map_or("method unknown".into(), |x| format!("trained with {x}")),
        p.dataset.as_deref().map_or(String::new(), |d| format!(" on {d}")),
        p.accuracy.map_or(String::new(), |a| format!(", test accuracy {:.2}% (bit-exact)", 100.0 * a)),
    )];
    model_text.push(format!(
        "Design: {} cycles per frame, {:.0} frames/s at {} MHz, latency {} cycles (cycle model).",
        est.cycles_per_frame,
        est.fps,
        b.info.fclk_mhz,
        count(r.sim.as_ref().map(|s| s.latency_cycles))
    ));
    sections.push(Section {
        title: "Model and design".into(),
        text: model_text,
        tables: vec![],
        plots: vec![],
    });

    let mut rows = vec![vec![
        "node",
        "what",
        "cycles/frame",
        "LUT est.",
        "LUT Yosys",
        "FF est.",
        "FF Yosys",
        "BRAM18 est.",
        "BRAM18 Yosys",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>()];
    for n in &est.nodes {
        // By name: a node the synthesis does not know (another graph) shows none.
        let s = r.synth.as_ref().and_then(|s| s.nodes.iter().find(|x| x.name == n.name)).map(|x| &x.synth);
        let e = &n.estimate;
        rows.push(vec![
            n.name.clone(),
            n.what.clone(),
            e.cycles.to_string(),
            e.lut.to_string(),
            count(s.map(|s| s.lut)),
            e.ff.to_string(),
            count(s.map(|s| s.ff)),
            e.bram18.to_string(),
            count(s.map(|s| s.bram18)),
        ]);
    }
    let t = &est.total;
    let y = r.synth.as_ref().map(|s| &s.total);
    rows.push(vec![
        "total".into(),
        String::new(),
        t.cycles.to_string(),
        t.lut.to_string(),
        count(y.map(|s| s.lut)),
        t.ff.to_string(),
        count(y.map(|s| s.ff)),
        t.bram18.to_string(),
        count(y.map(|s| s.bram18)),
    ]);
    let synth_note = if r.synth.is_some() {
        "Yosys synth_xilinx (7-series), hierarchy kept, per node.".to_string()
    } else {
        format!("No synthesis yet: run `xnorflow synth {}`.", b.dir.display())
    };
    // The per-layer cycle chart of this design.
    let layer_cycles = b
        .graph
        .nodes
        .iter()
        .zip(&est.nodes)
        .filter(|(n, _)| matches!(n.kind, NodeKind::Mvtu { .. }))
        .map(|(n, e)| (n.name.clone(), e.estimate.cycles))
        .collect();
    let d = Design {
        model: m.name.clone(),
        method: String::new(),
        act_bits: m.act_bits(),
        accuracy: None,
        target_cycles: 0,
        cycles_per_frame: est.cycles_per_frame,
        fps: est.fps,
        lut: t.lut,
        ff: t.ff,
        bram18: t.bram18,
        pareto: false,
        within_budget: true,
        folding: String::new(),
        layer_cycles,
        graph: None,
        measured: None,
    };
    let plots = explore::layer_bars(&b.dir, &d)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    sections.push(Section {
        title: "Folding, estimates and synthesis".into(),
        text: vec![synth_note],
        tables: vec![Table { rows }],
        plots,
    });
    if let Some(s) = ice40_section(b, r.synth_ice40.as_ref()) {
        sections.push(s);
    }

    let mut verdict = Vec::new();
    match &r.sim {
        Some(s) => verdict.push(format!(
            "Cycle model (`xnorflow sim`, {} frames): {} cycles per frame in steady state (predicted {}), latency {} cycles; outputs {} the golden model's.",
            s.frames,
            count(s.steady_cycles_per_frame),
            s.predicted_cycles_per_frame,
            s.latency_cycles,
            if s.golden_agrees { "equal" } else { "DIFFER from" }
        )),
        None => verdict.push(format!("No cycle-model run yet: `xnorflow sim {}`.", b.dir.display())),
    }
    match &r.cosim {
        Some(c) => {
            verdict.push(format!(
                "Co-simulation (`xnorflow cosim`, {} frames, {} output words): {}.",
                c.frames,
                c.words,
                match (&c.first_mismatch, &c.verilator_skipped) {
                    (None, None) => "PASS: golden model, cycle model and Verilator agree on every bit, and the cycle model and Verilator on the cycle of every word".to_string(),
                    (None, Some(w)) => format!("golden model and cycle model agree; Verilator skipped ({w})"),
                    (Some(m), _) => format!("FAIL: {}", serde_json::to_string(m).unwrap_or_default()),
                }
            ));
        }
        None => verdict.push(format!("No co-simulation yet: `xnorflow cosim {}`.", b.dir.display())),
    }
    if let Some(bs) = &r.board {
        let cells: Vec<String> = bs
            .utilisation
            .iter()
            .filter(|(_, used, _)| *used > 0)
            .map(|(c, used, avail)| format!("{c} {used}/{avail}"))
            .collect();
        verdict.push(format!(
            "On a board (`xnorflow bitstream`): {} for {} at {} baud; {}; Fmax {}; at most {:.0} frames/s over the UART (the frame's bytes in).",
            bs.bin.display(),
            bs.board.name(),
            bs.baud,
            cells.join(", "),
            bs.fmax_mhz.map_or("not reported".into(), |f| format!("{f:.1} MHz against the board's 12 MHz")),
            bs.uart_fps
        ));
    }
    for why in &r.stale {
        verdict.push(format!("Stale result ignored: {why}."));
    }
    if let Some(note) = b.modified_note() {
        verdict.push(note);
    }
    sections.push(Section { title: "Verification".into(), text: verdict, tables: vec![], plots: vec![] });

    let title = format!("xnorflow report: {}", b.graph.name);
    let mut md = format!("# {title}\n\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\n<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child,td:nth-child(2){{text-align:left}}th{{background:#f0f0f0}}svg{{max-width:100%;height:auto}}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    for s in &sections {
        let _ = writeln!(md, "## {}\n", s.title);
        let _ = writeln!(html, "<h2>{}</h2>", esc(&s.title));
        for t in &s.text {
            let _ = writeln!(md, "{t}\n");
            let _ = writeln!(html, "<p>{}</p>", esc(t));
        }
        for t in &s.tables {
            let _ = writeln!(md, "{}", t.markdown());
            html.push_str(&t.html());
        }
        for p in &s.plots {
            let name = p.file_name().map_or(String::new(), |n| n.to_string_lossy().to_string());
            let _ = writeln!(md, "![{name}]({name})\n");
            let svg =
                std::fs::read_to_string(p).map_err(|source| ReportError::Io { path: p.clone(), source })?;
            // Inline, so the page is one file.
            let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
            let _ = writeln!(html, "<div>{body}</div>");
        }
    }
    html.push_str("</body></html>\n");
    let (h, m) = (b.dir.join(builddir::REPORT_HTML), b.dir.join(builddir::REPORT_MD));
    std::fs::write(&h, html).map_err(|source| ReportError::Io { path: h.clone(), source })?;
    std::fs::write(&m, md).map_err(|source| ReportError::Io { path: m.clone(), source })?;
    Ok((h, m, r.stale))
}
