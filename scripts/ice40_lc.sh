#!/usr/bin/env bash
# nextpnr-ice40's logic cells for the iCE40 packing model and board top (issue 30): each design of
# results/ice40/ compiled as scripts/ice40_estimate.sh compiles it (and sfc-spram: the SFC's model
# folded by `compile --arch ice40 --part up5k`, weights in SPRAM), every stage synthesized alone
# and packed by `nextpnr-ice40 --pack-only`, the whole accelerator packed, and for the designs
# below compiled for the UP5K with the same folding, the board top of `xnorflow bitstream`
# (bitstream writes board/board.v first; a design too large for the UP5K then fails to place,
# which does not matter here). See scripts/ice40_lc.py.
# Usage: scripts/ice40_lc.sh [OUT_CSV]  (default results/ice40_lc.csv; about 40 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/ice40_lc.csv}
bin=${XNORFLOW_BIN:-target/release/xnorflow}
[ -n "${XNORFLOW_BIN:-}" ] || cargo build --release --quiet --bin xnorflow
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
designs=()
boards=()
for d in demo sfc demo-up5k cnn-digits resnet-digits sfc-spram; do
  src=results/ice40/$d
  model=$src/model.xnf
  [ "$d" = sfc-spram ] && model=results/ice40/sfc/model.xnf
  part=hx8k
  case $d in demo-up5k|sfc-spram) part=up5k ;; esac
  "$bin" compile "$model" -o "$tmp/$d" --folding "$src/folding.json" --arch ice40 --part $part > /dev/null
  designs+=("$d=$tmp/$d")
  case $d in demo|demo-up5k) continue ;; esac
  # The board top of the same folding for the UP5K (the demo's is demo-up5k's).
  b=$d
  [ "$part" = up5k ] || { b=$d-up5k; "$bin" compile "$model" -o "$tmp/$b" --folding "$src/folding.json" --arch ice40 --part up5k > /dev/null; }
  "$bin" bitstream "$tmp/$b" --board icebreaker > "$tmp/$b.log" 2>&1 || true
  boards+=("board:$d=$tmp/$b")
done
"$bin" bitstream "$tmp/demo-up5k" --board icebreaker > "$tmp/demo-up5k.log" 2>&1 || true
boards+=("board:demo-up5k=$tmp/demo-up5k")
python3 scripts/ice40_lc.py "$out" "${designs[@]}" "${boards[@]}"
