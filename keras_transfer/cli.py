"""``keras-transfer``: domain adaptation from the command line.

Subcommands::

    keras-transfer demo                       # rotated moons, before/after table + PNG
    keras-transfer fit SOURCE TARGET -o model.pkl --strategy dann
    keras-transfer transfer SOURCE TARGET -o model.pkl --strategy fine_tune
    keras-transfer predict model.pkl DATA -o predictions.csv
    keras-transfer evaluate model.pkl DATA    # accuracy on a labelled file
    keras-transfer benchmark [NAME]           # run benchmarks/NAME.py (or list them)
    keras-transfer strategies                 # names accepted by --strategy

Data files: CSV (last column is the label, or ``--label-column``), NPZ (arrays
``X`` and optional ``y``), svmlight/libsvm, a folder of images (one subfolder
per class; a flat folder is unlabelled) or a TensorFlow Datasets name such as
``tfds:mnist:train``. The Keras backend is chosen with ``--backend`` (or
``KERAS_BACKEND``) before Keras is imported. Errors print one line on stderr
and exit with status 2 (``KERAS_TRANSFER_DEBUG=1`` shows the traceback).

Example:
>>> from keras_transfer.cli import main
>>> main(["--version"])  # doctest: +ELLIPSIS
keras-transfer ...
0
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

PROG = "keras-transfer"
BACKENDS = ("jax", "tensorflow", "torch")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
SVMLIGHT_SUFFIXES = {".svm", ".svmlight", ".libsvm"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
DEFAULT_MODEL = "keras_transfer_model.pkl"
DEFAULT_DEMO_PNG = "keras_transfer_demo.png"
# The demo's training settings: those of the project's own DANN-vs-source-only
# test on rotated moons (fixed, never tuned on target labels).
DEMO_FIT = dict(epochs=20, batch_size=128, learning_rate=3e-3)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------
# backend


#: why the backend was chosen (said on stderr by the commands that train)
_BACKEND_REASON = {"why": None}


def _choose_backend(requested: str | None) -> str | None:
    """Set KERAS_BACKEND before Keras is imported; return the backend name."""
    name, why = _pick_backend(requested)
    _BACKEND_REASON["why"] = why
    return name


def _pick_backend(requested: str | None) -> tuple[str | None, str]:
    if requested and requested not in BACKENDS:
        raise CLIError(f"unknown backend {requested!r}; use one of {list(BACKENDS)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's C++ logs
    if "keras" in sys.modules:
        import keras

        running = keras.backend.backend()
        if requested and requested != running:
            raise CLIError(
                f"--backend {requested}: Keras is already running on {running} in "
                "this process; start a new process (or set KERAS_BACKEND first)"
            )
        return running, "already running in this process"
    if requested:
        os.environ["KERAS_BACKEND"] = requested
        return requested, "--backend"
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "$KERAS_BACKEND"
    configured = _keras_json_backend()
    if configured and _installed(configured):
        # Keras reads its own configuration
        return configured, "from Keras's keras.json; --backend to change"
    # No usable choice anywhere: take the first installed backend, fastest first.
    for name in BACKENDS:
        if _installed(name):
            os.environ["KERAS_BACKEND"] = name
            return name, "the first installed; --backend to change"
    return None, None


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _keras_json_backend() -> str | None:
    """The backend named in Keras's own keras.json, if any."""
    import json

    home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    path = os.path.join(os.path.expanduser(home), "keras.json")
    try:
        with open(path) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return backend if isinstance(backend, str) else None


def _say_backend() -> None:
    """One line on stderr: which Keras backend runs, and why (said where the
    work starts, so that an error before it stays one line)."""
    why = _BACKEND_REASON["why"]
    print(
        f"{PROG}: Keras backend {_running_backend()}" + (f" ({why})" if why else ""),
        file=sys.stderr,
        flush=True,
    )


def _running_backend() -> str:
    from keras_transfer import backend

    return backend.name()


# ---------------------------------------------------------------------------
# reading data


def _check_exists(*paths) -> None:
    from keras_transfer.datasets import is_tfds_name

    for path in paths:
        if path is None or is_tfds_name(path):
            continue
        if not os.path.exists(path):
            raise CLIError(f"no such file or folder: {path}")


