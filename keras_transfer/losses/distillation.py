"""Knowledge-distillation loss (Hinton et al., 2015)."""

from __future__ import annotations

from keras import ops

from ._utils import Tensor, as_float, weighted_mean


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 2.0,
    sample_weight: Tensor | None = None,
) -> Tensor:
    """``T² · KL(softmax(teacher/T) || softmax(student/T))``, mean over rows.

    The teacher is under ``stop_gradient``; log-probabilities come from
    ``log_softmax`` (stable). The ``T²`` factor keeps gradient magnitudes
    comparable across temperatures. Optional per-row ``sample_weight`` gives a
    weighted mean (all-zero weights give 0).

    Example:
        >>> import numpy as np
        >>> z = np.array([[1.0, 2.0, 3.0]], "float32")
        >>> float(distillation_loss(z, z))
        0.0
    """
    s = as_float(student_logits)
    t = ops.stop_gradient(as_float(teacher_logits, s.dtype))
    log_ps = ops.log_softmax(s / temperature, axis=-1)
    log_pt = ops.log_softmax(t / temperature, axis=-1)
    kl = ops.sum(ops.exp(log_pt) * (log_pt - log_ps), axis=-1)
    return weighted_mean(kl, sample_weight) * (temperature**2)
