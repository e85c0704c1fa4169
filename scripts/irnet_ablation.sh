#!/usr/bin/env bash
# IR-Net's ablation (STE, Libra-PB only, EDE only, both; on the MLPs also IR-Net with --plain-head)
# on MNIST with the recipe of `make mnist-fixed8`: 8-bit first layer, Adam 1e-2 cosine, dropout 0.1,
# EDE 0.1 -> 10. On the conv net the variant irnet-tuned (IR-Net with EDE 0.1 -> 1, the range chosen
# on SFC's held-out images by `make irnet-vs-ste-tuned`) can be added with VARIANTS.
#   mlp:  TFC and SFC, 20 epochs, every variant over seeds 1-10 (about 1 h 10 min on 2 cores).
#   conv: c16-p-c32-p-128 (two unpadded 3x3 convs with 2x2 max-pools, a dense layer of 128),
#         8 epochs, seeds 1-3 (about 30 min; 4-5 min per run).
# Two one-thread runs go side by side: they get more done than one two-thread run (a second
# thread buys a conv run about 35%). Writes the CSV (default results/irnet_ablation.csv
# or results/irnet_ablation_conv.csv) and prints the summary of scripts/seed_summary.awk.
# Usage: scripts/irnet_ablation.sh mlp|conv [MNIST_DIR] [OUT_CSV]
# env: SEEDS, VARIANTS (override the lists above, e.g. to add seeds: when either is set and OUT_CSV
#      exists, the new rows are merged into it, replacing rows of the same arch, variant and seed);
#      CONV_ARCH (the conv net's layer list, default c16-p-c32-p-128).
set -euo pipefail
cd "$(dirname "$0")/.."
net=${1:-}
data=${2:-../shared/data/mnist}
case $net in
  mlp) csv=${3:-results/irnet_ablation.csv} archs="tfc sfc" seeds="1 2 3 4 5 6 7 8 9 10"
    order="ste irnet-libra irnet-ede irnet irnet-plainhead" ;;
  conv) csv=${3:-results/irnet_ablation_conv.csv} archs=${CONV_ARCH:-c16-p-c32-p-128} seeds="1 2 3"
    order="ste irnet-libra irnet-ede irnet" ;;
  *) echo "usage: $0 mlp|conv [MNIST_DIR] [OUT_CSV]" >&2; exit 2 ;;
esac
all=$order
[ "$net" = conv ] && all="$order irnet-tuned"
append=
if [ -n "${SEEDS:-}${VARIANTS:-}" ] && [ -f "$csv" ]; then append=1; fi
seeds=${SEEDS:-$seeds} order=${VARIANTS:-$order}
[ -n "${XNORFLOW:-}" ] || cargo build --release --bin xnorflow -q
export XNORFLOW=${XNORFLOW:-target/release/xnorflow} RAYON_NUM_THREADS=1
export EDE_TUNED=${EDE_TUNED:-0.1 1}
export INPUT=fixed8 LR=1e-2 DROPOUT=0.1 EPOCHS_TFC=20 EPOCHS_SFC=20 EPOCHS=8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One job per (arch, variant, seed), two at a time, each writing its own CSV.
export DATA=$data TMP_RUNS=$tmp
for arch in $archs; do for v in $order; do for s in $seeds; do echo "$arch $v $s"; done; done; done |
  xargs -P 2 -L 1 bash -c 'ARCHS=$1 VARIANTS=$2 SEEDS=$3 scripts/mnist_results.sh "$DATA" "$TMP_RUNS/$1-$2-$3.csv"' _
{
  head -1 "$(ls "$tmp"/*.csv | head -1)"
  { tail -q -n +2 "$tmp"/*.csv; [ -z "$append" ] || tail -n +2 "$csv"; } | awk -F, -v order="$all" '
    BEGIN { n = split(order, o, " "); for (i = 1; i <= n; i++) rank[o[i]] = i }
    seen[$2, $3, $6]++ { next }
    { print ($2 == "tfc" ? 0 : 1) "," rank[$3] "," $0 }' | sort -t, -k1,1n -k2,2n -k8,8n | cut -d, -f3-
} > "$tmp/merged"
mv "$tmp/merged" "$csv"
awk -F, -v col=11 -v methods="$all" -f scripts/seed_summary.awk "$csv"
echo "wrote $csv"
