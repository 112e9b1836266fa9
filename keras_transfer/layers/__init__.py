"""Keras 3 layers for transfer learning (keras.ops only, serializable)."""

from keras_transfer.layers.dense_stack import DenseStack
from keras_transfer.layers.gradient_reversal import GradientReversal, reverse_gradient
from keras_transfer.layers.residual_adapter import ResidualAdapter

__all__ = ["DenseStack", "GradientReversal", "ResidualAdapter", "reverse_gradient"]
