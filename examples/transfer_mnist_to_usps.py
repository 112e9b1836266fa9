"""Transfer learning, the article's flow, in Keras 3: MNIST -> USPS.

1. pretrain a small CNN on one 10-class task (the 15,000 MNIST digits);
2. transfer its feature extractor to another task (USPS digits, with only a
   few labels per class) under a new head;
3. fine-tune, and compare with the same network trained from scratch and with
   the frozen features (feature extraction).

USPS digits fill their 16x16 frame while MNIST digits sit in a 20x20 box
centred in 28x28: ``resize_images(X, 20, pad=4)`` frames USPS like MNIST, the
preprocessing that makes the transfer work.

Run (data from ../shared/data, or $KERAS_TRANSFER_DATA)::

    KERAS_BACKEND=jax python examples/transfer_mnist_to_usps.py
    KERAS_BACKEND=jax python examples/transfer_mnist_to_usps.py --labels 5 --quick
"""

from __future__ import annotations

import argparse
import os
import pathlib

import keras
import numpy as np

from keras_transfer import TransferClassifier
from keras_transfer.datasets import load_mnist, load_usps, resize_images

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels", type=int, default=10, help="USPS labels per class")
    p.add_argument("--quick", action="store_true", help="5,000 MNIST digits, 1 epoch")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data_dir = os.environ.get("KERAS_TRANSFER_DATA") or (
        str(SHARED) if SHARED.is_dir() else None
    )

    # The source task: MNIST digits (28x28), 10 classes.
    Xs, ys = load_mnist("5k" if args.quick else "all", data_dir)
    # The target task: USPS, framed like MNIST; a few labels per class.
    Xu, yu = load_usps("train", data_dir)
    Xu_test, yu_test = load_usps("test", data_dir)
    Xu, Xu_test = resize_images(Xu, 20, pad=4), resize_images(Xu_test, 20, pad=4)
    rng = np.random.default_rng(args.seed)
    idx = np.concatenate(
        [
            rng.choice(np.flatnonzero(yu == c), args.labels, replace=False)
            for c in range(10)
        ]
    )
    Xt, yt = Xu[idx], yu[idx]
    print(f"source: {len(ys)} MNIST digits; target: {len(yt)} labelled USPS digits")

    # 1 + 2 + 3: pretrain on MNIST, transfer, fine-tune on USPS.
    steps = dict(epochs=4, steps_per_epoch=50, random_state=args.seed)
    clf = TransferClassifier(
        "fine_tune",
        backbone="cnn",
        backbone_params={"filters": (8, 16), "units": 64},
        pretrain_epochs=1 if args.quick else 2,
        batch_size=64,
        **steps,
    )
    clf.fit(source=(Xs, ys), target=(Xt, yt))
    print(
        f"held-out MNIST accuracy of the source model: {clf.source_score_before_:.3f}"
    )
    print(f"fine-tuned on USPS:      {clf.score(Xu_test, yu_test):.3f}")

    # The pretrained network, reused without pretraining again.
    source = clf.source_model_
    frozen = TransferClassifier("feature_extraction", source_model=source, **steps)
    print(f"feature extraction:      {frozen.fit(Xt, yt).score(Xu_test, yu_test):.3f}")

    # From scratch: the same architecture, fresh weights, same training.
    fresh = keras.models.clone_model(source)
    fresh.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    scratch = TransferClassifier("fine_tune", source_model=fresh, **steps)
    print(f"from scratch:            {scratch.fit(Xt, yt).score(Xu_test, yu_test):.3f}")


if __name__ == "__main__":
    main()
