//! Hostile and careless build directories and options (issue 24): each reproduction from the
//! issue gives a clear error or the correct result, and random corruptions of a build directory
//! and random numeric options never end in a panic, an abort, a hang or a command run by accident.
//!
//! Every run goes through the release binary as a user's would, so an abort (exit by signal) or a
//! panic (exit 101) fails the test instead of killing it.

use compiler::model::random::random_mlp;
use compiler::model::Shape;
use proptest::prelude::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of the binary did.
struct Run {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// A refusal as users should see it: exit 1 (or clap's 2 for a malformed option), an
    /// `error:` line, no panic and no internal-bug text.
    fn clear_error(&self) -> bool {
        matches!(self.code, Some(1 | 2))
            && self.stderr.contains("error")
            && !self.stderr.contains("panicked")
            && !self.stderr.contains("this is a bug")
    }

    fn show(&self) -> String {
        format!(
            "exit {:?} signal {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// Runs the binary in `dir`, killing it after `limit`.
fn xnorflow(args: &[&str], dir: &Path, limit: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xnorflow"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let t0 = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().expect("output");
            panic!(
                "xnorflow {args:?} ran past {limit:?} (a hang or an unbounded allocation)\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().expect("output");
    Run {
        code: o.status.code(),
        signal: o.status.signal(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

const QUICK: Duration = Duration::from_secs(60);
/// Verilating a design takes seconds to a minute under load.
const VERILATOR: Duration = Duration::from_secs(300);

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// A small MLP model file in `dir`.
fn model(dir: &Path) -> PathBuf {
    let m = random_mlp(Shape::new(4, 4, 1), &[16], 4, 7).expect("valid model");
    let p = dir.join("m.xnf");
    compiler::format::save(&m, &p).expect("saved");
    p
}

/// A fresh build of the small model at `dir/name`.
fn build(dir: &Path, name: &str) -> PathBuf {
    model(dir);
    let r = xnorflow(&["compile", "m.xnf", "-o", name, "--frames", "4"], dir, QUICK);
    assert!(r.ok(), "{}", r.show());
    dir.join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    std::fs::write(path, f(text)).expect("write");
}

/// Rewrites `build.json`'s recorded hash of `name` to the file's content now, as a hostile editor
/// who knows the format would, so that the checks behind the hash are reached.
fn rehash(b: &Path, name: &str) {
    let bytes = std::fs::read(b.join(name)).expect("read");
    let hash = reports::builddir::sha256_hex(&bytes);
    let bj = b.join("build.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bj).expect("read")).expect("json");
    v["files"][name] = serde_json::Value::String(hash);
    std::fs::write(&bj, serde_json::to_string_pretty(&v).expect("json")).expect("write");
}

// Item 1: a design.v whose ports are wider than the graph says used to overflow the shim's buffers.
#[test]
fn cosim_refuses_a_design_whose_ports_do_not_match_the_graph() {
    if !have("verilator") {
        eprintln!("skipped: verilator not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    edit(&b.join("design.v"), |t| {
        let at = t.find("] m_axis_tdata,").expect("the top's output port");
        let open = t[..at].rfind('[').expect("a range");
        format!("{}[65535:0{}", &t[..open], &t[at..])
    });
    let r = xnorflow(&["cosim", "B", "--frames", "2"], dir.path(), VERILATOR);
    assert!(r.clear_error(), "{}", r.show());
    assert!(r.stderr.contains("m_axis_tdata") && r.stderr.contains("65536 bits"), "{}", r.show());
    assert!(r.stderr.contains("design.v changed since"), "the edit is named: {}", r.show());
}

// Item 2: build.json's top went unchecked into Yosys' -p script.
#[test]
fn a_top_name_from_build_json_is_never_run_as_a_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    edit(&b.join("build.json"), |t| t.replace("\"xnorflow_top\"", "\"xnorflow_top; exec -- touch PWNED\""));
    for cmd in ["synth", "sim", "report"] {
        let r = xnorflow(&[cmd, "B"], dir.path(), QUICK);
        assert!(r.clear_error(), "{cmd}: {}", r.show());
        assert!(r.stderr.contains("not a usable Verilog module name"), "{cmd}: {}", r.show());
    }
    assert!(!dir.path().join("PWNED").exists() && !b.join("PWNED").exists());
}

// Item 3: the build path went unescaped into `$readmemh("...")`.
#[test]
fn cosim_escapes_a_hostile_build_path() {
    if !have("verilator") {
        eprintln!("skipped: verilator not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    let name = "x\", mem); initial $system(\"touch PWNED\"); initial $readmemh(\"y \\ $HOME\nz";
    let hostile = dir.path().join(name);
    copy_dir(&b, &hostile);
    let r = xnorflow(&["cosim", name, "--frames", "3"], dir.path(), VERILATOR);
    assert!(r.ok() && r.stdout.contains("PASS"), "an honest cosim in a strange path passes: {}", r.show());
    assert!(!dir.path().join("PWNED").exists(), "the path ran as Verilog");
}

// Item 4: names that are no Verilog identifier, and nothing created when refused.
#[test]
fn compile_refuses_unusable_top_names_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    model(dir.path());
    for top in ["module", "wire", "tb", "", "x;rm", "1abc", "a$b"] {
        let r = xnorflow(&["compile", "m.xnf", "-o", "O", "--top", top], dir.path(), QUICK);
        assert!(r.clear_error(), "{top:?}: {}", r.show());
        assert!(r.stderr.contains("not a usable Verilog module name"), "{top:?}: {}", r.show());
        assert!(!dir.path().join("O").exists(), "{top:?} left a directory");
    }
    let r = xnorflow(&["compile", "m.xnf", "-o", "O", "--top", "my_accel"], dir.path(), QUICK);
    assert!(r.ok(), "{}", r.show());
    let v = std::fs::read_to_string(dir.path().join("O/design.v")).expect("design");
    assert!(v.contains("module my_accel ("));
}

// Item 5: Verilator's fatal errors aborted the whole process.
#[test]
fn verilator_fatal_errors_come_back_as_errors() {
    if !have("verilator") {
        eprintln!("skipped: verilator not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    let mem = std::fs::read_dir(&b)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_w0.mem")))
        .expect("a weight memory");
    edit(&mem, |t| t + "zz!!\n");
    let r = xnorflow(&["cosim", "B", "--frames", "2"], dir.path(), VERILATOR);
    assert!(r.clear_error(), "{}", r.show());
    assert!(r.stderr.contains("$readmem") && r.stderr.contains("Verilator"), "{}", r.show());
}

// Item 6: frame counts are bounded before anything is allocated; no stall file without stalls.
#[test]
fn frame_counts_beyond_the_limits_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), "B");
    for args in [
        vec!["compile", "m.xnf", "-o", "O", "--frames", "1000000000"],
        vec!["sim", "B", "--frames", "1000000000"],
        vec!["sim", "B", "--frames", "18446744073709551615"],
        vec!["cosim", "B", "--frames", "1000000000"],
        vec!["sim", "B", "--frames", "0"],
    ] {
        let r = xnorflow(&args, dir.path(), Duration::from_secs(20));
        assert!(r.clear_error(), "{args:?}: {}", r.show());
        assert!(r.stderr.contains("--frames"), "{args:?}: {}", r.show());
    }
    assert!(!dir.path().join("O").exists());
    let r = xnorflow(&["compile", "m.xnf", "-o", "T", "--frames", "100"], dir.path(), QUICK);
    assert!(r.ok(), "{}", r.show());
    assert!(!dir.path().join("T/tb_stall.mem").exists(), "no stalls, no stall file");
    let r =
        xnorflow(&["compile", "m.xnf", "-o", "S", "--frames", "3", "--stall-prob", "0.3"], dir.path(), QUICK);
    assert!(r.ok() && dir.path().join("S/tb_stall.mem").exists(), "{}", r.show());
}

// Item 7 (build part): sizes in graph.json are bounded before a simulator allocates them.
#[test]
fn a_huge_fifo_in_graph_json_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    let gpath = b.join("graph.json");
    let mut g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gpath).expect("read")).expect("json");
    let fifo = g["nodes"]
        .as_array_mut()
        .expect("nodes")
        .iter_mut()
        .find(|n| n["kind"]["kind"] == "fifo")
        .expect("a FIFO");
    fifo["kind"]["depth"] = serde_json::json!(1_000_000_000_000_000u64);
    std::fs::write(&gpath, serde_json::to_string(&g).expect("json")).expect("write");
    let r = xnorflow(&["sim", "B"], dir.path(), QUICK);
    assert!(r.clear_error() && r.stderr.contains("not the file `xnorflow compile` wrote"), "{}", r.show());
    rehash(&b, "graph.json");
    let r = xnorflow(&["sim", "B"], dir.path(), QUICK);
    assert!(r.clear_error() && r.stderr.contains("FIFO depth"), "{}", r.show());
    // Names become file names and Verilog: a path in a name is refused.
    edit(&gpath, |t| t.replace("1000000000000000", "4").replacen("\"name\":\"L1\"", "\"name\":\"../L1\"", 1));
    rehash(&b, "graph.json");
    let r = xnorflow(&["sim", "B"], dir.path(), QUICK);
    assert!(r.clear_error() && r.stderr.contains("node name \"../L1\""), "{}", r.show());
}

// Item 9: clocks and folding targets that are not numbers, or absurd.
#[test]
fn clocks_and_targets_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    for (opt, v) in [
        ("--fclk-mhz", "inf"),
        ("--fclk-mhz", "NaN"),
        ("--fclk-mhz", "0"),
        ("--fclk-mhz=-5", ""),
        ("--target-fps", "inf"),
        ("--target-fps", "NaN"),
        ("--target-fps", "1e15"),
        ("--target-cycles", "0"),
        ("--lut-budget", "18446744073709551615"),
        ("--lut-budget", "0"),
    ] {
        let args: Vec<&str> =
            ["compile", "m.xnf", "-o", "O", opt, v].into_iter().filter(|a| !a.is_empty()).collect();
        let r = xnorflow(&args, dir.path(), QUICK);
        assert!(r.clear_error(), "{opt} {v}: {}", r.show());
        let name = opt.split('=').next().unwrap_or(opt);
        assert!(r.stderr.contains(name), "{opt} {v} is named: {}", r.show());
        assert!(!dir.path().join("O").exists());
    }
    for fclk in ["0", "-1", "null", "1e400"] {
        let c = dir.path().join(format!("C{fclk}"));
        copy_dir(&b, &c);
        edit(&c.join("build.json"), |t| t.replace("\"fclk_mhz\": 100.0", &format!("\"fclk_mhz\": {fclk}")));
        let r = xnorflow(&["sim", c.to_str().expect("utf-8")], dir.path(), QUICK);
        assert!(r.clear_error() && r.stderr.contains("build.json"), "fclk {fclk}: {}", r.show());
    }
}

