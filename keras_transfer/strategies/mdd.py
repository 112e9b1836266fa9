"""MDD: margin disparity discrepancy with an adversarial classifier head."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer.losses import margin_disparity_discrepancy
from keras_transfer.strategies._adversarial import AdversarialStrategy
from keras_transfer.strategies.base import register_strategy


@register_strategy("mdd")
class MDD(AdversarialStrategy):
    """Margin Disparity Discrepancy (Zhang et al., ICML 2019).

    An adversarial head ``f'`` (same form as the main head: linear by
    default, as the theory takes ``f'`` from the main head's hypothesis
    class) reads the features through a gradient-reversal layer. It learns
    to agree with the main head's predictions on source rows and to
    disagree on target rows (margin γ; see
    :func:`~keras_transfer.losses.margin_disparity_discrepancy`); the
    reversed gradient makes the features shrink that disparity, i.e. the
    margin disparity discrepancy between the domains.
    λ (the scheduled ``adaptation_weight``) is the reversal factor.

    Defaults follow the authors' code (thuml/MDD) and the Transfer-Learning-
    Library: margin 4, adversary loss weight 1, a bottleneck (Dense,
    BatchNorm, ReLU, Dropout 0.5) shared by both heads, and (``recipe``) a
    small reversal factor: theirs ramps as ``0.1·(2/(1+exp(−step/1000))−1)``,
    about 0.02 after the few hundred steps of a digits run, so the recipe is
    λ = 0.02 on the ``"ganin"`` ramp.

    Args:
        margin: γ, the weight of the source agreement term.
        units: hidden units of the adversarial head (``()``: linear).
        bsp: weight of Batch Spectral Penalization on the features
            (0 = off; Chen et al. 2019 use 1e-4).
        bottleneck: add a bottleneck ``Dense → BatchNorm → ReLU →
            Dropout(0.5)`` (as wide as the features) between the backbone
            and both heads, as in the reference implementations. It keeps
            the features' scale in check; see the docs page.
        dropout: dropout rate after each hidden layer of the adversarial
            head (the bottleneck has its own, 0.5).

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("mdd", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    recipe = {
        "adaptation_weight": 0.02,
        "schedule": "ganin",
        "source": "Zhang et al. 2019, thuml/MDD and TLlib: margin 4, adversary "
        "loss weight 1, reversal 0.1*(2/(1+exp(-step/1000))-1), which is about "
        "0.02 after the few hundred steps of a digits run",
    }

    def __init__(
        self,
        margin: float = 4.0,
        units=(),
        bsp: float = 0.0,
        bottleneck: bool = True,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(units=units, dropout=dropout, bsp=bsp, **kwargs)
        if float(margin) <= 0:
            raise ValueError(f"margin must be > 0, got {margin!r}.")
        self.margin = float(margin)
        self.use_bottleneck = bool(bottleneck)
        self.bottleneck = None

    def build(self, features_shape, logits_shape):
        if self.use_bottleneck:
            # Same width as the features: the model's head was built on it.
            self.bottleneck = keras.Sequential(
                [
                    keras.layers.Dense(int(features_shape[-1])),
                    keras.layers.BatchNormalization(),
                    keras.layers.ReLU(),
                    keras.layers.Dropout(0.5),
                ],
                name="bottleneck",
            )
            self.bottleneck.build(features_shape)
        self.adversary = self.mlp(int(logits_shape[-1]), "adversarial_head")
        self.adversary.build(features_shape)

    def adapt_features(self, features, training=False):
        if self.bottleneck is None:
            return features
        return self.bottleneck(features, training=training)

    def call(self, features, logits, lam, training=False):
        reversed_features = self.reversal(features, factor=lam)
        return {
            "adversary_logits": self.adversary(reversed_features, training=training)
        }

    def adversarial_loss(self, outputs, batch):
        return margin_disparity_discrepancy(
            ops.cast(batch["logits"], "float32"),
            ops.cast(outputs["adversary_logits"], "float32"),
            batch["is_source"],
            self.margin,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "bottleneck": self.use_bottleneck,
        }
