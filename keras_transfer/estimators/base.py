"""The shared scikit-learn face: validation, building, predicting, saving."""

from __future__ import annotations

import functools
import io
import os
import pickle

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import TransformerTags, check_random_state
from sklearn.utils.validation import check_is_fitted

from keras_transfer import backend
from keras_transfer._optimizers import fresh_optimizer
from keras_transfer.data import DomainBatches, EpochSync, InputBatches, RowSubset
from keras_transfer.data.steps import IndexedSteps
from keras_transfer.estimators._divergence import FailOnNonFinite
from keras_transfer.estimators._params import check_common
from keras_transfer.estimators._validation import (
    MASK,
    as_image_batch,
    check_X,
    is_masked,
)

FITTED_ATTRS = ("n_features_in_", "feature_names_in_")


def make_optimizer(opt, learning_rate=None, *, none_ok: bool = False):
    """A fresh Keras optimizer: from a name (at ``learning_rate``), from a Keras
    optimizer config ``{"class_name": ..., "config": {...}}`` (``learning_rate``,
    when given, replaces the config's), or a copy of an instance
    (``learning_rate``, when given, replaces its rate).

    Example:
    >>> from keras_transfer.estimators.base import make_optimizer
    >>> type(make_optimizer("sgd", 0.1)).__name__
    'SGD'
    >>> opt = make_optimizer({"class_name": "adam", "config": {"epsilon": 0.01}}, 0.1)
    >>> type(opt).__name__, opt.epsilon, round(float(opt.learning_rate), 6)
    ('Adam', 0.01, 0.1)
    """
    if isinstance(opt, dict):
        if set(opt) - {"class_name", "config"} or not isinstance(
            opt.get("class_name"), str
        ):
            raise ValueError(
                "An optimizer given as a dict must be a Keras optimizer config "
                '{"class_name": "adam", "config": {...}}, got '
                f"{opt!r}."
            )
        config = dict(opt.get("config") or {})
        if learning_rate is not None:
            config["learning_rate"] = learning_rate
        try:
            return keras.optimizers.get(
                {"class_name": opt["class_name"], "config": config}
            )
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"Could not build the optimizer {opt!r}: {err}. Use a Keras "
                "optimizer name such as 'adam' and that optimizer's arguments."
            ) from None
    if isinstance(opt, str):
        try:
            return keras.optimizers.get(
                {"class_name": opt, "config": {"learning_rate": learning_rate}}
            )
        except ValueError:
            raise ValueError(
                f"Unknown optimizer {opt!r}; use a Keras optimizer name such as "
                "'adam' or 'sgd', or a keras.optimizers.Optimizer."
            ) from None
    if isinstance(opt, keras.optimizers.Optimizer):
        lr = None if learning_rate is None else float(learning_rate)
        return fresh_optimizer(opt, learning_rate=lr)
    raise TypeError(
        f"optimizer must be {'None, ' if none_ok else ''}a name, a Keras "
        f"optimizer config dict or a keras.optimizers.Optimizer, got {opt!r}."
    )


def distributed(fit):
    """Run ``fit`` in the scope of the estimator's ``distribution`` parameter."""

    @functools.wraps(fit)
    def fit_in_scope(self, *args, **kwargs):
        with backend.distribution_scope(getattr(self, "distribution", None)):
            return fit(self, *args, **kwargs)

    return fit_in_scope


class _KerasBlob:
    """A pickled Keras model inside an estimator's pickled state."""

    def __init__(self, data: bytes):
        self.data = data


class IncompatibleModelError(ValueError):
    """A pickled estimator whose Keras model does not fit this version's layers."""


