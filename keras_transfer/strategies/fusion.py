"""Feature fusion: frozen transferred features next to features learnt from scratch."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer.strategies._source import SourceTask
from keras_transfer.strategies.base import register_strategy


@register_strategy("fusion")
class Fusion(SourceTask):
    """Transferred features concatenated with a scratch branch's features.

    The scratch branch has the transferred backbone's architecture with
    fresh weights (``keras.models.clone_model``) and reads the inputs; the
    new head sees ``[f_source, f_scratch]``. The transferred backbone is
    frozen by default (``TransferClassifier``'s freeze policy ``"all"``).

    Example:
    >>> import keras
    >>> from keras_transfer.strategies import get_strategy
    >>> inputs = keras.Input((4,))
    >>> backbone = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    >>> get_strategy("fusion", backbone=backbone).adapted_shape((None, 3), (None, 4))
    (None, 6)
    """

    needs_backbone = True
    needs_inputs = True

    def __init__(self, scratch=None, **kwargs):
        super().__init__(**kwargs)
        if scratch is None and self.backbone is not None:
            scratch = keras.models.clone_model(self.backbone)  # fresh weights
            scratch.trainable = True
        self.scratch = scratch
        self.backbone = None  # the model holds it; the scratch copy is ours

    def adapted_shape(self, features_shape, input_shape):
        self._require("scratch")
        extra = self.scratch.compute_output_spec(keras.KerasTensor(input_shape))
        return (*features_shape[:-1], features_shape[-1] + extra.shape[-1])

    def adapt_features(self, features, training=False, x=None):
        fresh = self.scratch(x, training=training)
        return ops.concatenate([features, ops.cast(fresh, features.dtype)], -1)

    def get_config(self):
        return {
            **super().get_config(),
            "scratch": keras.saving.serialize_keras_object(self.scratch),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["scratch"] = keras.saving.deserialize_keras_object(config["scratch"])
        return super().from_config(config)
