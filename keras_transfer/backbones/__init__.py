"""Feature extractors: named builders and cutting a user's model."""

from keras_transfer.backbones.builders import (
    available_backbones,
    build_backbone,
    copy_model,
    cut,
    lenet,
    mlp,
    pool_features,
    register_backbone,
)

__all__ = [
    "available_backbones",
    "build_backbone",
    "copy_model",
    "cut",
    "lenet",
    "mlp",
    "pool_features",
    "register_backbone",
]
