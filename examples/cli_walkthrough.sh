#!/usr/bin/env bash
# A walk through the keras-transfer command line, on files it writes itself.
#
#   bash examples/cli_walkthrough.sh [WORKDIR]
#
# 1. the demo (no download), 2. fit on CSV files, 3. predict, 4. evaluate,
# 5. the same with NPZ files and another strategy, 6. what the errors look like,
# 7. the benchmarks. Set KERAS_BACKEND (or pass --backend) to pick the backend.
set -euo pipefail

WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
cd "$WORK"
echo "working in $WORK"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"

echo "== 1. demo: source-only vs DANN on rotated moons, table + PNG"
keras-transfer demo --verbose 2 --out demo.png

echo "== 2. write CSV and NPZ files: labelled source, unlabelled target"
python - <<'PY'
import numpy as np
from keras_transfer.datasets import make_rotated_moons

Xs, ys, Xt, yt = make_rotated_moons(1000, 1000, angle=30, random_state=0)
np.savetxt("source.csv", np.c_[Xs, ys], delimiter=",", header="x1,x2,label",
           comments="", fmt="%.6g")
np.savetxt("target.csv", Xt, delimiter=",", header="x1,x2", comments="", fmt="%.6g")
np.savetxt("target_labelled.csv", np.c_[Xt, yt], delimiter=",",
           header="x1,x2,label", comments="", fmt="%.6g")
np.savez("source.npz", X=Xs, y=ys)
np.savez("target.npz", X=Xt)
PY

echo "== 3. fit DANN on the CSV files (progress bars), save the model"
keras-transfer fit source.csv target.csv --strategy dann --epochs 10 \
    --batch-size 128 --seed 0 -o dann.pkl

echo "== 4. predict (with class probabilities) and evaluate"
keras-transfer predict dann.pkl target.csv --proba -o predictions.csv
head -n 4 predictions.csv
keras-transfer evaluate dann.pkl target_labelled.csv

echo "== 5. NPZ files, CORAL with a smaller weight, one line per epoch"
keras-transfer fit source.npz target.npz --strategy coral --adaptation-weight 0.5 \
    --epochs 10 --seed 0 --verbose 2 -o coral.pkl
keras-transfer evaluate coral.pkl target_labelled.csv

echo "== 6. errors are one line and exit status 2"
keras-transfer fit source.csv missing.csv || echo "exit status $?"
keras-transfer fit source.csv target.csv --strategy danm || echo "exit status $?"

echo "== 7. strategies and benchmarks"
keras-transfer strategies
keras-transfer benchmark --list
