#!/usr/bin/env bash
# W1A1 against W1Ak (issue 27, `xnorflow train --act-bits k`) on MNIST: trains each run in turn
# with one recipe, takes the test accuracy of the exported model (golden model, bit-exact against
# the float network; `train` refuses to write a model otherwise) and appends a row to a CSV.
# Usage: scripts/act_bits.sh [MNIST_DIR] [OUT_CSV] RUN...
#   RUN is arch:act_bits:epochs:dropout, e.g. sfc:2:20:0.1
# env: METHOD (irnet), INPUT (fixed8), LR (1e-2), SEED (1), XNORFLOW (a prebuilt binary).
# Models (and each run's log) go to results/models/mnist-<arch>-w1a<k>-<method>.xnf.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/mnist}
csv=${2:-results/act_bits.csv}
shift 2 || { echo "usage: $0 MNIST_DIR OUT_CSV arch:act_bits:epochs:dropout..." >&2; exit 2; }
method=${METHOD:-irnet}
input=${INPUT:-fixed8}
lr=${LR:-1e-2}
seed=${SEED:-1}
bin=${XNORFLOW:-target/release/xnorflow}
[ -n "${XNORFLOW:-}" ] || cargo build --release --bin xnorflow -q
models=results/models
mkdir -p "$models"
[ -s "$csv" ] ||
  echo "arch,act_bits,method,input,epochs,seed,lr,dropout,test_accuracy,validation_accuracy,train_images_per_s,wall_seconds,command" > "$csv"
for run in "$@"; do
  IFS=: read -r arch bits epochs dropout <<<"$run"
  out="$models/mnist-$arch-w1a$bits-$method.xnf"
  cmd=(xnorflow train --dataset mnist --data "$data" --arch "$arch" --act-bits "$bits" --method "$method"
    --input "$input" --lr "$lr" --dropout "$dropout" --epochs "$epochs" --seed "$seed" -o "$out")
  start=$(date +%s.%N)
  "$bin" "${cmd[@]:1}" --fresh --force > "${out%.xnf}.log" 2>&1
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  log=$(cat "${out%.xnf}.log")
  acc=$(sed -n 's/^exported .*: test accuracy \([0-9.]*\)%.*/\1/p' <<<"$log")
  ips=$(sed -n 's/.*, \([0-9]*\) training images\/s$/\1/p' <<<"$log")
  # Only with --holdout; these runs train on all 60,000 images.
  val=$(sed -n 's/^validation accuracy \([0-9.]*\)%.*/\1/p' <<<"$log")
  echo "$arch,$bits,$method,$input,$epochs,$seed,$lr,$dropout,$acc,$val,$ips,$secs,\"${cmd[*]}\"" | tee -a "$csv"
done
