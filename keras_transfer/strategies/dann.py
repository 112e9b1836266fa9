"""DANN: domain-adversarial training with a gradient-reversal layer."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer.layers import GradientReversal
from keras_transfer.losses import domain_adversarial_loss
from keras_transfer.strategies.base import Strategy, register_strategy


def discriminator(units, name: str) -> keras.Sequential:
    """A small MLP ending in one logit (domain or critic score)."""
    layers = [keras.layers.Dense(u, activation="relu") for u in units]
    return keras.Sequential([*layers, keras.layers.Dense(1)], name=name)


@register_strategy("dann")
class DANN(Strategy):
    """Domain-adversarial neural network (Ganin et al., JMLR 2016).

    A domain discriminator learns to tell source from target features; the
    gradient-reversal layer between them hands the feature extractor the
    negated gradient times λ, so the features become domain-invariant. The
    discriminator itself learns at the full rate; λ (the scheduled
    ``adaptation_weight``) is the reversal factor.

    Args:
        units: hidden units of the discriminator.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("dann", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    def __init__(self, units=(64, 64), **kwargs):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        self.reversal = GradientReversal(name="reversal")
        self.discriminator = discriminator(self.units, "domain_discriminator")

    def build(self, features_shape, logits_shape):
        self.discriminator.build(features_shape)

    def call(self, features, logits, lam, training=False):
        reversed_features = self.reversal(features, factor=lam)
        return {"domain_logits": self.discriminator(reversed_features)}

    def adaptation_loss(self, outputs, batch):
        logits = ops.reshape(outputs["domain_logits"], (-1,))
        return domain_adversarial_loss(logits, batch["is_source"])

    def get_config(self):
        return {**super().get_config(), "units": list(self.units)}
