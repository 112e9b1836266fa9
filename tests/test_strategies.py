"""Domain-adaptation strategies: each one trains and moves what it targets.

Every strategy is fitted on small rotated moons (AdaBN: digits with an
intensity shift and a BatchNorm network) and compared with a reference
trained from the same seed, hence the same initial weights and batches: the
source-only model, or for CDAN the same strategy with λ = 0 (its
discriminator learns, the features do not fight it). The difference is then
the strategy's term alone. Where the change is small next to seed-to-seed
noise, two seeds are averaged. No hyper-parameter here was chosen by looking
at target labels: every strategy runs with its documented defaults.
"""

import functools
import pickle

import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.backbones import build_backbone
from keras_transfer.data import DomainBatches
from keras_transfer.datasets import load_digits_shift, make_rotated_moons
from keras_transfer.losses import mmd
from keras_transfer.models import AdaptationModel
from keras_transfer.strategies import CDAN, available_strategies
from keras_transfer.strategies.adabn import reestimate_batchnorm

MOONS_STRATEGIES = [
    "mmd",
    "coral",
    "wdgrl",
    "cdan",
    "cdan+e",
    "mcc",
    "entropy",
    "distill",
    "adapter",
]
ALL_NEW = [*MOONS_STRATEGIES, "adabn"]
FIT = {"epochs": 20, "batch_size": 32}
N_LABELLED = 30  # labelled target rows in the semi-supervised test


@functools.cache
def moons(seed):
    return make_rotated_moons(200, 200, angle=30, random_state=seed)


