"""Wasserstein-distance (WDGRL) critic terms."""

from __future__ import annotations

from keras import ops

from ._utils import Tensor, as_float, normalize, row_weights, rows


def wasserstein_critic_terms(
    critic_source: Tensor,
    critic_target: Tensor,
    source_weight: Tensor | None = None,
    target_weight: Tensor | None = None,
) -> Tensor:
    """Empirical Wasserstein-1 estimate ``mean(c_s) - mean(c_t)`` (WDGRL).

    ``critic_*`` are critic outputs of shape ``(batch,)`` or ``(batch, 1)``.
    Sign conventions (Kantorovich-Rubinstein dual, 1-Lipschitz critic):

    * the critic *maximises* the estimate, i.e. minimises
      ``-wasserstein_critic_terms(...) + λ·gradient_penalty``;
    * the feature extractor *minimises* the estimate (alongside the task
      loss), with the critic frozen.

    The gradient penalty needs input gradients and is left to the training
    step. Optional per-row weights give weighted means (normalised per set);
    if either set has total weight 0 the result is 0.

    Example:
        >>> import numpy as np
        >>> cs = np.array([2.0, 4.0], "float32")
        >>> ct = np.array([[1.0], [0.0], [2.0]], "float32")
        >>> float(wasserstein_critic_terms(cs, ct))
        2.0
    """
    cs = rows(as_float(critic_source))
    ct = rows(as_float(critic_target, cs.dtype))
    ws, s_nonempty = normalize(row_weights(cs, source_weight))
    wt, t_nonempty = normalize(row_weights(ct, target_weight))
    value = ops.sum(ws * cs) - ops.sum(wt * ct)
    return value * s_nonempty * t_nonempty
