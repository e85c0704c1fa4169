#!/usr/bin/env bash
# Estimates against Yosys synth_xilinx, per node: TFC/SFC/LFC at three automatic foldings each, and
# the LFC at BNN-PYNQ's folding (results/bnn_pynq_lfc_folding.json).
# Usage: scripts/estimate_vs_synth.sh [OUT.csv]   (default results/estimate_vs_synth.csv; about 30 min)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/estimate_vs_synth.csv}
# XNORFLOW_BIN runs a prebuilt binary (e.g. a copy, while the tree is being rebuilt).
bin=${XNORFLOW_BIN:-target/release/xnorflow}
[ -n "${XNORFLOW_BIN:-}" ] || cargo build --release --quiet --bin xnorflow
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "model,folding,cycles_per_frame,node,lut_est,lut,lut_err_pct,ff_est,ff,bram18_est,bram18,carry,dsp" > "$out"
run() { # arch, folding label, compile options...
  local arch=$1 label=$2; shift 2
  local b="$work/$arch-$label"
  "$bin" compile "results/models/mnist-$arch-irnet.xnf" -o "$b" "$@" > /dev/null
  "$bin" synth "$b" > /dev/null
  local cycles
  cycles=$(grep -o '"cycles_per_frame": [0-9]*' "$b/report.json" | grep -o '[0-9]*$')
  tail -n +2 "$b/synth-xc7.csv" | sed "s/^/$arch,$label,$cycles,/" >> "$out"
  echo "$arch ($label, $cycles cycles/frame): $(grep '^total' "$b/synth-xc7.csv")"
}
for c in 64 256 1024; do run tfc "auto-$c" --target-cycles "$c"; done
for c in 128 512 2048; do run sfc "auto-$c" --target-cycles "$c"; done
for c in 512 2048 8192; do run lfc "auto-$c" --target-cycles "$c"; done
run lfc bnn-pynq --folding results/bnn_pynq_lfc_folding.json
echo "wrote $out"
