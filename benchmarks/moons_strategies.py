"""Every strategy against source-only on rotated moons (a quick sanity table).

Target accuracy (transductive: the unlabelled target rows themselves) of
:class:`keras_transfer.DomainAdaptiveClassifier` with its defaults (MLP
64-64, 20 epochs, batch 64 per domain, Adam 1e-3, λ = 1 on the "ganin"
ramp), make_rotated_moons(500, 500, angle=30), one row per strategy, mean ±
std over seeds. AdaBN needs BatchNorm: it and its own source-only reference
use the same MLP with a BatchNorm layer after each Dense (the reference is
also shown with exact source BatchNorm statistics, since Keras's moving
averages lag after few steps). Nothing is tuned on target labels.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/moons_strategies.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def bn_mlp(input_shape):
    import keras

    inputs = keras.Input(tuple(input_shape))
    x = inputs
    for _ in range(2):
        x = keras.layers.Dense(64)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    return keras.Model(inputs, x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--angle", type=float, default=30.0)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument(
        "--strategies",
        default="source_only,dann,mmd,coral,wdgrl,cdan,cdan+e,mcc,entropy,"
        "distill,adapter,adabn",
    )
    args = parser.parse_args()

    import keras

    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.datasets import make_rotated_moons
    from keras_transfer.strategies.adabn import reestimate_batchnorm

    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name in args.strategies.split(","):
        runs = [(name, {}, "")]
        if name == "adabn":
            # Its references: the same BatchNorm MLP trained on the source, with
            # Keras's moving averages (they lag after few steps) and with exact
            # source statistics (so only the domain of the statistics differs).
            bn = {"backbone": bn_mlp}
            runs = [
                ("source_only", bn, " (BN MLP)"),
                ("source_only", bn, " (BN MLP, exact source BN stats)"),
                (name, bn, " (BN MLP)"),
            ]
        for strategy, kwargs, label in runs:
            accs, start = [], time.perf_counter()
            for seed in seeds:
                Xs, ys, Xt, yt = make_rotated_moons(
                    args.n, args.n, angle=args.angle, random_state=seed
                )
                clf = DomainAdaptiveClassifier(strategy, random_state=seed, **kwargs)
                clf.fit((Xs, ys), Xt)
                if "exact" in label:
                    reestimate_batchnorm(clf.model_, Xs)
                accs.append(100 * float(np.mean(clf.predict(Xt) == yt)))
            label = strategy + label
            seconds = (time.perf_counter() - start) / len(seeds)
            rows.append((label, np.mean(accs), np.std(accs), accs, seconds))
            print(f"{label:24s} {np.mean(accs):5.1f} ± {np.std(accs):4.1f}", flush=True)

    print(
        f"\nrotated moons, {args.n}+{args.n} points, {args.angle:g}°, seeds {seeds}, "
        f"backend {keras.backend.backend()}\n"
    )
    print("| strategy | target accuracy (%) | per seed | s / fit |")
    print("|---|---|---|---|")
    for label, mean, std, accs, seconds in rows:
        per_seed = ", ".join(f"{a:.1f}" for a in accs)
        print(f"| {label} | {mean:.1f} ± {std:.1f} | {per_seed} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
