//! Co-simulation of the emitted Verilog with Verilator.
//!
//! [`verilate`] runs Verilator on a design (an AXI4-Stream style top from `hdl::rtl::accel::design`),
//! compiles the generated C++ and a small shim (`sim/cpp/shim.cpp`) with the `cc` crate into a
//! shared library, and loads it with libloading; [`Verilated::instance`] gives a [`StreamDut`]
//! that the same driver as the cycle model clocks. Verilator's runtime (`verilated.cpp`, ...) is
//! compiled once per Verilator version into a cache directory; each design's library is named by a
//! hash of its Verilog and options, so a rebuilt design never reuses a stale library and an
//! unchanged one is not compiled twice.
//!
//! Loading native code needs `unsafe`: the library is ours, built just before from the shim whose
//! signatures are declared here, and every handle is used from one thread and freed once.
#![allow(unsafe_code)]

use crate::drive::{Ports, StreamDut};
use std::collections::hash_map::DefaultHasher;
use std::ffi::{c_char, c_void, CString};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tools::Tool;

const SHIM: &str = include_str!("../cpp/shim.cpp");
const TARGET: &str = env!("XNORFLOW_TARGET");

/// Why co-simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum VerilatorError {
    /// Verilator is not installed.
    #[error("verilator not found ({0}); install it (Debian/Ubuntu: apt-get install -y verilator)")]
    NotFound(String),
    /// A tool (Verilator, the linker) failed or ran past its limit; the error names it, its
    /// command line and its log.
    #[error(transparent)]
    Tool(#[from] tools::ToolError),
    /// A step failed; `log` is its output.
    #[error("{step} failed:\n{log}")]
    Step {
        /// What was run.
        step: String,
        /// Its output (tail).
        log: String,
    },
    /// The verilated design's ports do not match what the caller expects.
    #[error("{0}")]
    Ports(String),
    /// The verilated model hit a fatal error (Verilator's `$readmemh` checks, `$stop`, ...).
    #[error("Verilator: {0}")]
    Fatal(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VerilatorError + '_ {
    move |source| VerilatorError::Io { path: path.to_path_buf(), source }
}

/// How long asking Verilator about itself may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long verilating or linking one design may take: the LFC at BNN-PYNQ's folding verilates
/// in minutes on a loaded machine; past this it is stuck.
const BUILD_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// A Verilator query (`--version`, `--getenv`): its standard output.
fn probe(args: &[&str]) -> Result<String, VerilatorError> {
    if !tools::installed("verilator") {
        return Err(VerilatorError::NotFound("no `verilator` on the PATH".into()));
    }
    Ok(Tool::new("verilator").args(args).timeout(PROBE_TIMEOUT).run()?.stdout)
}

/// The installed Verilator's version line, or why there is none.
pub fn version() -> Result<String, VerilatorError> {
    Ok(probe(&["--version"])?.trim().to_string())
}

/// Where compiled runtimes are kept: `$XNORFLOW_CACHE_DIR`, else `$XDG_CACHE_HOME/xnorflow`,
/// else `~/.cache/xnorflow`, else the temporary directory.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("XNORFLOW_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("xnorflow")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("xnorflow")))
        .unwrap_or_else(|| std::env::temp_dir().join("xnorflow-cache"))
}

/// `path` escaped for the inside of a Verilog string literal.
fn literal_body(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let quoted = compiler::dataflow::verilog_string(path.as_os_str().as_bytes());
    quoted[1..quoted.len() - 1].to_string()
}

/// The widths of the top's stream ports as Verilator declared them in the model's header
/// (`VL_IN8(&s_axis_tdata,3,0);`, `VL_OUTW(&m_axis_tdata,65535,0,2048);`), in bits.
fn header_port_bits(header: &str, port: &str) -> Option<usize> {
    let at = header.find(&format!("(&{port},"))?;
    let rest = &header[at + port.len() + 3..];
    let mut nums = rest.split([',', ')']).map(str::trim);
    let msb: usize = nums.next()?.parse().ok()?;
    let lsb: usize = nums.next()?.parse().ok()?;
    (lsb == 0).then_some(msb + 1)
}

/// What to verilate.
#[derive(Clone, Debug)]
pub struct Design {
    /// The Verilog file; its `$readmemh` files are looked up beside it.
    pub verilog: PathBuf,
    /// The top module (AXI4-Stream style ports).
    pub top: String,
    /// `s_axis_tdata` width.
    pub in_bits: usize,
    /// `m_axis_tdata` width.
    pub out_bits: usize,
    /// Work directory for Verilator's output and the library.
    pub work: PathBuf,
    /// Build with VCD tracing.
    pub trace: bool,
    /// C++ optimisation level of the generated model ("0", "1", "2", "3", "s").
    pub opt: String,
}

