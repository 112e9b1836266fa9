"""examples/cifar10_to_cifar100.py end to end, on TFDS mock data.

``tfds.testing.mock_data`` gives random images that follow CIFAR-10's and
CIFAR-100's real feature specs (nothing is downloaded). As in
tests/test_tfds.py, TFDS needs TensorFlow, so this runs in the
``KERAS_BACKEND=tensorflow`` process (``KERAS_TRANSFER_TEST_TFDS=1`` runs it
under jax or torch too) and is skipped where tensorflow_datasets does not
import.
"""

import importlib.util
import os
import pathlib

import pytest

EXAMPLE = (
    pathlib.Path(__file__).resolve().parents[1] / "examples" / "cifar10_to_cifar100.py"
)


def _tfds_allowed():
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return backend == "tensorflow" or os.environ.get("KERAS_TRANSFER_TEST_TFDS") == "1"


@pytest.mark.filterwarnings("ignore:The number of unique classes")
@pytest.mark.skipif(
    not _tfds_allowed(),
    reason="TFDS tests run in the tensorflow backend process "
    "(KERAS_TRANSFER_TEST_TFDS=1 runs them here too)",
)
def test_cifar10_to_cifar100_example_runs_on_mock_tfds(capsys):
    pytest.importorskip("tensorflow")
    tfds = pytest.importorskip("tensorflow_datasets")
    spec = importlib.util.spec_from_file_location("cifar_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    argv = ["--source-rows", "40", "--target-rows", "30", "--test-rows", "20"]
    argv += ["--filters", "4,8", "--pretrain-epochs", "1", "--epochs", "1"]
    argv += [
        "--batch-size",
        "16",
        "--strategies",
        "feature_extraction,fine_tune,gradual",
    ]
    with tfds.testing.mock_data(num_examples=40):
        rows = example.main(argv)
    out = capsys.readouterr().out
    assert "source tfds:cifar10:train: 40 images" in out
    assert "target tfds:cifar100:train: 30 labelled images" in out
    assert "test tfds:cifar100:test: 20 images" in out
    methods = [name for name, _, _ in rows]
    assert methods == [
        "feature_extraction (+ pretraining)",
        "fine_tune",
        "gradual",
        "from scratch",
    ]
    for name, accuracy, seconds in rows:
        assert 0.0 <= accuracy <= 1.0 and seconds > 0
        assert f"{name}  " in out and f"{accuracy:13.3f}" in out
    assert "test accuracy  fit seconds" in out


def test_example_rejects_unknown_strategies():
    spec = importlib.util.spec_from_file_location("cifar_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with pytest.raises(SystemExit, match="unknown strategies"):
        example.main(["--strategies", "fine_tune,warp"])
