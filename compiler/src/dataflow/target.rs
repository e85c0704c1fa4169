//! The FPGA a design is built for: an architecture and, for iCE40, the part whose resources bound
//! automatic folding. Recorded in the dataflow graph ([`crate::dataflow::Graph::arch`]) so that
//! `report`, `synth` and `bitstream` use the part `compile` chose.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The architecture (and part) a graph is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Xilinx 7-series (LUT6, RAMB18): what [`crate::dataflow::cost`] counts.
    Xc7,
    /// A Lattice iCE40 part (LUT4, 4 Kbit EBR, SPRAM on the UltraPlus parts):
    /// [`crate::dataflow::cost::ice40`].
    Ice40(Ice40Part),
}

impl Arch {
    /// The name printed in the graph's text form and accepted back: `xc7`, `ice40-up5k`.
    pub fn name(self) -> String {
        match self {
            Arch::Xc7 => "xc7".into(),
            Arch::Ice40(p) => format!("ice40-{}", p.name()),
        }
    }

    /// The architecture named `s` ([`Arch::name`]'s form).
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "xc7" => Some(Arch::Xc7),
            _ => s.strip_prefix("ice40-").and_then(Ice40Part::parse).map(Arch::Ice40),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// An iCE40 part nextpnr-ice40 places for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ice40Part {
    /// iCE40LP1K (cm81): 1,280 LC, 16 EBR.
    Lp1k,
    /// iCE40HX1K (tq144): 1,280 LC, 16 EBR.
    Hx1k,
    /// iCE40UP5K's smaller sibling, iCE5LP4K / U4K (sg48): 3,520 LC, 20 EBR.
    U4k,
    /// iCE40UP5K (sg48, the iCEBreaker's and UPduino's): 5,280 LC, 30 EBR, 4 SPRAM.
    Up5k,
    /// iCE40LP8K (cm81): 7,680 LC, 32 EBR.
    Lp8k,
    /// iCE40HX8K (ct256): 7,680 LC, 32 EBR.
    Hx8k,
}

/// What a part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSpec {
    /// Logic cells (one LUT4, one flip-flop and a carry each).
    pub lc: u64,
    /// 4 Kbit embedded block RAMs (SB_RAM40_4K).
    pub ebr: u64,
    /// 256 Kbit single-port RAMs (SB_SPRAM256KA; UltraPlus only).
    pub spram: u64,
    /// nextpnr-ice40's package for the part.
    pub package: &'static str,
    /// User I/O pins of that package.
    pub ios: u64,
}

impl Ice40Part {
    /// Every part, smallest first.
    pub const ALL: [Ice40Part; 6] =
        [Ice40Part::Lp1k, Ice40Part::Hx1k, Ice40Part::U4k, Ice40Part::Up5k, Ice40Part::Lp8k, Ice40Part::Hx8k];

    /// Its name on the command line and nextpnr's device switch (`--up5k`).
    pub fn name(self) -> &'static str {
        match self {
            Ice40Part::Lp1k => "lp1k",
            Ice40Part::Hx1k => "hx1k",
            Ice40Part::U4k => "u4k",
            Ice40Part::Up5k => "up5k",
            Ice40Part::Lp8k => "lp8k",
            Ice40Part::Hx8k => "hx8k",
        }
    }

    /// The part named `s`.
    pub fn parse(s: &str) -> Option<Ice40Part> {
        Ice40Part::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Its resources (Lattice's iCE40 LP/HX and UltraPlus family data sheets).
    pub fn spec(self) -> PartSpec {
        let s = |lc, ebr, spram, package, ios| PartSpec { lc, ebr, spram, package, ios };
        match self {
            Ice40Part::Lp1k => s(1280, 16, 0, "cm81", 62),
            Ice40Part::Hx1k => s(1280, 16, 0, "tq144", 95),
            Ice40Part::U4k => s(3520, 20, 0, "sg48", 39),
            Ice40Part::Up5k => s(5280, 30, 4, "sg48", 39),
            Ice40Part::Lp8k => s(7680, 32, 0, "cm81", 63),
            Ice40Part::Hx8k => s(7680, 32, 0, "ct256", 206),
        }
    }
}

impl fmt::Display for Ice40Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for p in Ice40Part::ALL {
            assert_eq!(Ice40Part::parse(p.name()), Some(p));
            assert_eq!(Arch::parse(&Arch::Ice40(p).name()), Some(Arch::Ice40(p)));
        }
        assert_eq!(Arch::parse("xc7"), Some(Arch::Xc7));
        assert_eq!(Arch::parse("ice40-up6k"), None);
        assert_eq!(Arch::parse("ice40"), None);
    }

    #[test]
    fn parts_are_listed_smallest_first() {
        let lc: Vec<u64> = Ice40Part::ALL.iter().map(|p| p.spec().lc).collect();
        assert!(lc.windows(2).all(|w| w[0] <= w[1]), "{lc:?}");
        assert_eq!(Ice40Part::Up5k.spec().spram, 4);
    }
}
