"""The subcommands: demo, fit, transfer, predict, evaluate, benchmark, strategies."""

from __future__ import annotations

import ast
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from keras_transfer.cli._backend import _running_backend, _say_backend
from keras_transfer.cli._common import DEMO_FIT, CLIError
from keras_transfer.cli._data import (
    _check_exists,
    _check_strategy,
    _data_for,
    _key_values,
    _load_model,
    _make_parent,
    _source_input,
    read_data,
    source_labels,
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


def _fit_and_save(clf, out, *args, **kwargs) -> float:
    """``clf.fit(*args, **kwargs)``, then save it to ``out``; returns the
    fit's seconds."""
    _say_backend()
    t0 = time.perf_counter()
    clf.fit(*args, **kwargs)
    seconds = time.perf_counter() - t0
    _make_parent(out)
    clf.save(out)
    return seconds


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
    seconds = _fit_and_save(clf, args.out, (Xs, ys), Xt)
    labelled = np.array([v is not None for v in ys.tolist()])
    y_known = np.array(ys[labelled].tolist())
    print(
        f"Fitted {args.strategy} on {Xs.shape[0]} source rows "
        f"({len(clf.classes_)} classes) and {Xt.shape[0]} target rows "
        f"in {seconds:.1f} s (backend {_running_backend()}); "
        f"source accuracy {clf.score(Xs[labelled], y_known):.3f}."
    )
    print(f"Model saved to {args.out}")
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
    seconds = _fit_and_save(clf, args.out, source=source, target=(Xt, yt))
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
    repo = Path(__file__).resolve().parents[2] / "benchmarks"
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
