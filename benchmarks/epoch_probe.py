"""Development probe: a strategy's target accuracy after every epoch.

For analysis only, never for choosing a default: after each epoch of
``DomainAdaptiveClassifier(name, random_state=seed, **params)`` it prints the
accuracy on (up to) 2000 target *test* rows, on 1000 source rows, the total
variation distance between the predicted target class shares and the
uniform shares (the collapse detector's signal on class-balanced data), and
the epoch's mean task and adaptation losses. Then the final accuracy on all
target test rows and the mean over the second half of the epochs (one final
epoch says little where the accuracy swings from epoch to epoch, as on
MNIST→MNIST-M-like). Tasks are those of ``defaults.py``.

A row is ``name`` or ``name[param=value;...]`` with estimator parameters
(values are Python literals), e.g. ``wdgrl[adaptation_weight=0.0]`` or
``mcd[strategy_params={'units':(1024,1024)}]``.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/epoch_probe.py --task M-MM --seed 0 \
        --rows "source_only,wdgrl,wdgrl[adaptation_weight=0.0]"
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
from defaults import tasks_for  # noqa: E402
from shot import parse_row, split_rows  # noqa: E402


class EpochProbe(keras.callbacks.Callback):
    """Prints target/source accuracy and the predicted-share shift per epoch."""

    def __init__(self, Xs, ys, Xe, ye, classes):
        super().__init__()
        self.Xs, self.Xe = Xs[:1000], Xe[:2000]
        self.ys = np.searchsorted(classes, ys[:1000])
        self.ye = np.searchsorted(classes, ye[:2000])
        self.k = len(classes)
        self.accs: list[float] = []

    def _predict(self, X):
        out = self.model.predict(X, verbose=0, batch_size=500)
        return np.asarray(out["logits"]).argmax(-1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        pt, ps = self._predict(self.Xe), self._predict(self.Xs)
        acc = 100 * float(np.mean(pt == self.ye))
        shares = np.bincount(pt, minlength=self.k) / len(pt)
        shift = 0.5 * float(np.abs(shares - 1.0 / self.k).sum())
        self.accs.append(acc)
        print(
            f"  epoch {epoch:2d}  target {acc:5.1f}  source "
            f"{100 * np.mean(ps == self.ys):5.1f}  shift {shift:.2f}  task "
            f"{logs.get('task_loss', 0):.3f}  adaptation "
            f"{logs.get('adaptation_loss', 0):.3f}",
            flush=True,
        )


def main(argv=None):
    from keras_transfer import DomainAdaptiveClassifier

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="M-MM")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", default="source_only")
    args = p.parse_args(argv)
    Xs, ys, Xt, Xe, ye = tasks_for([args.task])[args.task]
    for row in split_rows(args.rows):
        name, params = parse_row(row)
        start = time.time()
        probe = EpochProbe(Xs, ys, Xe, ye, np.unique(ys))
        clf = DomainAdaptiveClassifier(
            name, random_state=args.seed, callbacks=[probe], **params
        )
        clf.fit((Xs, ys), Xt)
        final = 100 * float(np.mean(clf.predict(Xe) == ye))
        late = float(np.mean(probe.accs[len(probe.accs) // 2 :]))
        print(
            f"{args.task} {row} seed {args.seed}: final {final:.1f}, mean of the "
            f"second half of the epochs {late:.1f} ({time.time() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
