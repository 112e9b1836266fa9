"""Pretrained networks as users have them: files, feature maps, cut points."""

import keras
import numpy as np
import pytest
from helpers import run_python

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
    stdout = run_python(code, timeout=300)
    assert stdout.split()[-1] == str(backend == "tensorflow")


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


# ---- pretrained models as users have them (issue 14, item 4) -----------------


@pytest.fixture(scope="module")
def images32():
    rng = np.random.default_rng(1)
    X = rng.random((48, 32, 32, 3)).astype("float32")
    y = (X[:, :16].mean(axis=(1, 2, 3)) > X[:, 16:].mean(axis=(1, 2, 3))).astype(int)
    return X, y


def headed_net(input_shape=(8, 8, 3), n_out=3):
    """A small source network with a named feature layer and a head."""
    inputs = keras.Input(tuple(input_shape))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(5, activation="relu", name="feat")(x)
    return keras.Model(inputs, keras.layers.Dense(n_out, name="head")(x))


def as_you_have_it(form, tmp_path):
    """(source, original model) for a model saved the way ``form`` says."""
    from keras_transfer import backend
    from keras_transfer.backbones import Pretrained

    model = headed_net()
    model.compile("adam", "sparse_categorical_crossentropy")
    with backend.keras_without_tensorflow():  # Keras's saving imports it
        if form == "weights+builder":
            path = tmp_path / "net.weights.h5"
            model.save_weights(path)
            return Pretrained(headed_net, weights=str(path)), model
        path = tmp_path / f"net.{form}"
        model.save(path)
    return str(path), model


def features_of(model, layer, X):
    cut = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(cut.predict(X, verbose=0))


@pytest.mark.parametrize("form", ["keras", "h5", "weights+builder"])
def test_saved_model_as_source_and_as_backbone(form, images, tmp_path):
    """A model saved as .keras, as legacy .h5, or as .weights.h5 with the
    function that builds it: TransferClassifier(source_model=...) carries its
    weights over, and DomainAdaptiveClassifier(backbone=...) starts from them."""
    import pickle

    from sklearn.base import clone

    from keras_transfer.backbones import build_backbone

    X, y = images
    source, original = as_you_have_it(form, tmp_path)
    clf = TransferClassifier(
        "feature_extraction", source_model=source, epochs=1, random_state=0
    )
    assert clone(clf).get_params()["source_model"] == source
    clf.fit(X, y)
    # frozen: the transferred features are the saved network's, below its head
    np.testing.assert_allclose(
        np.asarray(clf.model_.feature_extractor.predict(X, verbose=0)),
        features_of(original, "feat", X),
        rtol=1e-5,
        atol=1e-5,
    )
    assert clf.source_classes_.tolist() == [0, 1, 2]
    assert clf.predict_proba(X).shape == (60, 2)
    again = pickle.loads(pickle.dumps(clf))
    assert again.predict(X).tolist() == clf.predict(X).tolist()

    start = build_backbone(source, (8, 8, 3), "pool")
    np.testing.assert_allclose(
        np.asarray(start.predict(X, verbose=0)),
        features_of(original, "pool", X),
        rtol=1e-5,
        atol=1e-5,
    )
    da = DomainAdaptiveClassifier(
        "source_only", backbone=source, feature_layer="pool", epochs=1, random_state=0
    )
    da.fit((X[:40], y[:40]), X[40:])
    assert da.transform(X).shape == (60, 4)
    assert clone(da).get_params()["backbone"] == source


def test_weights_file_alone_says_what_is_missing(images, tmp_path):
    from keras_transfer import backend
    from keras_transfer.backbones import Pretrained

    X, y = images
    path = tmp_path / "net.weights.h5"
    with backend.keras_without_tensorflow():
        headed_net().save_weights(path)
    with pytest.raises(ValueError, match="weights only.*Pretrained"):
        DomainAdaptiveClassifier(backbone=str(path), epochs=1).fit((X, y), X)
    wrong = Pretrained(headed_net, weights=str(path), n_out=7)
    with pytest.raises(ValueError, match="net.weights.h5.*same architecture"):
        TransferClassifier(source_model=wrong, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="does not exist"):
        Pretrained(headed_net, weights=str(tmp_path / "nothing.weights.h5"))(None)


