"""The keras-transfer command line: called in-process through main([...]).

One test runs the installed console script in a subprocess; everything else
calls ``main`` with tiny data and 1-2 epochs, on the process's backend.
"""

import gzip
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import run_python
from PIL import Image

from keras_transfer.cli import CLIError, build_parser, main, read_csv, read_data
from keras_transfer.datasets import load_digits_shift, make_rotated_moons

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def run(capture, *argv):
    """main(argv) -> (exit code, stdout, stderr); capture is capsys or capfd."""
    code = main([str(a) for a in argv])
    out, err = capture.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-transfer: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def moons_files(tmp_path_factory):
    """Rotated moons as CSV (header, label last), unlabelled CSV and NPZ."""
    d = tmp_path_factory.mktemp("moons")
    Xs, ys, Xt, yt = make_rotated_moons(120, 100, angle=30, random_state=0)
    np.savetxt(
        d / "source.csv",
        np.c_[Xs, ys],
        delimiter=",",
        header="x1,x2,label",
        comments="",
        fmt="%.6g",
    )
    np.savetxt(d / "target.csv", Xt, delimiter=",", fmt="%.6g")
    np.savetxt(d / "target_labelled.csv", np.c_[Xt, yt], delimiter=",", fmt="%.6g")
    np.savez(d / "source.npz", X=Xs, y=ys)
    np.savez(d / "target.npz", X=Xt)
    return d, (Xs, ys, Xt, yt)


# ---- help and errors ----


