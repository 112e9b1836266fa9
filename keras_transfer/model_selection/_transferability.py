"""Transferability scores: rank source networks on target rows before fine-tuning.

Each function scores how well what a source network computes on the
(labelled) target rows predicts the target labels, without training the
network: greater is better.

* :func:`logme` (You et al., ICML 2021): the log marginal evidence of a
  Bayesian linear model from the features to the one-hot labels.
* :func:`h_score` (Bao et al., ICIP 2019): ``tr(cov(f)⁻¹ cov(E[f | y]))``,
  how much of the features' variance is between classes.
* :func:`leep` (Nguyen et al., ICML 2020): log expected empirical prediction
  of the source head's class probabilities through the empirical
  target-given-source-class conditional.
* :func:`nce` (Tran et al., ICCV 2019): negative conditional entropy of the
  target labels given the source head's predicted classes.

:class:`TransferabilityScorer` wraps them as a scikit-learn scorer for a
fitted :class:`~keras_transfer.TransferClassifier`: ``scoring=`` of a
``GridSearchCV`` over ``source_model`` / ``feature_layer``. NumPy only;
Keras is imported when a scorer reads a model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TransferabilityScorer", "h_score", "leep", "logme", "nce"]


def _labels(y) -> tuple[np.ndarray, int]:
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    if len(classes) < 2:
        raise ValueError("Transferability needs target rows of at least two classes.")
    return codes.reshape(-1), len(classes)


def _matrix(features, n: int, what: str) -> np.ndarray:
    f = np.asarray(features, dtype="float64").reshape(len(features), -1)
    if f.shape[0] != n:
        raise ValueError(f"{what} has {f.shape[0]} rows but y has {n}.")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{what} holds NaN or infinite values.")
    return f


def logme(features, y, max_iter: int = 100, tol: float = 1e-3) -> float:
    """LogME: mean per-class log evidence (per row) of a Bayesian linear model.

    For each class ``k``, the target ``1[y == k]`` is modelled as
    ``F m + noise`` with prior ``m ~ N(0, α⁻¹I)`` and noise precision ``β``;
    ``α, β`` maximise the evidence by MacKay's fixed-point updates on the
    SVD of ``F``. Returns the mean over classes of ``log p(y_k | F) / n``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> y = np.arange(200) % 2
        >>> good = y[:, None] + 0.1 * rng.normal(size=(200, 5))
        >>> bad = rng.normal(size=(200, 5))
        >>> bool(logme(good, y) > logme(bad, y))
        True
    """
    codes, k = _labels(y)
    f = _matrix(features, len(codes), "features")
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    rank = int(np.sum(s > 1e-10 * max(s.max(), 1e-300)))
    u, s, sigma = u[:, :rank], s[:rank], sigma[:rank]
    evidences = []
    for c in range(k):
        t = (codes == c).astype("float64")
        x = u.T @ t
        outside = max(float(t @ t - x @ x), 0.0)  # residual beyond span(F)
        alpha, beta = 1.0, 1.0
        for _ in range(max_iter):
            shrink = alpha + beta * sigma
            gamma = float(np.sum(beta * sigma / shrink))
            m2 = float(np.sum((beta * s * x / shrink) ** 2))
            res2 = outside + float(np.sum((alpha * x / shrink) ** 2))
            new_alpha = gamma / max(m2, 1e-12)
            new_beta = (n - gamma) / max(res2, 1e-12)
            done = (
                abs(new_alpha - alpha) / alpha < tol
                and abs(new_beta - beta) / beta < tol
            )
            alpha, beta = new_alpha, new_beta
            if done:
                break
        shrink = alpha + beta * sigma
        m2 = float(np.sum((beta * s * x / shrink) ** 2))
        res2 = outside + float(np.sum((alpha * x / shrink) ** 2))
        log_det = float(np.sum(np.log(shrink))) + (d - rank) * np.log(alpha)
        evidence = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - n / 2 * np.log(2 * np.pi)
            - beta / 2 * res2
            - alpha / 2 * m2
            - log_det / 2
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def h_score(features, y, shrinkage: float = 1e-6) -> float:
    """H-score: ``tr(cov(f)⁻¹ cov(E[f | y]))``.

    The covariance of the features is inverted with a small ridge
    (``shrinkage`` times its mean variance) so constant or collinear
    features do not blow it up.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> y = np.arange(200) % 2
        >>> good = y[:, None] + 0.1 * rng.normal(size=(200, 5))
        >>> bool(h_score(good, y) > h_score(rng.normal(size=(200, 5)), y))
        True
    """
    codes, k = _labels(y)
    f = _matrix(features, len(codes), "features")
    f = f - f.mean(axis=0)
    cov = f.T @ f / len(f)
    ridge = shrinkage * max(float(np.trace(cov)) / len(cov), 1e-12)
    means = np.zeros_like(f)
    for c in range(k):
        rows = codes == c
        means[rows] = f[rows].mean(axis=0)
    between = means.T @ means / len(f)
    inv = np.linalg.pinv(cov + ridge * np.eye(len(cov)), hermitian=True)
    return float(np.trace(inv @ between))


def leep(source_probabilities, y) -> float:
    """LEEP: mean log of the target label's expected empirical prediction.

    ``θ`` are the source head's class probabilities on the target rows;
    ``P(y, z) = mean_i θ_z(x_i) 1[y_i = y]``, ``P(y | z) = P(y, z) / P(z)``,
    and LEEP ``= mean_i log Σ_z P(y_i | z) θ_z(x_i)`` (≤ 0).

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 0, 1, 1])
        >>> sharp = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> round(leep(sharp, y), 4), round(leep(np.full((4, 2), 0.5), y), 4)
        (0.0, -0.6931)
    """
    codes, k = _labels(y)
    theta = _matrix(source_probabilities, len(codes), "source_probabilities")
    if np.any(theta < 0) or not np.allclose(theta.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "source_probabilities must be class probabilities (rows >= 0 summing "
            "to 1): apply a softmax to logits first."
        )
    onehot = np.eye(k)[codes]
    joint = onehot.T @ theta / len(codes)  # (k target, z source)
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-12)
    expected = np.sum(theta * conditional[codes], axis=1)
    return float(np.mean(np.log(np.maximum(expected, 1e-12))))


def nce(source_labels, y) -> float:
    """NCE: ``-H(Y | Z)`` for target labels ``Y`` and source predictions ``Z``.

    ``source_labels`` are the source head's predicted classes on the target
    rows (or class probabilities, whose argmax is taken). 0 when the source
    class determines the target class, ``-log k`` at worst.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 0, 1, 1])
        >>> nce(np.array([3, 3, 7, 7]), y), round(nce(np.array([3, 7, 3, 7]), y), 4)
        (0.0, -0.6931)
    """
    codes, k = _labels(y)
    z = np.asarray(source_labels)
    if z.ndim == 2:
        z = z.argmax(axis=1)
    if len(z) != len(codes):
        raise ValueError(f"source_labels has {len(z)} rows but y has {len(codes)}.")
    _, z = np.unique(z, return_inverse=True)
    joint = np.zeros((k, z.max() + 1))
    np.add.at(joint, (codes, z.reshape(-1)), 1.0)
    joint /= len(codes)
    pz = joint.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(joint > 0, np.log(joint / pz), 0.0)
    return float(np.sum(joint * logs)) + 0.0


_METHODS = {"logme": logme, "h_score": h_score, "leep": leep, "nce": nce}
_NEEDS_HEAD = ("leep", "nce")


class TransferabilityScorer:
    """A ``scoring=`` for ``GridSearchCV`` over transfer sources and layers.

    Called as ``scorer(estimator, X, y)`` with a fitted
    :class:`~keras_transfer.TransferClassifier` and labelled target rows.
    ``logme`` and ``h_score`` read ``estimator.transform(X)``: the network's
    features at ``feature_layer``; with ``strategy="feature_extraction"``
    (the source network frozen) these are exactly the source network's, so
    one cheap epoch per candidate is enough and the score does not depend on
    fine-tuning. ``leep`` and ``nce`` read the source model's own head
    (``source_model_`` when it was pretrained by ``fit``, else the
    ``source_model`` parameter: a ``keras.Model`` or a ``.keras`` / ``.h5``
    file) on the target rows.

    Args:
        method: ``"logme"``, ``"h_score"``, ``"leep"`` or ``"nce"``.

    Example:
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from keras_transfer import TransferClassifier
    >>> from keras_transfer.model_selection import TransferabilityScorer
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16.0).astype("float32")
    >>> search = GridSearchCV(
    ...     TransferClassifier("feature_extraction", source_model=(X[y < 5], y[y < 5]),
    ...                        backbone="mlp", epochs=1, random_state=0),
    ...     {"pretrain_epochs": [0, 5]},
    ...     scoring=TransferabilityScorer("logme"), cv=2,
    ... ).fit(X[y >= 5], y[y >= 5])
    >>> search.best_params_
    {'pretrain_epochs': 5}
    """

    def __init__(self, method: str = "logme"):
        if method not in _METHODS:
            raise ValueError(
                f"Unknown method {method!r}; use one of {sorted(_METHODS)}."
            )
        self.method = method

    def __repr__(self) -> str:
        return f"TransferabilityScorer({self.method!r})"

    def __call__(self, estimator, X, y) -> float:
        if self.method in _NEEDS_HEAD:
            probs = source_probabilities(estimator, X)
            if self.method == "leep":
                return leep(probs, y)
            return nce(probs.argmax(axis=1), y)
        return _METHODS[self.method](estimator.transform(X), y)


def _source_model(estimator):
    import keras

    model = getattr(estimator, "source_model_", None)
    if model is None:
        model = getattr(estimator, "source_model", None)
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        path = str(model)
        if path.lower().endswith(".weights.h5"):
            raise ValueError(
                "leep and nce need the source model's head: pass the source as a "
                "keras.Model or a .keras / .h5 file, not .weights.h5."
            )
        model = keras.saving.load_model(path)
    if not isinstance(model, keras.Model):
        raise ValueError(
            "leep and nce need the source network with its head: fit the "
            "TransferClassifier with a keras.Model, a model file or source data "
            "(then source_model_ holds the pretrained network)."
        )
    return model


def source_probabilities(estimator, X) -> np.ndarray:
    """The source head's class probabilities on ``X`` (rows as for ``predict``)."""
    from keras_transfer.estimators._validation import check_X

    model = _source_model(estimator)
    rows, _ = check_X(estimator, X, reset=False)
    rows = estimator._prediction_input(rows)
    out = model.predict(rows, batch_size=256, verbose=0)
    out = np.asarray(out[-1] if isinstance(out, (list, tuple)) else out, "float64")
    if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        return out  # a softmax head
    out = out - out.max(axis=1, keepdims=True)
    p = np.exp(out)
    return p / p.sum(axis=1, keepdims=True)
