"""Input checks shared by the estimators: clear errors that say what to do."""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from keras_transfer.data import DomainBatches
from keras_transfer.data.memmap import iter_chunks, read_rows
from keras_transfer.data.packing import MASK, is_masked  # noqa: F401 (re-exported)


def check_X(estimator, X, *, reset: bool, what: str = "X", keep_memmap: bool = False):
    """Validate features: finite numbers, 2-D tables or image batches.

    With ``reset=True`` the checks run on a shallow copy of ``estimator`` and
    the copy's ``n_features_in_`` / ``feature_names_in_`` are returned with the
    array, so a failing ``fit`` never leaves the estimator half-changed.
    Returns ``(array, holder)``; arrays come back as float32 (CSR if sparse).
    With ``keep_memmap=True`` a ``np.memmap`` is checked chunk by chunk through
    its file and returned as it is (any numeric dtype), never copied whole.
    """
    if X is None:
        raise ValueError(f"{what} is None; pass an array of shape (n_samples, ...).")
    if (
        isinstance(X, (tuple, list))
        and len(X)
        and isinstance(X[0], np.ndarray)
        and (np.ndim(X[0]) > 1)
    ):
        raise TypeError(f"{what} looks like a tuple of arrays; pass one array.")
    ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
    if ndim == 1:
        raise ValueError(
            f"{what} is 1-D (shape {np.shape(X)}); it must be 2-D (n_samples, "
            "n_features). Reshape your data: X.reshape(-1, 1) for a single "
            "feature or X.reshape(1, -1) for a single sample."
        )
    holder = copy.copy(estimator) if reset else estimator
    if keep_memmap and isinstance(X, np.memmap):
        return _check_memmap(holder, X, reset=reset, what=what), holder
    try:
        X = validate_data(
            holder,
            X,
            reset=reset,
            accept_sparse="csr",
            allow_nd=True,
            dtype="float32",
            ensure_min_features=1,
        )
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
    if sp.issparse(X):
        X.sort_indices()
    return X, holder


def _check_memmap(holder, X, *, reset: bool, what: str):
    """check_X for a memmap: sklearn's checks on the first rows, then finite
    values chunk by chunk, read through the file (the RSS stays flat)."""
    head = min(X.shape[0], 1024)
    try:
        validate_data(
            holder,
            read_rows(X, np.arange(head)),
            reset=reset,
            allow_nd=True,
            dtype="float32",
            ensure_min_features=1,
        )
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
    if X.dtype.kind in "fc":
        for lo, chunk in iter_chunks(X, start=head):
            with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf
                values = chunk.astype("float32", copy=False)
            finite = np.isfinite(values.reshape(len(values), -1))
            if not finite.all():
                row, col = np.argwhere(~finite)[0]
                kind = (
                    "NaN"
                    if np.isnan(values.reshape(len(values), -1)[row, col])
                    else "infinity or a value too large for dtype('float32')"
                )
                raise ValueError(
                    f"{what}: Input contains {kind} (first at row {lo + row} of "
                    "the memmap, checked chunk by chunk)."
                )
    return X


def check_same_shape(Xs, Xt):
    s_shape = tuple(np.shape(Xs) if not hasattr(Xs, "shape") else Xs.shape)[1:]
    t_shape = tuple(np.shape(Xt) if not hasattr(Xt, "shape") else Xt.shape)[1:]
    if t_shape and s_shape != t_shape:
        raise ValueError(
            f"Source rows have shape {s_shape} but target rows have shape "
            f"{t_shape}: both domains must have the same features (same "
            "columns in the same order, same image size and channels)."
        )


def as_image_batch(X):
    """(n, H, W) images get a channel axis; other arrays pass unchanged."""
    if not sp.issparse(X) and X.ndim == 3:
        return X[..., None]
    return X


def check_labels(y, n_rows: int, what: str):
    """A 1-D label vector of the right length, without NaN (use -1 to mask)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            f"A column-vector {what} was passed when a 1d array was expected; "
            "it was flattened. Pass y.ravel() to silence this warning.",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{what} must be 1-D (n_samples,), got shape {y.shape}.")
    if y.shape[0] != n_rows:
        raise ValueError(f"{what} has {y.shape[0]} labels but its X has {n_rows} rows.")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(
            f"{what} contains NaN or inf; mark unlabelled rows with -1 instead."
        )
    return y


def encode_labels(labelled_y):
    """The sorted classes of the labelled rows (after classification checks)."""
    labelled_y = np.asarray(labelled_y)
    if labelled_y.dtype.kind == "O" and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in labelled_y
    ):
        # Integers in an object array (a column with None on unlabelled rows):
        # sklearn calls that label type "unknown".
        labelled_y = labelled_y.astype("int64")
    check_classification_targets(labelled_y)
    classes = np.unique(labelled_y)
    return classes


def encode(y, classes, mask, given: bool = False):
    """Integer codes of ``y`` in ``classes`` (``-1`` where ``mask``); ``given``:
    the classes came from the user's ``classes=``, not from the source labels."""
    out = np.full(y.shape[0], MASK, dtype="int32")
    if (~mask).any():
        values = y[~mask]
        try:
            idx = np.searchsorted(classes, values)
        except TypeError:  # e.g. string labels against integer classes
            idx = np.zeros(len(values), dtype=np.intp)
        idx = np.clip(idx, 0, len(classes) - 1)
        unknown = classes[idx] != values
        if unknown.any():
            if given:
                where = "the classes given to fit"
                tail = "pass every label the data may hold in classes=[...]."
            else:
                where = "the source classes"
                tail = "domain adaptation needs the same label set in both domains."
            raise ValueError(
                f"Labels {sorted(set(values[unknown].tolist()))[:5]} are not among "
                f"{where} {classes.tolist()}: {tail}"
            )
        out[~mask] = idx
    return out


