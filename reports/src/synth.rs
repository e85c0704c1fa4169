//! `xnorflow synth`: Yosys synthesis of a build, per node and in total, beside the estimates;
//! nextpnr-ice40's maximum clock where the design fits an iCE40.

use crate::build::Report;
use crate::builddir::{self, BuildDir, StepResult};
use compiler::dataflow::cost::ice40::{self, Ice40Cost};
use compiler::dataflow::cost::Cost;
use compiler::dataflow::target::Arch;
use hdl::synth::{self, SynthStats, Target};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tools::Tool;

/// How long nextpnr-ice40 may place and route a design that fits an iCE40.
const NEXTPNR_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// Why synthesis could not run.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Yosys failed or is missing.
    #[error(transparent)]
    Hdl(#[from] hdl::HdlError),
    /// Writing the results.
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
    /// The synthesis statistics lack a module.
    #[error("Yosys' statistics have no module {0}")]
    Missing(String),
    /// Yosys or nextpnr failed or ran past its limit.
    #[error(transparent)]
    Tool(#[from] tools::ToolError),
}

/// One node: the estimate beside Yosys.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeSynth {
    /// Node name.
    pub name: String,
    /// Kind and folding in words.
    pub what: String,
    /// The cost model's estimate (7-series).
    pub estimate: Cost,
    /// Yosys' counts for the node's module and everything under it, measured as
    /// [`SynthResult::per_node`] says.
    pub synth: SynthStats,
    /// With [`PerNode::Alone`]: the same module's counts within the whole design's synthesis
    /// (absent otherwise, and in results saved before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_context: Option<SynthStats>,
    /// iCE40 synthesis only: the iCE40 cost model's estimate (absent in results saved before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice40: Option<Ice40Cost>,
}

/// An iCE40 part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ice40Part {
    /// nextpnr's device switch.
    pub device: Cow<'static, str>,
    /// A package.
    pub package: Cow<'static, str>,
    /// LUT4s.
    pub luts: u64,
    /// 4 Kb block RAMs.
    pub brams: u64,
    /// User I/O pins of the package.
    pub ios: u64,
}

/// The iCE40 parts tried, smallest first.
pub const ICE40_PARTS: [Ice40Part; 2] = [
    Ice40Part {
        device: Cow::Borrowed("up5k"),
        package: Cow::Borrowed("sg48"),
        luts: 5280,
        brams: 30,
        ios: 39,
    },
    Ice40Part {
        device: Cow::Borrowed("hx8k"),
        package: Cow::Borrowed("ct256"),
        luts: 7680,
        brams: 32,
        ios: 206,
    },
];

/// Place and route on an iCE40.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timing {
    /// The part, or why none fits.
    pub part: Result<Ice40Part, String>,
    /// nextpnr's maximum clock, MHz.
    pub fmax_mhz: Option<f64>,
}

/// How `synth` measures each node.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerNode {
    /// The node's module within the whole design's synthesis, hierarchy kept (7-series, and
    /// every result saved before [`PerNode::Alone`]). Yosys numbers its cells with one counter
    /// for the session, so what else the design holds renames them, which reorders ABC's input:
    /// the same 10 x 9-bit argmax module was 29, 36 and 37 LUT4 in three designs.
    #[default]
    InContext,
    /// The node's module and its submodules alone, each distinct module in a fresh Yosys
    /// process, hierarchy kept ([`hdl::synth::yosys_alone`], out of context as FINN and Vivado
    /// report layers): the same module gives the same counts in every design and every run.
    Alone,
}

impl PerNode {
    /// How the nodes were measured, in words.
    pub fn describe(self) -> &'static str {
        match self {
            PerNode::InContext => "each node counted within the whole design's synthesis (hierarchy kept)",
            PerNode::Alone => {
                "each node's module synthesized alone (hierarchy kept); the total is the whole design's synthesis"
            }
        }
    }
}

/// A synthesis of a build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SynthResult {
    /// The target.
    pub target: Target,
    /// How the nodes were measured (in context in results saved before the choice existed).
    #[serde(default)]
    pub per_node: PerNode,
    /// Per node, in graph order.
    pub nodes: Vec<NodeSynth>,
    /// The whole design (Yosys).
    pub total: SynthStats,
    /// The whole design (estimate).
    pub estimate: Cost,
    /// iCE40 synthesis only: the whole design's iCE40 estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice40: Option<Ice40Cost>,
    /// iCE40 only: the part and clock from nextpnr.
    pub timing: Option<Timing>,
    /// Wall-clock seconds of Yosys (and nextpnr).
    pub seconds: f64,
}