def target_labels(seed):
    """N_LABELLED target labels (half per class), -1 elsewhere."""
    _, _, _, yt = moons(seed)
    rng = np.random.default_rng(seed)
    picked = np.concatenate(
        [rng.choice(np.flatnonzero(yt == c), N_LABELLED // 2, False) for c in (0, 1)]
    )
    masked = np.full_like(yt, -1)
    masked[picked] = yt[picked]
    return masked


#: (strategy, seed, semi_supervised) -> what AdapterProbe saw when adaptation began.
PROBES = {}


@functools.cache
def fitted(strategy, seed, semi_supervised=False, adaptation_weight=1.0):
    Xs, ys, Xt, _ = moons(seed)
    target = (Xt, target_labels(seed)) if semi_supervised else Xt
    probe = AdapterProbe(np.concatenate([Xs, Xt])) if strategy == "adapter" else None
    clf = DomainAdaptiveClassifier(
        strategy,
        adaptation_weight=adaptation_weight,
        random_state=seed,
        callbacks=None if probe is None else [probe],
        **FIT,
    )
    clf.fit((Xs, ys), target)
    if probe is not None:
        PROBES[strategy, seed, semi_supervised] = probe.begin
        clf.set_params(callbacks=None)  # keep the fitted estimator picklable
    return clf


class AdapterProbe(keras.callbacks.Callback):
    """Records, when adaptation starts, the model with and without adapter."""

    def __init__(self, X):
        super().__init__()
        self.X = X

    def on_train_begin(self, logs=None):
        model = self.model
        with_adapter = model(self.X, training=False)
        source = model.classifier(model.feature_extractor(self.X, training=False))
        self.begin = (
            keras.ops.convert_to_numpy(with_adapter["logits"]),
            keras.ops.convert_to_numpy(source),
            keras.ops.convert_to_numpy(with_adapter["features"]),
            [np.copy(w) for w in model.feature_extractor.get_weights()],
        )


def bn_backbone(input_shape):
    """A small MLP with BatchNorm (AdaBN needs BatchNorm layers)."""
    return keras.Sequential(
        [
            keras.Input(tuple(input_shape)),
            keras.layers.Flatten(),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(32),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
        ]
    )


@functools.cache
def fitted_adabn(strategy):
    Xs, ys, Xt, yt = load_digits_shift(random_state=0)
    clf = DomainAdaptiveClassifier(
        strategy, backbone=bn_backbone, epochs=6, batch_size=64, random_state=0
    )
    return clf.fit((Xs, ys), Xt)


def fitted_any(strategy, seed=0):
    return fitted_adabn(strategy) if strategy == "adabn" else fitted(strategy, seed)


def data_of(strategy):
    return load_digits_shift(random_state=0) if strategy == "adabn" else moons(0)


# ---- measured quantities ----------------------------------------------------


def feature_mmd(clf, seed):
    Xs, _, Xt, _ = moons(seed)
    return float(mmd(clf.transform(Xs), clf.transform(Xt)))


def discriminator_edge(clf, seed):
    """How far below chance (log 2) the domain discriminator's loss ends."""
    return float(np.log(2.0) - np.mean(clf.history_["adaptation_loss"][-3:]))


def logits(clf, X):
    """The model's logits (``predict`` runs the same batches of 256)."""
    X = np.asarray(X, "float32").reshape((len(X), *clf.input_shape_))
    return np.asarray(clf.model_.predict(X, batch_size=256, verbose=0)["logits"])


def logit_coral(clf, seed):
    """Relative covariance gap of the logits (scale-free Deep CORAL distance)."""
    Xs, _, Xt, _ = moons(seed)
    cs, ct = (np.cov(logits(clf, X).T) for X in (Xs, Xt))
    return float(np.linalg.norm(cs - ct) / (np.linalg.norm(cs) + np.linalg.norm(ct)))


def target_entropy(clf, seed):
    p = clf.predict_proba(moons(seed)[2])
    return float(np.mean(-np.sum(p * np.log(p + 1e-12), axis=1)))


# strategy -> (quantity that must fall, seeds averaged, baseline). The
# baseline is the source-only model; for CDAN it is the same strategy with
# λ = 0: its discriminator learns as usual but the features do not fight it,
# so the comparison isolates the conditional adversarial alignment.
FALLS = {
    "mmd": (feature_mmd, (0,), "source_only"),
    "coral": (logit_coral, (0,), "source_only"),
    "wdgrl": (feature_mmd, (0, 1), "source_only"),
    "cdan": (discriminator_edge, (0,), "lambda=0"),
    "cdan+e": (discriminator_edge, (0,), "lambda=0"),
    "mcc": (target_entropy, (0,), "source_only"),
    "entropy": (target_entropy, (0,), "source_only"),
}


def test_every_strategy_is_registered():
    assert set(ALL_NEW) <= set(available_strategies())


@pytest.mark.parametrize("strategy", list(FALLS))
def test_strategy_moves_its_quantity(strategy):
    measure, seeds, reference = FALLS[strategy]
    adapted = np.mean([measure(fitted(strategy, s), s) for s in seeds])
    if reference == "lambda=0":
        baselines = [fitted(strategy, s, adaptation_weight=0.0) for s in seeds]
    else:
        baselines = [fitted(reference, s) for s in seeds]
    baseline = np.mean([measure(clf, s) for clf, s in zip(baselines, seeds)])
    assert np.isfinite(adapted)
    assert adapted < 0.8 * baseline, (strategy, adapted, baseline)


@functools.cache
def oracle_distilled():
    """A "distill" model whose teacher knows the target: trained, in
    before_fit, on the target rows and labels (only this test does that).
    The student itself never sees a target label."""
    Xs, ys, Xt, yt = moons(0)
    keras.utils.set_random_seed(0)
    model = AdaptationModel(build_backbone("mlp", (2,)), 2, strategy="distill")
    model.build((None, 2))
    model.compile(optimizer="adam")
    oracle = DomainBatches(Xt, yt, batch_size=FIT["batch_size"], seed=0)
    model.strategy.before_fit(model, oracle, FIT["epochs"])
    batches = DomainBatches(Xs, ys, Xt, batch_size=FIT["batch_size"], seed=0)
    model.set_total_steps(FIT["epochs"] * len(batches))
    model.fit(batches, epochs=FIT["epochs"], verbose=0)
    return model


def test_distill_transfers_the_teachers_target_knowledge():
    model = oracle_distilled()
    teacher_model = model.strategy.teacher
    assert teacher_model is not None and not teacher_model.trainable
    _, _, Xt, yt = moons(0)

    def says(m):
        return np.argmax(m.predict(Xt, batch_size=256, verbose=0)["logits"], axis=1)

    teacher = says(teacher_model)
    plain = says(fitted("source_only", 0).model_)
    assert np.mean(teacher == yt) > np.mean(plain == yt)  # it knows more
    # The student follows the teacher on the target far more closely than a
    # source-only model (same architecture, data and seed) does.
    student_agrees = np.mean(says(model) == teacher)
    plain_agrees = np.mean(plain == teacher)
    assert 1 - student_agrees < 0.5 * (1 - plain_agrees), (
        student_agrees,
        plain_agrees,
    )


def test_adapter_starts_as_source_model_and_adapts_features():
    Xs, ys, Xt, _ = moons(0)
    X = np.concatenate([Xs, Xt])
    clf = fitted("adapter", 0)
    logits, source_logits, features, backbone = PROBES["adapter", 0, False]
    # Zero-initialised residual: the source model, bit for bit.
    np.testing.assert_array_equal(logits, source_logits)
    assert np.abs(source_logits).max() > 0
    # Source phase trained (well above chance), backbone then frozen.
    assert np.mean(source_logits[: len(Xs)].argmax(1) == ys) > 0.8
    for before, after in zip(backbone, clf.model_.feature_extractor.get_weights()):
        np.testing.assert_array_equal(before, after)
    # The adapter moved the features and shrank the domain gap.
    assert not np.array_equal(clf.transform(X), features)
    before_mmd = float(mmd(features[: len(Xs)], features[len(Xs) :]))
    assert feature_mmd(clf, 0) < 0.8 * before_mmd


def test_adabn_sets_batchnorm_statistics_to_target():
    Xs, ys, Xt, yt = load_digits_shift(random_state=0)
    clf = fitted_adabn("adabn")
    fe = clf.model_.feature_extractor
    bn1, dense, bn2 = fe.layers[1], fe.layers[2], fe.layers[3]
    flat_t = Xt.reshape(len(Xt), -1).astype("float64")
    flat_s = Xs.reshape(len(Xs), -1).astype("float64")
    mean1 = keras.ops.convert_to_numpy(bn1.moving_mean)
    np.testing.assert_allclose(mean1, flat_t.mean(0), atol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn1.moving_variance), flat_t.var(0), atol=1e-5
    )
    assert np.abs(mean1 - flat_s.mean(0)).max() > 0.1
    # The second layer's statistics are those of the target after the first
    # (already re-estimated) BatchNorm.
    h = keras.ops.convert_to_numpy(dense(bn1(flat_t.astype("float32"))))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn2.moving_mean), h.mean(0), rtol=1e-3, atol=1e-3
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn2.moving_variance),
        h.var(0),
        rtol=1e-3,
        atol=1e-3,
    )
    # Same seed, same training; the reference gets exact *source* statistics
    # (Keras's moving averages lag after few steps), so only the domain of
    # the statistics differs.
    plain = pickle.loads(pickle.dumps(fitted_adabn("source_only")))
    reestimate_batchnorm(plain.model_, Xs[..., None])
    assert np.mean(clf.predict(Xt) == yt) > np.mean(plain.predict(Xt) == yt)


