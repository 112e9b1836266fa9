"""Source-free (SHOT) and test-time (TENT) adaptation of a trained Keras model.

Both start from a trained source network and see only target rows: no
source data, no target labels. The network is split into a feature
extractor and its head (the last layer).
"""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_transfer.backbones import copy_model, cut
from keras_transfer.data import DomainBatches
from keras_transfer.estimators._validation import (
    as_image_batch,
    check_params,
    check_X,
    non_negative,
    positive_int,
)
from keras_transfer.estimators.base import BaseTransferEstimator
from keras_transfer.models import AdaptationModel
from keras_transfer.strategies.entropy import EntropyMinimization

NORMALIZATION = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
)


def _linear_copy(head):
    """The head with its softmax (if any) removed, so it outputs logits."""
    config = head.get_config()
    if config.get("activation") not in (None, "linear"):
        config = {**config, "activation": "linear"}
        copy = type(head).from_config(config)
        copy.build(head.input.shape)
        copy.set_weights(head.get_weights())
        return copy
    return head


def split_source(source, feature_layer: str | None = None):
    """``(feature_extractor, head, classes)`` from a trained source.

    ``source``: a ``keras.Model`` whose last layer is the classifier head
    (logits or softmax), a ``.keras`` / ``.h5`` path to one, or a fitted
    keras_transfer estimator (its ``model_``). Copies: the source is never
    changed. ``classes`` is the estimator's ``classes_``, else ``None``.
    """
    classes = None
    if hasattr(source, "model_") and hasattr(source, "classes_"):
        model, classes = source.model_, np.asarray(source.classes_)
        if hasattr(model, "feature_extractor") and hasattr(model, "classifier"):
            features = copy_model(model.feature_extractor)
            return features, copy_model(model.classifier), classes
        source = model
    if isinstance(source, (str, os.PathLike)):
        source = keras.saving.load_model(os.fspath(source))
    if not isinstance(source, keras.Model) or not getattr(source, "layers", None):
        raise ValueError(
            "source_model must be a trained keras.Model (functional or Sequential, "
            "ending in its classifier head), a .keras/.h5 path to one, or a fitted "
            f"keras_transfer estimator; got {type(source).__name__}."
        )
    model = copy_model(source)
    head = model.layers[-1]
    if feature_layer is None:
        features = keras.Model(model.inputs, head.input, name="source_features")
    else:
        features = cut(model, feature_layer)
        if tuple(features.output.shape[1:]) != tuple(head.input.shape[1:]):
            raise ValueError(
                f"feature_layer={feature_layer!r} must feed the head directly (its "
                f"output {features.output.shape} vs the head's input "
                f"{head.input.shape})."
            )
    return features, _linear_copy(head), classes


def source_free_model(
    features, head, input_shape, diversity: float, label_weight: float
):
    """The :class:`AdaptationModel` that SHOT and TENT train on target rows.

    Its strategy is information maximisation (``entropy``: ``mean H(p) -
    diversity · H(mean p)``, λ = 1), its task loss the cross-entropy on the
    rows' pseudo-labels at ``label_weight`` (``-1``: no label; TENT passes
    none and uses the entropy alone). Built for rows of ``input_shape``.

    Example:
    >>> import keras, numpy as np
    >>> from keras_transfer.estimators.source_free import source_free_model
    >>> f = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    >>> m = source_free_model(f, keras.layers.Dense(2), (2,), 1.0, 0.3)
    >>> sorted(m(np.zeros((3, 2), "float32")))
    ['features', 'logits']
    """
    shape = (None, *input_shape)
    spec = features.compute_output_spec(keras.KerasTensor(shape))
    logits = head.compute_output_spec(keras.KerasTensor(spec.shape))
    model = AdaptationModel(
        features,
        num_classes=int(logits.shape[-1]),
        strategy=EntropyMinimization(diversity=diversity, label_weight=label_weight),
        adaptation_weight=1.0,
        schedule="constant",
        classifier=head,
    )
    model.build(shape)
    return model


