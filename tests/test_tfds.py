"""TFDS adapter: tf.data / "tfds:NAME:SPLIT" -> numpy (X, y), without network.

Datasets come from ``tfds.testing.mock_data`` (random examples that follow each
dataset's real feature spec; nothing is downloaded).

Which backend processes run these tests: TFDS needs TensorFlow, and importing
TensorFlow costs 10-15 s, which the jax and torch processes would otherwise
not pay. The adapter itself is pure numpy once the data is read, so the tests
that need TensorFlow run only in the ``KERAS_BACKEND=tensorflow`` process
(and are skipped cleanly when tensorflow or tensorflow-datasets is missing);
set ``KERAS_TRANSFER_TEST_TFDS=1`` to run them under jax or torch as well.
The name parsing and the missing-package error run everywhere.
"""

import os
import sys

import numpy as np
import pytest

from keras_transfer.datasets import is_tfds_name, load_tfds, parse_tfds_name


def _tfds_allowed():
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return backend == "tensorflow" or os.environ.get("KERAS_TRANSFER_TEST_TFDS") == "1"


needs_tfds = pytest.mark.skipif(
    not _tfds_allowed(),
    reason="TFDS tests run in the tensorflow backend process "
    "(KERAS_TRANSFER_TEST_TFDS=1 runs them here too)",
)


@pytest.fixture(scope="module")
def tfds():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("tensorflow_datasets")


@pytest.fixture()
def mock(tfds):
    with tfds.testing.mock_data(num_examples=24):
        yield tfds


# ---- names (no TensorFlow needed) ----


@pytest.mark.parametrize(
    "name, expected",
    [
        ("tfds:mnist:train", ("mnist", "train")),
        ("tfds:mnist", ("mnist", "train")),
        ("TFDS:cifar10:test[:10%]", ("cifar10", "test[:10%]")),
        ("tfds:mnist/3.0.1:train[10:20]", ("mnist/3.0.1", "train[10:20]")),
    ],
)
def test_parse_tfds_name(name, expected):
    assert is_tfds_name(name)
    assert parse_tfds_name(name) == expected


def test_parse_rejects_other_names():
    assert not is_tfds_name("data/mnist.csv") and not is_tfds_name(None)
    with pytest.raises(ValueError, match="not a TFDS name"):
        parse_tfds_name("mnist")
    with pytest.raises(ValueError, match="names no dataset"):
        parse_tfds_name("tfds::train")


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match="pip install tensorflow-datasets"):
        load_tfds("tfds:mnist:train")


