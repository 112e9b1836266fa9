"""Strategies under a target label shift: what the class-balance term costs.

The class-balance term of the adversarial strategies (``diversity``) pushes
the mean target prediction towards uniform, so it assumes roughly balanced
target classes. This script measures what it costs when they are not: for
each task of ``defaults.py`` the *target* rows are subsampled with their
labels (only to build the shifted task; nothing is chosen with them) so that
the upper half of the classes keeps 25 % of its rows, i.e. 80 / 20 on the
two Amazon classes (the digits: the lower five classes hold ~86 % of the
rows). Every row is ``DomainAdaptiveClassifier(name, random_state=seed)``
with the row's strategy parameters, fitted on the source rows and the
shifted target rows and scored on those same target rows (transductive). On
Amazon the shifted rows come from the target *test* split, whose labels the
loader keeps. It prints one line per task and seed and writes no table; the
numbers are quoted in docs/strategies/mcd.md and wdgrl.md.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/label_shift.py --tasks B-E,M-U \
        --seeds 0,1 --rows "source_only,mcd[diversity=0.0],mcd"
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if _SHARED.is_dir():
    os.environ.setdefault("KERAS_TRANSFER_DATA", str(_SHARED))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from defaults import run_cell, split_rows, tasks_for  # noqa: E402

DIGITS = ("M-U", "U-M")


def shifted(X, y, keep: float, seed: int = 123):
    """Every row of the lower half of the classes, ``keep`` of the upper half."""
    classes = np.unique(y)
    upper = classes[len(classes) // 2 :]
    rng = np.random.default_rng(seed)
    rows = ~np.isin(y, upper) | (rng.random(len(y)) < keep)
    return X[rows], y[rows]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="B-E,D-B,E-K,K-D,M-U")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--rows", default="source_only,mcd[diversity=0.0],mcd")
    p.add_argument("--keep", type=float, default=0.25)
    args = p.parse_args(argv)
    rows = split_rows(args.rows)
    for name, (Xs, ys, Xt, Xe, ye) in tasks_for(args.tasks.split(",")).items():
        # digits: the target set is also the test set; Amazon: the test split
        Xt, yt = shifted(Xt if name in DIGITS else Xe, ye, args.keep)
        shares = np.round(np.bincount(yt) / len(yt), 2).tolist()
        task = (Xs, ys, Xt, Xt, yt)  # scored on the shifted target rows themselves
        for seed in (int(s) for s in args.seeds.split(",")):
            out = {row: round(run_cell(row, seed, task)["acc"], 1) for row in rows}
            print(
                f"[{time.strftime('%H:%M:%S')}] {name} seed {seed}, target class "
                f"shares {shares}: {out}",
                flush=True,
            )


if __name__ == "__main__":
    main()
