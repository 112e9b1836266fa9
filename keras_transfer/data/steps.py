"""Steps drawn from a stream, served to ``model.fit`` by index.

Keras may read the first steps of its input twice. Under ``tf.distribute``
(a data-parallel fit on TensorFlow), ``fit`` pulls one step through a
throw-away distributed iterator to build the model, and that iterator's
prefetch buffer draws several more; the iterator is then dropped and a new
one starts. A Python generator handed to ``fit`` cannot rewind, so those
steps were lost: the data-parallel fit trained on steps 1-2, then 9-20,
where a single-device fit trained on steps 1-12 (2 devices, 3 epochs of 4
steps), and ended up 5e-3 away from it in probabilities.

:class:`IndexedSteps` is a ``keras.utils.PyDataset`` whose index names a step
of the epoch: a step read before training begins is kept and served again
when the real iterator asks for the same index, so every fit sees the same
steps in the same order, however many devices split them.
"""

from __future__ import annotations

from collections.abc import Callable

import keras


class IndexedSteps(keras.utils.PyDataset):
    """``steps`` training steps per epoch, drawn in order from ``draw()``.

    Item ``i`` is the ``i``-th step of the current epoch. Until the fit's
    training loop begins (``on_train_begin`` of :meth:`callback`), every step
    drawn is kept, so the steps Keras reads to build the model are replayed
    rather than skipped; after that only the last few are kept, and the
    cache is emptied at each epoch's end.

    Args:
        draw: a function that returns the next step ``(x, y)``.
        steps: steps per epoch.

    Example:
    >>> from keras_transfer.data.steps import IndexedSteps
    >>> counter = iter(range(100))
    >>> steps = IndexedSteps(lambda: next(counter), steps=3)
    >>> [steps[0], steps[1], steps[0]]  # a step read again is served again
    [0, 1, 0]
    >>> steps.callback().on_train_begin()
    >>> steps.on_epoch_end()  # a new epoch draws new steps
    >>> [steps[0], steps[1], steps[2]]
    [2, 3, 4]
    """

    KEEP = 4  # steps kept once training runs (Keras reads each once, in order)

    def __init__(self, draw: Callable[[], tuple], steps: int, **kwargs):
        super().__init__(**kwargs)
        self.draw, self.steps = draw, int(steps)
        self.training = False
        self._cache: dict[int, tuple] = {}

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if index not in self._cache:
            if self.training:
                recent = range(index - self.KEEP + 1, index)
                self._cache = {k: v for k, v in self._cache.items() if k in recent}
            self._cache[index] = self.draw()
        return self._cache[index]

    def on_epoch_end(self):
        # Keras also calls this when it drops the iterator it built the model
        # with, before training: keep those steps for the real first epoch.
        if self.training:
            self._cache = {}

    def callback(self) -> keras.callbacks.Callback:
        """A callback that tells these steps the training loop has begun."""
        return _TrainingBegins(self)


class _TrainingBegins(keras.callbacks.Callback):
    def __init__(self, steps: IndexedSteps):
        super().__init__()
        self.steps = steps

    def on_train_begin(self, logs=None):
        self.steps.training = True
