"""Prediction-entropy losses and entropy-based sample weights."""

from __future__ import annotations

from keras import ops

from ._utils import Tensor, as_float, weighted_mean


def prediction_entropy(logits: Tensor) -> Tensor:
    """Per-row Shannon entropy (nats) of ``softmax(logits)``, shape ``(batch,)``.

    Computed as ``-Σ p·log_softmax(z)`` (stable for large logits, no
    ``log(0)``).

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> z = np.array([[0.0, 0.0], [100.0, -100.0]], "float32")
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(prediction_entropy(z))]
        [0.6931, 0.0]
    """
    log_p = ops.log_softmax(as_float(logits), axis=-1)
    return ops.sum(ops.exp(log_p) * (-log_p), axis=-1)


def entropy(logits: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean Shannon entropy of ``softmax(logits)`` (entropy minimisation).

    Optional non-negative per-row ``weight`` gives the weighted mean (weights
    normalised to sum to one; all-zero weights give 0).

    Example:
        >>> import numpy as np
        >>> z = np.zeros((3, 4), "float32")
        >>> round(float(entropy(z)), 4) == round(float(np.log(4)), 4)
        True
    """
    return weighted_mean(prediction_entropy(logits), weight)


def entropy_weights(logits: Tensor) -> Tensor:
    """CDAN+E per-row weights ``1 + exp(-H(softmax(logits)))``, no gradient.

    Confident predictions get weights near 2, uniform ones near
    ``1 + 1/num_classes``. The caller normalises them (per domain) as needed.

    Example:
        >>> import numpy as np
        >>> z = np.array([[100.0, -100.0], [0.0, 0.0]], "float32")
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(entropy_weights(z))]
        [2.0, 1.5]
    """
    return ops.stop_gradient(1.0 + ops.exp(-prediction_entropy(logits)))
