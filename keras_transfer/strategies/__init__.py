"""Domain-adaptation strategies, one file each, registered by name.

Example:
>>> from keras_transfer.strategies import available_strategies
>>> {"source_only", "dann"} <= set(available_strategies())
True
"""

from keras_transfer.strategies.adabn import AdaBN
from keras_transfer.strategies.adapter import Adapter
from keras_transfer.strategies.adda import ADDA
from keras_transfer.strategies.base import (
    DEFAULT_RECIPE,
    Strategy,
    available_strategies,
    data_kind,
    get_strategy,
    recipe_settings,
    register_strategy,
    strategy_class,
    transfers_source,
)
from keras_transfer.strategies.cdan import CDAN, CDANE
from keras_transfer.strategies.coral import CORAL
from keras_transfer.strategies.dann import DANN
from keras_transfer.strategies.distill import Distill
from keras_transfer.strategies.entropy import EntropyMinimization
from keras_transfer.strategies.fusion import Fusion
from keras_transfer.strategies.joint import Joint
from keras_transfer.strategies.lora import LoRAStrategy
from keras_transfer.strategies.lwf import LwF
from keras_transfer.strategies.mcc import MCC
from keras_transfer.strategies.mcd import MCD
from keras_transfer.strategies.mdd import MDD
from keras_transfer.strategies.mmd import MMD
from keras_transfer.strategies.residual_adapter import TransferAdapter
from keras_transfer.strategies.self_training import SelfTraining
from keras_transfer.strategies.source_only import SourceOnly
from keras_transfer.strategies.wdgrl import WDGRL

__all__ = [
    "ADDA",
    "CDAN",
    "CDANE",
    "CORAL",
    "DANN",
    "MCC",
    "MCD",
    "MDD",
    "MMD",
    "WDGRL",
    "AdaBN",
    "Adapter",
    "Distill",
    "EntropyMinimization",
    "Fusion",
    "Joint",
    "LoRAStrategy",
    "LwF",
    "SelfTraining",
    "SourceOnly",
    "DEFAULT_RECIPE",
    "Strategy",
    "TransferAdapter",
    "available_strategies",
    "data_kind",
    "get_strategy",
    "recipe_settings",
    "register_strategy",
    "strategy_class",
    "transfers_source",
]
