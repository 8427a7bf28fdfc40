#!/usr/bin/env bash
# Peak memory of `gpumlp train` streaming a CSV ten times --max-memory (issue 22's bound:
# under 2 × --max-memory + 300 MiB), beside the peak of the same train on a small file read
# whole (what the driver, its compiled shaders and wgpu hold whatever the data).
#
#   scripts/streamed_peak.sh [MAX_MEMORY_MIB (64)] [EPOCHS (2)]
#
# Needs python3 (standard library) to write the data and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-64}
epochs=${2:-2}
gpumlp=${GPUMLP:-target/release/gpumlp}
[[ -x $gpumlp ]] || cargo build --release --bin gpumlp
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# 30 numbers (one cell in 61 missing), a category and a binary label, until the file holds
# ten times the bound.
python3 - "$dir/big.csv" $((mib * 10 << 20)) <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
with open(path, "w") as f:
    f.write(",".join(f"x{i}" for i in range(30)) + ",colour,label\n")
    r = 0
    while f.tell() < size:
        lines = []
        for _ in range(10000):
            v = [rng.gauss(0, 1) for _ in range(30)]
            colour = ("red", "green", "blue", "amber")[r % 4]
            label = "pos" if v[0] - v[1] + 0.5 * v[2] + (0.4 if r % 4 == 0 else 0) > 0 else "neg"
            cells = ["" if (r + i) % 61 == 0 else f"{x:.5f}" for i, x in enumerate(v)]
            lines.append(",".join(cells) + f",{colour},{label}\n")
            r += 1
        f.write("".join(lines))
PY
head -2001 "$dir/big.csv" > "$dir/small.csv"
bytes=$(stat -c %s "$dir/big.csv")
rows=$(($(wc -l < "$dir/big.csv") - 1))

peak() { # peak RSS in KiB of a command
  /usr/bin/time -f '%M' -o "$dir/peak" "$@" > "$dir/out.json"
  cat "$dir/peak"
}
small=$(peak "$gpumlp" train "$dir/small.csv" --target label --epochs "$epochs" --patience 0 \
  --out "$dir/small.safetensors" --json)
start=$(date +%s%N)
big=$(peak "$gpumlp" train "$dir/big.csv" --target label --epochs "$epochs" --patience 0 \
  --max-memory "${mib}MiB" --out "$dir/big.safetensors" --json)
nanos=$(($(date +%s%N) - start))
python3 - "$dir/out.json" "$bytes" "$rows" "$mib" "$big" "$small" "$nanos" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
bytes_, rows, mib, big, small, seconds = (int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                          int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]) / 1e9)
bound = 2 * mib + 300
print(f"adapter: {report['adapter']}")
print(f"data: {bytes_ / 2**20:.0f} MiB CSV ({rows} rows × {report['columns']} columns), "
      f"{bytes_ / (mib << 20):.1f} × --max-memory {mib}MiB; streamed: {report['streamed']}")
print(f"peak RSS streamed: {big / 1024:.0f} MiB (bound 2 × {mib} + 300 = {bound} MiB): "
      f"{'within' if big / 1024 < bound else 'OVER'}")
print(f"peak RSS of a 2,000-row train read whole (driver, shaders, wgpu): {small / 1024:.0f} MiB")
print(f"{report['epochs']} epochs: training loop {report['samples_per_sec']:.0f} rows/s, "
      f"whole run {seconds:.1f} s; validation accuracy {report['metrics']['accuracy']:.4f}")
sys.exit(0 if big / 1024 < bound and report["streamed"] else 1)
PY
