"""Turning what users pass into batches for ``model.fit``."""

from keras_transfer.data.batches import DomainBatches, InputBatches, take_rows

__all__ = ["DomainBatches", "InputBatches", "take_rows"]
