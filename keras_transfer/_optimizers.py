"""Copying an optimizer (a fresh one, the same settings) and building one early."""

from __future__ import annotations

import keras

from keras_transfer import backend
from keras_transfer._keras_private import walk_layers
from keras_transfer.freezing import _LRMultiplierMixin


def fresh_optimizer(optimizer_or_model, **overrides) -> keras.optimizers.Optimizer:
    """A new, unbuilt copy of an optimizer, or of a compiled model's optimizer.

    Strategies that compile a model again (after changing which weights
    train) or compile a second network need an optimizer of the same kind
    with no slots yet. The copy keeps the class and the configuration;
    ``overrides`` (e.g. ``learning_rate=``, ``beta_1=``) replace settings,
    where given: a ``None`` value and a setting the optimizer does not have
    (``beta_1`` for SGD) are ignored. A learning-rate group optimizer (see
    :func:`keras_transfer.freezing.with_lr_multipliers`) keeps its groups and
    their initial multipliers; a ``LossScaleOptimizer`` (mixed precision)
    wraps a fresh copy of its inner optimizer. No TensorFlow import on
    JAX/torch.

    Example:
    >>> import keras
    >>> from keras_transfer._optimizers import fresh_optimizer
    >>> opt = keras.optimizers.Adam(learning_rate=0.5)
    >>> new = fresh_optimizer(opt, beta_1=0.8)
    >>> type(new).__name__, float(new.learning_rate), new.beta_1, new is opt
    ('Adam', 0.5, 0.8, False)
    >>> type(fresh_optimizer(keras.optimizers.SGD(), beta_1=0.8)).__name__
    'SGD'
    """
    optimizer = optimizer_or_model
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = optimizer_or_model.optimizer  # a compiled model
    inner = getattr(optimizer, "inner_optimizer", None)
    with backend.keras_without_tensorflow():  # no TensorFlow import on jax/torch
        config = optimizer.get_config()
        if inner is not None:  # a LossScaleOptimizer: its config is its own
            config.pop("inner_optimizer")
            return type(optimizer)(fresh_optimizer(inner, **overrides), **config)
        config.update(
            {k: v for k, v in overrides.items() if v is not None and k in config}
        )
        fresh = type(optimizer).from_config(config)
    if isinstance(optimizer, _LRMultiplierMixin):
        fresh._setup_groups(list(zip(optimizer._group_ids, optimizer._group_init)))
    return fresh


def recompile(model, **overrides) -> None:
    """Compile ``model`` again with a fresh copy of its optimizer (``overrides`` as in
    :func:`fresh_optimizer`), keeping its other compile settings.

    Needed after changing which weights are trainable (the train function
    and the optimizer's slots depend on them).

    Example:
    >>> import keras
    >>> from keras_transfer._optimizers import recompile
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> m.compile(keras.optimizers.Adam(0.25), "mse", jit_compile=False)
    >>> before = m.optimizer
    >>> recompile(m, learning_rate=0.5)
    >>> m.optimizer is before, float(m.optimizer.learning_rate), m.jit_compile
    (False, 0.5, False)
    """
    model.compile(
        optimizer=fresh_optimizer(model, **overrides),
        run_eagerly=model.run_eagerly,
        jit_compile=model.jit_compile,
        steps_per_execution=model.steps_per_execution,
    )


def build_before_fit(model) -> None:
    """Create a compiled model's optimizer variables now, before ``fit``.

    Keras's TensorFlow trainer (without a distribution strategy) leaves them
    to the first call of the compiled train function, and a ``tf.function``
    that creates variables is traced twice: tracing a step is most of a small
    fit's fixed cost. Built here on ``model.trainable_variables`` (what the
    train step passes, and what Keras's JAX and PyTorch trainers build on
    before their first step), the step is traced once. Does nothing when
    the optimizer is built already, a layer is not built yet, or the
    model was made under a ``tf.distribute`` strategy other than the one in
    effect (Keras then builds it in the model's strategy's scope).

    Example:
    >>> import keras
    >>> from keras_transfer._optimizers import build_before_fit
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> m.compile(keras.optimizers.Adam(), "mse")
    >>> build_before_fit(m)
    >>> m.optimizer.built, len(m.optimizer.variables)  # iterations, lr, 2 x 2 slots
    (True, 6)
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.built:
        return
    if backend.name() == "tensorflow":
        import tensorflow as tf

        if model.distribute_strategy is not tf.distribute.get_strategy():
            return  # made under another strategy: Keras builds in its scope
    if model.built and all(layer.built for layer in walk_layers(model)):
        optimizer.build(model.trainable_variables)