def _parse_label(values: list[str]) -> np.ndarray:
    """Integer labels when every value is an integer, else strings."""
    try:
        floats = np.array([float(v) for v in values])
    except ValueError:
        return np.array(values, dtype=str)
    if np.all(np.isfinite(floats)) and np.all(floats == np.round(floats)):
        return floats.astype(np.int64)
    return np.array(values, dtype=str)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path, label_column=None, n_features: int | None = None):
    """Features and labels from a CSV file (header row optional).

    The label is the last column, or ``label_column`` (a header name or a
    0-based index). When ``n_features`` is given and the file has exactly that
    many columns, it holds no labels (``y`` is None).
    """
    name = str(path).removesuffix(".gz")
    delimiter = "\t" if name.endswith(".tsv") else ","
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=delimiter) if row]
    if not rows:
        raise CLIError(f"{path} is empty")
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise CLIError(f"{path} has a header but no data rows")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise CLIError(
                f"{path}: row {i + 1 + (header is not None)} has {len(row)} "
                f"columns, expected {width}"
            )
    table = np.array(rows, dtype=object)
    if label_column is None and n_features is not None and width == n_features:
        label_idx = None
    elif label_column is None:
        label_idx = width - 1
    elif header is not None and str(label_column) in header:
        label_idx = header.index(str(label_column))
    elif str(label_column).lstrip("-").isdigit():
        label_idx = int(label_column) % width
    elif n_features is not None and width == n_features:
        label_idx = None  # an unlabelled file without the label column
    else:
        raise CLIError(
            f"{path}: no column {label_column!r}"
            + (f" (columns: {', '.join(header)})" if header else "")
        )
    feature_idx = [j for j in range(width) if j != label_idx]
    try:
        X = table[:, feature_idx].astype(np.float32)
    except ValueError:
        raise CLIError(
            f"{path}: non-numeric feature values; the label must be the last "
            "column or be named with --label-column"
        ) from None
    y = None if label_idx is None else _parse_label(list(table[:, label_idx]))
    return X, y


def _read_images(path, image_shape=None):
    """Images (n, H, W, C) in [0, 1] and labels (subfolder names) or None."""
    from PIL import Image

    root = Path(path)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    loose = sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if subdirs and loose:
        raise CLIError(
            f"{path} mixes images and class subfolders; put every image in a "
            "subfolder named after its class (or none, for unlabelled images)"
        )
    if subdirs:
        files = [
            (f, d.name)
            for d in subdirs
            for f in sorted(d.iterdir())
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        ]
    else:
        files = [(f, None) for f in loose]
    if not files:
        raise CLIError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except OSError as err:
            raise CLIError(f"cannot read image {f}: {err}") from None
    if image_shape is None:
        grey = all(im.mode in ("1", "L", "I", "I;16", "F") for im in images)
        width, height = images[0].size
        channels = 1 if grey else 3
    else:
        height, width, channels = image_shape
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for im in images:
        im = im.convert(mode)
        if im.size != (width, height):
            im = im.resize((width, height), Image.BILINEAR)
        arrays.append(np.asarray(im, dtype=np.float32) / 255.0)
    X = np.stack(arrays).reshape(len(arrays), height, width, channels)
    labels = [label for _, label in files]
    y = None if labels[0] is None else _parse_label(labels)
    return X, y


def read_data(path, label_column=None, n_features=None, image_shape=None):
    """``(X, y)`` from a CSV, NPZ, svmlight file, image folder or TFDS name.

    ``y`` is None for unlabelled data. ``n_features`` (tabular) and
    ``image_shape`` (images) describe what a fitted model expects.

    Example:
    >>> import os, tempfile
    >>> from keras_transfer.cli import read_data
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,b,label\\n0.5,1.0,cat\\n1.5,0.0,dog\\n")
    >>> X, y = read_data(path)
    >>> X.shape, y.tolist()
    ((2, 2), ['cat', 'dog'])
    """
    from keras_transfer.datasets import is_tfds_name, load_tfds

    if is_tfds_name(path):
        return load_tfds(path)
    path = os.fspath(path)
    if os.path.isdir(path):
        return _read_images(path, image_shape)
    suffix = Path(path).suffix.lower()
    if suffix == ".gz":
        suffix = Path(path[:-3]).suffix.lower()
    if suffix == ".npz" and not path.endswith(".gz"):
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data:
                raise CLIError(
                    f"{path} has no array 'X' (arrays: {', '.join(data.files)})"
                )
            X = data["X"]
            y = data["y"] if "y" in data else None
        return X, y
    if suffix in SVMLIGHT_SUFFIXES:
        from sklearn.datasets import load_svmlight_file

        X, y = load_svmlight_file(path, n_features=n_features, dtype=np.float32)
        if n_features is not None and X.shape[1] != n_features:
            raise CLIError(
                f"{path} has {X.shape[1]} features; the model expects {n_features}"
            )
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
        return X, y
    if suffix in CSV_SUFFIXES:
        return read_csv(path, label_column, n_features)
    raise CLIError(
        f"{path}: unknown format {suffix or '(no suffix)'}; use .csv, .npz, "
        ".svmlight/.svm/.libsvm, a folder of images or a tfds:NAME:SPLIT name"
    )


