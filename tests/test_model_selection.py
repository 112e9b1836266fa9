"""keras_transfer.model_selection: DA scorers, splitters, pack/unpack, GridSearchCV."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.datasets import make_rotated_moons
from keras_transfer.model_selection import (
    CircularValidation,
    DeepEmbeddedValidation,
    ImportanceWeightedScorer,
    LeaveOneDomainOut,
    PredictionEntropyScorer,
    SoftNeighborhoodDensity,
    SourceTargetShuffleSplit,
    TargetAccuracyScorer,
    pack_domains,
    unpack_domains,
    unsupervised_scorers,
)
from keras_transfer.model_selection._scorers import _importance_weights

DAC_PARAMS = dict(epochs=3, batch_size=32, random_state=0)
GRID = {
    "clf__strategy": ["source_only", "dann"],
    "clf__adaptation_weight": [0.1, 1.0],
}


class FeatureLR(LogisticRegression):
    """A logistic regression that exposes its input as features (for DEV)."""

    def transform(self, X):
        return np.asarray(X)


def make_pipeline(**params):
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("clf", DomainAdaptiveClassifier(**{**DAC_PARAMS, **params})),
        ]
    )


def moons_packed():
    Xs, ys, Xt, yt = make_rotated_moons(150, 150, angle=30, random_state=1)
    X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
    return X, y, Xt, yt


# ---- the scorers inside GridSearchCV --------------------------------------------


def test_grid_search_with_every_scorer_n_jobs_2():
    """Every scorer ranks a 2 strategies x 2 λ grid of Pipelines, packed form.

    One test (not a shared fixture), so that pytest-xdist never runs the grid
    twice. The search runs with n_jobs=2; its scores must equal an in-process
    fit and score of the same fold.
    """
    X, y, Xt, yt = moons_packed()
    scoring = {**unsupervised_scorers(), "target_acc": TargetAccuracyScorer(Xt, yt)}
    cv = SourceTargetShuffleSplit(n_splits=1, test_size=0.3, random_state=0)
    search = GridSearchCV(
        make_pipeline(),
        GRID,
        scoring=scoring,
        refit="snd",
        cv=cv,
        n_jobs=2,
        error_score="raise",
    ).fit(X, y)
    res = search.cv_results_
    assert len(res["params"]) == 4
    for name in scoring:
        assert np.all(np.isfinite(res[f"mean_test_{name}"])), name
        assert res[f"rank_test_{name}"].min() == 1
    assert np.all(res["mean_test_entropy"] <= 0)
    assert np.all(res["mean_test_entropy"] >= -np.log(2) - 1e-9)
    for name in ("circular", "target_acc"):
        assert np.all((res[f"mean_test_{name}"] >= 0) & (res[f"mean_test_{name}"] <= 1))

    # source_only ignores λ and the fits are seeded: its two grid points are
    # the same model, so every scorer (circular's refit included) must agree.
    so = [i for i, p in enumerate(res["params"]) if p["clf__strategy"] == "source_only"]
    assert so == [0, 2]
    for name in scoring:
        a, b = (res[f"mean_test_{name}"][i] for i in so)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)

    # n_jobs=2 gives what an in-process fit and score of the fold gives
    train, test = next(cv.split(X, y))
    i = res["params"].index({"clf__adaptation_weight": 1.0, "clf__strategy": "dann"})
    model = make_pipeline(strategy="dann", adaptation_weight=1.0).fit(
        X[train], y[train]
    )
    for name in ("entropy", "iwv", "dev", "snd", "target_acc"):
        np.testing.assert_allclose(
            scoring[name](model, X[test], y[test]),
            res[f"mean_test_{name}"][i],
            rtol=1e-4,
            err_msg=name,
        )

    # the refitted best model predicts on the target
    best = search.best_estimator_
    assert isinstance(best, Pipeline)
    assert search.best_params_ == res["params"][search.best_index_]
    pred = search.predict(Xt)
    np.testing.assert_array_equal(pred, best.predict(Xt))
    # well above chance (0.5); 150 rotated-moons points and 3 epochs give
    # 0.66-0.70 for every grid point on every backend
    assert np.mean(pred == yt) > 0.6
    assert TargetAccuracyScorer(Xt, yt)(best, Xt, None) == np.mean(pred == yt)
    assert search.predict_proba(Xt).shape == (len(Xt), 2)

    # stateless: same inputs, same score, whatever was scored in between (A, B, A).
    # Circular validation's default path (a refit of the DA pipeline) had this
    # check above: the two source_only grid points got equal scores.
    other = Pipeline([("scale", StandardScaler()), ("clf", FeatureLR())])
    other.fit(X[y >= 0], y[y >= 0])
    Xf, yf = X[test], y[test]
    scorers = {
        **unsupervised_scorers(),
        "circular": CircularValidation(reverse_estimator=LogisticRegression()),
    }
    for name, scorer in scorers.items():
        first = scorer(best, Xf, yf)
        between = scorer(other, Xf, yf)
        again = scorer(best, Xf, yf)
        assert first == again, (name, first, between, again)
        assert np.isfinite(between)


def test_metadata_routing_sample_domain_and_target_labels():
    """With routing on: sample_domain reaches estimator, splitter and scorers."""
    Xs, ys, Xt, yt = make_rotated_moons(200, 100, angle=30, random_state=2)
    first, second = (Xs[:100], ys[:100]), (Xs[100:], ys[100:])
    X, y, sd = pack_domains(source=[first, second], target=Xt)
    target_labels = np.r_[np.full(200, -1), yt]
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "clf",
                    DomainAdaptiveClassifier(**DAC_PARAMS).set_fit_request(
                        sample_domain=True
                    ),
                ),
            ]
        )
        search = GridSearchCV(
            pipe,
            {"clf__strategy": ["dann"]},
            scoring={"dev": DeepEmbeddedValidation(), "acc": TargetAccuracyScorer()},
            refit=False,
            cv=LeaveOneDomainOut(),
            error_score="raise",
        )
        routed = search.get_metadata_routing().route_params(
            caller="fit", params={"sample_domain": sd, "target_labels": target_labels}
        )
        assert set(routed.estimator.fit) == {"sample_domain"}
        assert set(routed.splitter.split) == {"sample_domain"}
        assert set(routed.scorer.score) == {"sample_domain", "target_labels"}
        search.fit(X, y, sample_domain=sd, target_labels=target_labels)
    res = search.cv_results_
    assert search.n_splits_ == 2
    assert np.isfinite(res["mean_test_dev"][0])
    assert 0.5 < res["mean_test_acc"][0] <= 1.0
    # routing was left off outside the context
    assert not sklearn.get_config()["enable_metadata_routing"]


# ---- scorers on fast scikit-learn models ------------------------------------------


def _shifted(n=200, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(n, 2))
    ys = (Xs[:, 0] + 0.3 * Xs[:, 1] > 0).astype(int)
    Xt = rng.normal(size=(n, 2)) + [shift, 0.0]
    yt = (Xt[:, 0] + 0.3 * Xt[:, 1] > 0).astype(int)
    return Xs, ys, Xt, yt


def test_density_ratio_recovers_a_gaussian_shift():
    rng = np.random.default_rng(0)
    Zs, Zt = rng.normal(size=(1000, 1)), rng.normal(0.5, 1.0, size=(1000, 1))
    w = _importance_weights(Zs, Zt, None, cv=5, eps=1e-3)
    true = np.exp(0.5 * Zs[:, 0] - 0.125)  # N(0.5, 1) / N(0, 1)
    assert np.corrcoef(w, true)[0, 1] > 0.95
    assert abs(np.mean(w) - 1.0) < 0.15


def test_snd_of_identical_predictions_is_log_n_minus_1():
    class Constant(LogisticRegression):
        def predict_proba(self, X):
            return np.tile([0.3, 0.7], (len(X), 1))

    Xs, ys, Xt, _ = _shifted(50)
    X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
    clf = Constant().fit(Xs, ys)
    np.testing.assert_allclose(SoftNeighborhoodDensity()(clf, X, y), np.log(49))


def test_entropy_prefers_confident_models():
    Xs, ys, Xt, _ = _shifted()
    X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
    sharp = LogisticRegression(C=100.0).fit(Xs, ys)
    flat = LogisticRegression(C=1e-3).fit(Xs, ys)
    scorer = PredictionEntropyScorer()
    assert scorer(sharp, X, y) > scorer(flat, X, y)


def test_circular_validation_punishes_wrong_target_labels():
    Xs, ys, Xt, _ = _shifted(shift=0.0)
    X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
    good = LogisticRegression().fit(Xs, ys)
    flipped = LogisticRegression().fit(Xs, 1 - ys)  # every target label wrong
    scorer = CircularValidation(reverse_estimator=LogisticRegression())
    assert scorer(good, X, y) > 0.9
    assert scorer(flipped, X, y) < 0.1


def test_weighted_scorers_without_shift_match_the_source_loss():
    """Same law in both domains: the weights are ~1 and IWV/DEV ~ -log loss."""
    Xs, ys, Xt, _ = _shifted(n=400, shift=0.0, seed=1)
    X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
    clf = FeatureLR().fit(Xs, ys)
    proba = clf.predict_proba(Xs)[np.arange(len(ys)), ys]
    log_loss = -np.mean(np.log(proba))
    for scorer in (ImportanceWeightedScorer(), DeepEmbeddedValidation()):
        np.testing.assert_allclose(scorer(clf, X, y), -log_loss, rtol=0.15)


def test_weighted_scorers_follow_the_target_risk_under_shift():
    """IWV/DEV rank a model that is right on the target above one that is not."""
    Xs, ys, Xt, yt = _shifted(n=400, shift=1.5, seed=2)
    X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
    # both fit most of the source; one is wrong where the target lives (x0 > 1)
    right = FeatureLR(C=100.0).fit(Xs, ys)
    wrong = FeatureLR(C=100.0).fit(Xs, np.where(Xs[:, 0] > 1.0, 1 - ys, ys))
    assert np.mean(right.predict(Xt) == yt) > np.mean(wrong.predict(Xt) == yt)
    for scorer in (ImportanceWeightedScorer(), DeepEmbeddedValidation()):
        assert scorer(right, X, y) > scorer(wrong, X, y), scorer


def test_scorers_use_sample_domain_over_the_mask():
    """A labelled row marked target (sample_domain < 0) counts as target."""
    Xs, ys, Xt, _ = _shifted(50)
    X, y, sd = pack_domains(source=(Xs, ys), target=Xt)
    clf = LogisticRegression().fit(Xs, ys)
    y_semi = y.copy()
    y_semi[-10:] = 0  # target rows with a label; still target by sample_domain
    entropy = PredictionEntropyScorer()
    assert entropy(clf, X, y_semi, sample_domain=sd) == entropy(clf, X, y)
    assert entropy(clf, X, y_semi) != entropy(clf, X, y)  # mask alone: 40 target


def test_target_accuracy_scorer_side_arrays_and_errors():
    Xs, ys, Xt, yt = _shifted(50)
    X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
    clf = LogisticRegression().fit(Xs, ys)
    expected = np.mean(clf.predict(Xt) == yt)
    assert TargetAccuracyScorer(Xt, yt)(clf, X, y) == expected
    packed_labels = np.r_[np.full(50, -1), yt]
    assert TargetAccuracyScorer()(clf, X, y, target_labels=packed_labels) == expected
    with pytest.raises(ValueError, match="no target labels"):
        TargetAccuracyScorer()(clf, X, y)


def test_scorer_errors_say_what_to_do():
    Xs, ys, Xt, _ = _shifted(30)
    clf = FeatureLR().fit(Xs, ys)
    for scorer in unsupervised_scorers().values():
        with pytest.raises(ValueError, match="SourceTargetShuffleSplit"):
            scorer(clf, Xs, ys)  # no target rows in the fold
    with pytest.raises(TypeError, match="transform"):
        X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
        DeepEmbeddedValidation()(LogisticRegression().fit(Xs, ys), X, y)
    with pytest.raises(ValueError, match="loss"):
        ImportanceWeightedScorer(loss="hinge")(clf, X, y)


def test_scorers_and_splitters_pickle_and_request_metadata():
    for obj in [*unsupervised_scorers().values(), SourceTargetShuffleSplit()]:
        again = pickle.loads(pickle.dumps(obj))
        assert repr(again) == repr(obj)
    assert PredictionEntropyScorer().get_metadata_routing().score.requests == {
        "sample_domain": True
    }
    assert SourceTargetShuffleSplit().get_metadata_routing().split.requests == {
        "groups": True,
        "sample_domain": True,
    }
    with pytest.raises(TypeError, match="consumes only"):
        PredictionEntropyScorer()._set_request(sample_weight=True)


# ---- splitters ----------------------------------------------------------------------


@pytest.mark.parametrize("use_sample_domain", [False, True])
@pytest.mark.parametrize("target_test_size", [None, 0.5])
def test_source_target_shuffle_split_properties(use_sample_domain, target_test_size):
    rng = np.random.default_rng(0)
    n_s, n_t = 60, 40
    X = rng.normal(size=(n_s + n_t, 3))
    y = np.r_[rng.integers(0, 3, n_s), np.full(n_t, -1)]
    sd = np.r_[np.ones(n_s, int), -np.ones(n_t, int)]
    perm = rng.permutation(n_s + n_t)  # domains interleaved, not in blocks
    X, y, sd = X[perm], y[perm], sd[perm]
    cv = SourceTargetShuffleSplit(
        4, test_size=0.25, target_test_size=target_test_size, random_state=0
    )
    kwargs = {"sample_domain": sd} if use_sample_domain else {}
    splits = list(cv.split(X, y, **kwargs))
    assert len(splits) == cv.get_n_splits() == 4
    source, target = set(np.flatnonzero(sd > 0)), set(np.flatnonzero(sd < 0))
    tests = []
    for train, test in splits:
        train, test = set(train), set(test)
        assert target <= train  # every training fold has every target row
        assert not (train & test & source)  # no labelled source row on both sides
        assert len(test & source) == 15
        assert len(test & target) == (n_t if target_test_size is None else 20)
        assert (train | test) >= source
        tests.append(frozenset(test & source))
    assert len(set(tests)) == 4  # the shuffles differ
    # reproducible with an int random_state
    again = list(cv.split(X, y, **kwargs))
    for (a, b), (c, d) in zip(splits, again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_leave_one_domain_out_properties():
    sd = np.array([1, 2, 3, 1, 2, 3, -1, -1, 2])
    X = np.zeros((len(sd), 2))
    cv = LeaveOneDomainOut()
    assert cv.get_n_splits(groups=sd) == cv.get_n_splits(sample_domain=sd) == 3
    splits = list(cv.split(X, sample_domain=sd))
    for (a, b), (c, d) in zip(splits, cv.split(X, groups=sd)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    for d, (train, test) in zip([1, 2, 3], splits):
        assert set(np.flatnonzero(sd < 0)) <= set(train) & set(test)
        assert set(sd[test]) == {d, -1}
        assert d not in set(sd[train])
    no_target = list(LeaveOneDomainOut(include_target=False).split(X, groups=sd))
    assert all(set(sd[test]) == {d} for d, (_, test) in zip([1, 2, 3], no_target))
    with pytest.raises(ValueError, match="needs the domain"):
        list(cv.split(X))
    with pytest.raises(ValueError, match="at least 2 source domains"):
        list(cv.split(X, groups=np.where(sd > 0, 1, -1)))


def test_leave_one_domain_out_without_routing_through_groups():
    """No routing: GridSearchCV / cross_val_score pass groups to the splitter."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    y = (X[:, 0] > 0).astype(int)
    sd = np.repeat([1, 2, -1], 30)
    y[sd < 0] = -1
    cv = LeaveOneDomainOut()
    search = GridSearchCV(
        FeatureLR(),
        {"C": [0.1, 1.0]},
        scoring=DeepEmbeddedValidation(),
        cv=cv,
        error_score="raise",
    ).fit(X, y, groups=sd)
    assert search.n_splits_ == 2
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    scores = cross_val_score(
        FeatureLR(), X, y, groups=sd, scoring=ImportanceWeightedScorer(), cv=cv
    )
    assert scores.shape == (2,) and np.all(scores < 0)


