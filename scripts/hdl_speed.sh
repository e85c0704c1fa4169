#!/usr/bin/env bash
# Times the three steps that the size of the emitted Verilog decides, on BNN-PYNQ's LFC
# (`reference:lfc`, random weights):
#   1. `xnorflow compile` at 128 cycles/frame (lowering, Verilog, memory files, testbench, reports);
#   2. verilating and C++-compiling the LFC at BNN-PYNQ's folding (results/bnn_pynq_lfc_folding.json),
#      through `xnorflow cosim --frames 1` on a fresh build (Verilator's runtime is compiled once
#      per Verilator version into ~/.cache/xnorflow, so the very first run on a machine also pays
#      for that: run twice);
#   3. Icarus (iverilog + vvp) on the emitted self-checking testbench of one LFC frame.
# Usage: scripts/hdl_speed.sh   (XNORFLOW_BIN runs a prebuilt binary; other users of the machine
# slow every figure down, so compare runs made back to back)
set -euo pipefail
command -v /usr/bin/time > /dev/null || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }
cd "$(dirname "$0")/.."
bin=${XNORFLOW_BIN:-target/release/xnorflow}
[ -n "${XNORFLOW_BIN:-}" ] || cargo build --release --quiet --bin xnorflow
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Wall-clock and CPU seconds (user + system, of the command and its children: on a loaded machine
# the CPU time is the steadier figure).
secs() { # label, command...
  local label=$1; shift
  /usr/bin/time -f '%e %U %S' -o "$work/time.txt" "$@" > "$work/log.txt" 2>&1 \
    || { cat "$work/log.txt"; echo "$label failed" >&2; exit 1; }
  read -r wall user sys < "$work/time.txt"
  printf '%-58s %8.2f s wall %8.2f s CPU\n' "$label" "$wall" "$(echo "$user + $sys" | bc)"
}

secs "compile LFC at 128 cycles/frame" \
  "$bin" compile reference:lfc --target-cycles 128 --frames 1 -o "$work/lfc128"
"$bin" compile reference:lfc --folding results/bnn_pynq_lfc_folding.json --frames 1 -o "$work/lfc" > /dev/null
secs "verilate + C++ compile LFC (BNN-PYNQ folding), 1 frame" "$bin" cosim "$work/lfc" --frames 1
cd "$work/lfc"
secs "Icarus: iverilog + vvp, one LFC frame" make -s sim
grep -q PASS "$work/log.txt" || { echo "the Icarus testbench did not pass" >&2; exit 1; }
