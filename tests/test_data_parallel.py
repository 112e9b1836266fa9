"""Data-parallel fit on two virtual CPU devices matches a single-device fit.

Two devices must exist before the backend starts (JAX reads ``XLA_FLAGS`` at
import, TensorFlow fixes its logical devices at first use), so each check runs
in a fresh Python process and reports back as JSON.
"""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from sklearn.base import clone

from keras_transfer import DomainAdaptiveClassifier, backend
from keras_transfer.data import DomainBatches
from keras_transfer.data.batches import stack_rows

BACKEND = keras.backend.backend()
# Documented in docs/distributed.md: after 3 epochs the class probabilities of
# a data-parallel fit are those of a single-device fit up to float32 rounding
# (sums taken in another order).
ATOL = 1e-4

SETUP = {
    "jax": """
        import os
        # First, so that no earlier malformed flag hides it.
        os.environ["XLA_FLAGS"] = (
            "--xla_force_host_platform_device_count=2 "
            + os.environ.get("XLA_FLAGS", "")
        )
    """,
    "tensorflow": """
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    """,
}

BODY = """
    import json, pickle, sys
    import keras, numpy as np
    from keras_transfer import DomainAdaptiveClassifier, backend
    from keras_transfer.datasets import make_rotated_moons

    Xs, ys, Xt, _ = make_rotated_moons(128, 96, angle=30, random_state=0)
    report = {"devices": len(keras.distribution.list_devices())}
    for strategy in sys.argv[1:]:
        seen = []
        probe = keras.callbacks.LambdaCallback(
            on_train_begin=lambda logs: seen.append(backend.num_replicas())
        )
        fits = {}
        for distribution in (None, "data_parallel"):
            # DANN's discriminator has dropout by default (its recipe); each
            # replica draws its own masks, so equality with one device is
            # asked of the deterministic network.
            no_dropout = {"dropout": 0.0} if strategy == "dann" else None
            clf = DomainAdaptiveClassifier(
                strategy, epochs=3, batch_size=32, random_state=0,
                callbacks=[probe], distribution=distribution,
                strategy_params=no_dropout,
            ).fit((Xs, ys), Xt)
            fits[distribution] = clf
        single, parallel = fits[None], fits["data_parallel"]
        p1, p2 = single.predict_proba(Xt), parallel.predict_proba(Xt)
        again = pickle.loads(pickle.dumps(parallel.set_params(callbacks=None)))
        report[strategy] = {
            "replicas_seen": seen,
            "max_abs_diff": float(np.abs(p1 - p2).max()),
            "loss": [single.history_["loss"], parallel.history_["loss"]],
            "steps": [float(keras.ops.convert_to_numpy(c.model_.step_counter))
                      for c in (single, parallel)],
            "pickle_diff": float(np.abs(again.predict_proba(Xt) - p2).max()),
        }
    print("REPORT" + json.dumps(report))
"""


def run_two_devices(*strategies, body=BODY):
    """Run ``body`` after SETUP in a fresh process; the JSON it reports."""
    code = textwrap.dedent(SETUP[BACKEND]) + textwrap.dedent(body)
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    out = subprocess.run(
        [sys.executable, "-c", code, *strategies],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("REPORT"))
    return json.loads(line[len("REPORT") :])


@pytest.mark.skipif(
    BACKEND not in ("jax", "tensorflow"),
    reason="Keras's torch backend has no data-parallel fit (see test below)",
)
def test_data_parallel_fit_matches_single_device():
    # DANN's adaptation loss is a mean over rows: the same on every split.
    # MMD's is a statistic of the whole batch: JAX's keras.distribution runs
    # one global program, so it matches there; tf.distribute computes it per
    # replica (half the batch), a documented approximation. Two fits in one
    # process also check that the second MirroredStrategy fit does not clash
    # with the first.
    report = run_two_devices("dann", "mmd")
    assert report["devices"] == 2
    exact = ["dann", "mmd"] if BACKEND == "jax" else ["dann"]
    for strategy in ("dann", "mmd"):
        r = report[strategy]
        assert r["replicas_seen"] == [1, 2], r  # the second fit ran on 2 devices
        assert r["steps"][0] == r["steps"][1] > 0  # λ schedule at the same step
        assert r["pickle_diff"] < 1e-6
        if strategy in exact:
            assert r["max_abs_diff"] < ATOL, r
            np.testing.assert_allclose(r["loss"][1], r["loss"][0], rtol=1e-4)
        else:
            assert np.isfinite(r["loss"][1]).all() and r["max_abs_diff"] < 0.1, r


