"""The development runs behind DANN's recipe (issue 12), as one script.

Two small ablations, target accuracy printed per seed (no table is written;
docs/strategies/dann.md quotes the numbers):

* ``--task digits``: MNIST→USPS (2000/1800 protocol, 16x16), the default CNN,
  15 epochs, λ = 1: the discriminator 64-64, 1024-1024, 1024-1024 with
  dropout 0.5, against source-only;
* ``--task moons``: rotated moons (500 + 500 rows, 30°), the estimator's
  defaults, DANN at λ ∈ {1, 0.3, 0.1}, against source-only.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/dann_recipe.py --task digits --seeds 0
    KERAS_BACKEND=jax python3 benchmarks/dann_recipe.py --task moons --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if _SHARED.is_dir():
    os.environ.setdefault("KERAS_TRANSFER_DATA", str(_SHARED))

import numpy as np  # noqa: E402

DIGITS = {
    "source_only": {"strategy": "source_only"},
    "dann 64-64": {"strategy_params": {"units": (64, 64), "dropout": 0.0}},
    "dann 1024-1024": {"strategy_params": {"dropout": 0.0}},
    "dann 1024-1024 + dropout 0.5 (default)": {},
}
MOONS = {
    "source_only": {"strategy": "source_only"},
    "dann λ=1": {"adaptation_weight": 1.0},
    "dann λ=0.3": {"adaptation_weight": 0.3},
    "dann λ=0.1 (default for vectors)": {},
}


def main(argv=None):
    from keras_transfer import DomainAdaptiveClassifier

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=("digits", "moons"), default="moons")
    p.add_argument("--seeds", default="0")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.task == "digits":
        from keras_transfer.datasets import load_mnist_usps_protocol

        Xs, ys, Xt, yt = load_mnist_usps_protocol("mnist_to_usps")
        Xs, Xt = Xs[..., None], Xt[..., None]
        rows, base = DIGITS, {"backbone": "cnn", "epochs": 15, "adaptation_weight": 1}
    else:
        from keras_transfer.datasets import make_rotated_moons

        Xs, ys, Xt, yt = make_rotated_moons(500, 500, angle=30, random_state=0)
        rows, base = MOONS, {}
    for name, params in rows.items():
        start, accs = time.perf_counter(), []
        for seed in seeds:
            settings = {"strategy": "dann", **base, **params}
            clf = DomainAdaptiveClassifier(random_state=seed, **settings)
            accs.append(100 * float(np.mean(clf.fit((Xs, ys), Xt).predict(Xt) == yt)))
        print(
            f"{args.task} {name:40s} {np.mean(accs):5.1f}  per seed "
            + ", ".join(f"{a:.1f}" for a in accs)
            + f"  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
