#!/usr/bin/env bash
# Residual BNNs against plain conv nets of the same binary MACs on MNIST (issue 28): trains each
# (net, method) in turn with one recipe and seed, takes the exported model's test and held-out
# validation accuracy (golden model, bit-exact against the float network: `train` refuses to
# write a model otherwise), the wall time, and the binary MACs per frame that `inspect` counts,
# and appends a row to a CSV.
# Usage: scripts/resnet_results.sh [MNIST_DIR] [OUT_CSV] NET:METHOD...
#   NET is resnet (resnet-mnist: c8p0-r8-r8-r16s-r16-r32s-r32-p, --act-bits $BITS, 8-bit stream)
#   or plain (c8p0-c8p0-c8p0-p-c16p0-c16p0-p-c32p0-c32p0-p, binary activations).
# env: EPOCHS (2), LIMIT (all 60,000 training images; else the first N, the last HOLDOUT of them held
#   out), LR (3e-3), SEED (1), HOLDOUT (5000), BITS (3), BNRECAL (0: train --bn-recalibrate N, BatchNorm's
#   running statistics recomputed over N training batches after the last epoch), XNORFLOW (a prebuilt binary).
# Models (and each run's log) go to results/models/mnist-<net>-<method>[-bnrecal].xnf.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/mnist}
csv=${2:-results/resnet.csv}
shift 2 || { echo "usage: $0 MNIST_DIR OUT_CSV net:method..." >&2; exit 2; }
epochs=${EPOCHS:-2}
lr=${LR:-3e-3}
seed=${SEED:-1}
holdout=${HOLDOUT:-5000}
limit=${LIMIT:-60000}
bits=${BITS:-3}
bnrecal=${BNRECAL:-0}
bin=${XNORFLOW:-target/release/xnorflow}
[ -n "${XNORFLOW:-}" ] || cargo build --release --bin xnorflow -q
models=results/models
mkdir -p "$models"
[ -s "$csv" ] ||
  echo "net,arch,method,act_bits,epochs,seed,lr,limit,holdout,bn_recalibrate,binary_macs,test_accuracy,validation_accuracy,train_images_per_s,wall_seconds,command" > "$csv"
for run in "$@"; do
  IFS=: read -r net method <<<"$run"
  case $net in
    resnet) arch=resnet-mnist; act=$bits ;;
    plain) arch=c8p0-c8p0-c8p0-p-c16p0-c16p0-p-c32p0-c32p0-p; act=1 ;;
    *) echo "unknown net '$net' (resnet or plain)" >&2; exit 2 ;;
  esac
  out="$models/mnist-$net-$method$([ "$bnrecal" = 0 ] || echo "-bnrecal").xnf"
  cmd=(xnorflow train --dataset mnist --data "$data" --arch "$arch" --act-bits "$act" --method "$method"
    --lr "$lr" --epochs "$epochs" --seed "$seed" --limit "$limit" --holdout "$holdout" --bn-recalibrate "$bnrecal" -o "$out")
  start=$(date +%s.%N)
  "$bin" "${cmd[@]:1}" --fresh --force > "${out%.xnf}.log" 2>&1
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  log=$(cat "${out%.xnf}.log")
  acc=$(sed -n 's/^exported .*: test accuracy \([0-9.]*\)%.*/\1/p' <<<"$log")
  ips=$(sed -n 's/.*, \([0-9]*\) training images\/s$/\1/p' <<<"$log")
  val=$(sed -n 's/^validation accuracy \([0-9.]*\)%.*/\1/p' <<<"$log")
  macs=$("$bin" inspect "$out" | awk '$1 == "total" { gsub(",", "", $3); print $3 }')
  echo "$net,$arch,$method,$act,$epochs,$seed,$lr,$limit,$holdout,$bnrecal,$macs,$acc,$val,$ips,$secs,\"${cmd[*]}\"" | tee -a "$csv"
done
