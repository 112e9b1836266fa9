"""The strategy interface: extra sub-layers plus an adaptation loss."""

from __future__ import annotations

from typing import ClassVar

import keras
import scipy.sparse as sp
from keras import ops

#: Estimator-level training settings used where a strategy's recipe is silent.
DEFAULT_RECIPE = {
    "adaptation_weight": 1.0,
    "schedule": "ganin",
    "optimizer": "adam",
    "learning_rate": 1e-3,
}
DATA_KINDS = ("image", "dense", "sparse")


class Strategy(keras.layers.Layer):
    """Base class of domain-adaptation strategies.

    A strategy is a Keras layer owning whatever extra parts a method needs (a
    domain discriminator, a critic, ...). The :class:`AdaptationModel` calls it
    in its forward pass during training and adds its loss to the task loss::

        outputs = strategy(features, logits, lam, training=True)   # a dict
        loss = task_loss + strategy.adaptation_loss(outputs, batch)

    ``batch`` is a dict of tensors: ``features``, ``logits``, ``lambda``
    (the scheduled adaptation weight, a scalar), ``is_source`` (1.0 for
    source rows, 0.0 for target rows) and ``labels`` (int, ``-1`` where
    unlabelled). Each strategy decides where λ enters (a gradient-reversal
    factor or a loss weight). Losses must be written with ``keras.ops`` and
    with per-row weights rather than boolean indexing, so they compile under
    ``jax.jit``, ``tf.function`` and ``torch``.

    Hooks (all optional): ``adapt_features`` maps backbone features before
    the head (residual adapters), ``before_fit`` runs before the main fit
    (a teacher, a source pre-training), ``after_fit`` after it (AdaBN).

    Class attributes:
        name: the name users type (``strategy="dann"``).
        needs_target: whether batches must carry target rows.
        needs_inputs: whether ``call`` also receives the model's inputs as
            ``x=`` (e.g. a teacher network that reads the raw rows).
        recipe: the method's training recipe, as data: the estimator-level
            settings (``adaptation_weight``, ``schedule``, ``optimizer``,
            ``learning_rate``) that the estimators use where the user leaves
            them at ``None``, with ``"source"`` naming the paper or
            reproduction they follow and ``"by_kind"`` optional overrides per
            kind of data (``"image"``, ``"dense"``, ``"sparse"``). The
            strategy's own sub-layer sizes are its constructor defaults. See
            :func:`recipe_settings`.
    """

    name_: str = "base"
    needs_target: bool = True
    needs_inputs: bool = False
    recipe: ClassVar[dict] = {}

    def build(self, features_shape, logits_shape):
        pass

    def adapt_features(self, features, training=False):
        """Map backbone features before the head (identity; adapters override)."""
        return features

    def before_fit(self, model, source_batches, epochs: int, verbose=0) -> None:
        """Hook run once before the main ``model.fit`` (e.g. train a teacher).

        ``source_batches`` yields source rows only; ``model`` is built and
        compiled. Default: nothing.
        """

    def after_fit(self, model, target_X) -> None:
        """Hook run once after the main ``model.fit`` (e.g. re-estimate BN stats)."""

    def call(self, features, logits, lam, training=False):
        return {}

    def adaptation_loss(self, outputs: dict, batch: dict):
        return ops.zeros((), dtype="float32")


def data_kind(X) -> str:
    """``"sparse"`` (scipy sparse rows), ``"image"`` (rows of rank >= 2) or ``"dense"``.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.strategies import data_kind
    >>> data_kind(np.zeros((4, 8, 8, 1))), data_kind(np.zeros((4, 3)))
    ('image', 'dense')
    """
    if sp.issparse(X):
        return "sparse"
    return "image" if len(getattr(X, "shape", ())) >= 3 else "dense"


def recipe_settings(strategy, kind: str = "dense") -> dict:
    """The training settings of ``strategy``'s recipe for a kind of data.

    :data:`DEFAULT_RECIPE`, updated by the strategy class's ``recipe`` and then
    by its ``recipe["by_kind"][kind]`` overrides; ``"source"`` names where the
    numbers come from.

    Example:
    >>> from keras_transfer.strategies import recipe_settings
    >>> recipe_settings("entropy", "image")["adaptation_weight"]
    1.0
    >>> recipe_settings("source_only")["schedule"]
    'ganin'
    """
    if kind not in DATA_KINDS:
        raise ValueError(f"kind must be one of {DATA_KINDS}, got {kind!r}.")
    if isinstance(strategy, str):
        if strategy.lower() not in _REGISTRY:
            get_strategy(strategy)  # raises the unknown-strategy error
        cls = _REGISTRY[strategy.lower()]
    else:
        cls = strategy if isinstance(strategy, type) else type(strategy)
    recipe = dict(getattr(cls, "recipe", {}) or {})
    by_kind = recipe.pop("by_kind", {}) or {}
    settings = {**DEFAULT_RECIPE, "source": "library default", **recipe}
    settings.update(by_kind.get(kind, {}))
    return settings


_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(name: str):
    """Class decorator: make a strategy available under ``name``.

    Also registers the class with Keras serialization, so models using it
    save to ``.keras`` and pickle.

    Example:
    >>> from keras_transfer.strategies import Strategy, register_strategy
    >>> @register_strategy("my_noop")
    ... class NoOp(Strategy):
    ...     needs_target = False
    >>> from keras_transfer.strategies import get_strategy
    >>> type(get_strategy("my_noop")).__name__
    'NoOp'
    """

    def decorator(cls):
        key = name.lower()
        cls.name_ = key
        _REGISTRY[key] = cls
        return keras.saving.register_keras_serializable(package="keras_transfer")(cls)

    return decorator


def available_strategies() -> list[str]:
    """Names accepted by ``strategy=``.

    Example:
    >>> from keras_transfer.strategies import available_strategies
    >>> "dann" in available_strategies()
    True
    """
    return sorted(_REGISTRY)


def get_strategy(identifier, **kwargs) -> Strategy:
    """Return a fresh strategy from a name or a :class:`Strategy` instance.

    Example:
    >>> from keras_transfer.strategies import get_strategy
    >>> get_strategy("dann").name_
    'dann'
    """
    if isinstance(identifier, Strategy):
        if kwargs:
            raise ValueError("strategy_params only apply to a strategy name.")
        # A fresh copy: the same object must not be shared by two models.
        return type(identifier).from_config(identifier.get_config())
    if isinstance(identifier, str) and identifier.lower() in _REGISTRY:
        try:
            return _REGISTRY[identifier.lower()](**kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"Bad strategy_params for {identifier!r}: {err}") from None
    raise ValueError(
        f"Unknown strategy {identifier!r}. Use one of {available_strategies()} "
        "or a keras_transfer.strategies.Strategy instance."
    )
