"""Multilinear conditioning maps for CDAN (Long et al., 2018)."""

from __future__ import annotations

import math

from keras import ops

from ._utils import Tensor, as_float


def multilinear_map(features: Tensor, probs: Tensor) -> Tensor:
    """Flattened outer product ``f ⊗ g``: ``(batch, d)``, ``(batch, k)`` →
    ``(batch, d * k)``, with ``out[:, i * k + j] = f[:, i] * g[:, j]``.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> f = np.array([[1.0, 2.0]], "float32")
        >>> g = np.array([[0.25, 0.75]], "float32")
        >>> ops.convert_to_numpy(multilinear_map(f, g)).tolist()
        [[0.25, 0.75, 0.5, 1.5]]
    """
    f = as_float(features)
    g = as_float(probs, f.dtype)
    outer = f[:, :, None] * g[:, None, :]
    return ops.reshape(outer, (-1, f.shape[-1] * g.shape[-1]))


def randomized_multilinear_map(
    features: Tensor,
    probs: Tensor,
    random_features_matrix: Tensor,
    random_probs_matrix: Tensor,
) -> Tensor:
    """Randomized multilinear map ``(f Rf) ⊙ (g Rg) / sqrt(out_dim)``.

    ``Rf`` has shape ``(d, out_dim)``, ``Rg`` ``(k, out_dim)``; they are fixed
    (sampled once, e.g. standard normal, and never trained). The inner
    product of two outputs is an unbiased estimate of that of
    :func:`multilinear_map` when the matrices have i.i.d. unit-variance
    entries.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> rf = rng.normal(size=(4, 16)).astype("float32")
        >>> rg = rng.normal(size=(3, 16)).astype("float32")
        >>> f = rng.normal(size=(5, 4)).astype("float32")
        >>> g = np.full((5, 3), 1 / 3, "float32")
        >>> tuple(randomized_multilinear_map(f, g, rf, rg).shape)
        (5, 16)
    """
    f = as_float(features)
    g = as_float(probs, f.dtype)
    rf = as_float(random_features_matrix, f.dtype)
    rg = as_float(random_probs_matrix, f.dtype)
    out_dim = rf.shape[-1]
    return ops.matmul(f, rf) * ops.matmul(g, rg) / math.sqrt(float(out_dim))
