"""Named feature extractors and a way to cut a user's model into one."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence

import keras

from keras_transfer import backend
from keras_transfer.backbones.files import MODEL_SUFFIXES, load_network
from keras_transfer.backbones.pretrained import Pretrained

_BUILDERS: dict[str, Callable] = {}


def register_backbone(name: str):
    """Decorator: make ``builder(input_shape, **kwargs) -> keras.Model`` a name."""

    def decorator(fn):
        _BUILDERS[name] = fn
        return fn

    return decorator


def available_backbones() -> list[str]:
    """Names accepted by ``backbone=``.

    Example:
    >>> from keras_transfer.backbones import available_backbones
    >>> available_backbones()
    ['cnn', 'lenet', 'mlp', 'resnet']
    """
    return sorted(_BUILDERS)


@register_backbone("mlp")
def mlp(
    input_shape: Sequence[int],
    units: Sequence[int] = (64, 64),
    activation: str = "relu",
    dropout: float = 0.0,
) -> keras.Model:
    """A multilayer perceptron; image inputs are flattened first.

    Example:
    >>> from keras_transfer.backbones import mlp
    >>> mlp((5,), units=(16,)).output_shape
    (None, 16)
    """
    inputs = keras.Input(tuple(input_shape))
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for u in units:
        x = keras.layers.Dense(int(u), activation=activation)(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, x, name="mlp")


@register_backbone("lenet")
@register_backbone("cnn")
def lenet(
    input_shape: Sequence[int],
    filters: Sequence[int] = (32, 64),
    units: int = 128,
    dropout: float = 0.25,
) -> keras.Model:
    """A LeNet-style CNN for small images (MNIST, USPS), ``(H, W, C)`` inputs.

    Example:
    >>> from keras_transfer.backbones import lenet
    >>> lenet((28, 28, 1)).output_shape
    (None, 128)
    """
    if len(input_shape) != 3:
        raise ValueError(
            f"The 'cnn' backbone needs images of shape (H, W, C), got {input_shape}."
        )
    inputs = keras.Input(tuple(input_shape))
    x = inputs
    for f in filters:
        x = keras.layers.Conv2D(int(f), 5, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(int(units), activation="relu")(x)
    return keras.Model(inputs, x, name="lenet")


@register_backbone("resnet")
def resnet(
    input_shape: Sequence[int],
    filters: Sequence[int] = (16, 32, 64),
    blocks: int = 1,
) -> keras.Model:
    """A small CIFAR-style ResNet (He et al., 2016: ResNet-20 is ``blocks=3``).

    A 3x3 convolution, then one stage of ``blocks`` residual blocks (two 3x3
    convolutions with BatchNormalization, an identity shortcut, or a 1x1
    projection where the stage halves the resolution) per entry of
    ``filters``, then global average pooling: ``(batch, filters[-1])``.

    Example:
    >>> from keras_transfer.backbones import resnet
    >>> resnet((32, 32, 3), filters=(8, 16)).output_shape
    (None, 16)
    """
    if len(input_shape) != 3:
        raise ValueError(
            f"The 'resnet' backbone needs images of shape (H, W, C), got {input_shape}."
        )
    layers = keras.layers
    inputs = keras.Input(tuple(input_shape))
    x = layers.Conv2D(int(filters[0]), 3, padding="same", use_bias=False)(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    for stage, f in enumerate(filters):
        for block in range(int(blocks)):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            y = layers.Conv2D(int(f), 3, strides, padding="same", use_bias=False)(x)
            y = layers.Activation("relu")(layers.BatchNormalization()(y))
            y = layers.Conv2D(int(f), 3, padding="same", use_bias=False)(y)
            y = layers.BatchNormalization()(y)
            if strides != 1 or shortcut.shape[-1] != f:
                shortcut = layers.Conv2D(int(f), 1, strides, use_bias=False)(x)
                shortcut = layers.BatchNormalization()(shortcut)
            x = layers.Activation("relu")(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="resnet")


def copy_model(model):
    """A copy of a Keras model or layer with the same weights, sharing nothing."""
    with backend.keras_without_tensorflow():  # clone_model calls get_config
        return _copy_model(model)


def _copy_model(model):
    try:
        copy = keras.models.clone_model(model)
        if not copy.built and model.built and model.get_build_config():
            # Subclassed models are cloned from their config, unbuilt.
            copy.build_from_config(model.get_build_config())
        if model.weights:  # an unbuilt model has no weights to carry over
            copy.set_weights(model.get_weights())
        return copy
    except Exception:  # fall back to a round-trip through the .keras format
        return pickle.loads(pickle.dumps(model))


def cut(model: keras.Model, layer_name: str) -> keras.Model:
    """The part of a functional or Sequential model from its input to a layer.

    Example:
    >>> import keras
    >>> from keras_transfer.backbones import cut
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="f"),
    ...                       keras.layers.Dense(2, name="head")])
    >>> cut(m, "f").output_shape
    (None, 8)
    """
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ValueError(
            f"No layer named {layer_name!r} in the backbone; its layers are {names}."
        ) from None
    try:
        inputs = model.inputs
        output = layer.output
    except (AttributeError, ValueError):
        raise ValueError(
            "feature_layer needs a functional or Sequential model (or a built "
            "subclassed one with known inputs); pass feature_layer=None to use "
            "the whole model as the feature extractor."
        ) from None
    return keras.Model(inputs, output, name=f"{model.name}_features")


def pool_features(x):
    """A feature map averaged over its spatial axes; a flat ``(batch, d)`` as is.

    Features end where the head starts, and a Dense head needs one vector
    per row: a ``(batch, H, W, C)`` map (a conv layer named as
    ``feature_layer``, a network without its pooling) is global-average
    pooled to ``(batch, C)``, as ResNet and friends do; ``(batch, T, C)`` and
    ``(batch, D, H, W, C)`` likewise over their middle axes. Works on a
    symbolic tensor (a functional graph) or a concrete one.

    Example:
    >>> import keras
    >>> from keras_transfer.backbones import pool_features
    >>> pool_features(keras.Input((4, 4, 3))).shape
    (None, 3)
    """
    rank = len(x.shape)
    if rank <= 2:
        return x
    pooling = {
        3: keras.layers.GlobalAveragePooling1D,
        4: keras.layers.GlobalAveragePooling2D,
        5: keras.layers.GlobalAveragePooling3D,
    }.get(rank)
    layer = pooling() if pooling else keras.layers.Flatten()
    return layer(x)


def _pooled(model):
    """``model`` with a feature-map output pooled to one vector per row."""
    outputs = getattr(model, "outputs", None)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return model  # subclassed: its output shape is its own business
    if not inputs or not outputs or len(outputs) != 1 or len(outputs[0].shape) <= 2:
        return model
    return keras.Model(inputs, pool_features(outputs[0]), name=model.name)


def build_backbone(backbone, input_shape, feature_layer=None, **kwargs):
    """Resolve ``backbone=`` into a fresh feature-extractor model.

    ``backbone`` is ``"auto"`` (``"cnn"`` for images ``(H, W, C)``, ``"mlp"``
    otherwise), a registered name, a Keras model or layer (copied, with
    its weights, so the user's object is never changed), a path to a
    ``.keras`` / legacy ``.h5`` model or to a keras_hub preset folder, a
    :class:`Pretrained` (a builder and a weights file), or a callable
    ``fn(input_shape) -> keras.Model``. With ``feature_layer`` the model is
    cut at that layer; without it the whole model is the feature extractor.
    A feature-map output ``(batch, H, W, C)`` is global-average pooled to
    ``(batch, C)`` (:func:`pool_features`).

    Example:
    >>> from keras_transfer.backbones import build_backbone
    >>> build_backbone("mlp", (3,), units=(4,)).output_shape
    (None, 4)
    """
    input_shape = tuple(input_shape)
    if isinstance(backbone, str) and backbone == "auto":
        backbone = "cnn" if len(input_shape) == 3 else "mlp"
    if isinstance(backbone, os.PathLike) or (
        isinstance(backbone, str)
        and backbone not in _BUILDERS
        and (os.path.exists(backbone) or backbone.lower().endswith(MODEL_SUFFIXES))
    ):
        if kwargs:
            raise ValueError("backbone_params only apply to a named backbone.")
        model = load_network(backbone)[0]
    elif isinstance(backbone, str):
        if backbone not in _BUILDERS:
            raise ValueError(
                f"Unknown backbone {backbone!r}. Use 'auto' (cnn for images, mlp "
                f"otherwise), one of {available_backbones()}, "
                "a path to a .keras / .h5 model or a keras_hub preset folder, "
                "a keras.Model, a Pretrained(builder, weights=...), or a callable "
                "input_shape -> keras.Model."
            )
        try:
            model = _BUILDERS[backbone](input_shape, **kwargs)
        except TypeError as err:
            raise ValueError(f"Bad backbone_params for {backbone!r}: {err}") from None
    elif isinstance(backbone, Pretrained):
        if kwargs:
            raise ValueError(
                "backbone_params only apply to a named backbone; give the "
                "builder's arguments to Pretrained(builder, ..., **kwargs)."
            )
        model = backbone(input_shape)
    elif isinstance(backbone, keras.layers.Layer):
        if kwargs:
            raise ValueError("backbone_params only apply to a named backbone.")
        model = copy_model(backbone)
    elif callable(backbone):
        model = backbone(input_shape, **kwargs)
        if not isinstance(model, keras.layers.Layer):
            raise TypeError(
                f"The backbone callable returned {type(model).__name__}; it must "
                "return a keras.Model."
            )
    else:
        raise TypeError(
            "backbone must be a name, a keras.Model or a callable, got "
            f"{type(backbone).__name__}."
        )
    if feature_layer is not None:
        model = cut(model, feature_layer)
    return _pooled(model)
