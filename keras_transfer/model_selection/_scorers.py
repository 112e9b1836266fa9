"""Scorers that rank domain-adaptation models without target labels.

Each scorer is a callable ``scorer(estimator, X, y, sample_domain=None)``
(scikit-learn's scorer signature, plus optional metadata), usable as
``scoring=`` in ``GridSearchCV`` / ``cross_val_score`` and in a dict of
scorers. ``X, y`` are a test fold in the packed form: labelled source rows
and target rows, told apart by ``sample_domain`` (> 0 source, < 0 target)
when metadata routing delivers it, else by the mask (``y == -1`` are target
rows). Use a splitter that puts target rows in every test fold, e.g.
:class:`~keras_transfer.model_selection.SourceTargetShuffleSplit`.

Greater is better for every scorer (losses are negated), and scorers are
stateless: a score depends only on the estimator and the fold, never on what
was scored before.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metadata_routing import UNCHANGED

from keras_transfer.model_selection._packing import (
    domains_of,
    is_masked,
    num_rows,
    packed_labels,
    stack_rows,
    take,
)
from keras_transfer.model_selection._routing import RequestsMetadata

__all__ = [
    "CircularValidation",
    "DeepEmbeddedValidation",
    "DomainAdaptationScorer",
    "ImportanceWeightedScorer",
    "PredictionEntropyScorer",
    "ReverseValidation",
    "SoftNeighborhoodDensity",
    "TargetAccuracyScorer",
    "unsupervised_scorers",
]


class _Fold:
    """Row indices of a test fold: labelled source rows and target rows."""

    def __init__(self, X, y, sample_domain):
        n = num_rows(X)
        sd = domains_of(y, sample_domain, n)
        labelled = np.zeros(n, bool) if y is None else ~is_masked(np.asarray(y))
        self.source = np.flatnonzero((sd > 0) & labelled)
        self.target = np.flatnonzero(sd < 0)
        self.y = None if y is None else np.asarray(y)

    def need_target(self, scorer):
        if self.target.size == 0:
            raise ValueError(
                f"{type(scorer).__name__}: the test fold has no target rows. Use a "
                "splitter that puts target rows in every test fold, e.g. "
                "keras_transfer.model_selection.SourceTargetShuffleSplit."
            )

    def need_source(self, scorer):
        if self.source.size == 0:
            raise ValueError(
                f"{type(scorer).__name__}: the test fold has no labelled source "
                "rows (it needs them as validation rows)."
            )


def _as_2d(Z):
    """Features as a 2-D matrix (images are flattened; sparse stays sparse)."""
    if sp.issparse(Z):
        return Z.tocsr()
    if hasattr(Z, "to_numpy"):
        Z = Z.to_numpy()
    Z = np.asarray(Z, dtype=np.float64)
    return Z.reshape(Z.shape[0], -1)


def _stack(A, B):
    if sp.issparse(A) or sp.issparse(B):
        return sp.vstack([sp.csr_matrix(A), sp.csr_matrix(B)], format="csr")
    return np.concatenate([A, B])


def _label_columns(estimator, y):
    """Column of each label in ``predict_proba``'s output (``classes_`` order)."""
    classes = np.asarray(estimator.classes_)
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    unknown = classes[idx] != y
    if np.any(unknown):
        raise ValueError(
            f"Labels {sorted(set(np.asarray(y)[unknown].tolist()))[:5]} of the "
            f"test fold are not among the estimator's classes {classes.tolist()}."
        )
    return idx


