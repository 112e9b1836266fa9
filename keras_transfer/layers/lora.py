"""LoRA: a frozen kernel plus a trainable low-rank update (Hu et al., 2021)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import ops

SUPPORTED = (keras.layers.Dense, keras.layers.Conv2D)


@keras.saving.register_keras_serializable(package="keras_transfer")
class LoRA(keras.layers.Wrapper):
    """Wrap a ``Dense`` or ``Conv2D`` layer: kernel ``W + (α/r)·reshape(A·B)``.

    The wrapped layer's kernel and bias are frozen; only the low-rank factors
    ``A`` (``fan_in × r``, He-uniform) and ``B`` (``r × units``, zeros) are
    trained. Because ``B`` starts at zero the wrapped layer computes exactly
    (bit for bit) what the original layer computes until it is trained. The
    update is merged into the kernel on the fly, so the wrapped layer runs
    the same operation as the original (``matmul`` or ``conv``), with the
    same strides, padding, bias and activation.

    Args:
        layer: a ``keras.layers.Dense`` or ``keras.layers.Conv2D`` (built or
            not; its weights are kept).
        rank: rank ``r`` of the update.
        alpha: scale numerator; the update is multiplied by ``alpha / rank``
            (default ``alpha = rank``, i.e. a scale of 1).

    Example:
    >>> import numpy as np, keras
    >>> from keras_transfer.layers import LoRA
    >>> dense = keras.layers.Dense(3, activation="relu")
    >>> x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    >>> before = np.asarray(dense(x))
    >>> lora = LoRA(dense, rank=2)
    >>> bool(np.array_equal(np.asarray(lora(x)), before))
    True
    >>> [w.name for w in lora.trainable_weights]
    ['lora_a', 'lora_b']
    """

    def __init__(self, layer, rank: int = 4, alpha: float | None = None, **kwargs):
        if not isinstance(layer, SUPPORTED):
            raise TypeError(
                "LoRA wraps keras.layers.Dense or keras.layers.Conv2D layers, got "
                f"{type(layer).__name__}."
            )
        if getattr(layer, "quantization_mode", None):
            raise ValueError("LoRA cannot wrap a quantized layer.")
        kwargs.setdefault("name", f"lora_{layer.name}")
        super().__init__(layer, **kwargs)
        if isinstance(rank, bool) or int(rank) != rank or rank < 1:
            raise ValueError(f"rank must be an integer >= 1, got {rank!r}.")
        self.rank = int(rank)
        self.alpha = float(self.rank if alpha is None else alpha)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel_shape = tuple(self.layer.kernel.shape)
        fan_in = math.prod(kernel_shape[:-1])
        self.lora_a = self.add_weight(
            shape=(fan_in, self.rank),
            initializer=keras.initializers.HeUniform(),
            name="lora_a",
        )
        self.lora_b = self.add_weight(
            shape=(self.rank, kernel_shape[-1]), initializer="zeros", name="lora_b"
        )
        self.layer.trainable = False
        self.built = True

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def merged_kernel(self):
        """The kernel the layer uses: ``W + (α/r)·reshape(A·B)``."""
        kernel = self.layer.kernel
        delta = ops.matmul(self.lora_a, self.lora_b) * self.scale
        return kernel + ops.cast(ops.reshape(delta, kernel.shape), kernel.dtype)

    def call(self, inputs):
        layer = self.layer
        kernel = self.merged_kernel()
        if isinstance(layer, keras.layers.Dense):
            x = ops.matmul(inputs, kernel)
            if layer.bias is not None:
                x = ops.add(x, layer.bias)
            return x if layer.activation is None else layer.activation(x)
        # Conv2D: the same steps as keras.layers.Conv2D.call, with our kernel.
        outputs = layer.convolution_op(inputs, kernel)
        if layer.use_bias:
            if layer.data_format == "channels_last":
                bias_shape = (1,) * (layer.rank + 1) + (layer.filters,)
            else:
                bias_shape = (1, layer.filters) + (1,) * layer.rank
            outputs = ops.add(outputs, ops.reshape(layer.bias, bias_shape))
        return outputs if layer.activation is None else layer.activation(outputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, "alpha": self.alpha}


def add_lora(
    model: keras.Model,
    rank: int = 4,
    alpha: float | None = None,
    layer_names: Sequence[str] | None = None,
) -> keras.Model:
    """A copy of a functional or Sequential model with its kernels LoRA-wrapped.

    Every ``Dense`` and ``Conv2D`` layer (or only those named in
    ``layer_names``), in nested models too, is wrapped in :class:`LoRA`; the
    copy shares no weights with ``model``. Only the ``A``/``B`` factors of
    the copy are trainable where a layer was wrapped; other layers keep their
    ``trainable`` flag.

    Example:
    >>> import numpy as np, keras
    >>> from keras_transfer.layers import add_lora
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                       keras.layers.Dense(2)])
    >>> lm = add_lora(m, rank=2)
    >>> x = np.ones((1, 4), "float32")
    >>> bool(np.array_equal(lm.predict(x, verbose=0), m.predict(x, verbose=0)))
    True
    >>> len(lm.trainable_weights)
    4
    """
    from keras_transfer.backbones import copy_model

    names = None if layer_names is None else set(layer_names)
    source = copy_model(model)

    def wrap(layer):
        if isinstance(layer, SUPPORTED) and (names is None or layer.name in names):
            return LoRA(layer, rank=rank, alpha=alpha)
        return layer

    try:
        return keras.models.clone_model(source, clone_function=wrap, recursive=True)
    except ValueError as err:
        raise ValueError(
            "LoRA needs a functional or Sequential model (subclassed models "
            f"cannot be rebuilt with wrapped layers): {err}"
        ) from None
