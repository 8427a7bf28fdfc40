#!/usr/bin/env python3
"""Checks an ONNX model exported by `gpumlp export` against `gpumlp predict`.

    onnx_check.py MODEL.onnx DATA.csv PREDICTIONS.csv

MODEL.onnx goes through onnx.checker (full check, with shape inference), then onnxruntime runs
it on the raw columns of DATA.csv, read as a user would feed them: numeric columns as float
([N, 1], NaN for a missing cell), text columns as string ([N, 1], "" for a missing cell), the
spellings of a missing cell being gpumlp's (empty, NA, N/A, NaN, null, None, ?). Every row's
probabilities must equal PREDICTIONS.csv (written by `gpumlp predict`) within 1e-5, every value
within 1e-5 of its magnitude (f32 holds 7 digits: a regression in the hundreds differs in the
last one), and every label must be the same. Exits 1 on any difference.
"""
import csv
import json
import math
import sys

import numpy as np
import onnx
import onnx.checker
import onnxruntime as ort

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
TOLERANCE = 1e-5


def main(model_path, data_path, predictions_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    columns = json.loads(meta["gpumlp.columns"])
    task = meta["gpumlp.task"]

    with open(data_path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    feeds = {}
    for column in columns:
        c = header.index(column["name"])
        cells = [r[c].strip() if c < len(r) else "" for r in body]
        if column["type"] == "float":
            values = [math.nan if v.lower() in MISSING else float(v) for v in cells]
            feeds[column["name"]] = np.array(values, dtype=np.float32).reshape(-1, 1)
        else:
            values = ["" if v.lower() in MISSING else v for v in cells]
            feeds[column["name"]] = np.array(values, dtype=object).reshape(-1, 1)

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, feeds)))

    with open(predictions_path, newline="") as f:
        predicted = list(csv.DictReader(f))
    assert len(predicted) == len(body), f"{len(predicted)} predictions for {len(body)} rows"
    worst = 0.0
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
                sys.exit(f"row {i + 1}: ONNX label {label!r}, gpumlp predict {want['prediction']!r}")
        for g, e in zip(got, expect):
            err = abs(g - e) / (max(1.0, abs(e)) if task == "regression" else 1.0)
            worst = max(worst, err)
            if not err <= TOLERANCE:
                sys.exit(f"row {i + 1}: ONNX {got}, gpumlp predict {expect} (|diff| {err:.3g})")
    print(f"{model_path}: onnx.checker full check passed; onnxruntime {ort.__version__} equals "
          f"gpumlp predict on {len(body)} rows (largest {'relative ' if task == 'regression' else ''}|diff| {worst:.2e}, task {task})")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
