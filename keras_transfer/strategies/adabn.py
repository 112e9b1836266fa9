"""AdaBN: BatchNorm statistics re-estimated on target data."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from keras_transfer._keras_private import walk_layers
from keras_transfer.strategies.base import Strategy, register_strategy

#: Layers whose training-mode noise is switched off while statistics are measured.
_NOISE_ATTRS = {
    keras.layers.Dropout: "rate",
    keras.layers.GaussianDropout: "rate",
    keras.layers.AlphaDropout: "rate",
    keras.layers.GaussianNoise: "stddev",
}


def batchnorm_layers(model) -> list:
    """The BatchNormalization layers of a model, in call order."""
    return [
        layer
        for layer in walk_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def _noise_layers(model):
    found = []
    for layer in walk_layers(model):
        for cls, attr in _NOISE_ATTRS.items():
            if isinstance(layer, cls):
                found.append((layer, attr, getattr(layer, attr)))
                break
    return found


def reestimate_batchnorm(model, X, batch_size: int = 1024) -> int:
    """Set every BatchNorm layer's moving mean and variance to its statistics on X.

    Layers are processed in order: while one layer measures its input
    moments (its momentum set to 0 on chunks of ``batch_size`` rows,
    combined exactly), the others run in inference mode with their
    already re-estimated statistics, and dropout/noise layers are switched
    off. ``model`` is an :class:`AdaptationModel`. Returns the number of
    BatchNorm layers updated.

    Example:
    >>> import keras, numpy as np
    >>> from keras_transfer.models import AdaptationModel
    >>> from keras_transfer.strategies.adabn import reestimate_batchnorm
    >>> fe = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    >>> model = AdaptationModel(fe, num_classes=2)
    >>> model.build((None, 3))
    >>> X = np.random.default_rng(0).normal(5.0, 2.0, size=(500, 3))
    >>> reestimate_batchnorm(model, X)
    1
    >>> mean = keras.ops.convert_to_numpy(fe.layers[0].moving_mean)
    >>> bool(np.allclose(mean, X.mean(0), atol=1e-4))
    True
    """
    from keras_transfer.data.batches import take_rows

    layers = batchnorm_layers(model)
    n = X.shape[0]
    if not layers or n == 0:
        return 0
    state = {layer: (layer.trainable, layer.momentum) for layer in layers}
    noise = _noise_layers(model)

    def forward(x):
        features = model.feature_extractor(x, training=True)
        features = model.strategy.adapt_features(features, training=True)
        model.classifier(features, training=True)

    try:
        for layer, attr, _ in noise:
            setattr(layer, attr, 0.0)
        for current in layers:
            for layer in layers:
                layer.trainable = layer is current
            current.momentum = 0.0
            s1 = s2 = 0.0
            for lo in range(0, n, batch_size):
                idx = np.arange(lo, min(lo + batch_size, n))
                forward(take_rows(X, idx))
                mean = np.asarray(current.moving_mean, dtype="float64")
                var = np.asarray(current.moving_variance, dtype="float64")
                s1 = s1 + len(idx) * mean
                s2 = s2 + len(idx) * (var + mean**2)
            mean = s1 / n
            var = np.maximum(s2 / n - mean**2, 0.0)
            current.moving_mean.assign(mean.astype(current.moving_mean.dtype))
            current.moving_variance.assign(var.astype(current.moving_variance.dtype))
    finally:
        for layer, (trainable, momentum) in state.items():
            layer.trainable = trainable
            layer.momentum = momentum
        for layer, attr, value in noise:
            setattr(layer, attr, value)
    return len(layers)


@register_strategy("adabn")
class AdaBN(Strategy):
    """Adaptive Batch Normalization (Li et al., 2016).

    The network is trained on the source (the task loss only: batches hold
    source rows and any labelled target rows, so BatchNorm normalises with
    source statistics); after training, every BatchNorm layer's moving mean
    and variance are replaced by their values on the target rows. Each
    domain is then standardised with its own statistics at each layer.

    The backbone must contain ``keras.layers.BatchNormalization`` layers
    (the default ``"mlp"`` backbone has none: pass a ``keras.Model`` with
    BatchNorm as ``backbone``); without them ``fit`` raises a
    ``ValueError`` before training.

    Args:
        batch_size: rows per forward pass while re-estimating statistics.

    Example:
    >>> import keras
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(32),
    ...                         keras.layers.BatchNormalization(),
    ...                         keras.layers.Activation("relu")])
    >>> clf = DomainAdaptiveClassifier("adabn", backbone=net, epochs=2,
    ...                                random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    needs_target = False
    needs_all_target_rows = True

    recipe = {
        "source": "Li et al., 2016 (AdaBN): source training as usual, then "
        "BatchNorm statistics re-estimated on the target rows",
    }

    def __init__(self, batch_size: int = 1024, **kwargs):
        super().__init__(**kwargs)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}.")
        self.batch_size = int(batch_size)

    def before_fit(self, model, source_batches, epochs, verbose=0):
        if not batchnorm_layers(model):
            raise ValueError(
                "strategy='adabn' re-estimates BatchNormalization statistics, but "
                "the model has no keras.layers.BatchNormalization layer. Pass a "
                "backbone with BatchNorm (a keras.Model or a callable returning "
                "one), or choose another strategy."
            )

    def after_fit(self, model, target_X):
        if target_X is None or target_X.shape[0] == 0:
            warnings.warn(
                "strategy='adabn' got no target rows: the BatchNorm statistics "
                "stay those of the source.",
                UserWarning,
                stacklevel=2,
            )
            return
        reestimate_batchnorm(model, target_X, self.batch_size)

    def get_config(self):
        return {**super().get_config(), "batch_size": self.batch_size}
