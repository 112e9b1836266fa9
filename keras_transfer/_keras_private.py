"""Every use of a private Keras API, fenced in one module.

Keras 3 has no public API for the needs below. Each touch point says what it
uses and why; ``tests/test_keras_private.py`` has one test per touch point,
so a Keras upgrade that breaks one fails there, by name. No other module
imports ``keras.src`` or calls a private Keras method.

Example:
>>> import keras
>>> from keras_transfer._keras_private import walk_layers
>>> inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="d")])
>>> outer = keras.Sequential([keras.Input((2,)), inner, keras.layers.Dense(1,
...                                                                     name="o")])
>>> [layer.name for layer in walk_layers(outer)][-2:]
['d', 'o']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import keras


# ---- 1. keras.src.utils.rng_utils: seeding without importing TensorFlow ----
def seed_without_tensorflow(seed: int) -> bool:
    """``keras.utils.set_random_seed`` with TensorFlow reported unavailable.

    Keras's ``set_random_seed`` seeds TensorFlow whenever it is importable,
    through a lazy module (``rng_utils.tf``) whose ``_available`` flag says
    whether it may be imported; it is set to False for the call. Returns False
    (nothing done) when this Keras has no such module: the caller then seeds
    the public way.
    """
    try:
        from keras.src.utils import rng_utils

        lazy_tf, saved = rng_utils.tf, rng_utils.tf._available
    except (ImportError, AttributeError):
        return False
    lazy_tf._available = False
    try:
        keras.utils.set_random_seed(seed)
    finally:
        lazy_tf._available = saved
    return True


# ---- 1b. keras.src.utils.module_utils: TensorFlow looked at, not imported ----
def lazy_tensorflow():
    """Keras's lazy ``tensorflow`` module (``module_utils.tensorflow``).

    Its ``_available`` flag says whether Keras may import TensorFlow to check
    whether an object is a TensorFlow one (every ``get_config`` does);
    :func:`keras_transfer.backend.keras_without_tensorflow` sets it to False
    for a while. None for a Keras without it.
    """
    try:
        from keras.src.utils import module_utils

        lazy_tf = module_utils.tensorflow
        lazy_tf._available  # noqa: B018 - the attribute must exist
    except (ImportError, AttributeError):
        return None
    return lazy_tf


# ---- 2. Layer._flatten_layers: the sub-layers a layer tracks ----
def walk_layers(
    layer, descend: Callable[[object], bool] | None = None
) -> Iterator[keras.layers.Layer]:
    """Every sub-layer of ``layer``, depth first, in the order it holds them.

    Keras tracks sub-layers of models, wrappers and custom blocks alike but
    exposes only a model's top level (``model.layers``);
    ``_flatten_layers(recursive=False)`` lists the children of any layer (for
    a functional or Sequential model in call order; its recursive form
    reverses nested layers, hence one level at a time here). ``descend``
    picks the layers whose children are visited (default: all). Each layer is
    yielded once.
    """
    seen: set[int] = set()

    def visit(parent):
        for child in parent._flatten_layers(include_self=False, recursive=False):
            if id(child) in seen:
                continue
            seen.add(id(child))
            yield child
            if descend is None or descend(child):
                yield from visit(child)

    yield from visit(layer)


# ---- 3. Optimizer._backend_update_step / _apply_weight_decay ----
class GroupedUpdates:
    """Optimizer mixin: each update step split by variable group.

    Keras applies one learning rate to all variables in
    ``Optimizer._backend_update_step(grads, variables, learning_rate)`` and
    decays weights in ``_apply_weight_decay(variables)`` (using
    ``_use_weight_decay(variable)``); there is no public per-variable
    learning rate, so these are overridden to call the base step once per
    group with ``self._group_rate(learning_rate, variable_group)``. The class
    using it provides ``_group_of`` (variable id -> group, -1 for none) and
    ``_group_rate(learning_rate, group)``.
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        buckets: dict[int, tuple[list, list]] = {}
        for g, v in zip(grads, trainable_variables):
            k = self._group_of.get(id(v), -1)
            buckets.setdefault(k, ([], []))
            buckets[k][0].append(g)
            buckets[k][1].append(v)
        for k, (gs, vs) in sorted(buckets.items()):
            super()._backend_update_step(gs, vs, self._group_rate(learning_rate, k))

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        for v in variables:
            if not self._use_weight_decay(v):
                continue
            k = self._group_of.get(id(v), -1)
            lr = keras.ops.cast(self._group_rate(self.learning_rate, k), v.dtype)
            wd = keras.ops.cast(self.weight_decay, v.dtype)
            v.assign(v - v * wd * lr)