def test_keras_applications_network_with_a_local_weights_file(images32, tmp_path):
    """A keras.applications network, its weights from a local file (what a
    user has after downloading them once), without its top: the whole network
    is the feature extractor, as source_model= and as backbone=."""
    import pickle

    from sklearn.base import clone

    from keras_transfer import backend
    from keras_transfer.backbones import Pretrained, build_backbone

    X, y = images32
    app = keras.applications.MobileNet
    kwargs = {"alpha": 0.25, "include_top": False, "pooling": "avg"}
    original = app(input_shape=(32, 32, 3), weights=None, **kwargs)
    path = tmp_path / "mobilenet_025.weights.h5"
    with backend.keras_without_tensorflow():
        original.save_weights(path)
    spec = Pretrained(app, weights=str(path), **kwargs)
    assert pickle.loads(pickle.dumps(spec)) == spec
    clf = TransferClassifier(
        "feature_extraction", source_model=spec, epochs=1, random_state=0
    )
    assert clone(clf).source_model == spec
    clf.fit(X, y)
    expected = np.asarray(original.predict(X, verbose=0))
    np.testing.assert_allclose(
        np.asarray(clf.model_.feature_extractor.predict(X, verbose=0)),
        expected,
        rtol=1e-4,
        atol=1e-5,
    )
    assert clf.source_classes_ is None  # no top: no source task to keep
    assert clf.predict(X).shape == (48,)
    with pytest.raises(ValueError, match="no classifier head"):
        TransferClassifier("lwf", source_model=spec, epochs=1).fit(X, y)
    # backbone=spec: what DomainAdaptiveClassifier starts from (its fit on a
    # Pretrained is covered by test_saved_model_as_source_and_as_backbone)
    start = build_backbone(spec, (32, 32, 3))
    assert start.output_shape == (None, 256)  # 1024 channels x alpha 0.25
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(start(X[:8], training=False)),
        expected[:8],
        rtol=1e-4,
        atol=1e-5,
    )


HUB_CODE = """
import sys, tempfile
import numpy as np
if sys.argv[1] != "tensorflow":
    # keras_hub imports TensorFlow wherever it is installed; this JAX / torch
    # process has no use for it (and the import takes seconds).
    sys.modules["tensorflow"] = None
import keras, keras_hub
from keras_transfer import DomainAdaptiveClassifier, TransferClassifier

backbone = keras_hub.models.ResNetBackbone(
    input_conv_filters=[64], input_conv_kernel_sizes=[3],
    stackwise_num_filters=[64], stackwise_num_blocks=[1],
    stackwise_num_strides=[1], block_type="basic_block", image_shape=(32, 32, 3),
)
preset = tempfile.mkdtemp()
backbone.save_to_preset(preset)
rng = np.random.default_rng(0)
X = rng.random((32, 32, 32, 3)).astype("float32")
y = (X[:, :16].mean(axis=(1, 2, 3)) > X[:, 16:].mean(axis=(1, 2, 3))).astype(int)
clf = TransferClassifier("feature_extraction", source_model=preset, epochs=1,
                         batch_size=16, random_state=0).fit(X, y)
pooled = np.asarray(backbone.predict(X, verbose=0)).mean(axis=(1, 2))
got = np.asarray(clf.model_.feature_extractor.predict(X, verbose=0))
print("max_diff", float(np.abs(got - pooled).max()))
da = DomainAdaptiveClassifier("source_only", backbone=preset, epochs=1,
                              batch_size=16).fit((X[:24], y[:24]), X[24:])
print("da_features", da.transform(X).shape[1])
"""


def test_keras_hub_backbone_from_a_local_preset_folder(tmp_path):
    """A keras_hub backbone saved with save_to_preset(folder): the folder is a
    source_model= and a backbone=. Runs in its own process, as keras_hub
    imports TensorFlow where installed."""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras-hub is not installed (pip install keras-hub)")
    backend = keras.backend.backend()
    proc = subprocess.run(
        [sys.executable, "-c", HUB_CODE, backend],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = dict(line.split() for line in proc.stdout.splitlines() if " " in line)
    assert float(out["max_diff"]) < 1e-4, out
    assert out["da_features"] == "64", out
