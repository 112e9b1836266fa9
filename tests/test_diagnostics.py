"""Diagnostics: proxy A-distance, feature-space plots, training curves, regions."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from PIL import Image

from keras_transfer.diagnostics import (
    as_history,
    embed_2d,
    plot_decision_boundaries,
    plot_feature_space,
    plot_training_curves,
    proxy_a_distance,
)


def _png(path):
    """Open a written PNG and return (width, height)."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


class Projection:
    """A minimal 'fitted estimator': transform() is a fixed linear map."""

    def __init__(self, W):
        self.W = np.asarray(W, dtype=float)

    def transform(self, X):
        return np.asarray(X) @ self.W


@pytest.fixture(scope="module")
def fitted():
    """One small DANN fit with validation data (its history has val_* keys)."""
    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.datasets import make_rotated_moons

    Xs, ys, Xt, yt = make_rotated_moons(200, 200, angle=30, random_state=0)
    clf = DomainAdaptiveClassifier("dann", epochs=3, batch_size=64, random_state=0).fit(
        (Xs, ys), Xt, validation_data=(Xs[:50], ys[:50])
    )
    return clf, (Xs, ys, Xt, yt)


# ---- proxy A-distance ----


def test_pad_small_for_same_law_and_large_for_separated_domains():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    far = rng.normal(size=(400, 5)) + np.array([4.0, 0, 0, 0, 0])
    same = proxy_a_distance(a, b)
    apart = proxy_a_distance(a, far)
    assert abs(same) < 0.4, same
    assert apart > 1.8, apart


def test_pad_grows_with_the_shift():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(500, 3))
    pads = [
        proxy_a_distance(base, rng.normal(size=(500, 3)) + shift)
        for shift in (0.0, 0.5, 1.0, 3.0)
    ]
    assert pads == sorted(pads), pads


def test_pad_is_pad_formula_of_the_held_out_error():
    # Perfectly separable domains: held-out error 0, so PAD = 2 exactly.
    Xs = np.c_[np.full(100, -1.0), np.linspace(0, 1, 100)]
    Xt = np.c_[np.full(100, 1.0), np.linspace(0, 1, 100)]
    assert proxy_a_distance(Xs, Xt) == pytest.approx(2.0)


def test_pad_uses_the_model_features_and_accepts_sparse_and_images():
    rng = np.random.default_rng(2)
    Xs = rng.normal(size=(300, 2))
    Xt = rng.normal(size=(300, 2)) + np.array([0.0, 5.0])
    # Projecting on the first axis drops the shift: the domains coincide.
    assert abs(proxy_a_distance(Xs, Xt, Projection([[1.0], [0.0]]))) < 0.4
    assert proxy_a_distance(Xs, Xt, lambda X: X[:, 1:]) > 1.8
    assert proxy_a_distance(sp.csr_matrix(Xs), sp.csr_matrix(Xt)) > 1.8
    imgs_s, imgs_t = Xs.reshape(300, 2, 1), Xt.reshape(300, 2, 1)
    assert proxy_a_distance(imgs_s, imgs_t) > 1.8


def test_pad_with_a_fitted_estimator(fitted):
    clf, (Xs, _, Xt, _) = fitted
    pad = proxy_a_distance(Xs, Xt, clf)
    assert np.isfinite(pad) and -2.0 <= pad <= 2.0
    F = clf.transform(Xs)
    assert proxy_a_distance(Xs, Xt, clf) == proxy_a_distance(F, clf.transform(Xt))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(source=np.zeros((10, 2)), target=np.zeros((10, 3))), "differ in size"),
        (dict(source=np.zeros(10), target=np.zeros(10)), "2-D"),
        (dict(source=np.full((10, 2), np.nan), target=np.zeros((10, 2))), "NaN"),
        (dict(source=np.zeros((1, 2)), target=np.zeros((10, 2))), "at least 2"),
        (dict(source=np.zeros((9, 2)), target=np.ones((9, 2)), test_size=1.5), "test"),
    ],
)
def test_pad_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        proxy_a_distance(**kwargs)


# ---- feature space ----


def test_embed_2d_pca_and_tsne():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(40, 5)) * np.array([5.0, 1, 1, 1, 1])
    points, labels = embed_2d(F)
    assert points.shape == (40, 2) and "PC 1" in labels[0]
    # The first PC follows the high-variance feature.
    assert abs(np.corrcoef(points[:, 0], F[:, 0])[0, 1]) > 0.95
    points, labels = embed_2d(F, "tsne")
    assert points.shape == (40, 2) and labels == ("t-SNE 1", "t-SNE 2")
    with pytest.raises(ValueError, match="Unknown method"):
        embed_2d(F, "umap")


def test_plot_feature_space_before_and_after(fitted, tmp_path):
    clf, (Xs, ys, Xt, yt) = fitted
    path = tmp_path / "sub" / "features.png"
    fig = plot_feature_space(
        Xs,
        Xt,
        {"inputs": None, "DANN": clf},
        source_labels=ys,
        target_labels=yt,
        path=path,
        title="before / after",
    )
    width, height = _png(path)
    assert width > 2 * height > 400  # two panels side by side
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert axes[0].get_title().startswith("inputs\nproxy A-distance")
    assert axes[1].get_title().startswith("DANN\nproxy A-distance")
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    assert fig.get_suptitle() == "before / after"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["source", "target", "class 0", "class 1"]
    # Every point is drawn: 200 per domain, split into the two classes.
    drawn = sum(len(c.get_offsets()) for c in axes[1].collections)
    assert drawn == 400


