"""Keras models that carry the training path."""

from keras_transfer.models.adaptation_model import AdaptationModel
from keras_transfer.models.transfer_model import TransferModel

__all__ = ["AdaptationModel", "TransferModel"]
