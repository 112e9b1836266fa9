"""Minimum Class Confusion loss (Jin et al., ECCV 2020)."""

from __future__ import annotations

from keras import ops

from ._utils import Tensor, as_float, dim, row_weights, safe_divide


def mcc(
    logits: Tensor, temperature: float = 2.5, weight: Tensor | None = None
) -> Tensor:
    """Minimum Class Confusion loss on (target) logits.

    1. ``P = softmax(logits / T)``;
    2. sample weights ``w = 1 + exp(-H(P))`` (no gradient), times the optional
       per-row ``weight`` (e.g. a 0/1 target mask), normalised so that they
       sum to the (effective) batch size;
    3. class confusion ``C = Pᵀ diag(w) P``, row-normalised;
    4. ``loss = (Σ C - trace C) / num_classes``.

    The row normalisation makes the loss invariant to the overall scale of
    ``w``; all-zero weights give 0.

    Example:
        >>> import numpy as np
        >>> z = np.array([[20.0, 0.0], [0.0, 20.0]], "float32")
        >>> round(float(mcc(z)), 4)
        0.0007
        >>> round(float(mcc(np.zeros((4, 2), "float32"))), 4)
        0.5
    """
    z = as_float(logits)
    log_p = ops.log_softmax(z / temperature, axis=-1)
    p = ops.exp(log_p)
    h = ops.sum(p * (-log_p), axis=-1)
    w = ops.stop_gradient(1.0 + ops.exp(-h)) * row_weights(z, weight)
    total = ops.sum(w)
    n_eff = ops.sum(ops.cast(ops.greater(w, 0.0), w.dtype))
    w = safe_divide(n_eff * w, total)
    confusion = ops.matmul(ops.transpose(w[:, None] * p), p)
    confusion = safe_divide(confusion, ops.sum(confusion, axis=1, keepdims=True))
    num_classes = dim(z, -1, z.dtype)
    return (ops.sum(confusion) - ops.trace(confusion)) / num_classes