// Items 11 and 12: compile never replaces a directory that is not a build, and replaces a build
// whole, leaving no temporary directory.
#[test]
fn compile_replaces_only_builds_and_replaces_them_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    model(dir.path());
    let user = dir.path().join("work");
    std::fs::create_dir(&user).expect("mkdir");
    std::fs::write(user.join("Makefile"), "mine\n").expect("write");
    std::fs::copy(dir.path().join("m.xnf"), user.join("model.xnf")).expect("copy");
    let r = xnorflow(&["compile", "../m.xnf", "-o", "."], &user, QUICK);
    assert!(r.clear_error(), "{}", r.show());
    let r = xnorflow(&["compile", "m.xnf", "-o", "work"], dir.path(), QUICK);
    assert!(r.clear_error() && r.stderr.contains("not an xnorflow build"), "{}", r.show());
    assert_eq!(std::fs::read_to_string(user.join("Makefile")).expect("kept"), "mine\n");
    let r = xnorflow(&["compile", "m.xnf", "-o", "m.xnf"], dir.path(), QUICK);
    assert!(r.clear_error(), "{}", r.show());

    let b = build(dir.path(), "B");
    std::fs::write(b.join("old_only.mem"), "0\n").expect("write");
    std::fs::write(b.join("sim.json"), "{}").expect("write");
    let r = xnorflow(&["compile", "m.xnf", "-o", "B", "--frames", "2"], dir.path(), QUICK);
    assert!(r.ok(), "{}", r.show());
    assert!(!b.join("old_only.mem").exists() && !b.join("sim.json").exists(), "old files survived");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("xnorflow-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary directories left: {leftovers:?}");
    let r = xnorflow(&["sim", "B", "--frames", "2"], dir.path(), QUICK);
    assert!(r.ok(), "{}", r.show());
}

