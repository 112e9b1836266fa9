"""Checks of constructor parameters that Keras or NumPy would take silently
or reject with a message that does not name the parameter.

Run at the top of ``fit``, before any seeding or training, so a bad value
costs nothing and changes nothing.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import keras
import numpy as np


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_random_state(value) -> None:
    """None, an int in [0, 2**32 - 1], or a NumPy ``RandomState``.

    Example:
    >>> from keras_transfer.estimators._params import check_random_state
    >>> try:
    ...     check_random_state(-1)
    ... except ValueError as err:
    ...     print(str(err).split(" or ")[0])
    random_state must be None, an int in [0, 2**32 - 1]
    """
    if value is None or isinstance(value, np.random.RandomState):
        return
    if _is_int(value) and 0 <= value < 2**32:
        return
    raise ValueError(
        "random_state must be None, an int in [0, 2**32 - 1] or a "
        f"numpy.random.RandomState, got {value!r}."
    )


def check_verbose(value) -> None:
    """0, 1, 2 or ``"auto"``, as ``keras.Model.fit`` takes them."""
    if isinstance(value, str) and value == "auto":
        return
    if isinstance(value, (bool, numbers.Integral)) and int(value) in (0, 1, 2):
        return
    raise ValueError(
        f"verbose must be 0 (silent), 1 (progress bar), 2 (one line per epoch) or "
        f"'auto', got {value!r}."
    )


def check_jit_compile(value) -> None:
    """True, False or ``"auto"``, as ``keras.Model.compile`` takes them."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, str) and value == "auto"
    ):
        return
    raise ValueError(f"jit_compile must be True, False or 'auto', got {value!r}.")


def check_callbacks(value) -> None:
    """None or a list of ``keras.callbacks.Callback``."""
    if value is None:
        return
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            "callbacks must be a list of keras.callbacks.Callback, got "
            f"{type(value).__name__}; wrap a single one in a list: callbacks=[cb]."
        )
    for cb in value:
        if not isinstance(cb, keras.callbacks.Callback):
            raise TypeError(
                "callbacks must be a list of keras.callbacks.Callback; it holds a "
                f"{type(cb).__name__}."
            )


def check_mapping(value, name: str) -> None:
    """None or a dict of keyword arguments."""
    if value is None or isinstance(value, Mapping):
        return
    raise TypeError(
        f"{name} must be a dict of keyword arguments (e.g. {{'units': 64}}) or "
        f"None, got {type(value).__name__}: {value!r}."
    )


def check_common(estimator) -> None:
    """Every check above that applies to ``estimator``'s parameters."""
    check_random_state(estimator.random_state)
    if hasattr(estimator, "verbose"):
        check_verbose(estimator.verbose)
    if hasattr(estimator, "jit_compile"):
        check_jit_compile(estimator.jit_compile)
    if hasattr(estimator, "callbacks"):
        check_callbacks(estimator.callbacks)
    for name in ("strategy_params", "backbone_params"):
        if hasattr(estimator, name):
            check_mapping(getattr(estimator, name), name)