def source_labels(y, unlabelled=None) -> np.ndarray:
    """Labels of a source file for the estimators, every row a class.

    The estimators read ``-1`` as "unlabelled" (the packed form's mask);
    in a source file every row is labelled, so integer labels holding -1
    (sentiment's -1/+1) become class names (``"-1"``, ``"1"``), which
    ``predict`` writes back as they were. Rows whose label is
    ``unlabelled`` (compared as text) are the unlabelled ones.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.cli import source_labels
    >>> source_labels(np.array([-1, 1, 1])).tolist()
    ['-1', '1', '1']
    >>> source_labels(np.array([0, 1, 9]), unlabelled=9).tolist()
    [0, 1, None]
    """
    y = np.asarray(y)
    masked = (
        np.zeros(len(y), bool)
        if unlabelled is None
        else np.array([str(v) == str(unlabelled) for v in y.tolist()])
    )
    if y.dtype.kind in "iuf" and np.any(y[~masked] == -1):
        y = y.astype(str)
    if masked.any():
        y = y.astype(object)
        y[masked] = None
    return y


def _check_label_column(estimator, y, path, label_column) -> None:
    """A CSV with one column more than the model's features: its last column is
    read as labels only if they are the model's classes (else an ID or an extra
    feature would silently shift the features)."""
    if (
        y is None
        or label_column is not None
        or not str(path)
        .lower()
        .endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz"))
    ):
        return
    classes = {str(c) for c in getattr(estimator, "classes_", ())}
    unknown = sorted({str(v) for v in np.asarray(y).tolist()} - classes)
    if unknown:
        raise CLIError(
            f"{path} has one column more than the model's "
            f"{getattr(estimator, 'n_features_in_', '?')} features, and its last "
            f"column is not labels of the model's classes (e.g. {unknown[0]!r}); "
            "drop the extra column, or name the label column with --label-column"
        )


def _expected_input(estimator):
    """(n_features, image_shape) that a fitted estimator expects."""
    shape = tuple(getattr(estimator, "input_shape_", ()) or ())
    if len(shape) == 1:
        return shape[0], None
    if len(shape) == 3:
        return None, shape
    if len(shape) == 2:
        return None, (*shape, 1)
    return getattr(estimator, "n_features_in_", None), None


def _source_input(X):
    """``(n_features, image_shape)`` of source rows, which the target must match."""
    return (X.shape[1] if X.ndim == 2 else None), (X.shape[1:] if X.ndim == 4 else None)


def _make_parent(path) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def _load_model(path):
    from keras_transfer.estimators import BaseTransferEstimator

    if not os.path.exists(path):
        raise CLIError(f"no such model file: {path}")
    return BaseTransferEstimator.load(path)


def _data_for(estimator, path, label_column):
    n_features, image_shape = _expected_input(estimator)
    X, y = read_data(path, label_column, n_features, image_shape)
    _check_label_column(estimator, y, path, label_column)
    if image_shape is not None and X.ndim == 4 and image_shape[-1] == 1:
        X = X.reshape(X.shape[0], *estimator.input_shape_)
    return X, y


# ---------------------------------------------------------------------------
# option parsing helpers


