//! The typed build directory: results saved stamped with the design, read back as their types,
//! and ignored with a reason when they are stale, unstamped or unreadable; `report` matches synthesis
//! nodes by name.

mod common;

use common::{folding, mlp};
use compiler::dataflow::Popcount;
use hdl::synth::Target;
use reports::build::{self, BuildOptions};
use reports::builddir::{self, BuildDir, Loaded};
use reports::cosim::SimReport;
use reports::synth::SynthResult;

fn build(dir: &std::path::Path) -> BuildDir {
    let m = mlp(16, &[8], 4, false, 3);
    let f = folding(&m, &[(2, 8), (1, 4)], Popcount::Compressor);
    build::compile(&m, &f, dir, &BuildOptions { frames: 1, ..BuildOptions::default() }, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    BuildDir::open(dir).unwrap_or_else(|e| panic!("{e}"))
}

fn stale<T>(l: Loaded<T>) -> String {
    match l {
        Loaded::Stale(why) => why,
        Loaded::Missing => panic!("missing"),
        Loaded::Current(_) => panic!("current"),
    }
}

#[test]
fn results_round_trip_as_their_types_and_stale_ones_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(&dir.path().join("b"));
    assert!(matches!(b.load::<SimReport>(&()), Loaded::Missing));
    let sim = reports::cosim::simulate(&b, 2, 1).unwrap_or_else(|e| panic!("{e}"));
    let path = b.save(&sim).expect("save");
    assert_eq!(path, b.dir.join(builddir::SIM_JSON));
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(&format!("\"design_hash\": \"{}\"", b.design_hash)), "{text}");
    match b.load::<SimReport>(&()) {
        Loaded::Current(s) => {
            assert_eq!(serde_json::to_value(&s).expect("json"), serde_json::to_value(&sim).expect("json"))
        }
        _ => panic!("not current"),
    }

    // Another design's stamp, no stamp, a duplicate key, the wrong shape.
    std::fs::write(&path, text.replace(&b.design_hash, "0123")).expect("write");
    assert!(stale(b.load::<SimReport>(&())).contains("measured another design"));
    let unstamped: String =
        text.lines().filter(|l| !l.contains("design_hash")).collect::<Vec<_>>().join("\n");
    std::fs::write(&path, unstamped.replace("\"cycles_per_s\"", "\"x\": 1, \"cycles_per_s\""))
        .expect("write");
    assert!(stale(b.load::<SimReport>(&())).contains("no design stamp"));
    std::fs::write(&path, text.replacen("{", "{\n  \"frames\": 3,", 1)).expect("write");
    assert!(stale(b.load::<SimReport>(&())).contains("unreadable"));
    std::fs::write(&path, text.replace("\"frames\"", "\"frame_count\"")).expect("write");
    assert!(stale(b.load::<SimReport>(&())).contains("unreadable"));
    std::fs::write(&path, "[1, 2]").expect("write");
    assert!(stale(b.load::<SimReport>(&())).contains("not a JSON object"));
}

#[test]
fn report_matches_synthesis_nodes_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(&dir.path().join("b"));
    // A synthesis result whose nodes come in another order, one of them unknown to this graph.
    let report = build::Report::new(&b.graph, &b.model, b.info.fclk_mhz);
    let stats = |lut| hdl::synth::SynthStats { lut, ..Default::default() };
    let mut nodes: Vec<reports::synth::NodeSynth> = report
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| reports::synth::NodeSynth {
            name: n.name.clone(),
            what: n.what.clone(),
            estimate: n.estimate,
            synth: stats(1000 + i as u64),
            in_context: None,
            ice40: None,
        })
        .collect();
    nodes.reverse();
    nodes[0].name = "not_a_node".into();
    let r = SynthResult {
        target: Target::Xc7,
        per_node: reports::synth::PerNode::InContext,
        nodes,
        total: stats(4242),
        estimate: report.total,
        ice40: None,
        timing: None,
        seconds: 0.0,
    };
    assert_eq!(b.save(&r).expect("save"), b.dir.join(builddir::synth_file(Target::Xc7, "json")));
    let (_, md, stale) = reports::report::write(&b).unwrap_or_else(|e| panic!("{e}"));
    assert!(stale.is_empty(), "{stale:?}");
    let md = std::fs::read_to_string(md).expect("report.md");
    let last = report.nodes.len() - 1;
    for (i, n) in report.nodes.iter().enumerate() {
        let row = md.lines().find(|l| l.starts_with(&format!("| {} |", n.name))).expect("row");
        let want = if i == last { "-".to_string() } else { (1000 + i).to_string() };
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells[4], want, "{row}");
    }
    assert!(md.lines().any(|l| l.starts_with("| total |") && l.contains("| 4242 |")), "{md}");
}
