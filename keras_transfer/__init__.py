"""keras_transfer: transfer learning and domain adaptation as scikit-learn
estimators, on Keras 3 with the TensorFlow, PyTorch and JAX backends.

The estimators are imported lazily, so ``import keras_transfer.datasets``
does not import Keras or a backend.

Example:
>>> from keras_transfer import DomainAdaptiveClassifier
>>> from keras_transfer.datasets import make_rotated_moons
>>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
>>> clf = DomainAdaptiveClassifier(epochs=2, random_state=0).fit((Xs, ys), Xt)
>>> clf.predict(Xt).shape
(200,)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "DomainAdaptiveClassifier": "keras_transfer.estimators",
    "TransferClassifier": "keras_transfer.estimators",
    "SHOTClassifier": "keras_transfer.estimators",
    "TentClassifier": "keras_transfer.estimators",
}

__all__ = [
    "DomainAdaptiveClassifier",
    "SHOTClassifier",
    "TentClassifier",
    "TransferClassifier",
    "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_transfer' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
