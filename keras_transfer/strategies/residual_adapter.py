"""A residual adapter on a frozen transferred network, the source head kept."""

from __future__ import annotations

from keras_transfer.layers import ResidualAdapter
from keras_transfer.strategies._source import SourceTask
from keras_transfer.strategies.base import register_strategy


@register_strategy("residual_adapter")
class TransferAdapter(SourceTask):
    """``f_t = f_s + Δf(f_s)`` before the new head; the source network stays frozen.

    ``Δf`` (a :class:`~keras_transfer.layers.ResidualAdapter`) starts at
    zero, so training starts from the source features bit for bit; only
    ``Δf`` and the new head train. The source head is kept, frozen, on the
    unadapted features, so ``predict_source`` is the source model's.
    ``TransferClassifier(strategy="adapter")`` uses it (the domain-adaptation
    ``"adapter"`` strategy is a different method: same labels, an MMD term).

    Args:
        units: bottleneck width of ``Δf``.
        activation: activation inside ``Δf``.

    Example:
    >>> from keras_transfer.strategies import get_strategy
    >>> get_strategy("residual_adapter", units=8).adapter.units
    8
    """

    needs_source_head = True
    predicts_source = True

    def __init__(self, units: int = 32, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activation
        self.adapter = ResidualAdapter(units=self.units, activation=activation)
        if self.source_head is not None:
            self.source_head.trainable = False

    def build(self, features_shape, logits_shape):
        if not self.adapter.built:
            self.adapter.build(features_shape)

    def adapt_features(self, features, training=False, x=None):
        return self.adapter(features, training=training)

    def source_outputs(self, features, training=False, x=None):
        if self.source_head is None:
            return {}
        return {"source_logits": self.head_logits(features, training)}

    def transferred_layers(self):
        return []  # the source head is frozen

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
        }
