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


def saved_source(tmp_path, name="source.keras"):
    model = conv_net()
    model.compile("adam", "sparse_categorical_crossentropy")
    path = tmp_path / name
    model.save(path)
    return path


def damaged(tmp_path, data, name):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_bad_keras_files_name_the_file_and_the_fix(images, tmp_path):
    """An empty, truncated, junk or corrupted .keras source model used to give
    'File not found' (for a file that exists) or a bare BadZipFile."""
    X, y = images
    good = saved_source(tmp_path).read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    cases = {
        "empty.keras": (b"", "the file is empty"),
        "cut.keras": (good[: len(good) // 2], "not one, or is truncated"),
        "junk.keras": (b"no model here", "not one, or is truncated"),
        "flipped.keras": (bytes(flipped), "corrupted|damaged"),
        "junk.h5": (b"no model here", "not an HDF5 file"),
        "junk.weights.h5": (b"\0" * 64, "not an HDF5 file"),
    }
    for name, (data, problem) in cases.items():
        path = damaged(tmp_path, data, name)
        clf = TransferClassifier(source_model=path, epochs=1)
        with pytest.raises(ValueError, match=f"model file .*{name}.*({problem})"):
            clf.fit(X, y)
        assert not hasattr(clf, "model_")


def keras2_h5(tmp_path, lr=1e-4):
    """A legacy HDF5 model whose training_config is Keras 2's (lr=, decay=)."""
    import json

    import h5py

    model = conv_net()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    path = tmp_path / "keras2.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["training_config"])
        config["optimizer_config"] = {
            "class_name": "Adam",
            "config": {"name": "Adam", "lr": lr, "decay": 0.0, "beta_1": 0.8},
        }
        f.attrs["training_config"] = json.dumps(config)
    return path, model


def test_legacy_keras2_h5_model_loads_with_its_optimizer_settings(images, tmp_path):
    """Keras 3 refuses a Keras 2 optimizer config (`lr`, `decay`), so every
    strategy failed on such a file; it now loads uncompiled, and the optimizer
    settings come from its training_config."""
    X, y = images
    path, model = keras2_h5(tmp_path)
    with pytest.raises(ValueError, match="not recognized"):
        keras.saving.load_model(path)  # what Keras itself does with the file
    clf = TransferClassifier(source_model=str(path), epochs=1, random_state=0)
    clf.fit(X, y)
    settings = clf.training_settings_
    assert settings["optimizer"] == "Adam", settings
    assert settings["learning_rate"] == pytest.approx(1e-4), settings
    assert settings["inherited"] is True
    assert float(clf.model_.optimizer.beta_1) == pytest.approx(0.8)
    assert clf.predict_proba(X).shape == (60, 2)


def test_seeded_transfer_fit_leaves_tensorflow_unimported():
    """TransferClassifier asked keras.activations.serialize whether the source
    head was a softmax, which imports TensorFlow (~500 MB) in a JAX or torch
    process."""
    import os
    import subprocess
    import sys

    from keras_transfer.estimators.transfer import _is_softmax

    assert _is_softmax(keras.layers.Dense(2, activation="softmax"))
    assert _is_softmax(keras.layers.Softmax())
    assert not _is_softmax(keras.layers.Dense(2, activation="relu"))
    assert not _is_softmax(keras.layers.Dense(2))
    code = (
        "import sys, keras\n"
        "from keras_transfer import TransferClassifier\n"
        "from keras_transfer.datasets import make_rotated_moons\n"
        "Xs, ys, Xt, yt = make_rotated_moons(64, 64, random_state=0)\n"
        "src = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8),\n"
        "                        keras.layers.Dense(2, activation='softmax')])\n"
        "TransferClassifier(source_model=src, epochs=1, random_state=3)"
        ".fit(Xt, yt)\n"
        "TransferClassifier(epochs=1, pretrain_epochs=1, random_state=3)"
        ".fit(source=(Xs, ys), target=(Xt, yt))\n"
        "print('tensorflow' in sys.modules)\n"
    )
    backend = keras.backend.backend()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == str(backend == "tensorflow")


def test_domain_adaptive_backbone_defaults_to_auto(images):
    """DomainAdaptiveClassifier used an MLP on images by default, where
    TransferClassifier picks a CNN ("auto")."""
    X, y = images
    clf = DomainAdaptiveClassifier("source_only", epochs=1, random_state=0)
    assert clf.get_params()["backbone"] == TransferClassifier().backbone == "auto"
    clf.fit((X[:40], y[:40]), X[40:])
    layers = [type(layer).__name__ for layer in clf.model_.feature_extractor.layers]
    assert "Conv2D" in layers, layers
    flat = DomainAdaptiveClassifier("source_only", epochs=1, random_state=0)
    flat.fit((X[:40].reshape(40, -1), y[:40]), X[40:].reshape(20, -1))
    layers = [type(layer).__name__ for layer in flat.model_.feature_extractor.layers]
    assert "Conv2D" not in layers and "Dense" in layers, layers


def test_verbose_transfer_fit_names_its_phases(capsys):
    """TransferClassifier(verbose=2) printed two runs of epochs with no header."""
    from keras_transfer.datasets import make_rotated_moons

    Xs, ys, Xt, yt = make_rotated_moons(64, 64, random_state=0)
    TransferClassifier(epochs=1, pretrain_epochs=1, verbose=2, random_state=0).fit(
        source=(Xs, ys), target=(Xt, yt)
    )
    out = capsys.readouterr().out
    pre, target = (
        out.index("Source pre-training: 1 epochs on "),
        out.index("Target training (fine_tune): 1 epochs on 64 target rows"),
    )
    assert pre < target
