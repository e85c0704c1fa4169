//! What the CLI tests share: running the binary and reading what it printed.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `xnorflow` binary with `args` in `dir`.
pub fn xnorflow(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xnorflow")).args(args).current_dir(dir).output().expect("binary runs")
}

/// What the run printed on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What the run printed on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `args` and expects exit code 1 with one `error:` line; returns that line.
#[allow(dead_code)] // not every test binary refuses something
pub fn refused(args: &[&str], dir: &Path) -> String {
    let o = xnorflow(args, dir);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one error line expected:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

/// Runs `args` in `dir` and expects success; returns the run for what it printed.
#[allow(dead_code)] // not every test binary uses it
pub fn succeeded(args: &[&str], dir: &Path) -> Output {
    let o = xnorflow(args, dir);
    assert!(o.status.success(), "{args:?}:\n{}{}", stdout(&o), stderr(&o));
    o
}
