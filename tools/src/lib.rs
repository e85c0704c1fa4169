//! The one runner for the external tools xnorflow drives (Yosys, Verilator, Icarus, nextpnr).
//!
//! Every tool run goes through [`Tool`]: it runs with a time limit and is killed (with everything
//! it started) when the limit passes, its stdout and stderr are kept apart for the caller and
//! copied, as they arrive, into a log file, and a failure is a [`ToolError`] that names the tool,
//! the command line (ready to paste into a shell), the exit status or the time limit, the log and
//! the log's last lines. [`installed`] answers whether a tool is there without running it.
//!
//! The crate knows nothing of xnorflow, so every crate that drives a tool can use it.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a tool's output may stay open after the tool exited before whatever it left running
/// in the background is ended.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// How many of the log's last lines an error carries.
pub const TAIL_LINES: usize = 30;

/// The time limit of a run that sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The most bytes of each stream kept in memory (the log file gets everything): a tool that
/// prints without end must not fill the memory.
pub const MAX_CAPTURE_BYTES: usize = 64 << 20;

/// Why a tool run failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The program is not on the `PATH`.
    #[error("{tool} is not installed (no `{program}` on the PATH; `make deps` installs the hardware tools)")]
    NotInstalled {
        /// What the tool is called in messages.
        tool: String,
        /// The program looked for.
        program: String,
    },
    /// The program is there but could not be started (a missing working directory, no permission).
    #[error("{tool}: cannot run `{command}`: {source}")]
    Start {
        /// What the tool is called in messages.
        tool: String,
        /// The command line.
        command: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The tool ran and exited unsuccessfully.
    #[error("{tool} failed ({status}): `{command}`{}", log_and_tail(log.as_deref(), tail))]
    Failed {
        /// What the tool is called in messages.
        tool: String,
        /// The command line.
        command: String,
        /// Its exit status (a code, or the signal that ended it).
        status: ExitStatus,
        /// Where its whole output is.
        log: Option<PathBuf>,
        /// The output's last [`TAIL_LINES`] lines.
        tail: String,
    },
    /// The tool ran past its time limit and was killed.
    #[error(
        "{tool} ran longer than its limit of {} s and was stopped: `{command}`{}",
        limit.as_secs_f64(),
        log_and_tail(log.as_deref(), tail)
    )]
    Timeout {
        /// What the tool is called in messages.
        tool: String,
        /// The command line.
        command: String,
        /// The limit.
        limit: Duration,
        /// Where its output up to then is.
        log: Option<PathBuf>,
        /// The output's last [`TAIL_LINES`] lines.
        tail: String,
    },
    /// The log file could not be written, or the output not read.
    #[error("{tool}: {}: {source}", path.display())]
    Log {
        /// What the tool is called in messages.
        tool: String,
        /// The log file (or the tool, for its output pipes).
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl ToolError {
    /// The tool the error is about.
    pub fn tool(&self) -> &str {
        match self {
            ToolError::NotInstalled { tool, .. }
            | ToolError::Start { tool, .. }
            | ToolError::Failed { tool, .. }
            | ToolError::Timeout { tool, .. }
            | ToolError::Log { tool, .. } => tool,
        }
    }

    /// Whether the tool is missing (a step that needs it can be skipped with this message).
    pub fn is_not_installed(&self) -> bool {
        matches!(self, ToolError::NotInstalled { .. })
    }
}

fn log_and_tail(log: Option<&Path>, tail: &str) -> String {
    let mut s = String::new();
    if let Some(l) = log {
        let _ = write!(s, "\nlog: {}", l.display());
    }
    if !tail.trim().is_empty() {
        let _ = write!(s, "\nlast lines:\n{}", tail.trim_end());
    }
    s
}

/// The last [`TAIL_LINES`] lines of `text`.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Where `program` is: itself when it names a path (holds a `/`), else the first executable of
/// that name in a `PATH` directory.
pub fn find(program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains(std::path::MAIN_SEPARATOR) || program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| is_executable(p))
}

/// Whether `program` is installed: an executable on the `PATH` (nothing is run, so a tool that
/// takes seconds to start or has no `--version` costs nothing to ask about).
pub fn installed(program: &str) -> bool {
    find(program).is_some()
}