impl StepResult for SynthResult {
    type Key = Target;
    fn file_name(target: &Target) -> String {
        builddir::synth_file(*target, "json")
    }
    fn key(&self) -> Target {
        self.target
    }
}

fn pct(est: u64, real: u64) -> f64 {
    if real == 0 {
        if est == 0 {
            0.0
        } else {
            100.0
        }
    } else {
        100.0 * (est as f64 - real as f64) / real as f64
    }
}

/// Estimate beside synthesis: LUT est., LUT, error %, FF est., FF, BRAM18 est., BRAM18, carry, DSP.
fn cells(e: &Cost, y: &SynthStats) -> Vec<String> {
    let err = format!("{:+.1}", pct(e.lut, y.lut));
    [e.lut, y.lut]
        .iter()
        .map(u64::to_string)
        .chain([err])
        .chain([e.ff, y.ff, e.bram18, y.bram18, y.carry, y.dsp].iter().map(u64::to_string))
        .collect()
}

/// The header of an iCE40 synthesis' CSV.
pub const ICE40_CSV_HEADER: &str =
    "node,lut4_est,lut4,lut4_err_pct,carry_est,carry,dff_est,dff,ebr_est,ebr,lut4_in_context";

/// iCE40 estimate beside synthesis: LUT4 est., LUT4, error %, carry est., carry, DFF est., DFF,
/// EBR est., EBR.
fn ice40_cells(e: &Ice40Cost, y: &SynthStats) -> Vec<String> {
    let err = format!("{:+.1}", pct(e.lut4, y.lut));
    vec![
        e.lut4.to_string(),
        y.lut.to_string(),
        err,
        e.carry.to_string(),
        y.carry.to_string(),
        e.dff.to_string(),
        y.ff.to_string(),
        e.ebr.to_string(),
        y.bram18.to_string(),
    ]
}

/// One iCE40 row: the node (or `total`), its estimate, Yosys' counts and, in context, its LUT4s.
type Ice40Row<'a> = (&'a str, Ice40Cost, &'a SynthStats, u64);

fn ice40_markdown(rows: &[Ice40Row]) -> String {
    let mut s = String::from(
        "| node | LUT4 est. | LUT4 Yosys synth_ice40 | error % | carry est. | carry | DFF est. | DFF | EBR est. | EBR |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, e, y, _) in rows {
        let name = if *name == "total" { "**total**" } else { name };
        let _ = writeln!(s, "| {name} | {} |", ice40_cells(e, y).join(" | "));
    }
    s
}

impl SynthResult {
    /// The per-node table in Markdown: estimate, Yosys, error.
    pub fn markdown(&self) -> String {
        let mut s = match self.ice40_rows() {
            Some(rows) => ice40_markdown(&rows),
            None => self.xc7_markdown(),
        };
        let _ = writeln!(s, "\nYosys: {}.", self.per_node.describe());
        if let Some(t) = &self.timing {
            match (&t.part, t.fmax_mhz) {
                (Ok(p), Some(f)) => {
                    let _ =
                        writeln!(s, "\nnextpnr-ice40 on {} ({}): max clock {f:.1} MHz.", p.device, p.package);
                }
                (Ok(p), None) => {
                    let _ = writeln!(s, "\nnextpnr-ice40 on {} ({}): no timing result.", p.device, p.package);
                }
                (Err(why), _) => {
                    let _ = writeln!(s, "\nNo iCE40 place and route: {why}.");
                }
            }
        }
        s
    }

