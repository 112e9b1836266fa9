"""Confidence-thresholded pseudo-label loss (FixMatch / AdaMatch style)."""

from __future__ import annotations

import keras
from keras import ops

from ._utils import Tensor, as_float, row_weights, safe_divide


def aligned_probabilities(
    logits: Tensor, is_source: Tensor, eps: float = 1e-6
) -> Tensor:
    """Class probabilities rescaled so the target's mean matches the source's.

    Distribution alignment (AdaMatch, Berthelot et al., ICLR 2022):
    ``p ← normalise(p · mean_source(p) / mean_target(p))`` within the batch,
    no gradient. It keeps pseudo-labels class-balanced like the source
    predictions instead of drifting to the classes the target already
    prefers. Without source rows in the batch ``p`` is returned as is.

    Example:
        >>> import numpy as np
        >>> z = np.log(np.array([[0.5, 0.5], [0.8, 0.2]], "float32"))
        >>> p = aligned_probabilities(z, np.array([1.0, 0.0]))
        >>> [round(float(v), 2) for v in np.asarray(p)[1]]
        [0.5, 0.5]
    """
    z = ops.stop_gradient(as_float(logits))
    p = ops.softmax(z, axis=-1)
    src = row_weights(z, is_source)
    tgt = 1.0 - src
    n_src, n_tgt = ops.sum(src), ops.sum(tgt)
    mean_s = safe_divide(ops.sum(src[:, None] * p, axis=0), n_src)
    mean_t = safe_divide(ops.sum(tgt[:, None] * p, axis=0), n_tgt)
    ratio = (mean_s + eps) / (mean_t + eps)
    ratio = ops.where(
        ops.logical_and(n_src > 0, n_tgt > 0), ratio, ops.ones_like(ratio)
    )
    q = p * ratio[None, :]
    return q / ops.sum(q, axis=-1, keepdims=True)


def pseudo_label_loss(
    probs: Tensor, logits: Tensor, threshold: float, weight: Tensor | None = None
) -> Tensor:
    """Cross-entropy of ``logits`` against the confident labels of ``probs``.

    Rows whose largest probability in ``probs`` (held constant) reaches
    ``threshold`` get the label ``argmax probs``; the loss is the sum of
    their cross-entropies divided by the number of rows with ``weight > 0``
    (all rows without ``weight``), as in FixMatch: early on few rows pass and
    the term is small. ``logits`` may come from another view of the rows
    (strong augmentation).

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.99, 0.01], [0.6, 0.4]], "float32")
        >>> z = np.zeros((2, 2), "float32")
        >>> round(float(pseudo_label_loss(probs, z, threshold=0.95)), 4)  # ln 2 / 2
        0.3466
    """
    p = ops.stop_gradient(as_float(probs))
    z = as_float(logits, p.dtype)
    rows = row_weights(z, weight)
    confident = ops.cast(ops.max(p, axis=-1) >= threshold, z.dtype)
    ce = keras.losses.sparse_categorical_crossentropy(
        ops.argmax(p, axis=-1), z, from_logits=True
    )
    n = ops.sum(ops.cast(rows > 0, z.dtype))
    return safe_divide(ops.sum(rows * confident * ce), n)