def test_argument_errors():
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        load_tfds(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        load_tfds("tfds:mnist", batch_size=0)
    with pytest.raises(ValueError, match="max_examples"):
        load_tfds("tfds:mnist", max_examples=0)


# ---- loading through tfds.testing.mock_data ----


@needs_tfds
def test_load_by_name_gives_scaled_images_and_labels(mock):
    X, y = load_tfds("tfds:mnist:train")
    assert X.shape == (24, 28, 28, 1) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.5
    assert y.shape == (24,) and y.dtype.kind == "i"
    assert set(np.unique(y)) <= set(range(10))
    # The same examples as TFDS's own numpy view, scaled from uint8.
    ref = list(mock.as_numpy(mock.load("mnist", split="train", as_supervised=True)))
    np.testing.assert_array_equal(y, [label for _, label in ref])
    np.testing.assert_allclose(X * 255, np.stack([img for img, _ in ref]), atol=1e-3)
    X_raw, _ = load_tfds("tfds:mnist:train", scale=False)
    assert X_raw.dtype == np.uint8


@needs_tfds
def test_data_dir_download_and_load_kwargs_pass_through(mock, monkeypatch, tmp_path):
    calls = []
    real_load = mock.load

    def recording_load(*args, **kwargs):
        calls.append((args, kwargs))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(mock, "load", recording_load)
    load_tfds(
        "tfds:mnist:test",
        data_dir=tmp_path,
        download=False,
        try_gcs=False,
        max_examples=5,
    )
    ((args, kwargs),) = calls
    assert args == ("mnist",)
    assert kwargs["split"] == "test"
    assert kwargs["data_dir"] == str(tmp_path)
    assert kwargs["download"] is False and kwargs["try_gcs"] is False
    load_tfds("mnist", split="train[:5]")  # bare name + explicit split
    assert calls[-1][0] == ("mnist",) and calls[-1][1]["split"] == "train[:5]"
    with pytest.raises(TypeError, match="as_supervised"):
        load_tfds("tfds:mnist", as_supervised=True)


@needs_tfds
def test_tf_data_datasets_tuples_dicts_batched_unlabelled(mock):
    import tensorflow as tf

    X_ref, y_ref = load_tfds("tfds:mnist:train")
    pairs = mock.load("mnist", split="train", as_supervised=True)
    dicts = mock.load("mnist", split="train")
    for ds, kwargs in [
        (pairs, {}),
        (dicts, {}),
        (pairs.batch(5), {"batched": True}),
    ]:
        X, y = load_tfds(ds, **kwargs)
        np.testing.assert_array_equal(X, X_ref)
        np.testing.assert_array_equal(y, y_ref)
    X, y = load_tfds(pairs.batch(5), batched=True, max_examples=7)
    assert X.shape[0] == 7 and y.shape == (7,)
    X, y = load_tfds(pairs.map(lambda image, label: image))  # unlabelled target
    assert y is None and X.shape == (24, 28, 28, 1)
    X, y = load_tfds(dicts.map(lambda d: {"pixels": d["image"]}), image_key="pixels")
    assert y is None and X.shape == (24, 28, 28, 1)
    floats = tf.data.Dataset.from_tensor_slices(
        (np.arange(12, dtype="float64").reshape(6, 2), np.arange(6))
    )
    X, y = load_tfds(floats)
    assert X.dtype == np.float32 and y.tolist() == list(range(6))


@needs_tfds
def test_tf_data_errors(mock):
    import tensorflow as tf

    dicts = mock.load("mnist", split="train")
    with pytest.raises(ValueError, match="no label key 'digit'"):
        load_tfds(dicts, label_key="digit")
    with pytest.raises(ValueError, match="no feature key 'pixels'"):
        load_tfds(dicts, image_key="pixels")
    text = tf.data.Dataset.from_tensor_slices((["a", "b"], [0, 1]))
    with pytest.raises(ValueError, match="not numeric"):
        load_tfds(text)
    with pytest.raises(ValueError, match="empty"):
        load_tfds(tf.data.Dataset.from_tensor_slices((np.zeros((0, 2)), [])))
    with pytest.raises(TypeError, match="data_dir"):
        load_tfds(dicts, data_dir="somewhere")


@needs_tfds
def test_tfds_source_and_target_through_the_cli(mock, tmp_path, capsys):
    """fit / evaluate with TFDS names as source and target (one tiny fit)."""
    from keras_transfer.cli import main
    from keras_transfer.estimators import BaseTransferEstimator

    model = tmp_path / "model.pkl"
    argv = ["fit", "tfds:mnist:train", "tfds:mnist:test", "-o", str(model)]
    argv += ["--epochs", "1", "--batch-size", "8", "-q", "--seed", "0"]
    assert main(argv) == 0, capsys.readouterr().err
    clf = BaseTransferEstimator.load(model)
    assert clf.input_shape_ == (28, 28, 1)
    X, y = load_tfds("tfds:mnist:test")
    capsys.readouterr()
    assert main(["evaluate", str(model), "tfds:mnist:test"]) == 0
    accuracy = float(np.mean(clf.predict(X) == y))
    assert f"accuracy {accuracy:.4f} on 24 rows" in capsys.readouterr().out