fn cc_build(out: &Path, include: &Path, opt: &str, trace: bool) -> cc::Build {
    let mut b = cc::Build::new();
    b.cpp(true)
        .pic(true)
        .opt_level_str(opt)
        .debug(false)
        .target(TARGET)
        .host(TARGET)
        .out_dir(out)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .warnings(false)
        .include(include)
        .include(include.join("vltstd"))
        .define("VM_COVERAGE", "0")
        .define("VM_SC", "0")
        .define("VM_TRACE", if trace { "1" } else { "0" })
        .define("VM_TRACE_FST", "0")
        .define("VM_TRACE_VCD", if trace { "1" } else { "0" })
        // The shim replaces Verilator's fatal/stop/finish handlers (they abort or exit the host).
        .define("VL_USER_FATAL", None)
        .define("VL_USER_STOP", None)
        .define("VL_USER_FINISH", None)
        .flag_if_supported("-faligned-new")
        .flag_if_supported("-Wno-unused-parameter");
    b
}

fn compile(b: &cc::Build, step: &str) -> Result<Vec<PathBuf>, VerilatorError> {
    b.try_compile_intermediates()
        .map_err(|e| VerilatorError::Step { step: step.into(), log: tools::tail(&e.to_string()) })
}

/// Names how the runtime is compiled (its user-handler defines), so that a cached runtime built
/// otherwise is never linked with this shim.
const RUNTIME_FLAVOUR: &str = "user-fatal-stop-finish-1";

/// Serialises runtime builds within the process (tests verilate concurrently).
static RUNTIME: Mutex<()> = Mutex::new(());

