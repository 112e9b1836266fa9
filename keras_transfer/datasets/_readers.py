"""Strict readers for the raw file formats.

Each reader validates what it reads (gzip integrity, magic numbers, exact sizes,
keys, shapes, value and label ranges) and raises ``ValueError`` naming the file
rather than returning a silently wrong array.  Heavy optional imports (scipy.io,
h5py, scikit-learn) happen inside the functions.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

_PathLike = str | os.PathLike[str]


class DataFileError(ValueError):
    """A data file could not be read or does not hold what it should."""


def _fail(path: _PathLike, msg: str) -> DataFileError:
    return DataFileError(
        f"cannot read {Path(path)}: {msg}; the file is corrupt, truncated or not "
        "the expected version (delete it and fetch it again)"
    )


def _check(cond: bool, path: _PathLike, msg: str) -> None:
    if not cond:
        raise _fail(path, msg)


def read_gzip(path: _PathLike) -> bytes:
    """Whole decompressed content of a gzip file; truncation is an error."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise _fail(path, f"bad or truncated gzip data ({e})") from e


def read_idx(path: _PathLike) -> np.ndarray:
    """Array from a (gzipped) IDX file of unsigned bytes (MNIST format)."""
    raw = read_gzip(path) if str(path).endswith(".gz") else Path(path).read_bytes()
    _check(len(raw) >= 4, path, "file too short for an IDX header")
    zero, dtype_code, ndim = raw[0] * 256 + raw[1], raw[2], raw[3]
    _check(zero == 0 and dtype_code == 0x08, path, "not an IDX file of uint8")
    _check(1 <= ndim <= 4 and len(raw) >= 4 + 4 * ndim, path, "bad IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    n = int(np.prod(dims))
    _check(
        len(raw) - offset == n,
        path,
        f"IDX header says {dims} = {n} bytes, found {len(raw) - offset}",
    )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def read_idx_pair(
    images: _PathLike, labels: _PathLike, shape: tuple[int, int] = (28, 28)
) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, *shape) uint8 and labels (n,) from two IDX files."""
    X = read_idx(images)
    y = read_idx(labels)
    _check(X.ndim == 3 and X.shape[1:] == shape, images, f"images not {shape}")
    _check(y.ndim == 1, labels, "labels are not a vector")
    _check(len(X) == len(y), labels, f"{len(y)} labels for {len(X)} images in {images}")
    _check(y.size == 0 or int(y.max()) <= 9, labels, "labels outside 0..9")
    return X, y


def read_digits_csv(
    path: _PathLike, n_pixels: int = 784
) -> tuple[np.ndarray, np.ndarray]:
    """(X uint8 (n, n_pixels), y) from a gzipped CSV: pixels then the label."""
    raw = read_gzip(path)
    try:
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise _fail(path, f"bad CSV content ({e})") from e
    _check(
        table.shape[1] == n_pixels + 1,
        path,
        f"{table.shape[1]} columns, expected {n_pixels + 1}",
    )
    X, y = table[:, :-1], table[:, -1]
    _check(X.min() >= 0 and X.max() <= 255, path, "pixel values outside 0..255")
    _check(y.min() >= 0 and y.max() <= 9, path, "labels outside 0..9")
    return X.astype(np.uint8), y


def read_mat_v5(path: _PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` from a MATLAB v5 file (scipy.io)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=list(keys))
    except Exception as e:  # scipy raises many types for broken files
        raise _fail(
            path, f"not a readable MATLAB v5 file ({type(e).__name__}: {e})"
        ) from e
    missing = [k for k in keys if k not in mat]
    _check(not missing, path, f"missing variables {missing}")
    return {k: np.asarray(mat[k]) for k in keys}


def read_mat_v73(path: _PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` from a MATLAB v7.3 (HDF5) file, in h5py's axis order.

    MATLAB writes column-major, so an ``m x n`` MATLAB matrix reads as ``(n, m)``.
    """
    import h5py

    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in keys if k not in f]
            _check(not missing, path, f"missing variables {missing}")
            for k in keys:
                out[k] = np.asarray(f[k][()])
    except DataFileError:
        raise
    except Exception as e:  # h5py raises OSError/KeyError/RuntimeError/...
        raise _fail(
            path, f"not a readable MATLAB v7.3/HDF5 file ({type(e).__name__}: {e})"
        ) from e
    return out


def read_npz(path: _PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` from an .npz file (no pickles; CRCs are checked)."""
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            _check(not missing, path, f"missing arrays {missing}")
            for k in keys:
                out[k] = np.asarray(z[k])
    except DataFileError:
        raise
    except Exception as e:  # BadZipFile, EOFError, ValueError, OSError, ...
        raise _fail(path, f"not a readable .npz file ({type(e).__name__}: {e})") from e
    return out


def read_svmlight(
    path: _PathLike, n_features: int
) -> tuple[Any, np.ndarray]:  # (scipy.sparse.csr_matrix, labels)
    """(X CSR float32 (n, n_features), raw labels) from a zero-based svmlight file."""
    from sklearn.datasets import load_svmlight_file

    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        _check(f.tell() > 0, path, "empty file")
        f.seek(-1, os.SEEK_END)
        _check(f.read(1) == b"\n", path, "last line is cut off (no final newline)")
    try:
        X, y = load_svmlight_file(
            str(path), n_features=n_features, dtype=np.float32, zero_based=True
        )
    except Exception as e:
        raise _fail(path, f"bad svmlight content ({type(e).__name__}: {e})") from e
    return X, y


def check_images(
    X: np.ndarray, path: _PathLike, lo: float = 0.0, hi: float = 1.0
) -> None:
    """Finite values within [lo, hi]."""
    _check(X.size > 0, path, "no data")
    _check(bool(np.all(np.isfinite(X))), path, "non-finite values")
    _check(X.min() >= lo and X.max() <= hi, path, f"values outside [{lo}, {hi}]")


def check_labels(
    y: np.ndarray, path: _PathLike, allowed: tuple[int, ...] | range
) -> np.ndarray:
    """Labels as int64 after checking they are integral and in ``allowed``."""
    y = np.asarray(y).ravel()
    yi = np.rint(y).astype(np.int64)
    _check(bool(np.all(yi == y)), path, "non-integer labels")
    bad = np.setdiff1d(np.unique(yi), np.asarray(list(allowed)))
    _check(bad.size == 0, path, f"unexpected labels {bad.tolist()[:5]}")
    return yi