    /// Per node and the total: name, the iCE40 estimate, Yosys, and Yosys' LUT4s in context
    /// (when every node has an iCE40 estimate).
    fn ice40_rows(&self) -> Option<Vec<Ice40Row<'_>>> {
        let mut rows: Vec<Ice40Row> = self
            .nodes
            .iter()
            .map(|n| {
                let in_context = n.in_context.as_ref().unwrap_or(&n.synth).lut;
                Some((n.name.as_str(), n.ice40?, &n.synth, in_context))
            })
            .collect::<Option<_>>()?;
        rows.push(("total", self.ice40?, &self.total, self.total.lut));
        Some(rows)
    }

    fn xc7_markdown(&self) -> String {
        let mut s = String::new();
        let t = match self.target {
            Target::Xc7 => "Yosys synth_xilinx (7-series)",
            Target::Ice40 => "Yosys synth_ice40",
        };
        let _ = writeln!(
            s,
            "| node | what | LUT est. | LUT {t} | error % | FF est. | FF | BRAM18 est. | BRAM18 | carry |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let row = |s: &mut String, name: &str, what: &str, e: &Cost, y: &SynthStats| {
            let c = cells(e, y);
            let _ = writeln!(s, "| {name} | {what} | {} | {} |", c[..7].join(" | "), c[7]);
        };
        for n in &self.nodes {
            row(&mut s, &n.name, &n.what, &n.estimate, &n.synth);
        }
        row(&mut s, "**total**", "", &self.estimate, &self.total);
        s
    }

    /// One CSV row per node plus the total (for iCE40: LUT4, carry, flip-flops and EBR, the
    /// iCE40 estimate beside Yosys, and the node's LUT4s within the whole design's synthesis).
    pub fn csv(&self) -> String {
        if let Some(rows) = self.ice40_rows() {
            let mut s = String::from(ICE40_CSV_HEADER);
            s.push('\n');
            for (name, e, y, in_context) in rows {
                let _ = writeln!(s, "{name},{},{in_context}", ice40_cells(&e, y).join(","));
            }
            return s;
        }
        let mut s = String::from("node,lut_est,lut,lut_err_pct,ff_est,ff,bram18_est,bram18,carry,dsp\n");
        let mut row = |name: &str, e: &Cost, y: &SynthStats| {
            let _ = writeln!(s, "{name},{}", cells(e, y).join(","));
        };
        for n in &self.nodes {
            row(&n.name, &n.estimate, &n.synth);
        }
        row("total", &self.estimate, &self.total);
        s
    }
}

/// Synthesizes the build in `b` for `target` and writes `synth-<target>.json`, `.csv` and `.md`
/// into the build directory. `progress` hears each step.
pub fn synth(
    b: &BuildDir,
    target: Target,
    progress: &mut dyn FnMut(&str),
) -> Result<SynthResult, SynthError> {
    let t0 = Instant::now();
    let top = &b.info.top;
    let report = Report::new(&b.graph, &b.model, b.info.fclk_mhz);
    let design = b.dir.join(builddir::DESIGN_V);
    let text = builddir::read_text(&design, builddir::MAX_BUILD_FILE_BYTES)?;
    let modules = stage_modules(&text, top.as_str());
    // 7-series keeps the in-context measurement its fits and results were made with (and its
    // largest designs take hours in one process).
    let per_node = match target {
        Target::Ice40 => PerNode::Alone,
        Target::Xc7 => PerNode::InContext,
    };
    let alone_names: Vec<&str> = match per_node {
        PerNode::Alone => modules.values().map(String::as_str).collect::<BTreeSet<_>>().into_iter().collect(),
        PerNode::InContext => Vec::new(),
    };
    progress(&match alone_names.len() {
        0 => "Yosys".to_string(),
        n => format!("Yosys: the design, and its {n} stage modules alone"),
    });
    let (rep, alone) = yosys_runs(b, &text, target, &alone_names)?;
    let module_of = |inst: &str| {
        modules
            .get(inst)
            .cloned()
            .unwrap_or_else(|| format!("{}:{inst}", hdl::rtl::accel::core_name(top.as_str())))
    };
    let in_context = |inst: &str| {
        let module = module_of(inst);
        rep.hierarchical(&module).ok_or(SynthError::Missing(module))
    };
    let by_itself = |inst: &str| {
        let module = module_of(inst);
        alone.get(&module).cloned().ok_or(SynthError::Missing(module))
    };
    // An add's row is the whole shortcut, as its estimate: its bypass's instances too.
    let node_stats = |i: usize, stats: &dyn Fn(&str) -> Result<SynthStats, SynthError>| {
        let mut s = stats(&hdl::rtl::accel::stage_instance(i))?;
        for j in 0..b.graph.nodes.get(i).map_or(0, |g| g.bypass().len()) {
            s.add(&stats(&hdl::rtl::accel::bypass_instance(i, j))?, 1);
        }
        Ok::<_, SynthError>(s)
    };
    let (ice40_per, ice40_total) = ice40::graph_with(&b.graph, &b.model);
    let ice40_of = |i: usize| (target == Target::Ice40).then(|| ice40_per.0.get(i).copied()).flatten();
    let mut nodes = Vec::new();
    for (i, n) in report.nodes.iter().enumerate() {
        let context = node_stats(i, &in_context)?;
        let (synth, in_context) = match per_node {
            PerNode::InContext => (context, None),
            PerNode::Alone => (node_stats(i, &by_itself)?, Some(context)),
        };
        nodes.push(NodeSynth {
            name: n.name.clone(),
            what: n.what.clone(),
            estimate: n.estimate,
            synth,
            in_context,
            ice40: ice40_of(i),
        });
    }
    let timing = match target {
        Target::Xc7 => None,
        Target::Ice40 => Some(place_and_route(b, &rep.total, progress)?),
    };
    let r = SynthResult {
        target,
        per_node,
        nodes,
        total: rep.total,
        estimate: report.total,
        ice40: (target == Target::Ice40).then_some(ice40_total),
        timing,
        seconds: t0.elapsed().as_secs_f64(),
    };
    let write = |ext: &str, text: &str| {
        let path = b.dir.join(builddir::synth_file(target, ext));
        std::fs::write(&path, text).map_err(|source| SynthError::Io { path, source })
    };
    b.save(&r)?;
    write("csv", &r.csv())?;
    write("md", &r.markdown())?;
    Ok(r)
}

