"""Training curves from an estimator's ``history_`` (task loss, adaptation loss, λ)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from keras_transfer.diagnostics._common import new_figure, rc_context, save

# (panel title, y label, [(history key, legend label)])
PANELS = (
    (
        "Losses",
        "loss",
        [
            ("loss", "total"),
            ("task_loss", "task"),
            ("adaptation_loss", "adaptation"),
        ],
    ),
    ("Adaptation weight λ", "λ (mean over epoch)", [("lambda", "λ")]),
    ("Accuracy (labelled rows)", "accuracy", [("accuracy", "accuracy")]),
)


def as_history(history) -> dict[str, list[float]]:
    """``{metric: per-epoch values}`` from an estimator, a Keras History or a dict.

    Example:
    >>> from keras_transfer.diagnostics import as_history
    >>> as_history({"loss": [1.0, 0.5]})
    {'loss': [1.0, 0.5]}
    """
    if hasattr(history, "history_"):
        history = history.history_
    elif hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    if not isinstance(history, Mapping):
        raise TypeError(
            "Expected a fitted estimator (with history_), a keras History or a "
            f"dict of per-epoch values, got {type(history).__name__}."
        )
    out = {}
    for key, values in history.items():
        values = np.asarray(values, dtype=float).ravel()
        out[str(key)] = [float(v) for v in values]
    if not out or not any(len(v) for v in out.values()):
        raise ValueError("The history is empty: was the estimator fitted?")
    return out


def _drawable(history, key):
    values = history.get(key)
    if not values:
        return None
    values = np.asarray(values)
    if key.startswith("val_") and np.all(values == 0):
        return None  # a term not evaluated on validation data (no target rows)
    return values


def plot_training_curves(
    history,
    *,
    path: str | os.PathLike | None = None,
    title: str | None = None,
):
    """Plot losses, the adaptation weight λ and accuracy per epoch.

    Panels: the total, task and adaptation losses; λ as scheduled (mean per
    epoch); training accuracy on labelled rows. ``val_*`` series (from
    ``fit(..., validation_data=...)``) are drawn dashed. Panels and series
    missing from the history are left out, so any Keras history works.

    Args:
        history: a fitted keras_transfer estimator (its ``history_``), a
            ``keras.callbacks.History`` or a dict ``{metric: values}``.
        path: where to write the PNG (``None``: don't write).
        title: figure title.

    Returns:
        The matplotlib ``Figure`` (Agg canvas).

    Example:
    >>> import os, tempfile
    >>> from keras_transfer.diagnostics import plot_training_curves
    >>> history = {"loss": [1.0, 0.7, 0.6], "task_loss": [0.7, 0.4, 0.3],
    ...            "adaptation_loss": [0.69, 0.68, 0.69], "lambda": [0.1, 0.5, 0.8]}
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> fig = plot_training_curves(history, path=path)
    >>> [ax.get_title() for ax in fig.axes]
    ['Losses', 'Adaptation weight λ']
    """
    history = as_history(history)
    panels = []
    for panel_title, ylabel, series in PANELS:
        lines = []
        for key, label in series:
            for prefix in ("", "val_"):
                values = _drawable(history, prefix + key)
                if values is not None:
                    lines.append((label, values, bool(prefix)))
        if lines:
            panels.append((panel_title, ylabel, lines))
    if not panels:  # an unusual history: draw every series in one panel
        lines = [
            (k.removeprefix("val_"), np.asarray(v), k.startswith("val_"))
            for k, v in history.items()
        ]
        panels = [("Metrics", "value", lines)]

    with rc_context():
        fig, axes = new_figure(len(panels), panel_size=(4.8, 3.9))
        for ax, (panel_title, ylabel, lines) in zip(axes, panels):
            bases = list(dict.fromkeys(label for label, *_ in lines))
            for label, values, dashed in lines:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(
                    epochs,
                    values,
                    ls="--" if dashed else "-",
                    marker="o" if len(values) <= 30 else None,
                    ms=3.5,
                    lw=1.8,
                    color=f"C{bases.index(label)}",
                )
            ax.set_title(panel_title)
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            _legend(ax, bases, any(dashed for *_, dashed in lines))
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.suptitle(title or "Training curves", fontweight="bold")
    save(fig, path)
    return fig


def _legend(ax, bases, has_validation):
    """Below the axes: one entry per series, plus 'dashed = validation'."""
    from matplotlib.lines import Line2D

    if len(bases) < 2 and not has_validation:
        return
    if len(bases) == 1:
        handles = [Line2D([], [], color="C0", lw=1.8, label="training")]
    else:
        handles = [
            Line2D([], [], color=f"C{k}", lw=1.8, label=b) for k, b in enumerate(bases)
        ]
    if has_validation:
        color = "C0" if len(bases) == 1 else "0.3"
        handles.append(Line2D([], [], color=color, lw=1.8, ls="--", label="validation"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=min(len(handles), 4),
        frameon=False,
    )
