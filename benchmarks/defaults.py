"""Defaults benchmark (issue 12): every strategy as a new user runs it.

Each row is :class:`keras_transfer.DomainAdaptiveClassifier` given nothing but
the data and a seed (``DomainAdaptiveClassifier(strategy, random_state=seed)``):
the strategy's recipe decides λ, its schedule, the optimizer and the
learning rate; the backbone and epochs are the estimator's defaults. Beside
them, the two-column reporting of skada-bench:

* ``name@auto``: ``adaptation_weight="auto"``, λ chosen inside ``fit`` without
  target labels (candidates 0, 0.1, 0.3, 1 × the recipe's λ);
* ``auto``: ``strategy="auto"`` (source-only and four strategies at their
  recipes, chosen without target labels);
* ``name@oracle``: the best of λ ∈ {0, 0.1, 0.3, 1} × the recipe's λ *by target
  accuracy*, i.e. **chosen with target labels**, an upper bound no user has.

Tasks: MNIST→USPS and USPS→MNIST (2000/1800 protocol, 16x16, accuracy on the
target set itself), MNIST→MNIST-M-like (5000 MNIST training digits → 5000
MNIST-M-like images as unlabelled target, the other 5000 for test; MNIST
repeated on 3 channels), Amazon reviews (log1p counts, source and target
train files, the target test file for accuracy) and dense feature vectors
(``fM-U``, ``fU-M``, ``fM-MM``, ``fMM-M``: the digit domains seen through a CNN
trained on Fashion-MNIST, see ``features.py``).

Usage::

    KERAS_BACKEND=jax python3 benchmarks/defaults.py --tasks M-U,U-M \
        --strategies source_only,dann,mmd,auto,dann@auto --seeds 0,1,2
    python3 benchmarks/defaults.py --merge a.json,b.json   # one table
    python3 benchmarks/defaults.py --append --tasks M-MM --strategies dann \
        --seeds 1,2   # more seeds for cells already in --out
    python3 benchmarks/defaults.py --tasks M-U \
        --strategies "self_training[align='mmd']"   # strategy_params

Every write rebuilds the Markdown from the ``.json`` alone: prose added below
the table by hand ("Reading it") must be added again.

Results go to ``docs/benchmarks_defaults.md`` (and ``.json``), rewritten after
every cell, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if _SHARED.is_dir():
    os.environ.setdefault("KERAS_TRANSFER_DATA", str(_SHARED))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from features import FEATURE_PAIRS, feature_tasks  # noqa: E402
from strategies import (  # noqa: E402
    AMAZON_PAIRS,
    amazon_tasks,
    digits_tasks,
    log,
)

OUT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks_defaults.md"
DIGITS = ("M-U", "U-M", "M-MM")
ORACLE_MULTIPLIERS = (0.0, 0.1, 0.3, 1.0)


def mnistm_task(seed: int = 0):
    """5000 MNIST (3 channels) → 5000 MNIST-M-like unlabelled, 5000 for test."""
    from keras_transfer.datasets import load_mnist, load_mnistm_like

    Xs, ys = load_mnist("5k")  # 5000 training digits, 500 per class
    Xs = np.repeat(Xs.reshape(-1, 28, 28, 1), 3, axis=-1)
    X, y = load_mnistm_like()
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:5000], order[5000:]
    return Xs, ys, X[train], X[test], y[test]


def tasks_for(names):
    tasks = {}
    digit = [n for n in names if n in ("M-U", "U-M")]
    if digit:
        tasks.update(digits_tasks(digit))
    if "M-MM" in names:
        tasks["M-MM"] = mnistm_task()
    amazon = [n for n in names if n in AMAZON_PAIRS]
    if amazon:
        tasks.update(amazon_tasks(amazon))
    features = [n for n in names if n in FEATURE_PAIRS]
    if features:
        tasks.update(feature_tasks(features))
    return tasks


def accuracy(clf, X, y) -> float:
    return 100.0 * float(np.mean(clf.predict(X) == y))


def split_rows(text: str) -> list[str]:
    """Split at the commas outside brackets: ``a[x={'k':1,'j':2}],b``."""
    rows, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            rows.append(text[start:i])
            start = i + 1
    return [*rows, text[start:]]


def parse_row(row: str) -> tuple[str, dict]:
    """``wdgrl[a=1;b=0.1]`` -> ``("wdgrl", {"a": 1, "b": 0.1})``."""
    name, _, rest = row.partition("[")
    if rest and not rest.endswith("]"):
        raise SystemExit(f"rows are 'name' or 'name[param=value;...]', got {row!r}")
    pairs = [p for p in rest[:-1].split(";") if p] if rest else []
    return name, {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in pairs)}


def run_cell(row: str, seed: int, task) -> dict:
    """One row on one task and seed: {"acc": ..., plus what was chosen}."""
    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.strategies import data_kind, recipe_settings

    Xs, ys, Xt, Xe, ye = task
    spec, _, mode = row.partition("@")
    name, strategy_params = parse_row(spec)  # "mmd" or "self_training[align='mmd']"
    given = {"strategy_params": strategy_params} if strategy_params else {}
    if mode == "oracle":
        base = recipe_settings(name, data_kind(Xs))["adaptation_weight"]
        accs = {}
        for m in ORACLE_MULTIPLIERS:
            lam = round(base * m, 6)
            clf = DomainAdaptiveClassifier(
                "source_only" if lam == 0 else name,
                adaptation_weight=lam,
                random_state=seed,
                **({} if lam == 0 else given),
            ).fit((Xs, ys), Xt)
            accs[lam] = accuracy(clf, Xe, ye)
        best = max(accs, key=accs.get)
        return {"acc": accs[best], "chosen": f"λ={best:g}"}
    params = {"adaptation_weight": "auto"} if mode == "auto" else {}
    clf = DomainAdaptiveClassifier(name, random_state=seed, **params, **given).fit(
        (Xs, ys), Xt
    )
    out = {"acc": accuracy(clf, Xe, ye)}
    if hasattr(clf, "selection_"):
        out["chosen"] = f"{clf.strategy_} λ={clf.adaptation_weight_:g}"
    report = getattr(clf, "collapse_report_", None)
    if report is not None and report.collapsed:
        out["collapsed"] = "; ".join(report.reasons)
    return out


def cell_text(cells) -> str:
    if not cells:
        return "–"
    accs = [c["acc"] for c in cells]
    text = f"{np.mean(accs):.1f} ± {np.std(accs):.1f}"
    if any("collapsed" in c for c in cells):
        text += " (collapse warned)"
    return text


def write(results, meta, out: pathlib.Path):
    out.with_suffix(".json").write_text(json.dumps({"results": results, **meta}))
    groups = {"Amazon": AMAZON_PAIRS, "features": FEATURE_PAIRS}
    tasks = [
        t
        for t in list(DIGITS) + AMAZON_PAIRS + FEATURE_PAIRS
        if any(t in r for r in results.values())
    ]
    means = {group: [t for t in tasks if t in pairs] for group, pairs in groups.items()}
    means = {group: pairs for group, pairs in means.items() if len(pairs) > 1}
    head = ["row"] + [t.replace("-", "→") for t in tasks]
    head += [f"{group} mean ({len(pairs)} pairs)" for group, pairs in means.items()]
    lines = [
        "# Strategies at their defaults, with λ chosen without labels, and the oracle",
        "",
        "Generated by `benchmarks/defaults.py` (issue 12). Target accuracy (%), "
        "mean ± std over seeds. A row `name` is `DomainAdaptiveClassifier(name, "
        "random_state=seed)` given nothing but the data: the strategy's recipe "
        "(docs/strategies/) and the estimator's defaults decide everything. "
        "`name@auto` chooses λ inside fit without target labels, `auto` chooses "
        "the strategy and λ; `name@oracle` is the best λ in hindsight, **chosen "
        "with target labels** (an upper bound, not a method). Columns `f…` are "
        "dense feature vectors (`benchmarks/features.py`: digits seen through a "
        "CNN trained on Fashion-MNIST).",
        "",
        "- Command(s): " + "; ".join(f"`{c}`" for c in meta.get("commands", [])),
        "- Machine: 2 CPU cores shared with other jobs; times are not comparable.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row, by_task in results.items():
        cells = [f"`{row}`"] + [cell_text(by_task.get(t, [])) for t in tasks]
        for pairs in means.values():
            per = [by_task.get(t, []) for t in pairs]
            if all(per) and len({len(p) for p in per}) == 1:
                seeds = np.mean([[c["acc"] for c in p] for p in per], axis=0)
                cells.append(f"{np.mean(seeds):.1f} ± {np.std(seeds):.1f}")
            else:
                cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    chosen = [
        f"- `{row}` on {t.replace('-', '→')}: "
        + ", ".join(c.get("chosen", "?") for c in cells)
        for row, by_task in results.items()
        for t, cells in by_task.items()
        if any("chosen" in c for c in cells)
    ]
    if chosen:
        lines += ["", "## What `auto` and the oracle chose (per seed)", ""] + chosen
    notes = [
        f"- `{row}` on {t.replace('-', '→')}, seed {i}: {c['collapsed']}"
        for row, by_task in results.items()
        for t, cells in by_task.items()
        for i, c in enumerate(cells)
        if "collapsed" in c
    ]
    if notes:
        lines += ["", "## Collapse warnings", ""] + notes
    lines += [""] + [f"{n}" for n in meta.get("notes", [])]
    out.write_text("\n".join(lines).rstrip() + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="M-U,U-M,M-MM," + ",".join(AMAZON_PAIRS))
    p.add_argument("--strategies", default="source_only,dann,mmd,auto,dann@auto")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--merge", default=None, help="comma list of .json files")
    p.add_argument(
        "--append",
        action="store_true",
        help="add this run's cells (e.g. more seeds) to those already in --out",
    )
    p.add_argument("--note", action="append", default=[])
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    if args.merge:
        results, meta = {}, {"commands": [], "notes": args.note}
        for path in args.merge.split(","):
            part = json.loads(pathlib.Path(path).read_text())
            for row, by_task in part["results"].items():
                results.setdefault(row, {}).update(by_task)
            meta["commands"] += part.get("commands", [])
        write(results, meta, out)
        return
    command = f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} python3 " + " ".join(
        sys.argv
    )
    meta = {"commands": [command], "notes": args.note}
    results: dict = {}
    if args.append and out.with_suffix(".json").exists():
        before = json.loads(out.with_suffix(".json").read_text())
        results = before["results"]
        meta = {
            "commands": [*before.get("commands", []), command],
            "notes": before.get("notes", []) + args.note,
        }
    tasks = tasks_for(args.tasks.split(","))
    for row in split_rows(args.strategies):
        for name, task in tasks.items():
            for seed in map(int, args.seeds.split(",")):
                start = time.perf_counter()
                cell = run_cell(row, seed, task)
                results.setdefault(row, {}).setdefault(name, []).append(cell)
                seconds = time.perf_counter() - start
                log(f"{name} {row} seed {seed}: {cell} ({seconds:.0f} s)")
                write(results, meta, out)


if __name__ == "__main__":
    main()
