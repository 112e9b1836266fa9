"""SHOT (source-free) and TENT (test-time) adaptation from a trained model.

A small Keras network is trained on the source rows of rotated moons; the
estimators then see the target rows only. Each test checks the quantity the
method optimises against the source network it started from.
"""

import functools
import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone

from keras_transfer.data import DomainBatches
from keras_transfer.datasets import make_rotated_moons
from keras_transfer.estimators.source_free import (
    SHOTClassifier,
    TentClassifier,
    shot_pseudo_labels,
)


@functools.cache
def moons(seed=0):
    return make_rotated_moons(300, 300, angle=35, random_state=seed)


@functools.cache
def source_network(batchnorm: bool, seed=0):
    Xs, ys, _, _ = moons(seed)
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((2,)), keras.layers.Dense(32)]
    if batchnorm:
        layers.append(keras.layers.BatchNormalization())
    layers += [keras.layers.ReLU(), keras.layers.Dense(32, activation="relu")]
    layers.append(keras.layers.Dense(2))
    model = keras.Sequential(layers)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(Xs, ys, epochs=30, batch_size=32, verbose=0)
    return model


def probs_of(model, X):
    z = np.asarray(model.predict(X, verbose=0), "float64")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def entropy(p):
    return float(np.mean(-np.sum(p * np.log(p + 1e-12), axis=1)))


@functools.cache
def shot(seed=0):
    # The mechanism at a large step (the paper's β, Adam 1e-3): on 2-D moons
    # ten epochs at the default 1e-5 barely move the network.
    return SHOTClassifier(
        source_network(False, seed),
        epochs=10,
        learning_rate=1e-3,
        pseudo_label_weight=0.3,
        random_state=seed,
    ).fit(moons(seed)[2])


def test_shot_maximises_information_on_the_target_without_source_rows():
    Xt = moons()[2]
    before = probs_of(source_network(False), Xt)
    after = shot().predict_proba(Xt)
    assert entropy(after) < 0.8 * entropy(before), (entropy(after), entropy(before))
    # Diversity keeps both classes: the mean prediction stays near uniform.
    mean = after.mean(axis=0)
    assert -np.sum(mean * np.log(mean)) > 0.9 * np.log(2)
    # Trained as the library's one model: the entropy strategy with the
    # pseudo-labels as task labels at β.
    model = shot().model_
    assert type(model).__name__ == "AdaptationModel"
    assert model.strategy.label_weight == 0.3
    assert len(shot().history_["task_loss"]) == 10


def test_shot_at_its_defaults_does_not_lose_to_the_source_network():
    """Defaults are small steps (Adam 1e-5, β 0.1): SHOT must not pay for an
    adaptation it cannot check (no target labels) by losing accuracy the
    source network had; on rotated moons, where there is little to gain, the
    mean over three seeds stays within 2 points of the source network."""
    gaps = []
    for seed in range(3):
        Xt, yt = moons(seed)[2], moons(seed)[3]
        source = source_network(False, seed)
        before = np.mean(np.argmax(probs_of(source, Xt), axis=1) == yt)
        after = np.mean(
            SHOTClassifier(source, random_state=seed).fit(Xt).predict(Xt) == yt
        )
        gaps.append(after - before)
    assert np.mean(gaps) > -0.02, gaps


