#!/usr/bin/env bash
# Activation bits against hardware: every model given (e.g. SFC and LFC trained as W1A1, W1A2,
# W1A3 with the same recipe) compiled at one cycle target, synthesized with Yosys (7-series), and
# explored over foldings, with accuracy, cycles/frame, estimated and synthesized LUTs and BRAM in
# one CSV, and the explore plots (one series per model, the Pareto front across them).
# Usage: scripts/act_bits_table.sh OUT_DIR TARGET_CYCLES MODEL.xnf...
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 cycles=$2
shift 2
bin=${XNORFLOW_BIN:-target/release/xnorflow}
[ -n "${XNORFLOW_BIN:-}" ] || cargo build --release --quiet --bin xnorflow
mkdir -p "$out"
# explore first: its CSV gives each model's activation bits and accuracy (by file stem).
"$bin" explore "$@" -o "$out/explore" > /dev/null
csv="$out/act_bits_hw.csv"
echo "model,act_bits,accuracy_pct,target_cycles,cycles_per_frame,lut_est,lut,ff,bram18_est,bram18" > "$csv"
for m in "$@"; do
  name=$(basename "$m" .xnf)
  b="$out/build-$name"
  "$bin" compile "$m" -o "$b" --target-cycles "$cycles" > /dev/null
  "$bin" synth "$b" > /dev/null
  # report.json holds the design's cycles and the estimate, synth-xc7.csv the Yosys totals.
  python3 - "$out/explore/explore.csv" "$b" "$cycles" "$name" >> "$csv" <<'EOF'
import csv, json, sys
explore, build, target, name = sys.argv[1:5]
model = next(row for row in csv.DictReader(open(explore)) if row["model"] == name)
r = json.load(open(f"{build}/report.json"))
total = next(row for row in csv.DictReader(open(f"{build}/synth-xc7.csv")) if row["node"] == "total")
print(",".join(str(x) for x in [
    name, model["act_bits"], model["accuracy_pct"], target, r["cycles_per_frame"],
    r["total"]["lut"], total["lut"], total["ff"], r["total"]["bram18"], total["bram18"],
]))
EOF
  tail -n 1 "$csv"
done
echo "wrote $csv and $out/explore/"
