"""Save → load gives identical predictions: .keras files, pickle, new processes."""

import os
import pickle

import keras
import numpy as np
import pytest
from helpers import run_python

from keras_transfer import DomainAdaptiveClassifier

FAST = dict(epochs=2, batch_size=32, random_state=0, jit_compile=False)


@pytest.fixture(scope="module")
def fitted(small_moons):
    Xs, ys, Xt, _ = small_moons
    return DomainAdaptiveClassifier("dann", **FAST).fit((Xs, ys), Xt), Xt


def test_keras_file_round_trip(fitted, tmp_path):
    clf, Xt = fitted
    path = tmp_path / "model.keras"
    clf.model_.save(path)
    loaded = keras.models.load_model(path)
    expected = clf.model_.predict(Xt, verbose=0)["logits"]
    np.testing.assert_array_equal(loaded.predict(Xt, verbose=0)["logits"], expected)
    # The schedule state travels too: resuming training continues λ's ramp.
    assert float(loaded.step_counter.numpy()) == float(clf.model_.step_counter.numpy())
    assert loaded.strategy.name_ == "dann"


def test_estimator_save_load_and_pickle(fitted, tmp_path):
    clf, Xt = fitted
    expected = clf.predict_proba(Xt)
    path = tmp_path / "clf.pkl"
    clf.save(path)
    np.testing.assert_array_equal(
        DomainAdaptiveClassifier.load(path).predict_proba(Xt), expected
    )
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict_proba(Xt), expected
    )


def test_corrupted_or_truncated_file_gives_clear_error(fitted, tmp_path):
    clf, _ = fitted
    path = tmp_path / "clf.pkl"
    clf.save(path)
    data = path.read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        DomainAdaptiveClassifier.load(tmp_path / "cut.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="not a readable keras_transfer"):
        DomainAdaptiveClassifier.load(tmp_path / "junk.pkl")
    with pytest.raises(FileNotFoundError):
        DomainAdaptiveClassifier.load(tmp_path / "missing.pkl")


def test_file_from_another_layer_layout_says_refit(fitted, tmp_path, monkeypatch):
    """A file whose model no longer fits the library's layers (an earlier
    version's discriminator layout, simulated here by a DenseStack that builds
    one weight more) fails with a message that says to fit again."""
    from keras_transfer.layers import DenseStack

    clf, _ = fitted
    path = tmp_path / "clf.pkl"
    clf.save(path)
    build = DenseStack.build

    def build_one_more(self, input_shape):
        build(self, input_shape)
        self.add_weight(shape=(1,), initializer="zeros", name="extra")

    monkeypatch.setattr(DenseStack, "build", build_one_more)
    with pytest.raises(ValueError, match="fit the estimator again with this version"):
        DomainAdaptiveClassifier.load(path)
    with pytest.raises(ValueError, match="earlier keras_transfer version"):
        pickle.loads(path.read_bytes())


def test_file_with_a_model_class_that_is_gone_says_refit(fitted, monkeypatch):
    """A file whose Keras model was built from a class this version no longer
    has (as SHOT's and TENT's SourceFreeModel before they moved onto
    AdaptationModel) fails with the same refit message, not an
    AttributeError from deep inside pickle."""
    from keras_transfer.models import adaptation_model

    clf, _ = fitted
    data = pickle.dumps(clf)
    monkeypatch.delattr(adaptation_model, "AdaptationModel")
    with pytest.raises(ValueError, match="fit the estimator again with this version"):
        pickle.loads(data)


def test_failed_or_interrupted_save_leaves_no_temporary_file(
    fitted, tmp_path, monkeypatch
):
    """A save that fails or is interrupted (Ctrl-C) removes its temporary
    file and leaves any earlier file intact; a missing folder is reported
    by the user's path (it used to name the temporary and leave partials)."""
    clf, Xt = fitted
    path = tmp_path / "clf.pkl"
    clf.save(path)
    before = path.read_bytes()

    def interrupted_dump(obj, f, protocol=None):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(pickle, "dump", interrupted_dump)
    with pytest.raises(KeyboardInterrupt):
        clf.save(path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["clf.pkl"]
    assert path.read_bytes() == before
    missing = tmp_path / "no-such-folder" / "clf.pkl"
    with pytest.raises(FileNotFoundError, match="folder .*no-such-folder.* does not"):
        clf.save(missing)
    assert sorted(os.listdir(tmp_path)) == ["clf.pkl"]


def test_same_random_state_same_predictions(small_moons):
    Xs, ys, Xt, _ = small_moons
    a = DomainAdaptiveClassifier("dann", **FAST).fit((Xs, ys), Xt).predict_proba(Xt)
    b = DomainAdaptiveClassifier("dann", **FAST).fit((Xs, ys), Xt).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)


def test_new_process_and_other_backend(fitted, tmp_path):
    """A pickled estimator predicts identically in a new process; its .keras model
    loads on another backend with the same predictions (float tolerance)."""
    clf, Xt = fitted
    np.save(tmp_path / "Xt.npy", Xt)
    np.save(tmp_path / "expected.npy", clf.predict_proba(Xt))
    clf.save(tmp_path / "clf.pkl")
    clf.model_.save(tmp_path / "model.keras")
    here = keras.backend.backend()
    other = "jax" if here != "jax" else "torch"
    run_python(
        """
        import numpy as np
        from keras_transfer import DomainAdaptiveClassifier
        clf = DomainAdaptiveClassifier.load("clf.pkl")
        np.testing.assert_array_equal(clf.predict_proba(np.load("Xt.npy")),
                                      np.load("expected.npy"))
        """,
        here,
        tmp_path,
    )
    run_python(
        """
        import keras, numpy as np
        import keras_transfer.models  # registers the custom classes
        model = keras.models.load_model("model.keras")
        logits = np.asarray(model.predict(np.load("Xt.npy"), verbose=0)["logits"])
        p = np.exp(logits - logits.max(1, keepdims=True))
        np.testing.assert_allclose(p / p.sum(1, keepdims=True), np.load("expected.npy"),
                                   rtol=1e-4, atol=1e-5)
        """,
        other,
        tmp_path,
    )


def test_resume_from_backup_matches_uninterrupted_fit(small_moons, tmp_path):
    """keras.callbacks.BackupAndRestore: an interrupted fit, fitted again with the
    same backup directory, resumes and ends where an uninterrupted fit ends."""
    Xs, ys, Xt, _ = small_moons
    # The discriminator's dropout (DANN's default) draws from a seed state that
    # BackupAndRestore does not keep: the resumed fit is asked to match the
    # uninterrupted one without it (with it they differ by ~1e-3).
    params = dict(FAST, epochs=4, strategy_params={"dropout": 0.0})
    full = DomainAdaptiveClassifier("dann", **params).fit((Xs, ys), Xt)

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("power cut")

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    clf = DomainAdaptiveClassifier("dann", callbacks=[backup, Crash()], **params)
    with pytest.raises(RuntimeError, match="power cut"):
        clf.fit((Xs, ys), Xt)
    assert not hasattr(clf, "model_")
    clf.set_params(
        callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))]
    )
    clf.fit((Xs, ys), Xt)
    assert len(clf.history_["loss"]) == 2  # only epochs 3 and 4 ran again
    np.testing.assert_allclose(
        clf.predict_proba(Xt), full.predict_proba(Xt), rtol=1e-5, atol=1e-6
    )


