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


def class_balance(logits: Tensor, weight: Tensor) -> Tensor:
    """Entropy ``H(mean p)`` of the mean prediction over the rows of ``weight``.

    The diversity term of information maximisation (SHOT, Liang et al. 2020):
    *maximising* it keeps the predictions spread over the classes, so a loss
    subtracts it. Largest (``log k``) when the weighted mean of
    ``softmax(logits)`` is uniform, 0 when every row predicts one class.
    ``weight``: per-row weights (e.g. 1 for target rows, 0 for source rows;
    all-zero weights give the entropy of a zero vector, 0).

    Example:
        >>> import numpy as np
        >>> z = np.array([[5.0, 0.0], [0.0, 5.0]], "float32")
        >>> round(float(class_balance(z, np.ones(2, "float32"))), 3)  # log 2
        0.693
        >>> round(float(class_balance(z, np.array([1.0, 0.0], "float32"))), 3)
        0.04
    """
    probs = ops.softmax(as_float(logits), axis=-1)
    weight = as_float(weight)
    n = ops.maximum(ops.sum(weight), 1.0)
    mean_p = ops.sum(weight[:, None] * probs, axis=0) / n
    return -ops.sum(mean_p * ops.log(mean_p + 1e-7))


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