def _key_values(items, what):
    """``["units=(32,)", "gamma=5"]`` -> ``{"units": (32,), "gamma": 5}``."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"{what} {item!r}: write KEY=VALUE")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def _check_strategy(name: str) -> None:
    from keras_transfer.strategies import available_strategies

    if name.lower() not in available_strategies(transfer=False):
        raise CLIError(
            f"unknown strategy {name!r}; available: "
            + ", ".join(available_strategies(transfer=False))
        )


# ---------------------------------------------------------------------------
# subcommands


def _table(rows, headers) -> str:
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)
    ]
    fmt = [f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths)]

    def line(cells):
        return "  ".join(f.format(c) for f, c in zip(fmt, cells)).rstrip()

    rule = "-" * len(line(headers))
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def cmd_demo(args) -> int:
    """Source-only vs DANN on rotated moons: a table and a PNG."""
    if args.epochs < 1:
        raise CLIError("--epochs must be >= 1")
    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.datasets import make_rotated_moons
    from keras_transfer.diagnostics import plot_decision_boundaries

    backend = _running_backend()
    n = args.n_samples
    Xs, ys, Xt, yt = make_rotated_moons(n, n, angle=args.angle, random_state=args.seed)
    print(
        f"Rotated two moons: {n} labelled source points, {n} unlabelled target "
        f"points\n(the same moons rotated by {args.angle:g} degrees). "
        f"Keras backend: {backend}; {args.epochs} epochs; seed {args.seed}."
    )
    params = {**DEMO_FIT, "epochs": args.epochs}
    models, rows = {}, []
    for title, strategy in (("source only", "source_only"), ("DANN", "dann")):
        if args.verbose:
            print(f"\nFitting {title} ({strategy}) ...", flush=True)
        t0 = time.perf_counter()
        clf = DomainAdaptiveClassifier(
            strategy, random_state=args.seed, verbose=args.verbose, **params
        ).fit((Xs, ys), Xt)
        seconds = time.perf_counter() - t0
        models[title] = clf
        rows.append(
            [
                title,
                f"{clf.score(Xs, ys):.3f}",
                f"{clf.score(Xt, yt):.3f}",
                f"{seconds:.1f}",
            ]
        )
    before, after = float(rows[0][2]), float(rows[1][2])
    print()
    print(
        _table(
            rows,
            ["model", "source accuracy", "target accuracy", "fit time (s)"],
        )
    )
    change = 100 * (after - before)
    print(
        f"\nTarget accuracy before -> after adaptation: {before:.3f} -> {after:.3f} "
        f"({change:+.1f} points).\nThe target labels were used for this score only."
    )
    if args.out:
        plot_decision_boundaries(
            models,
            Xs,
            ys,
            Xt,
            yt,
            path=args.out,
            title=(
                f"Rotated two moons ({args.angle:g}°): target accuracy "
                f"{before:.3f} (source only) → {after:.3f} (DANN)"
            ),
        )
        print(f"Plot written to {os.path.abspath(args.out)}")
    return 0


def cmd_fit(args) -> int:
    """Fit on a labelled source and an unlabelled target; save the estimator."""
    _check_exists(args.source, args.target)
    _check_strategy(args.strategy)
    from keras_transfer import DomainAdaptiveClassifier

    strategy_params = _key_values(args.param, "--param")
    backbone_params = _key_values(args.backbone_param, "--backbone-param")
    Xs, ys = read_data(args.source, args.label_column)
    if ys is None:
        raise CLIError(f"{args.source} has no labels; the source must be labelled")
    ys = source_labels(ys, args.unlabelled)
    Xt, yt = read_data(args.target, args.label_column, *_source_input(Xs))
    if yt is not None and args.verbose:
        print(
            f"Note: the labels in {args.target} are ignored (unsupervised "
            "adaptation); use 'keras-transfer evaluate' to score the target."
        )
    clf = DomainAdaptiveClassifier(
        strategy=args.strategy,
        adaptation_weight=args.adaptation_weight,
        schedule=args.schedule,
        backbone=args.backbone,
        backbone_params=backbone_params or None,
        strategy_params=strategy_params or None,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        random_state=args.seed,
        verbose=args.verbose,
    )
    _say_backend()
    t0 = time.perf_counter()
    clf.fit((Xs, ys), Xt)
    seconds = time.perf_counter() - t0
    out = args.out
    _make_parent(out)
    clf.save(out)
    labelled = np.array([v is not None for v in ys.tolist()])
    y_known = np.array(ys[labelled].tolist())
    print(
        f"Fitted {args.strategy} on {Xs.shape[0]} source rows "
        f"({len(clf.classes_)} classes) and {Xt.shape[0]} target rows "
        f"in {seconds:.1f} s (backend {_running_backend()}); "
        f"source accuracy {clf.score(Xs[labelled], y_known):.3f}."
    )
    print(f"Model saved to {out}")
    return 0


def cmd_transfer(args) -> int:
    """Fit a TransferClassifier: a source (data or model) and a labelled target."""
    _check_exists(args.source, args.target)
    from keras_transfer import TransferClassifier
    from keras_transfer.backbones.files import is_network_path
    from keras_transfer.estimators._methods import METHODS

    if args.strategy not in METHODS:
        raise CLIError(
            f"unknown transfer strategy {args.strategy!r}; available: "
            f"{', '.join(sorted(METHODS))}"
        )
    source = args.source
    is_model = is_network_path(source)
    expected = (None, None)
    if not is_model:
        Xs, ys = read_data(source, args.label_column)
        if ys is None:
            raise CLIError(f"{source} has no labels; a source task must be labelled")
        source = (Xs, source_labels(ys))
        expected = _source_input(Xs)
    Xt, yt = read_data(args.target, args.label_column, *expected)
    if yt is None:
        raise CLIError(f"{args.target} has no labels; the target task must be labelled")
    yt = source_labels(yt)
    clf = TransferClassifier(
        strategy=args.strategy,
        backbone=args.backbone,
        backbone_params=_key_values(args.backbone_param, "--backbone-param") or None,
        feature_layer=args.feature_layer,
        pretrain_epochs=args.pretrain_epochs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        random_state=args.seed,
        verbose=args.verbose,
    )
    _say_backend()
    t0 = time.perf_counter()
    clf.fit(source=source, target=(Xt, yt))
    seconds = time.perf_counter() - t0
    _make_parent(args.out)
    clf.save(args.out)
    what = "the model" if is_model else f"{len(source[1])} source rows"
    print(
        f"Transferred ({args.strategy}) from {what} to {Xt.shape[0]} target rows "
        f"({len(clf.classes_)} classes) in {seconds:.1f} s (backend "
        f"{_running_backend()}); target training accuracy {clf.score(Xt, yt):.3f}."
    )
    if clf.source_score_before_ is not None:
        print(f"Source accuracy on held-out rows: {clf.source_score_before_:.3f}")
    print(f"Model saved to {args.out}")
    return 0


def cmd_predict(args) -> int:
    """Write predicted labels (and probabilities) as CSV."""
    _check_exists(args.data)
    clf = _load_model(args.model)
    X, _ = _data_for(clf, args.data, args.label_column)
    _say_backend()
    pred = clf.predict(X)
    header = ["prediction"]
    columns = [pred]
    if args.proba:
        proba = clf.predict_proba(X)
        header += [f"proba_{c}" for c in clf.classes_]
        columns += [proba[:, k] for k in range(proba.shape[1])]
    out = sys.stdout if args.out == "-" else None
    if out is None:
        _make_parent(args.out)
    f = out or open(args.out, "w", newline="")
    try:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in zip(*columns):
            writer.writerow(
                [row[0], *(f"{p:.6g}" for p in row[1:])] if args.proba else [row[0]]
            )
    finally:
        if out is None:
            f.close()
    if out is None:
        print(f"{len(pred)} predictions written to {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    """Print the accuracy of a saved model on a labelled file."""
    _check_exists(args.data)
    clf = _load_model(args.model)
    X, y = _data_for(clf, args.data, args.label_column)
    if y is None:
        raise CLIError(f"{args.data} has no labels to evaluate against")
    _say_backend()
    pred = clf.predict(X)
    if pred.dtype.kind != np.asarray(y).dtype.kind and pred.dtype.kind in "US":
        y = np.asarray(y).astype(str)
    accuracy = float(np.mean(pred == y))
    print(f"accuracy {accuracy:.4f} on {len(y)} rows of {args.data}")
    return 0


def _benchmark_dirs(explicit):
    if explicit:
        return [Path(explicit)]
    here = Path.cwd() / "benchmarks"
    repo = Path(__file__).resolve().parents[1] / "benchmarks"
    return [d for d in dict.fromkeys([here, repo]) if d.is_dir()]


def _describe(script: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    except (SyntaxError, UnicodeDecodeError, OSError):
        doc = None
    return (doc or "").strip().splitlines()[0] if doc else ""


def _benchmarks(explicit):
    found = {}
    for d in _benchmark_dirs(explicit):
        for script in sorted(d.glob("*.py")):
            if not script.name.startswith("_"):
                found.setdefault(script.stem, script)
    return found


def cmd_benchmark(args) -> int:
    """Run benchmarks/NAME.py with this Python (or list the benchmarks)."""
    import subprocess

    if args.dir and not os.path.isdir(args.dir):
        raise CLIError(f"no such folder: {args.dir}")
    found = _benchmarks(args.dir)
    if args.name is None or args.list:
        if not found:
            print(
                "No benchmarks found (looked for benchmarks/*.py here and in the repo)."
            )
            return 0
        print("Available benchmarks (keras-transfer benchmark NAME [ARGS...]):")
        width = max(len(n) for n in found)
        for name, script in found.items():
            print(f"  {name:<{width}}  {_describe(script)}")
        return 0
    if args.name not in found:
        names = ", ".join(found) or "none found"
        raise CLIError(f"unknown benchmark {args.name!r}; available: {names}")
    script = found[args.name]
    env = dict(os.environ)
    if args.backend:
        env["KERAS_BACKEND"] = args.backend
    print(f"Running {script} ...", flush=True)
    return subprocess.call([sys.executable, str(script), *args.args], env=env)


def cmd_strategies(args) -> int:
    """List the strategy names accepted by --strategy."""
    from keras_transfer.strategies import available_strategies

    for name in available_strategies(transfer=False):
        print(name)
    return 0


# ---------------------------------------------------------------------------
# parser


def _weight(text: str):
    """--adaptation-weight: a number or 'auto'."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'auto', got {text!r}"
        ) from None


