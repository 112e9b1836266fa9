"""Reading rows of a ``np.memmap`` through its file, without mapping its pages.

Indexing a memmap faults the file's pages into the process: they stay
mapped, and so count in its resident set size (RSS), until the map is
closed. One epoch over a 1.6 GB memmap then shows as 1.6 GB of RSS even
though the kernel may drop those pages at will. :func:`read_rows` reads the
same bytes with ``os.preadv`` on the memmap's file instead: the page cache
serves them, but nothing stays mapped in the process, so RSS grows by one
batch, not by the file.
"""

from __future__ import annotations

import math
import mmap
import os

import numpy as np

CHUNK_BYTES = 16 * 2**20  # rows read at once by iter_chunks


def _file_layout(X):
    """``(filename, byte position of row 0, row stride, row bytes)`` or None.

    None when rows cannot be read with plain file reads: not a memmap of a
    file, a copy-on-write (``mode="c"``) map whose changes live only in
    memory, rows that are not contiguous (e.g. Fortran order), or no
    ``os.preadv`` (Windows).
    """
    mm = getattr(X, "_mmap", None)
    if (
        not isinstance(X, np.memmap)
        or mm is None
        or getattr(X, "filename", None) is None
        or X.mode == "c"
        or X.ndim == 0
        or not hasattr(os, "preadv")
        or X.dtype.hasobject
    ):
        return None
    row_bytes = X.dtype.itemsize
    for dim, stride in zip(reversed(X.shape[1:]), reversed(X.strides[1:])):
        if dim > 1 and stride != row_bytes:
            return None
        row_bytes *= dim
    if X.shape[0] > 1 and X.strides[0] < row_bytes:
        return None  # reversed or overlapping rows
    # np.memmap maps the file from the allocation-granularity boundary below
    # its offset; a view's data pointer tells how far into that map it starts.
    map_start = X.offset - X.offset % mmap.ALLOCATIONGRANULARITY
    map_addr = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    position = map_start + (X.ctypes.data - map_addr)
    return X.filename, position, X.strides[0], row_bytes


def _pread_into(fd, out, position):
    view = memoryview(out).cast("B")
    while len(view):
        n = os.preadv(fd, [view], position)
        if n == 0:
            raise OSError(
                f"Unexpected end of file at byte {position}: the memmap's file is "
                "shorter than its shape says."
            )
        view, position = view[n:], position + n


def read_rows(X, idx) -> np.ndarray:
    """Rows ``idx`` of ``X`` as a new array of ``X``'s dtype.

    For a ``np.memmap`` the rows are read from its file (consecutive rows in
    one read), so reading never grows the process RSS by more than the rows
    returned; other arrays are indexed as usual.

    Example:
    >>> import os, tempfile, numpy as np
    >>> from keras_transfer.data.memmap import read_rows
    >>> path = os.path.join(tempfile.mkdtemp(), "x.dat")
    >>> X = np.memmap(path, dtype="float64", mode="w+", shape=(5, 2))
    >>> X[:] = np.arange(10).reshape(5, 2)
    >>> read_rows(X, [4, 0, 1]).tolist()
    [[8.0, 9.0], [0.0, 1.0], [2.0, 3.0]]
    """
    idx = np.asarray(idx, dtype=np.intp).reshape(-1)
    layout = _file_layout(X)
    if layout is None:
        return np.asarray(X[idx])
    n = X.shape[0]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"row index out of range for {n} rows")
    idx = np.where(idx < 0, idx + n, idx)
    out = np.empty((idx.size, *X.shape[1:]), dtype=X.dtype)
    if idx.size == 0:
        return out
    filename, position, stride, row_bytes = layout
    if stride == row_bytes:  # runs of consecutive rows are one read each
        starts = np.flatnonzero(np.diff(idx, prepend=idx[0] - 2) != 1)
    else:
        starts = np.arange(idx.size)
    stops = np.append(starts[1:], idx.size)
    try:
        fd = os.open(filename, os.O_RDONLY)
    except OSError:  # the file was moved or deleted; the map still reads
        return np.asarray(X[idx])
    try:
        for a, b in zip(starts.tolist(), stops.tolist()):
            _pread_into(fd, out[a:b], position + int(idx[a]) * stride)
    finally:
        os.close(fd)
    return out


def iter_chunks(X, start: int = 0, chunk_bytes: int | None = None):
    """Yield ``(first_row, rows)`` over ``X[start:]`` in chunks of about
    ``chunk_bytes`` (default :data:`CHUNK_BYTES`), read as by :func:`read_rows`.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data.memmap import iter_chunks
    >>> [(i, c.shape) for i, c in iter_chunks(np.zeros((5, 2)), chunk_bytes=48)]
    [(0, (3, 2)), (3, (2, 2))]
    """
    n = X.shape[0]
    row_bytes = X.dtype.itemsize * math.prod(X.shape[1:])
    step = max(1, (chunk_bytes or CHUNK_BYTES) // max(row_bytes, 1))
    for lo in range(start, n, step):
        yield lo, read_rows(X, np.arange(lo, min(lo + step, n)))