STREAM_BODY = """
    import json
    import numpy as np
    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.data import streams
    from keras_transfer.datasets import make_rotated_moons

    Xs, ys, Xt, _ = make_rotated_moons(128, 96, angle=30, random_state=0)

    def source():
        for lo in range(0, 128, 32):
            yield Xs[lo : lo + 32], ys[lo : lo + 32]

    drawn = []  # the first feature of every step the fit drew
    step = streams.StreamBatches.step

    def recording_step(self):
        out = step(self)
        drawn[-1].append(float(out[0][0, 0]) + float(out[0][-1, 0]))
        return out

    streams.StreamBatches.step = recording_step
    p = {}
    for distribution in (None, "data_parallel"):
        drawn.append([])
        # Without the discriminator's dropout (DANN's default): each replica
        # draws its own masks (see BODY above).
        clf = DomainAdaptiveClassifier(
            "dann", epochs=3, batch_size=32, random_state=0,
            distribution=distribution, strategy_params={"dropout": 0.0},
        )
        clf.fit(source=source, target=Xt, classes=[0, 1], steps_per_epoch=4)
        p[distribution] = clf.predict_proba(Xt)
    print("REPORT" + json.dumps({
        "max_abs_diff": float(np.abs(p[None] - p["data_parallel"]).max()),
        "drawn": drawn,
    }))
"""


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="tf.distribute computes losses per replica; JAX runs one program",
)
def test_streamed_data_parallel_fit_matches_single_device():
    """A streamed DANN fit on 2 replicas draws the same 12 steps as on one
    device and ends where it ends, to float32 rounding, as arrays do.

    Under tf.distribute Keras builds the model from a step drawn through an
    iterator it then drops; a generator handed to fit lost that iterator's
    prefetched steps (19 drawn, steps 3-8 never trained on: 5.5e-3 apart).
    """
    report = run_two_devices(body=STREAM_BODY)
    single, parallel = report["drawn"]
    assert len(single) == 12 and parallel == single, report
    assert report["max_abs_diff"] < ATOL, report


@pytest.mark.skipif(BACKEND != "torch", reason="torch only: no distribution there")
def test_torch_refuses_data_parallel():
    from keras_transfer.datasets import make_rotated_moons

    Xs, ys, Xt, _ = make_rotated_moons(20, 20, random_state=0)
    clf = DomainAdaptiveClassifier(epochs=1, distribution="data_parallel")
    with pytest.raises(ValueError, match="torch backend has no data-parallel"):
        clf.fit((Xs, ys), Xt)


def test_distribution_parameter_is_a_plain_parameter():
    clf = DomainAdaptiveClassifier(distribution="data_parallel")
    assert clone(clf).get_params()["distribution"] == "data_parallel"
    assert pickle.loads(pickle.dumps(clf)).distribution == "data_parallel"
    with backend.distribution_scope(None):
        assert backend.num_replicas() == 1
    bad = DomainAdaptiveClassifier(epochs=1, distribution="model_parallel")
    X, y = np.zeros((4, 2)), np.array([0, 1, -1, -1])
    match = "torch backend" if BACKEND == "torch" else "must be None"
    with pytest.raises(ValueError, match=match):
        bad.fit(X, y)
    if BACKEND != "torch":
        with pytest.raises(TypeError, match="distribution must be"):
            DomainAdaptiveClassifier(epochs=1, distribution=object()).fit(X, y)


