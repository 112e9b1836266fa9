"""Two-classifier discrepancies: MDD's margin disparity and MCD's L1 gap."""

from __future__ import annotations

from keras import ops

from ._utils import Tensor, as_float, row_weights, weighted_mean


def margin_disparity_discrepancy(
    logits: Tensor,
    adversary_logits: Tensor,
    is_source: Tensor,
    margin: float = 4.0,
) -> Tensor:
    """The adversary's loss in MDD (Zhang et al., ICML 2019), to be minimised.

    With ``h = argmax(logits)`` the main head's (constant) predictions and
    ``p' = softmax(adversary_logits)``::

        margin · mean_source CE(p', h) + mean_target -log(1 - p'[h])

    The adversary ``f'`` minimising it agrees with the main head on source
    rows and disagrees on target rows; the negated value is the empirical
    margin disparity discrepancy ``D_γ``, which the feature extractor
    minimises through a gradient-reversal layer. ``is_source`` is 1.0 for
    source rows and 0.0 for target rows (rows of one domain may be absent:
    that term is 0).

    Example:
        >>> import numpy as np
        >>> z = np.array([[5.0, 0.0], [5.0, 0.0]], "float32")
        >>> agree = np.array([[5.0, 0.0], [0.0, 5.0]], "float32")
        >>> loss = margin_disparity_discrepancy(z, agree, np.array([1.0, 0.0]))
        >>> round(float(loss), 2)   # agrees on source, disagrees on target
        0.03
    """
    z = as_float(logits)
    za = as_float(adversary_logits, z.dtype)
    src = row_weights(z, is_source)
    tgt = 1.0 - src
    pseudo = ops.one_hot(ops.argmax(ops.stop_gradient(z), axis=-1), z.shape[-1])
    pseudo = ops.cast(pseudo, z.dtype)
    log_p = ops.log_softmax(za, axis=-1)
    source_ce = -ops.sum(pseudo * log_p, axis=-1)
    p_pseudo = ops.sum(pseudo * ops.exp(log_p), axis=-1)
    # -log(1 - p), with 1 - p kept away from 0 (a confident adversary).
    target_term = -ops.log(ops.maximum(1.0 - p_pseudo, 1e-6))
    return margin * weighted_mean(source_ce, src) + weighted_mean(target_term, tgt)


def classifier_discrepancy(
    logits_a: Tensor, logits_b: Tensor, weight: Tensor | None = None
) -> Tensor:
    """MCD's discrepancy: mean absolute gap of two heads' class probabilities.

    ``mean_rows mean_classes |softmax(a) - softmax(b)|`` (Saito et al.,
    CVPR 2018), with optional per-row weights (e.g. a 0/1 target mask; all
    zero gives 0).

    Example:
        >>> import numpy as np
        >>> a = np.array([[9.0, -9.0]], "float32")
        >>> round(float(classifier_discrepancy(a, -a)), 3)
        1.0
        >>> round(float(classifier_discrepancy(a, a)), 3)
        0.0
    """
    a = as_float(logits_a)
    b = as_float(logits_b, a.dtype)
    gap = ops.mean(ops.abs(ops.softmax(a, axis=-1) - ops.softmax(b, axis=-1)), axis=-1)
    return weighted_mean(gap, weight)
