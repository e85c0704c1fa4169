//! Co-simulation of the emitted Verilog with Verilator.
//!
//! [`verilate`] runs Verilator on a design (an AXI4-Stream style top from `hdl::accel::verilog`),
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
use std::process::Command;
use std::sync::{Arc, Mutex};

const SHIM: &str = include_str!("../cpp/shim.cpp");
const TARGET: &str = env!("XNORFLOW_TARGET");

/// Why co-simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum VerilatorError {
    /// Verilator is not installed.
    #[error("verilator not found ({0}); install it (Debian/Ubuntu: apt-get install -y verilator)")]
    NotFound(String),
    /// A step failed; `log` is its output.
    #[error("{step} failed:\n{log}")]
    Step {
        /// What was run.
        step: String,
        /// Its output (tail).
        log: String,
    },
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

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn tool(cmd: &mut Command, step: &str) -> Result<String, VerilatorError> {
    let out = cmd.output().map_err(|e| VerilatorError::NotFound(format!("{step}: {e}")))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(VerilatorError::Step { step: step.into(), log: tail(&text) })
    }
}

/// The installed Verilator's version line, or why there is none.
pub fn version() -> Result<String, VerilatorError> {
    let v = tool(Command::new("verilator").arg("--version"), "verilator --version")?;
    Ok(v.trim().to_string())
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
        .flag_if_supported("-faligned-new")
        .flag_if_supported("-Wno-unused-parameter");
    b
}

fn compile(b: &cc::Build, step: &str) -> Result<Vec<PathBuf>, VerilatorError> {
    b.try_compile_intermediates()
        .map_err(|e| VerilatorError::Step { step: step.into(), log: tail(&e.to_string()) })
}

/// Serialises runtime builds within the process (tests verilate concurrently).
static RUNTIME: Mutex<()> = Mutex::new(());

/// Verilator's runtime objects for this Verilator version, compiled once into the cache.
fn runtime(root: &Path, version: &str, trace: bool) -> Result<Vec<PathBuf>, VerilatorError> {
    let _guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut h = DefaultHasher::new();
    (version, trace, TARGET).hash(&mut h);
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
    let version = version()?;
    let root = tool(Command::new("verilator").args(["--getenv", "VERILATOR_ROOT"]), "verilator --getenv")?;
    let root = PathBuf::from(root.trim());
    let text = std::fs::read_to_string(&d.verilog).map_err(io(&d.verilog))?;
    // `$readmemh` paths are relative to the simulator's working directory; make them absolute so
    // the library runs from anywhere.
    let base = d.verilog.parent().unwrap_or(Path::new(".")).canonicalize().map_err(io(&d.verilog))?;
    let text = text.replace("$readmemh(\"", &format!("$readmemh(\"{}/", base.display()));
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
        let mut cmd = Command::new("verilator");
        cmd.args(["--cc", "--prefix", "Vdut", "--top-module", &d.top, "-Mdir"])
            .arg(&obj)
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
        tool(cmd.arg(&src), "verilator")?;
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
        let mut link = b.get_compiler().to_command();
        link.args(["-shared", "-pthread", "-Wl,-Bsymbolic", "-Wl,--no-undefined", "-o"])
            .arg(&tmp)
            .args(&objs)
            .args(&rt)
            .arg("-latomic");
        tool(&mut link, "linking the verilated model")?;
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

type NewFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
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
        let (new, free, cycle) = unsafe {
            (
                *self.lib.get::<NewFn>(b"xf_new\0").map_err(sym)?,
                *self.lib.get::<FreeFn>(b"xf_free\0").map_err(sym)?,
                *self.lib.get::<CycleFn>(b"xf_cycle\0").map_err(sym)?,
            )
        };
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
        // SAFETY: `xf_new` accepts a null or NUL-terminated path and returns an owned handle.
        let handle = unsafe { new(path.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())) };
        let words = |bits: usize| bits.div_ceil(32).max(2);
        Ok(Dut {
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
        let ports = Ports { s_ready: r & 1 == 1, m_valid: r & 2 == 2 };
        if ports.m_valid {
            out.clear();
            let n = self.out_bits.div_ceil(64);
            out.extend((0..n).map(|i| {
                let lo = u64::from(self.outp[2 * i]);
                let hi = self.outp.get(2 * i + 1).map_or(0, |&x| u64::from(x));
                lo | (hi << 32)
            }));
            if self.out_bits % 64 != 0 {
                out[n - 1] &= compiler::dataflow::mask(self.out_bits % 64);
            }
        }
        ports
    }
}
