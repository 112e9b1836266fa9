"""Collapse detector on source-only fits: how far the shift alone moves it.

The collapse detector (``keras_transfer.diagnostics.collapse_report``) flags
an adaptive fit whose predicted target class shares sit far from the source
class shares (total variation ≥ 0.4). A source-only model can sit there too
when the domain shift alone skews its predictions. This script fits
``DomainAdaptiveClassifier("source_only", random_state=seed)`` on a task of
``defaults.py`` and prints, per seed, the target test accuracy and the report
the estimator would compute after an adaptive fit (first 2000 unlabelled
target rows). It writes no table; the numbers are quoted in
docs/model_selection.md.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/collapse_baseline.py --task M-MM \
        --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if _SHARED.is_dir():
    os.environ.setdefault("KERAS_TRANSFER_DATA", str(_SHARED))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from defaults import tasks_for  # noqa: E402


def main(argv=None):
    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.diagnostics import collapse_report

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="M-MM")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args(argv)
    Xs, ys, Xt, Xe, ye = tasks_for([args.task])[args.task]
    for seed in (int(s) for s in args.seeds.split(",")):
        clf = DomainAdaptiveClassifier("source_only", random_state=seed)
        clf.fit((Xs, ys), Xt)
        report = collapse_report(
            clf.predict_proba(Xt[:2000]), np.searchsorted(clf.classes_, ys)
        )
        shares = report.target_class_shares
        top = ", ".join(
            f"class #{i}: {shares[i]:.0%}" for i in np.argsort(shares)[::-1][:3]
        )
        print(
            f"{args.task} source_only seed {seed}: accuracy "
            f"{100 * np.mean(clf.predict(Xe) == ye):.1f}, prediction shift "
            f"{report.prediction_shift:.2f} ({top}); would warn after an "
            f"adaptive fit: {bool(report)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
