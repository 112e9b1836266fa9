"""2-D views (PCA or t-SNE) of source and target features, side by side."""

from __future__ import annotations

import os

import numpy as np

from keras_transfer.diagnostics._common import (
    CLASS_MARKERS,
    SOURCE_COLOR,
    TARGET_COLOR,
    as_2d_array,
    features,
    named_models,
    new_figure,
    rc_context,
    save,
    subsample,
)

MAX_MARKED_CLASSES = 6


def embed_2d(F, method: str = "pca", random_state: int | None = 0):
    """Project rows of ``F`` to 2-D; returns ``(points, axis_labels)``.

    Args:
        F: array (n, d) with n >= 2.
        method: ``"pca"`` or ``"tsne"`` (scikit-learn's TSNE, PCA-initialised).
        random_state: seed of t-SNE.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.diagnostics import embed_2d
    >>> points, labels = embed_2d(np.random.default_rng(0).normal(size=(50, 6)))
    >>> points.shape, labels[0].startswith("PC 1")
    ((50, 2), True)
    """
    F = as_2d_array(F, "features")
    method = str(method).lower()
    if method == "pca":
        from sklearn.decomposition import PCA

        k = min(2, F.shape[1], F.shape[0])
        pca = PCA(n_components=k, random_state=random_state).fit(F)
        points = pca.transform(F)
        ratio = pca.explained_variance_ratio_
        labels = [
            f"PC {i + 1} ({100 * r:.0f}% of variance)" for i, r in enumerate(ratio)
        ]
        if k < 2:  # one feature: plot it against zeros
            points = np.c_[points, np.zeros(len(points))]
            labels.append("(none)")
        return points, tuple(labels)
    if method in ("tsne", "t-sne"):
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (F.shape[0] - 1) / 3.0)))
        points = TSNE(
            n_components=2, init="pca", perplexity=perplexity, random_state=random_state
        ).fit_transform(F)
        return points, ("t-SNE 1", "t-SNE 2")
    raise ValueError(f"Unknown method {method!r}; use 'pca' or 'tsne'.")


def _scatter_domain(ax, P, labels, color, name, classes, filled):
    # Target points hollow, as the legend draws them (with or without classes).
    kw = dict(s=14, alpha=0.55, linewidths=0.8)
    face = color if filled else "none"
    if labels is None or classes is None:
        ax.scatter(
            *P.T, marker="o", facecolors=face, edgecolors=color, label=name, **kw
        )
        return
    for k, c in enumerate(classes):
        sel = labels == c
        if not sel.any():
            continue
        marker = CLASS_MARKERS[k % len(CLASS_MARKERS)]
        ax.scatter(*P[sel].T, marker=marker, facecolors=face, edgecolors=color, **kw)


