"""DomainAdaptiveClassifier: the two ways in, labels, backbones, adaptation gain."""

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import accuracy
from helpers import run_python

from keras_transfer import DomainAdaptiveClassifier

FAST = dict(epochs=2, batch_size=32, random_state=0, jit_compile=False)


def test_dann_beats_source_only_on_rotated_moons(moons):
    """Rotated moons, 30°, 2000 + 2000 rows: DANN beats source-only by 5 points.

    DANN with the recipe's discriminator dropout (0.5), a 64-64 discriminator
    and λ = 1; 50 epochs of batch 64 for both rows. Measured (issue 12), mean
    of seeds 0-4 (0-9): jax 0.951 vs 0.781, +17.0 (+16.7); torch 0.943 vs
    0.780, +16.3 (+11.7); TensorFlow 0.921 vs 0.789, +13.2 (+15.1). Per seed
    DANN lands at 0.74-0.97 (4 of 30 runs under 0.8), hence the mean of 5.
    Without dropout the same DANN failed on a third of the seeds (0.73-0.81),
    and the recipe's 1024-1024 discriminator on these 2-d moons half the time
    (jax, 10 seeds: 0.867); on real dense rows the 1024-1024 one is the better
    (flattened digits, Amazon; see docs/strategies/dann.md).
    """
    Xs, ys, Xt, yt = moons
    params = dict(epochs=50, batch_size=64)
    dann = dict(adaptation_weight=1.0, strategy_params={"units": (64, 64)})
    scores = {}
    for strategy in ("source_only", "dann"):
        extra = dann if strategy == "dann" else {}
        scores[strategy] = np.mean(
            [
                accuracy(
                    DomainAdaptiveClassifier(
                        strategy, random_state=seed, **params, **extra
                    ).fit((Xs, ys), Xt),
                    Xt,
                    yt,
                )
                for seed in range(5)
            ]
        )
    print(scores)
    assert scores["dann"] >= scores["source_only"] + 0.05, scores


def test_explicit_keyword_and_packed_forms_agree(small_moons):
    Xs, ys, Xt, _ = small_moons
    a = DomainAdaptiveClassifier(**FAST).fit((Xs, ys), Xt)
    b = DomainAdaptiveClassifier(**FAST).fit(source=(Xs, ys), target=Xt)
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, -np.ones(len(Xt), int)])
    c = DomainAdaptiveClassifier(**FAST).fit(X, y)
    sd = np.concatenate([np.ones(len(Xs), int), -np.ones(len(Xt), int)])
    d = DomainAdaptiveClassifier(**FAST).fit(X, y, sample_domain=sd)
    pa = a.predict_proba(Xt)
    for other in (b, c, d):
        np.testing.assert_allclose(other.predict_proba(Xt), pa, rtol=1e-4, atol=1e-5)