/// Verilator's runtime objects for this Verilator version, compiled once into the cache.
fn runtime(root: &Path, version: &str, trace: bool) -> Result<Vec<PathBuf>, VerilatorError> {
    let _guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut h = DefaultHasher::new();
    (version, trace, TARGET, RUNTIME_FLAVOUR).hash(&mut h);
    let dir = cache_dir().join(format!("verilator-runtime-{:016x}", h.finish()));
    let list = dir.join("objects.txt");
    if let Ok(text) = std::fs::read_to_string(&list) {
        let objs: Vec<PathBuf> = text.lines().map(PathBuf::from).collect();
        if !objs.is_empty() && objs.iter().all(|o| o.exists()) {
            return Ok(objs);
        }
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let inc = root.join("include");
    let mut b = cc_build(&dir, &inc, "2", trace);
    b.file(inc.join("verilated.cpp")).file(inc.join("verilated_threads.cpp"));
    if trace {
        b.file(inc.join("verilated_vcd_c.cpp"));
    }
    let objs = compile(&b, "compiling the Verilator runtime")?;
    let text: Vec<String> = objs.iter().map(|o| o.display().to_string()).collect();
    std::fs::write(&list, text.join("\n")).map_err(io(&list))?;
    Ok(objs)
}

/// A verilated design, loaded.
pub struct Verilated {
    lib: Arc<libloading::Library>,
    in_bits: usize,
    out_bits: usize,
    traced: bool,
    /// The shared library.
    pub path: PathBuf,
}

/// Verilates `d` (or reuses its library from an earlier identical build); `progress` hears each
/// step.
pub fn verilate(d: &Design, progress: &mut dyn FnMut(&str)) -> Result<Verilated, VerilatorError> {
    compiler::dataflow::VerilogIdent::new(&d.top).map_err(|e| VerilatorError::Step {
        step: "checking the top module name".into(),
        log: e.to_string(),
    })?;
    let version = version()?;
    let root = PathBuf::from(probe(&["--getenv", "VERILATOR_ROOT"])?.trim());
    let text = std::fs::read_to_string(&d.verilog).map_err(io(&d.verilog))?;
    // `$readmemh` paths are relative to the simulator's working directory; make them absolute so
    // the library runs from anywhere. The directory's name is anyone's choice, so it is escaped
    // into the string literal, never pasted.
    let base = d.verilog.parent().unwrap_or(Path::new(".")).canonicalize().map_err(io(&d.verilog))?;
    let text = text.replace("$readmemh(\"", &format!("$readmemh(\"{}/", literal_body(&base)));
    let mut h = DefaultHasher::new();
    (&text, &d.top, d.in_bits, d.out_bits, d.trace, &d.opt, &version, SHIM, TARGET).hash(&mut h);
    let key = format!("{:016x}", h.finish());
    let lib_path = d.work.join(format!("libdut-{key}.so"));
    if !lib_path.exists() {
        let obj = d.work.join(format!("obj-{key}"));
        std::fs::create_dir_all(&obj).map_err(io(&obj))?;
        let src = obj.join("design.v");
        std::fs::write(&src, &text).map_err(io(&src))?;
        progress("verilating");
        // Run in the object directory with relative names: the build's path may hold any byte.
        let mut cmd = Tool::new("verilator");
        cmd.current_dir(&obj)
            .log(obj.join("verilator.log"))
            .timeout(BUILD_TIMEOUT)
            .args(["--cc", "--prefix", "Vdut", "--top-module", &d.top, "-Mdir", "."])
            .args([
                "-O3",
                "--x-assign",
                "fast",
                "--x-initial",
                "fast",
                "--noassert",
                "-Wno-fatal",
                "-Wno-lint",
            ])
            .args(["-Wno-style"]);
        if d.trace {
            cmd.arg("--trace");
        }
        cmd.arg("design.v").run()?;
        // The design may have been edited after compile: its stream ports must be exactly as wide
        // as the graph says, or the shim's copies would not fit the buffers sized from the graph.
        let hpath = obj.join("Vdut.h");
        let header = std::fs::read_to_string(&hpath).map_err(io(&hpath))?;
        for (port, want) in [("s_axis_tdata", d.in_bits), ("m_axis_tdata", d.out_bits)] {
            match header_port_bits(&header, port) {
                Some(got) if got == want => {}
                got => {
                    return Err(VerilatorError::Ports(format!(
                        "{}: port {port} of module {} is {}, the dataflow graph says {want} bits; \
                         the Verilog and the graph do not belong together (recompile the build)",
                        d.verilog.display(),
                        d.top,
                        got.map_or("missing or not a [N:0] vector".to_string(), |b| format!("{b} bits")),
                    )))
                }
            }
        }
        progress("compiling the Verilator runtime (once per version)");
        let rt = runtime(&root, &version, d.trace)?;
        progress("compiling the verilated model");
        let shim = obj.join("xnorflow_shim.cpp");
        std::fs::write(&shim, SHIM).map_err(io(&shim))?;
        let mut b = cc_build(&obj, &root.join("include"), &d.opt, d.trace);
        b.include(&obj).file(&shim);
        let mut gen: Vec<PathBuf> = std::fs::read_dir(&obj)
            .map_err(io(&obj))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "cpp")
                    && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("Vdut"))
            })
            .collect();
        gen.sort();
        b.files(&gen);
        let objs = compile(&b, "compiling the verilated model")?;
        progress("linking");
        let tmp = d.work.join(format!("libdut-{key}.so.tmp"));
        let mut link = Tool::from_command(b.get_compiler().to_command());
        link.name("linking the verilated model")
            .args(["-shared", "-pthread", "-Wl,-Bsymbolic", "-Wl,--no-undefined", "-o"])
            .arg(&tmp)
            .args(&objs)
            .args(&rt)
            .arg("-latomic")
            .log(obj.join("link.log"))
            .timeout(BUILD_TIMEOUT)
            .run()?;
        std::fs::rename(&tmp, &lib_path).map_err(io(&lib_path))?;
    }
    progress("loading");
    // SAFETY: the library was built above from our shim; loading runs only Verilator's and the
    // C++ runtime's static initialisers.
    let lib = unsafe { libloading::Library::new(&lib_path) }.map_err(|e| VerilatorError::Step {
        step: "loading the verilated model".into(),
        log: e.to_string(),
    })?;
    Ok(Verilated {
        lib: Arc::new(lib),
        in_bits: d.in_bits,
        out_bits: d.out_bits,
        traced: d.trace,
        path: lib_path,
    })
}

type NewFn = unsafe extern "C" fn(*const c_char, *mut c_char, u32) -> *mut c_void;
type PortWordsFn = unsafe extern "C" fn(*mut u32, *mut u32);
type ErrorFn = unsafe extern "C" fn(*mut c_void, *mut c_char, u32);

/// Room for a message from the shim.
const ERR_LEN: usize = 1024;

fn c_message(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).to_string()
}
type FreeFn = unsafe extern "C" fn(*mut c_void);
type CycleFn = unsafe extern "C" fn(*mut c_void, u32, u32, *const u32, u32, *mut u32) -> u32;

