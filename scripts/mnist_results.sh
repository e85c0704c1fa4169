#!/usr/bin/env bash
# Trains TFC / SFC / LFC x methods on MNIST, measures each exported model with `xnorflow eval`
# (golden model, bit-exact) and writes a CSV (default results/mnist.csv).
# Usage: scripts/mnist_results.sh [MNIST_DIR] [OUT_CSV]
# env: EPOCHS_TFC, EPOCHS_SFC, EPOCHS_LFC (10, 10, 3), EPOCHS (10, any other arch), SEEDS (1; a list runs every cell once per
#      seed), INPUT (binary), LR (1e-3),
#      DROPOUT (0), VARIANTS ("ste xnor bireal irnet"; "irnet-tuned" is IR-Net with the EDE range
#      EDE_TUNED, default "1 1" = T_min T_max; irnet-libra and irnet-ede are IR-Net's ablations;
#      a -plainhead suffix adds --plain-head, e.g. irnet-plainhead),
#      ARCHS ("tfc sfc lfc"; also layer lists such as c16-p-c32-p-128), XNORFLOW (a prebuilt binary).
# Models go to results/models/mnist-<arch>-<variant>.xnf, with -<input> appended unless binary and
# -s<seed> unless the seed is 1.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/mnist}
csv=${2:-results/mnist.csv}
seeds=${SEEDS:-${SEED:-1}}
input=${INPUT:-binary}
lr=${LR:-1e-3}
dropout=${DROPOUT:-0}
variants=${VARIANTS:-ste xnor bireal irnet}
read -r tuned_min tuned_max <<<"${EDE_TUNED:-1 1}"
declare -A epochs=([tfc]=${EPOCHS_TFC:-10} [sfc]=${EPOCHS_SFC:-10} [lfc]=${EPOCHS_LFC:-3})
for arch in ${ARCHS:-tfc sfc lfc}; do : "${epochs[$arch]:=${EPOCHS:-10}}"; done
bin=${XNORFLOW:-target/release/xnorflow}
[ -n "${XNORFLOW:-}" ] || cargo build --release --bin xnorflow -q
models=results/models
mkdir -p "$models"
echo "dataset,arch,method,input,epochs,seed,lr,dropout,t_min,t_max,test_accuracy,train_images_per_s,train_seconds" > "$csv"
for arch in ${ARCHS:-tfc sfc lfc}; do
  for seed in $seeds; do
  for variant in $variants; do
    method=${variant%-tuned}
    method=${method%-plainhead}
    t_min=0.1 t_max=10
    [ "$variant" = irnet-tuned ] && t_min=$tuned_min t_max=$tuned_max
    extra=()
    case $variant in *-plainhead) extra=(--plain-head) ;; esac
    suffix=""
    [ "$input" = binary ] || suffix="-$input"
    [ "$seed" = 1 ] || suffix="$suffix-s$seed"
    out="$models/mnist-$arch-$variant$suffix.xnf"
    start=$(date +%s.%N)
    log=$("$bin" train --fresh --force --dataset mnist --data "$data" --arch "$arch" --method "$method" \
      --input "$input" --lr "$lr" --dropout "$dropout" --t-min "$t_min" --t-max "$t_max" \
      --epochs "${epochs[$arch]}" --seed "$seed" "${extra[@]}" -o "$out")
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    ips=$(sed -n 's/.*, \([0-9]*\) training images\/s$/\1/p' <<<"$log")
    acc=$("$bin" eval "$out" --dataset mnist --data "$data" | sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p')
    case $method in irnet | irnet-ede) ;; *) t_min="" t_max="" ;; esac
    echo "mnist,$arch,$variant,$input,${epochs[$arch]},$seed,$lr,$dropout,$t_min,$t_max,$acc,$ips,$secs" | tee -a "$csv"
  done
  done
done
