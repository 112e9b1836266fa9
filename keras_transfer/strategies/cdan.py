"""CDAN and CDAN+E: conditional domain-adversarial networks."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer.losses import (
    domain_adversarial_loss,
    entropy_weights,
    multilinear_map,
    randomized_multilinear_map,
)
from keras_transfer.strategies._adversarial import AdversarialStrategy
from keras_transfer.strategies.base import register_strategy


@register_strategy("cdan")
class CDAN(AdversarialStrategy):
    """Conditional domain-adversarial network (Long et al., NeurIPS 2018).

    Like DANN, but the domain discriminator sees the multilinear map
    ``f ⊗ p`` of the features ``f`` (d values) and the class probabilities
    ``p = softmax(logits)`` (k values), so it aligns the joint distribution
    of features and predictions, not the features alone. When ``d·k``
    exceeds ``max_dim`` the map is replaced by its randomized version
    ``(f R_f) ⊙ (p R_p) / sqrt(random_dim)`` with fixed Gaussian matrices
    (saved with the model). The reversal factor is λ; ``p`` is held
    constant (no gradient through the conditioning), as in the Transfer
    Learning Library's implementation.

    ``"cdan+e"`` (:class:`CDANE`) also weights each row of the
    discriminator loss by ``1 + exp(-H(p))`` (normalised within each
    domain), so confident, easy-to-transfer rows count more.

    Args:
        units: hidden units of the discriminator.
        dropout: dropout rate after each hidden layer of the discriminator.
        bsp: weight of Batch Spectral Penalization on the features (Chen et
            al., ICML 2019; 1e-4 in the paper), 0 to leave it off.
        max_dim: largest ``d·k`` for which the exact map is used.
        random_dim: output size of the randomized map.
        seed: seed of the random matrices.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("cdan", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    entropy_weighting = False

    recipe = {
        "adaptation_weight": 1.0,
        "schedule": "ganin",
        "source": "Long et al., NeurIPS 2018 and Transfer-Learning-Library's "
        "CDAN: trade-off 1 with the Ganin ramp, 1024-1024 discriminator with "
        "dropout 0.5, randomized map of size 1024; on vectors and text the "
        "reversal is weaker (0.3), as for DANN",
        "by_kind": {
            "dense": {"adaptation_weight": 0.3},
            "sparse": {"adaptation_weight": 0.3},
        },
    }

    def __init__(
        self,
        units=(1024, 1024),
        dropout: float = 0.5,
        bsp: float = 0.0,
        max_dim: int = 4096,
        random_dim: int = 1024,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(units=units, dropout=dropout, bsp=bsp, **kwargs)
        self.max_dim = int(max_dim)
        self.random_dim = int(random_dim)
        self.seed = int(seed)
        self.randomized = False
        self.discriminator = self.mlp(1, "domain_discriminator")

    def build(self, features_shape, logits_shape):
        d, k = int(features_shape[-1]), int(logits_shape[-1])
        self.randomized = d * k > self.max_dim
        if self.randomized:
            init = keras.initializers.RandomNormal(seed=self.seed)
            self.random_features = self.add_weight(
                shape=(d, self.random_dim),
                initializer=init,
                trainable=False,
                name="random_features",
            )
            self.random_probs = self.add_weight(
                shape=(k, self.random_dim),
                initializer=keras.initializers.RandomNormal(seed=self.seed + 1),
                trainable=False,
                name="random_probs",
            )
            in_dim = self.random_dim
        else:
            in_dim = d * k
        self.discriminator.build((None, in_dim))

    def conditioning(self, features, probs):
        """The (randomized) multilinear map ``f ⊗ p``."""
        if self.randomized:
            return randomized_multilinear_map(
                features, probs, self.random_features, self.random_probs
            )
        return multilinear_map(features, probs)

    def call(self, features, logits, lam, training=False):
        probs = ops.stop_gradient(ops.softmax(ops.cast(logits, features.dtype)))
        joint = self.reversal(self.conditioning(features, probs), factor=lam)
        return {"domain_logits": self.discriminator(joint, training=training)}

    def adversarial_loss(self, outputs, batch):
        logits = ops.reshape(ops.cast(outputs["domain_logits"], "float32"), (-1,))
        is_source = batch["is_source"]
        weight = None
        if self.entropy_weighting:
            w = entropy_weights(ops.cast(batch["logits"], "float32"))
            ws = is_source * w
            wt = (1.0 - is_source) * w
            weight = ws / ops.maximum(ops.sum(ws), 1e-7) + wt / ops.maximum(
                ops.sum(wt), 1e-7
            )
        return domain_adversarial_loss(logits, is_source, sample_weight=weight)

    def get_config(self):
        return {
            **super().get_config(),
            "max_dim": self.max_dim,
            "random_dim": self.random_dim,
            "seed": self.seed,
        }


@register_strategy("cdan+e")
class CDANE(CDAN):
    """CDAN+E: CDAN with entropy-weighted discriminator rows.

    Each row's discriminator loss is weighted by ``1 + exp(-H(p))``
    (normalised within each domain). Parameters as :class:`CDAN`.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("cdan+e", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    entropy_weighting = True
