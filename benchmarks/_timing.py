"""Timing helpers shared by the benchmark scripts (imported lazily: Keras loads)."""

from __future__ import annotations

import time


def epoch_timer():
    """A Keras callback whose ``times`` lists the wall time of each epoch."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()
