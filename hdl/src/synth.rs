//! Yosys synthesis of emitted Verilog and its cell statistics.

use crate::HdlError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The file [`yosys`] leaves Yosys' statistics in (`stat -json`), beside the Verilog.
pub const STAT_JSON: &str = "yosys_stat.json";
/// The file [`yosys`] leaves Yosys' output in.
pub const YOSYS_LOG: &str = "yosys.log";
/// How long one synthesis may run: the largest designs here (CNV at BNN-PYNQ's folding) take
/// tens of minutes; a run past this is stuck.
pub const YOSYS_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// A synthesis target.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Xilinx 7-series (`synth_xilinx`).
    Xc7,
    /// Lattice iCE40 (`synth_ice40`).
    Ice40,
}

/// Resource counts of a synthesized design.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthStats {
    /// Every cell type and its count.
    pub cells: BTreeMap<String, u64>,
    /// Look-up tables, including the LUTs of LUT RAMs and shift registers.
    pub lut: u64,
    /// Flip-flops.
    pub ff: u64,
    /// Carry cells (CARRY4 / SB_CARRY).
    pub carry: u64,
    /// Block RAM in 18 Kb halves (RAMB18 = 1, RAMB36 = 2) or iCE40 4 Kb blocks.
    pub bram18: u64,
    /// DSP slices.
    pub dsp: u64,
}

/// LUTs per cell for the 7-series cells that contain LUTs.
fn xc7_luts(cell: &str) -> u64 {
    match cell {
        "LUT1" | "LUT2" | "LUT3" | "LUT4" | "LUT5" | "LUT6" => 1,
        "RAM32X1S" | "RAM64X1S" | "SRL16E" | "SRLC32E" => 1,
        "RAM32X1D" | "RAM64X1D" | "RAM128X1S" => 2,
        "RAM32M" | "RAM64M" | "RAM128X1D" | "RAM256X1S" | "RAM32M16" | "RAM64M8" => 4,
        _ => 0,
    }
}

/// A synthesis run: the whole design and, when not flattened, every module.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthReport {
    /// The whole design.
    pub total: SynthStats,
    /// Per module (Yosys' module names, e.g. `top_lanes_32_comp`); only the top when flattened.
    pub modules: BTreeMap<String, SynthStats>,
}

/// Yosys' `stat -json` output (the part read here): per module, cells by type.
///
/// The design's totals are not taken from Yosys' `design` entry: Yosys 0.23 writes its text
/// hierarchy tree into the JSON before that entry when the top has grandchildren, so [`yosys`]
/// clears the `top` attribute (no `design` entry, no tree) and [`SynthReport::from_stat_json`]
/// adds the modules up itself, as Yosys does. Without the entry Yosys 0.23 leaves a comma after
/// the modules, which is dropped before parsing ([`without_trailing_comma`]).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct YosysStat {
    /// Per module, by Yosys' internal name (`\\top` for the source's `top`).
    pub modules: BTreeMap<String, ModuleStat>,
}

/// One module's statistics in [`YosysStat`].
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ModuleStat {
    /// Cells by type; a submodule is a cell type named as [`display_name`] prints it.
    pub num_cells_by_type: BTreeMap<String, u64>,
}

/// A Yosys identifier as Yosys prints it (its `log_id`): the leading `\` of a name from the source
/// is dropped unless the name could then be mistaken for an internal one (`$...`) or is empty or
/// starts with a digit. `stat -json` keys modules by the internal name but lists submodules among
/// the cells by the printed one, so both go through this to meet.
pub fn display_name(id: &str) -> &str {
    match id.strip_prefix('\\') {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with(['$', '\\'])
                && !rest.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => id,
    }
}

/// The deepest module hierarchy added up (the designs here are a few levels deep; a cycle, which
/// Yosys never writes, must not recurse without end).
const MAX_DEPTH: usize = 64;

