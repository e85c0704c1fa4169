#!/usr/bin/env bash
# IR-Net against STE with each method at its own hyperparameters, chosen on a validation split:
#  1. every variant x learning rate x option set x validation seed trains on the first 50,000 MNIST
#     training images (`--holdout 10000`) and is scored on the 10,000 held out (bit-exact, golden
#     model);
#  2. each variant takes the (learning rate, option set) with the best mean validation accuracy and
#     trains on all 60,000 images for every test seed; `xnorflow eval` scores the exported file on
#     the test split.
# The test split is never used to choose anything. Two one-thread runs go side by side.
# Writes OUT_DIR/irnet_vs_ste_ARCH_validation.csv and OUT_DIR/irnet_vs_ste_ARCH.csv, and prints a summary
# (scripts/seed_summary.awk): mean and sample standard deviation per variant, and each variant's
# mean paired difference to STE over the same seeds with its standard error.
# Usage: scripts/irnet_vs_ste.sh [MNIST_DIR] [OUT_DIR]
# env: ARCH (tfc), EPOCHS (20), VARIANTS ("ste irnet-libra irnet-ede irnet irnet-plainhead"),
#      LRS ("3e-3 1e-2 3e-2 1e-1"), VAL_SEEDS ("1 2"), TEST_SEEDS ("1 2 3 4 5 6 7 8 9 10"),
#      DROPOUT (0.1), JOBS (2), XNORFLOW (a prebuilt binary), PHASES ("val test"; "test" reuses the
#      validation CSV already in OUT_DIR and runs step 2 only, "val" runs step 1 only), TAG (suffix of the CSV names),
#      OPTS_<variant, '-' as '_'> (the variant's option sets, space-separated; within a set the
#      options are joined by ';' as --name=value; '-' is the empty set; default "-"), e.g.
#      OPTS_irnet="- --t-min=1;--t-max=1 --dropout=0.2" (a set's --dropout replaces DROPOUT),
#      LRS_<variant> (the variant's learning rates, default LRS).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/mnist}
out=${2:-results}
arch=${ARCH:-tfc}
epochs=${EPOCHS:-20}
variants=${VARIANTS:-ste irnet-libra irnet-ede irnet irnet-plainhead}
lrs=${LRS:-3e-3 1e-2 3e-2 1e-1}
val_seeds=${VAL_SEEDS:-1 2}
test_seeds=${TEST_SEEDS:-1 2 3 4 5 6 7 8 9 10}
dropout=${DROPOUT:-0.1}
[ -n "${XNORFLOW:-}" ] || cargo build --release --bin xnorflow -q
export XNORFLOW=${XNORFLOW:-target/release/xnorflow} RAYON_NUM_THREADS=1 DATA=$data ARCH=$arch EPOCHS=$epochs DROPOUT=$dropout
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR_RUNS=$tmp

# One run: PHASE (val|test) VARIANT LR OPTS SEED -> one CSV row in $TMPDIR_RUNS.
run() {
  local phase=$1 variant=$2 lr=$3 opts=$4 seed=$5 extra=() dropout=$DROPOUT
  local method=${variant%-plainhead}
  [ "$method" = "$variant" ] || extra+=(--plain-head)
  [ "$phase" = val ] && extra+=(--holdout 10000)
  if [ "$opts" != - ]; then
    local o set
    IFS=';' read -ra set <<<"$opts"
    for o in "${set[@]}"; do
      case $o in --dropout=*) dropout=${o#--dropout=} ;; *) extra+=("$o") ;; esac
    done
  fi
  local id=$phase-$variant-$lr-${opts//[;=]/_}-$seed
  local model=$TMPDIR_RUNS/$id.xnf log acc
  log=$("$XNORFLOW" train --fresh --force --dataset mnist --data "$DATA" --arch "$ARCH" --method "$method" \
    --input fixed8 --lr "$lr" --dropout "$dropout" --epochs "$EPOCHS" --seed "$seed" "${extra[@]}" -o "$model")
  if [ "$phase" = val ]; then
    acc=$(sed -n 's/^validation accuracy \([0-9.]*\)%.*/\1/p' <<<"$log")
  else
    acc=$("$XNORFLOW" eval "$model" --dataset mnist --data "$DATA" | sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p')
  fi
  [ -n "$acc" ] || { echo "no accuracy from $phase $variant lr $lr options $opts seed $seed" >&2; return 1; }
  echo "mnist,$ARCH,$variant,fixed8,$EPOCHS,$seed,$lr,$dropout,$acc,$opts" | tee "$TMPDIR_RUNS/$id.csv"
}
export -f run

# Mean of column 9 per key of the columns named in $1 (awk field list), sorted by key.
means() { awk -F, -v keys="$1" '{ split(keys, k, " "); key = $k[1]; for (i = 2; i in k; i++) key = key "," $k[i];
  s[key] += $9; n[key]++ } END { for (x in s) printf "%s,%.4f\n", x, s[x] / n[x] }' | sort; }

# A variant's option sets (OPTS_<variant>) and learning rates (LRS_<variant>).
opts_of() { local name=OPTS_${1//-/_}; echo "${!name:--}"; }
lrs_of() { local name=LRS_${1//-/_}; echo "${!name:-$lrs}"; }

header="dataset,arch,method,input,epochs,seed,lr,dropout"
name=irnet_vs_ste_$arch${TAG:-}
phases=${PHASES:-val test}
if [[ $phases == *val* ]]; then
  for v in $variants; do for lr in $(lrs_of "$v"); do for o in $(opts_of "$v"); do for s in $val_seeds; do
    echo "val $v $lr $o $s"; done; done; done; done | xargs -P "${JOBS:-2}" -L 1 bash -c 'run "$@"' _
  { echo "$header,validation_accuracy,options"; cat "$tmp"/val-*.csv | sort -t, -k3,3 -k7,7g -k10,10 -k6,6n; } > "$out/${name}_validation.csv"
fi

# Each variant's best "lr opts" by mean validation accuracy (older CSVs have no options column).
declare -A best
while IFS=, read -r variant lr opts acc; do
  if [ -z "${best[$variant]:-}" ] || awk -v a="$acc" -v b="${best[$variant]#*:}" 'BEGIN { exit !(a > b) }'; then
    best[$variant]="$lr ${opts:--}:$acc"
  fi
done < <(tail -n +2 "$out/${name}_validation.csv" | means "3 7 10")
for v in $variants; do echo "$v: lr, options ${best[$v]%:*} (mean validation accuracy ${best[$v]#*:}%)"; done
[[ $phases == *test* ]] || exit 0

for v in $variants; do for s in $test_seeds; do echo "test $v ${best[$v]%:*} $s"; done; done |
  xargs -P "${JOBS:-2}" -L 1 bash -c 'run "$@"' _
{ echo "$header,test_accuracy,options"; cat "$tmp"/test-*.csv | sort -t, -k3,3 -k6,6n; } > "$out/$name.csv"

echo "test accuracy over seeds $test_seeds:"
awk -F, -v col=9 -v methods="$variants" -f scripts/seed_summary.awk "$out/$name.csv"
echo "wrote $out/${name}_validation.csv and $out/$name.csv"
