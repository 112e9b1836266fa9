"""The self_training strategy: pseudo-labels, class balance, augmentation, align.

Rotated moons and small shifted digits; every comparison is against the
source-only model trained from the same seed (same initial weights and
batches), averaged over two seeds. Defaults throughout (τ = 0.95).
"""

import functools
import pickle

import keras
import numpy as np
import pytest

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.datasets import load_digits_shift, make_rotated_moons
from keras_transfer.losses import aligned_probabilities, mmd, pseudo_label_loss
from keras_transfer.strategies import SelfTraining, available_strategies, get_strategy

SEEDS = (0, 1)


@functools.cache
def moons(seed):
    return make_rotated_moons(200, 200, angle=30, random_state=seed)


@functools.cache
def fitted(strategy, seed, align=None, epochs=40):
    Xs, ys, Xt, _ = moons(seed)
    clf = DomainAdaptiveClassifier(
        strategy,
        strategy_params={"align": align} if strategy == "self_training" else None,
        epochs=epochs,
        batch_size=32,
        random_state=seed,
    )
    return clf.fit((Xs, ys), Xt)


def confident_share(clf, seed, threshold=0.95):
    return float(np.mean(clf.predict_proba(moons(seed)[2]).max(axis=1) >= threshold))


def test_registered():
    assert "self_training" in available_strategies()


def test_pseudo_labels_grow_the_confident_target_set():
    """Training on its confident rows makes more target rows pass τ."""
    adapted = np.mean([confident_share(fitted("self_training", s), s) for s in SEEDS])
    baseline = np.mean([confident_share(fitted("source_only", s), s) for s in SEEDS])
    assert adapted > baseline + 0.06, (adapted, baseline)


def test_combined_with_an_alignment_strategy():
    """align='mmd' adds MMD's loss: the features' MMD falls as with mmd alone."""
    Xs, _, Xt, _ = moons(0)
    clf = fitted("self_training", 0, align="mmd", epochs=20)
    base = fitted("source_only", 0, epochs=20)
    gap = {
        c: float(mmd(m.transform(Xs), m.transform(Xt)))
        for c, m in {"both": clf, "source_only": base}.items()
    }
    assert gap["both"] < 0.3 * gap["source_only"], gap
    strategy = clf.model_.strategy
    assert strategy.align.name_ == "mmd"
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.model_.strategy.align.name_ == "mmd"
    np.testing.assert_array_equal(copy.predict_proba(Xt), clf.predict_proba(Xt))


@functools.cache
def digits():
    Xs, ys, Xt, yt = load_digits_shift(random_state=0)
    return Xs[:256], ys[:256], Xt[:256], yt[:256]


def test_images_get_a_strong_view_and_round_trip(tmp_path):
    Xs, ys, Xt, _ = digits()
    clf = DomainAdaptiveClassifier(
        "self_training",
        strategy_params={"seed": 0},
        epochs=1,
        batch_size=64,
        random_state=0,
    ).fit((Xs, ys), Xt)
    model = clf.model_
    strategy = model.strategy
    assert strategy.augment is not None and strategy.needs_inputs
    strategy._holder.model = model  # bound during fit only: bind it to look
    X = np.asarray(Xt[:32, ..., None], "float32")
    out = model(X, training=True)
    strategy._holder.model = None
    strong = keras.ops.convert_to_numpy(out["strong_logits"])
    clean = keras.ops.convert_to_numpy(out["logits"])
    assert strong.shape == clean.shape and not np.allclose(strong, clean)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.strategy.name_ == "self_training"
    assert loaded.strategy.augment is not None
    expected = clf.predict_proba(Xt)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict_proba(Xt), expected
    )


def test_vectors_are_not_augmented():
    strategy = SelfTraining()
    X = np.zeros((4, 2), "float32")
    out = strategy(X, X, np.ones((), "float32"), training=True, x=X)
    assert "strong_logits" not in out


@pytest.mark.parametrize(
    "params",
    [
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"weight": -1},
        {"augment": "strong"},
        {"align": "self_training"},
    ],
)
def test_bad_params_say_what_to_do(params):
    with pytest.raises(ValueError, match="must be"):
        get_strategy("self_training", **params)


def test_distribution_alignment_needs_both_domains():
    z = np.log(np.array([[0.9, 0.1], [0.6, 0.4]], "float32"))
    only_target = np.asarray(aligned_probabilities(z, np.zeros(2, "float32")))
    np.testing.assert_allclose(only_target, np.exp(z), rtol=1e-5)


def test_pseudo_label_loss_ignores_unconfident_and_masked_rows():
    probs = np.array([[0.99, 0.01], [0.5, 0.5], [0.01, 0.99]], "float32")
    z = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 2.0]], "float32")
    ce = np.log1p(np.exp(-2.0))
    assert float(pseudo_label_loss(probs, z, 0.95)) == pytest.approx(2 * ce / 3, 1e-5)
    mask = np.array([1.0, 1.0, 0.0], "float32")
    assert float(pseudo_label_loss(probs, z, 0.95, mask)) == pytest.approx(ce / 2, 1e-5)