class _SourceFreeBase(BaseTransferEstimator):
    """Shared parts: the source, the classes, the model input."""

    def _start(self, X, diversity, pseudo_label_weight):
        if self.source_model is None:
            raise ValueError(
                f"{type(self).__name__} needs source_model=: a trained keras.Model, "
                "a model file or a fitted keras_transfer estimator."
            )
        X, holder = check_X(self, X, reset=True, what="target X")
        X = as_image_batch(X)
        features, head, classes = split_source(self.source_model, self.feature_layer)
        model = source_free_model(
            features, head, X.shape[1:], diversity, pseudo_label_weight
        )
        n_out = model.num_classes
        if self.classes is not None:
            classes = np.asarray(self.classes)
        if classes is None:
            classes = np.arange(n_out)
        if len(classes) != n_out:
            raise ValueError(
                f"classes has {len(classes)} labels but the source head has {n_out} "
                "outputs."
            )
        return X, holder, model, classes

    #: the parameter table: name -> constraint (see _validation.check_params)
    PARAMETERS = {
        "epochs": positive_int(),
        "batch_size": positive_int(),
        "learning_rate": non_negative(positive=True),
    }

    def _check_common(self):
        check_params(self, self.PARAMETERS)


class SHOTClassifier(_SourceFreeBase):
    """SHOT: source-free adaptation of a trained classifier (Liang et al., ICML 2020).

    Only unlabelled target rows are seen. The source head is frozen (the
    "source hypothesis"); the feature extractor is trained on the target
    with

    * information maximisation: ``mean H(p) − diversity · H(mean p)``, so
      each prediction is confident and the classes stay balanced;
    * self-supervised pseudo-labels, recomputed at the start of each epoch:
      class centroids of the target features weighted by the predictions,
      each row labelled by its nearest centroid (cosine), then once more
      with the hard labels; cross-entropy weight ``pseudo_label_weight``.

    Defaults: diversity 1 as in the paper; a small step, Adam at 1e-5 for
    15 epochs, and β = 0.1 (the paper: 0.3), because SHOT fine-tunes a
    trained network with no label to stop it: at Adam 1e-3 and β = 0.3 it
    lost 20-45 points to the source model on dense feature vectors, and at
    1e-4 still 8-11, while 1e-5 / 0.1 gained on every task measured (digits
    +12 / +26, MNIST→MNIST-M-like +8, Amazon reviews +1-2, dense features
    +1-13; docs/benchmarks_shot.md). The paper's SGD (momentum 0.9, 1e-2) lost
    20-60 points on the dense features.

    ``fit(X)`` takes target rows (``y`` is ignored), so the estimator works in
    ``Pipeline`` / ``GridSearchCV`` (scored with target labels, or by an
    unsupervised scorer) and pickles.

    Args:
        source_model: trained ``keras.Model`` ending in its head, a
            ``.keras`` / ``.h5`` path, or a fitted keras_transfer estimator.
        feature_layer: layer where features end (default: the head's input).
        classes: labels of the head's outputs (default: the estimator's
            ``classes_``, else ``0..k-1``).
        diversity: weight of the class-balance term.
        pseudo_label_weight: β, weight of the pseudo-label cross-entropy.
        epochs, batch_size, optimizer, learning_rate, random_state, verbose:
            as in :class:`~keras_transfer.DomainAdaptiveClassifier`.

    Example:
    >>> import keras
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> from keras_transfer.estimators.source_free import SHOTClassifier
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, angle=30, random_state=0)
    >>> keras.utils.set_random_seed(0)
    >>> source = keras.Sequential([
    ...     keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
    ...     keras.layers.Dense(2)])
    >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> source.compile("adam", loss)
    >>> _ = source.fit(Xs, ys, epochs=5, verbose=0)
    >>> shot = SHOTClassifier(source, epochs=2, random_state=0).fit(Xt)
    >>> shot.predict(Xt).shape
    (200,)
    """

    def __init__(
        self,
        source_model=None,
        feature_layer: str | None = None,
        classes=None,
        diversity: float = 1.0,
        pseudo_label_weight: float = 0.1,
        epochs: int = 15,
        batch_size: int = 64,
        optimizer="adam",
        learning_rate: float = 1e-5,
        random_state=None,
        verbose=0,
    ):
        self.source_model = source_model
        self.feature_layer = feature_layer
        self.classes = classes
        self.diversity = diversity
        self.pseudo_label_weight = pseudo_label_weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Adapt the source network to the target rows ``X`` (``y`` ignored)."""
        self._check_common()
        if float(self.diversity) < 0 or float(self.pseudo_label_weight) < 0:
            raise ValueError("diversity and pseudo_label_weight must be >= 0.")
        seed = self._seed()
        X, holder, model, classes = self._start(
            X, self.diversity, self.pseudo_label_weight
        )
        model.classifier.trainable = False  # the source hypothesis stays
        model.compile(optimizer=self._make_optimizer())
        data = DomainBatches(
            None,
            None,
            X,
            self._pseudo_labels(model, X),
            batch_size=self.batch_size,
            seed=seed,
        )
        history = self._train(model, data, callbacks=[_Relabel(self, data, X)])
        return self._commit(
            holder,
            classes_=classes,
            model_=model,
            history_=history.history,
            input_shape_=tuple(X.shape[1:]),
        )

    def _pseudo_labels(self, model, X):
        if not self.pseudo_label_weight:
            return np.full(len(X), -1, "int32")
        out = model.predict(X, batch_size=max(self.batch_size, 256), verbose=0)
        return shot_pseudo_labels(
            np.asarray(out["features"]), np.asarray(out["logits"])
        )


class _Relabel(keras.callbacks.Callback):
    """SHOT's pseudo-labels, recomputed from the model after each epoch."""

    def __init__(self, estimator, data, X):
        super().__init__()
        self.estimator, self.data, self.X = estimator, data, X

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.params.get("epochs", epoch + 2):
            self.data.set_target_labels(
                self.estimator._pseudo_labels(self.model, self.X)
            )


