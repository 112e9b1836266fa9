"""Keras 3 layers for transfer learning (keras.ops only, serializable)."""

from keras_transfer.layers.gradient_reversal import GradientReversal

__all__ = ["GradientReversal"]
