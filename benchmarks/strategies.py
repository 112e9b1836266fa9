"""Domain-adaptation strategies benchmark (issue 3): digits and Amazon reviews.

Every number is the target-domain accuracy, mean ± std over seeds, of
:class:`keras_transfer.DomainAdaptiveClassifier` with one fixed setting per
data set for every strategy (no target labels are used to pick anything).

* MNIST→USPS and USPS→MNIST, the 2000/1800 protocol files (16x16), a
  LeNet-style CNN; accuracy on the unlabelled target set itself (the
  transductive protocol of ADDA / JDA).
* Amazon reviews, the 12 pairs, one hidden layer of 50 units on the 5000-dim
  counts after ``log1p`` (the same preprocessing for every method); trained on
  the source and target *train* files, evaluated on the target *test* file.

The table is written to ``docs/benchmarks_strategies.md`` after each data set,
so a partial run leaves its numbers behind.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/strategies.py            # full run
    KERAS_BACKEND=jax python3 benchmarks/strategies.py --quick    # pipeline check
    python3 benchmarks/strategies.py --datasets amazon --pairs B-D,E-K \
        --strategies source_only,mmd --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if _SHARED.is_dir():  # the offline copies next to the checkout (../shared/data)
    os.environ.setdefault("KERAS_TRANSFER_DATA", str(_SHARED))

import numpy as np  # noqa: E402

# keras_transfer (and so Keras) is imported inside the functions that train,
# so that --merge, which only writes tables, starts in a second.

OUT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks_strategies.md"

DEFAULT_STRATEGIES = (
    "source_only",
    "dann",
    "mmd",
    "coral",
    "mcc",
    "entropy",
    "cdan",
    "cdan+e",
    "wdgrl",
)

# One fixed setting per data set, the same for every strategy.
DIGITS_SETTING = dict(
    backbone="cnn",
    backbone_params={},  # the library's default "cnn": conv 32, 64, dense 128
    epochs=15,
    batch_size=64,
    optimizer="adam",
    learning_rate=1e-3,
    adaptation_weight=1.0,
    schedule="ganin",
)
AMAZON_SETTING = dict(
    backbone="mlp",
    backbone_params={"units": (50,)},
    epochs=5,
    batch_size=64,
    optimizer="adam",
    learning_rate=1e-3,
    adaptation_weight=1.0,
    schedule="ganin",
)

DIGIT_PAIRS = {"M-U": "mnist_to_usps", "U-M": "usps_to_mnist"}
AMAZON_DOMAINS = {"B": "books", "D": "dvd", "E": "electronics", "K": "kitchen"}
AMAZON_PAIRS = [f"{s}-{t}" for s in "BDEK" for t in "BDEK" if s != t]

# Published target accuracies (%), from ../shared/data/README.md.
PUBLISHED_DIGITS = {
    "M-U": {
        "source only (LeNet)": 75.2,
        "domain confusion": 79.1,
        "DANN": 77.1,
        "CoGAN": 91.2,
        "ADDA": 89.4,
    },
    "U-M": {
        "source only (LeNet)": 57.1,
        "domain confusion": 66.5,
        "DANN": 73.0,
        "CoGAN": 89.1,
        "ADDA": 90.1,
    },
}
PUBLISHED_AMAZON = {
    "NN (source only), DANN paper": dict(
        zip(
            AMAZON_PAIRS,
            [79.0, 74.7, 77.8, 72.0, 73.2, 77.8, 70.9, 73.3, 85.4, 70.8, 73.9, 84.1],
        )
    ),
    "DANN, DANN paper": dict(
        zip(
            AMAZON_PAIRS,
            [78.4, 73.3, 77.9, 72.3, 75.4, 78.3, 71.3, 73.8, 85.4, 70.9, 74.0, 84.3],
        )
    ),
    "WDGRL, Shen et al. 2018": {"B-E": 83.3, "D-B": 80.7, "E-K": 88.2, "K-D": 79.9},
}
PUBLISHED_AMAZON_MEANS = {
    "NN (source only), DANN paper": 76.1,
    "DANN, DANN paper": 76.3,
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# "dann@entropy": λ picked among SELECT_LAMBDAS, per seed, by an unsupervised
# scorer on the unlabelled target rows (never by target labels).
SELECT_LAMBDAS = (0.1, 0.3, 1.0)


def unsupervised_score(name, clf, Xt):
    from keras_transfer.model_selection import PredictionEntropyScorer

    scorers = {"entropy": PredictionEntropyScorer()}
    if name not in scorers:
        raise ValueError(f"unknown selection scorer {name!r}; one of {list(scorers)}")
    return scorers[name](clf, Xt, np.full(len(Xt), -1))


def split_options(strategy):
    """``"entropy:diversity=1"`` -> ``("entropy", {"diversity": 1})`` (";" between).

    Options are the strategy's own parameters, fixed in the command line (a
    row of the table per setting), never chosen per seed.
    """
    import ast

    name, _, options = strategy.partition(":")
    params = {}
    for option in filter(None, options.split(";")):
        key, _, value = option.partition("=")
        params[key] = ast.literal_eval(value)
    return name, params


def fit_score(strategy, setting, seed, Xs, ys, Xt, X_eval, y_eval, epochs=None):
    """Fit one strategy on (Xs, ys) + unlabelled Xt; accuracy (%) on X_eval.

    ``strategy`` may be ``"name@scorer"``: then λ is chosen among
    ``SELECT_LAMBDAS`` by the unsupervised scorer on Xt (no target labels).
    """
    from keras_transfer import DomainAdaptiveClassifier

    params = dict(setting)
    if epochs is not None:
        params["epochs"] = epochs
    name, _, scorer = strategy.partition("@")
    name, params["strategy_params"] = split_options(name)
    if not scorer:
        clf = DomainAdaptiveClassifier(name, random_state=seed, verbose=0, **params)
        clf.fit((Xs, ys), Xt)
        return 100.0 * float(np.mean(clf.predict(X_eval) == y_eval))
    best = None
    if scorer == "source":
        # a plain GridSearchCV's criterion: accuracy on 20 % held-out source rows
        from sklearn.model_selection import train_test_split

        Xs, Xs_val, ys, ys_val = train_test_split(
            Xs, ys, test_size=0.2, stratify=ys, random_state=seed
        )
    for lam in SELECT_LAMBDAS:
        params["adaptation_weight"] = lam
        clf = DomainAdaptiveClassifier(name, random_state=seed, verbose=0, **params)
        clf.fit((Xs, ys), Xt)
        if scorer == "source":
            score = float(np.mean(clf.predict(Xs_val) == ys_val))
        else:
            score = unsupervised_score(scorer, clf, Xt)
        log(f"   {strategy} seed {seed} λ={lam:g}: {scorer} score {score:.4f}")
        if best is None or score > best[0]:
            best = (score, lam, clf)
    log(f"   {strategy} seed {seed}: picked λ={best[1]:g}")
    return 100.0 * float(np.mean(best[2].predict(X_eval) == y_eval))


def run_grid(tasks, strategies, seeds, setting, results, epochs=None, on_done=None):
    """tasks: {pair: (Xs, ys, Xt, X_eval, y_eval)}; fills results[strategy][pair].

    Strategy by strategy (all pairs of one before the next), so that a run cut
    short still has complete rows (and 12-pair means) for the first strategies.
    """
    for strategy in strategies:
        for pair, (Xs, ys, Xt, Xe, ye) in tasks.items():
            accs = []
            for seed in seeds:
                t0 = time.perf_counter()
                try:
                    acc = fit_score(strategy, setting, seed, Xs, ys, Xt, Xe, ye, epochs)
                except Exception as err:  # a broken strategy is reported, not fatal
                    log(f"{pair} {strategy} seed {seed}: FAILED {err!r}")
                    results.setdefault(strategy, {})[pair] = f"failed: {err!r}"[:120]
                    break
                accs.append(acc)
                log(
                    f"{pair} {strategy} seed {seed}: {acc:.1f} "
                    f"({time.perf_counter() - t0:.0f} s)"
                )
            else:
                results.setdefault(strategy, {})[pair] = accs
            if on_done is not None:
                on_done()
    return results


def digits_tasks(pairs):
    from keras_transfer.datasets import load_mnist_usps_protocol

    tasks = {}
    for pair in pairs:
        Xs, ys, Xt, yt = load_mnist_usps_protocol(DIGIT_PAIRS[pair])
        Xs, Xt = Xs[..., None], Xt[..., None]  # (n, 16, 16, 1)
        tasks[pair] = (Xs, ys, Xt, Xt, yt)  # evaluated on the target set itself
    return tasks


def amazon_tasks(pairs):
    from keras_transfer.datasets import load_amazon

    def load(letter, split):
        X, y = load_amazon(AMAZON_DOMAINS[letter], split)
        X = X.copy()
        X.data = np.log1p(X.data)  # documented preprocessing: log1p of counts
        return X, y

    tasks = {}
    for pair in pairs:
        s, t = pair.split("-")
        Xs, ys = load(s, "train")
        Xt, _ = load(t, "train")
        Xe, ye = load(t, "test")
        tasks[pair] = (Xs, ys, Xt, Xe, ye)
    return tasks


# ---- report --------------------------------------------------------------------


def cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return "failed"
    return f"{np.mean(value):.1f} ± {np.std(value):.1f}"


def pretty(pair: str) -> str:
    return pair.replace("-", "→")


def setting_line(setting, epochs=None) -> str:
    s = dict(setting)
    if epochs is not None:
        s["epochs"] = epochs
    return (
        f"backbone `{s['backbone']}` with "
        f"`{s['backbone_params'] or 'its default parameters'}`, "
        f"epochs {s['epochs']}, batch size {s['batch_size']} per domain, "
        f"{s['optimizer']} with learning rate {s['learning_rate']}, "
        f"λ (adaptation_weight) {s['adaptation_weight']}, "
        f"schedule `{s['schedule']}`, strategy defaults"
    )


def table(results, pairs, strategies, published, published_means=None, mean=False):
    head = ["method"] + [pretty(p) for p in pairs] + (["mean"] if mean else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for strategy in strategies:
        row = results.get(strategy, {})
        if not row:
            continue
        cells = [f"**{strategy}** (ours)"] + [cell(row.get(p)) for p in pairs]
        if mean:
            ok = [row[p] for p in pairs if isinstance(row.get(p), list)]
            if len(ok) == len(pairs):
                # mean over pairs per seed, then mean ± std over seeds
                per_seed = np.mean(np.array(ok), axis=0)
                cells.append(f"**{np.mean(per_seed):.1f} ± {np.std(per_seed):.1f}**")
            else:
                cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    for name, ref in published.items():
        cells = [f"{name} (published)"] + [
            f"{ref[p]:.1f}" if p in ref else "" for p in pairs
        ]
        if mean:
            pm = (published_means or {}).get(name)
            cells.append("" if pm is None else f"{pm:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failures(results):
    notes = []
    for strategy, row in results.items():
        for pair, value in row.items():
            if isinstance(value, str):
                notes.append(f"- `{strategy}` on {pretty(pair)}: {value}")
    return notes


def write_report(args, state, elapsed):
    from importlib.metadata import version

    out = pathlib.Path(args.out)
    dump = {k: v for k, v in state.items() if k in ("digits", "amazon")}
    dump["elapsed"] = elapsed
    dump["commands"] = state.get("commands", [])
    out.with_suffix(".json").write_text(json.dumps(dump))

    lines = [
        "# Domain-adaptation strategies benchmark",
        "",
        "Generated by `benchmarks/strategies.py` (issue 3). Target-domain "
        "accuracy (%), mean ± std over seeds "
        f"{', '.join(map(str, args.seeds))}. Hyper-parameters: one fixed setting "
        "per data set, the same for every strategy, taken from the library's "
        "defaults (Adam 1e-3, λ = 1 with Ganin's ramp) and the architecture of "
        "the published papers; **no target labels were used to choose any of "
        "them** (target labels are only used to compute the reported accuracy). "
        "A row `name@entropy` is that strategy with λ picked per seed among "
        f"{list(SELECT_LAMBDAS)} by the prediction-entropy scorer on the "
        "unlabelled target rows (`keras_transfer.model_selection`), never by "
        "target labels; `name@source` picks it by the accuracy on 20 % of the "
        "source rows held out (what a plain GridSearchCV does; the fits then "
        "see 80 % of the source rows).",
        "",
        "- Command(s): "
        + "; ".join(f"`{c}`" for c in state.get("commands", [" ".join(sys.argv)])),
        f"- Backend: Keras {version('keras')}, the one each command names, CPU "
        f"only; machine: 2 CPU cores shared with other jobs ({platform.machine()}, "
        f"Python {platform.python_version()}).",
        f"- Wall-clock: {elapsed / 60:.1f} min (parts run side by side are "
        "counted once each, summed).",
    ]
    if args.quick:
        lines.append("- **--quick run**: a pipeline check, not a benchmark.")
    if state.get("digits"):
        res, pairs, strategies = state["digits"]
        lines += [
            "",
            "## Digits: MNIST↔USPS, 2000/1800 protocol (16x16)",
            "",
            "Source: 2000 MNIST (or 1800 USPS) labelled digits; target: the other "
            "set, unlabelled during training; accuracy on that same target set "
            "(ADDA/JDA protocol). Pixels in [0, 1], no other preprocessing.",
            "",
            f"Setting: {setting_line(DIGITS_SETTING, args.digits_epochs)}.",
            "",
            table(
                res,
                pairs,
                strategies,
                {
                    k: {p: v[k] for p, v in PUBLISHED_DIGITS.items()}
                    for k in PUBLISHED_DIGITS["M-U"]
                },
            ),
            "",
            "Published rows: ADDA (Tzeng et al. 2017) Table 1, LeNet, same protocol. "
            "Nearest neighbour on raw pixels: 65.9 (M→U), 44.7 (U→M).",
        ]
        lines += failures(res)
    if state.get("amazon"):
        res, pairs, strategies = state["amazon"]
        lines += [
            "",
            "## Amazon reviews (Blitzer et al. 2007), 5000-dim features",
            "",
            "Preprocessing, the same for every method: `log1p` of the raw counts "
            "(sparse, no scaling). Training: the source domain's train file "
            "(2000 labelled reviews) and the target domain's train file (2000 "
            "reviews, labels unused); evaluation: the target domain's test file.",
            "",
            f"Setting: {setting_line(AMAZON_SETTING, args.amazon_epochs)}.",
            "",
            table(
                res,
                pairs,
                strategies,
                PUBLISHED_AMAZON,
                PUBLISHED_AMAZON_MEANS,
                mean=len(pairs) == len(AMAZON_PAIRS),
            ),
            "",
            "Published rows: DANN (Ganin et al., JMLR 2016) Table 1 (raw features, "
            "one hidden layer of 50 units; the mean column is theirs); WDGRL "
            "(Shen et al. 2018) published four pairs on the same features. The "
            "12-pair mean of ours is the mean over pairs per seed, then mean ± std "
            "over seeds.",
        ]
        lines += failures(res)
    if state.get("notes"):
        lines += ["", "## Notes", ""] + state["notes"]
    out.write_text("\n".join(lines) + "\n")
    log(f"wrote {out}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 seed, 2 strategies, 1 pair")
    p.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument(
        "--pairs",
        default=None,
        help="comma list among M-U,U-M and B-D..K-E (default: all)",
    )
    p.add_argument("--datasets", default="digits,amazon")
    p.add_argument("--digits-epochs", type=int, default=None)
    p.add_argument("--amazon-epochs", type=int, default=None)
    p.add_argument(
        "--amazon-strategies",
        default=None,
        help="strategies for Amazon if different from --strategies",
    )
    p.add_argument("--note", action="append", default=[], help="line for Notes")
    p.add_argument("--out", default=str(OUT), help="Markdown file (and .json)")
    p.add_argument(
        "--merge",
        default=None,
        help="comma list of .json files (or .log files) of earlier (partial, "
        "parallel) runs: "
        "write their combined table to --out without training",
    )
    args = p.parse_args(argv)
    args.strategies = args.strategies.split(",")
    args.amazon_strategies = (
        args.amazon_strategies.split(",") if args.amazon_strategies else None
    )
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.datasets = args.datasets.split(",")
    pairs = args.pairs.split(",") if args.pairs else list(DIGIT_PAIRS) + AMAZON_PAIRS
    if args.quick:
        args.seeds = args.seeds[:1]
        args.strategies = args.strategies[:2]
        if args.pairs is None:
            pairs = ["M-U", "B-D"]
        args.digits_epochs = args.digits_epochs or 2
        args.amazon_epochs = args.amazon_epochs or 2
    args.digit_pairs = [p for p in pairs if p in DIGIT_PAIRS]
    args.amazon_pairs = [p for p in pairs if p in AMAZON_PAIRS]
    unknown = set(pairs) - set(DIGIT_PAIRS) - set(AMAZON_PAIRS)
    if unknown:
        p.error(f"unknown pairs {sorted(unknown)}")
    if args.merge:
        return args
    from keras_transfer.strategies import available_strategies

    known = set(available_strategies())
    for s in args.strategies + (args.amazon_strategies or []):
        if s.partition("@")[0].partition(":")[0] not in known:
            p.error(f"unknown strategy {s!r}; available: {sorted(known)}")
    return args


def parse_log(path, n_seeds):
    """Results of a run's log (e.g. of a run stopped mid-way): complete cells only."""
    pattern = re.compile(r"\] (\S+) (\S+) seed (\d+): ([\d.]+) \(")
    cells = {}
    for line in pathlib.Path(path).read_text().splitlines():
        m = pattern.search(line)
        if m:
            pair, strategy, _, acc = m.groups()
            cells.setdefault((strategy, pair), []).append(float(acc))
    part = {"elapsed": 0.0, "commands": []}
    for (strategy, pair), accs in cells.items():
        if len(accs) != n_seeds:
            continue  # a cell cut short is left out, not shown with fewer seeds
        name = "digits" if pair in DIGIT_PAIRS else "amazon"
        res, pairs, strategies = part.setdefault(name, ({}, [], []))
        res.setdefault(strategy, {})[pair] = accs
        pairs.append(pair) if pair not in pairs else None
        strategies.append(strategy) if strategy not in strategies else None
    return part


