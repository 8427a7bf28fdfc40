#!/usr/bin/env bash
# Exports a binary, a multiclass (text columns, missing cells, a category never seen) and a
# regression model to ONNX and checks each with onnx.checker (full check) and onnxruntime
# against `gpumlp predict` on the same raw CSV (scripts/onnx_check.py). Needs python3 with
# onnx, onnxruntime and numpy (.ci/run installs them from PyPI) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
gpumlp=target/release/gpumlp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/messy_csv.py "$work/messy.csv" 400 1
python3 scripts/messy_csv.py "$work/unseen.csv" 200 2
check() { # name, training csv, target, csv to predict
  local name=$1 data=$2 target=$3 rows=$4
  "$gpumlp" train "$data" --target "$target" --epochs 60 -q --out "$work/$name.safetensors" >/dev/null
  "$gpumlp" export "$work/$name.safetensors" --out "$work/$name.onnx" -q
  "$gpumlp" predict "$work/$name.safetensors" "$rows" --out "$work/$name.csv" -q
  python3 scripts/onnx_check.py "$work/$name.onnx" "$rows" "$work/$name.csv"
}
check binary examples/data/breast_cancer.csv malignant examples/data/breast_cancer.csv
check multiclass "$work/messy.csv" animal "$work/unseen.csv"
check regression "$work/messy.csv" price "$work/unseen.csv"
