"""Decision regions of classifiers on 2-D data, with source and target points."""

from __future__ import annotations

import os

import numpy as np

from keras_transfer.diagnostics._common import (
    as_2d_array,
    named_models,
    new_figure,
    rc_context,
    save,
    subsample,
)

CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def plot_decision_boundaries(
    models,
    source,
    source_labels,
    target,
    target_labels=None,
    *,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    max_points: int | None = 600,
    resolution: int = 200,
    random_state: int | None = 0,
):
    """Draw each fitted classifier's decision regions over 2-D source and target.

    One panel per model: the background is the predicted class, source rows
    are filled circles and target rows crosses, coloured by their class
    (target rows in grey when ``target_labels`` is None). With target labels,
    each panel title gives the model's accuracy on all target rows.

    Args:
        models: a fitted classifier (``predict``), a list of them or a dict
            ``{panel title: classifier}``.
        source, source_labels: 2-D source points ``(n, 2)`` and their labels.
        target: 2-D target points ``(m, 2)``.
        target_labels: optional target labels (display and accuracy only).
        path: where to write the PNG (``None``: don't write).
        title: figure title.
        max_points: points per domain drawn at most (random subsample).
        resolution: grid points per axis for the regions.
        random_state: seed of the subsampling.

    Returns:
        The matplotlib ``Figure`` (Agg canvas).

    Example:
    >>> from sklearn.linear_model import LogisticRegression
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> from keras_transfer.diagnostics import plot_decision_boundaries
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = LogisticRegression().fit(Xs, ys)
    >>> fig = plot_decision_boundaries({"logistic": clf}, Xs, ys, Xt, yt)
    >>> fig.axes[0].get_title().startswith("logistic")
    True
    """
    Xs = as_2d_array(source, "source")
    Xt = as_2d_array(target, "target")
    if Xs.shape[1] != 2 or Xt.shape[1] != 2:
        raise ValueError(
            "Decision regions can only be drawn for 2-D inputs; got "
            f"{Xs.shape[1]} and {Xt.shape[1]} features (use plot_feature_space)."
        )
    ys = np.asarray(source_labels)
    yt = None if target_labels is None else np.asarray(target_labels)
    panels = named_models(models)
    classes = np.unique(ys if yt is None else np.concatenate([ys, yt]))
    colors = {c: CLASS_COLORS[k % len(CLASS_COLORS)] for k, c in enumerate(classes)}

    both = np.vstack([Xs, Xt])
    lo, hi = both.min(axis=0), both.max(axis=0)
    margin = 0.08 * (hi - lo) + 1e-9
    gx, gy = np.meshgrid(
        np.linspace(lo[0] - margin[0], hi[0] + margin[0], resolution),
        np.linspace(lo[1] - margin[1], hi[1] + margin[1], resolution),
    )
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
    rng = np.random.default_rng(random_state)
    i_s = subsample(len(Xs), max_points, rng)
    i_t = subsample(len(Xt), max_points, rng)

    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    cmap = ListedColormap([colors[c] for c in classes])
    with rc_context():
        fig, axes = new_figure(len(panels), panel_size=(5.4, 4.9))
        for ax, (name, model) in zip(axes, panels.items()):
            pred = np.asarray(model.predict(grid))
            codes = np.searchsorted(classes, pred).reshape(gx.shape)
            ax.contourf(
                gx,
                gy,
                codes,
                levels=np.arange(len(classes) + 1) - 0.5,
                cmap=cmap,
                alpha=0.18,
            )
            ax.contour(
                gx,
                gy,
                codes,
                levels=np.arange(len(classes)) + 0.5,
                colors="0.2",
                linewidths=1.2,
            )
            ax.scatter(
                *Xs[i_s].T,
                s=12,
                alpha=0.6,
                c=[colors[c] for c in ys[i_s]],
                marker="o",
                linewidths=0,
            )
            tcol = "0.3" if yt is None else [colors[c] for c in yt[i_t]]
            ax.scatter(*Xt[i_t].T, s=16, alpha=0.7, c=tcol, marker="x", linewidths=1.0)
            panel_title = name
            if yt is not None:
                acc = float(np.mean(np.asarray(model.predict(Xt)) == yt))
                panel_title = f"{name}\ntarget accuracy {acc:.3f}"
            ax.set_title(panel_title)
            ax.set_xlabel("feature 1")
            ax.set_ylabel("feature 2")
        handles = [
            Line2D([], [], ls="", marker="o", color="0.3", label="source"),
            Line2D([], [], ls="", marker="x", color="0.3", label="target"),
        ] + [
            Line2D(
                [],
                [],
                ls="",
                marker="s",
                ms=9,
                color=colors[c],
                alpha=0.6,
                label=f"class {c}",
            )
            for c in classes
        ]
        ncol = min(len(handles), max(4, 4 * len(panels)))
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol)
        fig.suptitle(title or "Decision regions", fontweight="bold")
    save(fig, path)
    return fig
