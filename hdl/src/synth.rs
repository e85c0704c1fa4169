//! Yosys synthesis of emitted Verilog and its cell statistics.

use crate::HdlError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

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
    /// Per module (Yosys' module names, e.g. `top_lanes_32_comp`); empty when flattened.
    pub modules: BTreeMap<String, SynthStats>,
}

impl SynthReport {
    /// Parses Yosys' `stat` output: one section per module, then `design hierarchy` totals
    /// (or a single section for a flattened design).
    pub fn parse(stat: &str, target: Target) -> Self {
        let mut sections: Vec<(String, BTreeMap<String, u64>)> = Vec::new();
        let mut in_cells = false;
        for line in stat.lines() {
            let t = line.trim();
            if let Some(name) = t.strip_prefix("===").and_then(|x| x.strip_suffix("===")) {
                sections.push((name.trim().to_string(), BTreeMap::new()));
                in_cells = false;
            } else if t.starts_with("Number of cells:") {
                in_cells = true;
            } else if in_cells {
                let mut it = t.split_whitespace();
                match (
                    it.next(),
                    it.next().and_then(|n| n.parse::<u64>().ok()),
                    it.next(),
                    sections.last_mut(),
                ) {
                    (Some(name), Some(n), None, Some((_, cells))) => {
                        cells.insert(name.to_string(), n);
                    }
                    _ => in_cells = false,
                }
            }
        }
        let total = sections.pop().map(|(_, c)| SynthStats::from_cells(c, target)).unwrap_or_default();
        let modules = sections.into_iter().map(|(n, c)| (n, SynthStats::from_cells(c, target))).collect();
        SynthReport { total, modules }
    }

    /// The resources of one instance of `module` with everything instantiated under it (Yosys
    /// lists a submodule among a module's cells with its instance count); `None` for an unknown
    /// module.
    pub fn hierarchical(&self, module: &str) -> Option<SynthStats> {
        let m = self.modules.get(module)?;
        let mut s = SynthStats { cells: BTreeMap::new(), ..m.clone() };
        for (cell, n) in &m.cells {
            if let Some(sub) = self.hierarchical(cell) {
                s.lut += n * sub.lut;
                s.ff += n * sub.ff;
                s.carry += n * sub.carry;
                s.bram18 += n * sub.bram18;
                s.dsp += n * sub.dsp;
            }
        }
        Some(s)
    }

    /// The sum over modules whose name contains `part` (e.g. `_lanes_`).
    pub fn sum_modules(&self, part: &str) -> SynthStats {
        let mut s = SynthStats::default();
        for (_, m) in self.modules.iter().filter(|(n, _)| n.contains(part)) {
            s.lut += m.lut;
            s.ff += m.ff;
            s.carry += m.carry;
            s.bram18 += m.bram18;
            s.dsp += m.dsp;
        }
        s
    }
}

impl SynthStats {
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
    let script = format!("read_verilog {file}; {synth}; tee -q -o yosys_stat.txt stat");
    let out = Command::new("yosys")
        .current_dir(dir)
        .args(["-q", "-p", &script])
        .output()
        .map_err(|e| HdlError::Tool(format!("yosys: {e} (is it installed? `make deps`)")))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        return Err(HdlError::Tool(format!("yosys failed on {file}:\n{text}")));
    }
    let p = dir.join("yosys_stat.txt");
    let stat = std::fs::read_to_string(&p)
        .map_err(|source| HdlError::Io { path: p.display().to_string(), source })?;
    Ok(SynthReport::parse(&stat, target))
}
