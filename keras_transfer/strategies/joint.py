"""Joint training of the source and the target task on one network."""

from __future__ import annotations

from keras_transfer.strategies._source import SourceTask, masked_cross_entropy
from keras_transfer.strategies.base import register_strategy


@register_strategy("joint")
class Joint(SourceTask):
    """``L = L_s + λ·L_t``: the source head and the new target head train together.

    Batches hold the target rows and as many labelled source rows; the
    target task's loss is taken on target rows only (the label spaces
    differ), the source cross-entropy on source rows through the kept
    source head. Needs source data: ``fit(source=(Xs, ys), ...)`` or
    ``source_data=`` with a pretrained model.

    Example:
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from keras_transfer import TransferClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = TransferClassifier("joint", pretrain_epochs=1, epochs=1,
    ...                          random_state=0)
    >>> clf = clf.fit(source=(X[y < 5] / 16, y[y < 5]),
    ...               target=(X[y >= 5] / 16, y[y >= 5]))
    >>> clf.predict_source(X[:3] / 16).shape
    (3,)
    """

    needs_source_head = True
    task_rows = "target"
    source_rows = "labelled"
    predicts_source = True

    def source_outputs(self, features, training=False, x=None):
        self._require("source_head")
        return {"source_logits": self.head_logits(features, training)}

    def task_weight(self, lam):
        return lam

    def adaptation_loss(self, outputs, batch):
        return masked_cross_entropy(
            batch["labels"], outputs["source_logits"], batch["is_source"]
        )