def test_shard_layout_gives_every_device_both_domains():
    Xs, Xt = np.zeros((10, 1)), np.ones((10, 1))
    ys = np.arange(10) % 2
    data = DomainBatches(Xs, ys, Xt, batch_size=5, seed=0, shards=2)
    assert data.half == 4  # rounded down to a multiple of the 2 shards
    x, y = data[0]
    for shard in np.split(y["is_source"], 2):
        assert shard.tolist() == [1.0, 1.0, 0.0, 0.0]
    np.testing.assert_array_equal(x[:, 0], 1.0 - y["is_source"])
    assert (y["label"][y["is_source"] == 0] == -1).all()
    # Three shards: each gets 2 source then 2 target rows.
    odd = DomainBatches(Xs, ys, Xt + np.arange(10)[:, None], batch_size=6, shards=3)
    _, y = odd[0]
    assert [s.tolist() for s in np.split(y["is_source"], 3)] == [[1, 1, 0, 0]] * 3
    single = DomainBatches(Xs, ys, Xt, batch_size=5, seed=0)
    assert single.shards == 1 and single.half == 5


def test_stack_rows_matches_concatenated_rows():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(6, 2, 3)).astype("float32"), rng.normal(size=(4, 2, 3))
    parts = [(A, [5, 0, 2]), (B, [3, 3]), (A, [1])]
    expected = np.concatenate([X[idx] for X, idx in parts]).astype("float32")
    out = stack_rows(parts)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_streamed_steps_are_laid_out_per_device():
    """A streamed step under 2 devices gives every device's slice its share
    of source rows, then of target rows, like DomainBatches; a step with fewer
    rows per domain than devices is refused."""
    from keras_transfer.data import StreamBatches

    def source():
        while True:
            yield np.zeros((5, 1)), np.arange(5) % 2

    steps = StreamBatches(source, np.ones((8, 1)), batch_size=4, seed=0, shards=2)
    x, y = steps.step()
    assert len(x) == 8  # 5 source rows rounded down to 4
    for shard in np.split(y["is_source"], 2):
        assert shard.tolist() == [1.0, 1.0, 0.0, 0.0]
    np.testing.assert_array_equal(x[:, 0], 1.0 - y["is_source"])
    assert (y["label"][y["is_source"] == 0] == -1).all()
    assert StreamBatches(source, np.ones((8, 1)), batch_size=4).shards == 1
    with pytest.raises(ValueError, match="fewer than the 8 devices"):
        StreamBatches(source, np.ones((8, 1)), batch_size=4, shards=8).step()


TRANSFER_BODY = """
    import json
    import keras
    import numpy as np
    from sklearn.datasets import load_digits
    from keras_transfer import TransferClassifier, backend

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype("float32")
    src, tgt = np.flatnonzero(y < 5)[:256], np.flatnonzero(y >= 5)[:192]
    report = {"replicas_seen": []}
    probe = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: report["replicas_seen"].append(
            backend.num_replicas()
        )
    )
    for strategy in ("fine_tune", "joint"):
        p = {}
        for distribution in (None, "data_parallel"):
            clf = TransferClassifier(
                strategy, backbone="mlp", backbone_params={"units": (16,)},
                pretrain_epochs=2, epochs=2, batch_size=32, random_state=0,
                distribution=distribution, callbacks=[probe],
            )
            clf.fit(source=(X[src], y[src]), target=(X[tgt], y[tgt]))
            p[distribution] = clf.predict_proba(X[tgt])
        report[strategy] = float(np.abs(p[None] - p["data_parallel"]).max())
    print("REPORT" + json.dumps(report))
"""


@pytest.mark.skipif(
    BACKEND != "jax",
    reason="one global program on JAX: exact; tf.distribute is checked for "
    "DomainAdaptiveClassifier above (the same training path)",
)
def test_transfer_classifier_data_parallel_matches_single_device():
    """TransferClassifier trains on the same path (DomainBatches laid out per
    device, AdaptationModel): pretraining and target training on 2 devices
    give the single-device model."""
    report = run_two_devices(body=TRANSFER_BODY)
    assert report["replicas_seen"] == [1, 2, 1, 2], report
    assert report["fine_tune"] < ATOL and report["joint"] < ATOL, report
