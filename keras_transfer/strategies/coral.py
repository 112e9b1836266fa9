"""Deep CORAL: align the covariances of source and target activations."""

from __future__ import annotations

from keras_transfer.losses import coral
from keras_transfer.strategies.base import Strategy, register_strategy


@register_strategy("coral")
class CORAL(Strategy):
    """Deep CORAL (Sun & Saenko, 2016).

    Adds ``λ · ||C_s - C_t||²_F / (4 d²)`` to the task loss, where ``C_s``
    and ``C_t`` are the covariances of the source and target activations
    in a batch (``d`` columns), selected with per-row weights.

    As in the paper, the default aligns the classifier's outputs (the
    logits, ``d`` = number of classes); ``on="features"`` aligns the
    backbone's features instead. With many small feature activations the
    loss is several orders of magnitude below the task loss (it scales
    like the squared covariances over ``d²``), so with features ``λ`` must
    be large (the paper picks λ so that both losses are similar at the end
    of training); on the logits the default λ = 1 is in the right range.

    Args:
        on: ``"logits"`` (default, as in the paper) or ``"features"``.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("coral", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    recipe = {
        "adaptation_weight": 1.0,
        "schedule": "ganin",
        "source": "Sun & Saenko, ECCV-W 2016 (Deep CORAL): CORAL weight chosen "
        "so that both losses are of the same size at the end of training; on "
        "the logits that is λ=1",
    }

    def __init__(self, on: str = "logits", **kwargs):
        super().__init__(**kwargs)
        if on not in ("logits", "features"):
            raise ValueError(f"on must be 'logits' or 'features', got {on!r}.")
        self.on = on

    def adaptation_loss(self, outputs, batch):
        is_source = batch["is_source"]
        values = batch[self.on]
        distance = coral(
            values, values, source_weight=is_source, target_weight=1.0 - is_source
        )
        return batch["lambda"] * distance

    def get_config(self):
        return {**super().get_config(), "on": self.on}
