"""Domain knowledge distillation: a source teacher guides a student on target."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer import backend
from keras_transfer._optimizers import fresh_optimizer
from keras_transfer.losses import distillation_loss
from keras_transfer.strategies.base import Strategy, register_strategy


class _Holder:
    """Keeps the teacher out of Keras tracking: it is a training-time helper."""

    teacher = None


def _fresh_copy(layer, input_shape):
    """Same architecture as ``layer``, new weights from its initializers."""
    with backend.keras_without_tensorflow():  # no TensorFlow import on jax/torch
        copy = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(layer)
        )
    if not copy.built:
        copy.build(input_shape)
    return copy


@register_strategy("distill")
class Distill(Strategy):
    """Domain knowledge distillation with a frozen source teacher.

    ``before_fit`` trains a teacher (the backbone and head's architecture,
    with its own initial weights) on the source rows for ``epochs`` epochs
    and freezes it. The student (the model being fitted) is then trained on

    * the source labels (the task loss), plus ``λ`` times
    * ``T² · KL(softmax(teacher/T) ‖ softmax(student/T))`` on the target
      rows (Hinton et al., 2015; Orbes-Arteaga et al., 2019), and
    * ``pseudo_label_weight ·`` the cross-entropy between the student and
      the teacher's class on unlabelled target rows where the teacher's
      probability is at least ``confidence``.

    The teacher sees the raw target rows (``needs_inputs``). It is not
    saved with the model: a saved or pickled model holds the student,
    which is all that ``predict`` needs.

    Args:
        temperature: softening temperature ``T`` of the soft targets.
        confidence: teacher probability above which a target row gets a
            pseudo-label.
        pseudo_label_weight: weight of the pseudo-label term (0 to turn it
            off).

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("distill", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    """

    needs_inputs = True

    recipe = {
        "adaptation_weight": 1.0,
        "schedule": "ganin",
        "source": "Hinton et al. 2015 / Orbes-Arteaga et al. 2019: "
        "distillation weight 1, temperature 2",
    }

    def __init__(
        self,
        temperature: float = 2.0,
        confidence: float = 0.9,
        pseudo_label_weight: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if float(temperature) <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}.")
        if not 0.0 <= float(confidence) <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {confidence!r}.")
        if float(pseudo_label_weight) < 0:
            raise ValueError("pseudo_label_weight must be >= 0.")
        self.temperature = float(temperature)
        self.confidence = float(confidence)
        self.pseudo_label_weight = float(pseudo_label_weight)
        self._holder = _Holder()

    @property
    def teacher(self):
        """The frozen teacher model after ``before_fit`` (``None`` before)."""
        return self._holder.teacher

    def before_fit(self, model, source_batches, epochs, verbose=0):
        x, _ = source_batches[0]
        input_shape = (None, *x.shape[1:])
        features = _fresh_copy(model.feature_extractor, input_shape)
        features_shape = tuple(
            features.compute_output_spec(keras.KerasTensor(input_shape)).shape
        )
        teacher = type(model)(
            features,
            num_classes=model.num_classes,
            strategy="source_only",
            classifier=_fresh_copy(model.classifier, features_shape),
            name="teacher",
        )
        teacher.build(input_shape)
        teacher.compile(optimizer=fresh_optimizer(model))
        teacher.fit(source_batches, epochs=epochs, verbose=verbose)
        teacher.trainable = False
        self._holder.teacher = teacher

    def call(self, features, logits, lam, training=False, x=None):
        if self.teacher is None:
            raise RuntimeError(
                "strategy='distill' has no teacher: it is trained in before_fit, "
                "which DomainAdaptiveClassifier.fit calls."
            )
        teacher_logits = self.teacher(x, training=False)["logits"]
        return {"teacher_logits": ops.stop_gradient(teacher_logits)}

    def adaptation_loss(self, outputs, batch):
        student = ops.cast(batch["logits"], "float32")
        teacher = ops.cast(outputs["teacher_logits"], "float32")
        target = 1.0 - batch["is_source"]
        loss = distillation_loss(
            student, teacher, temperature=self.temperature, sample_weight=target
        )
        if self.pseudo_label_weight:
            probs = ops.softmax(teacher, axis=-1)
            confident = ops.cast(ops.max(probs, axis=-1) >= self.confidence, "float32")
            unlabelled = ops.cast(batch["labels"] < 0, "float32")
            mask = target * confident * unlabelled
            pseudo = ops.argmax(probs, axis=-1)
            ce = keras.losses.sparse_categorical_crossentropy(
                pseudo, student, from_logits=True
            )
            pseudo_loss = ops.sum(mask * ce) / ops.maximum(ops.sum(mask), 1.0)
            loss = loss + self.pseudo_label_weight * pseudo_loss
        return batch["lambda"] * loss

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "confidence": self.confidence,
            "pseudo_label_weight": self.pseudo_label_weight,
        }
