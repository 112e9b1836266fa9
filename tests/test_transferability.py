"""Transferability scores (LogME, H-score, LEEP, NCE) and their scorer.

Each must rank an obviously good source above a useless one: on scikit-learn's
8×8 digits, a network pretrained on digits 0-4 against the same architecture
with its random initial weights, for the target task digits 5-9.
"""

import functools

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from keras_transfer import TransferClassifier
from keras_transfer.model_selection import (
    TransferabilityScorer,
    h_score,
    leep,
    logme,
    nce,
)

METHODS = ("logme", "h_score", "leep", "nce")


@functools.cache
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype("float32"), y


@functools.cache
def sources():
    """{name: keras.Model}: pretrained on digits 0-4, and untrained."""
    X, y = digits()
    out = {}
    for name, epochs in (("trained", 10), ("random", 0)):
        clf = TransferClassifier(
            "feature_extraction",
            backbone="mlp",
            pretrain_epochs=epochs,
            epochs=1,
            random_state=0,
        ).fit(source=(X[y < 5], y[y < 5]), target=(X[y >= 5], y[y >= 5]))
        out[name] = clf.source_model_
    return out


def test_scorer_ranks_a_pretrained_source_above_a_random_one():
    X, y = digits()
    models = sources()
    search = GridSearchCV(
        TransferClassifier("feature_extraction", epochs=1, random_state=0),
        {"source_model": [models["random"], models["trained"]]},
        scoring={m: TransferabilityScorer(m) for m in METHODS},
        refit=False,
        cv=2,
        error_score="raise",
    ).fit(X[y >= 5], y[y >= 5])
    for m in METHODS:
        random_score, trained_score = search.cv_results_[f"mean_test_{m}"]
        assert trained_score > random_score, (m, trained_score, random_score)


def test_functions_rank_informative_features_first():
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    centres = rng.normal(size=(3, 10))
    good = centres[y] + 0.3 * rng.normal(size=(300, 10))
    bad = rng.normal(size=(300, 10))
    assert logme(good, y) > logme(bad, y)
    assert h_score(good, y) > h_score(bad, y)
    # A head whose classes track the target's vs one that ignores it.
    sharp = np.eye(4)[y]
    flat = np.full((300, 4), 0.25)
    assert leep(sharp, y) > leep(flat, y)
    assert nce(y + 10, y) == 0.0 and nce(np.zeros(300), y) == pytest.approx(-np.log(3))


def test_logme_ignores_label_coding_and_handles_rank_deficient_features():
    rng = np.random.default_rng(1)
    y = np.arange(100) % 2
    f = y[:, None] + rng.normal(size=(100, 3))
    assert logme(f, y) == pytest.approx(logme(f, np.where(y == 1, "b", "a")))
    f_dup = np.concatenate([f, f], axis=1)
    assert np.isfinite(logme(f_dup, y))


def test_bad_input_says_what_to_do():
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="softmax"):
        leep(np.ones((10, 3)), y)
    with pytest.raises(ValueError, match="two classes"):
        logme(np.ones((10, 3)), np.zeros(10))
    with pytest.raises(ValueError, match="rows"):
        h_score(np.ones((9, 3)), y)
    with pytest.raises(ValueError, match="method"):
        TransferabilityScorer("accuracy")
