"""Schedules for the adaptation weight λ, evaluated in the graph.

A schedule maps training progress ``p`` in ``[0, 1]`` (a scalar tensor
computed from a step counter inside the train step) to a multiplier of the
adaptation weight. Being a pure ``keras.ops`` function, it costs nothing per
batch: no Python callback runs between steps.

Where the train step runs eagerly (PyTorch without ``jit_compile``), each
``keras.ops`` call is a dispatch of its own, so the model asks the schedule
for a plain number instead: :meth:`LambdaSchedule.value`, the same formula in
float32 NumPy on the host.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


class LambdaSchedule:
    """Base class: ``schedule(progress) -> multiplier`` (a scalar tensor)."""

    name = "base"

    def __call__(self, progress):
        raise NotImplementedError

    def value(self, progress: float) -> float:
        """The multiplier at ``progress`` as a Python float, computed on the host.

        The built-in schedules write the formula in float32 NumPy (no
        ``keras.ops`` dispatch: this runs once per eager train step); this
        fallback, for a subclass that only writes ``__call__``, evaluates it
        and reads the result back.

        Example:
        >>> from keras_transfer.schedules import Ganin
        >>> round(Ganin(gamma=10.0).value(0.5), 4)
        0.9866
        """
        return float(ops.convert_to_numpy(self(np.float32(progress))))

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


@keras.saving.register_keras_serializable(package="keras_transfer")
class Constant(LambdaSchedule):
    """λ(p) = 1: the full adaptation weight from the first step.

    Example:
    >>> from keras_transfer.schedules import Constant
    >>> float(Constant()(0.3))
    1.0
    """

    name = "constant"

    def __call__(self, progress):
        return ops.ones_like(ops.convert_to_tensor(progress, "float32"))

    def value(self, progress: float) -> float:
        return 1.0


@keras.saving.register_keras_serializable(package="keras_transfer")
class Ganin(LambdaSchedule):
    """Ganin & Lempitsky's ramp: λ(p) = 2 / (1 + exp(-γ p)) - 1.

    Starts at 0 (the features are still noise) and approaches 1.

    Example:
    >>> from keras_transfer.schedules import Ganin
    >>> round(float(Ganin(gamma=10.0)(0.5)), 4)
    0.9866
    """

    name = "ganin"

    def __init__(self, gamma: float = 10.0):
        self.gamma = float(gamma)

    def __call__(self, progress):
        p = ops.convert_to_tensor(progress, "float32")
        return 2.0 / (1.0 + ops.exp(-self.gamma * p)) - 1.0

    def value(self, progress: float) -> float:
        one, p = np.float32(1.0), np.float32(progress)
        ramp = np.float32(2.0) / (one + np.exp(np.float32(-self.gamma) * p))
        return float(ramp - one)

    def get_config(self) -> dict:
        return {"gamma": self.gamma}


@keras.saving.register_keras_serializable(package="keras_transfer")
class Warmup(LambdaSchedule):
    """Linear warm-up: λ(p) = min(p / warmup, 1).

    Example:
    >>> from keras_transfer.schedules import Warmup
    >>> float(Warmup(warmup=0.5)(0.25))
    0.5
    """

    name = "warmup"

    def __init__(self, warmup: float = 0.1):
        if not 0.0 < float(warmup) <= 1.0:
            raise ValueError(f"warmup must be in (0, 1], got {warmup!r}.")
        self.warmup = float(warmup)

    def __call__(self, progress):
        p = ops.convert_to_tensor(progress, "float32")
        return ops.minimum(p / self.warmup, 1.0)

    def value(self, progress: float) -> float:
        return float(min(np.float32(progress) / np.float32(self.warmup), 1.0))

    def get_config(self) -> dict:
        return {"warmup": self.warmup}


_SCHEDULES = {cls.name: cls for cls in (Constant, Ganin, Warmup)}


def get(identifier: str | LambdaSchedule | None) -> LambdaSchedule:
    """Return a schedule from a name (``"constant"``, ``"ganin"``, ``"warmup"``).

    Example:
    >>> from keras_transfer import schedules
    >>> schedules.get("ganin")
    Ganin(gamma=10.0)
    """
    if identifier is None:
        return Constant()
    if isinstance(identifier, LambdaSchedule):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _SCHEDULES:
        return _SCHEDULES[identifier.lower()]()
    raise ValueError(
        f"Unknown λ schedule {identifier!r}. Use one of {sorted(_SCHEDULES)} "
        "or a keras_transfer.schedules.LambdaSchedule instance."
    )


def serialize(schedule: LambdaSchedule) -> dict:
    return keras.saving.serialize_keras_object(schedule)


def deserialize(config) -> LambdaSchedule:
    if isinstance(config, (str, LambdaSchedule)) or config is None:
        return get(config)
    return keras.saving.deserialize_keras_object(config)
