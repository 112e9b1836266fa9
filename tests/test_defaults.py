"""Issue 12: recipes as defaults, the label-free "auto" choice, collapse detection."""

import pickle
import warnings

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.base import clone

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.diagnostics import CollapseWarning, collapse_report
from keras_transfer.estimators import auto_candidates
from keras_transfer.estimators._auto import AUTO_STRATEGIES, _agreement
from keras_transfer.strategies import (
    DEFAULT_RECIPE,
    Strategy,
    available_strategies,
    get_strategy,
    recipe_settings,
)

FAST = dict(epochs=3, batch_size=64, random_state=0)


@keras.saving.register_keras_serializable(package="keras_transfer_tests")
class PushToClassZero(Strategy):
    """A deliberately harmful strategy: pulls every target row into class 0.

    Not registered, so that no other test's loop over the registry sees it."""

    name_ = "push_to_class_zero"
    recipe = {"adaptation_weight": 20.0, "schedule": "constant", "source": "test"}

    def adaptation_loss(self, outputs, batch):
        target = 1.0 - batch["is_source"]
        log_p0 = ops.log_softmax(ops.cast(batch["logits"], "float32"), axis=-1)[:, 0]
        n = ops.maximum(ops.sum(target), 1.0)
        return batch["lambda"] * ops.sum(-log_p0 * target) / n


def test_every_strategy_has_a_recipe_with_its_source():
    for name in available_strategies():
        for kind in ("image", "dense", "sparse"):
            settings = recipe_settings(name, kind)
            assert set(DEFAULT_RECIPE) <= set(settings), (name, settings)
            assert settings["source"], name
            assert settings["adaptation_weight"] >= 0


def test_user_settings_override_the_recipe(small_moons):
    Xs, ys, Xt, _ = small_moons
    clf = DomainAdaptiveClassifier(PushToClassZero(), adaptation_weight=0.5, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        clf.fit((Xs, ys), Xt)
    assert clf.adaptation_weight_ == 0.5
    assert clf.model_.adaptation_weight == 0.5
    clf = DomainAdaptiveClassifier("dann", **FAST).fit((Xs, ys), Xt)
    assert clf.adaptation_weight_ == recipe_settings("dann")["adaptation_weight"]
    assert clf.get_params()["adaptation_weight"] is None  # stored untouched


def test_recipe_optimizer_config_by_kind_of_data(small_moons):
    """wdgrl's recipe gives Adam epsilon 1e-2 on sparse rows only (text: the
    critic's gradient on target-only words must not become full-size steps)."""
    import scipy.sparse as sp

    Xs, ys, Xt, _ = small_moons
    assert recipe_settings("wdgrl", "dense")["optimizer"] == "adam"
    sparse_settings = recipe_settings("wdgrl", "sparse")
    sparse_settings["optimizer"]["config"]["epsilon"] = 0.5  # a copy: no effect
    assert recipe_settings("wdgrl", "sparse")["optimizer"]["config"]["epsilon"] == 1e-2
    params = dict(FAST, epochs=1)
    sparse = DomainAdaptiveClassifier("wdgrl", **params).fit(
        (sp.csr_matrix(Xs), ys), sp.csr_matrix(Xt)
    )
    assert sparse.model_.optimizer.epsilon == pytest.approx(1e-2)
    assert float(sparse.model_.optimizer.learning_rate) == pytest.approx(1e-3)
    dense = DomainAdaptiveClassifier("wdgrl", **params).fit((Xs, ys), Xt)
    assert dense.model_.optimizer.epsilon == pytest.approx(1e-7)
    # the user's optimizer wins, as a config dict (at the user's learning rate) too
    config = {"class_name": "sgd", "config": {"momentum": 0.5}}
    clf = DomainAdaptiveClassifier(
        "wdgrl", optimizer=config, learning_rate=0.05, **params
    ).fit((sp.csr_matrix(Xs), ys), sp.csr_matrix(Xt))
    assert type(clf.model_.optimizer).__name__ == "SGD"
    assert clf.model_.optimizer.momentum == pytest.approx(0.5)
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.05)
    assert clone(clf).get_params()["optimizer"] == config
    with pytest.raises(ValueError, match="Keras optimizer"):
        DomainAdaptiveClassifier(optimizer={"class_name": "adamm"}, **params).fit(
            (Xs, ys), Xt
        )


def test_entropy_default_keeps_a_diversity_term():
    assert get_strategy("entropy").diversity > 0


def test_entropy_label_weight_weighs_the_task_loss():
    """SHOT's β: the task loss (its pseudo-labels) at label_weight; 1 by
    default, so DomainAdaptiveClassifier's source loss is unchanged."""
    assert get_strategy("entropy").task_weight(0.5) == 1.0
    strategy = get_strategy("entropy", label_weight=0.3)
    assert strategy.task_weight(0.5) == 0.3
    assert type(strategy).from_config(strategy.get_config()).label_weight == 0.3
    with pytest.raises(ValueError, match="label_weight must be >= 0"):
        get_strategy("entropy", label_weight=-1)


def test_collapse_report_signs():
    ys = np.array([0, 1, 2] * 20)
    healthy = np.eye(3)[ys] * 0.8 + 0.2 / 3
    assert not collapse_report(healthy, ys)
    report = collapse_report(np.eye(3)[np.zeros(60, int)], ys)
    assert report and "collapsed onto few classes" in report.reasons[0]
    falling = {"accuracy": [0.6, 0.95, 0.7], "loss": [1.0, 0.5, 0.6]}
    assert "source accuracy fell" in collapse_report(healthy, ys, falling).reasons[0]
    diverged = {"accuracy": [0.6, 0.9], "loss": [1.0, np.nan]}
    assert "non-finite" in collapse_report(healthy, ys, diverged).reasons[0]


