"""The shared base of task-transfer strategies: the parts of a source model."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer.strategies.base import Strategy

_PARTS = ("source_head", "source_model", "backbone")


def masked_cross_entropy(labels, logits, weight):
    """Mean cross-entropy of ``logits`` over rows with ``weight * (label >= 0)``."""
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    weight = ops.cast(labels >= 0, "float32") * weight
    safe = ops.where(labels >= 0, labels, 0)
    per_row = keras.losses.sparse_categorical_crossentropy(
        safe, ops.cast(logits, "float32"), from_logits=True
    )
    return ops.sum(per_row * weight) / ops.maximum(ops.sum(weight), 1.0)


class SourceTask(Strategy):
    """A strategy built from a source model's parts (task transfer).

    :class:`~keras_transfer.TransferClassifier` passes the parts the strategy
    declares (``needs_source_head``, ``needs_source_copy``,
    ``needs_backbone``): ``source_head`` (the source model above
    the features, sharing its layers with the transferred backbone),
    ``source_model`` (a frozen copy of the whole source network) and
    ``backbone`` (the transferred feature extractor). They are saved with the
    model. ``source_probabilities`` says that the source outputs are softmax
    probabilities, so their ``log`` serves as logits.

    Example:
    >>> from keras_transfer.strategies import get_strategy
    >>> get_strategy("joint").needs_source_head
    True
    """

    def __init__(
        self,
        source_head=None,
        source_model=None,
        backbone=None,
        source_probabilities: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_head = source_head
        self.source_model = source_model
        self.backbone = backbone
        self.source_probabilities = bool(source_probabilities)
        if source_model is not None:
            source_model.trainable = False

    def _require(self, *names):
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise ValueError(
                f"strategy {self.name_!r} transfers a source model's task: it needs "
                f"{missing}, which keras_transfer.TransferClassifier gives it."
            )

    def as_logits(self, outputs):
        """Source outputs as logits (``log`` of probabilities from a softmax)."""
        outputs = ops.cast(outputs, "float32")
        if self.source_probabilities:
            return ops.log(ops.maximum(outputs, 1e-12))
        return outputs

    def head_logits(self, features, training=False):
        """Source-task logits of the (kept) source head on ``features``."""
        train = bool(training) and bool(self.source_head.trainable_weights)
        return self.as_logits(self.source_head(features, training=train))

    def reference_logits(self, x):
        """Source-task logits of the frozen source model on the inputs."""
        out = self.source_model(x, training=False)
        out = out[-1] if isinstance(out, (list, tuple)) else out
        return ops.stop_gradient(self.as_logits(out))

    def transferred_layers(self):
        head = self.source_head
        return [] if head is None else [head]

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        config = {
            **super().get_config(),
            "source_probabilities": self.source_probabilities,
        }
        for name in _PARTS:
            part = getattr(self, name)
            config[name] = None if part is None else ser(part)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in _PARTS:
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)