def _row_losses(estimator, X, y, loss: str) -> np.ndarray:
    """Per-row loss of the estimator on labelled rows: log loss or 0-1 loss."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    cols = _label_columns(estimator, y)
    p = proba[np.arange(len(cols)), cols]
    if loss == "log_loss":
        return -np.log(np.clip(p, 1e-12, 1.0))
    return (proba.argmax(axis=1) != cols).astype(np.float64)


def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


class DomainAdaptationScorer(RequestsMetadata):
    """Base class: a stateless ``scorer(estimator, X, y, sample_domain=None)``.

    Subclasses implement ``_score(estimator, X, fold)`` where ``fold.source``
    and ``fold.target`` index the labelled source rows and the target rows.
    With metadata routing on, the scorer asks for ``sample_domain`` (change
    that with :meth:`set_score_request`).
    """

    _metadata_method = "score"
    _default_requests = {"sample_domain": True}
    _params: tuple[str, ...] = ()

    def __call__(self, estimator, X, y=None, sample_domain=None) -> float:
        return float(self._score(estimator, X, _Fold(X, y, sample_domain)))

    def _score(self, estimator, X, fold) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_score_request(self, *, sample_domain=UNCHANGED):
        """Whether ``sample_domain`` is routed to this scorer (routing on only).

        Example:
        >>> from keras_transfer.model_selection import PredictionEntropyScorer
        >>> s = PredictionEntropyScorer().set_score_request(sample_domain=False)
        >>> s.get_metadata_routing().score.requests
        {'sample_domain': False}
        """
        return self._set_request(sample_domain=sample_domain)

    def __repr__(self):
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"{type(self).__name__}({args})"


class PredictionEntropyScorer(DomainAdaptationScorer):
    """Negative mean entropy of the predicted class probabilities on target rows.

    Confident target predictions score higher (Morerio et al. 2018). Cheap,
    but blind to confident mistakes: a model that collapses onto a few
    classes also has low entropy.

    Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from keras_transfer.model_selection import PredictionEntropyScorer
    >>> X = np.array([[0.0], [1.0], [0.2], [0.9]]); y = np.array([0, 1, -1, -1])
    >>> clf = LogisticRegression().fit(X[:2], y[:2])
    >>> PredictionEntropyScorer()(clf, X, y) < 0
    True
    """

    def _score(self, estimator, X, fold):
        fold.need_target(self)
        proba = np.asarray(estimator.predict_proba(take(X, fold.target)), np.float64)
        entropy = -np.sum(proba * np.log(np.clip(proba, 1e-12, 1.0)), axis=1)
        return -float(np.mean(entropy))


def _default_domain_classifier(sparse: bool):
    return make_pipeline(
        StandardScaler(with_mean=not sparse),
        LogisticRegression(C=1.0, max_iter=1000),
    )


def _importance_weights(Zs, Zt, domain_classifier, cv: int, eps: float):
    """Density ratio p_t(z) / p_s(z) on source rows from a domain classifier.

    The classifier learns source (0) vs target (1) on ``[Zs; Zt]``; its
    out-of-fold probabilities (``cv`` deterministic folds, so a row's weight
    never comes from a classifier that saw it) give
    ``w = n_s / n_t * p / (1 - p)``.
    """
    ns, nt = num_rows(Zs), num_rows(Zt)
    Z = _stack(Zs, Zt)
    d = np.r_[np.zeros(ns, int), np.ones(nt, int)]
    if domain_classifier is None:
        domain_classifier = _default_domain_classifier(sp.issparse(Z))
    folds = min(int(cv), ns, nt)
    if folds >= 2:
        p = cross_val_predict(
            clone(domain_classifier),
            Z,
            d,
            cv=StratifiedKFold(folds),
            method="predict_proba",
        )[:ns, 1]
    else:
        p = clone(domain_classifier).fit(Z, d).predict_proba(Z)[:ns, 1]
    p = np.clip(p, eps, 1.0 - eps)
    return (ns / nt) * p / (1.0 - p)


class _WeightedScorer(DomainAdaptationScorer):
    _params = ("domain_classifier", "loss", "cv", "eps")

    def __init__(self, domain_classifier=None, loss="log_loss", cv=5, eps=1e-3):
        self.domain_classifier = domain_classifier
        self.loss = loss
        self.cv = cv
        self.eps = eps

    def _check(self, fold):
        _check_choice(self.loss, ("log_loss", "zero_one"), "loss")
        if (
            isinstance(self.cv, bool)
            or not isinstance(self.cv, numbers.Integral)
            or self.cv < 1
        ):
            raise ValueError(f"cv must be an int >= 1, got {self.cv!r}.")
        if not 0 < self.eps < 0.5:
            raise ValueError(f"eps must be in (0, 0.5), got {self.eps!r}.")
        fold.need_target(self)
        fold.need_source(self)

    def _weights(self, Zs, Zt):
        return _importance_weights(
            _as_2d(Zs), _as_2d(Zt), self.domain_classifier, self.cv, self.eps
        )

    def _losses(self, estimator, X, fold):
        return _row_losses(
            estimator, take(X, fold.source), fold.y[fold.source], self.loss
        )


class ImportanceWeightedScorer(_WeightedScorer):
    """Importance-weighted validation (IWV; Sugiyama et al. 2007).

    The loss on the labelled source rows of the fold, each row weighted by
    the density ratio ``p_target(x) / p_source(x)``. The ratio comes from a
    domain classifier (default: logistic regression on standardised inputs)
    trained, out of fold, to tell the fold's source rows from its target
    rows in input space (images are flattened). The weights are normalised
    to mean 1, and the score is minus the weighted mean loss.

    Args:
        domain_classifier: a scikit-learn classifier with ``predict_proba``
            (cloned for each score), or None for the default.
        loss: ``"log_loss"`` (default) or ``"zero_one"``.
        cv: folds of the out-of-fold domain probabilities.
        eps: domain probabilities are clipped to ``[eps, 1 - eps]``.

    Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from keras_transfer.model_selection import ImportanceWeightedScorer
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(40, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(0.5, 1.0, size=(40, 2))
    >>> X = np.r_[Xs, Xt]; y = np.r_[ys, -np.ones(40, int)]
    >>> clf = LogisticRegression().fit(Xs, ys)
    >>> ImportanceWeightedScorer()(clf, X, y) < 0
    True
    """

    def _score(self, estimator, X, fold):
        self._check(fold)
        w = self._weights(take(X, fold.source), take(X, fold.target))
        w = w / np.mean(w)
        return -float(np.mean(w * self._losses(estimator, X, fold)))


class DeepEmbeddedValidation(_WeightedScorer):
    """Deep embedded validation (DEV; You et al., ICML 2019).

    Importance-weighted validation in the estimator's feature space
    (``estimator.transform(X)``: for a ``DomainAdaptiveClassifier``, or a
    ``Pipeline`` ending in one, the adapted features), with the paper's
    control variate to cut the variance of the weighted loss:
    ``risk = mean(w * l) + eta * mean(w) - eta`` with
    ``eta = -cov(w * l, w) / var(w)``. The score is ``-risk``.

    Args:
        domain_classifier: a scikit-learn classifier with ``predict_proba``
            for source-vs-target features, or None (logistic regression on
            standardised features).
        loss: ``"log_loss"`` (default) or ``"zero_one"``.
        cv: folds of the out-of-fold domain probabilities.
        eps: domain probabilities are clipped to ``[eps, 1 - eps]``.

    Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from keras_transfer.model_selection import DeepEmbeddedValidation
    >>> class Clf(LogisticRegression):  # a classifier that exposes features
    ...     def transform(self, X):
    ...         return X[:, :2]
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(40, 3)); ys = (Xs[:, 0] > 0).astype(int)
    >>> X = np.r_[Xs, rng.normal(0.5, 1.0, size=(40, 3))]
    >>> y = np.r_[ys, -np.ones(40, int)]
    >>> DeepEmbeddedValidation()(Clf().fit(Xs, ys), X, y) < 0
    True
    """

    def _score(self, estimator, X, fold):
        self._check(fold)
        if not hasattr(estimator, "transform"):
            raise TypeError(
                "DeepEmbeddedValidation needs estimator.transform (its features); "
                f"{type(estimator).__name__} has none. Use ImportanceWeightedScorer "
                "for weights in input space."
            )
        n_src = len(fold.source)
        Z = _as_2d(estimator.transform(take(X, np.r_[fold.source, fold.target])))
        w = self._weights(Z[:n_src], Z[n_src:])
        weighted = w * self._losses(estimator, X, fold)
        eta = 0.0
        if len(w) > 1 and np.var(w) > 0:
            eta = -np.cov(weighted, w)[0, 1] / np.var(w, ddof=1)
        return -float(np.mean(weighted) + eta * np.mean(w) - eta)


class SoftNeighborhoodDensity(DomainAdaptationScorer):
    """Soft neighbourhood density (SND; Saito et al., ICCV 2021).

    On the target rows: L2-normalise the predicted probabilities (or the
    features), take each row's softmax similarity to all other rows at
    ``temperature``, and average the entropies of these neighbourhood
    distributions. Dense, well-clustered target predictions score higher.

    Args:
        temperature: softmax temperature of the similarities (paper: 0.05).
        features: ``"proba"`` (``predict_proba``, as in the paper) or
            ``"transform"`` (``estimator.transform`` features).

    Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from keras_transfer.model_selection import SoftNeighborhoodDensity
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(40, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> X = np.r_[Xs, rng.normal(size=(30, 2))]; y = np.r_[ys, -np.ones(30, int)]
    >>> clf = LogisticRegression().fit(Xs, ys)
    >>> SoftNeighborhoodDensity()(clf, X, y) > 0
    True
    """

    _params = ("temperature", "features")

    def __init__(self, temperature: float = 0.05, features: str = "proba"):
        self.temperature = temperature
        self.features = features

    def _score(self, estimator, X, fold):
        _check_choice(self.features, ("proba", "transform"), "features")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}.")
        fold.need_target(self)
        Xt = take(X, fold.target)
        if self.features == "proba":
            Z = np.asarray(estimator.predict_proba(Xt), np.float64)
        else:
            Z = _as_2d(estimator.transform(Xt))
        n = Z.shape[0]
        if n < 2:
            raise ValueError("SoftNeighborhoodDensity needs at least 2 target rows.")
        Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        total = 0.0
        for lo in range(0, n, 512):  # blocks of rows: memory O(512 n), not O(n^2)
            hi = min(lo + 512, n)
            sim = Z[lo:hi] @ Z.T / self.temperature
            sim[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
            sim -= sim.max(axis=1, keepdims=True)
            p = np.exp(sim)
            p /= p.sum(axis=1, keepdims=True)
            total += float(-np.sum(p * np.log(np.clip(p, 1e-300, 1.0))))
        return total / n


def _seeded(estimator, random_state):
    """Set every ``random_state`` parameter left at None (nested too)."""
    if random_state is None or not hasattr(estimator, "get_params"):
        return estimator
    params = estimator.get_params(deep=True)
    unset = {
        k: random_state
        for k, v in params.items()
        if (k == "random_state" or k.endswith("__random_state")) and v is None
    }
    return estimator.set_params(**unset) if unset else estimator


class CircularValidation(DomainAdaptationScorer):
    """Reverse (circular) validation (Zhong et al. 2010; Ganin et al. 2016).

    Pseudo-label the fold's target rows with the estimator, train a *reverse*
    model that treats the pseudo-labelled target rows as its labelled source
    and the fold's source rows as its unlabelled target, and score the
    reverse model's accuracy on those source rows. A model whose target
    labels are wrong cannot be undone back onto the source.

    By default the reverse model is a clone of the scored estimator (the
    same pipeline, strategy and λ), fitted in the packed form
    ``fit(X, y)`` with ``y == -1`` on the source rows, so the estimator must
    accept that form (``DomainAdaptiveClassifier`` does). This costs one
    more fit per score. ``reverse_estimator`` swaps in any other classifier,
    fitted on the pseudo-labelled target rows alone.

    Args:
        reverse_estimator: None (clone the scored estimator) or a classifier.
        random_state: set on every ``random_state`` parameter of the reverse
            model that is None, so a score is reproducible; None leaves them.

    Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from keras_transfer.model_selection import CircularValidation
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(40, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> X = np.r_[Xs, rng.normal(size=(30, 2))]; y = np.r_[ys, -np.ones(30, int)]
    >>> clf = LogisticRegression().fit(Xs, ys)
    >>> scorer = CircularValidation(reverse_estimator=LogisticRegression())
    >>> 0.9 <= scorer(clf, X, y) <= 1.0
    True
    """

    _params = ("reverse_estimator", "random_state")

    def __init__(self, reverse_estimator=None, random_state=0):
        self.reverse_estimator = reverse_estimator
        self.random_state = random_state

    def _score(self, estimator, X, fold):
        fold.need_target(self)
        fold.need_source(self)
        Xs, ys = take(X, fold.source), fold.y[fold.source]
        Xt = take(X, fold.target)
        pseudo = np.asarray(estimator.predict(Xt))
        found = np.unique(pseudo)
        if len(found) < 2:  # one predicted class: the reverse model is a constant
            return float(np.mean(ys == found[0]))
        if self.reverse_estimator is None:
            reverse = _seeded(clone(estimator), self.random_state)
            reverse.fit(
                stack_rows([Xt, Xs]),
                packed_labels([pseudo, None], [len(pseudo), len(ys)]),
            )
        else:
            reverse = _seeded(clone(self.reverse_estimator), self.random_state)
            reverse.fit(Xt, pseudo)
        return float(np.mean(np.asarray(reverse.predict(Xs)) == ys))


#: Another name for :class:`CircularValidation`.
ReverseValidation = CircularValidation


class TargetAccuracyScorer(DomainAdaptationScorer):
    """Accuracy on labelled target rows: a *supervised* scorer for benchmarks.

    Target labels must never reach the estimator's ``fit`` (a domain-adaptive
    estimator learns from every labelled row it gets), so this scorer reads
    them from a side channel, in one of two ways:

    * ``TargetAccuracyScorer(X_target, y_target)``: accuracy on a fixed,
      labelled target set (e.g. the target test split, or the target rows
      themselves in the transductive protocol), whatever the fold;
    * with metadata routing on, ``search.fit(X, y, target_labels=yt_packed)``
      where ``yt_packed`` is aligned with ``X`` (``-1`` on rows without a
      target label): scikit-learn slices it per fold and routes it to this
      scorer only (the estimator does not ask for it), and the accuracy is
      taken over the fold's rows that have one.

    Use it to measure what an unsupervised scorer's choice is worth (the
    "oracle"), never to choose hyper-parameters of a real unsupervised task.

    Args:
        X_target, y_target: a labelled target set, or None (use routing).

    Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from keras_transfer.model_selection import TargetAccuracyScorer
    >>> Xs = np.array([[0.0], [1.0]]); ys = np.array([0, 1])
    >>> clf = LogisticRegression().fit(Xs, ys)
    >>> TargetAccuracyScorer(np.array([[0.1], [0.8]]), np.array([0, 0]))(clf, Xs, ys)
    0.5
    """

    _default_requests = {"target_labels": True}
    _params = ("X_target", "y_target")

    def __init__(self, X_target=None, y_target=None):
        self.X_target = X_target
        self.y_target = y_target

    def __call__(self, estimator, X, y=None, target_labels=None) -> float:
        if (self.X_target is None) != (self.y_target is None):
            raise ValueError("Give both X_target and y_target, or neither.")
        if self.X_target is not None:
            pred = np.asarray(estimator.predict(self.X_target))
            return float(np.mean(pred == np.asarray(self.y_target)))
        if target_labels is None:
            raise ValueError(
                "TargetAccuracyScorer has no target labels: build it with "
                "TargetAccuracyScorer(X_target, y_target), or enable metadata "
                "routing and pass target_labels=... (aligned with X, -1 on rows "
                "without a target label) to the search's fit."
            )
        target_labels = np.asarray(target_labels)
        if target_labels.shape[0] != num_rows(X):
            raise ValueError(
                f"target_labels has {target_labels.shape[0]} values but X has "
                f"{num_rows(X)} rows."
            )
        rows = np.flatnonzero(~is_masked(target_labels))
        if rows.size == 0:
            raise ValueError("The test fold has no row with a target label.")
        pred = np.asarray(estimator.predict(take(X, rows)))
        return float(np.mean(pred == target_labels[rows]))

    def set_score_request(self, *, target_labels=UNCHANGED):
        """Whether ``target_labels`` is routed to this scorer (routing on only).

        Example:
        >>> from keras_transfer.model_selection import TargetAccuracyScorer
        >>> s = TargetAccuracyScorer().set_score_request(target_labels=False)
        >>> s.get_metadata_routing().score.requests
        {'target_labels': False}
        """
        return self._set_request(target_labels=target_labels)

    def __repr__(self):
        if self.X_target is None:
            return "TargetAccuracyScorer()"
        return f"TargetAccuracyScorer(<{num_rows(self.X_target)} labelled target rows>)"


def unsupervised_scorers(circular: bool = True) -> dict[str, DomainAdaptationScorer]:
    """The unsupervised scorers with their defaults, as a ``scoring=`` dict.

    Args:
        circular: include :class:`CircularValidation` (one extra fit per score).

    Example:
    >>> from keras_transfer.model_selection import unsupervised_scorers
    >>> sorted(unsupervised_scorers())
    ['circular', 'dev', 'entropy', 'iwv', 'snd']
    """
    scorers = {
        "entropy": PredictionEntropyScorer(),
        "iwv": ImportanceWeightedScorer(),
        "dev": DeepEmbeddedValidation(),
        "snd": SoftNeighborhoodDensity(),
    }
    if circular:
        scorers["circular"] = CircularValidation()
    return scorers
