#!/usr/bin/env bash
# Trains TFC / SFC / LFC x {ste, xnor, bireal, irnet} on MNIST, measures each exported model with
# `xnorflow eval` (golden model, bit-exact) and writes results/mnist.csv.
# Usage: scripts/mnist_results.sh [MNIST_DIR] [OUT_CSV]
# env: EPOCHS_TFC, EPOCHS_SFC, EPOCHS_LFC (10, 10, 3), SEED (1), XNORFLOW (a prebuilt binary)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/mnist}
csv=${2:-results/mnist.csv}
seed=${SEED:-1}
declare -A epochs=([tfc]=${EPOCHS_TFC:-10} [sfc]=${EPOCHS_SFC:-10} [lfc]=${EPOCHS_LFC:-3})
bin=${XNORFLOW:-target/release/xnorflow}
[ -n "${XNORFLOW:-}" ] || cargo build --release --bin xnorflow -q
models=results/models
mkdir -p "$models"
echo "dataset,arch,method,input,epochs,seed,test_accuracy,train_images_per_s,train_seconds" > "$csv"
for arch in tfc sfc lfc; do
  for method in ste xnor bireal irnet; do
    out="$models/mnist-$arch-$method.xnf"
    start=$(date +%s.%N)
    log=$("$bin" train --fresh --dataset mnist --data "$data" --arch "$arch" --method "$method" \
      --epochs "${epochs[$arch]}" --seed "$seed" -o "$out")
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    ips=$(sed -n 's/.*, \([0-9]*\) training images\/s$/\1/p' <<<"$log")
    acc=$("$bin" eval "$out" --dataset mnist --data "$data" | sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p')
    echo "mnist,$arch,$method,binary,${epochs[$arch]},$seed,$acc,$ips,$secs" | tee -a "$csv"
  done
done
