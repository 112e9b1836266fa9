"""Batches that mix source and target rows, for ``model.fit``."""

from __future__ import annotations

import math

import keras
import numpy as np
import scipy.sparse as sp

from keras_transfer import backend
from keras_transfer.data.memmap import read_rows


class RowSubset:
    """Rows ``idx`` of an array, memmap or sparse matrix, read only when taken.

    A subset (e.g. a hold-out split) of a ``np.memmap`` without copying it:
    :func:`take_rows` reads a batch's rows from the underlying file.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data.batches import RowSubset, take_rows
    >>> rows = RowSubset(np.arange(10.0).reshape(5, 2), [1, 4])
    >>> rows.shape, take_rows(rows, [1]).tolist()
    ((2, 2), [[8.0, 9.0]])
    """

    def __init__(self, X, idx):
        self.X = X
        self.idx = np.asarray(idx, dtype=np.intp)
        self.shape = (len(self.idx), *X.shape[1:])
        self.ndim = len(self.shape)
        self.dtype = X.dtype

    def __len__(self):
        return self.shape[0]


def take_rows(X, idx):
    """Rows ``idx`` of a NumPy array, memmap, scipy.sparse matrix or
    :class:`RowSubset`, dense float32.

    A ``np.memmap`` is read through its file (``data.memmap.read_rows``), so
    its pages do not pile up in the process's resident memory.
    """
    if isinstance(X, RowSubset):
        return take_rows(X.X, X.idx[np.asarray(idx, dtype=np.intp)])
    if isinstance(X, np.memmap):
        return np.asarray(read_rows(X, idx), dtype="float32")
    rows = X[idx]
    if sp.issparse(rows):
        rows = rows.toarray()
    return np.asarray(rows, dtype="float32")


