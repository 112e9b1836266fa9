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


def _benchmark_module():
    """benchmarks/transferability.py, imported from its file."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "transferability.py"
    spec = importlib.util.spec_from_file_location("bench_transferability", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_core_scores_fine_tunes_and_correlates():
    bench = _benchmark_module()
    X, y = digits()
    X = X.reshape(-1, 8, 8, 1)
    domains = {
        "digits": {
            "source": (X[:300], y[:300]),
            "pool": (X[300:900], y[300:900]),
            "test": (X[900:1200], y[900:1200]),
        },
    }
    runs = [
        bench.run_seed(
            domains,
            ["digits"],
            0,
            shots=5,
            recipes={"feature_extraction": {"strategy": "feature_extraction"}},
            steps=(100,),
            backbone="mlp",
            backbone_params={"units": (32,)},
        )
    ]
    rows = runs[0]["digits"]
    assert set(rows) == {("digits", 100), ("random", 0)}
    for row in rows.values():
        assert (
            set(row) == {*METHODS, "acc"}
            and 0 <= row["acc"]["feature_extraction"] <= 100
        )
    # The in-domain source is the better start, by the head-based scores (the
    # random head is near uniform) and by the accuracy.
    for m in ("leep", "nce"):
        assert rows[("digits", 100)][m] > rows[("random", 0)][m], m
    assert (
        rows[("digits", 100)]["acc"]["feature_extraction"]
        > rows[("random", 0)]["acc"]["feature_extraction"]
    )
    table = bench.summarise(runs, "feature_extraction")
    assert len(table["digits"]["logme"]) == 1 and len(table["pooled"]["leep"]) == 1
    meta = {
        "command": "test",
        "quick": True,
        "date": "today",
        "versions": "",
        "minutes": 0.0,
        "load": (0.0, 0.0),
        "n_source": 300,
        "n_test": 300,
        "shots": 5,
        "seeds": [0],
        "recipes": {"feature_extraction": {"strategy": "feature_extraction"}},
        "extra": {},
        "steps": (100,),
        "backbone": "mlp",
        "backbone_params": {"units": (32,)},
    }
    text = bench.report(runs, meta)
    assert "Spearman ρ" in text and "Floor" in text and "| digits @100 |" in text


def test_benchmark_rank_correlations():
    bench = _benchmark_module()
    acc = {"a": 60.0, "b": 70.0, "c": 80.0}
    scores = {k: {m: v / 100 for m in METHODS} for k, v in acc.items()}
    scores["a"]["nce"] = 1.0  # the worst source ranked first by one score
    out = bench.rank_correlations(scores, acc)
    assert out["logme"] == pytest.approx((1.0, 1.0))
    assert out["nce"] == pytest.approx((-0.5, -1 / 3))
