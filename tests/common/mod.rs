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