def test_collapse_detector_fires_on_a_forced_collapse(small_moons):
    Xs, ys, Xt, _ = small_moons
    clf = DomainAdaptiveClassifier(PushToClassZero(), **FAST)
    with pytest.warns(CollapseWarning, match="collapsed onto few classes"):
        clf.fit((Xs, ys), Xt)
    assert clf.collapse_report_.collapsed
    assert clf.collapse_report_.target_class_shares[0] > 0.9


@pytest.mark.parametrize("strategy", ["dann", "mmd", "entropy"])
def test_collapse_detector_is_quiet_on_healthy_fits(moons, strategy):
    Xs, ys, Xt, _ = moons
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        clf = DomainAdaptiveClassifier(strategy, **FAST).fit((Xs, ys), Xt)
    assert not clf.collapse_report_.collapsed
    source_only = DomainAdaptiveClassifier("source_only", **FAST).fit((Xs, ys), Xt)
    assert source_only.collapse_report_ is None


def test_auto_candidates_always_start_with_source_only():
    clf = DomainAdaptiveClassifier("dann", adaptation_weight="auto")
    pairs = auto_candidates(clf, "dense")
    assert pairs[0] == ("source_only", 0.0)
    assert [s for s, _ in pairs[1:]] == ["dann"] * 3
    pairs = auto_candidates(DomainAdaptiveClassifier("auto"), "image")
    assert pairs[0] == ("source_only", 0.0)
    assert [s for s, _ in pairs[1:]] == list(AUTO_STRATEGIES)
    both = DomainAdaptiveClassifier("auto", adaptation_weight="auto")
    assert len(auto_candidates(both, "dense")) == 1 + 3 * len(AUTO_STRATEGIES)


def test_auto_fits_chooses_and_reports(small_moons):
    Xs, ys, Xt, yt = small_moons
    clf = DomainAdaptiveClassifier("mmd", adaptation_weight="auto", **FAST)
    clf.fit((Xs, ys), Xt)
    table = clf.selection_
    assert table["strategy"] == ["source_only", "mmd", "mmd", "mmd"]
    assert sum(table["selected"]) == 1
    chosen = table["selected"].index(True)
    assert table["eligible"][chosen]
    assert clf.adaptation_weight_ == table["adaptation_weight"][chosen]
    assert clf.strategy_ == table["strategy"][chosen]
    # The chosen candidate agrees most with the ensemble of the eligible ones
    # (ties to the earlier one, source-only first).
    eligible = [i for i, ok in enumerate(table["eligible"]) if ok]
    best = max(eligible, key=lambda i: table["ensemble_agreement"][i])
    assert chosen == best
    assert all(0.0 <= a <= 1.0 for a in table["ensemble_agreement"])
    assert clf.predict(Xt).shape == yt.shape
    # sklearn contract: parameters untouched, clone and pickle work.
    assert clf.get_params()["adaptation_weight"] == "auto"
    assert clone(clf).get_params()["adaptation_weight"] == "auto"
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict(Xt), clf.predict(Xt))


def test_strategy_auto_tries_every_auto_strategy_and_keeps_an_eligible_one(
    small_moons,
):
    Xs, ys, Xt, yt = small_moons
    clf = DomainAdaptiveClassifier("auto", **FAST).fit((Xs, ys), Xt)
    table = clf.selection_
    assert table["strategy"] == ["source_only", *AUTO_STRATEGIES]
    chosen = table["selected"].index(True)
    assert table["eligible"][chosen] and clf.strategy_ == table["strategy"][chosen]
    assert clf.score(Xt, yt) > 0.5


def test_auto_agreement_prefers_the_consensus_and_ignores_dropped_candidates():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)

    def proba(correct):
        # Right on the first `correct` rows, a fixed wrong class elsewhere.
        labels = np.where(np.arange(300) < correct, truth, (truth + 1) % 3)
        return np.eye(3)[labels] * 0.8 + 0.2 / 3

    rows = [
        {"proba": proba(200), "eligible": True},  # source-only
        {"proba": proba(260), "eligible": True},
        {"proba": proba(270), "eligible": True},
        {"proba": proba(0), "eligible": True},  # went its own way
        {"proba": np.eye(3)[np.zeros(300, int)], "eligible": False},  # dropped
    ]
    _agreement(rows)
    agreement = [r["ensemble_agreement"] for r in rows]
    assert np.argmax(agreement[:4]) in (1, 2)
    assert agreement[3] == min(agreement[:4])
    assert all("proba" not in r for r in rows)  # not kept in selection_


def test_auto_drops_collapsed_candidates_and_keeps_source_only(small_moons):
    Xs, ys, Xt, _ = small_moons
    clf = DomainAdaptiveClassifier(PushToClassZero(), adaptation_weight="auto", **FAST)
    with pytest.warns(CollapseWarning, match="kept source-only"):
        clf.fit((Xs, ys), Xt)
    table = clf.selection_
    assert clf.strategy_ == "source_only" and clf.adaptation_weight_ == 0.0
    assert all(table["collapsed"][1:]) and not any(table["eligible"][1:])


def test_auto_refuses_what_it_cannot_do(small_moons):
    Xs, ys, Xt, _ = small_moons
    with pytest.raises(ValueError, match="pass unlabelled target rows"):
        DomainAdaptiveClassifier("dann", adaptation_weight="auto", **FAST).fit(
            np.asarray(Xs), np.asarray(ys)
        )
    with pytest.raises(ValueError, match="strategy_params apply to one strategy"):
        DomainAdaptiveClassifier("auto", strategy_params={"units": (8,)}, **FAST).fit(
            (Xs, ys), Xt
        )
