"""Shared helpers for the loss functions (``keras.ops`` only, jit-safe)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

Tensor = Any
"""Anything ``keras.ops.convert_to_tensor`` accepts (backend tensor, NumPy)."""


def eps() -> float:
    """Small constant used to guard every division (``keras.config.epsilon``)."""
    return keras.config.epsilon()


def as_float(x: Tensor, dtype: str | None = None) -> Tensor:
    """Convert ``x`` to a floating tensor of ``dtype``.

    Without ``dtype``: float32/float64 inputs keep their dtype, half precision
    (float16, bfloat16) is upcast to float32 (losses are computed in full
    precision under mixed precision), anything else becomes ``floatx``.
    """
    x = ops.convert_to_tensor(x)
    current = keras.backend.standardize_dtype(x.dtype)
    if dtype is None:
        if current in ("float32", "float64"):
            dtype = current
        elif keras.backend.is_float_dtype(current):
            dtype = "float32"
        else:
            dtype = keras.config.floatx()
    dtype = keras.backend.standardize_dtype(dtype)
    if current != dtype:
        x = ops.cast(x, dtype)
    return x


def rows(x: Tensor) -> Tensor:
    """Flatten ``(batch,)`` or ``(batch, 1)`` to ``(batch,)``."""
    return ops.reshape(x, (-1,))


def dim(x: Tensor, axis: int, dtype: str) -> Tensor | float:
    """Size of ``x`` along ``axis`` as a float (static when known)."""
    size = x.shape[axis]
    if size is None:
        return ops.cast(ops.shape(x)[axis], dtype)
    return float(size)


def row_weights(x: Tensor, weight: Tensor | None) -> Tensor:
    """Raw per-row weights of ``x``: ``weight`` as float, or ones."""
    if weight is None:
        return ops.ones_like(ops.reshape(x, (ops.shape(x)[0], -1))[:, 0])
    return rows(as_float(weight, x.dtype))


def safe_divide(num: Tensor, den: Tensor) -> Tensor:
    """``num / max(den, eps)``: finite (and 0 when ``num`` is 0) for ``den`` 0."""
    return num / ops.maximum(den, eps())


def normalize(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``(weight / max(sum(weight), eps), 1.0 if sum(weight) > 0 else 0.0)``.

    The second element is an indicator used to force a loss to 0 when a set
    is empty (all weights 0).
    """
    total = ops.sum(weight)
    nonempty = ops.cast(ops.greater(total, 0.0), weight.dtype)
    return safe_divide(weight, total), nonempty


def weighted_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    """Mean of per-row ``values`` (``(batch,)``) with optional per-row weights.

    Weights are normalised to sum to one; all-zero weights give 0.
    """
    if weight is None:
        return ops.mean(values)
    w = rows(as_float(weight, values.dtype))
    return safe_divide(ops.sum(w * values), ops.sum(w))
