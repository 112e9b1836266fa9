"""The strategy interface: extra sub-layers plus an adaptation loss."""

from __future__ import annotations

import copy
from typing import ClassVar

import keras
import scipy.sparse as sp
from keras import ops

from keras_transfer.losses import domain_spectral_penalty

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

    Hooks of task transfer (a source task with its own labels, see
    :class:`~keras_transfer.TransferClassifier`): ``source_outputs`` adds
    outputs read from the backbone's features (a kept source head);
    ``adapted_shape`` gives the shape ``adapt_features`` returns;
    ``prepare_backbone`` may change the transferred backbone (LoRA);
    ``task_weight(λ)`` weighs the task loss (1 by default);
    ``transferred_layers`` lists the strategy's layers that come from the
    source model (they get the backbone's learning rate and warm-up).

    Class attributes (what a strategy needs; estimators read these and never
    a strategy's name):
        name: the name users type (``strategy="dann"``).
        needs_target: whether batches must carry target rows.
        adapts: whether there is an adaptation term (``adaptation_loss`` and
            ``lambda`` in the progress bar and ``history_``).
        needs_inputs: whether ``call`` (and ``adapt_features``,
            ``source_outputs``) also receive the model's inputs as ``x=``
            (e.g. a teacher network that reads the raw rows).
        needs_all_target_rows: whether ``after_fit`` reads every target row
            again (AdaBN), which a stream cannot give.
        needs_source_head: the constructor takes ``source_head=``, the
            source model above the features (sharing its weights with the
            transferred backbone), and ``source_probabilities=`` (its outputs
            are softmax probabilities).
        needs_source_copy: the constructor takes ``source_model=``, a frozen
            copy of the whole source network.
        needs_backbone: the constructor takes ``backbone=``, the transferred
            feature extractor. Only :class:`~keras_transfer.TransferClassifier`
            has these three parts (see :func:`transfers_source`).
        task_rows: which rows carry the task loss: ``"labelled"`` (every row
            with a label: one label space, domain adaptation) or
            ``"target"`` (target rows only: the source rows' labels belong to
            another label space, e.g. ``joint``).
        source_rows: which source rows the batches carry besides the task
            rows, in task transfer: ``"none"``, ``"labelled"`` (with their
            source labels) or ``"inputs"`` (labels hidden as ``-1``).
        predicts_source: whether ``source_outputs`` gives ``source_logits``
            at inference (``predict_source``).
        warmup_epochs: epochs during which the transferred weights stay put
            and only the new parts train (0: none).
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
    adapts: bool = True
    needs_inputs: bool = False
    needs_all_target_rows: bool = False
    needs_source_head: bool = False
    needs_source_copy: bool = False
    needs_backbone: bool = False
    task_rows: str = "labelled"
    source_rows: str = "none"
    predicts_source: bool = False
    warmup_epochs: int = 0
    recipe: ClassVar[dict] = {}

    def build(self, features_shape, logits_shape):
        pass

    def adapt_features(self, features, training=False, x=None):
        """Map backbone features before the head (identity; adapters override)."""
        return features

    def prepare_backbone(self, backbone):
        """Change the transferred backbone before training (default: as is)."""
        return backbone

    def adapted_shape(self, features_shape, input_shape):
        """Shape of what ``adapt_features`` returns (default: unchanged)."""
        return tuple(features_shape)

    def source_outputs(self, features, training=False, x=None):
        """Outputs read from the backbone's features, also at inference (``{}``)."""
        return {}

    def task_weight(self, lam):
        """Weight of the task loss while training (default 1)."""
        return 1.0

    def transferred_layers(self) -> list:
        """The strategy's layers that come from the source model (default none)."""
        return []

    def before_fit(self, model, source_batches, epochs: int, verbose=0) -> None:
        """Hook run once before the main ``model.fit`` (e.g. train a teacher).

        ``source_batches`` yields source rows only; ``model`` is built and
        compiled. Default: nothing.
        """

    def after_fit(self, model, target_X) -> None:
        """Hook run once after the main ``model.fit`` (e.g. re-estimate BN stats)."""

    def call(self, features, logits, lam, training=False, x=None):
        return {}

    def spectral_penalty(self, batch: dict):
        """``bsp · domain_spectral_penalty`` of the batch's features.

        Batch Spectral Penalization (Chen et al., ICML 2019), the ``bsp=``
        option of the adversarial strategies; 0 when the strategy has no
        ``bsp`` weight or it is 0.
        """
        weight = float(getattr(self, "bsp", 0.0))
        if not weight:
            return 0.0
        features = ops.cast(batch["features"], "float32")
        return weight * domain_spectral_penalty(features, batch["is_source"])

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
    recipe = copy.deepcopy(getattr(cls, "recipe", None) or {})  # the class's stays
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


def available_strategies(transfer: bool | None = None) -> list[str]:
    """Names accepted by ``strategy=``.

    ``transfer=False`` lists those of ``DomainAdaptiveClassifier`` (one label
    space), ``transfer=True`` those that need a source model's parts
    (``TransferClassifier``); ``None`` all.

    Example:
    >>> from keras_transfer.strategies import available_strategies
    >>> "dann" in available_strategies(transfer=False)
    True
    >>> "joint" in available_strategies(transfer=False)
    False
    """
    return sorted(
        name
        for name, cls in _REGISTRY.items()
        if transfer is None or transfers_source(cls) == transfer
    )


def strategy_class(name: str) -> type[Strategy]:
    """The class registered under ``name`` (what it needs: its class attributes).

    Example:
    >>> from keras_transfer.strategies import strategy_class
    >>> strategy_class("joint").task_rows
    'target'
    """
    if isinstance(name, str) and name.lower() in _REGISTRY:
        return _REGISTRY[name.lower()]
    raise ValueError(
        f"Unknown strategy {name!r}. Use one of {available_strategies()} "
        "or a keras_transfer.strategies.Strategy instance."
    )


def transfers_source(strategy) -> bool:
    """Whether a strategy (class or instance) needs a source model's parts.

    Example:
    >>> from keras_transfer.strategies import strategy_class, transfers_source
    >>> [transfers_source(strategy_class(name)) for name in ("lwf", "dann")]
    [True, False]
    """
    return bool(
        strategy.needs_source_head
        or strategy.needs_source_copy
        or strategy.needs_backbone
    )


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
