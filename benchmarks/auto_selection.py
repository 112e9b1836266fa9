"""How ``"auto"`` chooses among its candidates: label-free rules side by side.

For each task and seed this runs the library's own ``DomainAdaptiveClassifier(
"auto", random_state=seed)`` and keeps, for every candidate it fitted (source-only
and each strategy × λ), the target accuracy and the calibrated target
probabilities that ``auto`` scores. Then every selection rule below picks one
candidate *without target labels*, and the table gives the accuracy of its pick:

* ``source_only``: always source-only;
* ``information``: the largest calibrated information maximisation score
  ``H(mean p) - mean H(p)`` among the candidates that pass the checks (the
  library's rule until session 9);
* ``ensemble``: the candidate that agrees most with the ensemble of all
  candidates that pass the checks (mean calibrated probability; ensemble-based
  validation, "EnsV", Hu et al. 2023): the ensemble is at least as good as its
  average member, so agreeing with it is a label-free proxy for accuracy. The
  library's rule since session 9;
* ``auto``: what the library's ``fit`` actually returned (the rule of the
  library that ran: equal to ``ensemble`` when run on the current code);
* ``oracle``: the best candidate by target accuracy, **chosen with target
  labels** (an upper bound, not a method).

``--strategies`` sets the strategies ``auto`` tries (``AUTO_STRATEGIES`` of
``keras_transfer.estimators._auto`` by default). Usage::

    KERAS_BACKEND=jax python3 benchmarks/auto_selection.py --tasks B-D,E-K \
        --seeds 0,1,2 --out /tmp/auto.json
    python3 benchmarks/auto_selection.py --merge a.json,b.json \
        --table docs/benchmarks_auto.md
"""

from __future__ import annotations

import argparse
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

RULES = ("source_only", "information", "ensemble")


def run_task(task, seed: int, strategies=None) -> dict:
    """Fit ``auto`` once: each candidate's scores, target probabilities, accuracy."""
    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.estimators import _auto

    Xs, ys, Xt, Xe, ye = task
    kept = {}
    judge = _auto._judge

    def spy(rows, reference, n_val):
        judge(rows, reference, n_val)
        kept["rows"] = rows
        # auto's own calibrated target probabilities (it drops them after use)
        kept["proba"] = [row["proba"] for row in rows]

    saved = _auto.AUTO_STRATEGIES
    _auto._judge = spy
    if strategies:
        _auto.AUTO_STRATEGIES = tuple(strategies)
    try:
        clf = DomainAdaptiveClassifier("auto", random_state=seed).fit((Xs, ys), Xt)
    finally:
        _auto._judge, _auto.AUTO_STRATEGIES = judge, saved
    candidates = []
    for row, calibrated in zip(kept["rows"], kept["proba"]):
        est = row["estimator"]
        candidates.append(
            {
                "strategy": row["strategy"],
                "adaptation_weight": row["adaptation_weight"],
                "eligible": bool(row["eligible"]),
                "collapsed": bool(row["collapsed"]),
                "source_accuracy": row["source_accuracy"],
                "target_information": row["target_information"],
                "acc": 100.0 * float(np.mean(est.predict(Xe) == ye)),
                "proba": calibrated.astype("float32"),
            }
        )
    return {"candidates": candidates, "auto": clf.selection_["selected"].index(True)}


def pick(rule: str, candidates) -> int:
    """Index of the candidate a label-free rule picks (0 is source-only)."""
    from keras_transfer.estimators._auto import _agreement

    ok = [i for i, c in enumerate(candidates) if c["eligible"]]
    if rule == "source_only":
        return 0
    if rule == "information":
        return max(ok, key=lambda i: candidates[i]["target_information"])
    if rule == "ensemble":  # the library's own scoring, on copies of the rows
        rows = [{"proba": c["proba"], "eligible": c["eligible"]} for c in candidates]
        _agreement(rows)
        return max(ok, key=lambda i: rows[i]["ensemble_agreement"])
    raise ValueError(rule)


def summarise(record) -> dict:
    cands = record["candidates"]
    out = {rule: cands[pick(rule, cands)]["acc"] for rule in RULES}
    out["auto"] = cands[record["auto"]]["acc"]
    out["oracle"] = max(c["acc"] for c in cands)
    out["picks"] = {
        rule: f"{cands[i]['strategy']} λ={cands[i]['adaptation_weight']:g}"
        for rule in RULES + ("auto",)
        for i in [record["auto"] if rule == "auto" else pick(rule, cands)]
    }
    out["candidates"] = [{k: v for k, v in c.items() if k != "proba"} for c in cands]
    return out


