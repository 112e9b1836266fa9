"""The seed article's example: pretrain on CIFAR-10, transfer to CIFAR-100.

1. pretrain a small ResNet (``backbone="resnet"``, CIFAR-style) on the
   10-class CIFAR-10 task;
2. carry its feature extractor over to the 100-class CIFAR-100 task, under a
   new head, with a few labelled images per class;
3. compare freezing strategies (the frozen features alone, fine-tuning all of
   it, freezing the lower half, gradual unfreezing) with the same network
   trained from scratch, in one table.

Both datasets come from TensorFlow Datasets through
:func:`keras_transfer.datasets.load_tfds` (``tfds:cifar10``,
``tfds:cifar100``). The first run downloads them (about 160 MB each) into
``~/tensorflow_datasets`` (or ``--data-dir``); that needs a network and
``pip install tensorflow-datasets tensorflow-cpu``. Then::

    KERAS_BACKEND=jax python examples/cifar10_to_cifar100.py
    KERAS_BACKEND=jax python examples/cifar10_to_cifar100.py --source-rows 10000 \\
        --pretrain-epochs 2 --epochs 3            # a quicker look

The defaults (all 50,000 CIFAR-10 images, 15 pretraining epochs, 5,000
CIFAR-100 images) take tens of minutes on a CPU, a few on a GPU.
"""

from __future__ import annotations

import argparse
import time

from keras_transfer import TransferClassifier
from keras_transfer.datasets import load_tfds

STRATEGIES = ("feature_extraction", "fine_tune", "partial", "gradual")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", default="tfds:cifar10:train", help="source TFDS name")
    p.add_argument("--target", default="tfds:cifar100:train", help="target TFDS name")
    p.add_argument("--test", default="tfds:cifar100:test", help="target test set")
    p.add_argument("--source-rows", type=int, default=None, help="default: all")
    p.add_argument("--target-rows", type=int, default=5000, help="labelled targets")
    p.add_argument("--test-rows", type=int, default=None, help="default: all")
    p.add_argument("--filters", default="16,32,64", help="ResNet stage widths")
    p.add_argument("--blocks", type=int, default=1, help="residual blocks a stage")
    p.add_argument("--pretrain-epochs", type=int, default=15)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--strategies",
        default=",".join(STRATEGIES[:3]),
        help=f"comma-separated, among {', '.join(STRATEGIES)}",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", type=int, default=0, help="Keras verbosity")
    return p.parse_args(argv)


def load(name, rows, data_dir):
    return load_tfds(name, data_dir=data_dir, max_examples=rows)


def main(argv=None) -> list[tuple[str, float, float]]:
    """Run the comparison; returns the table rows ``(method, accuracy, s)``."""
    args = parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        raise SystemExit(f"unknown strategies {sorted(unknown)}; use {STRATEGIES}")
    Xs, ys = load(args.source, args.source_rows, args.data_dir)
    Xt, yt = load(args.target, args.target_rows, args.data_dir)
    Xtest, ytest = load(args.test, args.test_rows, args.data_dir)
    print(
        f"source {args.source}: {len(ys)} images, {len(set(ys.tolist()))} classes; "
        f"target {args.target}: {len(yt)} labelled images, "
        f"{len(set(yt.tolist()))} classes; test {args.test}: {len(ytest)} images"
    )
    common = dict(
        backbone="resnet",
        backbone_params={
            "filters": tuple(int(f) for f in args.filters.split(",")),
            "blocks": args.blocks,
        },
        epochs=args.epochs,
        batch_size=args.batch_size,
        random_state=args.seed,
        verbose=args.verbose,
    )
    rows = []

    def run(method, clf, **fit):
        start = time.perf_counter()
        if fit:
            clf.fit(**fit)
        else:
            clf.fit(Xt, yt)
        seconds = time.perf_counter() - start
        rows.append((method, clf.score(Xtest, ytest), seconds))
        return clf

    # 1. Pretrain on CIFAR-10 once (with the first strategy's transfer), then
    #    reuse the pretrained network for the others.
    first = TransferClassifier(
        strategies[0], pretrain_epochs=args.pretrain_epochs, **common
    )
    run(f"{strategies[0]} (+ pretraining)", first, source=(Xs, ys), target=(Xt, yt))
    print(
        f"source model: {first.source_score_before_:.3f} accuracy on held-out "
        f"source images"
        if first.source_score_before_ is not None
        else "source model pretrained"
    )
    source = first.source_model_
    for strategy in strategies[1:]:
        run(strategy, TransferClassifier(strategy, source_model=source, **common))
    # 2. The same network trained from scratch on the target alone.
    run("from scratch", TransferClassifier("fine_tune", **common))

    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'method':<{width}}  test accuracy  fit seconds")
    for name, accuracy, seconds in rows:
        print(f"{name:<{width}}  {accuracy:13.3f}  {seconds:11.1f}")
    return rows


if __name__ == "__main__":
    main()
