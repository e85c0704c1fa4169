//! Prints the Verilog of a small MVTU (for inspection): `cargo run -p xnorflow-hdl --example emit_mvtu`.
use compiler::model::BitMatrix;
use hdl::{LaneInput, MemStyle, MvtuConfig, MvtuOutput, Popcount};

fn main() -> Result<(), hdl::HdlError> {
    let cfg = MvtuConfig {
        name: "l0".into(),
        mw: 8,
        mh: 4,
        pe: 2,
        simd: 4,
        input: LaneInput::Binary,
        output: MvtuOutput::Threshold,
        popcount: Popcount::Compressor,
        mem_style: MemStyle::Auto,
    };
    let w = BitMatrix::from_fn(4, 8, |r, c| (r * 3 + c) % 5 < 2);
    let m = hdl::rtl::mvtu::design("mvtu", &cfg, &w, Some(&[1, 4, 5, 9]))?;
    print!("{}", m.verilog());
    m.write_memories(std::path::Path::new("."))?;
    Ok(())
}
