"""Shared helpers of the diagnostics: features from models, Agg figures, PNGs.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas
directly (no ``pyplot``), so they work without a display, leave matplotlib's
global backend alone and are freed when no longer referenced.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

SOURCE_COLOR = "#1f77b4"  # matplotlib's tab:blue
TARGET_COLOR = "#ff7f0e"  # tab:orange
CLASS_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "<", ">")

# Readable at a glance when the PNG is shown at its natural size.
RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "figure.titlesize": 13,
}


def features(model, X):
    """Features of ``X`` under ``model``.

    ``model`` is ``None`` (the inputs themselves), a fitted estimator or
    pipeline with ``transform`` (keras_transfer estimators return the adapted
    feature extractor's output), or a callable ``X -> features``.
    """
    if model is None:
        return X
    if hasattr(model, "transform"):
        return np.asarray(model.transform(X))
    if callable(model):
        return np.asarray(model(X))
    raise TypeError(
        f"Expected a fitted estimator with transform(), a callable or None, "
        f"got {type(model).__name__}."
    )


def as_2d_array(X, what: str):
    """Dense float array of shape (n, d); images are flattened."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1 or X.ndim == 0:
        raise ValueError(f"{what} must be 2-D (n_samples, n_features), got {X.shape}.")
    if X.shape[0] == 0:
        raise ValueError(f"{what} has no rows.")
    X = X.reshape(X.shape[0], -1)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what} contains NaN or infinite values.")
    return X


def model_title(model, index: int) -> str:
    """A panel title for an unnamed model."""
    if model is None:
        return "inputs"
    name = getattr(model, "strategy_", None) or getattr(model, "strategy", None)
    if isinstance(name, str):
        return name
    return f"{type(model).__name__} {index + 1}"


def named_models(models) -> dict:
    """``{title: model}`` from None, one model, a sequence or a mapping."""
    if models is None:
        return {"inputs": None}
    if isinstance(models, Mapping):
        if not models:
            raise ValueError("models is empty.")
        return dict(models)
    if isinstance(models, (list, tuple)) and not (
        len(models) == 2 and all(hasattr(m, "shape") for m in models)
    ):
        if not models:
            raise ValueError("models is empty.")
        return {model_title(m, i): m for i, m in enumerate(models)}
    return {model_title(models, 0): models}


def subsample(n: int, max_points: int | None, rng: np.random.Generator):
    """Indices of at most ``max_points`` of ``n`` rows (all when None)."""
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(rng.choice(n, size=int(max_points), replace=False))


def new_figure(n_panels: int, panel_size=(5.2, 4.6), ncols: int | None = None):
    """An Agg-backed Figure with ``n_panels`` axes in one row (or a grid)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = n_panels if ncols is None else ncols
    nrows = -(-n_panels // ncols)
    fig = Figure(
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        dpi=110,
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def rc_context():
    import matplotlib

    return matplotlib.rc_context(RC)


def save(fig, path) -> None:
    """Write ``fig`` as a PNG (parent folders are created)."""
    if path is None:
        return
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fig.savefig(path, format="png")
