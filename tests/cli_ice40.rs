//! `compile --arch ice40 --part P` as a user runs it (issue 30): the demo's model folded for an
//! UP5K, the part recorded in the graph and shown by `report`; a part too small refused with the
//! part that would hold the design; options that make no sense for a part refused. No tool is
//! needed (synthesis and the board flow are `cli_board.rs` and `compiler/tests/ice40_estimate.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results/ice40/demo/model.xnf")
}

fn xnorflow(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xnorflow")).args(args).current_dir(dir).output().expect("binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn a_build_for_an_up5k_fits_it_and_says_so() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = model();
    let o = xnorflow(
        &[
            "compile",
            m.to_str().expect("utf-8"),
            "-o",
            "b",
            "--arch",
            "ice40",
            "--part",
            "up5k",
            "--frames",
            "1",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("iCE40 up5k (estimates)"), "{}", text(&o));
    let graph = std::fs::read_to_string(tmp.path().join("b/graph.txt")).expect("graph.txt");
    assert!(graph.lines().next().is_some_and(|l| l.contains(" for ice40-up5k: ")), "{graph}");
    let json = std::fs::read_to_string(tmp.path().join("b/graph.json")).expect("graph.json");
    assert!(json.contains("\"ice40\": \"up5k\""), "{json}");
    let r = xnorflow(&["report", "b"], tmp.path());
    assert!(r.status.success(), "{}", text(&r));
    let md = std::fs::read_to_string(tmp.path().join("b/report.md")).expect("report.md");
    assert!(md.contains("iCE40: estimate and synthesis"), "{md}");
    assert!(md.contains("Compiled for the iCE40 up5k: an estimated"), "{md}");
    assert!(md.contains("xnorflow synth") && md.contains("--arch ice40"), "{md}");
}

#[test]
fn a_part_too_small_or_a_wrong_option_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = model();
    let m = m.to_str().expect("utf-8");
    let o = xnorflow(&["compile", m, "-o", "b", "--arch", "ice40", "--part", "hx1k"], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no folding fits the iCE40 hx1k"), "{}", text(&o));
    assert!(text(&o).contains("the smallest part that holds it is the up5k"), "{}", text(&o));
    assert!(!tmp.path().join("b").exists(), "nothing written");
    let o = xnorflow(&["compile", m, "-o", "b", "--arch", "ice40", "--part", "hx9k"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown iCE40 part \"hx9k\"") && text(&o).contains("up5k (5280 LC"),
        "{}",
        text(&o)
    );
    let o = xnorflow(&["compile", m, "-o", "b", "--arch", "ice40", "--lut-budget", "3000"], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("the part (--part up5k) is the budget"), "{}", text(&o));
    let o = xnorflow(&["compile", m, "-o", "b", "--part", "up5k"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "--part without --arch: {}", text(&o));
}

/// A build folded for another part is not put on an UP5K board.
#[test]
fn bitstream_refuses_a_build_for_another_part() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = model();
    let m = m.to_str().expect("utf-8");
    let o = xnorflow(
        &["compile", m, "-o", "b", "--arch", "ice40", "--part", "hx8k", "--frames", "1"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = xnorflow(&["bitstream", "b", "--board", "icebreaker"], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("compiled for the iCE40 hx8k"), "{}", text(&o));
    assert!(text(&o).contains("--part up5k"), "{}", text(&o));
}
