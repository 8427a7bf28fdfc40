#!/usr/bin/env python3
"""Checks an ONNX model exported by `gpumlp export` against `gpumlp predict`.

    onnx_check.py MODEL.onnx DATA.csv PREDICTIONS.csv

MODEL.onnx goes through onnx.checker (full check, with shape inference), then onnxruntime and
onnx's reference evaluator run it on the raw columns of DATA.csv, read as a user would feed
them: text columns as string ([N, 1]) exactly as the CSV holds them, untrimmed, missing
spellings and all, so the graph itself must trim them and know every spelling of a missing
cell; numeric columns as float ([N, 1]),
NaN for a missing cell (empty, NA, N/A, NaN, null, None, ? in any case, as gpumlp reads them:
turning text into numbers is the caller's side of a float input). Every row's probabilities
must equal PREDICTIONS.csv (written by `gpumlp predict`) within 1e-5, every value within 1e-5
of its magnitude (f32 holds 7 digits: a regression in the hundreds differs in the last one),
and every label must be the same. Exits 1 on any difference, after printing the largest.
"""
import csv
import json
import math
import sys

import numpy as np
import onnx
import onnx.checker
import onnxruntime as ort
from onnx.reference import ReferenceEvaluator

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
# Rust's char::is_whitespace (Unicode White_Space), what gpumlp's str::trim removes; Python's
# str.strip() also removes U+001C..U+001F, which Rust keeps.
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"
TOLERANCE = 1e-5


def main(model_path, data_path, predictions_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    print(f"{model_path}: onnx.checker full check passed")
    meta = {p.key: p.value for p in model.metadata_props}
    columns = json.loads(meta["gpumlp.columns"])
    task = meta["gpumlp.task"]

    with open(data_path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip(WHITE_SPACE) for h in rows[0]]
    body = rows[1:]
    feeds = {}
    for column in columns:
        c = header.index(column["name"])
        cells = [r[c] if c < len(r) else "" for r in body]
        if column["type"] == "float":
            cells = [v.strip(WHITE_SPACE) for v in cells]
            values = [math.nan if v.lower() in MISSING else float(v) for v in cells]
            feeds[column["name"]] = np.array(values, dtype=np.float32).reshape(-1, 1)
        else:
            # Raw: no trimming, no mapping of the missing spellings.
            feeds[column["name"]] = np.array(cells, dtype=object).reshape(-1, 1)

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    runs = [(f"onnxruntime {ort.__version__}", session.run(names, feeds))]
    # onnx's reference evaluator (numpy, Python's re for RegexFullMatch): the graph must not
    # lean on one runtime's reading of the spec.
    runs.append((f"onnx {onnx.__version__} reference evaluator", ReferenceEvaluator(model).run(names, feeds)))

    with open(predictions_path, newline="") as f:
        predicted = list(csv.DictReader(f))
    assert len(predicted) == len(body), f"{len(predicted)} predictions for {len(body)} rows"
    failed = False
    for runtime, results in runs:
        failed |= not compare(model_path, runtime, task, body, predicted, dict(zip(names, results)))
    if failed:
        sys.exit(1)


def compare(model_path, runtime, task, body, predicted, outputs):
    """Prints how far `outputs` are from gpumlp predict's; false if beyond the tolerance."""
    worst, worst_row, first, labels = 0.0, None, None, 0
    for i, want in enumerate(predicted):
        if task == "regression":
            got = [float(outputs["value"][i][0])]
            expect = [float(want["prediction"])]
        else:
            got = [float(v) for v in outputs["probabilities"][i]]
            expect = [float(want[k]) for k in want if k.startswith("p_")]
            label = outputs["label"][i][0]
            label = label.decode() if isinstance(label, bytes) else str(label)
            if label != want["prediction"]:
                labels += 1
                first = first or f"row {i + 1}: ONNX label {label!r}, gpumlp predict " \
                                 f"{want['prediction']!r}"
        for g, e in zip(got, expect):
            err = abs(g - e) / (max(1.0, abs(e)) if task == "regression" else 1.0)
            if not err <= worst:
                worst, worst_row = err, f"row {i + 1} {body[i]!r}: ONNX {got}, gpumlp predict {expect}"
            if not err <= TOLERANCE:
                first = first or f"row {i + 1}: ONNX {got}, gpumlp predict {expect} (|diff| {err:.3g})"
    kind = "relative " if task == "regression" else ""
    if first:
        print(f"{model_path}: {runtime} differs from gpumlp predict (task {task}, {len(body)} "
              f"rows): largest {kind}|diff| {worst:.3g} at {worst_row}; {labels} label(s) "
              f"differ; first difference: {first}", file=sys.stderr)
        return False
    print(f"{model_path}: {runtime} equals gpumlp predict on "
          f"{len(body)} rows (largest {kind}|diff| {worst:.2e}, task {task})")
    return True


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