# ---- pack / unpack -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dense", "sparse", "frame", "images"])
def test_pack_unpack_round_trip(kind):
    rng = np.random.default_rng(0)
    shape = (4, 4) if kind == "images" else (5,)
    make = {
        "dense": lambda n: rng.normal(size=(n, *shape)),
        "images": lambda n: rng.normal(size=(n, *shape)),
        "sparse": lambda n: sp.random(n, 5, density=0.3, format="csr", random_state=0),
        "frame": lambda n: pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde")),
    }[kind]
    sources = [(make(6), rng.integers(0, 3, 6)), (make(4), rng.integers(0, 3, 4))]
    targets = [make(3), make(5)]
    X, y, sd = pack_domains(source=sources, target=targets)
    assert sd.tolist() == [1] * 6 + [2] * 4 + [-1] * 3 + [-2] * 5
    assert y.tolist() == [*sources[0][1], *sources[1][1]] + [-1] * 8
    assert sp.issparse(X) == (kind == "sparse")
    assert isinstance(X, pd.DataFrame) == (kind == "frame")

    def dense(A):
        return A.toarray() if sp.issparse(A) else np.asarray(A)

    Xs, ys, Xt, yt = unpack_domains(X, y, sd)
    np.testing.assert_array_equal(
        dense(Xs), np.r_[dense(sources[0][0]), dense(sources[1][0])]
    )
    np.testing.assert_array_equal(ys, np.r_[sources[0][1], sources[1][1]])
    np.testing.assert_array_equal(
        dense(Xt), np.r_[dense(targets[0]), dense(targets[1])]
    )
    assert np.all(yt == -1)
    # by domain, and back again
    by_src, by_tgt = unpack_domains(X, y, sd, by_domain=True)
    assert list(by_src) == [1, 2] and list(by_tgt) == [-1, -2]
    X2, y2, sd2 = pack_domains(by_src, by_tgt, mask_target_labels=False)
    np.testing.assert_array_equal(dense(X2), dense(X))
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(sd2, sd)


