"""Turning what users pass into batches for ``model.fit``."""

from keras_transfer.data.batches import (
    DomainBatches,
    EpochSync,
    InputBatches,
    take_rows,
)

__all__ = ["DomainBatches", "EpochSync", "InputBatches", "take_rows"]
