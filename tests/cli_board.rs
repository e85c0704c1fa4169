//! `xnorflow bitstream` end to end: the demo's digits model (trained by `xnorflow demo`) goes on
//! an iCEBreaker's UP5K as a bitstream, with the utilisation and clock nextpnr reports; without
//! the tools the command says which to install.

use std::process::Command;

mod common;
use common::{stderr, stdout, succeeded};

#[test]
fn the_demo_model_becomes_an_up5k_bitstream() {
    let dir = tempfile::tempdir().expect("tempdir");
    succeeded(&["demo", "--out", "d", "--epochs", "2"], dir.path());
    // Without the tools: a clear message naming what to install.
    let o = Command::new(env!("CARGO_BIN_EXE_xnorflow"))
        .args(["bitstream", "d/build"])
        .current_dir(dir.path())
        .env("PATH", "/nonexistent")
        .output()
        .expect("binary runs");
    assert!(!o.status.success() && stderr(&o).contains("apt-get install"), "{}", stderr(&o));
    if !tools::installed("icepack") || !tools::installed("nextpnr-ice40") {
        eprintln!("skipped: icepack or nextpnr-ice40 is not installed");
        return;
    }
    let o = succeeded(&["bitstream", "d/build", "--board", "icebreaker"], dir.path());
    let out = stdout(&o);
    assert!(out.contains("ICESTORM_LC") && out.contains("Fmax"), "{out}");
    assert!(out.contains("flash it: iceprog"), "{out}");
    let bin = std::fs::read(dir.path().join("d/build/board/board.bin")).expect("board.bin");
    // An iCE40 bitstream opens with its synchronisation word.
    assert!(
        bin.len() > 50_000 && bin[..16].windows(4).any(|w| w == [0x7e, 0xaa, 0x99, 0x7e]),
        "{}",
        bin.len()
    );
    let pcf = std::fs::read_to_string(dir.path().join("d/build/board/board.pcf")).expect("pcf");
    assert!(pcf.contains("set_io clk 35"), "{pcf}");
    // The report shows the board's result.
    succeeded(&["report", "d/build"], dir.path());
    let md = std::fs::read_to_string(dir.path().join("d/build/report.md")).expect("report.md");
    assert!(md.contains("On a board (`xnorflow bitstream`)") && md.contains("ICESTORM_LC"), "{md}");
}

/// The MNIST SFC of `results/ice40/sfc` needs more than the UP5K's EBRs for its weights:
/// compiled for the UP5K, two layers go to SPRAM, and `bitstream` places it (about 45 s here)
/// with its SPRAMs in use and writes the weight image beside the bitstream (the magic byte, then
/// every SPRAM word).
#[test]
fn the_sfc_with_weights_in_spram_becomes_an_up5k_bitstream() {
    if !tools::installed("icepack") || !tools::installed("nextpnr-ice40") || !tools::installed("yosys") {
        eprintln!("skipped: yosys, icepack or nextpnr-ice40 is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/results/ice40/sfc/model.xnf");
    succeeded(&["compile", model, "-o", "s", "--arch", "ice40", "--part", "up5k"], dir.path());
    let g = std::fs::read_to_string(dir.path().join("s/graph.txt")).expect("graph.txt");
    assert!(g.contains("wmem=spram:"), "{g}");
    let o = succeeded(&["bitstream", "s", "--board", "icebreaker"], dir.path());
    let out = stdout(&o);
    let spram = out.lines().find(|l| l.contains("ICESTORM_SPRAM")).unwrap_or_default().to_string();
    assert!(spram.split_whitespace().nth(1).is_some_and(|n| n != "0"), "{out}");
    let w = std::fs::read(dir.path().join("s/board/weights.bin")).expect("weights.bin");
    // L1 (784 x 256) and L2 (256 x 256) in 16-bit words, after the magic byte.
    assert_eq!((w[0], w.len()), (0x57, 1 + 2 * (784 * 256 + 256 * 256) / 16), "{}", w.len());
    assert!(dir.path().join("s/board/board.bin").exists());
}

/// A build whose weights are in SPRAM has the loader's `wload_*` inputs on its top; the build's
/// own stream testbench (`make -C BUILD sim`, Icarus) holds them at 0, so the preloaded weights
/// stay and the outputs are the golden model's (left floating, the write enable was X and every
/// output word X).
#[test]
fn the_spram_sfc_build_passes_its_own_testbench() {
    if !tools::installed("iverilog") {
        eprintln!("skipped: iverilog is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/results/ice40/sfc/model.xnf");
    succeeded(
        &["compile", model, "-o", "s", "--arch", "ice40", "--part", "up5k", "--frames", "2"],
        dir.path(),
    );
    let tb = std::fs::read_to_string(dir.path().join("s/tb.v")).expect("tb.v");
    assert!(tb.contains(".wload_we(0)"), "{tb}");
    let sim = Command::new("make").args(["-C", "s", "sim"]).current_dir(dir.path()).output().expect("make");
    let log = String::from_utf8_lossy(&sim.stdout);
    assert!(log.contains("PASS") && !log.contains("MISMATCH"), "{log}");
}

/// A convolutional design folded by `compile --arch ice40 --part up5k` (the digits CNN of
/// `results/ice40/cnn-digits`) places on the board's UP5K with the board top around it, and the
/// logic cells nextpnr places are within 10% of what `compile` estimated for accelerator and
/// board top together (about a minute here).
#[test]
fn a_conv_design_folded_for_the_up5k_places_with_its_board_top() {
    if !tools::installed("icepack") || !tools::installed("nextpnr-ice40") || !tools::installed("yosys") {
        eprintln!("skipped: yosys, icepack or nextpnr-ice40 is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/results/ice40/cnn-digits/model.xnf");
    let o = succeeded(&["compile", model, "-o", "c", "--arch", "ice40", "--part", "up5k"], dir.path());
    let out = stdout(&o);
    // "...; 2,552 logic cells (2,124 the accelerator, 428 the board top ...) of 5,280, ..."
    let est: u64 = out
        .lines()
        .find(|l| l.starts_with("iCE40 up5k (estimates)"))
        .and_then(|l| l.split(" logic cells (").next())
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|s| s.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no logic-cell estimate in {out}"));
    let o = succeeded(&["bitstream", "c", "--board", "icebreaker"], dir.path());
    let out = stdout(&o);
    let placed: u64 = out
        .lines()
        .find(|l| l.trim_start().starts_with("ICESTORM_LC"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ICESTORM_LC line in {out}"));
    let err = (est as f64 - placed as f64) / placed as f64;
    assert!(err.abs() <= 0.10, "{est} LC estimated, {placed} placed ({:+.1}%)", 100.0 * err);
    assert!(placed <= 5280, "{placed}");
}
