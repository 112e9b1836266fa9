"""The packed form: one X, one y with masked labels, one ``sample_domain``.

The one home of the packed-form helpers (mask, pack / unpack): the
estimators, the scorers and the splitters all read them from here.

The convention is skada's, so data moves between the two libraries:
``sample_domain > 0`` marks source rows (one positive integer per source
domain), ``sample_domain < 0`` target rows, and the label ``-1`` marks a row
whose label is unknown (every target row, in unsupervised adaptation).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

MASK = -1  # the label of unlabelled rows (skada's convention for classification)


# ---- small array helpers shared by the scorers and splitters ------------------------


def num_rows(X) -> int:
    """Number of rows of an array, sparse matrix, DataFrame or list."""
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def take(X, idx):
    """Rows ``idx`` of an array, sparse matrix, DataFrame or list (a copy)."""
    idx = np.asarray(idx)
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if sp.issparse(X):
        return X.tocsr()[idx]
    if isinstance(X, (list, tuple)):
        return np.asarray(X)[idx]
    return X[idx]


def is_masked(y) -> np.ndarray:
    """Boolean mask of the rows whose label is the mask value ``-1`` (or None/NaN).

    Example:
    >>> from keras_transfer.model_selection import is_masked
    >>> is_masked([0, 1, -1, 2]).tolist()
    [False, False, True, False]
    """
    y = np.asarray(y)
    if y.dtype.kind in "iuf":
        return y == MASK
    if y.dtype.kind == "O":
        return np.array(
            [
                v is None
                or (isinstance(v, float) and np.isnan(v))
                or (
                    isinstance(v, numbers.Integral)
                    and not isinstance(v, bool)
                    and v == MASK
                )
                for v in y
            ],
            dtype=bool,
        )
    return np.zeros(y.shape, bool)


def check_sample_domain(sample_domain, n: int) -> np.ndarray:
    """``sample_domain`` as an int array of ``n`` non-zero values."""
    sd = np.asarray(sample_domain)
    if sd.shape != (n,):
        raise ValueError(
            f"sample_domain must have one value per row ({n}), got shape {sd.shape}."
        )
    if sd.dtype.kind not in "iu" and not (
        sd.dtype.kind == "f" and np.all(sd == np.round(sd))
    ):
        raise ValueError(
            "sample_domain must hold integers: > 0 for source rows, < 0 for target."
        )
    sd = sd.astype(np.int64)
    if np.any(sd == 0):
        raise ValueError(
            "sample_domain cannot be 0: use > 0 for source rows, < 0 for target rows."
        )
    return sd


def domains_of(y, sample_domain, n: int) -> np.ndarray:
    """``sample_domain``, or the one inferred from the mask (1 labelled, -1 masked)."""
    if sample_domain is not None:
        return check_sample_domain(sample_domain, n)
    if y is None:
        raise ValueError(
            "Cannot tell source rows from target rows: pass y with -1 on the "
            "unlabelled target rows, or sample_domain (> 0 source, < 0 target)."
        )
    y = np.asarray(y)
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} labels but X has {n} rows.")
    return np.where(is_masked(y), -1, 1).astype(np.int64)


# ---- pack / unpack ------------------------------------------------------------------


def _is_data(obj) -> bool:
    return hasattr(obj, "shape") and len(obj.shape) >= 1


def _is_pair(obj) -> bool:
    """(X, y): features with at least 2 dims and as many labels as rows."""
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2):
        return False
    X, y = obj
    if not _is_data(X) or len(X.shape) < 2 or y is None:
        return False
    return np.ndim(y) == 1 and len(y) == num_rows(X)


def _domains(part, sign: int, what: str) -> list[tuple[int, object, object]]:
    """[(domain_id, X, y or None), ...] from one domain, a list or a dict."""
    if part is None:
        return []
    if isinstance(part, dict):
        keys = list(part)
        use_keys = all(
            isinstance(k, numbers.Integral) and not isinstance(k, bool) and k * sign > 0
            for k in keys
        )
        ids = (
            [int(k) for k in keys]
            if use_keys
            else [sign * (i + 1) for i in range(len(keys))]
        )
        items = list(part.values())
    elif _is_pair(part) or _is_data(part):
        ids, items = [sign], [part]
    elif isinstance(part, (list, tuple)):
        ids, items = [sign * (i + 1) for i in range(len(part))], list(part)
    else:
        raise TypeError(
            f"{what} must be X, (X, y), a list of those or a dict of those; got "
            f"{type(part).__name__}."
        )
    out = []
    for d, item in zip(ids, items):
        if _is_pair(item):
            out.append((d, item[0], np.asarray(item[1])))
        elif _is_data(item):
            out.append((d, item, None))
        else:
            raise TypeError(
                f"Each {what} domain must be an array X or a pair (X, y), got "
                f"{type(item).__name__}."
            )
    return out


def stack_rows(blocks):
    if any(sp.issparse(B) for B in blocks):
        return sp.vstack([sp.csr_matrix(B) for B in blocks], format="csr")
    if any(hasattr(B, "iloc") for B in blocks):
        import pandas as pd

        return pd.concat(list(blocks), ignore_index=True)
    return np.concatenate([np.asarray(B) for B in blocks], axis=0)


def packed_labels(parts, n_rows):
    """One label vector; integer labels stay integers, others become objects."""
    blocks = [
        np.full(n, MASK, dtype=np.int64) if y is None else np.asarray(y)
        for y, n in zip(parts, n_rows)
    ]
    if all(b.dtype.kind in "iub" for b in blocks):
        return np.concatenate(blocks).astype(np.int64)
    if all(b.dtype.kind in "iubf" for b in blocks):
        return np.concatenate(blocks).astype(np.float64)
    return np.concatenate([b.astype(object) for b in blocks])


def pack_domains(source, target=None, *, mask_target_labels: bool = True):
    """Pack source and target domains into ``(X, y, sample_domain)``.

    The packed form is what ``Pipeline``, ``GridSearchCV`` and
    ``cross_val_score`` pass around, in skada's convention: source rows get
    ``sample_domain`` 1, 2, ... (one per source domain), target rows -1, -2,
    ...; a target row's label is ``-1`` (masked) unless
    ``mask_target_labels=False``.

    Args:
        source: ``(Xs, ys)``, a list of such pairs (several source domains)
            or a dict ``name -> (Xs, ys)``. Dict keys that are positive ints
            are kept as domain ids; other keys are numbered 1, 2, ... in order.
        target: ``Xt``, ``(Xt, yt)``, a list or a dict of those (keys that are
            negative ints are kept as ids; others numbered -1, -2, ...), or None.
        mask_target_labels: replace every target label with ``-1`` (the
            default: unsupervised adaptation). With ``False``, target labels
            given in ``(Xt, yt)`` are kept (use ``-1`` inside ``yt`` for the
            unlabelled rows of a semi-supervised target).

    Returns:
        ``(X, y, sample_domain)``: rows stacked source first, then target; X is
        a NumPy array, a CSR matrix when any part is sparse, or a DataFrame.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.model_selection import pack_domains
    >>> Xs, ys, Xt = np.zeros((3, 2)), np.array([0, 1, 0]), np.ones((2, 2))
    >>> X, y, sd = pack_domains(source=(Xs, ys), target=Xt)
    >>> X.shape, y.tolist(), sd.tolist()
    ((5, 2), [0, 1, 0, -1, -1], [1, 1, 1, -1, -1])
    """
    sources = _domains(source, +1, "source")
    targets = _domains(target, -1, "target")
    if not sources:
        raise ValueError("pack_domains needs at least one source domain (Xs, ys).")
    for d, _, y in sources:
        if y is None:
            raise ValueError(
                f"Source domain {d} has no labels: pass it as a pair (Xs, ys)."
            )
    domains = sources + targets
    ids = [d for d, _, _ in domains]
    if len(set(ids)) != len(ids):
        raise ValueError(f"Duplicate domain ids {ids}.")
    shapes = {tuple(X.shape[1:]) for _, X, _ in domains}
    if len(shapes) > 1:
        raise ValueError(
            f"All domains must have rows of the same shape, got {sorted(shapes)}."
        )
    n_rows = [num_rows(X) for _, X, _ in domains]
    X = stack_rows([X for _, X, _ in domains])
    labels = [None if (d < 0 and mask_target_labels) else y for d, _, y in domains]
    y = packed_labels(labels, n_rows)
    sample_domain = np.concatenate(
        [np.full(n, d, dtype=np.int64) for (d, _, _), n in zip(domains, n_rows)]
    )
    return X, y, sample_domain


def unpack_domains(X, y, sample_domain=None, *, by_domain: bool = False):
    """Split the packed form back into source and target parts.

    Without ``sample_domain`` the rows labelled ``-1`` are the target and the
    others the source (the convention ``DomainAdaptiveClassifier.fit`` uses).

    Args:
        X, y: the packed rows and labels (``-1`` masks a label).
        sample_domain: > 0 source rows, < 0 target rows, or None.
        by_domain: return one entry per domain instead of source and target
            stacked.

    Returns:
        ``(Xs, ys, Xt, yt)`` with all source rows and all target rows (``yt``
        holds the target rows' labels as packed, usually all ``-1``); or, with
        ``by_domain=True``, ``(sources, targets)``: dicts ``domain_id -> (X,
        y)``, which :func:`pack_domains` accepts back.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.model_selection import pack_domains, unpack_domains
    >>> X, y, sd = pack_domains(
    ...     source=[(np.zeros((2, 3)), [0, 1]), (np.ones((2, 3)), [1, 0])],
    ...     target=np.full((4, 3), 2.0))
    >>> sd.tolist()
    [1, 1, 2, 2, -1, -1, -1, -1]
    >>> Xs, ys, Xt, yt = unpack_domains(X, y, sd)
    >>> Xs.shape, ys.tolist(), Xt.shape
    ((4, 3), [0, 1, 1, 0], (4, 3))
    >>> sources, targets = unpack_domains(X, y, sd, by_domain=True)
    >>> sorted(sources), sorted(targets)
    ([1, 2], [-1])
    """
    n = num_rows(X)
    y = np.asarray(y)
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} labels but X has {n} rows.")
    sd = domains_of(y, sample_domain, n)
    if by_domain:
        sources = {
            int(d): (take(X, np.flatnonzero(sd == d)), y[sd == d])
            for d in np.unique(sd[sd > 0])
        }
        targets = {
            int(d): (take(X, np.flatnonzero(sd == d)), y[sd == d])
            for d in np.unique(sd[sd < 0])[::-1]
        }
        return sources, targets
    src, tgt = np.flatnonzero(sd > 0), np.flatnonzero(sd < 0)
    return take(X, src), y[src], take(X, tgt), y[tgt]
