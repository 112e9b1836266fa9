"""TransferClassifier on every backend: what trains, what stays, what loads.

Data: scikit-learn's 8x8 digits, digits 0-4 as the source task and 5-9 as
the target task (different label sets, as in the article's flow).
"""

import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from keras_transfer import TransferClassifier
from keras_transfer.estimators._methods import METHODS, keeps_source
from keras_transfer.models import AdaptationModel

STRATEGIES = list(METHODS)
KEEPS_SOURCE = keeps_source()

BACKBONE = ("conv_a", "conv_b", "features")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8, 1).astype("float32")
    rng = np.random.default_rng(0)
    src = np.flatnonzero(y < 5)
    tgt = rng.permutation(np.flatnonzero(y >= 5))
    return {
        "Xs": X[src],
        "ys": y[src],
        "Xt": X[tgt[:300]],
        "yt": y[tgt[:300]],
        "Xt_test": X[tgt[300:]],
        "yt_test": y[tgt[300:]],
    }


def make_source_model():
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv_a")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv_b")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(16, activation="relu", name="features")(h)
    return keras.Model(inputs, keras.layers.Dense(5, name="head")(h))


@pytest.fixture(scope="module")
def source(digits):
    """A pretrained source model (compiled with SGD at 0.05) with BatchNorm."""
    keras.utils.set_random_seed(0)
    model = make_source_model()
    model.compile(
        keras.optimizers.SGD(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(digits["Xs"], digits["ys"], epochs=3, batch_size=32, verbose=0)
    return model


def small(**kwargs):
    params = dict(epochs=1, steps_per_epoch=3, batch_size=32, random_state=0)
    params.update(kwargs)
    return TransferClassifier(**params)


def weights_of(model, name):
    """Weights of a layer of the source model, or of a fitted model (its
    transferred backbone, or the source head that its strategy keeps)."""
    if isinstance(model, AdaptationModel):
        parts = [model.feature_extractor, getattr(model.strategy, "source_head", None)]
    else:
        parts = [model]
    for part in parts:
        if part is None:
            continue
        try:
            layer = part.get_layer(name)
        except ValueError:
            continue
        # A LoRA-enabled layer (Keras's own) also holds its A and B factors.
        return [np.array(w) for w in layer.weights if "lora_kernel" not in w.path]
    raise ValueError(f"no layer {name!r}")


class StartProbe(keras.callbacks.Callback):
    """The model's outputs on a probe batch before the first training step."""

    def __init__(self, x):
        super().__init__()
        self.x = x

    def on_train_begin(self, logs=None):
        out = self.model(self.x, training=False)
        self.outputs = {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
        self.head = [np.array(w) for w in self.model.classifier.get_weights()]


# Layers whose weights must move in one epoch (3 steps); all others must be
# bit-identical to the source model's. Gradual unfreezing trains the new head
# alone in its first epoch.
CHANGES = {
    "feature_extraction": set(),
    "fine_tune": set(BACKBONE),
    "lp_ft": set(BACKBONE),  # no head-only phase in a 1-epoch fit (a fifth)
    "partial": {"conv_b", "features"},  # default: the lower half frozen
    "gradual": set(),
    "joint": {*BACKBONE, "head"},
    "lwf": {*BACKBONE, "head"},
    "adapter": set(),
    "lora": set(),
    "fusion": set(),
}


class EpochWeights(keras.callbacks.Callback):
    """The first transferred layer's kernel after each epoch."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_epoch_end(self, epoch, logs=None):
        layer = self.model.feature_extractor.get_layer("conv_a")
        self.kernels.append(np.array(layer.get_weights()[0]))


@pytest.mark.parametrize("strategy", ["fine_tune", "lp_ft"])
def test_lp_ft_trains_the_head_alone_first(strategy, digits, source):
    # lp_ft: of 5 epochs, the first (a fifth) trains the new head alone;
    # fine_tune moves the transferred layers from the first step.
    probe = EpochWeights()
    clf = small(strategy=strategy, source_model=source, epochs=5, callbacks=[probe])
    clf.fit(digits["Xt"], digits["yt"])
    start = weights_of(source, "conv_a")[0]
    moved = [not np.array_equal(start, k) for k in probe.kernels]
    expected = [strategy == "fine_tune"] + [True] * 4
    assert moved == expected


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_what_trains_under_each_strategy(strategy, digits, source):
    # 256 rows, one predict batch: every predict below reuses one compiled step
    Xs, ys = digits["Xs"][:256], digits["ys"][:256]
    probe = digits["Xt"][:256]
    start = StartProbe(probe)
    # lwf: a warm-up epoch for the new head alone (Li & Hoiem), then everything
    epochs = 2 if strategy == "lwf" else 1
    clf = small(
        strategy=strategy, source_model=source, callbacks=[start], epochs=epochs
    )
    # source rows: trained on by joint, scored before/after where the task is kept
    keeps = strategy in KEEPS_SOURCE
    clf.fit(digits["Xt"], digits["yt"], source_data=(Xs, ys) if keeps else None)
    net = clf.model_
    names = [*BACKBONE, "bn"] + (["head"] if strategy in ("joint", "lwf") else [])
    for name in names:
        before, after = weights_of(source, name), weights_of(net, name)
        same = all(np.array_equal(a, b) for a, b in zip(before, after))
        # BatchNorm: gamma/beta and moving statistics stay frozen everywhere.
        assert same == (name not in CHANGES[strategy]), (strategy, name)
    assert np.array_equal(  # the user's model is never touched
        weights_of(source, "conv_a")[0], source.get_layer("conv_a").get_weights()[0]
    )
    # The new head always trains.
    head = clf.model_.classifier.get_weights()
    assert not any(np.array_equal(a, b) for a, b in zip(start.head, head))

    features_model = keras.Model(source.inputs, source.get_layer("features").output)
    if strategy in ("adapter", "lora"):
        # Before training, the adapted network equals the source network.
        expected = keras.ops.convert_to_numpy(features_model(probe, training=False))
        assert np.array_equal(start.outputs["features"], expected)
        source_out = keras.ops.convert_to_numpy(source(probe, training=False))
        assert np.array_equal(start.outputs["source_logits"], source_out)
    if strategy == "adapter":
        up = clf.model_.strategy.adapter.up_kernel
        assert np.any(keras.ops.convert_to_numpy(up) != 0)  # the adapter trained
    if strategy == "lora":
        net_weights = clf.model_.feature_extractor.trainable_weights
        b = [w for w in net_weights if "lora_kernel_b" in w.path]
        assert b and all(np.any(keras.ops.convert_to_numpy(w) != 0) for w in b)
        assert all(
            "lora_kernel_a" in w.path or "lora_kernel_b" in w.path for w in net_weights
        )

    if strategy in ("fine_tune", "lwf", "adapter", "lora", "fusion"):
        # The fitted model (with its adapter, LoRA wrappers, reference...) pickles.
        restored = pickle.loads(pickle.dumps(clf))
        assert np.array_equal(restored.predict_proba(probe), clf.predict_proba(probe))

    # Source-task accuracy before (the source model) and after (the fitted model).
    if keeps:
        before = float(np.mean(np.argmax(source.predict(Xs, verbose=0), 1) == ys))
        assert clf.source_score_before_ == pytest.approx(before, abs=1e-6)
        assert clf.source_score_after_ == pytest.approx(clf.score_source(Xs, ys))
        if strategy in ("adapter", "lora"):  # the source path is frozen
            assert clf.source_score_after_ == clf.source_score_before_
    else:
        assert clf.source_score_before_ is clf.source_score_after_ is None
        with pytest.raises(AttributeError, match="does not keep the source task"):
            clf.predict_source(Xs)


def test_joint_pretrains_on_source_data_and_reports_source_accuracy(digits, tmp_path):
    strings = np.array([f"digit {v}" for v in digits["yt"]])
    clf = small(
        strategy="joint",
        backbone="mlp",
        backbone_params={"units": (16,)},
        pretrain_epochs=2,
    )
    clf.fit(source=(digits["Xs"], digits["ys"]), target=(digits["Xt"], strings))
    assert clf.classes_.tolist() == [f"digit {v}" for v in range(5, 10)]
    assert clf.source_classes_.tolist() == [0, 1, 2, 3, 4]
    assert len(clf.source_history_["loss"]) == 2
    assert 0.0 <= clf.source_score_before_ <= 1.0
    assert 0.0 <= clf.source_score_after_ <= 1.0
    assert set(clf.predict(digits["Xt_test"][:5])) <= set(clf.classes_)
    assert clf.training_settings_["inherited"]  # Adam 1e-3 from the pretraining

    # The pretrained model saved as .weights.h5 loads into the named backbone.
    path = tmp_path / "src.weights.h5"
    clf.source_model_.save_weights(path)
    fe = small(
        strategy="feature_extraction", backbone="mlp", backbone_params={"units": (16,)}
    )
    fe.fit(source=str(path), target=(digits["Xt"], digits["yt"]))
    saved = [w for layer in clf.source_model_.layers[:-1] for w in layer.get_weights()]
    loaded = [
        w for layer in fe.model_.feature_extractor.layers for w in layer.get_weights()
    ]
    assert len(saved) == len(loaded) > 0
    assert all(np.array_equal(a, b) for a, b in zip(saved, loaded))


def test_pretrained_files_load_and_fine_tune(digits, source, tmp_path):
    # A fresh copy per file: Keras's legacy .h5 writer drops the optimizer
    # from the model's compile config as a side effect.
    for suffix in (".keras", ".h5"):
        model = keras.models.clone_model(source)
        model.set_weights(source.get_weights())
        model.compile(
            keras.optimizers.SGD(0.05),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.save(tmp_path / f"source{suffix}")  # .h5: the legacy Keras 2 format
    # Multiplier 0: the weights loaded from the legacy file come through bit
    # for bit while the new head trains.
    frozen = small(backbone_lr_multiplier=0.0).fit(
        source=str(tmp_path / "source.h5"), target=(digits["Xt"], digits["yt"])
    )
    tuned = small(epochs=2, steps_per_epoch=10).fit(
        source=str(tmp_path / "source.keras"), target=(digits["Xt"], digits["yt"])
    )
    for name in BACKBONE:
        loaded = weights_of(frozen.model_, name)
        assert all(
            np.array_equal(a, b) for a, b in zip(weights_of(source, name), loaded)
        )
        assert not np.array_equal(
            weights_of(source, name)[0], weights_of(tuned.model_, name)[0]
        )
    # Hyper-parameter transfer: the saved SGD optimizer and its rate are reused.
    for clf in (frozen, tuned):
        settings = clf.training_settings_
        assert settings["optimizer"] == "SGD" and settings["inherited"]
        assert settings["learning_rate"] == pytest.approx(0.05)
    assert tuned.score(digits["Xt_test"], digits["yt_test"]) > 0.5  # chance: 0.2


def test_gradual_unfreezing_moves_one_more_layer_each_epoch(digits, source):
    snapshots = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            net = self.model
            snapshots.append({n: weights_of(net, n)[0].copy() for n in BACKBONE})

    clf = small(strategy="gradual", source_model=source, epochs=4, steps_per_epoch=2)
    clf.set_params(callbacks=[Record()]).fit(digits["Xt"], digits["yt"])
    assert clf.gradual_stages_ == [0, 1, 2, 3]
    start = {n: weights_of(source, n)[0] for n in BACKBONE}
    previous = [start] + snapshots[:-1]
    moved = [
        {n for n in BACKBONE if not np.array_equal(prev[n], snap[n])}
        for prev, snap in zip(previous, snapshots)
    ]
    assert moved == [set(), {"features"}, {"features", "conv_b"}, set(BACKBONE)]


def test_clone_and_grid_search_over_strategy(digits, source):
    est = small(source_model=source)
    cloned = clone(est)
    assert cloned.get_params()["strategy"] == "fine_tune"
    assert cloned.source_model is not source  # a copy of the user's model
    X, y = digits["Xt"], digits["yt"]
    idx = np.arange(len(y))
    grid = GridSearchCV(
        est,
        {"strategy": ["feature_extraction", "fine_tune"]},
        cv=[(idx[:200], idx[200:])],
        refit=False,
    ).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 2 and np.all((scores >= 0) & (scores <= 1))


def test_clear_errors(digits, source):
    X, y = digits["Xt"], digits["yt"]
    with pytest.raises(ValueError, match="Unknown strategy"):
        small(strategy="magic", source_model=source).fit(X, y)
    with pytest.raises(ValueError, match="No source: strategy='lwf' needs a source"):
        small(strategy="lwf").fit(X, y)
    with pytest.raises(ValueError, match="joint"):
        small(strategy="joint", source_model=source).fit(X, y)
    with pytest.raises(ValueError, match="resize_images"):
        small(source_model=source).fit(np.zeros((10, 16, 16, 1)), np.arange(10) % 2)
    with pytest.raises(ValueError, match="strategy_params"):
        small(source_model=source, strategy_params={"rank": 2}).fit(X, y)
    with pytest.raises(TypeError, match="given twice"):
        small(source_model=source).fit(source=source, target=(X, y))


@pytest.mark.parametrize("source_inputs", [True, False])
def test_lwf_distils_on_source_inputs_without_their_labels(
    digits, source, monkeypatch, source_inputs
):
    """With source rows at hand, lwf's batches carry as many source inputs as
    target rows (label -1 on both heads: distillation only); without, or with
    ``source_inputs=False``, target rows alone (the paper's LwF)."""
    from keras_transfer.data import DomainBatches

    seen = []
    getitem = DomainBatches.__getitem__

    def recording(self, index):
        batch = getitem(self, index)
        seen.append(batch[1])
        return batch

    monkeypatch.setattr(DomainBatches, "__getitem__", recording)
    clf = small(strategy="lwf", strategy_params={"source_inputs": source_inputs})
    clf.fit(
        source,
        (digits["Xt"], digits["yt"]),
        source_data=(digits["Xs"], digits["ys"]),
    )
    assert seen
    for y in seen:
        target_rows = y["label"] >= 0
        if source_inputs:
            assert target_rows.sum() == (~target_rows).sum() > 0
        else:
            assert target_rows.all()
        assert (y["label"][y["is_source"] == 1] == -1).all()  # source labels unused
    assert clf.source_score_after_ is not None


def test_without_a_source_fit_trains_a_plain_classifier_from_scratch(digits):
    """No source (issue 14, item 11): ``fit(X, y)`` is a plain classifier,
    every layer trained from fresh weights, as scikit-learn's checks expect."""
    clf = small(backbone="mlp", epochs=3, steps_per_epoch=None, learning_rate=1e-2)
    clf.fit(digits["Xt"], digits["yt"])
    assert clf.source_model_ is None and clf.source_classes_ is None
    assert clf.frozen_layers_ == []
    assert clf.score(digits["Xt_test"], digits["yt_test"]) > 0.5  # chance: 0.2
    with pytest.raises(AttributeError, match="does not keep the source task"):
        clf.predict_source(digits["Xt_test"])


def test_validation_data_is_scored_each_epoch_on_the_target_task(digits, source):
    """validation_data (shared with DomainAdaptiveClassifier through
    estimators._validation.validation_batches): rows fed as target rows,
    shaped for the source model's input, labels among the target classes."""
    Xv, yv = digits["Xt_test"][:100], digits["yt_test"][:100]
    clf = small(source_model=source, epochs=2)
    clf.fit(digits["Xt"], digits["yt"], validation_data=(Xv, yv))
    assert len(clf.history_["val_loss"]) == 2
    assert np.all(np.isfinite(clf.history_["val_loss"]))
    flat = small(source_model=source, epochs=2)
    flat.fit(digits["Xt"], digits["yt"], validation_data=(Xv[..., 0], yv))
    np.testing.assert_allclose(flat.history_["val_loss"], clf.history_["val_loss"])
    with pytest.raises(ValueError, match="among the target classes"):
        small(source_model=source).fit(
            digits["Xt"], digits["yt"], validation_data=(Xv, yv - 5)
        )
