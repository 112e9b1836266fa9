"""Residual adapter: ``f + Δf(f)`` with ``Δf`` zero at initialisation."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transfer")
class ResidualAdapter(keras.layers.Layer):
    """A bottleneck residual branch added to its input: ``y = x + Δf(x)``.

    ``Δf(x) = up(activation(down(x)))`` where ``down`` projects the last
    axis to ``units`` and ``up`` projects back. ``up`` starts with a zero
    kernel and zero bias, so at initialisation ``Δf(x) = 0`` and the layer
    returns ``x`` exactly (bit for bit): inserted into a trained network it
    leaves its outputs unchanged until it is trained (Rebuffi et al., 2017;
    the residual form ``f_t = f_s + Δf`` of Long et al., 2016).

    Args:
        units: width of the bottleneck.
        activation: activation between the two projections.
        down_initializer: initializer of the ``down`` kernel.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_transfer.layers import ResidualAdapter
    >>> x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    >>> y = ops.convert_to_numpy(ResidualAdapter(units=3)(x))
    >>> bool(np.array_equal(y, x))
    True
    """

    def __init__(
        self,
        units: int = 32,
        activation="relu",
        down_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        if self.units < 1:
            raise ValueError(f"units must be >= 1, got {units!r}.")
        self.activation = keras.activations.get(activation)
        self.down_initializer = keras.initializers.get(down_initializer)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("ResidualAdapter needs a known last dimension.")
        self.down_kernel = self.add_weight(
            shape=(dim, self.units), initializer=self.down_initializer, name="down"
        )
        self.down_bias = self.add_weight(
            shape=(self.units,), initializer="zeros", name="down_bias"
        )
        self.up_kernel = self.add_weight(
            shape=(self.units, dim), initializer="zeros", name="up"
        )
        self.up_bias = self.add_weight(
            shape=(dim,), initializer="zeros", name="up_bias"
        )

    def residual(self, inputs):
        """The branch ``Δf(x)`` alone (zero at initialisation)."""
        hidden = self.activation(ops.matmul(inputs, self.down_kernel) + self.down_bias)
        return ops.matmul(hidden, self.up_kernel) + self.up_bias

    def call(self, inputs):
        return inputs + ops.cast(self.residual(inputs), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "down_initializer": keras.initializers.serialize(self.down_initializer),
        }
