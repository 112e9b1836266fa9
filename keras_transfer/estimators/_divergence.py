"""A fit whose loss or weights stop being finite fails, instead of "succeeding".

Keras's own ``TerminateOnNaN`` stops training and returns the NaN model; an
estimator would then commit it (``predict_proba`` all NaN, ``predict`` always
``classes_[0]``). Raising instead lets the estimator's atomic fit keep the
model it had.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class FailOnNonFinite(keras.callbacks.Callback):
    """Raise ``ValueError`` when an epoch's loss or the trained weights are not finite.

    The epoch's mean loss is NaN or infinite as soon as one step's is, so the
    check costs nothing per step; the weights are checked once, when training
    ends (a last step can overflow them without the loss showing it).

    Args:
        what: the fit being checked, for the message (e.g. ``"fit"``).

    Example:
    >>> import keras, numpy as np
    >>> from keras_transfer.estimators._divergence import FailOnNonFinite
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(1e30), "mse")
    >>> x = np.full((4, 1), 1e30, "float32")
    >>> try:
    ...     model.fit(x, x, epochs=2, verbose=0, callbacks=[FailOnNonFinite()])
    ... except ValueError as err:
    ...     print(str(err)[:40])
    Training diverged: the loss became inf i
    """

    def __init__(self, what: str = "fit"):
        super().__init__()
        self.what = what

    def _fail(self, problem: str):
        lr = None
        optimizer = getattr(self.model, "optimizer", None)
        try:
            lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except Exception:  # no optimizer, or a schedule: leave the rate out
            pass
        rate = "" if lr is None else f" (now {lr:g})"
        raise ValueError(
            f"Training diverged: {problem} during {self.what}, so the fit failed and "
            "the estimator keeps what it had (its previous model, or none). Lower "
            f"learning_rate{rate}, or scale the inputs (e.g. "
            "sklearn.preprocessing.StandardScaler in a Pipeline): values far "
            "from 1 (such as 1e30) overflow float32 arithmetic."
        )

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                self._fail(f"the {key} became {float(value)} in epoch {epoch + 1}")

    def on_train_end(self, logs=None):
        for variable in self.model.weights:
            if not np.isfinite(keras.ops.convert_to_numpy(variable)).all():
                self._fail(f"weight {variable.path!r} became NaN or infinite")
