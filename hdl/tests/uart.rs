//! The board top's UART receiver and transmitter Verilog against their behaviour
//! (`blocks::UartRx`, `blocks::UartTx`), clock for clock under Icarus: random bytes with random
//! gaps, bit lengths off by a clock, glitches, framing errors and resets.

use blocks::{UartRx, UartTx};
use hdl::testbench;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;

fn tools() -> bool {
    let ok = tools::installed("iverilog");
    if !ok {
        eprintln!("skipping: Icarus Verilog is not installed");
    }
    ok
}

/// Runs `top` (in `verilog`) under Icarus on one input vector of `in_bits` bits a clock, and
/// returns what `show` (a `$display` argument list over the outputs) prints after each edge.
fn icarus(verilog: &str, top: &str, ports: &str, in_bits: usize, stim: &[u64], show: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("dut.v"), verilog).expect("write");
    let mem: String = stim.iter().map(|v| format!("{v:x}\n")).collect();
    std::fs::write(dir.path().join("stim.mem"), mem).expect("write");
    let mut tb = String::new();
    let _ = writeln!(tb, "`timescale 1ns/1ps\nmodule tb;\n  reg clk = 0;\n  reg [{}:0] in;", in_bits - 1);
    let _ = writeln!(tb, "  reg [{}:0] stim [0:{}];\n  integer i;", in_bits - 1, stim.len() - 1);
    let _ = writeln!(tb, "  {ports}");
    let _ = writeln!(tb, "  {top} dut ({});", ports_of(ports));
    let _ = writeln!(tb, "  initial begin\n    $readmemh(\"stim.mem\", stim);");
    let _ = writeln!(
        tb,
        "    for (i = 0; i < {}; i = i + 1) begin\n      in = stim[i];\n      #1 clk = 1;\n      #1 $display({show});\n      clk = 0;\n    end\n    $finish;\n  end\nendmodule",
        stim.len()
    );
    std::fs::write(dir.path().join("tb.v"), tb).expect("write");
    let log = testbench::run_icarus(dir.path(), &["dut.v"]).unwrap_or_else(|e| panic!("{e}"));
    log.lines().map(str::to_string).collect()
}

/// `.port(expr)` connections from the wire declarations line `wire a = ...; wire b; ...`:
/// every declared name connects to the port of that name.
fn ports_of(decls: &str) -> String {
    decls
        .split(';')
        .filter_map(|d| d.split_whitespace().find(|w| !["wire", "reg"].contains(w) && !w.starts_with('[')))
        .map(|n| format!(".{n}({n})"))
        .chain(std::iter::once(".clk(clk)".to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A line carrying random frames at `cpb` clocks a bit, some bits a clock short or long, with
/// random gaps, glitches (low for fewer clocks than half a bit), stop bits of 0, and resets:
/// `(rst, rx)` per clock.
fn line(cpb: u64, frames: usize, seed: u64) -> Vec<(bool, bool)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![(true, true); 3];
    for _ in 0..frames {
        for _ in 0..rng.gen_range(0..2 * cpb) {
            out.push((false, true));
        }
        if rng.gen_bool(0.1) {
            for _ in 0..rng.gen_range(1..cpb / 2) {
                out.push((false, false));
            }
            continue;
        }
        let byte: u8 = rng.gen();
        let stop = !rng.gen_bool(0.15);
        let bits =
            std::iter::once(false).chain((0..8).map(|b| byte >> b & 1 == 1)).chain(std::iter::once(stop));
        for bit in bits {
            let len = (cpb as i64 + rng.gen_range(-1..=1)) as u64;
            for _ in 0..len {
                out.push((rng.gen_bool(0.01), bit));
            }
        }
    }
    out
}

#[test]
fn the_receiver_verilog_is_its_behaviour() {
    if !tools() {
        return;
    }
    for (cpb, seed) in [(4, 1), (7, 2), (16, 3)] {
        let stim = line(cpb, 40, seed);
        let mut rx = UartRx::new(cpb);
        let want: Vec<String> = stim
            .iter()
            .map(|&(rst, bit)| {
                rx.edge(rst, bit);
                format!("{} {:02x} {}", u8::from(rx.valid()), rx.data(), u8::from(rx.error()))
            })
            .collect();
        assert!(want.iter().any(|l| l.starts_with('1')), "some byte arrives");
        assert!(want.iter().any(|l| l.ends_with('1')), "some framing error");
        let d = hdl::rtl::board::rx_design("rxdut", cpb);
        let v: Vec<u64> = stim.iter().map(|&(rst, bit)| u64::from(rst) << 1 | u64::from(bit)).collect();
        let got = icarus(
            &d.verilog(),
            "rxdut",
            "wire rst = in[1]; wire rx = in[0]; wire valid; wire [7:0] data; wire error;",
            2,
            &v,
            "\"%0d %02x %0d\", valid, data, error",
        );
        assert_eq!(got.len(), want.len(), "cpb {cpb}");
        if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
            panic!("cpb {cpb}, clock {i}: Verilog `{}`, behaviour `{}`", got[i], want[i]);
        }
    }
}

#[test]
fn the_transmitter_verilog_is_its_behaviour() {
    if !tools() {
        return;
    }
    for (cpb, seed) in [(4, 4), (9, 5)] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let stim: Vec<(bool, bool, u8)> =
            (0..cpb as usize * 200).map(|_| (rng.gen_bool(0.005), rng.gen_bool(0.3), rng.gen())).collect();
        let mut tx = UartTx::new(cpb);
        let want: Vec<String> = stim
            .iter()
            .map(|&(rst, valid, byte)| {
                tx.edge(rst, valid, byte);
                format!("{} {}", u8::from(tx.ready()), u8::from(tx.tx()))
            })
            .collect();
        let d = hdl::rtl::board::tx_design("txdut", cpb);
        let v: Vec<u64> = stim
            .iter()
            .map(|&(rst, valid, b)| u64::from(rst) << 9 | u64::from(valid) << 8 | u64::from(b))
            .collect();
        let got = icarus(
            &d.verilog(),
            "txdut",
            "wire rst = in[9]; wire s_valid = in[8]; wire [7:0] s_data = in[7:0]; wire s_ready; wire tx;",
            10,
            &v,
            "\"%0d %0d\", s_ready, tx",
        );
        assert_eq!(got.len(), want.len(), "cpb {cpb}");
        if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
            panic!("cpb {cpb}, clock {i}: Verilog `{}`, behaviour `{}`", got[i], want[i]);
        }
    }
}