def table(results: dict, commands, notes=()) -> str:
    from defaults import AMAZON_PAIRS, DIGITS, FEATURE_PAIRS

    order = [t for t in list(DIGITS) + AMAZON_PAIRS + FEATURE_PAIRS if t in results]
    cols = RULES + ("auto", "oracle")
    lines = [
        "# How `auto` chooses: label-free selection rules on the same candidates",
        "",
        "Generated by `benchmarks/auto_selection.py` (issue 12). Target accuracy "
        "(%) of the candidate each rule picks, mean ± std over seeds; every rule "
        "but `oracle` picks without target labels. `oracle` is the best candidate "
        "by target accuracy (**chosen with target labels**, an upper bound). "
        "`worst Δ` is a rule's lowest per-seed difference to source-only.",
        "",
        "- Command(s): " + "; ".join(f"`{c}`" for c in commands),
        *[f"- {n}" for n in notes],
        "",
        "| task | "
        + " | ".join(f"`{c}`" for c in cols)
        + " | worst Δ `information` | worst Δ `ensemble` |",
        "|" + "---|" * (len(cols) + 3),
    ]
    for task in order:
        runs = results[task]
        cells = []
        for col in cols:
            accs = [r[col] for r in runs]
            cells.append(f"{np.mean(accs):.1f} ± {np.std(accs):.1f}")
        for rule in ("information", "ensemble"):
            worst = min(r[rule] - r["source_only"] for r in runs)
            cells.append(f"{worst:+.1f}")
        lines.append(f"| {task.replace('-', '→')} | " + " | ".join(cells) + " |")
    groups = {"Amazon": AMAZON_PAIRS, "features": FEATURE_PAIRS}
    for group, pairs in groups.items():
        runs = [results.get(t, []) for t in pairs]
        if not all(runs) or len({len(r) for r in runs}) != 1:
            continue
        cells = []
        for col in cols:
            seeds = np.mean([[r[col] for r in rs] for rs in runs], axis=0)
            cells.append(f"{np.mean(seeds):.1f} ± {np.std(seeds):.1f}")
        for rule in ("information", "ensemble"):
            pair_means = [
                np.mean([r[rule] - r["source_only"] for r in rs]) for rs in runs
            ]
            cells.append(f"{min(pair_means):+.1f} (pair mean)")
        lines.append(
            f"| **{group} mean ({len(pairs)} pairs)** | " + " | ".join(cells) + " |"
        )
    lines += ["", "## Picks per seed", ""]
    for task in order:
        for i, r in enumerate(results[task]):
            picks = ", ".join(f"{k}: {v}" for k, v in r["picks"].items())
            lines.append(f"- {task.replace('-', '→')} seed {i}: {picks}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    from defaults import tasks_for
    from strategies import log

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="M-U,U-M")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--strategies", default=None, help="comma list for AUTO_STRATEGIES")
    p.add_argument("--out", default="/tmp/auto_selection.json")
    p.add_argument("--merge", default=None, help="comma list of .json files")
    p.add_argument("--table", default=None, help="write the markdown table here")
    p.add_argument("--note", action="append", default=[], help="a line under it")
    p.add_argument(
        "--defaults-json",
        default=None,
        help="write the ensemble picks as an `auto` row for defaults.py --merge",
    )
    args = p.parse_args(argv)
    if args.merge:
        results, commands = {}, []
        for path in args.merge.split(","):
            part = json.loads(pathlib.Path(path).read_text())
            for task, runs in part["results"].items():
                results.setdefault(task, []).extend(runs)
            commands += part["commands"]
    else:
        command = f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} python3 " + " ".join(
            sys.argv
        )
        commands = [command]
        strategies = args.strategies.split(",") if args.strategies else None
        results = {}
        for name, task in tasks_for(args.tasks.split(",")).items():
            for seed in map(int, args.seeds.split(",")):
                start = time.perf_counter()
                record = run_task(task, seed, strategies)
                summary = {"seed": seed, **summarise(record)}
                results.setdefault(name, []).append(summary)
                log(
                    f"{name} seed {seed}: "
                    + ", ".join(
                        f"{k} {summary[k]:.1f}" for k in RULES + ("auto", "oracle")
                    )
                    + f" ({time.perf_counter() - start:.0f} s)"
                )
                np.savez_compressed(
                    pathlib.Path(args.out).with_suffix(f".{name}.{seed}.npz"),
                    **{
                        f"proba_{i}": c["proba"]
                        for i, c in enumerate(record["candidates"])
                    },
                )
                pathlib.Path(args.out).write_text(
                    json.dumps({"results": results, "commands": commands})
                )
    if args.table:
        pathlib.Path(args.table).write_text(table(results, commands, args.note))
    if args.defaults_json:
        row = {
            task: [
                {"acc": r["ensemble"], "chosen": r["picks"]["ensemble"]} for r in runs
            ]
            for task, runs in results.items()
        }
        pathlib.Path(args.defaults_json).write_text(
            json.dumps({"results": {"auto": row}, "commands": commands})
        )


if __name__ == "__main__":
    main()
