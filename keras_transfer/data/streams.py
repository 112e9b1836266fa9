"""Source and target from streams, mixed one batch of each per training step.

A *stream* is anything that yields batches instead of holding all rows: a
Python generator or iterator, an iterable, a function returning one of
those, a ``keras.utils.PyDataset`` or a ``tf.data.Dataset``. Arrays,
``np.memmap`` and scipy.sparse matrices are read a batch at a time by
:class:`ArrayBatches`. :class:`StreamBatches` draws one source and one target
batch per step, restarts whichever domain runs out first and checks every
batch as it arrives (numbers, finite, same row shape in both domains, labels
known), so no domain is ever loaded whole.
"""

from __future__ import annotations

import collections.abc
import itertools
import math
import sys

import keras
import numpy as np
import scipy.sparse as sp

from keras_transfer import backend
from keras_transfer.data.batches import per_device, take_rows


def _is_tf_dataset(obj) -> bool:
    # Never import TensorFlow here (it takes seconds): a tf.data.Dataset can
    # only exist if the caller imported it already.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(obj, tf.data.Dataset)


def is_stream(obj) -> bool:
    """Whether ``obj`` yields batches rather than holding rows.

    Arrays, memmaps, sparse matrices, DataFrames, tensors, tuples and lists
    are not streams; generators, iterators, iterables, callables,
    ``keras.utils.PyDataset`` and ``tf.data.Dataset`` are.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data import is_stream
    >>> is_stream(np.zeros((2, 3))), is_stream(iter([])), is_stream((np.ones(2),))
    (False, True, False)
    """
    if isinstance(obj, keras.utils.PyDataset) or _is_tf_dataset(obj):
        return True
    if (
        obj is None
        or isinstance(obj, (np.ndarray, tuple, list, dict, str, bytes, keras.Layer))
        or sp.issparse(obj)
        or hasattr(obj, "iloc")
        or hasattr(obj, "__array__")
    ):
        return False
    return isinstance(obj, collections.abc.Iterable) or callable(obj)


class BatchStream:
    """One domain's batches from a stream, restarted when it runs out.

    ``length`` is the number of batches in one pass, or None when the stream
    cannot tell (generators, iterators, unsized iterables, infinite
    datasets). A generator or iterator runs once; a function returning
    one, an iterable, a ``PyDataset`` or a ``tf.data.Dataset`` is restarted.

    Example:
    >>> from keras_transfer.data.streams import BatchStream
    >>> stream = BatchStream(lambda: iter([1, 2]), "source stream")
    >>> [stream.next() for _ in range(5)]
    [1, 2, 1, 2, 1]
    """

    def __init__(self, data, what: str = "stream"):
        self.data, self.what = data, what
        self.length, self.restartable, self._first = None, True, None
        if isinstance(data, keras.utils.PyDataset):
            self.length = data.num_batches
        elif _is_tf_dataset(data):
            n = int(data.cardinality())
            self.length = n if n >= 0 else None
        elif isinstance(data, collections.abc.Iterator):
            self.restartable = False
        elif isinstance(data, collections.abc.Iterable):
            if isinstance(data, collections.abc.Sized):
                self.length = len(data)
        elif callable(data):
            self._first = data()  # the first pass, made now to learn its length
            if not isinstance(self._first, collections.abc.Iterable):
                raise TypeError(
                    f"The {what} is a function, so it must return an iterable of "
                    f"batches (e.g. a generator); it returned "
                    f"{type(self._first).__name__}."
                )
            if isinstance(self._first, collections.abc.Sized):
                self.length = len(self._first)
        else:
            raise TypeError(f"The {what} is not a stream of batches: {data!r}.")
        self.count = 0  # batches drawn so far, all passes
        self._passes, self._in_pass, self._iterator = 0, 0, None

    def _new_pass(self):
        data = self.data
        if isinstance(data, keras.utils.PyDataset):
            if self._passes:
                data.on_epoch_end()
            steps = itertools.count() if self.length is None else range(self.length)
            return (data[i] for i in steps)
        if _is_tf_dataset(data):
            return data.as_numpy_iterator()
        if self._first is not None or (
            callable(data) and not isinstance(data, collections.abc.Iterable)
        ):
            first, self._first = self._first, None
            return iter(data() if first is None else first)
        return iter(data)

    def next(self):
        """The next batch, as the stream yields it."""
        while True:
            if self._iterator is None:
                if self._passes and not self.restartable:
                    raise ValueError(
                        f"The {self.what} ran out after {self.count} batches, but "
                        "fit needs more (epochs x steps_per_epoch, plus any "
                        "pre-training). A generator runs only once: pass a function "
                        "that returns a new one (source=make_batches, not "
                        "make_batches()), an iterable, a keras.utils.PyDataset or a "
                        "tf.data.Dataset, or ask for fewer epochs or steps_per_epoch."
                    )
                self._iterator = self._new_pass()
                self._passes += 1
                self._in_pass = 0
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if self._in_pass == 0:
                    raise ValueError(f"The {self.what} yielded no batches.") from None
                continue
            self._in_pass += 1
            self.count += 1
            return batch