def test_pack_domains_labels_dicts_and_mask_inference():
    Xs, ys = np.zeros((3, 2)), np.array(["a", "b", "a"])
    Xt, yt = np.ones((2, 2)), np.array(["b", "a"])
    X, y, sd = pack_domains({"books": (Xs, ys)}, {"dvd": (Xt, yt)})
    assert y.tolist() == ["a", "b", "a", -1, -1] and sd.tolist() == [1, 1, 1, -1, -1]
    _, y_kept, _ = pack_domains((Xs, ys), (Xt, yt), mask_target_labels=False)
    assert y_kept.tolist() == ["a", "b", "a", "b", "a"]
    _, _, sd_keys = pack_domains({3: (Xs, ys)}, {-7: Xt})
    assert sd_keys.tolist() == [3, 3, 3, -7, -7]
    # without sample_domain, the mask tells target rows apart
    Xs2, ys2, Xt2, _ = unpack_domains(X, y)
    assert Xs2.shape == (3, 2) and Xt2.shape == (2, 2) and ys2.tolist() == list(ys)
    with pytest.raises(ValueError, match="same shape"):
        pack_domains((Xs, ys), np.ones((2, 3)))
    with pytest.raises(ValueError, match="cannot be 0"):
        unpack_domains(X, y, np.zeros(5, int))
    with pytest.raises(ValueError, match="no labels"):
        pack_domains([Xs], Xt)