// Item 13: results are tied to the design they measured; a model from another build is refused.
#[test]
fn report_ignores_results_of_another_design_and_refuses_a_foreign_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    let r = xnorflow(&["sim", "B", "--frames", "4"], dir.path(), QUICK);
    assert!(r.ok(), "{}", r.show());
    let r = xnorflow(&["report", "B"], dir.path(), QUICK);
    assert!(r.ok(), "{}", r.show());
    let md = std::fs::read_to_string(b.join("report.md")).expect("report");
    assert!(md.contains("Cycle model (`xnorflow sim`, 4 frames)"), "{md}");
    // The same directory recompiled at another clock: the old sim.json no longer describes it.
    let other = build(dir.path(), "O");
    let r = xnorflow(&["compile", "m.xnf", "-o", "O", "--fclk-mhz", "150"], dir.path(), QUICK);
    assert!(r.ok(), "{}", r.show());
    std::fs::copy(b.join("sim.json"), other.join("sim.json")).expect("copy");
    let r = xnorflow(&["report", "O"], dir.path(), QUICK);
    assert!(r.ok() && r.stderr.contains("sim.json measured another design"), "{}", r.show());
    let md = std::fs::read_to_string(other.join("report.md")).expect("report");
    assert!(md.contains("No cycle-model run yet") && md.contains("Stale result ignored"), "{md}");
    // A model that is not the compiled one.
    let m2 = random_mlp(Shape::new(4, 4, 1), &[16], 4, 99).expect("valid");
    compiler::format::save(&m2, &b.join("model.xnf")).expect("saved");
    for cmd in ["report", "sim", "cosim"] {
        let r = xnorflow(&[cmd, "B"], dir.path(), QUICK);
        assert!(r.clear_error() && r.stderr.contains("model.xnf"), "{cmd}: {}", r.show());
    }
}