class ArrayBatches:
    """Endless shuffled batches of rows of an array, memmap or sparse matrix.

    Every batch has ``batch_size`` rows (a pass that ends mid-batch is
    completed from the next, reshuffled pass); only those rows are read, as
    float32. ``y`` holds integer codes (``-1`` = unlabelled) or is None.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data.streams import ArrayBatches
    >>> batches = ArrayBatches(np.arange(10.0)[:, None], batch_size=4, seed=0)
    >>> len(batches), batches.next()[0].shape
    (3, (4, 1))
    """

    restartable = True

    def __init__(self, X, y=None, batch_size: int = 64, seed=None):
        self.X = X
        self.y = None if y is None else np.asarray(y, dtype="int32")
        n = X.shape[0]
        self.batch_size = max(1, min(int(batch_size), n))
        self.length = math.ceil(n / self.batch_size)
        self.seed = (
            int(np.random.SeedSequence().entropy % 2**32) if seed is None else seed
        )
        self._passes, self._order, self._pos = 0, np.empty(0, np.intp), 0

    def __len__(self):
        return self.length

    def next(self):
        """``(x, y)`` of the next batch: float32 rows and codes (or None)."""
        while len(self._order) - self._pos < self.batch_size:
            rng = np.random.default_rng([self.seed, self._passes])
            fresh = rng.permutation(self.X.shape[0])
            self._order = np.concatenate([self._order[self._pos :], fresh])
            self._pos, self._passes = 0, self._passes + 1
        idx = np.sort(self._order[self._pos : self._pos + self.batch_size])
        self._pos += self.batch_size
        return take_rows(self.X, idx), (None if self.y is None else self.y[idx])


def _next_seed(seed):
    return None if seed is None else seed + 1


def _default_codes(y):
    return np.asarray(y, dtype="int32")


