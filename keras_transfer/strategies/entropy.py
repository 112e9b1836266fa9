"""Entropy minimisation on target predictions."""

from __future__ import annotations

from keras import ops

from keras_transfer.losses import class_balance, entropy
from keras_transfer.strategies.base import Strategy, register_strategy


@register_strategy("entropy")
class EntropyMinimization(Strategy):
    """Target entropy minimisation (Grandvalet & Bengio, 2005).

    Adds ``λ · mean_t H(softmax(logits))`` over the target rows of a batch,
    pushing the decision boundary away from dense target regions (the
    cluster assumption), minus ``diversity · H(mean_t p)``, the entropy of
    the mean target prediction, which keeps the predicted classes balanced
    (information maximisation, as in SHOT). Without that term (``diversity=0``)
    it collapses onto one or two classes on real shifts (USPS→MNIST: 11.8 %).

    Args:
        diversity: weight of the class-balance term (default 1, SHOT's; 0
            gives plain entropy minimisation).
        label_weight: weight of the task loss on the labelled rows (default
            1). :class:`~keras_transfer.SHOTClassifier` trains this strategy
            on target rows labelled by its clustering pseudo-labels, with
            SHOT's β = 0.3 here.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("entropy", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    recipe = {
        "adaptation_weight": 1.0,
        "schedule": "ganin",
        "source": "Grandvalet & Bengio 2005, with the diversity term of "
        "information maximisation at weight 1 (Liang et al., ICML 2020, SHOT) "
        "so that it cannot collapse onto one class",
    }

    def __init__(self, diversity: float = 1.0, label_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if float(diversity) < 0 or float(label_weight) < 0:
            raise ValueError(
                "diversity and label_weight must be >= 0, got "
                f"{diversity!r} and {label_weight!r}."
            )
        self.diversity = float(diversity)
        self.label_weight = float(label_weight)

    def task_weight(self, lam):
        return self.label_weight

    def adaptation_loss(self, outputs, batch):
        logits = ops.cast(batch["logits"], "float32")
        target = 1.0 - batch["is_source"]
        loss = entropy(logits, weight=target)
        if self.diversity:
            loss = loss - self.diversity * class_balance(logits, target)
        return batch["lambda"] * loss

    def get_config(self):
        return {
            **super().get_config(),
            "diversity": self.diversity,
            "label_weight": self.label_weight,
        }
