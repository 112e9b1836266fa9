"""Proxy A-distance: how well a linear classifier tells two domains apart."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from keras_transfer.diagnostics._common import features


def _as_matrix(X, what: str):
    import scipy.sparse as sp

    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
    else:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim < 2:
            raise ValueError(
                f"{what} must be 2-D (n_samples, n_features), got shape {X.shape}."
            )
        X = X.reshape(X.shape[0], -1)
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{what} contains NaN or infinite values.")
    if X.shape[0] < 2:
        raise ValueError(f"{what} needs at least 2 rows, got {X.shape[0]}.")
    return X


def proxy_a_distance(
    source,
    target,
    model=None,
    *,
    max_samples: int | None = 2000,
    test_size: float = 0.5,
    C: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    random_state: int | None = 0,
) -> float:
    """Proxy A-distance between a source and a target sample (Ben-David et al.).

    A linear SVM learns to tell source rows from target rows; with ``ε`` its
    error on held-out rows, ``PAD = 2 (1 - 2 ε)``. Near 0: the domains are
    indistinguishable to a linear classifier; near 2: linearly separable.
    Features that adaptation made domain-invariant give a lower PAD than the
    inputs or a source-only model's features.

    Both domains are subsampled to the same size (at most ``max_samples``
    rows each), so chance error is 0.5. ``C`` is chosen by 3-fold
    cross-validation on the training half (domain labels only; class labels
    are never used), then ``ε`` is measured on the other half.

    Args:
        source: source rows (array, sparse matrix or images).
        target: target rows, same feature shape.
        model: ``None`` to compare the inputs, or a fitted estimator (its
            ``transform`` gives the features, e.g. a
            :class:`~keras_transfer.DomainAdaptiveClassifier`) or a callable
            ``X -> features``.
        max_samples: rows per domain at most (``None``: all).
        test_size: fraction of rows held out to measure ``ε``.
        C: inverse regularisation strengths tried for the linear SVM.
        random_state: seed of the subsampling and the split.

    Returns:
        The proxy A-distance, ``2 (1 - 2 ε)``, clipped to ``[0, 2]`` (below 0
        only happens by chance, when the domains are indistinguishable).

    Example:
    >>> import numpy as np
    >>> from keras_transfer.diagnostics import proxy_a_distance
    >>> rng = np.random.default_rng(0)
    >>> same = proxy_a_distance(rng.normal(size=(300, 5)), rng.normal(size=(300, 5)))
    >>> apart = proxy_a_distance(
    ...     rng.normal(size=(300, 5)), rng.normal(3.0, 1.0, size=(300, 5))
    ... )
    >>> bool(same < 0.5 < 1.5 < apart)
    True
    """
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}.")
    Fs = _as_matrix(features(model, source), "source features")
    Ft = _as_matrix(features(model, target), "target features")
    if Fs.shape[1] != Ft.shape[1]:
        raise ValueError(
            f"Source and target features differ in size: {Fs.shape[1]} vs "
            f"{Ft.shape[1]}."
        )
    rng = np.random.default_rng(random_state)
    n = min(Fs.shape[0], Ft.shape[0])
    if max_samples is not None:
        n = min(n, int(max_samples))
    Fs = Fs[np.sort(rng.choice(Fs.shape[0], n, replace=False))]
    Ft = Ft[np.sort(rng.choice(Ft.shape[0], n, replace=False))]
    stack = sp.vstack if sp.issparse(Fs) or sp.issparse(Ft) else np.vstack
    X = stack([Fs, Ft])
    if sp.issparse(X):
        X = X.tocsr()
    d = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    seed = int(rng.integers(2**31 - 1))
    X_train, X_test, d_train, d_test = train_test_split(
        X, d, test_size=test_size, stratify=d, random_state=seed
    )
    svm = make_pipeline(
        StandardScaler(with_mean=not sp.issparse(X)),
        LinearSVC(dual="auto", max_iter=5000),
    )
    search = GridSearchCV(
        svm,
        {"linearsvc__C": list(C)},
        cv=min(3, int(np.bincount(d_train).min())),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, d_train)
    error = 1.0 - float(search.score(X_test, d_test))
    # Clipped to [0, 2]: an error above 1/2 (a value below 0) only happens by
    # chance, when the domains cannot be told apart.
    return float(np.clip(2.0 * (1.0 - 2.0 * error), 0.0, 2.0))