#: The estimator behind each command, and the files its defaults are read from.
ESTIMATORS = {
    "fit": (
        "DomainAdaptiveClassifier",
        "estimators/domain_adaptive.py",
        "strategies/base.py",  # DEFAULT_RECIPE: settings a recipe leaves open
    ),
    "transfer": (
        "TransferClassifier",
        "estimators/transfer.py",
        "estimators/_transfer_training.py",  # DEFAULT_EPOCHS, MIN_TARGET_STEPS, ...
    ),
}


def estimator_defaults(command: str) -> dict:
    """The defaults behind ``command``'s options, read from the estimator's source.

    The ``__init__`` defaults of the command's estimator (what
    ``inspect.signature`` gives) and the literal module constants of its
    files, read with :mod:`ast`: importing the estimator would import Keras
    before ``--backend`` is read.

    Example:
    >>> from keras_transfer.cli import estimator_defaults
    >>> estimator_defaults("transfer")["strategy"]
    'fine_tune'
    """
    name, *files = ESTIMATORS[command]
    values = {}
    for relpath in files:
        source = (Path(__file__).parent / relpath).read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id.isupper():
                    try:
                        values[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
            if isinstance(node, ast.ClassDef) and node.name == name:
                init = next(
                    n
                    for n in node.body
                    if isinstance(n, ast.FunctionDef) and n.name == "__init__"
                )
                args = init.args
                named = args.posonlyargs + args.args
                pairs = [
                    *zip(named[len(named) - len(args.defaults) :], args.defaults),
                    *zip(args.kwonlyargs, args.kw_defaults),
                ]
                for arg, default in pairs:
                    try:  # None: a keyword-only parameter without a default
                        values[arg.arg] = ast.literal_eval(default)
                    except ValueError:
                        pass
    return values


#: The options of 'fit' and 'transfer', each defined once: dest -> (flags,
#: argparse keywords). ``param``: the estimator parameter whose default the
#: option takes. A command may word a help its own way; helps are formatted
#: with ``default`` and the values of :func:`estimator_defaults`
#: (see _add_training_options).
TRAINING_OPTIONS = {
    "out": (
        ("-o", "--out"),
        {"default": DEFAULT_MODEL, "help": "model file ({default})"},
    ),
    "strategy": (("-s", "--strategy"), {"param": "strategy"}),
    "backbone": (("--backbone",), {"param": "backbone"}),
    "backbone_param": (
        ("--backbone-param",),
        {
            "action": "append",
            "metavar": "KEY=VALUE",
            "help": "backbone parameter (repeatable), e.g. --backbone-param "
            "units=(128,64)",
        },
    ),
    "epochs": (
        ("--epochs",),
        {"type": int, "param": "epochs", "help": "default {default}"},
    ),
    "batch_size": (
        ("--batch-size",),
        {"type": int, "param": "batch_size", "help": "default {default}"},
    ),
    "learning_rate": (("--learning-rate",), {"type": float, "param": "learning_rate"}),
    "seed": (
        ("--seed",),
        {"type": int, "param": "random_state", "help": "random seed"},
    ),
}


def _add_training_options(parser, command: str, **helps) -> dict:
    """Add TRAINING_OPTIONS to ``command``'s parser (defaults and helps filled
    from its estimator; ``helps``: its own wording); returns the defaults."""
    values = estimator_defaults(command)
    for dest, (flags, keywords) in TRAINING_OPTIONS.items():
        keywords = dict(keywords)
        param = keywords.pop("param", None)
        if param is not None:
            keywords["default"] = values.get(param)
        text = helps.get(dest, keywords.get("help"))
        if text is not None:
            keywords["help"] = text.format(default=keywords.get("default"), **values)
        parser.add_argument(*flags, dest=dest, **keywords)
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``keras-transfer`` (for docs and tests).

    Example:
    >>> from keras_transfer.cli import build_parser
    >>> build_parser().parse_args(["demo", "--epochs", "3"]).epochs
    3
    """
    from keras_transfer import __version__

    parser = _Parser(
        prog=PROG,
        description=(
            "Transfer learning and domain adaptation on Keras 3 (JAX, TensorFlow, "
            "PyTorch). Start with 'keras-transfer demo'."
        ),
        epilog="Run 'keras-transfer COMMAND --help' for the options of a command.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    common = _Parser(add_help=False)
    common.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (default: $KERAS_BACKEND, Keras's config, or the first "
        "installed of jax, tensorflow, torch)",
    )
    training = _Parser(add_help=False)
    training.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Keras fit verbosity: 1 progress bars (default), 2 one line per "
        "epoch, 0 silent",
    )
    training.add_argument(
        "-q",
        "--quiet",
        dest="verbose",
        action="store_const",
        const=0,
        help="same as --verbose 0",
    )
    labels = _Parser(add_help=False)
    labels.add_argument(
        "--label-column",
        metavar="COL",
        help="CSV label column: a header name or a 0-based index (default: the "
        "last column; a file with exactly the model's feature count is unlabelled)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "demo",
        parents=[common, training],
        help="source-only vs DANN on rotated moons: table + PNG (no download)",
        description=(
            "Fit a source-only model and DANN on the rotated two-moons problem "
            "(embedded data, nothing to download), print their target accuracy "
            "before and after adaptation and save a plot of both decision regions."
        ),
    )
    p.add_argument("--epochs", type=int, default=DEMO_FIT["epochs"], help="default 20")
    p.add_argument("--seed", type=int, default=0, help="seed of data and models")
    p.add_argument(
        "--angle", type=float, default=30.0, help="target rotation, degrees (30)"
    )
    p.add_argument(
        "--n-samples", type=int, default=2000, help="points per domain (2000)"
    )
    p.add_argument(
        "-o",
        "--out",
        default=DEFAULT_DEMO_PNG,
        help=f"PNG to write (default ./{DEFAULT_DEMO_PNG}; '' for none)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "fit",
        parents=[common, training, labels],
        help="fit on SOURCE (labelled) and TARGET (unlabelled) files; save the model",
        description=(
            "Fit a DomainAdaptiveClassifier on a labelled SOURCE and an unlabelled "
            "TARGET and save it with estimator.save(). Files: CSV (label in the "
            "last column), NPZ (X, y), svmlight, a folder of images (one "
            "subfolder per class) or tfds:NAME:SPLIT. Target labels, if any, "
            "are ignored."
        ),
    )
    p.add_argument("source", help="labelled source data")
    p.add_argument("target", help="target data (labels, if present, are ignored)")
    p.add_argument(
        "--unlabelled",
        metavar="VALUE",
        help="label value that marks unlabelled SOURCE rows (default: none; "
        "every source row is labelled, -1 included)",
    )
    defaults = _add_training_options(
        p,
        "fit",
        strategy="adaptation strategy (default {default}; 'keras-transfer "
        "strategies' lists them)",
        backbone="feature extractor: auto (cnn for images, else mlp), mlp or cnn",
        batch_size="rows per domain per batch ({default})",
        learning_rate="default: the strategy's recipe "
        "({DEFAULT_RECIPE[learning_rate]:g})",
    )
    p.add_argument(
        "--adaptation-weight",
        type=_weight,
        default=defaults["adaptation_weight"],
        metavar="LAMBDA",
        help="weight λ of the adaptation loss, or 'auto' (choose it without "
        "target labels); default: the strategy's recipe",
    )
    p.add_argument(
        "--schedule",
        default=defaults["schedule"],
        help="λ schedule: ganin, constant, warmup (default: the strategy's recipe)",
    )
    p.add_argument(
        "--optimizer",
        default=defaults["optimizer"],
        help="Keras optimizer name (default: the strategy's recipe, "
        f"{defaults['DEFAULT_RECIPE']['optimizer']})",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="strategy parameter (repeatable), e.g. --param units=(32,)",
    )
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser(
        "transfer",
        parents=[common, training, labels],
        help="transfer learning: pretrain on SOURCE (or load a model), fit TARGET",
        description=(
            "Fit a TransferClassifier: SOURCE is a labelled data file (its own "
            "label set; a network is pretrained on it) or a pretrained model "
            "(.keras, legacy .h5, a keras_hub preset folder); TARGET is the "
            "labelled target task. Saves the estimator with estimator.save(); "
            "'predict' and 'evaluate' read it."
        ),
    )
    p.add_argument("source", help="labelled source data, or a pretrained model")
    p.add_argument("target", help="labelled target data")
    defaults = _add_training_options(
        p,
        "transfer",
        strategy="{default} (default), lp_ft, feature_extraction, partial, gradual, "
        "joint, lwf, adapter, lora, fusion",
        backbone="architecture pretrained on source data: auto, mlp, cnn, resnet",
        backbone_param="backbone parameter (repeatable), e.g. --backbone-param "
        "units=(128,)",
        epochs="default: {DEFAULT_EPOCHS} (and ≥{MIN_TARGET_STEPS:,} steps)",
        learning_rate="default: the source run's ({DEFAULT_LEARNING_RATE:g})",
    )
    p.add_argument(
        "--feature-layer",
        default=defaults["feature_layer"],
        help="where features end",
    )
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=defaults["pretrain_epochs"],
        help=f"default: {defaults['DEFAULT_PRETRAIN_EPOCHS']} (and "
        f"≥{defaults['MIN_PRETRAIN_STEPS']:,} steps)",
    )
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser(
        "predict",
        parents=[common, labels],
        help="write a saved model's predictions on DATA as CSV",
        description="Predict labels for DATA with a model saved by 'fit'.",
    )
    p.add_argument("model", help="model file written by 'keras-transfer fit'")
    p.add_argument("data", help="data to predict (a label column, if any, is ignored)")
    p.add_argument(
        "-o",
        "--out",
        default="predictions.csv",
        help="CSV to write (default predictions.csv; '-' for stdout)",
    )
    p.add_argument(
        "--proba", action="store_true", help="add one probability column per class"
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "evaluate",
        parents=[common, labels],
        help="accuracy of a saved model on a labelled DATA file",
        description="Print the accuracy of a model saved by 'fit' on labelled DATA.",
    )
    p.add_argument("model", help="model file written by 'keras-transfer fit'")
    p.add_argument("data", help="labelled data")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "benchmark",
        parents=[common],
        help="run benchmarks/NAME.py (no NAME: list them)",
        description=(
            "Run a benchmark script from the benchmarks/ folder (of the current "
            "directory or of the keras_transfer source tree) with this Python. "
            "Arguments after NAME go to the script."
        ),
    )
    p.add_argument("name", nargs="?", help="benchmark name, e.g. overhead")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    p.add_argument("--list", action="store_true", help="list the benchmarks")
    p.add_argument("--dir", help="folder of benchmark scripts")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser(
        "strategies",
        parents=[common],
        help="list the strategy names accepted by --strategy",
        description="List the registered domain-adaptation strategies.",
    )
    p.set_defaults(func=cmd_strategies)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``keras-transfer`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 on a usage or data error (one
    line on stderr; set ``KERAS_TRANSFER_DEBUG=1`` for the traceback).

    Example:
    >>> from keras_transfer.cli import main
    >>> main(["fit", "missing.csv", "target.csv"])
    2
    """
    debug = os.environ.get("KERAS_TRANSFER_DEBUG", "") not in ("", "0")
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:  # --help and --version
            return int(exit_.code or 0)
        _choose_backend(getattr(args, "backend", None))
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... -o - | head`): not an error of ours. Point
        # stdout at devnull so the flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CLIError, ValueError, TypeError, OSError, ImportError, KeyError) as err:
        if debug:
            raise
        message = " ".join(str(err).split())
        if isinstance(err, KeyError) or not message:
            message = f"{type(err).__name__}: {message or repr(err)}"
        elif isinstance(err, (TypeError, ImportError)):
            message = f"{type(err).__name__}: {message}"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