def test_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("demo", "fit", "predict", "evaluate", "benchmark", "strategies"):
        assert command in out
    for command in ("demo", "fit", "predict", "evaluate", "benchmark"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and f"usage: keras-transfer {command}" in out
    code, out, _ = run(capsys, "fit", "--help")
    for option in ("--strategy", "--backend", "--epochs", "--label-column", "--out"):
        assert option in out


def test_transfer_help_names_every_transfer_strategy(capsys):
    from keras_transfer.estimators._methods import METHODS

    code, out, _ = run(capsys, "transfer", "--help")
    assert code == 0
    text = " ".join(out.split())  # argparse wraps the help
    for name in METHODS:
        assert name in text, name


def test_missing_file_is_one_line_exit_2(capsys, tmp_path):
    code, out, err = run(capsys, "fit", tmp_path / "nope.csv", tmp_path / "t.csv")
    assert_one_line_error(code, err, "no such file", "nope.csv")
    assert out == ""
    code, _, err = run(capsys, "evaluate", tmp_path / "model.pkl", tmp_path / "d.csv")
    assert_one_line_error(code, err, "d.csv")


def test_unknown_strategy_is_one_line_exit_2(capsys, moons_files):
    d, _ = moons_files
    code, _, err = run(capsys, "fit", d / "source.csv", d / "target.csv", "-s", "nope")
    assert_one_line_error(code, err, "unknown strategy 'nope'", "dann", "source_only")


def test_other_usage_errors_are_one_line(capsys, moons_files, tmp_path):
    d, _ = moons_files
    code, _, err = run(capsys)
    assert_one_line_error(code, err, "COMMAND")
    code, _, err = run(capsys, "fit", d / "source.csv")
    assert_one_line_error(code, err, "target")
    code, _, err = run(capsys, "demo", "--epochs", "many")
    assert_one_line_error(code, err, "--epochs")
    bad = tmp_path / "data.xyz"
    bad.write_text("1,2\n")
    code, _, err = run(capsys, "fit", bad, d / "target.csv")
    assert_one_line_error(code, err, "unknown format .xyz")
    code, _, err = run(
        capsys, "fit", d / "source.csv", d / "target.csv", "--param", "units"
    )
    assert_one_line_error(code, err, "KEY=VALUE")
    not_a_model = tmp_path / "model.pkl"
    not_a_model.write_bytes(b"not a pickle")
    code, _, err = run(capsys, "predict", not_a_model, d / "target.csv")
    assert_one_line_error(code, err, "not a readable keras_transfer estimator file")


def test_other_backend_than_the_running_one_is_refused(capsys):
    import keras

    other = "torch" if keras.backend.backend() != "torch" else "jax"
    code, _, err = run(capsys, "strategies", "--backend", other)
    assert_one_line_error(code, err, f"--backend {other}", "already running")
    code, out, _ = run(capsys, "strategies", "--backend", keras.backend.backend())
    assert code == 0 and "dann" in out.split()


@pytest.mark.parametrize(
    "configured, expected",
    [
        ("torch", "torch None"),  # Keras's own config, installed: left to Keras
        ("no_such_backend", "jax jax"),  # not installed: the first installed one
        (None, "jax jax"),  # no keras.json at all
    ],
)
def test_backend_choice_without_option_or_environment(tmp_path, configured, expected):
    if configured is not None:
        (tmp_path / "keras.json").write_text(f'{{"backend": "{configured}"}}')
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)
    code = (
        "import os; from keras_transfer.cli import _choose_backend; "
        "print(_choose_backend(None), os.environ.get('KERAS_BACKEND'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert proc.stdout.split()[-2:] == expected.split()


def test_console_script_errors_without_traceback(tmp_path):
    exe = shutil.which("keras-transfer")
    cmd = [exe] if exe else [sys.executable, "-m", "keras_transfer.cli"]
    proc = subprocess.run(
        [*cmd, "fit", str(tmp_path / "missing.csv"), str(tmp_path / "t.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"keras-transfer: error: no such file or folder: {tmp_path / 'missing.csv'}"
    ]


# ---- reading data ----


def test_read_csv_label_column_header_and_unlabelled(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("label,a,b\ncat,1,2\ndog,3,4\ncat,5,6\n")
    X, y = read_csv(path, label_column="label")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    assert list(y) == ["cat", "dog", "cat"]
    X, y = read_csv(path, label_column="0")
    assert X.shape == (3, 2) and list(y) == ["cat", "dog", "cat"]
    path.write_text("1,2,0\n3,4,1\n")
    X, y = read_csv(path)
    assert X.shape == (2, 2) and y.dtype.kind == "i" and list(y) == [0, 1]
    X, y = read_csv(path, n_features=3)  # as many columns as features: no label
    assert X.shape == (2, 3) and y is None
    path.write_text("1,2\n3\n")
    with pytest.raises(CLIError, match="row 2 has 1 columns"):
        read_csv(path)
    with gzip.open(tmp_path / "d.csv.gz", "wt") as f:
        f.write("a\tb\n")  # not a tab file: one column named 'a\tb', no rows
    with pytest.raises(CLIError, match="no data rows"):
        read_data(tmp_path / "d.csv.gz")
    with gzip.open(tmp_path / "d.tsv.gz", "wt") as f:
        f.write("a\tb\tlabel\n1\t2\tx\n")
    X, y = read_data(tmp_path / "d.tsv.gz")
    assert X.tolist() == [[1.0, 2.0]] and y.tolist() == ["x"]


def test_read_npz_svmlight_and_image_folders(tmp_path, moons_files):
    from sklearn.datasets import dump_svmlight_file

    d, (Xs, ys, _, _) = moons_files
    X, y = read_data(d / "source.npz")
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)
    X, y = read_data(d / "target.npz")
    assert y is None
    dump_svmlight_file(Xs, ys, str(tmp_path / "s.svm"))
    X, y = read_data(tmp_path / "s.svm", n_features=2)
    np.testing.assert_allclose(X.toarray(), Xs, rtol=1e-5)
    np.testing.assert_array_equal(y, ys)
    # An image folder: one subfolder per class, grey PNGs of two sizes.
    images = (np.arange(16).reshape(4, 4) * 16).astype("uint8")
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        Image.fromarray(images).save(tmp_path / "imgs" / cls / "a.png")
    Image.fromarray(images).resize((8, 8)).save(tmp_path / "imgs" / "dog" / "b.png")
    X, y = read_data(tmp_path / "imgs")
    assert X.shape == (3, 4, 4, 1) and list(y) == ["cat", "dog", "dog"]
    np.testing.assert_allclose(X[0, :, :, 0], images / 255.0, atol=1e-6)
    # A flat folder is unlabelled; RGB images can be read as grey for a model.
    (tmp_path / "flat").mkdir()
    Image.fromarray(np.stack([images] * 3, axis=-1)).save(tmp_path / "flat" / "x.png")
    X, y = read_data(tmp_path / "flat")
    assert X.shape == (1, 4, 4, 3) and y is None
    X, y = read_data(tmp_path / "flat", image_shape=(4, 4, 1))
    assert X.shape == (1, 4, 4, 1)


# ---- fit / predict / evaluate ----


def test_fit_predict_evaluate_csv(capsys, moons_files, tmp_path):
    from keras_transfer.estimators import BaseTransferEstimator

    d, (Xs, ys, Xt, yt) = moons_files
    model = tmp_path / "models" / "dann.pkl"
    code, out, err = run(
        capsys,
        "fit",
        d / "source.csv",
        d / "target.csv",
        "-o",
        model,
        "--strategy",
        "dann",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        "0",
        "--backend",
        BACKEND,
        "--param",
        "units=(16,)",
        "-q",
    )
    assert code == 0, err
    assert f"Model saved to {model}" in out and "source accuracy" in out
    clf = BaseTransferEstimator.load(model)
    assert clf.strategy == "dann" and clf.epochs == 2
    assert clf.strategy_params == {"units": (16,)}
    assert len(clf.history_["loss"]) == 2

    # predict: the label column of a labelled file is recognised and dropped.
    preds = tmp_path / "preds.csv"
    code, out, err = run(
        capsys, "predict", model, d / "target_labelled.csv", "-o", preds, "--proba"
    )
    assert code == 0, err
    rows = np.genfromtxt(preds, delimiter=",", names=True)
    assert rows.dtype.names == ("prediction", "proba_0", "proba_1")
    np.testing.assert_array_equal(rows["prediction"], clf.predict(Xt))
    np.testing.assert_allclose(
        np.c_[rows["proba_0"], rows["proba_1"]], clf.predict_proba(Xt), atol=1e-5
    )

    code, out, _ = run(capsys, "evaluate", model, d / "target_labelled.csv")
    accuracy = float(np.mean(clf.predict(Xt) == yt))
    assert code == 0 and f"accuracy {accuracy:.4f} on {len(yt)} rows" in out
    code, _, err = run(capsys, "evaluate", model, d / "target.csv")
    assert_one_line_error(code, err, "no labels")


def test_fit_image_folders_with_string_classes(capsys, tmp_path):
    Xs, ys, Xt, yt = load_digits_shift(random_state=0)
    names = np.array(["zero", "one", "two"])
    for folder, X, y in (("src", Xs, ys), ("tgt", Xt, yt)):
        for i in np.flatnonzero(y < 3)[:45]:
            sub = tmp_path / folder / names[y[i]]
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray((X[i] * 255).astype("uint8")).save(sub / f"{i}.png")
    model = tmp_path / "m.pkl"
    code, out, err = run(
        capsys,
        "fit",
        tmp_path / "src",
        tmp_path / "tgt",
        "-o",
        model,
        "--strategy",
        "source_only",
        "--epochs",
        "2",
        "--seed",
        "0",
        "-q",
    )
    assert code == 0, err
    code, out, err = run(capsys, "predict", model, tmp_path / "tgt", "-o", "-")
    predicted = out.split()[1:]
    assert code == 0 and len(predicted) == 45 and set(predicted) <= set(names)
    code, out, _ = run(capsys, "evaluate", model, tmp_path / "tgt")
    assert code == 0 and "on 45 rows" in out


# ---- demo ----


def test_demo_prints_a_table_and_writes_a_png(capsys, tmp_path):
    png = tmp_path / "demo.png"
    code, out, err = run(
        capsys,
        "demo",
        "--epochs",
        "1",
        "--n-samples",
        "200",
        "-q",
        "--out",
        png,
        "--backend",
        BACKEND,
    )
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert "source accuracy" in header and "target accuracy" in header
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.startswith(("source only", "DANN"))
    }
    assert set(rows) == {"source", "DANN"}
    accuracies = [float(rows[k].split()[-2]) for k in ("source", "DANN")]
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    assert f"{accuracies[0]:.3f} -> {accuracies[1]:.3f}" in out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 800 and im.size[1] > 400


# ---- benchmark ----


def test_benchmark_lists_and_runs_scripts(capfd, tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "hello.py").write_text(
        textwrap.dedent(
            '''\
            """Say hello and exit with the number of arguments."""
            import os, sys
            print("hello", os.environ.get("KERAS_BACKEND"), *sys.argv[1:])
            sys.exit(len(sys.argv) - 1)
            '''
        )
    )
    (bench / "_helpers.py").write_text("")
    code, out, _ = run(capfd, "benchmark", "--dir", bench)
    assert code == 0 and "hello" in out and "Say hello" in out
    assert "_helpers" not in out
    # The script runs in a child process with the arguments after NAME.
    code = main(["benchmark", "--dir", str(bench), "hello", "a", "b"])
    out = capfd.readouterr().out
    assert code == 2 and f"hello {BACKEND} a b" in out
    code, _, err = run(capfd, "benchmark", "--dir", bench, "nope")
    assert_one_line_error(code, err, "unknown benchmark 'nope'", "hello")


def test_parser_defaults_match_the_demo_settings():
    args = build_parser().parse_args(["demo"])
    assert (args.epochs, args.seed, args.verbose) == (20, 0, 1)
    assert args.out == "keras_transfer_demo.png"


def test_predict_to_a_closed_pipe_is_quiet(moons_files, tmp_path):
    """`keras-transfer predict ... -o - | head -1` printed `error: [Errno 32]
    Broken pipe`."""
    from keras_transfer import DomainAdaptiveClassifier

    d, (Xs, ys, Xt, _) = moons_files
    model = tmp_path / "m.pkl"
    DomainAdaptiveClassifier(epochs=1, random_state=0).fit((Xs, ys), Xt).save(model)
    many = tmp_path / "many.csv"
    np.savetxt(many, np.tile(Xt, (200, 1)), delimiter=",", fmt="%.6g")
    code = (
        "import sys; from keras_transfer.cli import main; "
        f"sys.exit(main(['predict', {str(model)!r}, {str(many)!r}, '-o', '-']))"
    )
    producer = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
    )
    assert producer.stdout.readline().strip() == b"prediction"
    producer.stdout.close()  # what `head -1` does after its line
    err = producer.stderr.read().decode()
    assert producer.wait(timeout=300) == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err, err


# ---- issue 14, item 13: the docs' own example, label markers, backends ----


def test_docs_example_on_the_amazon_svmlight_files(capsys, tmp_path, shared_data_dir):
    """docs/cli.md's `fit books.svmlight kitchen.svmlight -s coral ...` failed on
    the project's Amazon files (labels -1/+1: 'Only one class (1) among the
    labelled rows'): in a source file every row is labelled, -1 included."""
    amazon = shared_data_dir / "amazon_reviews"
    shutil.copy(amazon / "books_train.svmlight", tmp_path / "books.svmlight")
    shutil.copy(amazon / "kitchen_train.svmlight", tmp_path / "kitchen.svmlight")
    os.chdir(tmp_path)  # the docs' command, relative names and all
    model = tmp_path / "model.pkl"
    code, out, err = run(
        capsys, "fit", "books.svmlight", "kitchen.svmlight", "-s", "coral",
        "--adaptation-weight", "0.5", "-o", model, "--epochs", "2", "-q",
        "--seed", "0",
    )  # fmt: skip
    assert code == 0, err
    assert "(2 classes)" in out
    assert f"keras-transfer: Keras backend {BACKEND}" in err
    preds = tmp_path / "preds.csv"
    code, _, err = run(capsys, "predict", model, "kitchen.svmlight", "-o", preds)
    assert code == 0, err
    written = preds.read_text().split()
    assert written[0] == "prediction" and set(written[1:]) == {"-1", "1"}
    code, out, err = run(capsys, "evaluate", model, "kitchen.svmlight")
    assert code == 0, err
    accuracy = float(out.split()[1])
    assert accuracy > 0.6, out  # 2000 kitchen reviews, 1000/1000: chance is 0.5


def test_unlabelled_marker_names_the_unlabelled_source_rows(capsys, tmp_path):
    from keras_transfer.cli import source_labels
    from keras_transfer.estimators import BaseTransferEstimator

    assert source_labels(np.array([-1, 1])).tolist() == ["-1", "1"]
    assert source_labels(np.array([0, 1, 2]), "2").tolist() == [0, 1, None]
    Xs, ys, Xt, _ = make_rotated_moons(80, 60, angle=30, random_state=0)
    ys = ys.copy()
    ys[:20] = 9  # unlabelled rows, marked 9
    np.savetxt(tmp_path / "s.csv", np.c_[Xs, ys], delimiter=",", fmt="%.6g")
    np.savetxt(tmp_path / "t.csv", Xt, delimiter=",", fmt="%.6g")
    common = ["-o", tmp_path / "m.pkl", "--epochs", "1", "-q", "--seed", "0"]
    code, out, err = run(
        capsys, "fit", tmp_path / "s.csv", tmp_path / "t.csv", "-s",
        "source_only", "--unlabelled", "9", *common,
    )  # fmt: skip
    assert code == 0, err
    assert BaseTransferEstimator.load(tmp_path / "m.pkl").classes_.tolist() == [0, 1]
    # without the option, 9 is a third class
    code, out, err = run(
        capsys, "fit", tmp_path / "s.csv", tmp_path / "t.csv", "-s",
        "source_only", *common,
    )  # fmt: skip
    assert code == 0, err
    assert "(3 classes)" in out


def test_predict_refuses_an_extra_column_that_is_not_labels(
    capsys, moons_files, tmp_path
):
    """A CSV with one column more than the model's features was read as
    labelled at predict, its last column dropped: an ID column or an extra
    feature silently shifted the features."""
    d, (Xs, ys, Xt, yt) = moons_files
    model = tmp_path / "m.pkl"
    code, _, err = run(
        capsys, "fit", d / "source.csv", d / "target.csv", "-o", model,
        "--epochs", "1", "-q", "--seed", "0", "-s", "source_only",
    )  # fmt: skip
    assert code == 0, err
    extra = tmp_path / "extra.csv"
    np.savetxt(extra, np.c_[np.arange(len(Xt)), Xt], delimiter=",", fmt="%.6g")
    code, _, err = run(capsys, "predict", model, extra, "-o", tmp_path / "p.csv")
    assert_one_line_error(code, err, "one column more", "--label-column")
    # a labelled file (labels among the classes) is still fine
    code, _, err = run(
        capsys, "predict", model, d / "target_labelled.csv", "-o", tmp_path / "p.csv"
    )
    assert code == 0, err
    # and naming the label column says which one it is
    code, _, err = run(
        capsys, "predict", model, extra, "-o", tmp_path / "p.csv",
        "--label-column", "0",
    )  # fmt: skip
    assert code == 0, err


def test_transfer_command_pretrains_and_saves(capsys, tmp_path):
    from sklearn.datasets import load_digits

    from keras_transfer import backend as kt_backend
    from keras_transfer.estimators import BaseTransferEstimator

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    src, tgt = y < 5, y >= 5
    np.savetxt(tmp_path / "s.csv", np.c_[X[src], y[src]], delimiter=",", fmt="%.6g")
    np.savetxt(tmp_path / "t.csv", np.c_[X[tgt], y[tgt]], delimiter=",", fmt="%.6g")
    model = tmp_path / "tc.pkl"
    code, out, err = run(
        capsys, "transfer", tmp_path / "s.csv", tmp_path / "t.csv", "-o", model,
        "-s", "fine_tune", "--pretrain-epochs", "5", "--epochs", "10",
        "-q", "--seed", "0",
    )  # fmt: skip
    assert code == 0, err
    assert "Transferred (fine_tune) from" in out and "Model saved" in out
    assert f"Keras backend {BACKEND}" in err
    clf = BaseTransferEstimator.load(model)
    assert clf.classes_.tolist() == [5, 6, 7, 8, 9]
    assert clf.source_classes_.tolist() == [0, 1, 2, 3, 4]
    code, out, err = run(capsys, "evaluate", model, tmp_path / "t.csv")
    assert code == 0, err
    assert float(out.split()[1]) > 0.5, out  # 5 classes: chance is 0.2
    # a saved Keras model as the source
    keras_path = tmp_path / "source.keras"
    with kt_backend.keras_without_tensorflow():  # Keras's saving imports it
        clf.source_model_.save(keras_path)
    code, out, err = run(
        capsys, "transfer", keras_path, tmp_path / "t.csv", "-o", model,
        "--epochs", "1", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert "from the model" in out
    code, _, err = run(
        capsys, "transfer", keras_path, tmp_path / "t.csv", "-s", "warp", "-q"
    )
    assert_one_line_error(code, err, "unknown transfer strategy 'warp'")


@pytest.mark.parametrize(
    "command, estimator",
    [("fit", "DomainAdaptiveClassifier"), ("transfer", "TransferClassifier")],
)
def test_training_options_default_to_the_estimators_signature(command, estimator):
    """fit/transfer options are defined once (cli.TRAINING_OPTIONS) and take
    their defaults from the estimator's signature, which the CLI reads from
    the source (cli.estimator_defaults) so as not to import Keras early."""
    import inspect

    import keras_transfer
    from keras_transfer.cli import TRAINING_OPTIONS, estimator_defaults

    signature = inspect.signature(getattr(keras_transfer, estimator))
    expected = {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    read = estimator_defaults(command)
    assert {k: read[k] for k in expected} == expected
    args = build_parser().parse_args([command, "s.csv", "t.csv"])
    for dest, (_, keywords) in TRAINING_OPTIONS.items():
        if "param" in keywords:
            assert getattr(args, dest) == expected[keywords["param"]], dest
    for dest in ("adaptation_weight", "schedule", "optimizer", "feature_layer"):
        if hasattr(args, dest):
            assert getattr(args, dest) == expected[dest], dest


def test_building_the_parser_imports_no_keras():
    """The backend is chosen after parsing (--backend): the parser's defaults
    must not import the estimators (and so Keras)."""

    code = """
        import sys
        from keras_transfer.cli import build_parser
        build_parser().parse_args(["transfer", "s.csv", "t.csv"])
        print("keras" in sys.modules)
        """
    assert run_python(code).split()[-1] == "False"