fn is_executable(p: &Path) -> bool {
    let Ok(m) = std::fs::metadata(p) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        m.is_file()
    }
}

/// `s` as one shell word (quoted when it holds anything but plain characters).
fn shell_word(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a successful run printed.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Standard output (at most [`MAX_CAPTURE_BYTES`], lossily UTF-8).
    pub stdout: String,
    /// Standard error (likewise).
    pub stderr: String,
    /// The log file holding both, when the run had one.
    pub log: Option<PathBuf>,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Output {
    /// Standard output followed by standard error.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// One run of an external tool: a [`Command`] with a name for messages, a time limit and a log
/// file. Build it like a `Command`, then [`Tool::run`].
#[derive(Debug)]
pub struct Tool {
    name: String,
    program: OsString,
    cmd: Command,
    log: Option<PathBuf>,
    timeout: Duration,
}

impl Tool {
    /// A run of `program`, called by its file name in messages, with [`DEFAULT_TIMEOUT`] and no
    /// log file.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref().to_os_string();
        let name = Path::new(&program).file_name().unwrap_or(&program).to_string_lossy().into_owned();
        Tool { name, cmd: Command::new(&program), program, log: None, timeout: DEFAULT_TIMEOUT }
    }

    /// A run of a command built elsewhere (a compiler from the `cc` crate), with its program,
    /// arguments, environment and working directory; stdin, stdout and stderr are the runner's.
    pub fn from_command(cmd: Command) -> Self {
        let program = cmd.get_program().to_os_string();
        let name = Path::new(&program).file_name().unwrap_or(&program).to_string_lossy().into_owned();
        Tool { name, program, cmd, log: None, timeout: DEFAULT_TIMEOUT }
    }

    /// What messages call the tool (e.g. "yosys synth_ice40").
    pub fn name(&mut self, name: impl Into<String>) -> &mut Self {
        self.name = name.into();
        self
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Runs it in `dir`.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Sets an environment variable for it.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    /// Writes its stdout and stderr, as they arrive, into `path` (created or truncated; its
    /// directory must exist).
    pub fn log(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.log = Some(path.into());
        self
    }

    /// Kills it (and every process it started) when it runs longer than `limit`.
    pub fn timeout(&mut self, limit: Duration) -> &mut Self {
        self.timeout = limit;
        self
    }

    /// The command line as a shell would take it (`cd DIR && ...` when a working directory is
    /// set), so that a failure can be pasted and rerun.
    pub fn command_line(&self) -> String {
        let mut s = String::new();
        if let Some(d) = self.cmd.get_current_dir() {
            let _ = write!(s, "cd {} && ", shell_word(d.as_os_str()));
        }
        s.push_str(&shell_word(self.cmd.get_program()));
        for a in self.cmd.get_args() {
            s.push(' ');
            s.push_str(&shell_word(a));
        }
        s
    }

    /// Runs it to the end or to its time limit. A nonzero exit status, a signal and the time
    /// limit are errors carrying the output's last lines; a missing program is
    /// [`ToolError::NotInstalled`].
    pub fn run(&mut self) -> Result<Output, ToolError> {
        let start = Instant::now();
        let log_err =
            |path: &Path, source| ToolError::Log { tool: self.name.clone(), path: path.into(), source };
        let log_file = match &self.log {
            Some(p) => Some(Arc::new(Mutex::new(std::fs::File::create(p).map_err(|e| log_err(p, e))?))),
            None => None,
        };
        self.cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group, so that the time limit ends whatever it started too (Verilator's
        // wrapper script runs verilator_bin, iverilog runs ivlpp and ivl), and no grandchild keeps
        // its output pipes open.
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            self.cmd.process_group(0);
        }
        let mut child = match self.cmd.spawn() {
            Ok(c) => c,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && !installed(&self.program.to_string_lossy()) =>
            {
                return Err(ToolError::NotInstalled {
                    tool: self.name.clone(),
                    program: self.program.to_string_lossy().into_owned(),
                })
            }
            Err(source) => {
                return Err(ToolError::Start {
                    tool: self.name.clone(),
                    command: self.command_line(),
                    source,
                })
            }
        };
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            spawn_reader(out, 0, log_file.clone(), tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            spawn_reader(err, 1, log_file.clone(), tx.clone());
        }
        drop(tx);
        let deadline = start + self.timeout;
        let mut captured: [Option<Captured>; 2] = [None, None];
        let mut status = None;
        // When the tool exited, and whether what it left running has been ended.
        let mut exited: Option<(Instant, bool)> = None;
        let finished = loop {
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            // Wakes at once when a stream ends, and every few milliseconds to look at the child.
            match rx.recv_timeout((deadline - now).min(Duration::from_millis(10))) {
                Ok((i, c)) => captured[i] = Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Both readers are done.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if status.is_none() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
            if status.is_none() {
                match child.try_wait() {
                    Ok(Some(s)) => {
                        status = Some(s);
                        exited = Some((Instant::now(), false));
                    }
                    Ok(None) => {}
                    Err(source) => {
                        stop(&mut child);
                        return Err(log_err(Path::new(&self.program), source));
                    }
                }
            }
            if status.is_some() && captured.iter().all(Option::is_some) {
                break true;
            }
            // The tool is gone but its output is still open: something it started in the
            // background holds it. That process keeps the group (and so its id) alive, so ending
            // the group cannot hit an unrelated process.
            if let Some((at, false)) = exited {
                if at.elapsed() > LEFTOVER_GRACE {
                    stop_group(&child);
                    exited = Some((at, true));
                }
            }
        };
        if !finished {
            stop(&mut child);
            // The killed group closes the pipes; a process that left the group may not, so the
            // readers get a short grace and are then left behind.
            let grace = Instant::now() + Duration::from_secs(2);
            while captured.iter().any(Option::is_none) {
                let left = grace.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok((i, c)) => captured[i] = Some(c),
                    Err(_) => break,
                }
            }
        }
        let [out, err] = captured.map(Option::unwrap_or_default);
        if let Some(e) = out.error.or(err.error) {
            return Err(log_err(self.log.as_deref().unwrap_or(Path::new(&self.program)), e));
        }
        let (stdout, stderr) = (lossy(out.bytes), lossy(err.bytes));
        let tail_of = || tail(&format!("{stdout}{stderr}"));
        match status {
            Some(s) if finished && s.success() => {
                Ok(Output { stdout, stderr, log: self.log.clone(), elapsed: start.elapsed() })
            }
            Some(s) if finished => Err(ToolError::Failed {
                tool: self.name.clone(),
                command: self.command_line(),
                status: s,
                log: self.log.clone(),
                tail: tail_of(),
            }),
            _ => Err(ToolError::Timeout {
                tool: self.name.clone(),
                command: self.command_line(),
                limit: self.timeout,
                log: self.log.clone(),
                tail: tail_of(),
            }),
        }
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// One output stream, read to its end.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    error: Option<std::io::Error>,
}

/// Reads `pipe` to its end on a thread, copying it into the log as it comes, and sends what it
/// read as stream `index`.
fn spawn_reader<R: Read + Send + 'static>(
    mut pipe: R,
    index: usize,
    log: Option<Arc<Mutex<std::fs::File>>>,
    tx: mpsc::Sender<(usize, Captured)>,
) {
    std::thread::spawn(move || {
        let mut c = Captured::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let keep = n.min(MAX_CAPTURE_BYTES.saturating_sub(c.bytes.len()));
                    c.bytes.extend_from_slice(&buf[..keep]);
                    if let Some(l) = &log {
                        let mut f = l.lock().unwrap_or_else(|p| p.into_inner());
                        if let Err(e) = f.write_all(&buf[..n]) {
                            c.error.get_or_insert(e);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    c.error = Some(e);
                    break;
                }
            }
        }
        let _ = tx.send((index, c));
    });
}

/// Kills the child's process group (on Unix; the child was made its leader).
fn stop_group(child: &Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    #[cfg(not(unix))]
    let _ = child;
}

/// Kills the child and its group, and reaps it.
fn stop(child: &mut Child) {
    stop_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Tool {
        let mut t = Tool::new("sh");
        t.args(["-c", script]);
        t
    }

    #[test]
    fn a_missing_tool_is_not_installed() {
        assert!(!installed("xnorflow-no-such-tool"));
        assert!(installed("sh"));
        let e = Tool::new("xnorflow-no-such-tool").run().unwrap_err();
        assert!(e.is_not_installed(), "{e}");
        assert_eq!(e.tool(), "xnorflow-no-such-tool");
        assert!(e.to_string().contains("not installed"), "{e}");
    }

    #[test]
    fn a_missing_directory_is_not_a_missing_tool() {
        let e = sh("true").current_dir("/nonexistent/xnorflow/dir").run().unwrap_err();
        assert!(matches!(e, ToolError::Start { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/xnorflow/dir"), "{e}");
    }

    #[test]
    fn output_is_captured_apart_and_logged_together() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.log");
        let out = sh("echo out; echo err >&2; echo more").log(&log).run().unwrap();
        assert_eq!(out.stdout, "out\nmore\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.text(), "out\nmore\nerr\n");
        let logged = std::fs::read_to_string(&log).unwrap();
        for line in ["out", "err", "more"] {
            assert!(logged.lines().any(|l| l == line), "{logged}");
        }
        assert_eq!(out.log.as_deref(), Some(log.as_path()));
    }

    #[test]
    fn a_failing_command_names_tool_command_status_log_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("fail.log");
        let script = "for i in $(seq 1 100); do echo line$i; done; echo boom >&2; exit 3";
        let e = sh(script).name("shell step").log(&log).run().unwrap_err();
        let ToolError::Failed { tool, command, status, log: l, tail } = &e else { panic!("{e}") };
        assert_eq!(tool, "shell step");
        assert_eq!(status.code(), Some(3));
        assert!(command.starts_with("sh -c 'for i in"), "{command}");
        assert_eq!(l.as_deref(), Some(log.as_path()));
        assert_eq!(tail.lines().count(), TAIL_LINES);
        assert!(tail.contains("boom") && tail.contains("line100") && !tail.contains("line50\n"), "{tail}");
        let msg = e.to_string();
        assert!(msg.contains("shell step failed") && msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains(&log.display().to_string()) && msg.contains("boom"), "{msg}");
        // The log has everything, not just the tail.
        assert!(std::fs::read_to_string(&log).unwrap().contains("line1\n"));
    }

    #[test]
    fn a_timeout_kills_the_tool_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("slow.log");
        let t0 = Instant::now();
        // `sleep` is a grandchild holding the pipes: without the group kill the run would wait for it.
        let e = sh("echo started; sleep 30; echo never")
            .log(&log)
            .timeout(Duration::from_millis(300))
            .run()
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(10), "took {:?}", t0.elapsed());
        let ToolError::Timeout { limit, tail, .. } = &e else { panic!("{e}") };
        assert_eq!(*limit, Duration::from_millis(300));
        assert!(tail.contains("started") && !tail.contains("never"), "{tail}");
        assert!(e.to_string().contains("ran longer than its limit of 0.3 s"), "{e}");
    }

    #[test]
    fn what_a_tool_leaves_running_does_not_hold_the_run() {
        let t0 = Instant::now();
        let out = sh("echo done; sleep 30 &").timeout(Duration::from_secs(60)).run().unwrap();
        assert_eq!(out.stdout, "done\n");
        assert!(t0.elapsed() < Duration::from_secs(10), "took {:?}", t0.elapsed());
    }

    #[test]
    fn a_quick_command_is_not_held_to_its_limit() {
        let t0 = Instant::now();
        let out = sh("echo hi").timeout(Duration::from_secs(60)).run().unwrap();
        assert_eq!(out.stdout, "hi\n");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_command_built_elsewhere_runs_as_given() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo $XNORFLOW_TOOLS_TEST; pwd"]).env("XNORFLOW_TOOLS_TEST", "set").current_dir("/");
        let out = Tool::from_command(c).run().unwrap();
        assert_eq!(out.stdout, "set\n/\n");
    }

    #[test]
    fn command_lines_paste_into_a_shell() {
        let mut t = Tool::new("yosys");
        t.args(["-q", "-p", "read_verilog design.v; stat", "it's"]).current_dir("/tmp/b");
        assert_eq!(t.command_line(), r"cd /tmp/b && yosys -q -p 'read_verilog design.v; stat' 'it'\''s'");
    }

    #[test]
    fn an_unwritable_log_is_an_error_before_the_run() {
        let e = sh("true").log("/nonexistent/xnorflow/run.log").run().unwrap_err();
        assert!(matches!(e, ToolError::Log { .. }), "{e}");
    }
}
