"""Turning what users pass into batches for ``model.fit``."""

from keras_transfer.data.batches import (
    DomainBatches,
    EpochSync,
    InputBatches,
    RowSubset,
    take_rows,
)
from keras_transfer.data.streams import (
    ArrayBatches,
    BatchStream,
    StreamBatches,
    is_stream,
)

__all__ = [
    "ArrayBatches",
    "BatchStream",
    "DomainBatches",
    "EpochSync",
    "InputBatches",
    "RowSubset",
    "StreamBatches",
    "is_stream",
    "take_rows",
]
