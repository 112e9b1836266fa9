"""Domain-adversarial (DANN) discriminator loss."""

from __future__ import annotations

from keras import ops

from ._utils import Tensor, as_float, rows, weighted_mean


def binary_cross_entropy_with_logits(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-element, numerically stable ``BCE(sigmoid(logits), labels)``.

    ``keras.ops.binary_crossentropy(..., from_logits=True)``: each backend's
    fused, stable form (``max(z, 0) - z·y + log1p(exp(-|z|))``), finite for
    any finite ``z``; one op on PyTorch instead of eight.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> z = np.array([0.0, 100.0], "float32")
        >>> out = binary_cross_entropy_with_logits(z, np.array([1.0, 1.0]))
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(out)]
        [0.6931, 0.0]
    """
    z = as_float(logits)
    y = as_float(labels, z.dtype)
    if tuple(y.shape) != tuple(z.shape):  # the backends' op wants equal shapes
        y = ops.broadcast_to(y, ops.shape(z))
    return ops.binary_crossentropy(y, z, from_logits=True)


def domain_adversarial_loss(
    domain_logits: Tensor,
    is_source: Tensor,
    sample_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of a domain discriminator, from logits.

    ``domain_logits`` has shape ``(batch,)`` or ``(batch, 1)``; ``is_source``
    (bool or 0/1) is the label: 1 = source, 0 = target. Returns the mean over
    rows, or the weighted mean ``Σ w·ℓ / max(Σ w, eps)`` with per-row
    ``sample_weight`` (all-zero weights give 0). In DANN the feature
    extractor receives the negated gradient (gradient reversal layer).

    Example:
        >>> import numpy as np
        >>> logits = np.zeros((4, 1), "float32")
        >>> labels = np.array([1, 1, 0, 0])
        >>> round(float(domain_adversarial_loss(logits, labels)), 4)
        0.6931
    """
    z = rows(as_float(domain_logits))
    y = rows(as_float(is_source, z.dtype))
    return weighted_mean(binary_cross_entropy_with_logits(z, y), sample_weight)