def test_predict_proba_score_and_string_labels(small_moons):
    Xs, ys, Xt, yt = small_moons
    names = np.array(["cat", "dog"])
    clf = DomainAdaptiveClassifier(**FAST).fit((Xs, names[ys]), Xt)
    assert list(clf.classes_) == ["cat", "dog"]
    proba = clf.predict_proba(Xt)
    assert proba.shape == (len(Xt), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    pred = clf.predict(Xt)
    assert set(pred) <= {"cat", "dog"}
    np.testing.assert_array_equal(pred, names[proba.argmax(1)])
    assert 0.0 <= clf.score(Xt, names[yt]) <= 1.0
    assert clf.n_features_in_ == 2
    # Binary: one score per row, positive for classes_[1] (sklearn convention).
    scores = clf.decision_function(Xt)
    assert scores.shape == (len(Xt),)
    np.testing.assert_array_equal(names[(scores > 0).astype(int)], pred)
    assert clf.transform(Xt).shape[0] == len(Xt)


def test_multiclass_and_dataframe_feature_names():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(300, n_features=4, centers=3, random_state=0)
    cols = ["a", "b", "c", "d"]
    Xs, Xt = pd.DataFrame(X[:200], columns=cols), pd.DataFrame(X[200:], columns=cols)
    clf = DomainAdaptiveClassifier(epochs=5, random_state=0).fit((Xs, y[:200]), Xt)
    assert list(clf.feature_names_in_) == cols
    assert clf.predict_proba(Xt).shape == (100, 3)
    assert accuracy(clf, Xt, y[200:]) > 0.9
    # A refit on plain arrays forgets the column names.
    clf.fit((X[:200], y[:200]), X[200:])
    assert not hasattr(clf, "feature_names_in_")


def test_semi_supervised_target_labels_join_the_task_loss(small_moons):
    Xs, ys, Xt, yt = small_moons
    partial = np.full(len(yt), -1)
    partial[:20] = yt[:20]
    clf = DomainAdaptiveClassifier(**FAST).fit((Xs, ys), (Xt, partial))
    assert clf.model_.total_steps.numpy() > 0
    unsup = DomainAdaptiveClassifier(**FAST).fit((Xs, ys), Xt)
    assert not np.allclose(clf.predict_proba(Xt), unsup.predict_proba(Xt))


def _functional_backbone():
    inputs = keras.Input((2,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    h = keras.layers.Dense(8, activation="relu", name="features")(h)
    out = keras.layers.Dense(2, name="old_head")(h)
    return keras.Model(inputs, out)


@keras.saving.register_keras_serializable(package="tests")
class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(8, activation="relu")

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed", "callable"])
def test_user_backbones(kind, small_moons):
    Xs, ys, Xt, _ = small_moons
    feature_layer = None
    if kind == "functional":
        backbone, feature_layer = _functional_backbone(), "features"
    elif kind == "sequential":
        backbone = keras.Sequential(
            [
                keras.Input((2,)),
                keras.layers.Dense(8, activation="relu", name="f"),
                keras.layers.Dense(2),
            ]
        )
        feature_layer = "f"
    elif kind == "subclassed":
        backbone = _Subclassed()
        backbone(np.zeros((1, 2), "float32"))  # built, with weights
    else:

        def backbone(shape):
            return keras.Sequential([keras.Input(shape), keras.layers.Dense(8)])

    before = None
    if isinstance(backbone, keras.Model):
        before = [w.copy() for w in backbone.get_weights()]
    clf = DomainAdaptiveClassifier(
        backbone=backbone, feature_layer=feature_layer, **FAST
    ).fit((Xs, ys), Xt)
    assert clf.transform(Xt).shape == (len(Xt), 8)
    if before is not None:  # the user's model is copied, never trained in place
        for a, b in zip(before, backbone.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_pretrained_backbone_weights_are_used(small_moons):
    Xs, ys, Xt, _ = small_moons
    backbone = _functional_backbone()
    clf = DomainAdaptiveClassifier(
        backbone=backbone,
        feature_layer="features",
        epochs=1,
        learning_rate=1e-12,
        random_state=0,
    ).fit((Xs, ys), Xt)
    cut = keras.Model(backbone.inputs, backbone.get_layer("features").output)
    np.testing.assert_allclose(
        clf.transform(Xt), cut.predict(Xt, verbose=0), rtol=1e-4, atol=1e-5
    )


def test_image_inputs_with_cnn_backbone():
    from keras_transfer.datasets import load_digits_shift

    Xs, ys, Xt, yt = load_digits_shift(random_state=0)
    clf = DomainAdaptiveClassifier(
        "dann",
        backbone="cnn",
        backbone_params={"filters": (8,), "units": 16},
        epochs=2,
        batch_size=64,
        random_state=0,
    ).fit((Xs, ys), Xt)
    assert clf.input_shape_ == (8, 8, 1)
    assert clf.predict(Xt).shape == (len(Xt),)
    assert clf.predict(Xt[..., None]).shape == (len(Xt),)  # explicit channel axis


def test_sparse_input(small_moons):
    import scipy.sparse as sp

    Xs, ys, Xt, _ = small_moons
    # λ given: the recipes choose λ by kind of data, and sparse rows (text)
    # get another default than dense vectors; the data path is compared here.
    params = dict(FAST, adaptation_weight=0.3)
    dense = DomainAdaptiveClassifier(**params).fit((Xs, ys), Xt)
    sparse = DomainAdaptiveClassifier(**params).fit(
        (sp.csr_matrix(Xs), ys), sp.csr_matrix(Xt)
    )
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(Xt)),
        dense.predict_proba(Xt),
        rtol=1e-4,
        atol=1e-5,
    )


def test_history_has_task_and_adaptation_terms(small_moons):
    Xs, ys, Xt, _ = small_moons
    clf = DomainAdaptiveClassifier(**FAST).fit(
        (Xs, ys), Xt, validation_data=(Xs[:50], ys[:50])
    )
    for key in (
        "loss",
        "task_loss",
        "adaptation_loss",
        "lambda",
        "accuracy",
        "val_loss",
        "val_accuracy",
    ):
        assert len(clf.history_[key]) == 2, key


def test_callbacks_and_early_stopping(small_moons):
    Xs, ys, Xt, _ = small_moons
    stop = keras.callbacks.EarlyStopping(
        monitor="task_loss", mode="min", patience=0, min_delta=10.0
    )
    clf = DomainAdaptiveClassifier(epochs=10, callbacks=[stop], random_state=0)
    clf.fit((Xs, ys), Xt)
    assert len(clf.history_["loss"]) < 10


def test_steps_per_call_change_no_result(small_moons, monkeypatch):
    """Several steps per compiled call (TF/JAX, arrays) fit exactly as one per
    call: same steps, same order, same λ; a batch-level callback still sees
    every step."""
    from keras_transfer import backend

    Xs, ys, Xt, _ = small_moons
    params = dict(FAST, epochs=3)

    class PerBatch(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1

    class Probe(keras.callbacks.Callback):  # no batch hooks: k stays > 1
        def on_train_begin(self, logs=None):
            self.k = self.model.steps_per_execution

    probe = Probe()
    fast = DomainAdaptiveClassifier(**params, callbacks=[probe]).fit((Xs, ys), Xt)
    assert (probe.k == 1) == (backend.name() == "torch"), probe.k
    assert fast.model_.steps_per_execution == 1  # what pickling saves: loads anywhere
    counter = PerBatch()
    DomainAdaptiveClassifier(**params, callbacks=[counter]).fit((Xs, ys), Xt)
    steps = 3 * -(-max(len(Xs), len(Xt)) // 32)
    assert counter.steps == steps
    assert float(keras.ops.convert_to_numpy(fast.model_.step_counter)) == steps
    monkeypatch.setattr(backend, "steps_per_execution", lambda *a, **k: 1)
    one = DomainAdaptiveClassifier(**params).fit((Xs, ys), Xt)
    np.testing.assert_allclose(
        fast.predict_proba(Xt), one.predict_proba(Xt), rtol=1e-5, atol=1e-6
    )
    for key in ("task_loss", "adaptation_loss", "lambda"):
        np.testing.assert_allclose(fast.history_[key], one.history_[key], rtol=1e-5)


@pytest.mark.parametrize("regularized", [False, True])
def test_jit_compiled_fit_with_and_without_layer_losses(small_moons, regularized):
    """jit_compile=True (XLA on jax/TF, torch.compile on torch) trains, with
    and without layer losses: an empty loss list once crashed torch.compile."""
    Xs, ys, Xt, _ = small_moons

    def backbone(shape):
        reg = keras.regularizers.L2(1e-3) if regularized else None
        inputs = keras.Input(shape)
        x = keras.layers.Dense(8, activation="relu", kernel_regularizer=reg)(inputs)
        return keras.Model(inputs, x)

    clf = DomainAdaptiveClassifier(
        "dann",
        backbone=backbone,
        epochs=1,
        batch_size=32,
        random_state=0,
        jit_compile=True,
    ).fit((Xs, ys), Xt)
    history = clf.history_["loss"]
    assert np.isfinite(history).all(), history
    assert clf.predict(Xt).shape == (len(Xt),)


def test_seeded_fit_is_reproducible_and_leaves_tensorflow_unimported():
    """random_state seeds Python, NumPy, the backend and Keras's generator, as
    keras.utils.set_random_seed does, but a JAX or torch process does not pay
    for importing TensorFlow (~10 s, ~450 MB) just to seed it."""
    code = (
        "import sys, numpy as np\n"
        "from keras_transfer import DomainAdaptiveClassifier\n"
        "from keras_transfer.datasets import make_rotated_moons\n"
        "Xs, ys, Xt, _ = make_rotated_moons(64, 64, random_state=0)\n"
        "p = [DomainAdaptiveClassifier('dann', epochs=1, random_state=3,\n"
        "     jit_compile=False).fit((Xs, ys), Xt).predict_proba(Xt)\n"
        "     for _ in range(2)]\n"
        "print(np.array_equal(p[0], p[1]), 'tensorflow' in sys.modules)\n"
    )
    backend = keras.backend.backend()
    stdout = run_python(code, timeout=300)
    same, tf_imported = stdout.split()[-2:]
    assert same == "True"
    assert tf_imported == str(backend == "tensorflow")


def test_source_only_logs_no_adaptation_terms(small_moons):
    """source_only's progress bar showed ``adaptation_loss: 0.0000e+00 -
    lambda: ...``: a strategy without an adaptation term logs none."""
    Xs, ys, Xt, _ = small_moons
    logs = {}
    for name in ("source_only", "dann"):
        clf = DomainAdaptiveClassifier(name, **FAST).fit((Xs, ys), Xt)
        logs[name] = set(clf.history_)
    assert {"adaptation_loss", "lambda"}.isdisjoint(logs["source_only"])
    assert {"task_loss", "accuracy"} <= logs["source_only"]
    assert {"task_loss", "adaptation_loss", "lambda", "accuracy"} <= logs["dann"]
