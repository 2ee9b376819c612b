#!/usr/bin/env bash
# Quality figures of `ferrograd regress` for the README: on the built-in
# synthetic rollouts (noise sd 0.05, 5% gross outliers of +2 to +5), the
# test RMSE against the noiseless truth (50 x 50 grid) of each
# reconstruction loss, and the mean input-gradient norm with and without the
# gradient penalty. Usage: [SEED=42] scripts/regress-quality.sh [EPOCHS] [OUT_DIR]
set -euo pipefail
epochs=${1:-2000}
out=${2:-runs/regress-quality}
bin=${FERROGRAD:-target/release/ferrograd}
mkdir -p "$out"
common=(regress train --quiet --no-plot --overwrite --max-epochs "$epochs" --synthetic-rows 4096 --random-seed "${SEED:-42}")
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
echo "loss,grad_weight,truth_rmse,valid_rmse,mean_grad_norm"
for loss in mse huber cauchy welsch geman-mcclure tukey; do
  "$bin" "${common[@]}" --recon-type "$loss" --out "$out/$loss" > /dev/null
  e="$out/$loss/eval.json"
  echo "$loss,0.01,$(field "$e" truth_rmse),$(field "$e" valid_rmse),$(field "$e" mean_grad_norm)"
done
for gw in 0 0.1; do
  "$bin" "${common[@]}" --recon-type huber --grad-weight "$gw" --out "$out/huber-grad$gw" > /dev/null
  e="$out/huber-grad$gw/eval.json"
  echo "huber,$gw,$(field "$e" truth_rmse),$(field "$e" valid_rmse),$(field "$e" mean_grad_norm)"
done
