"""Freezing policies, gradual unfreezing and per-group learning rates.

Three tools, usable on any Keras 3 model and by :class:`TransferClassifier`:

* :func:`freeze` sets ``trainable`` layer by layer from a policy: ``"all"``,
  ``"none"``, the first ``k`` layers, or layers picked by name or regular
  expression. BatchNormalization layers can be kept frozen whatever the
  policy: in Keras 3 a BatchNormalization layer with ``trainable=False``
  runs in inference mode (it normalises with its moving statistics and
  never updates them), the rule of the Keras transfer-learning guide.
* :func:`with_lr_multipliers` gives groups of variables their own learning
  rate (``learning_rate × multiplier``) in any Keras optimizer, on every
  backend; a multiplier of 0 leaves a variable bit-identical.
* :class:`GradualUnfreezing` is a callback that raises those multipliers
  from 0 group by group, from the top of the network down, one group per
  epoch (ULMFiT's gradual unfreezing, Howard & Ruder 2018). The set of
  trainable variables stays the same for the whole fit (Keras compiles its
  train step once), which is why unfreezing works through learning rates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import keras
from keras import ops

from keras_transfer._keras_private import GroupedUpdates, walk_layers

__all__ = [
    "GradualUnfreezing",
    "add_lora",
    "freeze",
    "select_layers",
    "set_lr_multiplier",
    "weighted_layers",
    "with_lr_multipliers",
]


def _is_container(layer) -> bool:
    """Models (functional, Sequential) are opened; other layers are units."""
    return isinstance(layer, keras.Model) and hasattr(layer, "layers")


def weighted_layers(model) -> list:
    """The layers of ``model`` that own weights, bottom to top.

    Nested functional and Sequential models are opened; any other layer
    (a custom block) counts as one layer. This is the package's one layer
    walker.

    Example:
    >>> import keras
    >>> from keras_transfer.freezing import weighted_layers
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
    ...                       keras.layers.Dropout(0.1),
    ...                       keras.layers.Dense(2, name="b")])
    >>> [layer.name for layer in weighted_layers(m)]
    ['a', 'b']
    """
    if not _is_container(model):
        return [model] if model.weights else []
    return [
        layer
        for layer in walk_layers(model, descend=_is_container)
        if not _is_container(layer) and layer.weights
    ]


def select_layers(model, policy) -> list:
    """The weighted layers that ``policy`` picks (nothing is changed).

    ``policy`` is ``"all"``, ``"none"`` (or ``None``), an int ``k`` (the
    first ``k`` weighted layers; a negative ``k`` picks all but the last
    ``|k|``), a layer name or regular expression (full match), or a list of
    names / expressions. A name that matches no layer is an error.

    Example:
    >>> import keras
    >>> from keras_transfer.freezing import select_layers
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="conv_a"),
    ...                       keras.layers.Dense(3, name="conv_b"),
    ...                       keras.layers.Dense(2, name="top")])
    >>> [layer.name for layer in select_layers(m, 2)]
    ['conv_a', 'conv_b']
    >>> [layer.name for layer in select_layers(m, "conv_.*")]
    ['conv_a', 'conv_b']
    """
    layers = weighted_layers(model)
    if policy is None or (isinstance(policy, str) and policy == "none"):
        return []
    if isinstance(policy, str) and policy == "all":
        return list(layers)
    if isinstance(policy, bool):
        raise TypeError("freeze policy must be 'all', 'none', an int or names.")
    if isinstance(policy, int):
        return list(layers[:policy])
    patterns = [policy] if isinstance(policy, str) else list(policy)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(
            "freeze policy must be 'all', 'none', an int k (first k layers), a "
            f"layer name or regex, or a list of them; got {policy!r}."
        )
    names = [layer.name for layer in layers]
    picked = set()
    for pattern in patterns:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"Bad layer pattern {pattern!r}: {err}") from None
        hits = {
            i
            for i, name in enumerate(names)
            if name == pattern or regex.fullmatch(name)
        }
        if not hits:
            raise ValueError(
                f"No layer matches {pattern!r}; the layers with weights are {names}."
            )
        picked |= hits
    return [layers[i] for i in sorted(picked)]


def _set_trainable(layer, value: bool) -> None:
    layer.trainable = value
    # The base weights of a LoRA-enabled layer stay frozen whatever its flag.
    for sub in _flatten(layer):
        if getattr(sub, "lora_enabled", False):
            _freeze_lora_base(sub)


def _flatten(layer) -> Iterable:
    """``layer`` and every layer inside it."""
    yield layer
    yield from walk_layers(layer)


def _is_lora_weight(variable) -> bool:
    return variable.path.rsplit("/", 1)[-1].startswith("lora_kernel_")


def _freeze_lora_base(layer) -> None:
    for variable in layer.weights:
        if not _is_lora_weight(variable):
            variable.trainable = False


LORA_LAYERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)


def add_lora(
    model,
    rank: int = 4,
    alpha: float | None = None,
    layer_names: Sequence[str] | None = None,
    *,
    copy: bool = True,
):
    """Keras's own LoRA (``layer.enable_lora``) on every Dense / Conv kernel of a model.

    Every ``Dense`` and ``Conv1D/2D/3D`` layer (or only those named in
    ``layer_names``), in nested models too, gets ``W + (α/r)·A·B`` with
    ``B = 0`` at start (so the model computes exactly what it did); only the
    ``A``/``B`` factors of those layers train, their kernels and biases are
    frozen. With ``copy=True`` (default) a copy of ``model`` is changed and
    returned, sharing no weights with it; else ``model`` itself.

    Example:
    >>> import numpy as np, keras
    >>> from keras_transfer.freezing import add_lora
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                       keras.layers.Dense(2)])
    >>> lm = add_lora(m, rank=2)
    >>> x = np.ones((1, 4), "float32")
    >>> bool(np.array_equal(lm.predict(x, verbose=0), m.predict(x, verbose=0)))
    True
    >>> sorted({w.name for w in lm.trainable_weights})
    ['lora_kernel_a', 'lora_kernel_b']
    """
    if isinstance(rank, bool) or int(rank) != rank or rank < 1:
        raise ValueError(f"rank must be an integer >= 1, got {rank!r}.")
    if copy:
        from keras_transfer.backbones import copy_model

        model = copy_model(model)
    names = None if layer_names is None else set(layer_names)
    picked = [
        layer
        for layer in weighted_layers(model)
        if isinstance(layer, LORA_LAYERS) and (names is None or layer.name in names)
    ]
    if names is not None and len(picked) < len(names):
        found = {layer.name for layer in picked}
        raise ValueError(
            f"No Dense or Conv layer named {sorted(names - found)}; LoRA applies "
            "to keras.layers.Dense and Conv1D/2D/3D layers."
        )
    for layer in picked:
        if not layer.lora_enabled:
            layer.enable_lora(int(rank), lora_alpha=alpha)
        layer.trainable = True
        _freeze_lora_base(layer)
    return model


def is_batchnorm(layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def freeze(model, policy="all", *, freeze_batchnorm: bool = True) -> list:
    """Freeze the layers ``policy`` picks and unfreeze the others; returns the frozen.

    Every weighted layer of ``model`` gets ``trainable = layer not in
    picked``; with ``freeze_batchnorm`` every BatchNormalization layer is
    frozen too, so it runs in inference mode (moving statistics used and
    never updated, γ/β fixed), as the Keras transfer-learning guide
    recommends when fine-tuning. The base kernels of LoRA wrappers always
    stay frozen. See :func:`select_layers` for ``policy``.

    Example:
    >>> import keras
    >>> from keras_transfer.freezing import freeze
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
    ...                       keras.layers.BatchNormalization(name="bn"),
    ...                       keras.layers.Dense(2, name="b")])
    >>> [layer.name for layer in freeze(m, 1)]
    ['a', 'bn']
    >>> [w.name for w in m.trainable_weights]
    ['kernel', 'bias']
    >>> m.get_layer("b").trainable, m.get_layer("bn").trainable
    (True, False)
    """
    picked = {id(layer) for layer in select_layers(model, policy)}
    frozen = []
    for layer in weighted_layers(model):
        off = id(layer) in picked or (freeze_batchnorm and is_batchnorm(layer))
        _set_trainable(layer, not off)
        if off:
            frozen.append(layer)
    if freeze_batchnorm:
        for layer in _flatten(model):  # BN inside custom blocks too
            if is_batchnorm(layer):
                layer.trainable = False
    return frozen


# ---- per-group learning rates -------------------------------------------------


class _LRMultiplierMixin(GroupedUpdates):
    """Splits each update step by variable group and scales the learning rate.

    The multipliers are optimizer variables, so they are part of the train
    step's state on every backend (in JAX's stateless step too) and a
    callback can change them between steps without recompiling.
    """

    def _setup_groups(self, groups):
        self._group_ids = [list(ids) for ids, _ in groups]
        self._group_init = [float(m) for _, m in groups]
        self._group_of = {}
        for k, ids in enumerate(self._group_ids):
            for i in ids:
                self._group_of[i] = k
        self.lr_multipliers = []

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        with keras.name_scope(self.name, caller=self):
            self.lr_multipliers = [
                self.add_variable(
                    shape=(),
                    initializer=keras.initializers.Constant(m),
                    dtype="float32",
                    name=f"lr_multiplier_{k}",
                )
                for k, m in enumerate(self._group_init)
            ]

    def _group_rate(self, learning_rate, k):
        if k < 0:
            return learning_rate
        return ops.multiply(ops.cast(learning_rate, "float32"), self.lr_multipliers[k])


_CLASSES: dict[type, type] = {}


def _multiplier_class(cls: type) -> type:
    if cls not in _CLASSES:
        _CLASSES[cls] = type(
            f"LRMultiplier{cls.__name__}", (_LRMultiplierMixin, cls), {"base_": cls}
        )
    return _CLASSES[cls]


def _variables_of(items) -> list:
    out = []
    for item in items:
        if isinstance(item, keras.layers.Layer):
            out.extend(item.trainable_weights)
        else:
            out.append(item)
    return out


def with_lr_multipliers(
    optimizer, groups: Sequence[tuple[Iterable, float]]
) -> keras.optimizers.Optimizer:
    """A copy of ``optimizer`` where each group gets ``learning_rate × multiplier``.

    ``groups`` is a list of ``(items, multiplier)``; items are layers (their
    trainable weights at call time) or variables. Variables in no group keep
    the base learning rate. The multipliers live in
    ``optimizer.lr_multipliers`` (one scalar variable per group, created when
    the optimizer is built) and can be changed during training with
    :func:`set_lr_multiplier`; a multiplier of 0 leaves a variable exactly
    unchanged (for optimizers whose step is proportional to the learning
    rate: SGD, Adam, RMSprop, ...; weight decay is scaled the same way).

    The returned optimizer is an instance of a subclass made on the fly; it
    is meant for training, not for saving (compile the model again with a
    plain optimizer before saving it with its optimizer).

    Example:
    >>> import numpy as np, keras
    >>> from keras_transfer.freezing import with_lr_multipliers
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
    ...                       keras.layers.Dense(1)])
    >>> opt = with_lr_multipliers("adam", [([m.layers[0]], 0.0)])
    >>> m.compile(opt, "mse")
    >>> w0 = m.layers[0].get_weights()[0].copy()
    >>> _ = m.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0)
    >>> bool(np.array_equal(m.layers[0].get_weights()[0], w0))
    True
    """
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get(optimizer)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "optimizer must be a name or a keras.optimizers.Optimizer, "
            f"got {optimizer!r}."
        )
    base = type(optimizer)
    if isinstance(optimizer, _LRMultiplierMixin):
        base = base.base_  # the optimizer class it was made from
    new = _multiplier_class(base).from_config(optimizer.get_config())
    spec = []
    for items, multiplier in groups:
        multiplier = float(multiplier)
        if not multiplier >= 0:
            raise ValueError(
                f"learning-rate multipliers must be >= 0, got {multiplier}."
            )
        spec.append(([id(v) for v in _variables_of(items)], multiplier))
    new._setup_groups(spec)
    return new


def set_lr_multiplier(optimizer, group: int, value: float) -> None:
    """Set the multiplier of group ``group`` of a :func:`with_lr_multipliers` optimizer.

    Example:
    >>> import keras
    >>> from keras_transfer.freezing import with_lr_multipliers, set_lr_multiplier
    >>> layer = keras.layers.Dense(2)
    >>> layer.build((None, 3))
    >>> opt = with_lr_multipliers("sgd", [([layer], 0.0)])
    >>> opt.build(layer.trainable_weights)
    >>> set_lr_multiplier(opt, 0, 0.5)
    >>> float(opt.lr_multipliers[0].numpy())
    0.5
    """
    if not isinstance(optimizer, _LRMultiplierMixin):
        raise TypeError(
            "This optimizer has no learning-rate groups; see with_lr_multipliers."
        )
    if not optimizer.built:
        raise ValueError(
            "Build the optimizer (or start fit) before setting multipliers."
        )
    optimizer.lr_multipliers[group].assign(float(value))


class GradualUnfreezing(keras.callbacks.Callback):
    """Unfreeze the learning-rate groups of the optimizer from the top, epoch by epoch.

    The model's optimizer comes from :func:`with_lr_multipliers` with its
    groups listed bottom to top (e.g. one per layer) and multiplier 0. At
    the start of epoch ``e`` the top ``e // epochs_per_stage`` groups get
    ``multiplier``; the others stay at 0, so their weights do not move
    (ULMFiT: first the new head alone, then one more layer each epoch).
    ``stages_`` records, for each epoch, how many groups were unfrozen.

    Args:
        multiplier: learning-rate multiplier of an unfrozen group.
        epochs_per_stage: epochs between two unfreezings.
        groups: the group indices taking part, bottom to top (default: all).

    Example:
    >>> import numpy as np, keras
    >>> from keras_transfer.freezing import GradualUnfreezing, with_lr_multipliers
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
    ...                       keras.layers.Dense(4), keras.layers.Dense(1)])
    >>> m.compile(with_lr_multipliers("adam", [([m.layers[0]], 0.0),
    ...                                         ([m.layers[1]], 0.0)]), "mse")
    >>> cb = GradualUnfreezing()
    >>> _ = m.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=3, verbose=0, callbacks=[cb])
    >>> cb.stages_
    [0, 1, 2]
    """

    def __init__(
        self,
        multiplier: float = 1.0,
        epochs_per_stage: int = 1,
        groups: Sequence[int] | None = None,
    ):
        super().__init__()
        if int(epochs_per_stage) < 1:
            raise ValueError("epochs_per_stage must be >= 1.")
        self.multiplier = float(multiplier)
        self.epochs_per_stage = int(epochs_per_stage)
        self.groups = None if groups is None else list(groups)
        self.stages_: list[int] = []

    def _optimizer(self):
        opt = self.model.optimizer
        if not isinstance(opt, _LRMultiplierMixin):
            raise TypeError(
                "GradualUnfreezing needs an optimizer made by with_lr_multipliers."
            )
        if not opt.built:
            opt.build(self.model.trainable_variables)
        return opt

    def on_train_begin(self, logs=None):
        self.stages_ = []

    def on_epoch_begin(self, epoch, logs=None):
        opt = self._optimizer()
        groups = (
            list(range(len(opt.lr_multipliers))) if self.groups is None else self.groups
        )
        stage = min(epoch // self.epochs_per_stage, len(groups))
        for j, k in enumerate(reversed(groups)):
            opt.lr_multipliers[k].assign(self.multiplier if j < stage else 0.0)
        self.stages_.append(stage)
