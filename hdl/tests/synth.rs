//! Every block's Verilog goes through Yosys `synth_xilinx`; one small MVTU's Verilog is pinned by a
//! golden file (`XNORFLOW_BLESS=1 cargo test -p xnorflow-hdl --test synth` rewrites it).

use compiler::model::BitMatrix;
use hdl::synth::{self, Target};
use hdl::{LaneInput, MemStyle, Mvtu, MvtuConfig, MvtuOutput, Popcount};

/// A small MVTU's Verilog (module `dut`).
fn small_mvtu(popcount: Popcount, input: LaneInput, output: MvtuOutput) -> hdl::rtl::Design {
    let cfg = MvtuConfig {
        name: "l0".into(),
        mw: 12,
        mh: 6,
        pe: 2,
        simd: 4,
        input,
        output,
        popcount,
        mem_style: MemStyle::Block,
    };
    let w = BitMatrix::from_fn(6, 12, |r, c| (r * 5 + c * 3) % 7 < 3);
    // One threshold per row, or `levels` ascending ones.
    let t: Vec<i32> = match output {
        MvtuOutput::Multi { levels, .. } => {
            (0..6).flat_map(|r| (0..levels as i32).map(move |j| r - 4 + 4 * j)).collect()
        }
        _ => vec![2, 5, 6, 7, 9, 12],
    };
    let t = (output != MvtuOutput::Scores).then_some(&t[..]);
    // The rust-hdl block accepts the same configuration.
    Mvtu::new(&cfg, &w, t).expect("mvtu");
    hdl::rtl::mvtu::design("dut", &cfg, &w, t).expect("mvtu")
}

fn synthesize(v: &str, mems: &[(String, String)]) -> synth::SynthStats {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("dut.v"), v).expect("write");
    for (f, text) in mems {
        std::fs::write(dir.path().join(f), text).expect("write mem");
    }
    synth::yosys(dir.path(), "dut.v", "dut", Target::Xc7, true).unwrap_or_else(|e| panic!("{e}")).total
}

fn mvtu_files(m: hdl::rtl::Design) -> (String, Vec<(String, String)>) {
    (m.verilog(), m.files)
}

#[test]
fn every_block_synthesizes_for_7_series() {
    for pc in [Popcount::AdderTree, Popcount::Compressor] {
        let (v, mems) = mvtu_files(small_mvtu(pc, LaneInput::Binary, MvtuOutput::Threshold));
        let st = synthesize(&v, &mems);
        assert!(st.lut > 0 && st.ff > 0, "{st:?}");
        assert_eq!(st.bram18, 2, "one block RAM per PE's weight memory: {st:?}");
    }
    let (v, mems) = mvtu_files(small_mvtu(
        Popcount::AdderTree,
        LaneInput::Int { bits: 8, signed: true },
        MvtuOutput::Scores,
    ));
    assert!(synthesize(&v, &mems).lut > 0);
    // k-bit: int2 lanes and a three-level multi-threshold (uint2 out): Yosys reads the signed
    // comparators.
    let ty = compiler::model::IntType { bits: 2, signed: false };
    let (v, mems) = mvtu_files(small_mvtu(
        Popcount::AdderTree,
        LaneInput::Int { bits: 2, signed: true },
        MvtuOutput::Multi { ty, bias: 0, levels: 3 },
    ));
    let st = synthesize(&v, &mems);
    assert!(st.lut > 0 && st.ff > 0, "{st:?}");
    let v = hdl::rtl::fifo::design("dut", 8, 4, MemStyle::Distributed).expect("verilog").verilog();
    assert!(synthesize(&v, &[]).ff > 0);
    let v = hdl::rtl::width_converter::design("dut", 12, 8).expect("verilog").verilog();
    assert!(synthesize(&v, &[]).ff >= 20);
    let a = hdl::rtl::argmax::ArgmaxParams { pe: 2, bits: 5, words: 5, signed: true };
    let v = hdl::rtl::argmax::design("dut", a).expect("verilog").verilog();
    assert!(synthesize(&v, &[]).lut > 0);
}

#[test]
fn small_mvtu_verilog_matches_golden_file() {
    let (v, mems) = mvtu_files(small_mvtu(Popcount::Compressor, LaneInput::Binary, MvtuOutput::Threshold));
    let mut text = v;
    for (f, m) in mems {
        text.push_str(&format!("// ---- {f}\n"));
        text.extend(m.lines().map(|l| format!("// {l}\n")));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mvtu_small.v");
    if std::env::var_os("XNORFLOW_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == text,
        "the Verilog of the small MVTU changed; review it and bless with XNORFLOW_BLESS=1 cargo test -p xnorflow-hdl --test synth ({})",
        path.display()
    );
}
