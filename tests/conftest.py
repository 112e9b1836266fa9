"""Test set-up: one backend per process (KERAS_BACKEND), one thread per worker."""

import os
import pathlib

# Before keras is imported: tiny nets on few cores run fastest single-threaded,
# and torch under `pytest -n 2` runs ~10x slower without this.
from keras_transfer import backend as kt_backend

kt_backend.limit_threads(1)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir():
    """../shared/data; tests needing it fail in CI (CI=true) and skip elsewhere."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs the benchmark data at {SHARED_DATA}")
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def moons():
    from keras_transfer.datasets import make_rotated_moons

    return make_rotated_moons(2000, 2000, angle=30, random_state=0)


@pytest.fixture(scope="session")
def small_moons():
    from keras_transfer.datasets import make_rotated_moons

    return make_rotated_moons(200, 200, angle=30, random_state=1)


def accuracy(clf, X, y):
    return float(np.mean(clf.predict(X) == y))
