"""TransferModel: a transferred network, a new head, and the strategy's loss terms."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer.losses import distillation_loss

#: Strategies of :class:`TransferModel` (and of ``TransferClassifier``).
STRATEGIES = (
    "feature_extraction",
    "fine_tune",
    "partial",
    "gradual",
    "joint",
    "lwf",
    "adapter",
    "lora",
    "fusion",
)
#: Strategies whose fitted model still predicts the source task.
KEEPS_SOURCE = ("joint", "lwf", "adapter", "lora")


def _masked_cross_entropy(labels, logits):
    """Mean cross-entropy over rows with ``label >= 0``, and their accuracy."""
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    logits = ops.cast(logits, "float32")
    weight = ops.cast(labels >= 0, "float32")
    safe = ops.where(labels >= 0, labels, 0)
    per_row = keras.losses.sparse_categorical_crossentropy(
        safe, logits, from_logits=True
    )
    n = ops.maximum(ops.sum(weight), 1.0)
    correct = ops.cast(ops.argmax(logits, axis=-1) == safe, "float32")
    return ops.sum(per_row * weight) / n, ops.sum(correct * weight) / n


@keras.saving.register_keras_serializable(package="keras_transfer")
class TransferModel(keras.Model):
    """A transferred network plus a new head, trained with plain ``model.fit``.

    ``network`` maps inputs to features, or to ``[features, source_outputs]``
    when the source task is kept (its source head then comes along).
    ``call`` returns a dict: ``logits`` (target task) and ``features``
    always, ``source_logits`` where the source task is kept, and while
    training whatever the loss needs. ``compute_loss`` adds the terms of the
    strategy:

    * ``joint``: ``L = L_s + λ·L_t``, source and target rows in each batch,
      one head each;
    * ``lwf`` (learning without forgetting): ``L = L_t + λ·KD``, the
      distillation (``keras_transfer.losses.distillation_loss``) of the
      frozen ``reference`` model's source outputs into the network's source
      head, on the target inputs;
    * every other strategy: ``L = L_t`` (which weights move is decided by
      their ``trainable`` flags and the optimizer's learning-rate groups).

    ``adapter`` maps features to target features (``adapter`` strategy:
    ``f_t = f_s + Δf``); ``scratch`` is a fresh network on the same inputs
    whose features are concatenated with the transferred ones (``fusion``);
    ``reference`` is a frozen copy of the source model (the ``lwf`` teacher,
    and the source-task path of ``lora``).

    ``fit`` takes ``y`` as a dict with ``label`` (target class, ``-1`` on
    rows without one) and, for ``joint``, ``source_label`` (source class,
    ``-1`` on target rows); plain integer labels mean ``label``.

    Args:
        network: Keras model, inputs → features or → [features, source outputs].
        num_classes: number of target classes.
        strategy: one of :data:`STRATEGIES` (only ``joint`` and ``lwf`` change
            the loss).
        adaptation_weight: λ.
        temperature: distillation temperature (``lwf``).
        adapter, scratch, reference, classifier: optional parts (see above);
            ``classifier`` defaults to ``Dense(num_classes)``.
        source_probabilities: the source outputs are probabilities (a softmax
            head), so ``log`` of them serves as logits.

    Example:
    >>> import numpy as np, keras
    >>> from keras_transfer.models import TransferModel
    >>> inputs = keras.Input((4,))
    >>> net = keras.Model(inputs, keras.layers.Dense(8, activation="relu")(inputs))
    >>> model = TransferModel(net, num_classes=3)
    >>> model.compile(optimizer="adam")
    >>> X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> y = np.arange(32) % 3
    >>> _ = model.fit(X, y, epochs=1, verbose=0)
    >>> model.predict(X, verbose=0)["logits"].shape
    (32, 3)
    """

    def __init__(
        self,
        network,
        num_classes: int,
        strategy: str = "fine_tune",
        adaptation_weight: float = 1.0,
        temperature: float = 2.0,
        adapter=None,
        scratch=None,
        reference=None,
        classifier=None,
        source_probabilities: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
        self.network = network
        self.num_classes = int(num_classes)
        self.strategy = strategy
        self.adaptation_weight = float(adaptation_weight)
        self.temperature = float(temperature)
        self.adapter = adapter
        self.scratch = scratch
        self.reference = reference
        self.source_probabilities = bool(source_probabilities)
        self.classifier = classifier or keras.layers.Dense(
            self.num_classes, name="target_head"
        )
        self.two_outputs = len(getattr(network, "outputs", None) or [None]) == 2
        if strategy == "lwf" and (reference is None or not self.two_outputs):
            raise ValueError("lwf needs a two-output network and a reference model.")
        if strategy == "joint" and not self.two_outputs:
            raise ValueError("joint needs a network with a source output.")
        self.task_loss_tracker = keras.metrics.Mean(name="task_loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        if strategy == "joint":
            self.source_loss_tracker = keras.metrics.Mean(name="source_loss")
        if strategy == "lwf":
            self.distillation_tracker = keras.metrics.Mean(name="distillation_loss")

    def build(self, input_shape):
        spec = self.network.compute_output_spec(keras.KerasTensor(input_shape))
        features_shape = tuple((spec[0] if self.two_outputs else spec).shape)
        if self.adapter is not None and not self.adapter.built:
            self.adapter.build(features_shape)
        if self.scratch is not None:
            extra = self.scratch.compute_output_spec(keras.KerasTensor(input_shape))
            features_shape = features_shape[:-1] + (
                features_shape[-1] + extra.shape[-1],
            )
        if not self.classifier.built:
            self.classifier.build(features_shape)
        self.built = True

    def _as_logits(self, outputs):
        if self.source_probabilities:
            return ops.log(ops.maximum(ops.cast(outputs, "float32"), 1e-12))
        return outputs

    def _network_training(self, training):
        # A fully frozen network runs in inference mode (dropout off), as the
        # Keras transfer-learning guide calls a frozen base model.
        return bool(training) and bool(self.network.trainable_weights)

    def call(self, inputs, training=False):
        out = self.network(inputs, training=self._network_training(training))
        source_logits = None
        if self.two_outputs:
            features, source_outputs = out
            source_logits = self._as_logits(source_outputs)
        else:
            features = out
        if self.adapter is not None:
            features = self.adapter(features, training=training)
        if self.scratch is not None:
            fresh = self.scratch(inputs, training=training)
            features = ops.concatenate([features, ops.cast(fresh, features.dtype)], -1)
        outputs = {"logits": self.classifier(features, training=training)}
        outputs["features"] = features
        if self.reference is not None:
            if training and self.strategy == "lwf":
                teacher = self.reference(inputs, training=False)
                teacher = teacher[-1] if isinstance(teacher, (list, tuple)) else teacher
                outputs["teacher_logits"] = ops.stop_gradient(self._as_logits(teacher))
            elif not training and self.strategy == "lora":
                ref = self.reference(inputs, training=False)
                ref = ref[-1] if isinstance(ref, (list, tuple)) else ref
                source_logits = self._as_logits(ref)
        if source_logits is not None:
            outputs["source_logits"] = source_logits
        return outputs

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not isinstance(y, dict):
            y = {"label": y}
        task_loss, accuracy = _masked_cross_entropy(y["label"], y_pred["logits"])
        self.task_loss_tracker.update_state(task_loss)
        self.accuracy_tracker.update_state(accuracy)
        lam = self.adaptation_weight
        if self.strategy == "joint" and "source_label" in y:
            source_loss, _ = _masked_cross_entropy(
                y["source_label"], y_pred["source_logits"]
            )
            self.source_loss_tracker.update_state(source_loss)
            total = source_loss + lam * task_loss
        elif self.strategy == "lwf" and "teacher_logits" in y_pred:
            kd = ops.cast(
                distillation_loss(
                    y_pred["source_logits"],
                    y_pred["teacher_logits"],
                    temperature=self.temperature,
                ),
                "float32",
            )
            self.distillation_tracker.update_state(kd)
            total = task_loss + lam * kd
        else:
            total = task_loss
        for extra_loss in self.losses:  # see AdaptationModel.compute_loss
            total = total + ops.cast(extra_loss, "float32")
        return total

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "network": ser(self.network),
            "num_classes": self.num_classes,
            "strategy": self.strategy,
            "adaptation_weight": self.adaptation_weight,
            "temperature": self.temperature,
            "adapter": None if self.adapter is None else ser(self.adapter),
            "scratch": None if self.scratch is None else ser(self.scratch),
            "reference": None if self.reference is None else ser(self.reference),
            "classifier": ser(self.classifier),
            "source_probabilities": self.source_probabilities,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("network", "adapter", "scratch", "reference", "classifier"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(
                    config[key], custom_objects=custom_objects
                )
        return cls(**config)
