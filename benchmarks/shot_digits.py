"""SHOT from a source-only model on MNIST→USPS, without the source rows.

A quick check of SHOTClassifier (issue 15), not the full floor protocol:
the source model is ``DomainAdaptiveClassifier("source_only")`` with the
digits setting of ``benchmarks/strategies.py`` (``--epochs``, default 5 to
keep it short); SHOT then adapts it from the target rows alone.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/shot_digits.py --seeds 0 --epochs 5
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


def main(argv=None) -> None:
    import strategies as bench

    from keras_transfer import DomainAdaptiveClassifier, SHOTClassifier
    from keras_transfer.datasets import load_mnist_usps_protocol

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pair", default="M-U", choices=sorted(bench.DIGIT_PAIRS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args(argv)
    Xs, ys, Xt, yt = load_mnist_usps_protocol(bench.DIGIT_PAIRS[args.pair])
    Xs, Xt = Xs[..., None], Xt[..., None]
    setting = {**bench.DIGITS_SETTING, "epochs": args.epochs}
    for seed in (int(s) for s in args.seeds.split(",")):
        t = time.time()
        src = DomainAdaptiveClassifier("source_only", random_state=seed, **setting)
        src.fit((Xs, ys), Xt)
        before = np.mean(src.predict(Xt) == yt) * 100
        shot = SHOTClassifier(src, epochs=args.epochs, random_state=seed).fit(Xt)
        after = np.mean(shot.predict(Xt) == yt) * 100
        print(
            f"{args.pair} seed {seed}: source_only {before:.1f}, shot {after:.1f} "
            f"({time.time() - t:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
