"""Reading data files (CSV, NPZ, svmlight, image folders, TFDS) and option values."""

from __future__ import annotations

import ast
import csv
import gzip
import os
from pathlib import Path

import numpy as np

from keras_transfer.cli._common import (
    CSV_SUFFIXES,
    IMAGE_SUFFIXES,
    SVMLIGHT_SUFFIXES,
    CLIError,
)

# ---------------------------------------------------------------------------
# reading data


def _check_exists(*paths) -> None:
    from keras_transfer.datasets import is_tfds_name

    for path in paths:
        if path is None or is_tfds_name(path):
            continue
        if not os.path.exists(path):
            raise CLIError(f"no such file or folder: {path}")


def _parse_label(values: list[str]) -> np.ndarray:
    """Integer labels when every value is an integer, else strings."""
    try:
        floats = np.array([float(v) for v in values])
    except ValueError:
        return np.array(values, dtype=str)
    if np.all(np.isfinite(floats)) and np.all(floats == np.round(floats)):
        return floats.astype(np.int64)
    return np.array(values, dtype=str)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path, label_column=None, n_features: int | None = None):
    """Features and labels from a CSV file (header row optional).

    The label is the last column, or ``label_column`` (a header name or a
    0-based index). When ``n_features`` is given and the file has exactly that
    many columns, it holds no labels (``y`` is None).
    """
    name = str(path).removesuffix(".gz")
    delimiter = "\t" if name.endswith(".tsv") else ","
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=delimiter) if row]
    if not rows:
        raise CLIError(f"{path} is empty")
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise CLIError(f"{path} has a header but no data rows")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise CLIError(
                f"{path}: row {i + 1 + (header is not None)} has {len(row)} "
                f"columns, expected {width}"
            )
    table = np.array(rows, dtype=object)
    if label_column is None and n_features is not None and width == n_features:
        label_idx = None
    elif label_column is None:
        label_idx = width - 1
    elif header is not None and str(label_column) in header:
        label_idx = header.index(str(label_column))
    elif str(label_column).lstrip("-").isdigit():
        label_idx = int(label_column) % width
    elif n_features is not None and width == n_features:
        label_idx = None  # an unlabelled file without the label column
    else:
        raise CLIError(
            f"{path}: no column {label_column!r}"
            + (f" (columns: {', '.join(header)})" if header else "")
        )
    feature_idx = [j for j in range(width) if j != label_idx]
    try:
        X = table[:, feature_idx].astype(np.float32)
    except ValueError:
        raise CLIError(
            f"{path}: non-numeric feature values; the label must be the last "
            "column or be named with --label-column"
        ) from None
    y = None if label_idx is None else _parse_label(list(table[:, label_idx]))
    return X, y


def _read_images(path, image_shape=None):
    """Images (n, H, W, C) in [0, 1] and labels (subfolder names) or None."""
    from PIL import Image

    root = Path(path)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    loose = sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if subdirs and loose:
        raise CLIError(
            f"{path} mixes images and class subfolders; put every image in a "
            "subfolder named after its class (or none, for unlabelled images)"
        )
    if subdirs:
        files = [
            (f, d.name)
            for d in subdirs
            for f in sorted(d.iterdir())
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        ]
    else:
        files = [(f, None) for f in loose]
    if not files:
        raise CLIError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except OSError as err:
            raise CLIError(f"cannot read image {f}: {err}") from None
    if image_shape is None:
        grey = all(im.mode in ("1", "L", "I", "I;16", "F") for im in images)
        width, height = images[0].size
        channels = 1 if grey else 3
    else:
        height, width, channels = image_shape
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for im in images:
        im = im.convert(mode)
        if im.size != (width, height):
            im = im.resize((width, height), Image.BILINEAR)
        arrays.append(np.asarray(im, dtype=np.float32) / 255.0)
    X = np.stack(arrays).reshape(len(arrays), height, width, channels)
    labels = [label for _, label in files]
    y = None if labels[0] is None else _parse_label(labels)
    return X, y