def merge(args, state):
    """Combine the results of runs over disjoint pairs / strategies."""
    elapsed, commands = 0.0, []
    for path in args.merge.split(","):
        if path.endswith(".log"):
            part = parse_log(path, len(args.seeds))
        else:
            part = json.loads(pathlib.Path(path).read_text())
        elapsed += part.get("elapsed", 0.0)
        commands += part.get("commands", [])
        for name in ("digits", "amazon"):
            if not part.get(name):
                continue
            res, pairs, strategies = part[name]
            old = state.setdefault(name, ({}, [], []))
            for strategy, row in res.items():
                old[0].setdefault(strategy, {}).update(row)
            old[1].extend(p for p in pairs if p not in old[1])
            old[2].extend(s for s in strategies if s not in old[2])
    order = list(DIGIT_PAIRS) + AMAZON_PAIRS
    for name in ("digits", "amazon"):
        if name in state:
            state[name][1].sort(key=order.index)
    state["commands"] = commands
    return elapsed


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    state = {"notes": [f"- {n}" for n in args.note]}
    if args.merge:
        elapsed = merge(args, state)
        write_report(args, state, elapsed)
        return
    state["commands"] = [
        " ".join([f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} python3"] + sys.argv)
    ]

    def report():
        write_report(args, state, time.perf_counter() - start)

    if "digits" in args.datasets and args.digit_pairs:
        res = {}
        state["digits"] = (res, args.digit_pairs, args.strategies)
        run_grid(
            digits_tasks(args.digit_pairs),
            args.strategies,
            args.seeds,
            DIGITS_SETTING,
            res,
            args.digits_epochs,
            report,
        )
    if "amazon" in args.datasets and args.amazon_pairs:
        res = {}
        strategies = args.amazon_strategies or args.strategies
        state["amazon"] = (res, args.amazon_pairs, strategies)
        run_grid(
            amazon_tasks(args.amazon_pairs),
            strategies,
            args.seeds,
            AMAZON_SETTING,
            res,
            args.amazon_epochs,
            report,
        )
    report()


if __name__ == "__main__":
    main()
