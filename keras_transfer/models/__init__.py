"""Keras models that carry the training path."""

from keras_transfer.models.adaptation_model import AdaptationModel

__all__ = ["AdaptationModel"]
