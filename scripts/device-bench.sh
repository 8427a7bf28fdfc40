#!/usr/bin/env bash
# gpumlp on whatever adapter this machine has, from binaries built elsewhere: `gpumlp check`,
# the integration tests, README's main job and its 5-fold cv (GPU and `--backend cpu`), and
# `bench --json --large` (the full benchmark, its workloads, and each matmul form at 4096³).
# Writes OUT/summary.txt (one line a step, and the figures) beside each step's output; needs
# no network and no Rust toolchain. The Vulkan loader comes from target/device/ when the
# machine that built the binaries put it there (`--stage`), else from the system.
#
#   cargo build --release --bins && cargo test --release --no-run
#   scripts/device-bench.sh --stage      # here: copy this machine's libvulkan.so.1 beside them
#   scripts/device-bench.sh [OUT]        # there, from the repository root (OUT: device-out)
#
# GPUMLP_BIN (target/release) and GPUMLP_TESTS (the newest target/release/deps/it-*) say where
# the binaries are; GPUMLP_BACKEND picks the backend (vulkan unless set).
set -u
carried=target/device
if [ "${1:-}" = "--stage" ]; then
  mkdir -p "$carried"
  loader=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')
  [ -n "$loader" ] || { echo "no libvulkan.so.1 on this machine to stage" >&2; exit 1; }
  cp -L "$loader" "$carried/libvulkan.so.1" && echo "staged $loader in $carried/"
  exit 0
fi
if [ -f "$carried/libvulkan.so.1" ]; then
  export LD_LIBRARY_PATH="$PWD/$carried${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
out=${1:-device-out}
mkdir -p "$out"
bin=${GPUMLP_BIN:-target/release}
tests=${GPUMLP_TESTS:-$(ls -t target/release/deps/it-* 2>/dev/null | grep -v '\.d$' | head -1)}
export GPUMLP_BACKEND=${GPUMLP_BACKEND:-vulkan}
export GPUMLP_CACHE_DIR=${GPUMLP_CACHE_DIR:-$out/cache}
data=examples/data/breast_cancer.csv
summary=$out/summary.txt
: >"$summary"

# step NAME LIMIT_S COMMAND...: runs it with a time limit, stdout and stderr to OUT/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "$name: rc=$rc, $((SECONDS - t0)) s" | tee -a "$summary"
  return $rc
}

# train_seconds of README's main job, three runs, on BACKEND.
main_job() {
  for _ in 1 2 3; do
    "$bin/gpumlp" train "$data" --target malignant --patience 0 --json -q \
      --out "$out/main.safetensors" --backend "$1" | grep -o '"train_seconds":[0-9.e-]*'
  done
}

step check 240 "$bin/gpumlp" check --json
grep -o '"adapter":"[^"]*"' "$out/check.log" | head -1 | tee -a "$summary"
grep -o '"passed":[a-z]*' "$out/check.log" | head -1 | tee -a "$summary"
if [ -n "$tests" ]; then
  # The allocation counters bounded:: reads are the whole binary's: it runs alone.
  step tests 300 "$tests" --test-threads=8 --skip bounded::
  step tests_bounded 120 "$tests" --test-threads=1 bounded::
  grep -hE '^test result|FAILED|panicked' "$out/tests.log" "$out/tests_bounded.log" |
    head -20 | tee -a "$summary"
fi
export -f main_job
export bin data out
step main_gpu 120 bash -c 'main_job "$0"' "$GPUMLP_BACKEND"
step main_cpu 60 bash -c 'main_job "$0"' cpu
echo "main job, GPU: $(tr '\n' ' ' <"$out/main_gpu.log")" | tee -a "$summary"
echo "main job, CPU: $(tr '\n' ' ' <"$out/main_cpu.log")" | tee -a "$summary"
for backend in "$GPUMLP_BACKEND" cpu; do
  step "cv_$backend" 120 "$bin/gpumlp" cv "$data" --target malignant --patience 0 --folds 5 \
    --json -q --backend "$backend"
  echo "cv 5 folds, $backend: $(grep -o '"train_seconds":[0-9.e-]*' "$out/cv_$backend.log")" |
    tee -a "$summary"
done
step bench 600 "$bin/bench" --json --large
tail -c 2000 "$out/bench.log" | grep -v '^{' | tail -5 | tee -a "$summary"