/// The whole design's synthesis (hierarchy kept) and each module of `alone` by itself
/// ([`hdl::synth::yosys_alone`], in [`builddir::synth_nodes_dir`]), as many Yosys processes at
/// once as the machine has cores, the whole design first (the longest).
fn yosys_runs(
    b: &BuildDir,
    verilog: &str,
    target: Target,
    alone: &[&str],
) -> Result<(synth::SynthReport, BTreeMap<String, SynthStats>), SynthError> {
    use rayon::prelude::*;
    let work = b.dir.join(builddir::synth_nodes_dir(target));
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|source| SynthError::Io { path: work.clone(), source })?;
    }
    let whole = || synth::yosys(&b.dir, builddir::DESIGN_V, b.info.top.as_str(), target, false);
    let one = |m: &&str| synth::yosys_alone(verilog, &b.dir, m, target, &work.join(m));
    // The whole design is the longest run: it starts first, the modules share the other cores.
    let (rep, stats) = rayon::join(whole, || alone.par_iter().with_max_len(1).map(one).collect::<Vec<_>>());
    // The whole design's error first: a module's would only repeat it.
    let rep = rep?;
    let stats =
        alone.iter().zip(stats).map(|(m, s)| Ok((m.to_string(), s?))).collect::<Result<_, SynthError>>()?;
    Ok((rep, stats))
}

fn place_and_route(
    b: &BuildDir,
    total: &SynthStats,
    progress: &mut dyn FnMut(&str),
) -> Result<Timing, SynthError> {
    // Weights in SPRAM: the AXI top adds the loader's bus to its pins, more than the UP5K's
    // package has, and no other part has SPRAM; the board top (`bitstream`) is where it places.
    let spram = b.graph.all_nodes().any(
        |n| matches!(&n.kind, compiler::dataflow::NodeKind::Mvtu { hw: Some(hw), .. } if hw.wmem.spram() > 0),
    );
    if spram {
        let why = "weights in SPRAM: the accelerator's top has the loader's pins, more than the up5k's \
                   package; `xnorflow bitstream` places the board top and measures the clock"
            .to_string();
        return Ok(Timing { part: Err(why), fmax_mhz: None });
    }
    let ios = (b.graph.in_bits() + b.graph.out_bits() + 6) as u64;
    let fits = |p: &Ice40Part| total.lut <= p.luts && total.bram18 <= p.brams && ios <= p.ios;
    // The part `compile --arch ice40 --part` chose, or the smallest that fits.
    if let Some(Arch::Ice40(chosen)) = b.graph.arch {
        let spec = chosen.spec();
        let part = Ice40Part {
            device: Cow::Borrowed(chosen.name()),
            package: Cow::Borrowed(spec.package),
            luts: spec.lc,
            brams: spec.ebr,
            ios: spec.ios,
        };
        if fits(&part) {
            return route(b, part, progress);
        }
        // The accelerator's own top has a pin per stream bit, more than an sg48 has: its clock
        // is measured on the smallest part with the pins (the board top, `bitstream`, has three).
        if total.lut > part.luts || total.bram18 > part.brams {
            let why = format!(
                "{} LUT4, {} EBR exceed the {chosen} the build was compiled for ({} LC, {} EBR)",
                total.lut, total.bram18, spec.lc, spec.ebr
            );
            return Ok(Timing { part: Err(why), fmax_mhz: None });
        }
    }
    let part = ICE40_PARTS.iter().find(|p| fits(p)).cloned();
    let Some(part) = part else {
        let why = format!(
            "{} LUT4, {} BRAM, {ios} I/O pins exceed every part tried (largest: hx8k, 7,680 LUT4, 32 BRAM, 206 I/O)",
            total.lut, total.bram18
        );
        return Ok(Timing { part: Err(why), fmax_mhz: None });
    };
    route(b, part, progress)
}