// Item 14: --vcd (and --json) into a missing directory, or over the build's own files.
#[test]
fn vcd_paths_are_checked_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    let design = std::fs::read(b.join("design.v")).expect("read");
    for vcd in ["/nonexistent/dir/w.vcd", "B/design.v", "B/build.json", "B"] {
        let r = xnorflow(&["cosim", "B", "--frames", "2", "--vcd", vcd], dir.path(), QUICK);
        assert!(r.clear_error() && r.stderr.contains(vcd), "{vcd}: {}", r.show());
    }
    for cmd in ["sim", "cosim"] {
        let r = xnorflow(&[cmd, "B", "--frames", "2", "--json", "B/design.v"], dir.path(), QUICK);
        assert!(r.clear_error() && r.stderr.contains("one of the build's own files"), "{cmd}: {}", r.show());
    }
    assert_eq!(std::fs::read(b.join("design.v")).expect("read"), design, "design.v intact");
}

// Item 16 (build part): duplicate keys, and missing files with the OS's reason.
#[test]
fn duplicate_keys_and_missing_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = build(dir.path(), "B");
    std::fs::write(
        dir.path().join("f.json"),
        r#"{"layers": {"L1": {"pe": 1, "simd": 16}, "L1": {"pe": 4, "simd": 16}}}"#,
    )
    .expect("write");
    let r = xnorflow(&["compile", "m.xnf", "-o", "O", "--folding", "f.json"], dir.path(), QUICK);
    assert!(r.clear_error() && r.stderr.contains("duplicate key \"L1\""), "{}", r.show());
    let c = dir.path().join("C");
    copy_dir(&b, &c);
    edit(&c.join("build.json"), |t| t.replacen("{", "{\n  \"top\": \"other_top\",", 1));
    let r = xnorflow(&["sim", "C"], dir.path(), QUICK);
    assert!(r.clear_error() && r.stderr.contains("duplicate key \"top\""), "{}", r.show());
    std::fs::remove_file(b.join("model.xnf")).expect("rm");
    let r = xnorflow(&["sim", "B"], dir.path(), QUICK);
    assert!(r.clear_error() && r.stderr.contains("No such file or directory"), "{}", r.show());
    let line = r.stderr.lines().find(|l| l.contains("model.xnf")).unwrap_or_default().to_string();
    assert_eq!(line.matches("model.xnf").count(), 1, "the path once: {}", r.show());
}

