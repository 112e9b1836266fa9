"""Feature extractors: named builders, pretrained networks, cutting a model."""

from keras_transfer.backbones.builders import (
    available_backbones,
    build_backbone,
    copy_model,
    cut,
    lenet,
    mlp,
    pool_features,
    register_backbone,
    resnet,
)
from keras_transfer.backbones.files import load_network
from keras_transfer.backbones.pretrained import Pretrained

__all__ = [
    "Pretrained",
    "available_backbones",
    "build_backbone",
    "copy_model",
    "cut",
    "lenet",
    "load_network",
    "mlp",
    "pool_features",
    "register_backbone",
    "resnet",
]