fn route(b: &BuildDir, part: Ice40Part, progress: &mut dyn FnMut(&str)) -> Result<Timing, SynthError> {
    if !tools::installed("nextpnr-ice40") {
        return Ok(Timing { part: Ok(part), fmax_mhz: None });
    }
    progress("Yosys (flattened, for nextpnr)");
    let json = builddir::ICE40_NETLIST_JSON;
    let script = format!("read_verilog {}; synth_ice40 -top {} -json {json}", builddir::DESIGN_V, b.info.top);
    Tool::new("yosys")
        .name("yosys synth_ice40 -json")
        .current_dir(&b.dir)
        .args(["-q", "-p", &script])
        .log(b.dir.join(synth::YOSYS_LOG))
        .timeout(synth::YOSYS_TIMEOUT)
        .run()?;
    progress("nextpnr-ice40");
    let out = Tool::new("nextpnr-ice40")
        .current_dir(&b.dir)
        .args([
            &format!("--{}", part.device),
            "--package",
            &part.package,
            "--json",
            json,
            "--pcf-allow-unconstrained",
            "--timing-allow-fail",
            "--freq",
            "12",
        ])
        .log(b.dir.join(builddir::NEXTPNR_LOG))
        .timeout(NEXTPNR_TIMEOUT)
        .run();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            // Yosys' LUT4 count fit the part but nextpnr's cells did not (a flip-flop without a
            // LUT4 to pair with takes a cell of its own): a result, not a failure of the tool.
            let log = std::fs::read_to_string(b.dir.join(builddir::NEXTPNR_LOG)).unwrap_or_default();
            let Some(over) = nextpnr_overflow(&log) else { return Err(e.into()) };
            let why = format!("nextpnr-ice40 cannot place it on the {}: it needs {over}", part.device);
            return Ok(Timing { part: Err(why), fmax_mhz: None });
        }
    };
    Ok(Timing { part: Ok(part), fmax_mhz: fmax(&out.text()) })
}

/// Why a failed nextpnr-ice40 run could not place the design, when it was room: the cells of its
/// utilisation report above 100% (`10042 of 7680 ICESTORM_LC`).
pub fn nextpnr_overflow(log: &str) -> Option<String> {
    let over: Vec<String> = crate::board::utilisation(log)
        .into_iter()
        .filter(|(_, used, avail)| used > avail)
        .map(|(cell, used, avail)| format!("{used} of {avail} {cell}"))
        .collect();
    (!over.is_empty()).then(|| over.join(", "))
}

/// The module of each pipeline stage by instance name: identical stages share one module, so
/// the instance `stages_i` (`stages_i_bj` on an add's bypass) of the core names its module (every
/// module of the design is `{top}_...`).
fn stage_modules(verilog: &str, top: &str) -> std::collections::HashMap<String, String> {
    let prefix = format!("{top}_");
    let mut out = std::collections::HashMap::new();
    for line in verilog.lines() {
        let Some((ty, rest)) = line.trim().split_once(' ') else { continue };
        let Some(inst) = rest.strip_suffix(" (").filter(|r| r.starts_with("stages_")) else { continue };
        if ty.starts_with(&prefix) {
            out.insert(inst.to_string(), ty.to_string());
        }
    }
    out
}