/// One corruption of one file of a build directory.
#[derive(Clone, Debug)]
enum Corruption {
    Truncate(f64),
    Flip(f64, u8),
    Insert(f64, String),
    Number(usize, String),
    DuplicateLine(f64),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let token = prop::sample::select(vec![
        "0",
        "-1",
        "1e400",
        "NaN",
        "18446744073709551616",
        "4294967296",
        "1e15",
        "-0.0",
        "null",
        "\"x\"",
        "[]",
        "{}",
        "\"a\\\";b\"",
        "99999999999",
    ]);
    prop_oneof![
        (0.0..1.0f64).prop_map(Corruption::Truncate),
        ((0.0..1.0f64), any::<u8>()).prop_map(|(a, b)| Corruption::Flip(a, b)),
        ((0.0..1.0f64), "[\\PC\\n\"\\\\${}\\[\\],:]{1,8}").prop_map(|(a, s)| Corruption::Insert(a, s)),
        ((0usize..64), token).prop_map(|(i, t)| Corruption::Number(i, t.to_string())),
        (0.0..1.0f64).prop_map(Corruption::DuplicateLine),
    ]
}

fn corrupt(bytes: &[u8], c: &Corruption) -> Vec<u8> {
    let at = |f: f64| ((bytes.len() as f64 * f) as usize).min(bytes.len());
    match c {
        Corruption::Truncate(f) => bytes[..at(*f)].to_vec(),
        Corruption::Flip(f, x) => {
            let mut b = bytes.to_vec();
            if let Some(v) = b.get_mut(at(*f)) {
                *v ^= x | 1;
            }
            b
        }
        Corruption::Insert(f, s) => [&bytes[..at(*f)], s.as_bytes(), &bytes[at(*f)..]].concat(),
        Corruption::Number(i, t) => {
            // Replace the i-th number (mod their count) with the token.
            let text = String::from_utf8_lossy(bytes).into_owned();
            let spans: Vec<(usize, usize)> = {
                let mut v = Vec::new();
                let mut start = None;
                for (k, ch) in text.char_indices() {
                    match (ch.is_ascii_digit(), start) {
                        (true, None) => start = Some(k),
                        (false, Some(s)) => {
                            v.push((s, k));
                            start = None;
                        }
                        _ => {}
                    }
                }
                v
            };
            match spans.get(i % spans.len().max(1)) {
                Some(&(s, e)) => format!("{}{}{}", &text[..s], t, &text[e..]).into_bytes(),
                None => bytes.to_vec(),
            }
        }
        Corruption::DuplicateLine(f) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            let k = ((lines.len() as f64 * f) as usize).min(lines.len().saturating_sub(1));
            let mut out: Vec<&str> = lines.clone();
            if let Some(l) = lines.get(k) {
                out.insert(k, l);
            }
            (out.join("\n") + "\n").into_bytes()
        }
    }
}

/// The build every corruption case starts from (compiled once per test process).
fn base_build() -> &'static (tempfile::TempDir, PathBuf) {
    static BASE: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = build(dir.path(), "base");
        (dir, b)
    })
}

