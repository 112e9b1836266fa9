"""A stack of Dense layers run as one layer (the adversarial sub-networks)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transfer")
class DenseStack(keras.layers.Layer):
    """``units`` ReLU layers (dropout after each), then ``outputs`` linear ones.

    The same function, initialisation and dropout as
    ``keras.Sequential([Dense(u, "relu"), Dropout(r), ..., Dense(outputs)])``,
    computed inside one layer call. On the PyTorch backend each Keras layer
    call costs tens of microseconds of Python work, several times the
    arithmetic of a small discriminator: this is what keeps the adversarial
    strategies' per-step overhead low (docs/benchmarks.md, issue 16).

    Args:
        units: widths of the hidden ReLU layers (``()``: one linear layer).
        outputs: width of the final linear layer.
        dropout: dropout rate after each hidden layer (training only).
        kernel_initializer, bias_initializer: as for ``keras.layers.Dense``.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.layers import DenseStack
    >>> net = DenseStack((8, 8), outputs=1, dropout=0.5)
    >>> tuple(net(np.ones((4, 3), "float32")).shape)
    (4, 1)
    >>> len(net.trainable_weights)  # a kernel and a bias per Dense layer
    6
    """

    def __init__(
        self,
        units: Sequence[int] = (),
        outputs: int = 1,
        dropout: float = 0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        self.outputs = int(outputs)
        self.dropout = float(dropout)
        # Kept as configs: instantiating an unseeded initializer draws a seed.
        self.kernel_initializer = self._config(kernel_initializer)
        self.bias_initializer = self._config(bias_initializer)
        # Per layer, in the order a Sequential of Dense and Dropout layers
        # creates them (each unseeded initializer and dropout draws its seed
        # then), so that the same seed gives the same weights and masks.
        self._initializers, self.seed_generators = [], []
        for i in range(len(self.units) + 1):
            self._initializers.append(
                (self._fresh(kernel_initializer), self._fresh(bias_initializer))
            )
            if i < len(self.units) and self.dropout:
                self.seed_generators.append(keras.random.SeedGenerator())

    @staticmethod
    def _config(initializer):
        if isinstance(initializer, keras.initializers.Initializer):
            return keras.initializers.serialize(initializer)
        return initializer

    @classmethod
    def _fresh(cls, initializer):
        """A new instance of ``initializer`` (an unseeded one draws a new seed)."""
        return keras.initializers.get(cls._config(initializer))

    def build(self, input_shape):
        width = int(input_shape[-1])
        self.kernels, self.biases = [], []
        widths = (*self.units, self.outputs)
        for i, (out, (kernel, bias)) in enumerate(zip(widths, self._initializers)):
            self.kernels.append(
                self.add_weight(
                    shape=(width, out), initializer=kernel, name=f"kernel_{i}"
                )
            )
            self.biases.append(
                self.add_weight(shape=(out,), initializer=bias, name=f"bias_{i}")
            )
            width = out

    def call(self, inputs, training=False):
        x = inputs
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            x = ops.add(ops.matmul(x, kernel), bias)
            if i < len(self.units):
                x = ops.relu(x)
                if training and self.dropout:
                    x = keras.random.dropout(
                        x, self.dropout, seed=self.seed_generators[i]
                    )
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "units": list(self.units),
            "outputs": self.outputs,
            "dropout": self.dropout,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }
