"""Streamed input: generators, PyDataset, tf.data and memmaps, mixed per batch."""

import os
import sys

import keras
import numpy as np
import pytest

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.data import StreamBatches, take_rows
from keras_transfer.data import memmap as kt_memmap
from keras_transfer.data.memmap import read_rows
from keras_transfer.estimators._validation import check_X

FAST = dict(epochs=2, batch_size=32, random_state=0, jit_compile=False)


@pytest.fixture(scope="module")
def data():
    from keras_transfer.datasets import make_rotated_moons

    return make_rotated_moons(160, 120, angle=30, random_state=1)


def batches_of(X, y=None, size=32):
    """A generator function: each call yields a fresh pass of batches."""

    def generate():
        for i in range(0, len(X), size):
            yield (
                (X[i : i + size],) if y is None else (X[i : i + size], y[i : i + size])
            )

    return generate


class Batches(keras.utils.PyDataset):
    def __init__(self, X, y=None, size=32):
        super().__init__()
        self.X, self.y, self.size = X, y, size

    def __len__(self):
        return -(-len(self.X) // self.size)

    def __getitem__(self, i):
        rows = slice(i * self.size, (i + 1) * self.size)
        return self.X[rows] if self.y is None else (self.X[rows], self.y[rows])


class CountSteps(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


def make_memmap(path, X, dtype="float64"):
    M = np.memmap(path, dtype=dtype, mode="w+", shape=X.shape)
    M[:] = X
    M.flush()
    return np.memmap(path, dtype=dtype, mode="r", shape=X.shape)


# ---- the mixer ----------------------------------------------------------------


def test_one_source_and_one_target_batch_per_step_shorter_one_cycles():
    Xs = np.arange(12, dtype="float32").reshape(6, 2)  # 3 batches of 2
    Xt = -np.arange(20, dtype="float32").reshape(10, 2)  # 5 batches of 2
    steps = StreamBatches(Batches(Xs, np.arange(6) % 2, size=2), batches_of(Xt, size=2))
    assert steps.target.length is None  # a generator function: length unknown
    steps = StreamBatches(Batches(Xs, np.arange(6) % 2, size=2), Batches(Xt, size=2))
    assert steps.steps_per_epoch == 5  # the longer domain
    drawn = [step for step, _ in zip(steps, range(10))]
    for k, (x, y) in enumerate(drawn):
        np.testing.assert_array_equal(y["is_source"], [1, 1, 0, 0])
        np.testing.assert_array_equal(x[:2], Xs[2 * (k % 3) : 2 * (k % 3) + 2])
        np.testing.assert_array_equal(x[2:], Xt[2 * (k % 5) : 2 * (k % 5) + 2])
        np.testing.assert_array_equal(y["label"], [0, 1, -1, -1])


def test_array_side_gives_full_batches_and_every_row_once_per_pass():
    Xt = np.arange(10, dtype="float32")[:, None]
    steps = StreamBatches(
        Batches(np.ones((4, 1)), np.zeros(4, int), size=4), Xt, batch_size=4, seed=0
    )
    seen = [x[4:, 0] for x, _ in (steps.step() for _ in range(5))]
    assert all(len(rows) == 4 for rows in seen)  # no short batch at a pass end
    counts = np.bincount(np.concatenate(seen).astype(int), minlength=10)
    np.testing.assert_array_equal(counts, 2)  # 20 rows = two full passes


# ---- fitting on each kind of stream ------------------------------------------


def test_generator_source_array_target(data):
    Xs, ys, Xt, yt = data
    counter = CountSteps()
    clf = DomainAdaptiveClassifier(callbacks=[counter], **FAST).fit(
        source=batches_of(Xs, ys), target=Xt, classes=[0, 1], steps_per_epoch=4
    )
    assert counter.steps == 2 * 4
    assert list(clf.classes_) == [0, 1] and clf.n_features_in_ == 2
    assert len(clf.history_["loss"]) == 2
    proba = clf.predict_proba(Xt)
    assert proba.shape == (len(Xt), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    # Positional form too, and string classes decoded back.
    names = np.array(["a", "b"])
    clf = DomainAdaptiveClassifier(**FAST).fit(
        batches_of(Xs, names[ys]), Xt, classes=names, steps_per_epoch=2
    )
    assert set(clf.predict(Xt)) <= {"a", "b"}


def test_pydataset_source_and_target_length_from_the_longer(data):
    Xs, ys, Xt, _ = data
    counter = CountSteps()
    clf = DomainAdaptiveClassifier(callbacks=[counter], **FAST).fit(
        source=Batches(Xs, ys, size=40), target=Batches(Xt, size=20), classes=[0, 1]
    )
    assert counter.steps == 2 * 6  # 160 / 40 = 4 source, 120 / 20 = 6 target
    assert clf.predict(Xt).shape == (len(Xt),)
    # An array source with a streamed target: 160 / 32 = 5 source batches.
    clf.fit(source=(Xs, ys), target=Batches(Xt, size=40))
    assert counter.steps == 2 * 5
    assert clf.input_shape_ == (2,)


def test_tf_data_source_and_target(data):
    tf = pytest.importorskip("tensorflow", reason="tf.data needs TensorFlow")
    Xs, ys, Xt, yt = data
    source = tf.data.Dataset.from_tensor_slices((Xs.astype("float32"), ys)).batch(32)
    target = tf.data.Dataset.from_tensor_slices(Xt.astype("float32")).batch(32)
    counter = CountSteps()
    clf = DomainAdaptiveClassifier(callbacks=[counter], **FAST).fit(
        source=source, target=target, classes=[0, 1]
    )
    assert counter.steps == 2 * 5  # cardinality: 5 source batches, 4 target
    assert clf.score(Xt, yt) > 0.5


def test_image_stream_gets_a_channel_axis():
    rng = np.random.default_rng(0)
    X = rng.random((64, 4, 4)).astype("float32")
    y = (X.mean((1, 2)) > 0.5).astype(int)
    clf = DomainAdaptiveClassifier(**FAST).fit(
        source=batches_of(X, y), target=X[:20], classes=[0, 1], steps_per_epoch=2
    )
    assert clf.input_shape_ == (4, 4, 1)
    assert clf.predict(X[:5]).shape == (5,)


def test_streamed_source_with_pretraining_strategy(data):
    Xs, ys, Xt, _ = data
    clf = DomainAdaptiveClassifier("distill", **{**FAST, "epochs": 1}).fit(
        source=Batches(Xs, ys), target=Batches(Xt), classes=[0, 1]
    )
    assert clf.predict(Xt).shape == (len(Xt),)


def test_classes_with_arrays_adds_labels_the_data_lacks(data):
    Xs, ys, Xt, _ = data
    clf = DomainAdaptiveClassifier(**FAST).fit((Xs, ys), Xt, classes=[2, 1, 0])
    assert list(clf.classes_) == [0, 1, 2]
    assert clf.predict_proba(Xt).shape == (len(Xt), 3)


# ---- memmaps --------------------------------------------------------------------


def test_float64_memmap_fits_like_the_same_data_in_ram(data, tmp_path):
    Xs, ys, Xt, _ = data
    Ms = make_memmap(tmp_path / "s.dat", Xs)
    Mt = make_memmap(tmp_path / "t.dat", Xt)
    checked, _ = check_X(DomainAdaptiveClassifier(), Ms, reset=True, keep_memmap=True)
    assert checked is Ms  # validated in place, never copied to float32
    a = DomainAdaptiveClassifier(**FAST).fit((Ms, ys), Mt)
    b = DomainAdaptiveClassifier(**FAST).fit((Xs, ys), Xt)
    np.testing.assert_allclose(a.predict_proba(Mt), b.predict_proba(Xt), atol=1e-6)
    np.testing.assert_array_equal(a.predict(Xt), b.predict(Xt))


def test_transfer_classifier_reads_memmaps_batch_by_batch(tmp_path, monkeypatch):
    """TransferClassifier keeps memmapped source and target rows on disk (the
    source hold-out split included) and fits as on the same rows in RAM."""
    from sklearn.datasets import load_digits

    from keras_transfer import TransferClassifier
    from keras_transfer.data import batches as kt_batches

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xs, ys, Xt, yt = X[y < 5][:400], y[y < 5][:400], X[y >= 5][:150], y[y >= 5][:150]
    Ms, Mt = make_memmap(tmp_path / "s.dat", Xs), make_memmap(tmp_path / "t.dat", Xt)
    reads = []

    def counting_read_rows(M, idx):
        reads.append(M.filename)
        return read_rows(M, idx)

    monkeypatch.setattr(kt_batches, "read_rows", counting_read_rows)
    params = dict(strategy="joint", epochs=2, pretrain_epochs=1, random_state=0)
    a = TransferClassifier(**params).fit(
        source=(Ms, ys), target=(Mt, yt), validation_data=(Mt[:40], yt[:40])
    )
    assert {os.path.basename(f) for f in reads} == {"s.dat", "t.dat"}
    b = TransferClassifier(**params).fit(
        source=(Xs, ys), target=(Xt, yt), validation_data=(Xt[:40], yt[:40])
    )
    np.testing.assert_allclose(a.predict_proba(Mt), b.predict_proba(Xt), atol=1e-6)
    assert a.source_score_before_ == b.source_score_before_
    assert a.source_score_after_ == b.source_score_after_


def test_read_rows_matches_indexing_on_views(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(300, 5, 3))
    path = tmp_path / "a.dat"
    with open(path, "wb") as f:
        f.write(b"\0" * 40)  # a header: the array starts at an offset
    M = np.memmap(path, dtype=">f8", mode="r+", offset=40, shape=A.shape)
    M[:] = A
    M.flush()
    views = [
        (M, A),
        (M[7:200], A[7:200]),
        (M[::3], A[::3]),
        (M[:, 1:4], A[:, 1:4]),
        (M[::-1], A[::-1]),  # reversed rows: falls back to indexing
    ]
    for view, ref in views:
        for idx in (rng.integers(-len(ref), len(ref), 40), np.arange(len(ref))):
            np.testing.assert_array_equal(read_rows(view, idx), ref[idx])
        np.testing.assert_array_equal(
            take_rows(view, [0, 2]), ref[[0, 2]].astype("float32")
        )


@pytest.mark.parametrize(
    "target, value, message",
    [
        (False, np.nan, "source X: Input contains NaN (first at row 2500"),
        (True, np.inf, "target X: Input contains infinity"),
        (True, 1e300, "target X: Input contains infinity"),  # beyond float32
    ],
)
def test_memmap_bad_value_in_a_later_chunk(
    tmp_path, monkeypatch, target, value, message
):
    monkeypatch.setattr(kt_memmap, "CHUNK_BYTES", 4096)  # many chunks
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2))
    y = (X[:, 0] > 0).astype(int)
    bad = X.copy()
    bad[2500, 1] = value
    M = make_memmap(tmp_path / "x.dat", bad)
    args = ((X, y), M) if target else ((M, y), X)
    clf = DomainAdaptiveClassifier(**FAST)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        clf.fit(*args)
    assert not hasattr(clf, "model_")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_reading_a_memmap_does_not_keep_its_pages_resident(tmp_path):
    """RssFile (file pages mapped in this process) grows with memmap indexing
    but not with take_rows, which reads through the file."""

    def rss_file_mb():
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["RssFile"].split()[0]) / 1024

    rows, cols = 2048, 4096  # 32 MB of float32
    path = tmp_path / "big.dat"
    with open(path, "wb") as f:
        f.write(np.ones((rows, cols), "float32").tobytes())
    M = np.memmap(path, dtype="float32", mode="r", shape=(rows, cols))
    before = rss_file_mb()
    total = sum(
        float(take_rows(M, np.arange(i, i + 64))[0, 0]) for i in range(0, rows, 64)
    )
    grown_read = rss_file_mb() - before
    assert total == rows // 64
    for i in range(0, rows, 64):
        np.array(M[i : i + 64])  # a copy: reads the mapped pages
    grown_mapped = rss_file_mb() - before
    assert grown_read < 8, grown_read
    assert grown_mapped > 24, grown_mapped  # the measure does see mapped pages
    del M


# ---- clear errors -----------------------------------------------------------------


def _nan_second_batch(Xs, ys):
    def generate():
        yield Xs[:32], ys[:32]
        x = Xs[32:64].copy()
        x[3, 1] = np.nan
        yield x, ys[32:64]

    return generate


STREAM_ERRORS = {
    "no classes": (
        lambda Xs, ys, Xt: dict(source=batches_of(Xs, ys), target=Xt),
        "pass classes=",
    ),
    "no length": (
        lambda Xs, ys, Xt: dict(source=batches_of(Xs, ys), target=Xt, classes=[0, 1]),
        "the source stream has no length.*steps_per_epoch",
    ),
    "generator runs once": (
        lambda Xs, ys, Xt: dict(
            source=batches_of(Xs, ys)(), target=Xt, classes=[0, 1], steps_per_epoch=5
        ),
        "ran out after 5 batches.*function that returns a new one",
    ),
    "NaN in a later batch": (
        lambda Xs, ys, Xt: dict(
            source=_nan_second_batch(Xs, ys),
            target=Xt,
            classes=[0, 1],
            steps_per_epoch=3,
        ),
        "source stream, batch 1: X_batch contains NaN",
    ),
    "label outside classes": (
        lambda Xs, ys, Xt: dict(
            source=batches_of(Xs, ys + 5),
            target=Xt,
            classes=[0, 1],
            steps_per_epoch=2,
        ),
        "source stream, batch 0: Labels .* not among the classes given to fit",
    ),
    "target features differ": (
        lambda Xs, ys, Xt: dict(
            source=Batches(Xs, ys), target=Batches(np.c_[Xt, Xt]), classes=[0, 1]
        ),
        r"target stream, batch 0: rows have shape \(4,\) but the source rows",
    ),
    "source without labels": (
        lambda Xs, ys, Xt: dict(source=Batches(Xs), target=Xt, classes=[0, 1]),
        "source batches must be pairs",
    ),
    "stream target with adabn": (
        lambda Xs, ys, Xt: dict(
            source=(Xs, ys), target=Batches(Xt), classes=[0, 1], strategy="adabn"
        ),
        "strategy 'adabn' reads every target row again",
    ),
    "steps_per_epoch with arrays": (
        lambda Xs, ys, Xt: dict(source=(Xs, ys), target=Xt, steps_per_epoch=3),
        "steps_per_epoch is for streamed input",
    ),
}


@pytest.mark.parametrize("case", sorted(STREAM_ERRORS))
def test_stream_errors_say_what_to_pass(case, data):
    Xs, ys, Xt, _ = data
    make, message = STREAM_ERRORS[case]
    kwargs = make(Xs, ys, Xt)
    params = {**FAST, "strategy": kwargs.pop("strategy", "dann")}
    clf = DomainAdaptiveClassifier(**params)
    with pytest.raises((ValueError, TypeError), match=message):
        clf.fit(**kwargs)
    assert not hasattr(clf, "model_")


def test_temp_files_are_not_left_open(tmp_path):
    X = make_memmap(tmp_path / "x.dat", np.ones((10, 2)))
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    for _ in range(20):
        read_rows(X, [1, 3])
    after = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    assert after <= before


# ---- TransferClassifier: a streamed target task --------------------------------


@pytest.fixture(scope="module")
def digits_task():
    """Digits 0-4 as the source task (a small trained Keras model), 5-9 as the
    target task."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype("float32")
    keras.utils.set_random_seed(0)
    source = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(5),
        ]
    )
    source.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    source.fit(X[y < 5], y[y < 5], epochs=3, verbose=0)
    return source, X[y >= 5], y[y >= 5]


def test_stream_batches_target_alone_are_labelled_target_rows():
    X, y = np.arange(12.0).reshape(6, 2), np.array([3, 4, 3, 4, 3, 4])
    steps = StreamBatches(None, batches_of(X, y, 4), encode_labels=lambda v: v - 3)
    assert steps.row_shape == (2,) and steps.steps_per_epoch is None
    x, labels = steps.step()
    assert x.shape == (4, 2)
    assert labels["label"].tolist() == [0, 1, 0, 1]
    assert labels["is_source"].tolist() == [0.0] * 4
    two_devices = StreamBatches(None, batches_of(X, y, 5), shards=2)
    assert two_devices.step()[0].shape == (4, 2)  # rounded down to a multiple of 2
    one_row = StreamBatches(None, batches_of(X[:1], y[:1], 1), shards=2)
    with pytest.raises(ValueError, match="A step has 1 target rows, fewer than the 2"):
        one_row.step()
    unlabelled = StreamBatches(None, batches_of(X, None, 4))
    with pytest.raises(ValueError, match=r"yield pairs \(X_batch, y_batch\)"):
        unlabelled.step()


def test_transfer_classifier_trains_on_a_streamed_target(digits_task):
    """A PyDataset target: one step per batch, the given classes, and about the
    accuracy of the same rows given as arrays."""
    from keras_transfer import TransferClassifier

    source, Xt, yt = digits_task
    counter = CountSteps()
    params = dict(source_model=source, epochs=6, random_state=0)
    streamed = TransferClassifier(**params, callbacks=[counter]).fit(
        target=Batches(Xt, yt, size=64), classes=[5, 6, 7, 8, 9, 10]
    )
    n_batches = -(-len(Xt) // 64)
    assert counter.steps == 6 * n_batches
    assert streamed.classes_.tolist() == [5, 6, 7, 8, 9, 10]  # 10: no row holds it
    assert streamed.n_features_in_ == 64
    arrays = TransferClassifier(**params, steps_per_epoch=n_batches).fit(Xt, yt)
    acc_streamed, acc_arrays = streamed.score(Xt, yt), arrays.score(Xt, yt)
    assert acc_streamed > 0.6, acc_streamed  # 5 classes: chance 0.2
    assert abs(acc_streamed - acc_arrays) < 0.15, (acc_streamed, acc_arrays)


def test_transfer_classifier_generator_target_needs_steps_per_epoch(digits_task):
    from keras_transfer import TransferClassifier

    source, Xt, yt = digits_task
    generate = batches_of(Xt, yt, 50)
    with pytest.raises(ValueError, match="Pass steps_per_epoch=N to the constructor"):
        TransferClassifier(source_model=source, epochs=1).fit(
            target=generate, classes=np.unique(yt)
        )
    counter = CountSteps()
    clf = TransferClassifier(
        source_model=source, epochs=2, steps_per_epoch=3, callbacks=[counter]
    ).fit(generate, classes=np.unique(yt))  # the packed form: X is the stream
    assert counter.steps == 6 and clf.predict(Xt[:5]).shape == (5,)


TRANSFER_STREAM_ERRORS = {
    "no classes": (
        dict(),
        "A streamed target has no labels up front: pass classes=",
    ),
    "streamed source": (
        dict(source="stream", classes=[5, 6, 7, 8, 9]),
        "A streamed source cannot be pretrained here",
    ),
    "joint with source rows": (
        dict(source="arrays", classes=[5, 6, 7, 8, 9], strategy="joint"),
        "strategy='joint' trains on source rows next to the target batches",
    ),
    "label outside classes": (
        dict(classes=[5, 6]),
        "target stream, batch 0: Labels .* not among the classes given to fit",
    ),
}


@pytest.mark.parametrize("case", sorted(TRANSFER_STREAM_ERRORS))
def test_transfer_classifier_stream_errors_say_what_to_pass(case, digits_task):
    from keras_transfer import TransferClassifier

    source, Xt, yt = digits_task
    kwargs, message = TRANSFER_STREAM_ERRORS[case]
    kwargs = dict(kwargs)
    strategy = kwargs.pop("strategy", "fine_tune")
    given = kwargs.pop("source", None)
    if given == "stream":
        kwargs["source"] = batches_of(Xt, yt)
    elif given == "arrays":
        kwargs["source"] = (Xt, yt)
    clf = TransferClassifier(
        strategy,
        source_model=None if given else source,
        epochs=1,
        pretrain_epochs=1,
    )
    with pytest.raises((ValueError, TypeError), match=message):
        clf.fit(target=Batches(Xt, yt), **kwargs)
    assert not hasattr(clf, "model_")