class DomainBatches(keras.utils.PyDataset):
    """A Keras ``PyDataset`` of balanced source/target batches.

    Every batch holds ``batch_size`` source rows and, when there is target
    data, ``batch_size`` target rows (the smaller domain is cycled), so each
    step sees both domains whatever their sizes. Rows are reshuffled every
    epoch. ``X`` may be a NumPy array, a ``np.memmap`` or a scipy.sparse
    matrix: only the rows of one batch are made dense, so large inputs are
    never copied whole. Each batch is ``(x, {"label", "is_source"})`` with
    ``label = -1`` on unlabelled rows.

    An epoch is one pass over the larger of the two domains.

    Under a data-parallel fit each device gets a contiguous slice of the
    batch, so the rows are laid out in ``shards`` blocks, each with its share
    of the source rows followed by its share of the target rows: every device
    then sees both domains (per-device losses such as those of
    ``tf.distribute`` need it). The rows per domain are rounded down to a
    multiple of ``shards``.

    Args:
        Xs, ys: source rows and their integer labels (``-1`` = unlabelled),
            or ``None`` for batches of target rows only (task transfer).
        Xt, yt: target rows (or ``None``) and optional labels (``-1`` where
            unlabelled; default all unlabelled).
        batch_size: rows per domain in each batch.
        seed: seed of the shuffling.
        shards: devices that split each batch; default: those of the active
            ``keras.distribution`` / ``tf.distribute`` scope (1 outside one).
        steps: batches per epoch (default: one pass over the larger domain);
            a small set is cycled to fill them.
        labels_only: yield ``(x, label)`` instead of the dict (a plain Keras
            model with a compiled loss, e.g. a source pretraining).

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data import DomainBatches
    >>> data = DomainBatches(np.zeros((10, 2)), np.zeros(10, int), np.ones((4, 2)),
    ...                      batch_size=5, seed=0)
    >>> x, y = data[0]
    >>> x.shape, y["is_source"].tolist()
    ((10, 2), [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    """

    def __init__(
        self,
        Xs,
        ys,
        Xt=None,
        yt=None,
        batch_size: int = 64,
        seed=None,
        shards: int | None = None,
        steps: int | None = None,
        labels_only: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if Xs is None and Xt is None:
            raise ValueError("DomainBatches needs source rows, target rows or both.")
        self.Xs = Xs
        self.ys = None if Xs is None else np.asarray(ys, dtype="int32")
        self.Xt = Xt
        self.labels_only = bool(labels_only)
        n_t = 0 if Xt is None else Xt.shape[0]
        self.yt = (
            np.full(n_t, -1, dtype="int32") if yt is None else np.asarray(yt, "int32")
        )
        self.batch_size = int(batch_size)
        # The order of epoch e depends on (seed, e) only, so a fit resumed at
        # epoch e (keras.callbacks.BackupAndRestore) sees the same batches.
        self.seed = (
            int(np.random.SeedSequence().entropy % 2**32) if seed is None else seed
        )
        n_s = 0 if Xs is None else Xs.shape[0]
        longest = max(n_s, n_t)
        self.shards = backend.num_replicas() if shards is None else int(shards)
        self.half = min(self.batch_size, longest)
        self.half = max(self.shards, self.half - self.half % self.shards)
        self.n_batches = int(steps) if steps else max(1, math.ceil(longest / self.half))
        self.set_epoch(0)

    def _order(self, rng, n):
        reps = math.ceil(self.n_batches * self.half / n)
        return np.concatenate([rng.permutation(n) for _ in range(reps)])

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for epoch ``epoch`` (a pure function of the seed and epoch)."""
        self.epoch = int(epoch)
        rng = np.random.default_rng([self.seed, self.epoch])
        self.source_order = (
            None if self.Xs is None else self._order(rng, self.Xs.shape[0])
        )
        self.target_order = (
            None if self.Xt is None else self._order(rng, self.Xt.shape[0])
        )
        self._plan_epoch()

    def _plan_epoch(self) -> None:
        """Lay out every batch of the epoch at once, so a step only gathers rows.

        Every batch holds ``half`` rows per domain (the orders are long enough),
        so the sorted rows of all batches are one ``(n_batches, half)`` sort,
        and the per-device layout is one column order shared by every batch.
        """
        used = self.n_batches * self.half
        orders = [
            (side, order)
            for side, order in enumerate((self.source_order, self.target_order))
            if order is not None
        ]
        rows = [
            np.sort(o[:used].reshape(self.n_batches, self.half), 1) for _, o in orders
        ]
        if len(rows) == 1:  # one domain only
            self._segments = [(orders[0][0], 0, self.half)]
        else:
            columns = np.arange(self.half)
            layout = per_device([columns, columns], self.shards)
            self._segments, start = [], 0
            for side, cols in layout:
                self._segments.append((side, start, start + len(cols)))
                start += len(cols)
            rows = [rows[side][:, cols] for side, cols in layout]
        self._index = np.concatenate(rows, axis=1)  # (n_batches, rows per batch)
        sides = ((self.ys, 1.0), (self.yt, 0.0))
        self._labels = np.empty(self._index.shape, "int32")
        self._is_source = np.empty(self._index.shape[1], "float32")
        for side, lo, hi in self._segments:
            labels, domain = sides[side]
            self._labels[:, lo:hi] = labels[self._index[:, lo:hi]]
            self._is_source[lo:hi] = domain

    def set_target_labels(self, yt) -> None:
        """Relabel the target rows (e.g. new pseudo-labels) from the next batch on.

        Example:
        >>> import numpy as np
        >>> from keras_transfer.data import DomainBatches
        >>> data = DomainBatches(None, None, np.zeros((4, 2)), batch_size=4, seed=0)
        >>> data.set_target_labels([1, 0, 1, 0])
        >>> sorted(data[0][1]["label"].tolist())
        [0, 0, 1, 1]
        """
        yt = np.asarray(yt, "int32")
        if self.Xt is None or yt.shape != self.yt.shape:
            raise ValueError(
                f"set_target_labels needs one label per target row ({len(self.yt)}), "
                f"got shape {yt.shape}."
            )
        self.yt = yt
        self._plan_epoch()

    def on_epoch_end(self):
        # Keras may call this after the next epoch's on_epoch_begin; when an
        # EpochSync callback drives the epoch, it alone decides.
        if not getattr(self, "synced", False):
            self.set_epoch(self.epoch + 1)

    def __len__(self):
        return self.n_batches

    def __getitem__(self, index):
        index = range(self.n_batches)[index]  # IndexError past the end, like a list
        idx = self._index[index]
        sides = (self.Xs, self.Xt)
        x = stack_rows([(sides[side], idx[lo:hi]) for side, lo, hi in self._segments])
        if self.labels_only:
            return x, self._labels[index].copy()
        return x, {
            "label": self._labels[index].copy(),
            "is_source": self._is_source.copy(),
        }


def per_device(domains, shards: int) -> list:
    """Each domain's rows cut into ``shards`` contiguous chunks, in batch order.

    Device ``i`` gets a contiguous slice of a batch under data parallelism;
    laying the rows out as chunk ``i`` of every domain, device after device,
    gives each device its share of every domain. Returns ``(domain, rows)``
    pairs in batch order.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data.batches import per_device
    >>> [(d, rows.tolist()) for d, rows in per_device([np.arange(4), [7, 8]], 2)]
    [(0, [0, 1]), (1, [7]), (0, [2, 3]), (1, [8])]
    """
    chunks = [np.array_split(np.asarray(rows), shards) for rows in domains]
    return [(d, chunk[i]) for i in range(shards) for d, chunk in enumerate(chunks)]


def stack_rows(parts) -> np.ndarray:
    """``take_rows`` of each ``(X, idx)`` pair, stacked, as one float32 array.

    In-memory arrays are copied straight into one output array: building a
    512-row batch of 32×32×3 images from per-domain copies and a concatenate
    took ~15 ms (fresh pages for each temporary), this ~1 ms.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data.batches import stack_rows
    >>> stack_rows([(np.eye(3), [2]), (np.zeros((2, 3)), [0, 1])]).tolist()
    [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    if not all(type(X) is np.ndarray for X, _ in parts):  # memmap, sparse
        return np.concatenate([take_rows(X, idx) for X, idx in parts])
    n = sum(len(idx) for _, idx in parts)
    out = np.empty((n, *parts[0][0].shape[1:]), "float32")
    start = 0
    for X, idx in parts:
        rows = out[start : start + len(idx)]
        if X.dtype == np.float32:
            np.take(X, idx, axis=0, out=rows, mode="clip")  # idx is in range
        else:
            rows[...] = X[idx]
        start += len(idx)
    return out


class InputBatches(keras.utils.PyDataset):
    """Batches of inputs only, for ``predict`` on sparse or memory-mapped X.

    Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> from keras_transfer.data import InputBatches
    >>> batches = InputBatches(sp.eye(5, format="csr"), batch_size=2)
    >>> len(batches), batches[2][0].shape
    (3, (1, 5))
    """

    def __init__(self, X, batch_size: int = 256, **kwargs):
        super().__init__(**kwargs)
        self.X = X
        self.batch_size = int(batch_size)

    def __len__(self):
        return max(1, math.ceil(self.X.shape[0] / self.batch_size))

    def __getitem__(self, index):
        idx = np.arange(
            index * self.batch_size, min((index + 1) * self.batch_size, self.X.shape[0])
        )
        return (take_rows(self.X, idx),)


class EpochSync(keras.callbacks.Callback):
    """Keeps a :class:`DomainBatches` on the epoch ``fit`` is at (resumed fits too)."""

    def __init__(self, batches: DomainBatches):
        super().__init__()
        self.batches = batches

    def on_train_begin(self, logs=None):
        self.batches.synced = True

    def on_epoch_begin(self, epoch, logs=None):
        if self.batches.epoch != epoch:
            self.batches.set_epoch(epoch)