def read_data(path, label_column=None, n_features=None, image_shape=None):
    """``(X, y)`` from a CSV, NPZ, svmlight file, image folder or TFDS name.

    ``y`` is None for unlabelled data. ``n_features`` (tabular) and
    ``image_shape`` (images) describe what a fitted model expects.

    Example:
    >>> import os, tempfile
    >>> from keras_transfer.cli import read_data
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,b,label\\n0.5,1.0,cat\\n1.5,0.0,dog\\n")
    >>> X, y = read_data(path)
    >>> X.shape, y.tolist()
    ((2, 2), ['cat', 'dog'])
    """
    from keras_transfer.datasets import is_tfds_name, load_tfds

    if is_tfds_name(path):
        return load_tfds(path)
    path = os.fspath(path)
    if os.path.isdir(path):
        return _read_images(path, image_shape)
    suffix = Path(path).suffix.lower()
    if suffix == ".gz":
        suffix = Path(path[:-3]).suffix.lower()
    if suffix == ".npz" and not path.endswith(".gz"):
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data:
                raise CLIError(
                    f"{path} has no array 'X' (arrays: {', '.join(data.files)})"
                )
            X = data["X"]
            y = data["y"] if "y" in data else None
        return X, y
    if suffix in SVMLIGHT_SUFFIXES:
        from sklearn.datasets import load_svmlight_file

        X, y = load_svmlight_file(path, n_features=n_features, dtype=np.float32)
        if n_features is not None and X.shape[1] != n_features:
            raise CLIError(
                f"{path} has {X.shape[1]} features; the model expects {n_features}"
            )
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
        return X, y
    if suffix in CSV_SUFFIXES:
        return read_csv(path, label_column, n_features)
    raise CLIError(
        f"{path}: unknown format {suffix or '(no suffix)'}; use .csv, .npz, "
        ".svmlight/.svm/.libsvm, a folder of images or a tfds:NAME:SPLIT name"
    )


def source_labels(y, unlabelled=None) -> np.ndarray:
    """Labels of a source file for the estimators, every row a class.

    The estimators read ``-1`` as "unlabelled" (the packed form's mask);
    in a source file every row is labelled, so integer labels holding -1
    (sentiment's -1/+1) become class names (``"-1"``, ``"1"``), which
    ``predict`` writes back as they were. Rows whose label is
    ``unlabelled`` (compared as text) are the unlabelled ones.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.cli import source_labels
    >>> source_labels(np.array([-1, 1, 1])).tolist()
    ['-1', '1', '1']
    >>> source_labels(np.array([0, 1, 9]), unlabelled=9).tolist()
    [0, 1, None]
    """
    y = np.asarray(y)
    masked = (
        np.zeros(len(y), bool)
        if unlabelled is None
        else np.array([str(v) == str(unlabelled) for v in y.tolist()])
    )
    if y.dtype.kind in "iuf" and np.any(y[~masked] == -1):
        y = y.astype(str)
    if masked.any():
        y = y.astype(object)
        y[masked] = None
    return y


def _check_label_column(estimator, y, path, label_column) -> None:
    """A CSV with one column more than the model's features: its last column is
    read as labels only if they are the model's classes (else an ID or an extra
    feature would silently shift the features)."""
    if (
        y is None
        or label_column is not None
        or not str(path)
        .lower()
        .endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz"))
    ):
        return
    classes = {str(c) for c in getattr(estimator, "classes_", ())}
    unknown = sorted({str(v) for v in np.asarray(y).tolist()} - classes)
    if unknown:
        raise CLIError(
            f"{path} has one column more than the model's "
            f"{getattr(estimator, 'n_features_in_', '?')} features, and its last "
            f"column is not labels of the model's classes (e.g. {unknown[0]!r}); "
            "drop the extra column, or name the label column with --label-column"
        )


def _expected_input(estimator):
    """(n_features, image_shape) that a fitted estimator expects."""
    shape = tuple(getattr(estimator, "input_shape_", ()) or ())
    if len(shape) == 1:
        return shape[0], None
    if len(shape) == 3:
        return None, shape
    if len(shape) == 2:
        return None, (*shape, 1)
    return getattr(estimator, "n_features_in_", None), None


def _source_input(X):
    """``(n_features, image_shape)`` of source rows, which the target must match."""
    return (X.shape[1] if X.ndim == 2 else None), (X.shape[1:] if X.ndim == 4 else None)


def _make_parent(path) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def _load_model(path):
    from keras_transfer.estimators import BaseTransferEstimator

    if not os.path.exists(path):
        raise CLIError(f"no such model file: {path}")
    return BaseTransferEstimator.load(path)


def _data_for(estimator, path, label_column):
    n_features, image_shape = _expected_input(estimator)
    X, y = read_data(path, label_column, n_features, image_shape)
    _check_label_column(estimator, y, path, label_column)
    if image_shape is not None and X.ndim == 4 and image_shape[-1] == 1:
        X = X.reshape(X.shape[0], *estimator.input_shape_)
    return X, y


# ---------------------------------------------------------------------------
# option parsing helpers


def _key_values(items, what):
    """``["units=(32,)", "gamma=5"]`` -> ``{"units": (32,), "gamma": 5}``."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"{what} {item!r}: write KEY=VALUE")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def _check_strategy(name: str) -> None:
    from keras_transfer.strategies import available_strategies

    if name.lower() not in available_strategies(transfer=False):
        raise CLIError(
            f"unknown strategy {name!r}; available: "
            + ", ".join(available_strategies(transfer=False))
        )
