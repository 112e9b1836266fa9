"""Domain-adaptation strategies, one file each, registered by name.

Example:
>>> from keras_transfer.strategies import available_strategies
>>> {"source_only", "dann"} <= set(available_strategies())
True
"""

from keras_transfer.strategies.base import (
    Strategy,
    available_strategies,
    get_strategy,
    register_strategy,
)
from keras_transfer.strategies.dann import DANN
from keras_transfer.strategies.source_only import SourceOnly

__all__ = [
    "DANN",
    "SourceOnly",
    "Strategy",
    "available_strategies",
    "get_strategy",
    "register_strategy",
]