def test_shot_keeps_the_source_head_and_leaves_the_source_untouched():
    source = source_network(False)
    head = shot().model_.classifier
    for a, b in zip(head.get_weights(), source.layers[-1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(
        shot().model_.feature_extractor.get_weights()[0], source.get_weights()[0]
    )


def test_shot_clones_and_pickles():
    Xt = moons()[2]
    clf = shot()
    assert clone(clf).get_params()["learning_rate"] == 1e-3
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(Xt), clf.predict_proba(Xt))


def test_shot_relabels_the_target_from_the_current_model_each_epoch(monkeypatch):
    """Pseudo-labels come before the first epoch and after each but the last,
    from the model as trained so far (its entropy falls call by call)."""
    entropies = []
    relabel = SHOTClassifier._pseudo_labels

    def spy(self, model, X):
        z = np.asarray(model.predict(X, verbose=0)["logits"], "float64")
        p = np.exp(z - z.max(axis=1, keepdims=True))
        entropies.append(entropy(p / p.sum(axis=1, keepdims=True)))
        return relabel(self, model, X)

    monkeypatch.setattr(SHOTClassifier, "_pseudo_labels", spy)
    SHOTClassifier(
        source_network(False), epochs=4, learning_rate=1e-3, random_state=0
    ).fit(moons()[2])
    assert len(entropies) == 4
    assert entropies[-1] < entropies[0], entropies


def test_domain_batches_take_new_target_labels():
    data = DomainBatches(None, None, np.arange(6.0)[:, None], batch_size=3, seed=0)
    assert (data[0][1]["label"] == -1).all()
    data.set_target_labels(np.arange(6) % 2)
    for index in range(len(data)):
        x, y = data[index]
        np.testing.assert_array_equal(y["label"], x[:, 0].astype(int) % 2)
    with pytest.raises(ValueError, match="one label per target row"):
        data.set_target_labels([1])


def test_shot_pseudo_labels_follow_clusters_not_the_head():
    f = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    # The head is confident on row 0 and row 2 only; rows 1 and 3 are close
    # to flat, yet their cluster decides.
    z = np.array([[3.0, 0.0], [0.0, 0.2], [0.0, 3.0], [0.2, 0.0]])
    assert shot_pseudo_labels(f, z).tolist() == [0, 0, 1, 1]


@functools.cache
def tent():
    Xt = moons()[2]
    clf = TentClassifier(source_network(True), batch_size=64, random_state=0)
    for batch in np.array_split(Xt, 10):  # one pass of partial_fit
        clf.partial_fit(batch)
    return clf


def test_tent_lowers_target_entropy_by_normalisation_affine_parameters_only():
    Xt = moons()[2]
    source = source_network(True)
    clf = tent()
    assert clf.n_batches_seen_ == 10
    # Entropy on the adaptation batches themselves, step by step, falls.
    steps = clf.history_["entropy"]
    assert np.mean(steps[-3:]) < np.mean(steps[:3]), steps
    assert entropy(clf.predict_proba(Xt)) < entropy(probs_of(source, Xt))
    model = clf.model_
    for layer in model.feature_extractor.layers + [model.classifier]:
        src = (
            source.get_layer(layer.name)
            if layer.name in [s.name for s in source.layers]
            else None
        )
        if src is None or not layer.weights:
            continue
        changed = [
            not np.array_equal(a, b)
            for a, b in zip(layer.get_weights(), src.get_weights())
        ]
        if isinstance(layer, keras.layers.BatchNormalization):
            assert any(changed)  # gamma/beta (and the moving statistics)
        else:
            assert not any(changed), layer.name


def test_tent_reset_clone_and_pickle():
    Xt = moons()[2]
    clf = pickle.loads(pickle.dumps(tent()))
    np.testing.assert_array_equal(clf.predict_proba(Xt), tent().predict_proba(Xt))
    clf.reset()
    np.testing.assert_allclose(
        clf.predict_proba(Xt), probs_of(source_network(True), Xt), rtol=1e-5, atol=1e-6
    )
    assert clf.n_batches_seen_ == 0
    assert clone(clf).get_params()["batch_size"] == 64
    fitted = TentClassifier(source_network(True), random_state=0).fit(Xt)
    assert fitted.n_batches_seen_ == 3  # one pass, batches of 128


def test_tent_refuses_a_network_without_normalisation():
    with pytest.raises(ValueError, match="normalisation layers"):
        TentClassifier(source_network(False)).partial_fit(moons()[2][:64])


def test_source_free_needs_a_source_model():
    with pytest.raises(ValueError, match="source_model"):
        SHOTClassifier().fit(moons()[2])