/// The last "Max frequency for clock ...: X MHz" of a nextpnr log (the final, routed figure).
pub fn fmax(log: &str) -> Option<f64> {
    log.lines()
        .rev()
        .filter(|l| l.contains("Max frequency for clock"))
        .find_map(|l| l.split("': ").nth(1)?.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmax_takes_the_routed_figure() {
        let log = "Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 80.12 MHz (PASS at 12.00 MHz)\n\
                   Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 71.50 MHz (PASS at 12.00 MHz)\n";
        assert_eq!(fmax(log), Some(71.5));
        assert_eq!(fmax("nothing"), None);
    }

    #[test]
    fn stages_map_to_their_shared_modules() {
        let v = "module top_core (\n  top_fifo_8x2 stages_0 (\n  top_fifo_8x2 stages_2 (\n  top_mvtu_L1 stages_1 (\n  top_fifo_8x9 stages_3_b0 (\nendmodule\n  top_core core (\n";
        let m = stage_modules(v, "top");
        let want = [
            ("stages_0", "top_fifo_8x2"),
            ("stages_1", "top_mvtu_L1"),
            ("stages_2", "top_fifo_8x2"),
            ("stages_3_b0", "top_fifo_8x9"),
        ];
        assert_eq!(m, want.iter().map(|(i, t)| (i.to_string(), t.to_string())).collect());
    }

    /// The lines of a run that could not place a residual design on an hx8k.
    #[test]
    fn an_overfull_part_is_named_from_the_utilisation_report() {
        let log = "Info: Device utilisation:\nInfo: \t         ICESTORM_LC: 10042/ 7680   130%\n\
                   Info: \t        ICESTORM_RAM:    25/   32    78%\n\
                   ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_LC'\n";
        assert_eq!(nextpnr_overflow(log).as_deref(), Some("10042 of 7680 ICESTORM_LC"));
        assert_eq!(nextpnr_overflow("ERROR: something else"), None);
    }

    /// A result saved before nodes were synthesized alone reads as measured in context.
    #[test]
    fn results_saved_before_read_as_in_context() {
        let node = NodeSynth {
            name: "L1".into(),
            what: String::new(),
            estimate: Cost::default(),
            synth: SynthStats { lut: 7, ..SynthStats::default() },
            in_context: Some(SynthStats { lut: 9, ..SynthStats::default() }),
            ice40: Some(Ice40Cost::default()),
        };
        let r = SynthResult {
            target: Target::Ice40,
            per_node: PerNode::Alone,
            nodes: vec![node],
            total: SynthStats::default(),
            estimate: Cost::default(),
            ice40: Some(Ice40Cost::default()),
            timing: None,
            seconds: 1.0,
        };
        let mut json: serde_json::Value = serde_json::to_value(&r).expect("serializes");
        let back: SynthResult = compiler::json::from_str(&json.to_string()).expect("reads");
        assert_eq!(
            (back.per_node, back.nodes[0].in_context.as_ref().map(|s| s.lut)),
            (PerNode::Alone, Some(9))
        );
        // LUT4 (the node alone) and LUT4 in context.
        let luts = |r: &SynthResult| {
            let csv = r.csv();
            let f: Vec<String> = csv.lines().nth(1).expect("a row").split(',').map(String::from).collect();
            (f[2].clone(), f[10].clone())
        };
        assert_eq!(luts(&back), ("7".into(), "9".into()));
        json.as_object_mut().expect("an object").remove("per_node");
        json["nodes"][0].as_object_mut().expect("an object").remove("in_context");
        let old: SynthResult = compiler::json::from_str(&json.to_string()).expect("reads");
        assert_eq!((old.per_node, old.nodes[0].in_context.is_none()), (PerNode::InContext, true));
        assert_eq!(luts(&old), ("7".into(), "7".into()));
    }

    #[test]
    fn errors_are_signed_percentages() {
        assert!((pct(110, 100) - 10.0).abs() < 1e-9);
        assert!((pct(90, 100) + 10.0).abs() < 1e-9);
        assert_eq!(pct(0, 0), 0.0);
    }
}