const FILES: [&str; 7] =
    ["build.json", "graph.json", "model.xnf", "folding.json", "design.v", "L1_w0.mem", "L1_t0.mem"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: Some(Box::new(
        proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))), ..ProptestConfig::default() })]

    /// A corrupted build directory (any file, with or without its hash rewritten to match) gives
    /// `sim`, `report` and `synth`'s checks either a correct result or a clear error.
    #[test]
    fn corrupted_build_directories_give_a_clear_error_or_a_correct_result(
        file in prop::sample::select(FILES.to_vec()),
        c in corruption(),
        rehashed in any::<bool>(),
    ) {
        let (_keep, base) = base_build();
        let dir = tempfile::tempdir().expect("tempdir");
        let b = dir.path().join("B");
        copy_dir(base, &b);
        let path = b.join(file);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, corrupt(&bytes, &c)).expect("write");
        if rehashed && file != "build.json" {
            rehash(&b, file);
        }
        for args in [vec!["sim", "B", "--frames", "3"], vec!["report", "B"]] {
            let r = xnorflow(&args, dir.path(), QUICK);
            prop_assert!(r.ok() || r.clear_error(), "{args:?} after {c:?} of {file} (rehashed {rehashed}): {}", r.show());
        }
    }

    /// Numeric options on the command line: a design, or a clear refusal, never a panic, an
    /// abort or a runaway build.
    #[test]
    fn numeric_options_give_a_design_or_a_clear_error(
        opt in prop::sample::select(vec!["--frames", "--fclk-mhz", "--target-fps", "--target-cycles", "--lut-budget", "--stall-prob", "--seed"]),
        value in prop_oneof![
            prop::sample::select(vec!["0", "-1", "NaN", "inf", "-inf", "1e308", "1e-308", "18446744073709551615",
                "18446744073709551616", "4294967297", "0.5", "1", "1e9", "", " ", "0x10"]).prop_map(String::from),
            (1u64..5000).prop_map(|v| v.to_string()),
            (0.0..2.0f64).prop_map(|v| v.to_string()),
        ],
    ) {
        let (_keep, base) = base_build();
        let dir = base.parent().expect("parent");
        let out = format!("n{}", std::process::id() as u64 * 1000 + u64::from(rand_suffix()));
        let r = xnorflow(&["compile", "m.xnf", "-o", &out, opt, &value], dir, QUICK);
        prop_assert!(r.ok() || r.clear_error(), "{opt} {value:?}: {}", r.show());
        if r.ok() {
            let s = xnorflow(&["sim", &out, "--frames", "2"], dir, QUICK);
            prop_assert!(s.ok(), "{opt} {value:?} built a design sim cannot run: {}", s.show());
        } else {
            prop_assert!(!dir.join(&out).exists(), "{opt} {value:?} left {out}");
        }
        let _ = std::fs::remove_dir_all(dir.join(&out));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: Some(Box::new(
        proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))), ..ProptestConfig::default() })]

    /// The files only Verilator reads (the Verilog and its memory files), corrupted: `cosim`
    /// gives a correct verdict (PASS, or the first mismatch) or a clear error, never an abort.
    /// Each case verilates a design, so there are few.
    #[test]
    fn corrupted_verilog_and_memories_give_cosim_a_clear_error_or_a_verdict(
        file in prop::sample::select(vec!["design.v", "L1_w0.mem", "L1_t0.mem", "L2_w0.mem"]),
        c in corruption(),
    ) {
        if !have("verilator") {
            return Ok(());
        }
        let (_keep, base) = base_build();
        let dir = tempfile::tempdir().expect("tempdir");
        let b = dir.path().join("B");
        copy_dir(base, &b);
        let path = b.join(file);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, corrupt(&bytes, &c)).expect("write");
        let r = xnorflow(&["cosim", "B", "--frames", "2", "--stall-prob", "0.2"], dir.path(), VERILATOR);
        prop_assert!(r.ok() || r.clear_error(), "cosim after {c:?} of {file}: {}", r.show());
    }
}

fn rand_suffix() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static N: AtomicU16 = AtomicU16::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
