//! The `xnorflow` command line: every stage of the flow as a subcommand.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Training allocates and frees weight-sized tensors (megabytes) at every step. By default glibc
/// serves those with fresh mappings and returns them to the kernel when freed, so every step
/// page-faults them in again: about half of LFC's training time. Serving them from the heap and
/// keeping freed memory there removes that (LFC: 230 to 100 ms per step).
#[allow(unsafe_code)]
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of glibc's allocator thresholds; it runs first thing in main,
    // before any other thread exists, and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Rust ignores SIGPIPE, so `xnorflow eval ... | head` would panic in `println!` once `head`
/// exits; restoring the default makes it end quietly, as command-line tools do.
#[allow(unsafe_code)]
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: resets one signal's disposition to the default, first thing in main, before any
    // other thread exists; no handler or pointer is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// xnorflow: binarized neural networks to verified dataflow hardware.
#[derive(Parser)]
#[command(
    name = "xnorflow",
    version,
    about = "Binarized neural networks to verified FPGA/ASIC dataflow hardware",
    after_help = "Examples:\n  xnorflow demo\n  xnorflow inspect model.xnf\n  xnorflow eval model.xnf --dataset mnist --data ../shared/data/mnist"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in main job: train IR-Net on the bundled digits, compile, simulate, co-simulate, synthesize, report.
    #[command(after_help = "Example:\n  xnorflow demo --out xnorflow-demo")]
    Demo(cmd::demo::Args),
    /// Train a BNN (IR-Net or a baseline), export it bit-exactly to a model file.
    #[command(
        after_help = "Examples:\n  xnorflow train --dataset digits --arch 256-256 --method irnet --epochs 20 -o digits.xnf\n  xnorflow train --dataset mnist --data ../shared/data/mnist --arch sfc --method irnet --epochs 10 --seed 1 -o sfc.xnf\n  xnorflow train --dataset mnist --data ../shared/data/mnist --arch tfc --method ste --lr 3e-2 --holdout 10000 -o tfc.xnf   # validation split"
    )]
    Train(cmd::train::Args),
    /// Import a QONNX (Brevitas) or FINN-ONNX model exactly, proven on a check set.
    #[command(
        after_help = "Examples:\n  xnorflow import TFC_1W1A.onnx -o tfc.xnf --data ../shared/data/mnist\n  xnorflow import model.onnx -o model.xnf --input-scale raw --check-dataset digits"
    )]
    Import(cmd::import::Args),
    /// Export a model file as QONNX (BipolarQuant weights, MatMul/Conv, MultiThreshold), which
    /// qonnx's executor runs to the same classes and `import` reads back to the same model.
    #[command(after_help = "Example:\n  xnorflow export model.xnf -o model.onnx")]
    Export(cmd::export::Args),
    /// Print a per-layer summary of a model file: shapes, weight bits, binary MACs, memory.
    #[command(after_help = "Example:\n  xnorflow inspect xnorflow-demo/digits-irnet.xnf")]
    Inspect(cmd::inspect::Args),
    /// Measure a model's bit-exact accuracy (golden model) and frames/s on a dataset.
    #[command(
        after_help = "Examples:\n  xnorflow eval model.xnf --dataset mnist --data ../shared/data/mnist\n  xnorflow eval xnorflow-demo/digits-irnet.xnf --dataset digits\n  xnorflow eval model.xnf --dataset digits --limit 500 --predictions preds.csv --confusion confusion.svg"
    )]
    Eval(cmd::eval::Args),
    /// Compile a model to a dataflow accelerator: Verilog, memory files, testbench, estimates.
    #[command(
        after_help = "Examples:\n  xnorflow compile xnorflow-demo/digits-irnet.xnf -o build\n  xnorflow compile model.xnf -o build --target-fps 200000 --fclk-mhz 150\n  xnorflow compile model.xnf -o build --lut-budget 20000\n  xnorflow compile model.xnf -o build --folding folding.json && make -C build sim\n  xnorflow compile reference:cnv -o cnv --folding results/bnn_pynq_cnv_folding.json"
    )]
    Compile(cmd::compile::Args),
    /// Run a build in the cycle-accurate model: cycles/frame, latency, FIFO fill, frames/s.
    #[command(
        after_help = "Examples:\n  xnorflow compile model.xnf -o build && xnorflow sim build --frames 32\n  xnorflow sim build --dataset mnist --data ../shared/data/mnist --predictions preds.csv\n  xnorflow sim build --dataset mnist --data ../shared/data/mnist --jobs 2   # two independent halves, both cores"
    )]
    Sim(cmd::sim::SimArgs),
    /// Co-simulate a build: golden model, cycle model and Verilator on the same frames and stalls.
    #[command(
        after_help = "Examples:\n  xnorflow cosim build --frames 16\n  xnorflow cosim build --frames 8 --stall-prob 0.3 --seed 4 --vcd build/waves.vcd"
    )]
    Cosim(cmd::sim::CosimArgs),
    /// Synthesize a build with Yosys: LUT/FF/carry/BRAM/DSP per node beside the estimates.
    #[command(after_help = "Examples:\n  xnorflow synth build\n  xnorflow synth build --arch ice40")]
    Synth(cmd::synth::Args),
    /// Put a build on an iCE40 board: a UART top level, Yosys, nextpnr-ice40 and icepack to a
    /// bitstream.
    #[command(
        after_help = "Examples:\n  xnorflow bitstream build --board icebreaker\n  xnorflow bitstream build --board upduino3 --baud 115200"
    )]
    Bitstream(cmd::bitstream::Args),
    /// Send real images to a flashed board over its UART: its accuracy, its agreement with the
    /// golden model, frames/s over the port.
    #[command(
        after_help = "Examples:\n  xnorflow board build --port /dev/ttyUSB1\n  xnorflow board build --port /dev/ttyUSB1 --limit 32 --predictions board.csv\n  xnorflow board sfc-up5k --port /dev/ttyUSB1 --dataset mnist --data ../shared/data/mnist"
    )]
    Board(cmd::board::Args),
    /// Sweep foldings of one or more models: CSV and plots (accuracy vs cycles, LUTs vs frames/s
    /// with the Pareto front, per-layer cycles).
    #[command(
        after_help = "Examples:\n  xnorflow explore results/models/mnist-sfc-irnet.xnf results/models/mnist-sfc-ste.xnf -o explore\n  xnorflow explore results/models/mnist-lfc-*.xnf --lut-budget 20000 --fclk-mhz 200"
    )]
    Explore(cmd::explore::Args),
    /// Write one self-contained HTML (and Markdown) report of a build: model, folding, estimates
    /// beside synthesis, plots, simulation verdicts.
    #[command(
        after_help = "Examples:\n  xnorflow report build\n  xnorflow sim build && xnorflow cosim build && xnorflow synth build && xnorflow report build"
    )]
    Report(cmd::report::Args),
}

fn main() -> ExitCode {
    keep_freed_memory();
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Import(a) => cmd::import::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Compile(a) => cmd::compile::run(a),
        Command::Sim(a) => cmd::sim::run_sim(a),
        Command::Cosim(a) => cmd::sim::run_cosim(a),
        Command::Synth(a) => cmd::synth::run(a),
        Command::Bitstream(a) => cmd::bitstream::run(a),
        Command::Board(a) => cmd::board::run(a),
        Command::Explore(a) => cmd::explore::run(a),
        Command::Report(a) => cmd::report::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