class StreamBatches:
    """Training steps from a source and a target domain, one batch of each.

    Each step draws the next source batch and the next target batch and
    stacks them into ``(x, {"label", "is_source"})`` for ``model.fit`` (the
    same layout as :class:`~keras_transfer.data.DomainBatches`); the domain
    that runs out first is restarted. Iterate it for an endless generator of
    steps: pass it to ``model.fit`` with ``steps_per_epoch``.

    Streamed batches are checked as they come: ``X_batch`` must hold finite
    numbers with the same row shape in both domains (``(n, H, W)`` image
    batches get a channel axis), and ``y_batch`` is turned into integer
    codes by ``encode_labels`` (which raises for unknown labels).

    Args:
        source: a stream yielding ``(X_batch, y_batch)``, a pair ``(X, y)``
            of an array (or memmap) and integer codes, or None: then every
            step is one target batch, which must carry labels (a labelled
            target task, as ``TransferClassifier`` trains).
        target: a stream yielding ``X_batch`` or ``(X_batch, y_batch)``, an
            array, a pair ``(X, y)`` with codes, or None.
        encode_labels: maps a streamed ``y_batch`` to int codes, ``-1`` for
            unlabelled rows (default: the labels are codes already).
        batch_size: rows per batch drawn from an array.
        seed: seed of the array shuffles.
        shards: devices that split each step (default: those of the active
            ``keras.distribution`` / ``tf.distribute`` scope, 1 outside one).
            With several, each domain's rows are rounded down to a multiple
            of ``shards`` and laid out as in
            :class:`~keras_transfer.data.DomainBatches`: every device's slice
            holds its share of source rows, then of target rows.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.data import StreamBatches
    >>> def source():
    ...     for _ in range(3):
    ...         yield np.ones((4, 2)), np.array([0, 1, 0, 1])
    >>> steps = StreamBatches(source, np.zeros((10, 2)), batch_size=4, seed=0)
    >>> steps.steps_per_epoch, steps.row_shape  # a generator has no length
    (None, (2,))
    >>> x, y = next(iter(steps))
    >>> x.shape, y["label"].tolist(), y["is_source"].tolist()
    ((8, 2), [0, 1, 0, 1, -1, -1, -1, -1], [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    """

    def __init__(
        self,
        source,
        target=None,
        *,
        encode_labels=None,
        batch_size: int = 64,
        seed=None,
        shards: int | None = None,
    ):
        self.encode_labels = encode_labels or _default_codes
        self.shards = backend.num_replicas() if shards is None else int(shards)
        self.row_shape = None
        self.error = None
        if source is None and target is None:
            raise ValueError("StreamBatches needs a source, a target or both.")
        self.source = (
            None if source is None else self._side(source, "source", batch_size, seed)
        )
        self.target = (
            None
            if target is None
            else self._side(target, "target", batch_size, _next_seed(seed))
        )
        # The side whose batch opens each step (and gives row_shape).
        self._lead, self._lead_name = (
            (self.source, "source")
            if self.source is not None
            else (self.target, "target")
        )
        self._peeked = None
        if isinstance(self._lead, ArrayBatches):
            self.row_shape = tuple(self._lead.X.shape[1:])
        self.peek()  # for a streamed lead side, its first batch gives row_shape
        if self.source is not None and isinstance(self.target, ArrayBatches):
            self._check_row_shape(self.target.X.shape[1:], "target X")

    def _side(self, data, name, batch_size, seed):
        if is_stream(data):
            return BatchStream(data, f"{name} stream")
        if isinstance(data, (tuple, list)) and len(data) == 2:
            return ArrayBatches(data[0], data[1], batch_size, seed)
        if name == "target":
            return ArrayBatches(data, None, batch_size, seed)
        raise TypeError(
            "source must be a stream yielding (X_batch, y_batch) or a pair (X, y)."
        )

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches of the longer domain, or None if a stream's length is unknown."""
        sides = [side for side in (self.source, self.target) if side is not None]
        lengths = [side.length for side in sides]
        return None if None in lengths else max(lengths)

    # ---- checking streamed batches ----------------------------------------------

    def _check_row_shape(self, shape, where):
        shape = tuple(shape)
        if self.row_shape is None:
            self.row_shape = shape
        elif shape != self.row_shape:
            raise ValueError(
                f"{where}: rows have shape {shape} but the source rows have shape "
                f"{self.row_shape}: both domains must have the same features (same "
                "columns in the same order, same image size and channels)."
            )

    def _parse(self, batch, name, where):
        if isinstance(batch, (tuple, list)) and len(batch) in (1, 2):
            x, y = batch[0], (batch[1] if len(batch) == 2 else None)
        elif isinstance(batch, (tuple, list, dict)):
            raise ValueError(
                f"{where}: expected X_batch or a pair (X_batch, y_batch), got a "
                f"{type(batch).__name__} of {len(batch)} items."
            )
        else:
            x, y = batch, None
        if name == "source" and y is None:
            raise ValueError(
                f"{where}: source batches must be pairs (X_batch, y_batch), with "
                "y = -1 on unlabelled rows; got X_batch alone."
            )
        if sp.issparse(x):
            x = x.toarray()
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise ValueError(
                f"{where}: X_batch must hold numbers, got dtype {x.dtype}."
            )
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(
                f"{where}: X_batch must have shape (batch, n_features) or be a "
                f"batch of images, with at least one row; got shape {x.shape}."
            )
        x = x.astype("float32", copy=False)
        if not np.isfinite(x).all():
            raise ValueError(
                f"{where}: X_batch contains NaN or infinity (or a value too large "
                "for float32); clean or drop such rows before yielding them."
            )
        if x.ndim == 3:
            x = x[..., None]
        self._check_row_shape(x.shape[1:], where)
        if y is None:
            return x, None
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.shape != (x.shape[0],):
            raise ValueError(
                f"{where}: y_batch must hold one label per row ({x.shape[0]}), got "
                f"shape {y.shape}."
            )
        try:
            return x, np.asarray(self.encode_labels(y), dtype="int32")
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None

    def _draw(self, side, name):
        try:
            if isinstance(side, ArrayBatches):
                return side.next()
            batch = side.next()
            return self._parse(batch, name, f"{side.what}, batch {side.count - 1}")
        except Exception as err:
            # Kept so the caller can re-raise it as is: some backends (tf.data)
            # wrap errors raised inside a generator.
            self.error = err
            raise

    def peek(self):
        """The next source batch ``(x, y)`` (the target's without a source),
        left in place for the next step."""
        if self._peeked is None:
            self._peeked = self._draw(self._lead, self._lead_name)
        return self._peeked

    def _next_lead(self):
        batch = self.peek()
        self._peeked = None
        return batch

    # ---- steps ------------------------------------------------------------------

    def step(self):
        """The next ``(x, {"label", "is_source"})`` step."""
        if self.source is None:  # a labelled target alone
            xt, yt = self._next_lead()
            if yt is None:
                raise ValueError(
                    f"{self.target.what}, batch {self.target.count - 1}: the target "
                    "task trains on labelled rows: yield pairs (X_batch, y_batch)."
                )
            parts = [(xt, yt, np.zeros(xt.shape[0], "float32"))]
        else:
            xs, ys = self._next_lead()
            n_s = xs.shape[0]
            if ys is None:
                ys = np.full(n_s, -1, dtype="int32")
            if self.target is None:
                return xs, {"label": ys, "is_source": np.ones(n_s, "float32")}
            xt, yt = self._draw(self.target, "target")
            n_t = xt.shape[0]
            if yt is None:
                yt = np.full(n_t, -1, dtype="int32")
            parts = [
                (xs, ys, np.ones(n_s, "float32")),
                (xt, yt, np.zeros(n_t, "float32")),
            ]
        if self.shards > 1:
            parts = self._per_device(parts)
        return np.concatenate([p[0] for p in parts]), {
            "label": np.concatenate([p[1] for p in parts]),
            "is_source": np.concatenate([p[2] for p in parts]),
        }

    def _per_device(self, parts):
        """Each domain's rows (source, then target) in each device's contiguous
        slice, each domain rounded down to a multiple of the devices."""
        k = self.shards
        sizes = [len(p[1]) - len(p[1]) % k for p in parts]
        if min(sizes) == 0:
            names = ["target"] if self.source is None else ["source", "target"]
            counts = " and ".join(
                f"{len(p[1])} {name}" for p, name in zip(parts, names)
            )
            raise ValueError(
                f"A step has {counts} rows, fewer than the {k} devices that split "
                f"it need (at least {k} per domain): stream larger batches."
            )
        order = per_device([np.arange(n) for n in sizes], k)
        return [tuple(a[idx] for a in parts[side]) for side, idx in order]

    def __iter__(self):
        while True:
            yield self.step()

    def source_batches(self, steps: int) -> keras.utils.PyDataset:
        """``steps`` source-only batches per epoch, for pre-training hooks."""
        return _SourceSteps(self, steps)


class _SourceSteps(keras.utils.PyDataset):
    """Source-only steps drawn in order (the index only names a step, so a
    batch Keras peeks at is served again rather than skipped)."""

    def __init__(self, batches: StreamBatches, steps: int):
        super().__init__()
        self.batches, self.steps = batches, int(steps)
        self._cache = {}

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if index not in self._cache:
            x, y = self.batches._next_lead()
            if y is None:
                y = np.full(x.shape[0], -1, dtype="int32")
            recent = {k: v for k, v in self._cache.items() if index - 4 < k < index}
            recent[index] = (x, {"label": y, "is_source": np.ones(len(x), "float32")})
            self._cache = recent
        return self._cache[index]

    def on_epoch_end(self):
        self._cache = {}
