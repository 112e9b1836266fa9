"""Maximum Mean Discrepancy (MMD) losses (DAN / JAN style)."""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

from ._utils import Tensor, as_float, eps, normalize, row_weights, safe_divide


def pairwise_squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances ``D[i, j] = ||x_i - y_j||²``, clipped at 0.

    Uses ``||x||² + ||y||² - 2 x·y`` (O(n·m) memory instead of O(n·m·d)).

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> x = np.array([[0.0, 0.0], [3.0, 4.0]], "float32")
        >>> ops.convert_to_numpy(pairwise_squared_distances(x, x)).tolist()
        [[0.0, 25.0], [25.0, 0.0]]
    """
    x = as_float(x)
    y = as_float(y, x.dtype)
    x_sq = ops.sum(ops.square(x), axis=-1)
    y_sq = ops.sum(ops.square(y), axis=-1)
    d = x_sq[:, None] + y_sq[None, :] - 2.0 * ops.matmul(x, ops.transpose(y))
    return ops.maximum(d, 0.0)


def gaussian_kernel_matrix(
    x: Tensor, y: Tensor, bandwidths: Sequence[float] | Tensor
) -> Tensor:
    """Sum of Gaussian kernels ``K[i, j] = Σ_k exp(-||x_i - y_j||² / h_k)``.

    ``bandwidths`` are the ``h_k`` (DAN convention: ``h = 2σ²``), a sequence
    of floats or a 1-D tensor.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> x = np.zeros((2, 3), "float32")
        >>> ops.convert_to_numpy(gaussian_kernel_matrix(x, x, [1.0, 2.0])).tolist()
        [[2.0, 2.0], [2.0, 2.0]]
    """
    d = pairwise_squared_distances(x, y)
    h = ops.reshape(as_float(bandwidths, d.dtype), (-1, 1, 1))
    return ops.sum(ops.exp(-d[None, :, :] / ops.maximum(h, eps())), axis=0)


def _count(w: Tensor) -> Tensor:
    """Number of rows with a positive weight."""
    return ops.sum(ops.cast(ops.greater(w, 0.0), w.dtype))


def _dan_bandwidths(d: Tensor, a: Tensor, kernel_mul: float, kernel_num: int) -> Tensor:
    """DAN bandwidths from the (weighted) mean off-diagonal squared distance."""
    pair_w = a[:, None] * a[None, :]
    # Σ_{i≠j} a_i a_j = (Σ a)² - Σ a²; the diagonal of ``d`` is zero anyway.
    n_pairs = ops.square(ops.sum(a)) - ops.sum(ops.square(a))
    base = safe_divide(ops.sum(pair_w * d), n_pairs)
    base = base / (kernel_mul ** (kernel_num // 2))
    scales = ops.convert_to_tensor(
        [kernel_mul**k for k in range(kernel_num)], dtype=d.dtype
    )
    return ops.stop_gradient(ops.maximum(base * scales, eps()))


def mmd(
    source: Tensor,
    target: Tensor,
    bandwidths: Sequence[float] | Tensor | None = None,
    kernel_mul: float = 2.0,
    kernel_num: int = 5,
    source_weight: Tensor | None = None,
    target_weight: Tensor | None = None,
) -> Tensor:
    """Multi-kernel Gaussian MMD² between ``source`` and ``target`` (biased).

    ``MMD² = wₛᵀ Kₛₛ wₛ + wₜᵀ Kₜₜ wₜ - 2 wₛᵀ Kₛₜ wₜ`` with the kernel of
    :func:`gaussian_kernel_matrix`. Without weights, ``w`` is uniform
    (``1/n``, ``1/m``): the biased V-statistic; ``n`` and ``m`` may differ.

    If ``bandwidths`` is None they are chosen as in DAN: ``h`` = mean of the
    off-diagonal pairwise squared distances of the joint batch, and
    ``h_k = h * kernel_mul**(k - kernel_num // 2)``, ``k < kernel_num``,
    computed under ``stop_gradient``.

    ``source_weight`` / ``target_weight`` are optional non-negative per-row
    weights (e.g. 0/1 domain masks, so ``source`` and ``target`` can be the
    same tensor in a compiled step). Each is normalised to sum to one; rows
    with weight 0 are
    ignored, also for the bandwidth (a weighted mean over pairs, each set's
    weights rescaled to mean 1 over its non-zero rows). With 0/1 weights the
    result equals ``mmd`` on the selected rows; rescaling a set's weights
    changes nothing. If either set has total weight 0 the result is 0.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(32, 4)).astype("float32")
        >>> shifted = ops.convert_to_numpy(mmd(x, x + 1.0))
        >>> bool(shifted > ops.convert_to_numpy(mmd(x, x)))
        True
        >>> mask = np.r_[np.ones(16), np.zeros(16)].astype("float32")
        >>> float(mmd(x, x, source_weight=mask, target_weight=0 * mask))
        0.0
    """
    source = as_float(source)
    target = as_float(target, source.dtype)
    a_s = row_weights(source, source_weight)
    a_t = row_weights(target, target_weight)
    w_s, s_nonempty = normalize(a_s)
    w_t, t_nonempty = normalize(a_t)

    z = ops.concatenate([source, target], axis=0)
    d = pairwise_squared_distances(z, z)
    if bandwidths is None:
        # Pair weights for the bandwidth: each set's weights rescaled to mean 1
        # over its non-zero rows (0/1 masks -> plain joint-batch average).
        a = ops.concatenate([w_s * _count(a_s), w_t * _count(a_t)], axis=0)
        h = _dan_bandwidths(d, a, kernel_mul, kernel_num)
    else:
        h = ops.maximum(as_float(bandwidths, d.dtype), eps())
    h = ops.reshape(h, (-1, 1, 1))
    k = ops.sum(ops.exp(-d[None, :, :] / h), axis=0)

    v = ops.concatenate([w_s, -w_t], axis=0)
    value = ops.sum(v[:, None] * k * v[None, :])
    return value * s_nonempty * t_nonempty


def linear_mmd(
    source: Tensor,
    target: Tensor,
    source_weight: Tensor | None = None,
    target_weight: Tensor | None = None,
) -> Tensor:
    """Linear-kernel MMD²: ``||mean_w(source) - mean_w(target)||²``.

    Weights as in :func:`mmd` (normalised per set; an empty set gives 0).

    Example:
        >>> import numpy as np
        >>> source = np.zeros((4, 2), "float32")
        >>> target = np.ones((3, 2), "float32")
        >>> float(linear_mmd(source, target))
        2.0
    """
    source = as_float(source)
    target = as_float(target, source.dtype)
    w_s, s_nonempty = normalize(row_weights(source, source_weight))
    w_t, t_nonempty = normalize(row_weights(target, target_weight))
    mean_s = ops.sum(w_s[:, None] * source, axis=0)
    mean_t = ops.sum(w_t[:, None] * target, axis=0)
    return ops.sum(ops.square(mean_s - mean_t)) * s_nonempty * t_nonempty
