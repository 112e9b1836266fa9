"""Diagnostics: how far apart are the domains, and what did adaptation do?

* :func:`proxy_a_distance`: a linear SVM tells source from target rows;
  ``PAD = 2 (1 - 2 ε)`` (0: indistinguishable, 2: separable).
* :func:`plot_feature_space`: 2-D view (PCA or t-SNE) of source and target
  features, one panel per model (e.g. source-only vs DANN).
* :func:`plot_training_curves`: task loss, adaptation loss, λ and accuracy
  per epoch from an estimator's ``history_``.
* :func:`plot_decision_boundaries`: decision regions of classifiers on 2-D data.
* :func:`collapse_report`: signs that an adaptive fit collapsed (target
  predictions on few classes, source accuracy falling, non-finite losses),
  without target labels; the estimators warn with :class:`CollapseWarning`.

Every plot returns a matplotlib ``Figure`` drawn on the Agg canvas (no display
needed) and writes a PNG when given ``path=``. Importing this package imports
neither Keras nor a backend: models are used through ``transform`` /
``predict``, and feature arrays work as well.

Example:
>>> import numpy as np
>>> from keras_transfer.diagnostics import proxy_a_distance
>>> rng = np.random.default_rng(0)
>>> pad = proxy_a_distance(rng.normal(size=(200, 3)), rng.normal(2, 1, (200, 3)))
>>> bool(pad > 1.0)
True
"""

from keras_transfer.diagnostics.boundary import plot_decision_boundaries
from keras_transfer.diagnostics.collapse import (
    CollapseReport,
    CollapseWarning,
    collapse_report,
)
from keras_transfer.diagnostics.curves import as_history, plot_training_curves
from keras_transfer.diagnostics.distance import proxy_a_distance
from keras_transfer.diagnostics.embedding import embed_2d, plot_feature_space

__all__ = [
    "CollapseReport",
    "CollapseWarning",
    "as_history",
    "collapse_report",
    "embed_2d",
    "plot_decision_boundaries",
    "plot_feature_space",
    "plot_training_curves",
    "proxy_a_distance",
]
