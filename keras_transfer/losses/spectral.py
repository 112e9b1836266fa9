"""Batch Spectral Penalization (Chen et al., ICML 2019)."""

from __future__ import annotations

import math

from keras import ops

from ._utils import Tensor, as_float, row_weights


def batch_spectral_penalty(
    features: Tensor,
    weight: Tensor | None = None,
    k: int = 1,
    iterations: int = 30,
) -> Tensor:
    """Sum of the ``k`` largest squared singular values of a feature batch.

    BSP penalises the dominant singular directions of each domain's feature
    matrix, which adversarial alignment inflates at the cost of
    discriminability. Rows with ``weight`` 0 are zeroed (a zero row leaves
    the singular values of the others unchanged), so one call per domain
    with a 0/1 mask handles a mixed batch. The values come from
    ``iterations`` steps of power iteration on ``XᵀX`` (exact to float
    precision for a clear spectral gap, which is the case BSP targets).

    Example:
        >>> import numpy as np
        >>> f = np.diag([3.0, 1.0]).astype("float32")
        >>> round(float(batch_spectral_penalty(f)), 3)
        9.0
        >>> round(float(batch_spectral_penalty(f, k=2)), 3)
        10.0
    """
    x = as_float(features)
    d = math.prod(int(n) for n in x.shape[1:])  # static: the features' width
    x = ops.reshape(x, (-1, d))
    x = x * row_weights(x, weight)[:, None]
    # σ² are the eigenvalues of the small d×d Gram matrix XᵀX. Each top
    # eigenvector is found by power iteration without gradient; then
    # σ² = vᵀ(XᵀX)v has the exact gradient of the eigenvalue. This avoids
    # eigh/svd gradients, which are NaN for the repeated (e.g. zero)
    # eigenvalues of dead ReLU units on some backends.
    gram = ops.matmul(ops.transpose(x), x)
    held = ops.stop_gradient(gram)
    start = ops.ones((d,), dtype=x.dtype) + ops.cast(ops.arange(d), x.dtype) / d
    total = ops.zeros((), dtype=x.dtype)
    for _ in range(int(k)):
        v = start / ops.norm(start)
        for _ in range(iterations):
            v = ops.matmul(held, v)
            v = v / ops.maximum(ops.norm(v), 1e-12)
        v = ops.stop_gradient(v)
        value = ops.sum(v * ops.matmul(gram, v))
        total = total + value
        held = held - ops.stop_gradient(value) * ops.outer(v, v)
    return total


def domain_spectral_penalty(features: Tensor, is_source: Tensor, k: int = 1) -> Tensor:
    """BSP of a mixed batch: the source rows' penalty plus the target rows'.

    ``is_source`` is 1.0 for source rows and 0.0 for target rows; this is the
    term an adversarial strategy adds as ``bsp · domain_spectral_penalty``.

    Example:
        >>> import numpy as np
        >>> f = np.array([[3.0, 0.0], [0.0, 1.0]], "float32")
        >>> round(float(domain_spectral_penalty(f, np.array([1.0, 0.0]))), 3)
        10.0
    """
    x = as_float(features)
    src = row_weights(x, is_source)
    return batch_spectral_penalty(x, src, k) + batch_spectral_penalty(x, 1.0 - src, k)
