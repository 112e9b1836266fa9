"""TensorFlow Datasets as source or target: ``tf.data`` or a name -> numpy arrays.

Any TFDS dataset can feed a keras_transfer estimator: :func:`load_tfds` takes
a ``tf.data.Dataset`` (e.g. from ``tfds.load``) or a name such as
``"tfds:mnist:train"`` and returns numpy arrays ``(X, y)``. TFDS's own
``data_dir``, ``download`` and other ``tfds.load`` arguments are passed
through untouched. ``tensorflow_datasets`` (and so TensorFlow) is imported
only when a function here is called: ``pip install tensorflow-datasets``.

Example:
>>> from keras_transfer.datasets import parse_tfds_name
>>> parse_tfds_name("tfds:mnist:train[:10%]")
('mnist', 'train[:10%]')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["TFDS_PREFIX", "is_tfds_name", "load_tfds", "parse_tfds_name"]

#: Prefix that marks a TFDS dataset name, e.g. ``"tfds:mnist:train"``.
TFDS_PREFIX = "tfds:"


def is_tfds_name(name: Any) -> bool:
    """Whether ``name`` is a ``"tfds:<dataset>[:<split>]"`` string.

    Example:
    >>> from keras_transfer.datasets import is_tfds_name
    >>> is_tfds_name("tfds:mnist:test"), is_tfds_name("data/source.csv")
    (True, False)
    """
    return isinstance(name, str) and name.lower().startswith(TFDS_PREFIX)


def parse_tfds_name(name: str, default_split: str = "train") -> tuple[str, str]:
    """Split ``"tfds:<dataset>[:<split>]"`` into ``(dataset, split)``.

    The dataset part may carry a config and version (``"mnist/3.0.1"``);
    the split part is anything ``tfds.load`` accepts, slices included
    (``"train[:500]"``, ``"test[50%:]"``).

    Example:
    >>> from keras_transfer.datasets import parse_tfds_name
    >>> parse_tfds_name("tfds:cifar10"), parse_tfds_name("tfds:mnist:test[:50]")
    (('cifar10', 'train'), ('mnist', 'test[:50]'))
    """
    if not is_tfds_name(name):
        raise ValueError(
            f"{name!r} is not a TFDS name; write 'tfds:<dataset>[:<split>]', "
            "e.g. 'tfds:mnist:train'."
        )
    rest = name[len(TFDS_PREFIX) :]
    dataset, _, split = rest.partition(":")
    dataset, split = dataset.strip(), split.strip() or default_split
    if not dataset:
        raise ValueError(f"{name!r} names no dataset; e.g. 'tfds:mnist:train'.")
    return dataset, split


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise ImportError(
            "TFDS datasets need the tensorflow-datasets package (and TensorFlow): "
            "pip install tensorflow-datasets tensorflow-cpu"
        ) from err
    return tfds


def _pick(element, image_key, label_key, supervised_keys, what):
    """(x, y) from a dataset element: a pair, a dict or a bare tensor."""
    if isinstance(element, (tuple, list)):
        if len(element) == 2:
            return element[0], element[1]
        if len(element) == 1:
            return element[0], None
        raise ValueError(
            f"{what}: elements are tuples of {len(element)} items; expected "
            "(features, label)."
        )
    if isinstance(element, Mapping):
        x_key, y_key = image_key, label_key
        if x_key is None or y_key is None:
            sx, sy = supervised_keys or (None, None)
            x_key = x_key if x_key is not None else sx
            y_key = y_key if y_key is not None else sy
        if x_key is None:
            x_key = next((k for k in ("image", "features", "x") if k in element), None)
        if y_key is None:
            y_key = "label" if "label" in element else None
        if x_key not in element:
            raise ValueError(
                f"{what}: no feature key {x_key!r} in its elements "
                f"(keys: {sorted(element)}); pass image_key=..."
            )
        if y_key is not None and y_key not in element:
            raise ValueError(
                f"{what}: no label key {y_key!r} in its elements "
                f"(keys: {sorted(element)}); pass label_key=..."
            )
        return element[x_key], (None if y_key is None else element[y_key])
    return element, None


def _to_numpy(
    dataset,
    *,
    image_key,
    label_key,
    supervised_keys,
    max_examples,
    batched,
    batch_size,
    scale,
    what,
):
    tfds = _import_tfds()
    if max_examples is not None:
        if batched:
            dataset = dataset.unbatch()
            batched = False
        dataset = dataset.take(int(max_examples))
    if not batched:
        dataset = dataset.batch(int(batch_size))
    xs, ys = [], []
    for element in tfds.as_numpy(dataset):
        x, y = _pick(element, image_key, label_key, supervised_keys, what)
        xs.append(np.asarray(x))
        if y is not None:
            ys.append(np.asarray(y))
    if not xs:
        raise ValueError(f"{what} is empty: no examples to load.")
    X = np.concatenate(xs)
    y = np.concatenate(ys) if ys else None
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{what}: features of dtype {X.dtype} are not numeric; choose a "
            "numeric feature with image_key=... or preprocess the dataset first."
        )
    if y is not None and y.shape[0] != X.shape[0]:
        raise ValueError(f"{what}: {X.shape[0]} feature rows but {y.shape[0]} labels.")
    if y is not None and y.ndim > 1 and y.shape[1:] != (1,) * (y.ndim - 1):
        raise ValueError(
            f"{what}: labels of shape {y.shape[1:]} per example; keras_transfer "
            "needs one class label per example."
        )
    if y is not None:
        y = y.reshape(-1)
    if scale and X.dtype == np.uint8:
        X = X.astype(np.float32) / np.float32(255.0)
    elif X.dtype.kind == "f" and X.dtype != np.float32:
        X = X.astype(np.float32)
    return X, y


def load_tfds(
    dataset,
    split: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    image_key: str | None = None,
    label_key: str | None = None,
    max_examples: int | None = None,
    batched: bool = False,
    batch_size: int = 1024,
    scale: bool = True,
    **load_kwargs,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a TFDS dataset (or any ``tf.data.Dataset``) as numpy ``(X, y)``.

    Args:
        dataset: a ``tf.data.Dataset`` (unbatched elements ``(x, y)``, a
            dict such as ``{"image": ..., "label": ...}`` or bare features),
            a name ``"tfds:<dataset>[:<split>]"`` or a bare TFDS name
            (``"mnist"``) resolved with ``tfds.load``.
        split: the TFDS split when ``dataset`` is a name (overrides the one
            in the name; default ``"train"``).
        data_dir: TFDS's data directory (``tfds.load(data_dir=...)``; default:
            TFDS's own, ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        download: let TFDS download and prepare the dataset when missing
            (``tfds.load(download=...)``).
        image_key, label_key: which entries of dict elements hold the features
            and the label (default: the dataset's supervised keys, else
            ``"image"`` and ``"label"``). ``label_key`` defaults to no label when
            the elements have none, for unlabelled target data.
        max_examples: keep only the first examples.
        batched: whether a given ``tf.data.Dataset`` is already batched.
        batch_size: rows per batch while reading.
        scale: map ``uint8`` features (images) to float32 in ``[0, 1]``,
            the convention of :mod:`keras_transfer.datasets`.
        **load_kwargs: any other ``tfds.load`` argument (``try_gcs``,
            ``download_and_prepare_kwargs``, ``read_config``, ...).

    Returns:
        ``X`` (float32 for images, as stored otherwise; TFDS's shape, e.g.
        ``(n, 28, 28, 1)``) and ``y`` (1-D labels, or ``None`` when the
        elements carry no label).

    Example:
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from keras_transfer.datasets import load_tfds
    >>> ds = tf.data.Dataset.from_tensor_slices(
    ...     (np.zeros((5, 3), "float32"), np.arange(5)))
    >>> X, y = load_tfds(ds)
    >>> X.shape, y.tolist()
    ((5, 3), [0, 1, 2, 3, 4])
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if max_examples is not None and int(max_examples) < 1:
        raise ValueError(f"max_examples must be >= 1, got {max_examples}.")
    common = dict(
        image_key=image_key,
        label_key=label_key,
        max_examples=max_examples,
        batch_size=batch_size,
        scale=scale,
    )
    if not isinstance(dataset, (str, os.PathLike)):
        if not hasattr(dataset, "element_spec"):
            raise TypeError(
                "dataset must be a tf.data.Dataset or a name such as "
                f"'tfds:mnist:train', got {type(dataset).__name__}."
            )
        if load_kwargs or data_dir is not None:
            raise TypeError(
                "data_dir and tfds.load arguments only apply to a dataset name."
            )
        return _to_numpy(
            dataset,
            supervised_keys=None,
            batched=batched,
            what="the dataset",
            **common,
        )

    name = os.fspath(dataset)
    if is_tfds_name(name):
        name, name_split = parse_tfds_name(name)
    else:
        name_split = "train"
    split = split or name_split
    if "as_supervised" in load_kwargs or "batch_size" in load_kwargs:
        raise TypeError(
            "load_tfds reads examples itself: leave out as_supervised and "
            "batch_size (use image_key / label_key)."
        )
    tfds = _import_tfds()
    ds, info = tfds.load(
        name,
        split=split,
        data_dir=None if data_dir is None else os.fspath(data_dir),
        download=download,
        with_info=True,
        **load_kwargs,
    )
    supervised = getattr(info, "supervised_keys", None)
    if isinstance(supervised, (tuple, list)) and len(supervised) == 2:
        if not all(isinstance(k, str) for k in supervised):
            supervised = None
    else:
        supervised = None
    return _to_numpy(
        ds,
        supervised_keys=supervised,
        batched=False,
        what=f"TFDS dataset {name!r} (split {split!r})",
        **common,
    )
