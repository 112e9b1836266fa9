"""AdaptationModel: one backend-neutral training path for every strategy."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_transfer import backend, schedules
from keras_transfer._optimizers import build_before_fit
from keras_transfer.strategies import Strategy, get_strategy


def _eager_torch() -> bool:
    """Whether this train step runs op by op (PyTorch, not being compiled)."""
    if backend.name() != "torch":
        return False
    import torch

    return not torch.compiler.is_compiling()


@keras.saving.register_keras_serializable(package="keras_transfer")
class StepMeans(keras.metrics.Metric):
    """Running means of several per-step scalars, kept in one vector.

    One update and one read per step whatever the number of scalars, where a
    ``keras.metrics.Mean`` per scalar costs its own update and result (each a
    few eager ops and a host read per step on torch). The means are those
    ``Mean`` gives (total / steps, float32). ``result()`` is a dict, which
    Keras spreads into the logs: ``history_["task_loss"]`` and the like.

    Args:
        names: the scalars, in the order of the vector.

    Example:
    >>> from keras_transfer.models.adaptation_model import StepMeans
    >>> means = StepMeans(["task_loss", "lambda"])
    >>> means.update_state({"task_loss": 1.0, "lambda": 0.5})
    >>> means.update_state({"task_loss": 3.0})  # a name left out counts 0
    >>> {k: float(v) for k, v in means.result().items()}
    {'task_loss': 2.0, 'lambda': 0.25}
    """

    def __init__(self, names, name: str = "step_means", **kwargs):
        super().__init__(name=name, **kwargs)
        self.names = tuple(names)
        self.total = self.add_variable(
            shape=(len(self.names),), initializer="zeros", name="total"
        )
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values: dict) -> None:
        """Add one step's ``{name: scalar}`` (missing names add 0)."""
        self.total.assign_add(
            ops.stack([ops.cast(values.get(n, 0.0), self.dtype) for n in self.names])
        )
        self.count.assign_add(1.0)

    def result(self) -> dict:
        means = ops.divide_no_nan(self.total, self.count)
        return {n: means[i] for i, n in enumerate(self.names)}

    def get_config(self):
        return {**super().get_config(), "names": list(self.names)}


