"""No adaptation: train on labelled rows only (the baseline)."""

from __future__ import annotations

from keras_transfer.strategies.base import Strategy, register_strategy


@register_strategy("source_only")
class SourceOnly(Strategy):
    """The baseline: the task loss on labelled rows, no adaptation term.

    Batches hold source rows (and labelled target rows, if any) only.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("source_only", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    needs_target = False
    adapts = False  # no adaptation_loss / lambda in the progress bar

    recipe = {"source": "plain supervised training on the source rows"}
