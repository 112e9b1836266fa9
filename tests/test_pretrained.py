"""Pretrained networks as users have them: files, feature maps, cut points."""

import keras
import numpy as np
import pytest

from keras_transfer import DomainAdaptiveClassifier, TransferClassifier


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    X = rng.random((60, 8, 8, 3)).astype("float32")
    y = (X[:, :4].mean(axis=(1, 2, 3)) > X[:, 4:].mean(axis=(1, 2, 3))).astype(int)
    return X, y


def conv_net(n_out=2):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(n_out, name="head")(x))


def test_feature_layer_on_a_feature_map_is_pooled(images):
    """feature_layer naming a conv layer (a 4-D output) used to fail with a raw
    Keras loss error (target and output shapes differ)."""
    X, y = images
    clf = DomainAdaptiveClassifier(
        "source_only",
        backbone=conv_net(),
        feature_layer="conv",
        epochs=1,
        random_state=0,
    ).fit((X[:40], y[:40]), X[40:])
    assert clf.predict_proba(X).shape == (60, 2)
    assert clf.transform(X).shape == (60, 4)  # 4 channels, pooled
    tc = TransferClassifier(
        source_model=conv_net(), feature_layer="conv", epochs=1, random_state=0
    ).fit(X, y)
    assert tc.predict_proba(X).shape == (60, 2)