impl Verilated {
    /// A fresh instance of the design (registers at their initial values), writing a VCD to `vcd`
    /// when the design was verilated with tracing.
    pub fn instance(&self, vcd: Option<&Path>) -> Result<Dut, VerilatorError> {
        let sym = |e: libloading::Error| VerilatorError::Step {
            step: "finding the shim's functions".into(),
            log: e.to_string(),
        };
        // SAFETY: the symbols are the shim's `extern "C"` functions with exactly these signatures.
        let (new, free, cycle, port_words, error) = unsafe {
            (
                *self.lib.get::<NewFn>(b"xf_new\0").map_err(sym)?,
                *self.lib.get::<FreeFn>(b"xf_free\0").map_err(sym)?,
                *self.lib.get::<CycleFn>(b"xf_cycle\0").map_err(sym)?,
                *self.lib.get::<PortWordsFn>(b"xf_port_words\0").map_err(sym)?,
                *self.lib.get::<ErrorFn>(b"xf_error\0").map_err(sym)?,
            )
        };
        let words = |bits: usize| bits.div_ceil(32).max(2);
        let (mut win, mut wout) = (0u32, 0u32);
        // SAFETY: writes two u32s through valid pointers.
        unsafe { port_words(&mut win, &mut wout) };
        // The shim copies exactly these many words: the buffers below must hold them.
        if win as usize != words(self.in_bits) || wout as usize != words(self.out_bits) {
            return Err(VerilatorError::Ports(format!(
                "the verilated ports move {win} and {wout} 32-bit words, the graph's widths ({} and {} bits) need {} and {}",
                self.in_bits,
                self.out_bits,
                words(self.in_bits),
                words(self.out_bits)
            )));
        }
        let path = match vcd {
            Some(p) if self.traced => Some(
                CString::new(p.display().to_string())
                    .map_err(|e| VerilatorError::Step { step: "VCD path".into(), log: e.to_string() })?,
            ),
            Some(_) => {
                return Err(VerilatorError::Step {
                    step: "VCD tracing".into(),
                    log: "the design was verilated without tracing".into(),
                })
            }
            None => None,
        };
        let mut err = vec![0u8; ERR_LEN];
        // SAFETY: `xf_new` accepts a null or NUL-terminated path and a buffer of ERR_LEN bytes, and
        // returns an owned handle or null.
        let handle = unsafe {
            new(
                path.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                err.as_mut_ptr().cast(),
                ERR_LEN as u32,
            )
        };
        if handle.is_null() {
            return Err(VerilatorError::Fatal(c_message(&err)));
        }
        Ok(Dut {
            error,
            fault: None,
            _lib: Arc::clone(&self.lib),
            handle,
            free,
            cycle,
            in_bits: self.in_bits,
            out_bits: self.out_bits,
            inp: vec![0; words(self.in_bits)],
            outp: vec![0; words(self.out_bits)],
        })
    }
}

/// One running instance of a verilated design.
pub struct Dut {
    _lib: Arc<libloading::Library>,
    error: ErrorFn,
    fault: Option<String>,
    handle: *mut c_void,
    free: FreeFn,
    cycle: CycleFn,
    in_bits: usize,
    out_bits: usize,
    inp: Vec<u32>,
    outp: Vec<u32>,
}

impl Drop for Dut {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `xf_new` of the library `_lib` keeps loaded, freed only here.
        unsafe { (self.free)(self.handle) }
    }
}

impl StreamDut for Dut {
    fn in_bits(&self) -> usize {
        self.in_bits
    }

    fn fault(&self) -> Option<String> {
        self.fault.as_ref().map(|m| format!("Verilator: {m}"))
    }

    fn out_bits(&self) -> usize {
        self.out_bits
    }

    fn cycle(
        &mut self,
        rst: bool,
        s_valid: bool,
        s_data: &[u64],
        m_ready: bool,
        out: &mut Vec<u64>,
    ) -> Ports {
        for (i, w) in self.inp.iter_mut().enumerate() {
            *w = s_data.get(i / 2).map_or(0, |x| (x >> (32 * (i % 2))) as u32);
        }
        // SAFETY: both buffers hold at least as many 32-bit words as the ports are wide (and two).
        let r = unsafe {
            (self.cycle)(
                self.handle,
                u32::from(rst),
                u32::from(s_valid),
                self.inp.as_ptr(),
                u32::from(m_ready),
                self.outp.as_mut_ptr(),
            )
        };
        if r & (1 << 31) != 0 {
            let mut err = vec![0u8; ERR_LEN];
            // SAFETY: a live handle and a buffer of ERR_LEN bytes.
            unsafe { (self.error)(self.handle, err.as_mut_ptr().cast(), ERR_LEN as u32) };
            self.fault = Some(c_message(&err));
            return Ports { s_ready: false, m_valid: false };
        }
        let ports = Ports { s_ready: r & 1 == 1, m_valid: r & 2 == 2 };
        if ports.m_valid {
            out.clear();
            let n = self.out_bits.div_ceil(64);
            out.extend((0..n).map(|i| {
                let lo = u64::from(self.outp[2 * i]);
                let hi = self.outp.get(2 * i + 1).map_or(0, |&x| u64::from(x));
                lo | (hi << 32)
            }));
            if !self.out_bits.is_multiple_of(64) {
                out[n - 1] &= compiler::dataflow::mask(self.out_bits % 64);
            }
        }
        ports
    }
}
