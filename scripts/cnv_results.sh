#!/usr/bin/env bash
# BNN-PYNQ's CNV topology (random weights) at BNN-PYNQ's folding (results/bnn_pynq_cnv_folding.json):
# compile time, cycles/frame predicted and simulated, latency, co-simulation with Verilator, Yosys
# synth_xilinx per node. Usage: scripts/cnv_results.sh [OUT_DIR]  (default results; about 15 min)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results}
bin=${XNORFLOW_BIN:-target/release/xnorflow}
[ -n "${XNORFLOW_BIN:-}" ] || cargo build --release --quiet --bin xnorflow
b=$(mktemp -d)/cnv
trap 'rm -rf "$(dirname "$b")"' EXIT
t0=$(date +%s.%N)
"$bin" compile reference:cnv -o "$b" --folding results/bnn_pynq_cnv_folding.json > /dev/null
t1=$(date +%s.%N)
"$bin" sim "$b" --frames 8 > "$out/cnv_sim.txt"
"$bin" cosim "$b" --frames 3 --stall-prob 0.1 > "$out/cnv_cosim.txt"
"$bin" synth "$b" > /dev/null
cp "$b/synth-xc7.csv" "$out/cnv_synth_xc7.csv"
compile_s=$(echo "$t1 - $t0" | bc)
echo "compile_seconds,$compile_s" > "$out/cnv_summary.csv"
grep -oE '"[a-z_]*": ([0-9.]+|true|false)' "$b/sim.json" | sed 's/"//g; s/: /,/' >> "$out/cnv_summary.csv"
cat "$out/cnv_sim.txt" "$out/cnv_cosim.txt"
echo "compile: $compile_s s"
grep '^total' "$out/cnv_synth_xc7.csv"
