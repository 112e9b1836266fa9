"""Self-training: confidence-thresholded pseudo-labels on the target rows."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer.losses import aligned_probabilities, pseudo_label_loss
from keras_transfer.strategies.base import Strategy, get_strategy, register_strategy


class _Holder:
    """Keeps the model being fitted out of Keras tracking (no cycle)."""

    model = None


def strong_augmentation(seed: int | None = None) -> keras.Sequential:
    """The default strong view of images: shifts, rotations and zooms.

    Geometric only (translation ±15 %, rotation ±18°, zoom ±15 %), so it
    needs no assumption on the pixel range; FixMatch's RandAugment + Cutout
    is stronger. Pass your own layer as ``augment=`` for another one.
    """
    return keras.Sequential(
        [
            keras.layers.RandomTranslation(0.15, 0.15, fill_mode="constant", seed=seed),
            keras.layers.RandomRotation(0.05, fill_mode="constant", seed=seed),
            keras.layers.RandomZoom(0.15, fill_mode="constant", seed=seed),
        ],
        name="strong_augmentation",
    )


@register_strategy("self_training")
class SelfTraining(Strategy):
    """Self-training with confident pseudo-labels (FixMatch / AdaMatch style).

    Each unlabelled target row whose predicted class probability reaches
    ``threshold`` (τ) becomes a labelled row of its predicted class; the
    loss is ``weight`` times their cross-entropy, averaged over the target
    rows of the batch (Sohn et al., FixMatch, NeurIPS 2020; Berthelot et al.,
    AdaMatch, ICLR 2022). With ``class_balance`` the target probabilities are
    first rescaled so their batch mean matches the source's (AdaMatch's
    distribution alignment), which stops the pseudo-labels from collapsing
    onto the classes the shifted target already favours.

    Images (rows of rank 3, ``H×W×C``) with ``augment="auto"``: the
    pseudo-labels come from the un-augmented rows (the weak view) and the
    cross-entropy is taken on a strongly augmented view
    (:func:`strong_augmentation`), which makes the network consistent under
    those transformations. Vectors are not augmented.

    ``align`` combines self-training with an alignment strategy: its parts
    and loss are added (``align_params`` for its own parameters), and λ (the
    scheduled ``adaptation_weight``) is passed to it; the pseudo-label term
    is weighted by ``weight`` alone, so alone (``align=None``) this strategy
    ignores λ.

    Defaults follow FixMatch (τ = 0.95, unlabelled-loss weight 1), combined
    with ``align="mmd"`` at MMD's own recipe: the pseudo-labels are only as
    good as the source model is on the target, and aligning the features
    first makes more of them right (measured in docs/strategies/self_training.md).

    Args:
        threshold: τ, the confidence a target row needs to get a label.
        class_balance: align the target's mean prediction with the source's.
        augment: ``"auto"`` (strong augmentation for images), ``None``, or a
            Keras layer applied to image rows as the strong view.
        weight: weight of the pseudo-label term.
        align: strategy name or instance to combine with (``"mmd"``), or
            ``None`` for self-training alone.
        align_params: keyword arguments of a named ``align``.
        seed: seed of the augmentation layers.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("self_training", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    >>> clf.model_.strategy.align.name_
    'mmd'
    >>> alone = DomainAdaptiveClassifier(
    ...     "self_training", strategy_params={"align": None}, epochs=2, random_state=0
    ... )
    >>> alone.fit((Xs, ys), Xt).model_.strategy.align is None
    True
    """

    recipe = {
        "adaptation_weight": 1.0,
        "schedule": "ganin",
        "source": "Sohn et al. 2020 (FixMatch): pseudo-label loss weight 1, "
        "threshold 0.95; Berthelot et al. 2022 (AdaMatch): distribution "
        "alignment for class balance; combined with mmd at its own recipe "
        "(Long et al. 2015), lambda going to mmd",
    }

    def __init__(
        self,
        threshold: float = 0.95,
        class_balance: bool = True,
        augment="auto",
        weight: float = 1.0,
        align="mmd",
        align_params: dict | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}.")
        if float(weight) < 0:
            raise ValueError(f"weight must be >= 0, got {weight!r}.")
        if isinstance(augment, dict):  # from get_config
            augment = keras.saving.deserialize_keras_object(augment)
        if not (augment in (None, "auto") or isinstance(augment, keras.layers.Layer)):
            raise ValueError(
                f"augment must be 'auto', None or a Keras layer, got {augment!r}."
            )
        if isinstance(align, dict):  # from get_config
            align = keras.saving.deserialize_keras_object(align)
        if isinstance(align, SelfTraining) or align == "self_training":
            raise ValueError("align must be another strategy than self_training.")
        self.threshold = float(threshold)
        self.class_balance = bool(class_balance)
        self.weight = float(weight)
        self.seed = seed
        self.align_params = dict(align_params or {})
        self.align = None if align is None else get_strategy(align, **self.align_params)
        self.augment_is_auto = augment == "auto"
        self.augment = strong_augmentation(seed) if augment == "auto" else augment
        self.needs_inputs = self.augment is not None or bool(
            self.align is not None and self.align.needs_inputs
        )
        self._holder = _Holder()

    def build(self, features_shape, logits_shape):
        if self.align is not None and not self.align.built:
            self.align.build(features_shape, logits_shape)

    def adapt_features(self, features, training=False, x=None):
        if self.align is None:
            return features
        extra = {"x": x} if self.align.needs_inputs else {}
        return self.align.adapt_features(features, training=training, **extra)

    def before_fit(self, model, source_batches, epochs, verbose=0):
        self._holder.model = model
        if self.augment is not None:
            x, _ = source_batches[0]
            if len(x.shape) == 4 and not self.augment.built:
                self.augment.build((None, *x.shape[1:]))
        if self.align is not None:
            self.align.before_fit(model, source_batches, epochs, verbose=verbose)

    def after_fit(self, model, target_X):
        if self.align is not None:
            self.align.after_fit(model, target_X)
        self._holder.model = None

    def call(self, features, logits, lam, training=False, x=None):
        outputs = {}
        if self.align is not None:
            extra = {"x": x} if self.align.needs_inputs else {}
            outputs.update(self.align(features, logits, lam, training=True, **extra))
        if self.augment is not None and x is not None and len(x.shape) == 4:
            model = self._holder.model
            if model is None:
                raise RuntimeError(
                    "strategy='self_training' augments images through the model "
                    "being fitted, which DomainAdaptiveClassifier.fit binds (in "
                    "before_fit); or pass augment=None."
                )
            strong = self.augment(x, training=True)
            strong_features = self.adapt_features(
                model.feature_extractor(strong, training=True), training=True
            )
            outputs["strong_logits"] = model.classifier(strong_features, training=True)
        return outputs

    def adaptation_loss(self, outputs, batch):
        logits = ops.cast(batch["logits"], "float32")
        is_source = batch["is_source"]
        if self.class_balance:
            probs = aligned_probabilities(logits, is_source)
        else:
            probs = ops.softmax(ops.stop_gradient(logits), axis=-1)
        unlabelled_target = (1.0 - is_source) * ops.cast(batch["labels"] < 0, "float32")
        student = ops.cast(outputs.get("strong_logits", logits), "float32")
        loss = self.weight * pseudo_label_loss(
            probs, student, self.threshold, weight=unlabelled_target
        )
        if self.align is not None:
            loss = loss + ops.cast(
                self.align.adaptation_loss(outputs, batch), "float32"
            )
        return loss

    def get_config(self):
        augment = "auto" if self.augment_is_auto else self.augment
        if isinstance(augment, keras.layers.Layer):
            augment = keras.saving.serialize_keras_object(augment)
        align = None
        if self.align is not None:
            align = keras.saving.serialize_keras_object(self.align)
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "class_balance": self.class_balance,
            "augment": augment,
            "weight": self.weight,
            "align": align,
            "seed": self.seed,
        }
