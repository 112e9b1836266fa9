"""Keras 3 layers for transfer learning (keras.ops only, serializable)."""

from keras_transfer.layers.gradient_reversal import GradientReversal
from keras_transfer.layers.residual_adapter import ResidualAdapter

__all__ = ["GradientReversal", "ResidualAdapter"]