def plot_feature_space(
    source=None,
    target=None,
    models=None,
    *,
    source_labels=None,
    target_labels=None,
    method: str = "pca",
    path: str | os.PathLike | None = None,
    max_points: int | None = 1000,
    show_pad: bool = True,
    title: str | None = None,
    random_state: int | None = 0,
):
    """Scatter source and target features in 2-D, one panel per model.

    Use it to see what adaptation did: under a source-only model the two
    domains form separate clouds; after domain adaptation they overlap. Each
    panel is projected on its own (PCA of source and target rows together,
    or t-SNE); colour marks the domain, marker shape the class when labels
    are given, up to 6 classes (source filled, target hollow).

    Args:
        source, target: inputs of the two domains (needed unless every model
            is a ``(source_features, target_features)`` pair).
        models: what to show: ``None`` (the inputs), a fitted estimator with
            ``transform`` (e.g. a :class:`~keras_transfer.DomainAdaptiveClassifier`),
            a list of them, or a dict ``{panel title: model}`` whose values are
            estimators, ``None`` (inputs) or precomputed feature pairs
            ``(Fs, Ft)``.
        source_labels, target_labels: optional class labels (marker shapes);
            used for display only.
        method: ``"pca"`` (fast, default) or ``"tsne"``.
        path: where to write the PNG (``None``: don't write).
        max_points: rows per domain drawn at most (random subsample).
        show_pad: add each panel's proxy A-distance to its title.
        title: figure title.
        random_state: seed of subsampling, PAD and t-SNE.

    Returns:
        The matplotlib ``Figure`` (Agg canvas).

    Example:
    >>> import os, tempfile
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> from keras_transfer.diagnostics import plot_feature_space
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "inputs.png")
    >>> fig = plot_feature_space(Xs, Xt, source_labels=ys, path=path)
    >>> os.path.getsize(path) > 0
    True
    """
    from keras_transfer.diagnostics.distance import proxy_a_distance

    panels = named_models(models)
    rng = np.random.default_rng(random_state)
    data = {}
    for name, model in panels.items():
        if isinstance(model, tuple) and len(model) == 2:
            Fs, Ft = model
        else:
            if source is None or target is None:
                raise ValueError(
                    f"Panel {name!r} needs source and target inputs to compute "
                    "features (or pass a (source_features, target_features) pair)."
                )
            Fs, Ft = features(model, source), features(model, target)
        Fs = as_2d_array(Fs, f"source features of {name!r}")
        Ft = as_2d_array(Ft, f"target features of {name!r}")
        if Fs.shape[1] != Ft.shape[1]:
            raise ValueError(
                f"Panel {name!r}: source and target features differ in size "
                f"({Fs.shape[1]} vs {Ft.shape[1]})."
            )
        data[name] = (Fs, Ft)

    ys = None if source_labels is None else np.asarray(source_labels)
    yt = None if target_labels is None else np.asarray(target_labels)
    classes = None
    known = [y for y in (ys, yt) if y is not None]
    if known:
        classes = np.unique(np.concatenate(known))
        classes = classes[classes != -1] if classes.dtype.kind in "iu" else classes
        if len(classes) > MAX_MARKED_CLASSES:
            classes = None  # too many classes to tell apart by marker

    with rc_context():
        fig, axes = new_figure(len(data))
        for ax, (name, (Fs, Ft)) in zip(axes, data.items()):
            i_s = subsample(len(Fs), max_points, rng)
            i_t = subsample(len(Ft), max_points, rng)
            points, axis_labels = embed_2d(
                np.vstack([Fs[i_s], Ft[i_t]]), method, random_state
            )
            Ps, Pt = points[: len(i_s)], points[len(i_s) :]
            ls = None if ys is None or len(ys) != len(Fs) else ys[i_s]
            lt = None if yt is None or len(yt) != len(Ft) else yt[i_t]
            _scatter_domain(ax, Ps, ls, SOURCE_COLOR, "source", classes, True)
            _scatter_domain(ax, Pt, lt, TARGET_COLOR, "target", classes, False)
            panel_title = name
            if show_pad:
                pad = proxy_a_distance(Fs, Ft, max_samples=1000, random_state=0)
                panel_title = f"{name}\nproxy A-distance {pad:.2f}"
            ax.set_title(panel_title)
            ax.set_xlabel(axis_labels[0])
            ax.set_ylabel(axis_labels[1])
            ax.grid(True, alpha=0.25)
        _legend(fig, classes, ncol=max(4, 4 * len(data)))
        fig.suptitle(
            title or f"Source and target features ({method.upper()})", fontweight="bold"
        )
    save(fig, path)
    return fig


def _legend(fig, classes, ncol):
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], ls="", marker="o", color=SOURCE_COLOR, label="source"),
        Line2D(
            [], [], ls="", marker="o", mfc="none", color=TARGET_COLOR, label="target"
        ),
    ]
    if classes is not None:
        handles += [
            Line2D(
                [],
                [],
                ls="",
                marker=CLASS_MARKERS[k % len(CLASS_MARKERS)],
                color="0.35",
                label=f"class {c}",
            )
            for k, c in enumerate(classes)
        ]
    fig.legend(
        handles=handles, loc="outside lower center", ncol=min(ncol, len(handles))
    )