def check_validation_pair(validation_data) -> None:
    """A clear error, before any training, when ``validation_data`` is not
    ``None`` or a pair ``(X_val, y_val)``."""
    if validation_data is None:
        return
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError(
            "validation_data must be a pair (X_val, y_val) of features and "
            f"labels, got {type(validation_data).__name__}."
        )


def validation_batches(
    validation_data,
    holder,
    classes,
    *,
    side: str = "source",
    to_input=as_image_batch,
    keep_memmap: bool = False,
):
    """Batches of ``validation_data = (X_val, y_val)`` for ``model.fit`` (or None).

    ``side`` is the domain the rows are fed as: ``"source"``
    (DomainAdaptiveClassifier: labels among the source ``classes``, ``-1``
    marks an unlabelled row) or ``"target"`` (TransferClassifier: the
    labelled target task, every label among ``classes``). ``holder`` checks
    the features as it checked the training rows; ``to_input`` shapes them
    for the model; ``keep_memmap`` leaves a memmap on disk.
    """
    if side not in ("source", "target"):
        raise ValueError(f"side must be 'source' or 'target', got {side!r}.")
    if validation_data is None:
        return None
    check_validation_pair(validation_data)
    Xv, yv = validation_data
    Xv, _ = check_X(
        holder, Xv, reset=False, what="validation X", keep_memmap=keep_memmap
    )
    yv = check_labels(yv, Xv.shape[0], "validation labels")
    if side == "source":
        return DomainBatches(
            to_input(Xv), encode(yv, classes, is_masked(yv)), batch_size=256, seed=0
        )
    try:
        yv = encode(yv, classes, np.zeros(len(yv), bool))
    except ValueError:
        raise ValueError(
            "validation labels must be among the target classes."
        ) from None
    return DomainBatches(None, None, to_input(Xv), yv, batch_size=256, seed=0)


def check_classes(classes):
    """The label set a user passes as ``classes=``: sorted, unique, >= 2 labels.

    Example:
    >>> from keras_transfer.estimators._validation import check_classes
    >>> check_classes(["dog", "cat", "dog"]).tolist()
    ['cat', 'dog']
    """
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(
            f"classes must be a 1-D list of labels, got shape {classes.shape}."
        )
    if is_masked(classes).any():
        raise ValueError(
            "classes must not hold -1 (or None/NaN): it marks unlabelled rows."
        )
    check_classification_targets(classes)
    classes = np.unique(classes)
    if len(classes) < 2:
        raise ValueError(
            f"classes must hold at least two labels, got {classes.tolist()}."
        )
    return classes


def check_positive_int(value, name: str, minimum: int = 1):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or (value < minimum)
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def check_non_negative(value, name: str):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (np.isfinite(value) and value >= 0)
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")


# ---- parameter tables: name -> constraint, checked once at the top of fit ----


def positive_int(minimum: int = 1, optional: bool = False):
    """Constraint: an integer >= ``minimum`` (or None when ``optional``)."""

    def check(value, name):
        if not (optional and value is None):
            check_positive_int(value, name, minimum)

    return check


def non_negative(positive: bool = False, optional: bool = False, below=None):
    """Constraint: a finite number >= 0 (> 0 when ``positive``; < ``below``)."""

    def check(value, name):
        if optional and value is None:
            return
        check_non_negative(value, name)
        if positive and value == 0:
            hint = " (or None)" if optional else ""
            raise ValueError(f"{name} must be > 0{hint}.")
        if below is not None and value >= below:
            raise ValueError(f"{name} must be a fraction in [0, {below}).")

    return check


def dict_or_none(value, name):
    """Constraint: a dict of keyword arguments, or None."""
    if not isinstance(value, (dict, type(None))):
        raise TypeError(
            f"{name} must be a dict of the strategy's keyword arguments, got "
            f"{type(value).__name__}."
        )


def check_params(estimator, table: dict) -> None:
    """Check every parameter of ``table`` (name -> constraint), in order.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.estimators._validation import check_params
    >>> table = DomainAdaptiveClassifier.PARAMETERS
    >>> check_params(DomainAdaptiveClassifier(epochs=0), table)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got 0.
    """
    for name, constraint in table.items():
        constraint(getattr(estimator, name), name)