def test_fits_and_pickles_leave_tensorflow_unimported():
    """Pickling a fitted estimator (Keras's saver asks whether TensorFlow is
    importable, importing it), distill's fresh copy of the backbone and the
    adapter's fresh optimizer imported TensorFlow (~500 MB, ~10 s) into JAX and
    torch processes."""
    code = """
        import pickle, sys
        from keras_transfer import DomainAdaptiveClassifier, TransferClassifier
        from keras_transfer.datasets import make_rotated_moons
        Xs, ys, Xt, yt = make_rotated_moons(64, 64, random_state=0)
        for name in ("source_only", "dann", "distill", "adapter"):
            clf = DomainAdaptiveClassifier(name, epochs=1, random_state=0)
            clf.fit((Xs, ys), Xt)
            back = pickle.loads(pickle.dumps(clf))
            assert (back.predict_proba(Xt) == clf.predict_proba(Xt)).all(), name
        clf = TransferClassifier(epochs=1, pretrain_epochs=1, random_state=0)
        pickle.loads(pickle.dumps(clf.fit(source=(Xs, ys), target=(Xt, yt))))
        print("tensorflow" in sys.modules)
        """
    stdout = run_python(code)
    assert stdout.split()[-1] == str(keras.backend.backend() == "tensorflow")


def test_shallow_copy_shares_the_fitted_model(fitted):
    """``copy.copy`` (the estimator takes one while checking a fit's input)
    went through ``__getstate__``, which pickles the models: a seeded refit
    then drew other initializer seeds (sklearn's check_supervised_y_2d)."""
    import copy

    clf, Xt = fitted
    twin = copy.copy(clf)
    assert twin is not clf and twin.model_ is clf.model_