/// The primitive cells of one instance of `module` with everything under it, submodules replaced
/// by their contents times their instance count.
fn design_cells(
    modules: &BTreeMap<String, BTreeMap<String, u64>>,
    module: &str,
    depth: usize,
) -> Result<BTreeMap<String, u64>, String> {
    let m = modules.get(module).ok_or_else(|| format!("no module {module}"))?;
    if depth > MAX_DEPTH {
        return Err(format!("module {module} is more than {MAX_DEPTH} levels deep"));
    }
    let mut out = BTreeMap::new();
    for (cell, n) in m {
        if modules.contains_key(cell) {
            for (c, k) in design_cells(modules, cell, depth + 1)? {
                *out.entry(c).or_insert(0) += n.saturating_mul(k);
            }
        } else {
            *out.entry(cell.clone()).or_insert(0) += n;
        }
    }
    Ok(out)
}

/// `text` without a comma between its last value and its closing brace (`},\n\n}`), which
/// Yosys 0.23's `stat -json` leaves when it writes no `design` entry; other text is unchanged.
pub fn without_trailing_comma(text: &str) -> std::borrow::Cow<'_, str> {
    let body = text.trim_end();
    if let Some(inner) = body.strip_suffix('}') {
        if let Some(before) = inner.trim_end().strip_suffix(',') {
            return format!("{before}\n}}\n").into();
        }
    }
    text.into()
}

impl SynthReport {
    /// Reads Yosys' `stat -json` output (strict JSON, but for [`without_trailing_comma`]) of a design whose top module is `top`:
    /// every module by its printed name, and the whole design, added up from the top down.
    pub fn from_stat_json(text: &str, top: &str, target: Target) -> Result<Self, String> {
        let stat: YosysStat =
            compiler::json::from_str(&without_trailing_comma(text)).map_err(|e| e.to_string())?;
        let cells: BTreeMap<String, BTreeMap<String, u64>> = stat
            .modules
            .into_iter()
            .map(|(n, m)| {
                let cells = m.num_cells_by_type.into_iter().map(|(c, n)| (display_name(&c).to_string(), n));
                (display_name(&n).to_string(), cells.collect())
            })
            .collect();
        let total = SynthStats::from_cells(design_cells(&cells, top, 0)?, target);
        let modules = cells.into_iter().map(|(n, c)| (n, SynthStats::from_cells(c, target))).collect();
        Ok(SynthReport { total, modules })
    }

    /// The resources of one instance of `module` with everything instantiated under it (Yosys
    /// lists a submodule among a module's cells with its instance count); `None` for an unknown
    /// module.
    pub fn hierarchical(&self, module: &str) -> Option<SynthStats> {
        let m = self.modules.get(module)?;
        let mut s = SynthStats { cells: BTreeMap::new(), ..m.clone() };
        for (cell, n) in &m.cells {
            if let Some(sub) = self.hierarchical(cell) {
                s.add(&sub, *n);
            }
        }
        Some(s)
    }

    /// The sum over modules whose name contains `part` (e.g. `_lanes_`).
    pub fn sum_modules(&self, part: &str) -> SynthStats {
        let mut s = SynthStats::default();
        for (_, m) in self.modules.iter().filter(|(n, _)| n.contains(part)) {
            s.add(m, 1);
        }
        s
    }
}

impl SynthStats {
    /// Adds `n` times `other`'s counts (not its cell list) to these.
    pub fn add(&mut self, other: &SynthStats, n: u64) {
        self.lut += n * other.lut;
        self.ff += n * other.ff;
        self.carry += n * other.carry;
        self.bram18 += n * other.bram18;
        self.dsp += n * other.dsp;
    }

    /// Counts from a cell list.
    pub fn from_cells(cells: BTreeMap<String, u64>, target: Target) -> Self {
        let sum = |f: &dyn Fn(&str) -> u64| cells.iter().map(|(c, n)| f(c) * n).sum::<u64>();
        let s = match target {
            Target::Xc7 => SynthStats {
                lut: sum(&|c| xc7_luts(c)),
                ff: sum(&|c| u64::from(c.starts_with("FD"))),
                carry: sum(&|c| u64::from(c == "CARRY4")),
                bram18: sum(&|c| match c {
                    "RAMB18E1" => 1,
                    "RAMB36E1" => 2,
                    _ => 0,
                }),
                dsp: sum(&|c| u64::from(c.starts_with("DSP48"))),
                ..SynthStats::default()
            },
            Target::Ice40 => SynthStats {
                lut: sum(&|c| u64::from(c == "SB_LUT4")),
                ff: sum(&|c| u64::from(c.starts_with("SB_DFF"))),
                carry: sum(&|c| u64::from(c == "SB_CARRY")),
                bram18: sum(&|c| u64::from(c.starts_with("SB_RAM40"))),
                dsp: sum(&|c| u64::from(c == "SB_MAC16")),
                ..SynthStats::default()
            },
        };
        SynthStats { cells, ..s }
    }
}