def test_adabn_needs_batchnorm():
    Xs, ys, Xt, _ = moons(0)
    clf = DomainAdaptiveClassifier("adabn", epochs=1)
    with pytest.raises(ValueError, match="BatchNormalization"):
        clf.fit((Xs, ys), Xt)


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the labels take the same backend-neutral path (the task loss) on "
    "every backend; one backend checks their effect",
)
def test_semi_supervised_target_labels_are_used():
    """A few labelled target rows (-1 elsewhere) change and improve the fit."""
    accuracy = {True: [], False: []}
    for seed in (0, 1):
        _, _, Xt, yt = moons(seed)
        unlabelled = target_labels(seed) < 0
        for semi in (True, False):
            clf = fitted("wdgrl", seed, semi_supervised=semi)
            hits = clf.predict(Xt[unlabelled]) == yt[unlabelled]
            accuracy[semi].append(np.mean(hits))
        assert not np.array_equal(
            logits(fitted("wdgrl", seed, True), Xt), logits(fitted("wdgrl", seed), Xt)
        )
    assert np.mean(accuracy[True]) > np.mean(accuracy[False]), accuracy


@pytest.mark.parametrize("strategy", ALL_NEW)
def test_save_load_and_pickle_round_trip(strategy, tmp_path):
    if strategy == "distill":  # the teacher is a training-time helper
        model, X = oracle_distilled(), moons(0)[2]
        clf = None
    else:
        clf, X = fitted_any(strategy), data_of(strategy)[2]
        model = clf.model_
        X = np.asarray(X, "float32").reshape((len(X), *clf.input_shape_))
    expected = np.asarray(model.predict(X, batch_size=256, verbose=0)["logits"])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.strategy.name_ == strategy
    out = loaded.predict(X, batch_size=256, verbose=0)
    np.testing.assert_array_equal(np.asarray(out["logits"]), expected)
    if clf is not None:
        copy = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(logits(copy, X), expected)
    else:
        copy = pickle.loads(pickle.dumps(model))
        out = copy.predict(X, batch_size=256, verbose=0)
        np.testing.assert_array_equal(np.asarray(out["logits"]), expected)


def test_cdan_randomized_map_is_fixed_and_saved():
    features = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64)])
    model = AdaptationModel(features, 3, CDAN(max_dim=64, random_dim=32))
    model.build((None, 2))
    strategy = model.strategy
    assert strategy.randomized  # 64 features x 3 classes > max_dim
    assert strategy.random_features.shape == (64, 32)
    assert strategy.random_probs.shape == (3, 32)
    assert not strategy.random_features.trainable
    X = moons(0)[0][:16]
    out = model(X, training=True)
    assert tuple(out["domain_logits"].shape) == (16, 1)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.strategy.randomized
    for name in ("random_features", "random_probs"):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(getattr(copy.strategy, name)),
            keras.ops.convert_to_numpy(getattr(strategy, name)),
        )


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="sklearn plumbing (clone, set_params, packed fit) is backend-neutral "
    "and each strategy trains on every backend above; one backend (the fastest "
    "to start a model) checks the grid",
)
def test_strategies_in_grid_search():
    Xs, ys, Xt, _ = make_rotated_moons(64, 64, random_state=0)
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    train = np.r_[0:48, 64:112]
    test = np.r_[48:64, 112:128]
    search = GridSearchCV(
        DomainAdaptiveClassifier(
            backbone=bn_backbone, epochs=1, batch_size=16, random_state=0
        ),
        {"strategy": ALL_NEW},
        cv=[(train, test)],
        refit=False,
        error_score="raise",
    )
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and len(scores) == len(ALL_NEW)
