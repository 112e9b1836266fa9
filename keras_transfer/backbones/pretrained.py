"""A pretrained network as a recipe: a builder, its arguments, a weights file."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence

import keras

from keras_transfer import backend
from keras_transfer.backbones.files import check_hdf5, check_keras_archive


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params


class Pretrained:
    """A network to build and load: ``builder(**kwargs)`` plus a weights file.

    The form of a pretrained model as you have it on disk without its
    architecture: a ``keras.applications`` network and the weights file you
    downloaded once, or your own builder function and the ``.weights.h5``
    that ``model.save_weights`` wrote. Pass it as ``source_model=`` (or
    ``fit(source=...)``) of ``TransferClassifier`` and as ``backbone=`` of
    either estimator. Unlike a ``keras.Model`` it is a small value: an
    estimator holding it clones and pickles cheaply (the builder must be a
    module-level function, e.g. ``keras.applications.MobileNetV3Small``, for
    pickling), and every fit builds a fresh network.

    * A builder with a ``weights`` argument (``keras.applications``) gets
      ``weights=`` as is, so ``weights=None`` means random weights and never
      a download; any other builder is built, then ``model.load_weights``.
    * A builder with an ``input_shape`` argument that ``kwargs`` does not set
      gets the data's shape (images ``(H, W, C)``).

    Args:
        builder: a callable returning a ``keras.Model``.
        weights: path to a weights file (``.weights.h5``, ``.h5`` for
            ``keras.applications``, or a ``.keras`` file), or ``None``.
        **kwargs: the builder's arguments.

    Example:
    >>> import keras, os, tempfile
    >>> from keras_transfer.backbones import Pretrained
    >>> def net(input_shape=(4,)):
    ...     return keras.Sequential([keras.Input(input_shape),
    ...                              keras.layers.Dense(3, name="feat"),
    ...                              keras.layers.Dense(2, name="head")])
    >>> path = os.path.join(tempfile.mkdtemp(), "net.weights.h5")
    >>> net().save_weights(path)
    >>> spec = Pretrained(net, weights=path)
    >>> spec
    Pretrained(net, weights='...net.weights.h5')
    >>> spec((4,)).output_shape
    (None, 2)
    """

    def __init__(self, builder: Callable, weights=None, **kwargs):
        if not callable(builder):
            raise TypeError(
                f"Pretrained needs a builder function, got {type(builder).__name__}."
            )
        self.builder = builder
        self.weights = weights
        self.kwargs = kwargs

    def __repr__(self) -> str:
        name = getattr(self.builder, "__qualname__", None) or repr(self.builder)
        args = [name, f"weights={self.weights!r}"]
        args += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Pretrained({', '.join(args)})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Pretrained)
            and self.builder is other.builder
            and self.weights == other.weights
            and self.kwargs == other.kwargs
        )

    def __hash__(self) -> int:
        return hash((id(self.builder), str(self.weights)))

    def _check_weights(self) -> str | None:
        if self.weights is None:
            return None
        path = os.fspath(self.weights)
        if not os.path.isfile(path):
            raise ValueError(
                f"Weights file {path!r} does not exist (Pretrained({self!r}))."
            )
        if path.lower().endswith(".keras"):
            check_keras_archive(path)
        else:
            check_hdf5(path)
        return path

    def __call__(self, input_shape: Sequence[int] | None = None) -> keras.Model:
        """Build the network (for ``input_shape`` where the builder takes one)
        and load the weights."""
        path = self._check_weights()
        kwargs = dict(self.kwargs)
        if (
            input_shape is not None
            and "input_shape" not in kwargs
            and _accepts(self.builder, "input_shape")
        ):
            kwargs["input_shape"] = tuple(input_shape)
        takes_weights = _accepts(self.builder, "weights")
        if takes_weights:
            kwargs["weights"] = path
        try:
            with backend.keras_without_tensorflow():  # loading may get_config
                model = self.builder(**kwargs)
        except Exception as err:
            raise ValueError(
                f"{self!r} failed to build: {type(err).__name__}: {err}"
            ) from err
        if not isinstance(model, keras.layers.Layer):
            raise TypeError(
                f"The builder of {self!r} returned {type(model).__name__}; it must "
                "return a keras.Model."
            )
        if path is not None and not takes_weights:
            try:
                with backend.keras_without_tensorflow():
                    model.load_weights(path)
            except Exception as err:
                raise ValueError(
                    f"Cannot load the weights file {path!r} into the network "
                    f"{self!r} builds (is it the same architecture, with the same "
                    f"arguments?): {type(err).__name__}: {err}"
                ) from err
        return model