def _unblob(value):
    if not isinstance(value, _KerasBlob):
        return value
    try:
        return pickle.loads(value.data)
    except (ValueError, AttributeError, ImportError) as err:
        # ValueError: Keras could not load the weights into today's layers;
        # AttributeError / ImportError: a class the model was built from is
        # gone (e.g. the SourceFreeModel of versions before the one model).
        if isinstance(err, ValueError) and "could not be loaded" not in str(err):
            raise
        if not isinstance(err, ValueError) and "keras_transfer" not in str(err):
            raise
        first = str(err).strip().splitlines()[0]
        raise IncompatibleModelError(
            "The estimator's Keras model could not be restored: its saved layers "
            f"or weights do not fit this keras_transfer's ({first}). The file was "
            "probably written by an earlier keras_transfer version (0.x versions "
            "may change a strategy's layers): fit the estimator again with this "
            "version and save it anew."
        ) from err


class BaseTransferEstimator(ClassifierMixin, BaseEstimator):
    """Common machinery of the keras_transfer classifiers.

    Subclasses implement ``fit`` by building a Keras model and calling
    :meth:`_commit` with every fitted attribute at the end, so a failed or
    interrupted fit leaves the estimator as it was.
    """

    # ---- parameters ------------------------------------------------------------

    def _seed(self):
        """An int seed (or None) from random_state; seeds Keras when set.

        The parameters are checked first, so a bad one seeds nothing."""
        check_common(self)
        if self.random_state is None:
            return None
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        if isinstance(self.random_state, (int, np.integer)):
            seed = int(self.random_state)
        backend.set_random_seed(seed)  # Keras's, without importing TensorFlow
        return seed

    def _make_optimizer(self, optimizer=None, learning_rate=None):
        """A fresh optimizer from ``self.optimizer`` / ``self.learning_rate``,
        or from the given defaults (a strategy's recipe) where those are None:
        a name at the learning rate, or a copy of an optimizer instance (with
        its own learning rate unless ``self.learning_rate`` is given)."""
        opt = self.optimizer if self.optimizer is not None else optimizer
        lr = self.learning_rate if self.learning_rate is not None else learning_rate
        if not isinstance(opt, (str, dict)) and self.learning_rate is None:
            lr = None  # an instance keeps its own rate
        return make_optimizer(opt, lr)

    # ---- training -----------------------------------------------------------------

    def _train(
        self,
        model,
        data,
        *,
        source_batches=None,
        target_X=None,
        validation=None,
        callbacks=(),
        steps: int | None = None,
        epochs: int | None = None,
        steps_per_execution: int = 1,
    ):
        """The one training path of both estimators: the strategy's
        ``before_fit``, Keras's ``model.fit``, the strategy's ``after_fit``.

        ``data`` is a :class:`~keras_transfer.data.DomainBatches` (arrays and
        memmaps: epoch-seeded order, kept in step by ``EpochSync``) or a
        :class:`~keras_transfer.data.StreamBatches` (streams, ``steps`` per
        epoch, fed to Keras as :class:`~keras_transfer.data.steps.IndexedSteps`
        so that steps Keras reads before training, e.g. to build the model
        under tf.distribute, are not lost; what a stream raised is re-raised
        unwrapped). A non-finite loss or weight fails the fit
        (:class:`FailOnNonFinite`). ``epochs`` defaults to ``self.epochs``.
        ``steps_per_execution`` > 1 (arrays only, see
        ``backend.steps_per_execution``) runs several steps per compiled call
        for this fit only: the compile config that pickling saves keeps 1,
        which every backend can load. Returns Keras's ``History``.
        """
        epochs = self.epochs if epochs is None else int(epochs)
        callbacks = [FailOnNonFinite(), *callbacks]
        arrays = isinstance(data, DomainBatches)
        if arrays:
            feed = data
            callbacks.append(EpochSync(data))
        else:
            feed = IndexedSteps(data.step, steps)
            callbacks.append(feed.callback())
        try:
            model.strategy.before_fit(
                model, source_batches, epochs, verbose=self.verbose
            )
            model.steps_per_execution = int(steps_per_execution) if arrays else 1
            history = model.fit(
                feed,
                epochs=epochs,
                # DomainBatches shuffles rows as a function of the epoch;
                # streams come shuffled.
                shuffle=False,
                verbose=self.verbose,
                callbacks=callbacks,
                validation_data=validation,
            )
        except Exception:
            error = getattr(data, "error", None)
            if error is not None:  # what the stream raised, unwrapped
                raise error from None
            raise
        finally:
            model.steps_per_execution = 1
        model.strategy.after_fit(model, target_X)
        return history

    # ---- fitted state ------------------------------------------------------------

    def _commit(self, holder, **fitted):
        """Set every fitted attribute at once (drops stale ones)."""
        for name in FITTED_ATTRS:
            if hasattr(self, name) and not hasattr(holder, name):
                delattr(self, name)
        for name in FITTED_ATTRS:
            if hasattr(holder, name):
                setattr(self, name, getattr(holder, name))
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

    # ---- pickling -------------------------------------------------------------

    def __copy__(self):
        # A shallow copy shares the fitted models: it must not go through
        # __getstate__, which pickles them (slow, and unpickling builds layers,
        # which draws seeds from Keras's global generator in the middle of a
        # seeded fit).
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __getstate__(self):
        # Keras pickles a model through its saver, whose serializer imports
        # TensorFlow (when installed) to check for TensorFlow objects: in a
        # jax / torch process the models are pickled where Keras is told it
        # is absent (+500 MB and a 10 s import otherwise).
        state = super().__getstate__()
        with backend.keras_without_tensorflow():
            return {
                key: _KerasBlob(pickle.dumps(value))
                if isinstance(value, keras.Model)
                else value
                for key, value in state.items()
            }

    def __setstate__(self, state):
        with backend.keras_without_tensorflow():
            state = {key: _unblob(value) for key, value in state.items()}
        super().__setstate__(state)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = True
        tags.classifier_tags.multi_label = False
        # transform() returns the adapted features (for plots and scorers).
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        return tags

    # ---- prediction ------------------------------------------------------------

    def _prediction_input(self, X):
        """Validated X laid out as the fitted model takes it."""
        return as_image_batch(X)

    def _predict_all(self, X) -> dict:
        """Every output of the fitted model on X (validated, batched)."""
        check_is_fitted(self)
        X, _ = check_X(self, X, reset=False, keep_memmap=True)
        X = self._prediction_input(X)
        if X.shape[1:] != tuple(self.input_shape_):
            raise ValueError(
                f"X has rows of shape {X.shape[1:]}, but the model was fitted on "
                f"rows of shape {tuple(self.input_shape_)}."
            )
        return self._outputs_of(X)

    def _outputs_of(self, X, model=None):
        """The outputs of ``model`` (default: the fitted model) on rows already
        validated and laid out; sparse, memmapped and :class:`RowSubset` rows
        are read a batch at a time."""
        model = self.model_ if model is None else model
        batch_size = max(self.batch_size, 256)
        if sp.issparse(X) or isinstance(X, (np.memmap, RowSubset)):
            return model.predict(InputBatches(X, batch_size), verbose=0)
        return model.predict(X, batch_size=batch_size, verbose=0)

    def _proba_of(self, X, max_rows: int | None = None) -> np.ndarray:
        """Class probabilities of validated rows (an even sample of max_rows)."""
        if max_rows is not None and X.shape[0] > max_rows:
            X = X[np.linspace(0, X.shape[0] - 1, max_rows).astype(int)]
        return _softmax(self._outputs_of(X)["logits"])

    def _model_outputs(self, X, key: str = "logits"):
        return np.asarray(self._predict_all(X)[key])

    def decision_function(self, X) -> np.ndarray:
        """Class scores: logits (n_samples, n_classes); for two classes, the
        score of ``classes_[1]`` against ``classes_[0]``, shape (n_samples,)."""
        logits = self._model_outputs(X)
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in classes_ order."""
        return _softmax(self._model_outputs(X))

    def predict(self, X) -> np.ndarray:
        """Predicted labels (of the same type as the labels given to fit)."""
        scores = self._model_outputs(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on the labelled rows of ``X``; rows with ``y == -1`` are left out.

        ``-1`` (or ``None``/NaN in object labels) marks the unlabelled target
        rows of the packed form, so ``score(X_packed, y_packed)`` and a
        ``GridSearchCV`` or ``cross_val_score`` with the default scoring rate
        the predictions of the held-out rows that have a label, instead of
        counting every masked row as an error. Where ``-1`` is one of
        ``classes_`` it is a real label and every row is scored.

        Example:
        >>> import numpy as np
        >>> from keras_transfer import DomainAdaptiveClassifier
        >>> from keras_transfer.datasets import make_rotated_moons
        >>> Xs, ys, Xt, _ = make_rotated_moons(100, 100, random_state=0)
        >>> X, y = np.r_[Xs, Xt], np.r_[ys, np.full(len(Xt), -1)]
        >>> clf = DomainAdaptiveClassifier(epochs=2, random_state=0).fit(X, y)
        >>> clf.score(X, y) == clf.score(Xs, ys)  # the -1 rows are left out
        True
        """
        from sklearn.metrics import accuracy_score

        check_is_fitted(self)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        minus_one_is_a_class = (
            self.classes_.dtype.kind in "iuf" and (self.classes_ == MASK).any()
        )
        keep = np.ones(len(y), bool) if minus_one_is_a_class else ~is_masked(y)
        if not keep.any():
            raise ValueError(
                "score needs labelled rows: every y is -1 (unlabelled). Score on "
                "rows with known labels, or use an unsupervised scorer from "
                "keras_transfer.model_selection."
            )
        if not keep.all():
            if isinstance(X, (list, tuple)):
                X = np.asarray(X)
            X = X.iloc[keep] if hasattr(X, "iloc") else X[keep]
            y = y[keep]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[keep]
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit (packed form), then return the adapted features of ``X``."""
        return self.fit(X, y, **fit_params).transform(X)

    def transform(self, X) -> np.ndarray:
        """Features from the (adapted) feature extractor, for plots and diagnostics."""
        return self._model_outputs(X, key="features")

    # ---- persistence -------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Save the estimator (parameters and fitted model) to one file.

        Example:
        >>> import os, tempfile
        >>> from keras_transfer import DomainAdaptiveClassifier
        >>> from keras_transfer.datasets import make_rotated_moons
        >>> Xs, ys, Xt, _ = make_rotated_moons(100, 100, random_state=0)
        >>> clf = DomainAdaptiveClassifier(epochs=1, random_state=0).fit((Xs, ys), Xt)
        >>> path = os.path.join(tempfile.mkdtemp(), "clf.pkl")
        >>> clf.save(path)
        >>> loaded = DomainAdaptiveClassifier.load(path)
        >>> bool((loaded.predict(Xt) == clf.predict(Xt)).all())
        True
        """
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"Cannot save to {path!r}: the folder {folder!r} does not exist; "
                "create it first (os.makedirs(folder, exist_ok=True))."
            )
        # Written next to the target, then renamed: the file at ``path`` is
        # always complete. A failed or interrupted write removes its temporary.
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load an estimator written by :meth:`save`; clear errors on bad files."""
        path = os.fspath(path)
        with open(path, "rb") as f:
            data = f.read()
        try:
            obj = pickle.load(io.BytesIO(data))
        except IncompatibleModelError as err:
            raise IncompatibleModelError(f"{path}: {err}") from None
        except Exception as err:
            raise ValueError(
                f"{path} is not a readable keras_transfer estimator file (it may be "
                f"truncated or corrupted): {type(err).__name__}: {err}"
            ) from None
        if not isinstance(obj, cls):
            raise TypeError(
                f"{path} holds a {type(obj).__name__}, not a {cls.__name__}."
            )
        return obj


def _softmax(logits) -> np.ndarray:
    logits = np.asarray(logits, "float64")
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)
