#!/usr/bin/env bash
# IR-Net's ablation (STE, Libra-PB only, EDE only, both) on a small binary conv net on MNIST
# (c16-p-c32-p-128: two unpadded 3x3 convs with 2x2 max-pools, a dense layer of 128, 8-bit first
# layer), seeds 1-3, 8 epochs. candle's conv gains little from a second thread, so two runs go side
# by side with one thread each. Writes results/irnet_ablation_conv.csv.
# Usage: scripts/irnet_ablation_conv.sh [MNIST_DIR] [OUT_CSV]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/mnist}
csv=${2:-results/irnet_ablation_conv.csv}
[ -n "${XNORFLOW:-}" ] || cargo build --release --bin xnorflow -q
export XNORFLOW=${XNORFLOW:-target/release/xnorflow} RAYON_NUM_THREADS=1
export INPUT=fixed8 LR=1e-2 DROPOUT=0.1 EPOCHS=${EPOCHS:-8} ARCHS=c16-p-c32-p-128 SEEDS=${SEEDS:-1 2 3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
VARIANTS="ste irnet-libra" scripts/mnist_results.sh "$data" "$tmp/a.csv" &
first=$!
VARIANTS="irnet irnet-ede" scripts/mnist_results.sh "$data" "$tmp/b.csv"
wait "$first"
{ head -1 "$tmp/a.csv"; tail -q -n +2 "$tmp/a.csv" "$tmp/b.csv" | sort -t, -k3,3 -k6,6n; } > "$csv"
echo "wrote $csv"