@keras.saving.register_keras_serializable(package="keras_transfer")
class AdaptationModel(keras.Model):
    """Feature extractor + classifier head + a strategy's extra parts.

    ``call`` returns a dict: ``logits`` and ``features`` always, and when
    training also the scheduled adaptation weight ``lambda`` and whatever the
    strategy adds. ``compute_loss`` is the masked task loss on labelled rows
    plus the strategy's adaptation loss, so training is plain ``model.fit``
    on every backend: progress bars, callbacks, validation data, early
    stopping and checkpoints work as in any Keras model.

    ``fit`` expects ``y`` as a dict with ``label`` (int, ``-1`` for
    unlabelled rows) and ``is_source`` (1.0 source, 0.0 target); the
    :class:`keras_transfer.data.DomainBatches` dataset produces it.

    λ at step t is ``adaptation_weight * schedule(t / total_steps)``,
    computed in the graph from a step counter saved with the model.

    Args:
        feature_extractor: a Keras model or layer mapping inputs to features.
        num_classes: number of classes of the head.
        strategy: a strategy name or :class:`Strategy` instance.
        adaptation_weight: λ, the weight of the adaptation term.
        schedule: a λ schedule name or instance.
        classifier: optional head layer; default ``Dense(num_classes)``.

    Example:
    >>> import numpy as np, keras
    >>> from keras_transfer.models import AdaptationModel
    >>> from keras_transfer.data import DomainBatches
    >>> features = keras.Sequential([keras.layers.Dense(8, activation="relu")])
    >>> model = AdaptationModel(features, num_classes=2, strategy="dann")
    >>> model.build((None, 2))
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(64, 2)), rng.normal(size=(64, 2))
    >>> ys = (Xs[:, 0] > 0).astype(int)
    >>> data = DomainBatches(Xs, ys, Xt, batch_size=16, seed=0)
    >>> model.set_total_steps(2 * len(data))
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(data, epochs=2, verbose=0)
    >>> sorted(model.predict(Xt, verbose=0))
    ['features', 'logits']
    """

    def __init__(
        self,
        feature_extractor,
        num_classes: int,
        strategy: str | Strategy = "source_only",
        adaptation_weight: float = 1.0,
        schedule="constant",
        classifier=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.feature_extractor = feature_extractor
        self.num_classes = int(num_classes)
        self.strategy = (
            get_strategy(strategy) if isinstance(strategy, str) else strategy
        )
        self.adaptation_weight = float(adaptation_weight)
        self.schedule = schedules.get(schedule)
        self.classifier = classifier or keras.layers.Dense(
            self.num_classes, name="classifier"
        )
        self.step_counter = self.add_weight(
            shape=(),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            name="step_counter",
        )
        self.total_steps = self.add_weight(
            shape=(),
            initializer="ones",
            dtype="float32",
            trainable=False,
            name="total_steps",
        )
        # The per-step means shown in progress bars and ``history_``, in one
        # tracker; evaluation steps have no adaptation term and log 0 for it,
        # a strategy without one (source_only) shows none.
        names = ("task_loss", "adaptation_loss", "lambda", "accuracy")
        if not self.strategy.adapts:
            names = ("task_loss", "accuracy")
        self.step_means = StepMeans(names)
        # Eager PyTorch: the step counter mirrored on the host (see _step_lambda).
        self._host_steps = None

    def build(self, input_shape):
        if not self.feature_extractor.built:
            self.feature_extractor.build(input_shape)
        spec = self.feature_extractor.compute_output_spec(
            keras.KerasTensor(input_shape)
        )
        features_shape = tuple(spec.shape)
        if not self.classifier.built:
            self.classifier.build(
                self.strategy.adapted_shape(features_shape, tuple(input_shape))
            )
        logits_shape = (features_shape[0], self.num_classes)
        if not self.strategy.built:
            self.strategy.build(features_shape, logits_shape)

    def set_total_steps(self, steps: int) -> None:
        """Set the length of training that the λ schedule spans."""
        self.total_steps.assign(float(max(int(steps), 1)))
        self.step_counter.assign(0.0)
        self._host_steps = None

    def current_lambda(self):
        progress = ops.clip(self.step_counter / self.total_steps, 0.0, 1.0)
        return self.adaptation_weight * self.schedule(progress)

    def _step_lambda(self, dtype):
        """This training step's λ (as a ``dtype`` tensor); counts the step.

        In a traced step (TensorFlow, JAX, ``torch.compile``) λ is computed in
        the graph from the step counter. An eager PyTorch step would spend
        about ten op dispatches on that scalar, so there the counter is
        mirrored on the host (read from the variable once per ``fit`` /
        ``train_on_batch``, no device read per step) and the schedule gives a
        plain number (:meth:`LambdaSchedule.value`, the same float32
        formula). The variable is still counted, so saved models and
        checkpoints hold the step either way. A schedule without its own
        ``value`` stays in the graph: the base class's fallback reads the
        device, a sync per step on a GPU.
        """
        host_value = type(self.schedule).value is not schedules.LambdaSchedule.value
        if not (host_value and _eager_torch()):
            lam = ops.cast(self.current_lambda(), dtype)
            self.step_counter.assign_add(1.0)
            return lam
        if self._host_steps is None:  # [step, total_steps], float32
            counters = (self.step_counter, self.total_steps)
            self._host_steps = np.array(
                [ops.convert_to_numpy(v) for v in counters], dtype="float32"
            )
        step, total = self._host_steps
        progress = min(max(step / total, 0.0), 1.0)
        lam = np.float32(self.adaptation_weight) * np.float32(
            self.schedule.value(progress)
        )
        self._host_steps[0] += 1.0
        self.step_counter.assign_add(1.0)
        return ops.convert_to_tensor(float(lam), dtype)

    def fit(self, *args, **kwargs):
        # The step counter may have been set since the last step (a strategy's
        # before_fit, set_total_steps, load_weights): mirror it afresh.
        self._host_steps = None
        # Traced once on TensorFlow: see _optimizers.build_before_fit.
        build_before_fit(self)
        return super().fit(*args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        self._host_steps = None
        build_before_fit(self)
        return super().train_on_batch(*args, **kwargs)

    def call(self, inputs, training=False):
        # A fully frozen feature extractor runs in inference mode (dropout
        # off), as the Keras transfer-learning guide calls a frozen base.
        frozen = not self.feature_extractor.trainable_weights
        raw = self.feature_extractor(inputs, training=bool(training) and not frozen)
        extra = {"x": inputs} if self.strategy.needs_inputs else {}
        features = self.strategy.adapt_features(raw, training=training, **extra)
        logits = self.classifier(features, training=training)
        outputs = {"logits": logits, "features": features}
        outputs.update(self.strategy.source_outputs(raw, training=training, **extra))
        if training:
            lam = self._step_lambda(features.dtype)
            outputs.update(self.strategy(features, logits, lam, training=True, **extra))
            outputs["lambda"] = lam
        return outputs

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        # Each op is a dispatch (eager on torch): compute what is needed, once.
        labels = ops.reshape(ops.cast(y["label"], "int32"), (-1,))
        logits = ops.cast(y_pred["logits"], "float32")
        adapting = training and "lambda" in y_pred
        if adapting or self.strategy.task_rows == "target":
            is_source = ops.reshape(ops.cast(y["is_source"], "float32"), (-1,))
        known = labels >= 0
        labelled = ops.cast(known, "float32")
        if self.strategy.task_rows == "target":
            # The source rows' labels belong to the source task's label space.
            labelled = labelled * (1.0 - is_source)
        if sample_weight is not None:
            labelled = labelled * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        safe_labels = ops.where(known, labels, 0)
        per_row = keras.losses.sparse_categorical_crossentropy(
            safe_labels, logits, from_logits=True
        )
        n_labelled = ops.maximum(ops.sum(labelled), 1.0)
        task_loss = ops.sum(per_row * labelled) / n_labelled
        correct = ops.where(ops.argmax(logits, axis=-1) == safe_labels, labelled, 0.0)
        logs = {"task_loss": task_loss, "accuracy": ops.sum(correct) / n_labelled}
        total = task_loss
        if adapting:
            lam = ops.cast(y_pred["lambda"], "float32")
            weight = self.strategy.task_weight(lam)
            if not (isinstance(weight, float) and weight == 1.0):
                total = task_loss * weight
            batch = {
                "features": y_pred["features"],
                "logits": y_pred["logits"],
                "lambda": y_pred["lambda"],
                "is_source": is_source,
                "labels": labels,
            }
            adaptation = ops.cast(
                self.strategy.adaptation_loss(y_pred, batch), "float32"
            )
            logs.update(adaptation_loss=adaptation, **{"lambda": lam})
            total = total + adaptation
        self.step_means.update_state(logs)
        # Read once and add one by one: an empty ``ops.sum([])`` breaks
        # torch.compile (jit_compile=True on torch), and the losses may differ
        # in dtype under mixed precision.
        for extra_loss in self.losses:
            total = total + ops.cast(extra_loss, "float32")
        # Under tf.distribute each replica sees a share of the batch and the
        # gradients are summed: scale as Keras does for its compiled losses.
        return backend.scale_loss_for_replicas(total)

    def get_config(self):
        return {
            **super().get_config(),
            "feature_extractor": keras.saving.serialize_keras_object(
                self.feature_extractor
            ),
            "num_classes": self.num_classes,
            "strategy": keras.saving.serialize_keras_object(self.strategy),
            "adaptation_weight": self.adaptation_weight,
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("feature_extractor", "strategy", "schedule", "classifier"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)
