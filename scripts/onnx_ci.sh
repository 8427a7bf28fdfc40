#!/usr/bin/env bash
# Exports a binary (numbers only, and text columns too), a multiclass (text columns, missing cells spelled every way in mixed case,
# padded cells, a category never seen) and a regression model to ONNX and checks each with
# onnx.checker (full check) and onnxruntime against `gpumlp predict` on the same raw CSV, text
# cells fed untouched (scripts/onnx_check.py). Needs python3 with onnx, onnxruntime and numpy
# (.ci/run installs them from PyPI) and a release build in ${CARGO_TARGET_DIR:-target}.
# GPUMLP_BACKEND picks the GPU as for any gpumlp command; GPUMLP_FLAGS adds flags to every
# gpumlp call (GPUMLP_FLAGS="--backend cpu" runs it without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
gpumlp=${CARGO_TARGET_DIR:-target}/release/gpumlp
read -r -a flags <<<"${GPUMLP_FLAGS:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/messy_csv.py "$work/messy.csv" 400 1
python3 scripts/messy_csv.py "$work/unseen.csv" 200 2
check() { # name, training csv, target, csv to predict
  local name=$1 data=$2 target=$3 rows=$4
  "$gpumlp" ${flags[@]+"${flags[@]}"} train "$data" --target "$target" --epochs 60 -q --out "$work/$name.safetensors" >/dev/null
  "$gpumlp" ${flags[@]+"${flags[@]}"} export "$work/$name.safetensors" --out "$work/$name.onnx" -q
  "$gpumlp" ${flags[@]+"${flags[@]}"} predict "$work/$name.safetensors" "$rows" --out "$work/$name.csv" -q
  python3 scripts/onnx_check.py "$work/$name.onnx" "$rows" "$work/$name.csv" || failed=1
}
failed=0
check binary examples/data/breast_cancer.csv malignant examples/data/breast_cancer.csv
check binary-text "$work/messy.csv" sale "$work/unseen.csv"
check multiclass "$work/messy.csv" animal "$work/unseen.csv"
check regression "$work/messy.csv" price "$work/unseen.csv"
exit $failed
