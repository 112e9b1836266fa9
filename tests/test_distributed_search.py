"""GridSearchCV over strategies x λ on a local Ray (and Dask) cluster.

The search is scikit-learn's; the engines only run its fits. What is checked:
where the fits ran (Ray: other processes; Dask: worker threads), on the same
Keras backend with one thread, and, on Ray, exactly the scores of a search in
this process.
"""

import os
import threading

import joblib
import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from keras_transfer import DomainAdaptiveClassifier, backend
from keras_transfer.datasets import make_rotated_moons

BACKEND = keras.backend.backend()
pytestmark = pytest.mark.skipif(
    BACKEND != "torch",
    reason="engine plumbing, the same on every backend: one backend (torch, the "
    "fastest to start in fresh worker processes) runs it",
)

GRID = [  # λ only matters with an adaptation loss
    {"strategy": ["source_only"]},
    {"strategy": ["dann"], "adaptation_weight": [0.3, 1.0]},
]


def packed_moons():
    Xs, ys, Xt, _ = make_rotated_moons(60, 60, angle=30, random_state=0)
    return np.concatenate([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])


def make_search():
    """Scorers are closures, so they travel by value (cloudpickle)."""
    driver_backend = BACKEND

    def labelled_accuracy(est, X, y):
        keep = y != -1
        return float(np.mean(est.predict(X[keep]) == y[keep]))

    def pid(est, X, y):
        return float(os.getpid())

    def main_thread(est, X, y):
        return float(threading.current_thread() is threading.main_thread())

    def same_backend(est, X, y):
        return float(keras.backend.backend() == driver_backend)

    def threads(est, X, y):
        import torch

        return float(torch.get_num_threads())

    return GridSearchCV(
        DomainAdaptiveClassifier(
            epochs=1, batch_size=32, random_state=0, jit_compile=False
        ),
        GRID,
        scoring={
            "accuracy": labelled_accuracy,
            "pid": pid,
            "main_thread": main_thread,
            "backend": same_backend,
            "threads": threads,
        },
        refit=False,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        n_jobs=2,
        error_score="raise",
    )


def scores(search, metric):
    n = search.n_splits_
    return np.stack([search.cv_results_[f"split{i}_test_{metric}"] for i in range(n)])


@pytest.fixture(scope="module")
def local_result():
    X, y = packed_moons()
    search = make_search().set_params(n_jobs=1)
    return scores(search.fit(X, y), "accuracy")


def check_workers(search):
    assert len(search.cv_results_["params"]) == 3
    assert (scores(search, "backend") == 1).all()
    assert (scores(search, "threads") == 1).all()
    accuracy = scores(search, "accuracy")
    assert accuracy.shape == (2, 3) and ((accuracy >= 0) & (accuracy <= 1)).all()


def test_grid_search_on_local_ray_cluster(local_result):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    ray.init(
        address="local",  # a new cluster on this machine; "ray://host:10001" or
        num_cpus=2,  # RAY_ADDRESS (address=None) reach a running one
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=100 * 2**20,
        runtime_env={"env_vars": backend.worker_env(n_threads=1)},
    )
    try:
        register_ray()
        X, y = packed_moons()
        with joblib.parallel_backend("ray"):
            search = make_search().fit(X, y)
    finally:
        ray.shutdown()
    check_workers(search)
    assert os.getpid() not in scores(search, "pid")  # fits ran in Ray workers
    # Seeded fits in fresh processes: the very scores of the local search.
    np.testing.assert_array_equal(scores(search, "accuracy"), local_result)


def test_grid_search_on_local_dask_cluster():
    distributed = pytest.importorskip("distributed")

    # Worker threads in this process: no second start of Python and Keras.
    # Scores are not compared with the local search: Keras draws layer seeds
    # from Python's `random`, which Dask's own threads also draw from, so a
    # seeded fit under Dask is not bit-reproducible (see docs/distributed.md).
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,  # in-process transport, no network port
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        X, y = packed_moons()
        with joblib.parallel_backend("dask"):
            search = make_search().fit(X, y)
    check_workers(search)
    assert (scores(search, "main_thread") == 0).all()  # fits ran in Dask workers