def test_plot_feature_space_from_feature_pairs_and_tsne(tmp_path):
    rng = np.random.default_rng(0)
    Fs, Ft = rng.normal(size=(30, 4)), rng.normal(2.0, 1.0, size=(30, 4))
    fig = plot_feature_space(
        models={"given": (Fs, Ft)}, method="tsne", show_pad=False, max_points=20
    )
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert ax.get_title() == "given" and ax.get_xlabel() == "t-SNE 1"
    assert sum(len(c.get_offsets()) for c in ax.collections) == 40
    assert list(tmp_path.iterdir()) == []  # no path: nothing written


@pytest.mark.parametrize("labelled", [False, True])
def test_plot_feature_space_points_match_the_legend(labelled):
    """The legend drew target points hollow while, without class labels, the
    plotted target points were filled."""
    rng = np.random.default_rng(0)
    Fs, Ft = rng.normal(size=(30, 4)), rng.normal(2.0, 1.0, size=(30, 4))
    labels = {}
    if labelled:
        labels = dict(source_labels=np.arange(30) % 2, target_labels=np.arange(30) % 2)
    fig = plot_feature_space(
        models={"m": (Fs, Ft)}, show_pad=False, max_points=None, **labels
    )
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]

    def hollow(collection):
        faces = collection.get_facecolors()
        return len(faces) == 0 or float(np.max(faces[:, 3])) == 0.0

    half = len(ax.collections) // 2  # source collections first, then target
    assert not any(hollow(c) for c in ax.collections[:half])
    assert all(hollow(c) for c in ax.collections[half:])
    handles = {h.get_label(): h for h in fig.legends[0].legend_handles}
    assert handles["target"].get_markerfacecolor() == "none"
    assert handles["source"].get_markerfacecolor() != "none"


def test_plot_feature_space_errors():
    with pytest.raises(ValueError, match="needs source and target"):
        plot_feature_space(models={"m": Projection(np.eye(2))})
    with pytest.raises(TypeError, match="transform"):
        plot_feature_space(np.zeros((5, 2)), np.zeros((5, 2)), {"bad": 3})
    with pytest.raises(ValueError, match="differ in size"):
        plot_feature_space(models={"m": (np.zeros((5, 2)), np.zeros((5, 3)))})


# ---- training curves ----


def test_training_curves_from_a_fitted_estimator(fitted, tmp_path):
    clf, _ = fitted
    path = tmp_path / "curves.png"
    fig = plot_training_curves(clf, path=path, title="DANN")
    _png(path)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in axes]
    assert titles == ["Losses", "Adaptation weight λ", "Accuracy (labelled rows)"]
    assert all(ax.get_xlabel() == "epoch" for ax in axes)
    # λ is drawn as recorded, per epoch.
    (lam_line,) = axes[1].get_lines()
    np.testing.assert_allclose(lam_line.get_ydata(), clf.history_["lambda"])
    np.testing.assert_array_equal(lam_line.get_xdata(), [1, 2, 3])
    # Validation series are dashed; an all-zero val_adaptation_loss is left out.
    styles = [line.get_linestyle() for line in axes[0].get_lines()]
    assert styles.count("--") == 2 and len(styles) == 5  # loss, task, adaptation
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend == ["total", "task", "adaptation", "validation"]


def test_training_curves_from_dicts_and_keras_history():
    class History:  # what keras.Model.fit returns
        history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]}

    fig = plot_training_curves(History())
    assert [ax.get_title() for ax in fig.axes] == ["Losses", "Accuracy (labelled rows)"]
    fig = plot_training_curves({"mae": [3.0, 2.0, 1.0]})  # unknown keys: one panel
    assert [ax.get_title() for ax in fig.axes] == ["Metrics"]
    assert as_history({"loss": np.array([1.0])}) == {"loss": [1.0]}
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves({})
    with pytest.raises(TypeError, match="history"):
        plot_training_curves([1, 2, 3])


# ---- decision regions ----


def test_decision_boundaries(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from keras_transfer.datasets import make_rotated_moons

    Xs, ys, Xt, yt = make_rotated_moons(150, 150, angle=40, random_state=0)
    clf = LogisticRegression().fit(Xs, ys)
    path = tmp_path / "regions.png"
    fig = plot_decision_boundaries([clf], Xs, ys, Xt, yt, path=path, title="t")
    _png(path)
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    acc = float(np.mean(clf.predict(Xt) == yt))
    assert ax.get_title() == f"LogisticRegression 1\ntarget accuracy {acc:.3f}"
    # Without target labels: no accuracy in the title.
    fig = plot_decision_boundaries({"lr": clf}, Xs, ys, Xt)
    assert fig.axes[0].get_title() == "lr"
    with pytest.raises(ValueError, match="2-D inputs"):
        plot_decision_boundaries(
            {"lr": clf}, np.zeros((5, 3)), ys[:5], np.zeros((5, 3))
        )


def test_importing_diagnostics_does_not_import_keras():
    code = (
        "import sys, keras_transfer.diagnostics\n"
        "bad = [m for m in ('keras', 'jax', 'torch', 'tensorflow', 'matplotlib')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_proxy_a_distance_is_clipped_to_0_2():
    """Indistinguishable domains gave values below 0 (down to -0.36 here)."""
    from keras_transfer.diagnostics import proxy_a_distance

    for seed in range(8):
        X = np.random.default_rng(seed).normal(size=(100, 3))
        assert 0.0 <= proxy_a_distance(X, X.copy(), random_state=seed) <= 2.0
