"""Gradient reversal layer (Ganin & Lempitsky, 2015), keras.ops only."""

from __future__ import annotations

import keras
from keras import ops


def reverse_gradient(x, factor=1.0):
    """Identity forward; the gradient flowing back is multiplied by ``-factor``.

    The function behind :class:`GradientReversal`, for use inside a layer's
    ``call`` without the cost of a nested layer call (issue 16).

    Example:
    >>> import numpy as np
    >>> from keras_transfer.layers import reverse_gradient
    >>> x = np.ones((2, 3), "float32")
    >>> bool(np.all(np.asarray(reverse_gradient(x, 0.5)) == x))
    True
    """
    x = ops.convert_to_tensor(x)
    factor = ops.cast(factor, x.dtype)
    held = ops.stop_gradient(x)
    return held - factor * (x - held)


@keras.saving.register_keras_serializable(package="keras_transfer")
class GradientReversal(keras.layers.Layer):
    """Identity in the forward pass; multiplies gradients by ``-factor``.

    ``y = sg(x) - factor * (x - sg(x))`` where ``sg`` is ``stop_gradient``:
    the forward value is exactly ``x`` and ``dy/dx = -factor``. Written with
    ``keras.ops`` alone, so it works on TensorFlow, PyTorch and JAX, under
    ``jit_compile`` too.

    Args:
        factor: default reversal strength (λ). A ``factor`` passed to
            ``call`` (a float or a scalar tensor, e.g. a scheduled λ)
            overrides it.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.layers import GradientReversal
    >>> x = np.ones((2, 3), "float32")
    >>> y = GradientReversal(factor=0.5)(x)
    >>> bool(np.all(np.asarray(y) == x))
    True
    """

    def __init__(self, factor: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)
        self.supports_masking = True

    def call(self, inputs, factor=None):
        return reverse_gradient(inputs, self.factor if factor is None else factor)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