/// Synthesizes `file` (in `dir`, where its memory files are) with top module `top`, flattened
/// (whole-design optimisation) or keeping the hierarchy (per-module statistics).
pub fn yosys(
    dir: &Path,
    file: &str,
    top: &str,
    target: Target,
    flatten: bool,
) -> Result<SynthReport, HdlError> {
    // Both names go into Yosys' `-p` script, where `;` starts a new command (including `exec`).
    let top = compiler::dataflow::VerilogIdent::new(top)?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if file.is_empty() || file.starts_with('-') || !file.chars().all(plain) {
        return Err(HdlError::Tool(format!(
            "yosys: {file:?} is not a plain file name (letters, digits, '_', '.', '-')"
        )));
    }
    let synth = match (target, flatten) {
        (Target::Xc7, true) => format!("synth_xilinx -top {top} -flatten"),
        (Target::Xc7, false) => format!("synth_xilinx -top {top}"),
        (Target::Ice40, true) => format!("synth_ice40 -top {top}"),
        (Target::Ice40, false) => format!("synth_ice40 -top {top} -noflatten"),
    };
    // Without the `top` attribute, `stat` writes no hierarchy tree into its JSON (Yosys 0.23).
    let script =
        format!("read_verilog {file}; {synth}; setattr -mod -unset top; tee -q -o {STAT_JSON} stat -json");
    tools::Tool::new("yosys")
        .current_dir(dir)
        .args(["-q", "-p", &script])
        .log(dir.join(YOSYS_LOG))
        .timeout(YOSYS_TIMEOUT)
        .run()?;
    let p = dir.join(STAT_JSON);
    let stat = std::fs::read_to_string(&p)
        .map_err(|source| HdlError::Io { path: p.display().to_string(), source })?;
    SynthReport::from_stat_json(&stat, top.as_str(), target)
        .map_err(|e| HdlError::Tool(format!("yosys: {}: {e}", p.display())))
}

/// The file [`yosys_alone`] writes a module's Verilog into, in its own directory.
pub const ALONE_V: &str = "node.v";

/// The Verilog modules of a file as xnorflow prints them (`hdl::rtl`): each from its `module NAME (`
/// line to its `endmodule` line, in file order, after the text before the first module (comments
/// and `` `default_nettype ``).
fn split_modules(verilog: &str) -> (String, Vec<(&str, String)>) {
    let mut preamble = String::new();
    let mut modules: Vec<(&str, String)> = Vec::new();
    let mut open = false;
    for line in verilog.lines() {
        if let Some(name) = line.strip_prefix("module ").and_then(|r| r.split([' ', '(']).next()) {
            modules.push((name, String::new()));
            open = true;
        }
        let text = match modules.last_mut() {
            Some((_, text)) if open => text,
            Some(_) => continue,
            None => &mut preamble,
        };
        text.push_str(line);
        text.push('\n');
        open &= line.trim() != "endmodule";
    }
    (preamble, modules)
}

/// The Verilog of `module` alone: the file's preamble, then the module and every module it
/// instantiates, each once, instantiated modules before their parents in the order the parents
/// name them (depth first). The text depends on these modules' own texts only, not on what
/// else the file holds or in which order: Yosys numbers the cells it creates with one counter
/// for the whole session, so modules read before it (even ones `-top` then drops) rename a
/// module's cells, which reorders ABC's input and changes its LUT count (the demo's 10 x 9-bit
/// argmax: 35 LUT4 alone, 37 after the controller of the demo's L3).
pub fn module_alone(verilog: &str, module: &str) -> Result<String, HdlError> {
    let (preamble, modules) = split_modules(verilog);
    let index: BTreeMap<&str, usize> = modules.iter().enumerate().map(|(i, (n, _))| (*n, i)).collect();
    let root =
        *index.get(module).ok_or_else(|| HdlError::Tool(format!("no module {module} in the Verilog")))?;
    let mut order = Vec::new();
    fn visit(
        i: usize,
        depth: usize,
        modules: &[(&str, String)],
        index: &BTreeMap<&str, usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), HdlError> {
        if depth > MAX_DEPTH {
            return Err(HdlError::Tool(format!(
                "module {} is more than {MAX_DEPTH} levels deep",
                modules[i].0
            )));
        }
        for line in modules[i].1.lines().skip(1) {
            let child = line.split_whitespace().next().and_then(|t| index.get(t));
            if let Some(&c) = child.filter(|&&c| c != i) {
                if !order.contains(&c) {
                    visit(c, depth + 1, modules, index, order)?;
                }
            }
        }
        if !order.contains(&i) {
            order.push(i);
        }
        Ok(())
    }
    visit(root, 0, &modules, &index, &mut order)?;
    let mut out = format!("{}\n", preamble.trim_end());
    for i in order {
        out.push('\n');
        out.push_str(&modules[i].1);
    }
    Ok(out)
}

