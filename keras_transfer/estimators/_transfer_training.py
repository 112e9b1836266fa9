"""TransferClassifier's training settings: batches, optimizer, frozen layers."""

from __future__ import annotations

import numpy as np

from keras_transfer import backend
from keras_transfer.data import DomainBatches, StreamBatches, is_stream
from keras_transfer.estimators._validation import check_classes, check_labels, encode
from keras_transfer.estimators.base import make_optimizer
from keras_transfer.freezing import (
    GradualUnfreezing,
    freeze,
    weighted_layers,
    with_lr_multipliers,
)

DEFAULT_OPTIMIZER = "adam"
DEFAULT_LEARNING_RATE = 1e-3


#: At the default training length (epochs=None, pretrain_epochs=None) an epoch
#: of a small set is cycled so that the target training takes at least
#: MIN_TARGET_STEPS optimizer steps (50 labelled rows at batch 64 would
#: otherwise get one step an epoch) and the source pretraining at least
#: MIN_PRETRAIN_STEPS.
MIN_TARGET_STEPS = 500
MIN_PRETRAIN_STEPS = 1000
DEFAULT_EPOCHS = 10
DEFAULT_PRETRAIN_EPOCHS = 5


def _batches(*rows, epochs, default: int, min_steps: int, steps=None, **kwargs):
    """(DomainBatches, epochs): ``epochs=None`` is the default length, a small
    set cycled to at least ``min_steps`` optimizer steps in all; a number
    given is that many passes (or ``steps`` a pass)."""
    batches = DomainBatches(*rows, steps=steps, **kwargs)
    if epochs is not None:
        return batches, int(epochs)
    least = -(-min_steps // default)
    if steps is None and len(batches) < least:
        batches = DomainBatches(*rows, steps=least, **kwargs)
    return batches, default


def pretrain_batches(Xs, ys, *, epochs, **kwargs):
    """(batches, epochs) of the source pretraining (labelled source rows)."""
    return _batches(
        Xs,
        ys,
        epochs=epochs,
        default=DEFAULT_PRETRAIN_EPOCHS,
        min_steps=MIN_PRETRAIN_STEPS,
        labels_only=True,
        **kwargs,
    )


def target_batches(Xs, ys, Xt, yt, *, epochs, **kwargs):
    """(batches, epochs) of the target training (source rows may be None)."""
    return _batches(
        Xs,
        ys,
        Xt,
        yt,
        epochs=epochs,
        default=DEFAULT_EPOCHS,
        min_steps=MIN_TARGET_STEPS,
        **kwargs,
    )


def stream_batches(stream, source, classes, *, epochs, steps, batch_size, seed):
    """``(StreamBatches, epochs, steps, classes)`` of a streamed target task:
    every step is the stream's next ``(X_batch, y_batch)``, its labels among
    ``classes`` (required); an epoch is ``steps`` batches (default: the
    stream's length). ``source`` (the fit's) must not be a stream."""
    if is_stream(source):
        raise TypeError(
            "A streamed source cannot be pretrained here: fit a Keras model on it "
            "first and pass that model as source_model= (or source=)."
        )
    if classes is None:
        raise ValueError(
            "A streamed target has no labels up front: pass classes=[...] to fit "
            "with every label its batches may hold, e.g. "
            "fit(target=batches, classes=[0, 1, 2])."
        )
    classes = check_classes(classes)

    def encode_batch(y_batch):
        y_batch = check_labels(y_batch, len(y_batch), "y_batch")
        return encode(y_batch, classes, np.zeros(len(y_batch), bool), True)

    batches = StreamBatches(
        None, stream, encode_labels=encode_batch, batch_size=batch_size, seed=seed
    )
    steps = steps or batches.steps_per_epoch
    if steps is None:
        raise ValueError(
            "Cannot tell how many steps make an epoch: the target stream has no "
            "length (a generator, an iterator or an endless dataset). Pass "
            "steps_per_epoch=N to the constructor, or a stream with a length: a "
            "keras.utils.PyDataset, a tf.data.Dataset of known cardinality, or "
            "an iterable with __len__."
        )
    epochs = DEFAULT_EPOCHS if epochs is None else int(epochs)
    return batches, epochs, int(steps), classes


def transfer_optimizer(optimizer, learning_rate, inherited=None, *, pretraining=False):
    """The optimizer, reusing the source run's settings where not overridden.

    ``optimizer`` / ``learning_rate`` are the estimator's parameters;
    ``inherited`` the source run's settings (``_source._optimizer_settings``),
    used for the target training where both are None.
    """
    lr = learning_rate
    if lr is None and inherited is not None and not pretraining:
        lr = inherited["learning_rate"]
    opt = optimizer
    if opt is None:
        if inherited is not None and not pretraining:
            config = dict(inherited["config"])
            if lr is not None:
                config["learning_rate"] = float(lr)
            with backend.keras_without_tensorflow():  # no TF import on jax/torch
                return inherited["class"].from_config(config)
        opt = DEFAULT_OPTIMIZER
    if isinstance(opt, (str, dict)):  # a name or a Keras optimizer config
        lr = DEFAULT_LEARNING_RATE if lr is None else float(lr)
        return make_optimizer(opt, lr)
    return make_optimizer(opt, learning_rate, none_ok=True)


def freeze_transferred(backbone, policy, *, freeze_batchnorm: bool, strategy):
    """Freeze the transferred ``backbone`` by ``policy`` and let ``strategy``
    prepare it; returns ``(backbone, tuned, frozen)``: the transferred layers
    that train and the names of the frozen ones.

    ``policy`` as :func:`keras_transfer.freezing.freeze`, or ``"half"``: the
    lower half of the weighted layers.
    """
    layers = weighted_layers(backbone)
    if isinstance(policy, str) and policy == "half":
        policy = max(1, len(layers) // 2)
    freeze(backbone, policy, freeze_batchnorm=bool(freeze_batchnorm))
    transferred = {id(v) for v in backbone.weights}
    backbone = strategy.prepare_backbone(backbone)
    frozen = [
        layer.name for layer in weighted_layers(backbone) if not layer.trainable_weights
    ]
    tuned = [
        layer
        for layer in weighted_layers(backbone)
        if any(id(v) in transferred for v in layer.trainable_weights)
    ]
    return backbone, tuned, frozen


def optimizer_groups(model, tuned, optimizer, *, multiplier, method, epochs: int):
    """(optimizer, callbacks): learning-rate groups of the transferred layers.

    ``multiplier`` is the transferred layers' learning-rate multiplier;
    ``method`` (a :class:`Method`) may unfreeze them
    gradually from the top, or train the new head alone for its
    ``head_warmup`` share of the ``epochs`` first (LP-FT).
    """
    multiplier = float(multiplier)
    # epochs of the new parts alone: the strategy's (lwf) or the method's
    # share of the training (lp_ft: the first fifth)
    warmup = max(int(model.strategy.warmup_epochs), int(epochs * method.head_warmup))
    if method.gradual and tuned:
        # ULMFiT: the new head alone first, then one more layer each epoch.
        unfreezing = GradualUnfreezing(multiplier=multiplier)
        groups = [([layer], 0.0) for layer in tuned]
        return with_lr_multipliers(optimizer, groups), [unfreezing]
    inherited = model.strategy.transferred_layers()
    parts = [(ls, m) for ls, m in ((tuned, multiplier), (inherited, 1.0)) if ls]
    if warmup > 0 and parts:
        # A warm-up of the new parts alone, then everything (Li & Hoiem;
        # LP-FT, Kumar et al. 2022).
        groups = [(layers, 0.0) for layers, _ in parts]
        callbacks = [
            GradualUnfreezing(mult, epochs_per_stage=warmup, groups=[k])
            for k, (_, mult) in enumerate(parts)
        ]
        return with_lr_multipliers(optimizer, groups), callbacks
    if tuned and multiplier != 1.0:
        return with_lr_multipliers(optimizer, [(tuned, multiplier)]), []
    return optimizer, []
