"""Residual adapters: a frozen source network plus a zero-initialised Δf."""

from __future__ import annotations

from keras_transfer._optimizers import recompile
from keras_transfer.layers import ResidualAdapter
from keras_transfer.losses import coral, mmd
from keras_transfer.strategies.base import Strategy, register_strategy


@register_strategy("adapter")
class Adapter(Strategy):
    """Residual adapters on a frozen source network: ``f_t = f_s + Δf``.

    Training has two phases:

    1. ``before_fit`` trains the backbone and the head on the source rows
       (the adapter is frozen and outputs zero), for ``epochs`` epochs;
    2. the backbone and the head are then frozen, and a
       :class:`~keras_transfer.layers.ResidualAdapter` on the features,
       ``f ↦ f + Δf(f)`` with ``Δf`` zero at initialisation, is trained with
       the task loss on labelled rows plus ``λ ·`` an adaptation loss
       between source and target adapted features (``"mmd"``: multi-kernel
       MMD, or ``"coral"``).

    Because ``Δf`` starts at exactly zero, the model at the start of phase 2
    is the source model, bit for bit; adaptation can only move it as far as
    the small adapter allows, which keeps the source knowledge and makes
    adaptation cheap (only the adapter's weights are trained). The adapter
    is applied to every row (source and target), so predictions need no
    domain label. A BatchNorm layer in the frozen backbone runs in
    inference mode in phase 2.

    Args:
        units: bottleneck width of the adapter.
        loss: ``"mmd"`` or ``"coral"``, the adaptation loss.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("adapter", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    recipe = {
        "adaptation_weight": 1.0,
        "schedule": "ganin",
        "source": "Houlsby et al., ICML 2019 (bottleneck adapters, zero "
        "initialised) trained with the MMD alignment loss of DAN at weight 1",
    }

    def __init__(self, units: int = 32, loss: str = "mmd", **kwargs):
        super().__init__(**kwargs)
        if loss not in ("mmd", "coral"):
            raise ValueError(f"loss must be 'mmd' or 'coral', got {loss!r}.")
        self.units = int(units)
        self.loss = loss
        self.adapter = ResidualAdapter(self.units, name="residual_adapter")

    def build(self, features_shape, logits_shape):
        self.adapter.build(features_shape)

    def adapt_features(self, features, training=False):
        return self.adapter(features)

    def before_fit(self, model, source_batches, epochs, verbose=0):
        self.adapter.trainable = False
        recompile(model)
        model.fit(source_batches, epochs=epochs, verbose=verbose)
        model.step_counter.assign(0.0)
        model.feature_extractor.trainable = False
        model.classifier.trainable = False
        self.adapter.trainable = True
        recompile(model)

    def adaptation_loss(self, outputs, batch):
        is_source = batch["is_source"]
        distance = mmd if self.loss == "mmd" else coral
        value = distance(
            batch["features"],
            batch["features"],
            source_weight=is_source,
            target_weight=1.0 - is_source,
        )
        return batch["lambda"] * value

    def get_config(self):
        return {**super().get_config(), "units": self.units, "loss": self.loss}
