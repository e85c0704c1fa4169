//! Writes one MVTU's Verilog and memories into a directory, for synthesis experiments:
//! `cargo run --release -p xnorflow-hdl --example emit_one -- DIR SIMD PE [adder-tree|compressor] [NF] [SF]`.
use compiler::model::BitMatrix;
use hdl::{LaneInput, MemStyle, MvtuConfig, MvtuOutput, Popcount};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let usage = "usage: emit_one DIR SIMD PE [adder-tree|compressor] [NF] [SF]";
    let dir = std::path::PathBuf::from(a.get(1).ok_or(usage)?);
    let simd: usize = a.get(2).ok_or(usage)?.parse()?;
    let pe: usize = a.get(3).ok_or(usage)?.parse()?;
    let popcount = if a.get(4).map(String::as_str) == Some("adder-tree") {
        Popcount::AdderTree
    } else {
        Popcount::Compressor
    };
    let nf: usize = a.get(5).map_or(Ok(8), |s| s.parse())?;
    let sf: usize = a.get(6).map_or(Ok(8), |s| s.parse())?;
    let cfg = MvtuConfig {
        name: "l0".into(),
        mw: sf * simd,
        mh: nf * pe,
        pe,
        simd,
        input: LaneInput::Binary,
        output: MvtuOutput::Threshold,
        popcount,
        mem_style: MemStyle::Block,
    };
    let w = BitMatrix::from_fn(cfg.mh, cfg.mw, |r, c| (r * 7919 + c * 104_729) % 11 < 5);
    let t: Vec<i32> = (0..cfg.mh).map(|r| (cfg.mw / 2 + r % 7) as i32).collect();
    let m = hdl::rtl::mvtu::design("mvtu", &cfg, &w, Some(&t))?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("mvtu.v"), m.verilog())?;
    m.write_memories(&dir)?;
    Ok(())
}