def shot_pseudo_labels(features, logits) -> np.ndarray:
    """SHOT's clustering pseudo-labels from target features and logits.

    Centroids ``c_k = Σ p_k f / Σ p_k`` of the (bias-augmented,
    L2-normalised) features, each row labelled by its nearest centroid in
    cosine distance; then the centroids are recomputed from those hard labels
    and the rows labelled once more.

    Example:
    >>> import numpy as np
    >>> f = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> z = np.array([[2.0, 0.0], [0.1, 0.0], [0.0, 2.0], [0.0, 0.1]])
    >>> shot_pseudo_labels(f, z).tolist()
    [0, 0, 1, 1]
    """
    f = np.asarray(features, "float64").reshape(len(features), -1)
    f = np.concatenate([f, np.ones((len(f), 1))], axis=1)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    z = np.asarray(logits, "float64")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    weights = p
    for _ in range(2):
        centroids = weights.T @ f / np.maximum(weights.sum(axis=0)[:, None], 1e-12)
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        labels = np.argmax(f @ centroids.T, axis=1)
        weights = np.eye(p.shape[1])[labels]
    return labels.astype("int32")


class TentClassifier(_SourceFreeBase):
    """TENT: test-time entropy minimisation (Wang et al., ICLR 2021).

    Online adaptation of a trained network while it predicts: each
    ``partial_fit(X_batch)`` takes one optimizer step that lowers the mean
    prediction entropy on that batch, updating **only the affine parameters**
    (γ, β) of the normalisation layers (BatchNormalization,
    LayerNormalization, GroupNormalization); every other weight stays the
    source's. BatchNorm layers normalise each adaptation batch with its own
    statistics, as in the paper, and their moving statistics follow the
    target batches (``stats_momentum``), so ``predict`` uses target
    statistics. A network without normalisation layer is refused.

    ``fit(X)`` starts again from the source and makes one pass of
    ``partial_fit`` over ``X`` in batches of ``batch_size``; ``reset()``
    restores the source weights (call it when the target drifts back or
    the adaptation went wrong).

    Defaults follow the paper's CIFAR setting: Adam, learning rate 1e-3,
    batches of 128 (the paper: 200 for CIFAR, 64 on ImageNet with SGD).

    Args:
        source_model: trained ``keras.Model`` ending in its head, a path, or
            a fitted keras_transfer estimator.
        feature_layer: layer where features end (default: the head's input).
        classes: labels of the head's outputs.
        batch_size: rows per step in ``fit`` (``partial_fit`` uses its batch).
        optimizer, learning_rate: of the entropy steps.
        stats_momentum: momentum of the BatchNorm moving statistics during
            adaptation (0: the last batch's statistics).
        random_state: seed.

    Example:
    >>> import keras, numpy as np
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> from keras_transfer.estimators.source_free import TentClassifier
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, angle=30, random_state=0)
    >>> source = keras.Sequential([
    ...     keras.Input((2,)), keras.layers.Dense(16),
    ...     keras.layers.BatchNormalization(), keras.layers.ReLU(),
    ...     keras.layers.Dense(2)])
    >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> source.compile("adam", loss)
    >>> _ = source.fit(Xs, ys, epochs=2, verbose=0)
    >>> tent = TentClassifier(source, random_state=0)
    >>> for batch in np.array_split(Xt, 4):
    ...     tent = tent.partial_fit(batch)
    >>> tent.predict(Xt).shape
    (200,)
    """

    def __init__(
        self,
        source_model=None,
        feature_layer: str | None = None,
        classes=None,
        batch_size: int = 128,
        optimizer="adam",
        learning_rate: float = 1e-3,
        stats_momentum: float = 0.9,
        random_state=None,
        verbose=0,
    ):
        self.source_model = source_model
        self.feature_layer = feature_layer
        self.classes = classes
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.stats_momentum = stats_momentum
        self.random_state = random_state
        self.verbose = verbose

    def _check_common(self):
        self.epochs = 1  # for the shared checks; one pass by definition
        try:
            super()._check_common()
        finally:
            del self.epochs
        if not 0.0 <= float(self.stats_momentum) < 1.0:
            raise ValueError("stats_momentum must be in [0, 1).")

    def _initialise(self, X):
        self._check_common()
        self._seed()
        X, holder, model, classes = self._start(X, 0.0, 0.0)
        norms = [
            layer
            for layer in _all_layers(model)
            if isinstance(layer, NORMALIZATION)
            and (getattr(layer, "scale", False) or getattr(layer, "center", False))
        ]
        if not norms:
            raise ValueError(
                "TentClassifier adapts the affine parameters of normalisation layers "
                "(BatchNormalization, LayerNormalization, GroupNormalization), and "
                "the source network has none: use SHOTClassifier, or a network "
                "with normalisation layers."
            )
        for layer in _all_layers(model):
            if not isinstance(layer, keras.Model):
                layer.trainable = isinstance(layer, NORMALIZATION)
        for layer in norms:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(self.stats_momentum)
        model.compile(optimizer=self._make_optimizer())
        self._commit(
            holder,
            classes_=classes,
            model_=model,
            input_shape_=tuple(X.shape[1:]),
            source_weights_=[np.copy(w) for w in model.get_weights()],
            n_batches_seen_=0,
        )
        return X

    def fit(self, X, y=None):
        """Start from the source again and adapt with one pass over ``X``."""
        X = self._initialise(X)
        for start in range(0, len(X), int(self.batch_size)):
            self._step(X[start : start + int(self.batch_size)])
        return self

    def partial_fit(self, X, y=None):
        """One entropy step on the batch ``X`` (``y`` ignored)."""
        if not hasattr(self, "model_"):
            X = self._initialise(X)
        else:
            X, _ = check_X(self, X, reset=False, what="X")
            X = as_image_batch(X)
        self._step(X)
        return self

    def _step(self, X):
        unlabelled_target = {
            "label": np.full(len(X), -1, "int32"),
            "is_source": np.zeros(len(X), "float32"),
        }
        logs = self.model_.train_on_batch(X, unlabelled_target, return_dict=True)
        self.n_batches_seen_ += 1
        self.history_ = getattr(self, "history_", {"entropy": []})
        # λ = 1 and no diversity term: the adaptation loss is the mean entropy.
        self.history_["entropy"].append(float(logs["adaptation_loss"]))

    def reset(self) -> TentClassifier:
        """Restore the source weights and a fresh optimizer (keeps the setup)."""
        self.model_.set_weights(self.source_weights_)
        self.model_.compile(optimizer=self._make_optimizer())
        self.n_batches_seen_ = 0
        self.history_ = {"entropy": []}
        return self


def _all_layers(model):
    """Every layer inside ``model``, nested models included (depth first)."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_all_layers(layer))
    return out