/// The `$readmemh` files a Verilog text reads.
fn memory_files(verilog: &str) -> Vec<&str> {
    let mut files: Vec<&str> =
        verilog.split("$readmemh(\"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// Synthesizes `module` of `verilog` out of context, the way FINN and Vivado report a layer: the
/// module and its submodules alone ([`module_alone`]) in a fresh Yosys process, hierarchy kept,
/// in the directory `work` (created; [`ALONE_V`], the memory files it reads copied from
/// `mem_dir`, Yosys' log and statistics). The counts are those of one instance of the module
/// with everything under it, and depend on nothing but the module's Verilog and memory files:
/// the same module gives the same counts in every design and every run.
pub fn yosys_alone(
    verilog: &str,
    mem_dir: &Path,
    module: &str,
    target: Target,
    work: &Path,
) -> Result<SynthStats, HdlError> {
    let module = compiler::dataflow::VerilogIdent::new(module)?;
    let text = module_alone(verilog, module.as_str())?;
    let io = |path: &Path, source| HdlError::Io { path: path.display().to_string(), source };
    std::fs::create_dir_all(work).map_err(|e| io(work, e))?;
    for f in memory_files(&text) {
        let (from, to) = (mem_dir.join(f), work.join(f));
        // A file the Verilog reads but the build lacks (or one in another directory, which
        // xnorflow never prints) is Yosys' error to report, as in context.
        if !f.contains(['/', '\\']) && from.is_file() {
            std::fs::copy(&from, &to).map_err(|e| io(&to, e))?;
        }
    }
    let file = work.join(ALONE_V);
    std::fs::write(&file, text).map_err(|e| io(&file, e))?;
    Ok(yosys(work, ALONE_V, module.as_str(), target, false)?.total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yosys 0.23's `stat -json` after `synth_xilinx` of a top with two instances of one
    /// submodule whose name holds `$` (as rust-hdl's do).
    const HIER: &str = r#"{
   "creator": "Yosys 0.23 (git sha1 7ce5011c24b)",
   "invocation": "stat -json ",
   "modules": {
      "\\top": {
         "num_wires": 9, "num_cells": 16,
         "num_cells_by_type": { "BUFG": 1, "IBUF": 5, "OBUF": 8, "top_core$stages$0": 2 }
      },
      "\\top_core$stages$0": {
         "num_wires": 6, "num_cells": 6,
         "num_cells_by_type": { "CARRY4": 1, "FDRE": 4, "LUT2": 3, "RAMB36E1": 1 }
      }
   },

}"#;

    #[test]
    fn stat_json_gives_totals_and_modules_by_printed_name() {
        let r = SynthReport::from_stat_json(HIER, "top", Target::Xc7).expect("parses");
        assert_eq!((r.total.lut, r.total.ff, r.total.carry, r.total.bram18), (6, 8, 2, 4));
        // The design's cells as Yosys totals them: submodules replaced by their contents.
        let want =
            [("BUFG", 1), ("CARRY4", 2), ("FDRE", 8), ("IBUF", 5), ("LUT2", 6), ("OBUF", 8), ("RAMB36E1", 2)];
        assert_eq!(r.total.cells, want.iter().map(|(c, n)| (c.to_string(), *n)).collect());
        let sub = &r.modules["top_core$stages$0"];
        assert_eq!((sub.lut, sub.ff, sub.bram18), (3, 4, 2));
        // The top counts its two instances of the submodule.
        let top = r.hierarchical("top").expect("top");
        assert_eq!((top.lut, top.ff, top.carry, top.bram18), (6, 8, 2, 4));
        assert_eq!(r.total.cells["IBUF"], 5);
    }

    #[test]
    fn a_flattened_design_is_its_one_module_and_bad_input_is_an_error() {
        let one = r#"{"modules": {"\\dut": {"num_cells_by_type": {"SB_LUT4": 7, "SB_DFFE": 2}}}}"#;
        let r = SynthReport::from_stat_json(one, "dut", Target::Ice40).expect("parses");
        assert_eq!((r.total.lut, r.total.ff), (7, 2));
        assert!(SynthReport::from_stat_json(one, "other", Target::Ice40).is_err());
        // Yosys 0.23's hierarchy tree inside the JSON.
        let tree = "{\"modules\": {}},\n   dut$sub   1\n";
        assert!(SynthReport::from_stat_json(tree, "dut", Target::Ice40).is_err());
        assert!(SynthReport::from_stat_json(r#"{"modules": {"\\a": 3}}"#, "a", Target::Ice40).is_err());
        let cycle = r#"{"modules": {"\\a": {"num_cells_by_type": {"a": 1}}}}"#;
        assert!(SynthReport::from_stat_json(cycle, "a", Target::Ice40).is_err());
    }

    #[test]
    fn only_a_comma_before_the_last_brace_is_dropped() {
        assert_eq!(without_trailing_comma("{\"a\": {}\n   },\n\n}\n"), "{\"a\": {}\n   }\n}\n");
        assert_eq!(without_trailing_comma("{\"a\": 1}"), "{\"a\": 1}");
        assert_eq!(without_trailing_comma("[1,]"), "[1,]");
        assert!(SynthReport::from_stat_json("{\"modules\": {},,}", "a", Target::Xc7).is_err());
    }

    /// Modules as `hdl::rtl` prints them: `top` instantiates `pair` and `leaf`, `pair` two
    /// `leaf`s; `other` is unrelated.
    fn module(name: &str, children: &[&str]) -> String {
        let mut s = format!("module {name} (\n  input wire clock\n);\n");
        for (i, c) in children.iter().enumerate() {
            s.push_str(&format!("  {c} u{i} (\n    .clock(clock)\n  );\n"));
        }
        s + "endmodule\n"
    }

    #[test]
    fn a_module_alone_is_its_own_text_whatever_else_the_file_holds() {
        let pre = "// Generated\n`default_nettype none\n";
        let (leaf, pair) = (module("leaf", &[]), module("pair", &["leaf", "leaf"]));
        let (top, other) = (module("top", &["pair", "leaf"]), module("other", &["leaf"]));
        let want = format!("{pre}\n{leaf}\n{pair}\n{top}");
        // Unrelated modules before, between and after, in any order, change nothing.
        for file in [
            [&leaf, &pair, &top, &other],
            [&other, &leaf, &pair, &top],
            [&leaf, &other, &pair, &top],
            [&pair, &other, &leaf, &top],
            [&top, &pair, &leaf, &other],
        ] {
            let text = format!("{pre}\n{}", file.map(|m| m.as_str()).join("\n"));
            assert_eq!(module_alone(&text, "top").expect("found"), want, "{text}");
            assert_eq!(module_alone(&text, "leaf").expect("found"), format!("{pre}\n{leaf}"));
        }
        assert!(module_alone(&want, "missing").is_err());
        let rom = "module m (\n);\n  initial $readmemh(\"L1_w0.mem\", mem);\n  initial $readmemh(\"L1_t0.mem\", t);\n  initial $readmemh(\"L1_w0.mem\", x);\nendmodule\n";
        assert_eq!(memory_files(rom), ["L1_t0.mem", "L1_w0.mem"]);
    }

    #[test]
    fn display_names_follow_yosys_log_id() {
        assert_eq!(display_name("\\top"), "top");
        assert_eq!(display_name("\\top_core$stages$0"), "top_core$stages$0");
        assert_eq!(display_name("$paramod\\x"), "$paramod\\x");
        assert_eq!(display_name("\\$odd"), "\\$odd");
        assert_eq!(display_name("\\9a"), "\\9a");
        assert_eq!(display_name("plain"), "plain");
    }
}
