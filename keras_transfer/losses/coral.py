"""Deep CORAL: correlation alignment of second-order statistics."""

from __future__ import annotations

from keras import ops

from ._utils import Tensor, as_float, dim, row_weights, safe_divide


def weighted_covariance(x: Tensor, weight: Tensor | None = None) -> Tensor:
    """Unbiased (reliability-weighted) covariance of the rows of ``x``.

    ``C = Σ w_i (x_i - μ)(x_i - μ)ᵀ / (V₁ - V₂ / V₁)`` with ``μ`` the weighted
    mean, ``V₁ = Σ w``, ``V₂ = Σ w²``. With 0/1 weights this is the usual
    ``1/(n - 1)`` estimator on the selected rows; fewer than two selected rows
    (or all-zero weights) give a zero matrix instead of NaN.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> x = np.array([[0.0], [2.0], [5.0]], "float32")
        >>> ops.convert_to_numpy(weighted_covariance(x, [1.0, 1.0, 0.0])).tolist()
        [[2.0]]
    """
    x = as_float(x)
    w = row_weights(x, weight)
    v1 = ops.sum(w)
    v2 = ops.sum(ops.square(w))
    mean = safe_divide(ops.sum(w[:, None] * x, axis=0), v1)
    xc = x - mean[None, :]
    scatter = ops.matmul(ops.transpose(w[:, None] * xc), xc)
    return safe_divide(scatter, v1 - safe_divide(v2, v1))


def coral(
    source: Tensor,
    target: Tensor,
    source_weight: Tensor | None = None,
    target_weight: Tensor | None = None,
) -> Tensor:
    """Deep CORAL loss ``||C_s - C_t||²_F / (4 d²)`` (Sun & Saenko, 2016).

    ``C`` are unbiased feature covariances (:func:`weighted_covariance`), ``d``
    the feature dimension. Optional non-negative per-row weights select or
    weight the rows of each set (0/1 masks give the loss on the selected
    rows). If either set has total weight 0 the loss is 0.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> xs = rng.normal(size=(64, 3)).astype("float32")
        >>> float(coral(xs, xs))
        0.0
        >>> bool(float(coral(xs, 3.0 * xs)) > 0.1)
        True
    """
    source = as_float(source)
    target = as_float(target, source.dtype)
    ws = row_weights(source, source_weight)
    wt = row_weights(target, target_weight)
    diff = weighted_covariance(source, ws) - weighted_covariance(target, wt)
    d = dim(source, -1, source.dtype)
    value = ops.sum(ops.square(diff)) / (4.0 * d * d)
    nonempty = ops.cast(ops.greater(ops.sum(ws), 0.0), value.dtype) * ops.cast(
        ops.greater(ops.sum(wt), 0.0), value.dtype
    )
    return value * nonempty
