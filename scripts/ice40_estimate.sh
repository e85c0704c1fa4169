#!/usr/bin/env bash
# The iCE40 cost model against Yosys synth_ice40 per node (issue 30), on the committed designs of
# results/ice40/: demo (the `xnorflow demo` model at the demo's folding), sfc (an MNIST SFC trained
# with `xnorflow train --dataset mnist --arch sfc --epochs 1`, folded with --target-cycles 2048)
# demo-up5k (the demo model folded by `compile --arch ice40 --part up5k`, held out of the fit),
# and two convolutional designs compiled for an hx8k (`--arch ice40 --part hx8k`): cnn-digits
# (`train --dataset digits --arch c16p0-p-c32-64 --epochs 30`) and resnet-digits (`train --dataset
# digits --arch resnet-digits --act-bits 2 --epochs 30`), for the window units, pools, residual
# nodes and EBR FIFOs.
# Each is compiled from its model.xnf and folding.json, synthesized with `xnorflow synth --arch
# ice40` (per node, each stage's module alone in its own Yosys process; lut4_in_context is the
# same module's LUT4s within the whole design's synthesis), and its graph.json refreshed for
# compiler/tests/ice40_estimate.rs.
# Usage: scripts/ice40_estimate.sh [OUT_CSV]  (default results/ice40_estimate_vs_synth.csv; about 7 min)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/ice40_estimate_vs_synth.csv}
bin=${XNORFLOW_BIN:-target/release/xnorflow}
[ -n "${XNORFLOW_BIN:-}" ] || cargo build --release --quiet --bin xnorflow
# KEEP=DIR keeps each build (DIR/<design>) for scripts/ice40_lc.sh.
tmp=${KEEP:-$(mktemp -d)}
mkdir -p "$tmp"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
rm -f "$tmp/all.csv"
for d in demo sfc demo-up5k cnn-digits resnet-digits; do
  src=results/ice40/$d
  # Every design for an iCE40 part, so that it is legalized as iCE40 builds it (the MVTU's
  # pipeline register): the demo-up5k for the UP5K, the others for an hx8k.
  arch=(--arch ice40 --part hx8k)
  [ "$d" = demo-up5k ] && arch=(--arch ice40 --part up5k)
  rm -rf "$tmp/$d"
  "$bin" compile "$src/model.xnf" -o "$tmp/$d" --folding "$src/folding.json" "${arch[@]}" > /dev/null
  "$bin" synth "$tmp/$d" --arch ice40 > "$tmp/$d.log"
  cp "$tmp/$d/graph.json" "$src/graph.json"
  [ -e "$tmp/all.csv" ] || head -n 1 "$tmp/$d/synth-ice40.csv" | sed 's/^/design,/' > "$tmp/all.csv"
  tail -n +2 "$tmp/$d/synth-ice40.csv" | grep -v '^total,' | sed "s/^/$d,/" >> "$tmp/all.csv"
  grep -E 'nextpnr|No iCE40' "$tmp/$d.log" || true
done
cp "$tmp/all.csv" "$out"
cat "$out"
