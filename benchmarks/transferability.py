"""Transferability benchmark (issue 15, item 5): do the scores rank sources?

A zoo of candidate source networks is trained here, on four grey 28×28
sources: MNIST, Fashion-MNIST, USPS (framed like MNIST) and MNIST-M-like
(converted to grey), each stopped after several training lengths, plus the
same architecture at its random initial weights (a floor candidate). For
each target task (a few labelled rows per class, the setting transferability
scores are for), every candidate is

1. scored by LogME, H-score, LEEP and NCE on the target *train* rows
   (features: the layer below the source head, i.e. what
   ``TransferClassifier``'s default ``feature_layer`` transfers; LEEP and
   NCE: the source head's class probabilities), then
2. trained on those rows with each fixed recipe of ``RECIPES``
   (``TransferClassifier(source_model=candidate, random_state=seed,
   strategy=...)``, the estimator's defaults otherwise; by default
   ``fine_tune`` and ``feature_extraction``) and measured on the target
   *test* rows.

The table gives, per target and pooled, the Spearman and Kendall rank
correlations of each score with the fine-tuned accuracy. Nothing is chosen
with target test labels: the recipe, layer and candidates are fixed above.

Usage::

    KERAS_BACKEND=jax python3 benchmarks/transferability.py --seeds 0,1,2 --out
    python3 benchmarks/transferability.py --recipes fine_tune_lr0.1 --out x.md
    python3 benchmarks/transferability.py --quick --seeds 0   # smoke, no file

``--out`` (re)writes ``docs/benchmarks_transferability.md``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shlex
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if _SHARED.is_dir():
    os.environ.setdefault("KERAS_TRANSFER_DATA", str(_SHARED))

import numpy as np  # noqa: E402

OUT = (
    pathlib.Path(__file__).resolve().parents[1]
    / "docs"
    / "benchmarks_transferability.md"
)
METHODS = ("logme", "h_score", "leep", "nce")
SOURCES = ("mnist", "fashion", "usps", "mnistm")
TARGETS = ("mnist", "usps", "mnistm")  # "fashion" too with --targets
LABELS = {
    "mnist": "MNIST",
    "fashion": "Fashion",
    "usps": "USPS",
    "mnistm": "MNIST-M-like",
    "random": "random init",
}
#: optimizer steps (batch 64) after which each source network is snapshotted
STEPS = (50, 500)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- data ---------------------------------------------------------------------


def load_domains(n_source: int = 3000, n_test: int = 2000) -> dict:
    """{name: {"source": (X, y), "pool": (X, y), "test": (X, y)}}, grey 28×28.

    Splits are fixed (independent of the seed) and disjoint: MNIST-M-like is
    built from the MNIST t10k digits, so the t10k indices are split three
    ways (MNIST-M-like source, MNIST target, MNIST-M-like target) and no
    digit image is both a source row and a target row. MNIST's source rows
    are the 5000 separate MNIST training digits.
    """
    from keras_transfer.datasets import (
        load_fashion_mnist,
        load_mnist,
        load_mnistm_like,
        load_usps,
        resize_images,
    )

    def part(X, y, idx):
        return X[idx][..., None].astype("float32"), y[idx]  # (n, 28, 28, 1)

    rng = np.random.default_rng(12345)
    out = {}
    Xm, ym = load_mnist("t10k")
    Xmm = load_mnistm_like()[0].mean(axis=-1)  # grey, same order as Xm
    order = rng.permutation(len(Xm))
    a, b, c = order[:3000], order[3000:6500], order[6500:]
    X5, y5 = load_mnist("5k")
    out["mnist"] = {
        "source": part(X5, y5, rng.permutation(len(X5))[:n_source]),
        "pool": part(Xm, ym, b[: len(b) - n_test]),
        "test": part(Xm, ym, b[len(b) - n_test :]),
    }
    out["mnistm"] = {
        "source": part(Xmm, ym, a[:n_source]),
        "pool": part(Xmm, ym, c[: len(c) - n_test]),
        "test": part(Xmm, ym, c[len(c) - n_test :]),
    }
    Xu, yu = load_usps("train")
    Xu = resize_images(Xu, 20, pad=4)  # MNIST's framing
    Xut, yut = load_usps("test")
    Xut = resize_images(Xut, 20, pad=4)
    order = rng.permutation(len(Xu))
    out["usps"] = {
        "source": part(Xu, yu, order[:n_source]),
        "pool": part(Xu, yu, order[n_source:]),
        "test": part(Xut, yut, rng.permutation(len(Xut))[:n_test]),  # sorted file
    }
    Xf, yf = load_fashion_mnist("train")
    Xft, yft = load_fashion_mnist("test")
    order = rng.permutation(len(Xf))
    out["fashion"] = {
        "source": part(Xf, yf, order[:n_source]),
        "pool": part(Xf, yf, order[n_source : n_source + 5000]),
        "test": part(Xft, yft, rng.permutation(len(Xft))[:n_test]),
    }
    return out


def few_shot(X, y, shots: int, seed: int):
    """``shots`` rows per class of ``(X, y)``, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in np.unique(y)]
    )
    idx = rng.permutation(idx)
    return X[idx], y[idx]


# ---- candidates -----------------------------------------------------------------


def small_cnn(input_shape, filters=(16, 32), units: int = 64):
    """Two strided 3×3 convolutions and a Dense layer: cheap on a CPU."""
    import keras

    inputs = keras.Input(tuple(input_shape))
    x = inputs
    for f in filters:
        x = keras.layers.Conv2D(
            int(f), 3, strides=2, padding="same", activation="relu"
        )(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(int(units), activation="relu")(x)
    return keras.Model(inputs, x, name="small_cnn")


def source_network(input_shape, n_classes: int, backbone: str, backbone_params):
    """The backbone (``"small_cnn"`` or a ``keras_transfer.backbones`` name)
    with a Dense head, compiled (Adam 1e-3)."""
    import keras

    from keras_transfer.backbones import build_backbone

    if backbone == "small_cnn":
        net = small_cnn(input_shape, **(backbone_params or {}))
    else:
        net = build_backbone(backbone, tuple(input_shape), **(backbone_params or {}))
    head = keras.layers.Dense(int(n_classes), name="source_head")
    model = keras.Model(net.inputs[0], head(net.outputs[0]), name="source_model")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def train_candidates(
    sources: dict,
    seed: int,
    steps=STEPS,
    backbone: str = "mlp",
    backbone_params=None,
    batch_size: int = 64,
) -> dict:
    """{(source, steps): compiled keras.Model}: snapshots along one training run.

    ``sources`` maps a name to ``(X, y)``. A ``("random", 0)`` candidate, the
    architecture at its initial weights, is added.
    """
    from keras_transfer.backend import set_random_seed

    candidates = {}
    shape = next(iter(sources.values()))[0].shape[1:]
    n_classes = len(np.unique(np.concatenate([y for _, y in sources.values()])))
    for k, (name, (X, y)) in enumerate(sources.items()):
        set_random_seed(1000 * seed + k)
        model = source_network(shape, n_classes, backbone, backbone_params)
        rng = np.random.default_rng(1000 * seed + k)
        order, done = np.array([], dtype=int), 0
        for stop in sorted(steps):
            while done < stop:
                if len(order) < batch_size:
                    order = np.concatenate([order, rng.permutation(len(X))])
                rows, order = order[:batch_size], order[batch_size:]
                model.train_on_batch(X[rows], y[rows])
                done += 1
            candidates[(name, stop)] = snapshot(model, backbone, backbone_params)
    set_random_seed(1000 * seed + 999)
    candidates[("random", 0)] = source_network(
        shape, n_classes, backbone, backbone_params
    )
    return candidates


def snapshot(model, backbone, backbone_params):
    copy = source_network(
        model.inputs[0].shape[1:], model.outputs[0].shape[-1], backbone, backbone_params
    )
    copy.set_weights(model.get_weights())
    return copy


# ---- scores and fine-tuning ----------------------------------------------------


def transferability(model, X, y) -> dict:
    """{method: score} of a source model on labelled target rows."""
    import keras

    from keras_transfer.model_selection import h_score, leep, logme, nce

    features = keras.Model(model.inputs[0], model.layers[-1].input)
    f = np.asarray(features.predict(X, batch_size=256, verbose=0), "float64")
    logits = np.asarray(model.predict(X, batch_size=256, verbose=0), "float64")
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return {
        "logme": logme(f, y),
        "h_score": h_score(f, y),
        "leep": leep(p, y),
        "nce": nce(p.argmax(axis=1), y),
    }


#: the target training recipes: TransferClassifier parameters, fixed in advance
RECIPES = {
    "fine_tune": {"strategy": "fine_tune"},
    "fine_tune_lr0.1": {"strategy": "fine_tune", "backbone_lr_multiplier": 0.1},
    "feature_extraction": {"strategy": "feature_extraction"},
}


def fine_tuned_accuracy(model, train, test, seed: int, **params) -> float:
    """Target test accuracy (%) of ``TransferClassifier(**params)`` on ``model``."""
    from keras_transfer import TransferClassifier

    clf = TransferClassifier(source_model=model, random_state=seed, **params)
    clf.fit(*train)
    return 100.0 * float(np.mean(clf.predict(test[0]) == test[1]))


def rank_correlations(scores: dict, accuracies: dict) -> dict:
    """{method: (spearman, kendall)} over the candidates (keys) of both dicts."""
    from scipy.stats import kendalltau, spearmanr

    keys = list(accuracies)
    acc = [accuracies[k] for k in keys]
    out = {}
    for m in METHODS:
        s = [scores[k][m] for k in keys]
        out[m] = (float(spearmanr(s, acc)[0]), float(kendalltau(s, acc)[0]))
    return out


def run_seed(domains, targets, seed, shots=10, recipes=RECIPES, extra=None, **zoo):
    """One seed: ``{target: {candidate: {method: score, "acc": {recipe: %}}}}``.

    ``extra`` adds TransferClassifier parameters to every recipe (``--quick``).
    """
    sources = {s: d["source"] for s, d in domains.items()}
    start = time.perf_counter()
    candidates = train_candidates(sources, seed, **zoo)
    log(
        f"seed {seed}: {len(candidates)} candidates trained "
        f"({time.perf_counter() - start:.0f} s)"
    )
    results = {}
    for t in targets:
        train = few_shot(*domains[t]["pool"], shots, seed)
        rows = {}
        for key, model in candidates.items():
            row = transferability(model, *train)
            row["acc"] = {
                r: fine_tuned_accuracy(
                    model, train, domains[t]["test"], seed, **params, **(extra or {})
                )
                for r, params in recipes.items()
            }
            rows[key] = row
        results[t] = rows
        for r in recipes:
            corr = rank_correlations(rows, accuracies(rows, r))
            log(
                f"seed {seed} → {t} [{r}]: "
                + ", ".join(f"{m} ρ={c[0]:+.2f}" for m, c in corr.items())
                + f" ({time.perf_counter() - start:.0f} s)"
            )
    return results


def accuracies(rows: dict, recipe: str) -> dict:
    return {k: r["acc"][recipe] for k, r in rows.items()}


# ---- report -------------------------------------------------------------------


def name(key) -> str:
    source, steps = key
    return LABELS.get(source, source) + (f" @{steps}" if steps else "")


def _mean_std(values) -> str:
    return f"{np.mean(values):+.2f} ± {np.std(values):.2f}"


def summarise(runs: list[dict], recipe: str) -> dict:
    """Per target, the mean over targets and the pooled correlations, per seed.

    Returns ``{column: {method: [(spearman, kendall) per seed]}}``; "mean"
    averages the per-target correlations of a seed, "pooled" ranks all
    (target, candidate) pairs of a seed together.
    """
    targets = list(runs[0])
    table: dict = {t: {m: [] for m in METHODS} for t in [*targets, "mean", "pooled"]}
    for run in runs:
        per = {
            t: rank_correlations(rows, accuracies(rows, recipe))
            for t, rows in run.items()
        }
        pairs = {(t, k): r for t, rows in run.items() for k, r in rows.items()}
        pooled = rank_correlations(pairs, accuracies(pairs, recipe))
        for m in METHODS:
            for t in targets:
                table[t][m].append(per[t][m])
            table["mean"][m].append(
                tuple(np.mean([per[t][m] for t in targets], axis=0))
            )
            table["pooled"][m].append(pooled[m])
    return table


def floor_line(runs, recipe) -> tuple[str, float]:
    table = summarise(runs, recipe)
    rho = {m: float(np.mean([c[0] for c in table["mean"][m]])) for m in METHODS}
    best = max(rho, key=rho.get)
    verdict = "met" if rho[best] >= 0.7 else "**not met**"
    text = (
        f"`{recipe}`: best {best}, ρ = {rho[best]:.2f}, floor {verdict} "
        "(" + ", ".join(f"{m} {v:.2f}" for m, v in rho.items()) + ")"
    )
    return text, rho[best]


def report(runs, meta) -> str:
    targets = list(runs[0])
    recipes = list(meta["recipes"])
    n_cand = len(next(iter(runs[0].values())))
    head = [LABELS.get(t, t) for t in targets] + ["mean over targets", "pooled"]
    cols = [*targets, "mean", "pooled"]
    recipe_lines = [
        f"- `{r}`: `TransferClassifier(source_model=candidate, random_state=seed, "
        + ", ".join(f"{k}={v!r}" for k, v in {**p, **meta["extra"]}.items())
        + ")`"
        for r, p in meta["recipes"].items()
    ]
    lines = [
        "# Transferability scores vs fine-tuned accuracy: benchmark",
        "",
        f"Generated by `{meta['command']}`"
        + (" (**quick smoke run: not a result**)" if meta["quick"] else "")
        + f" on {meta['date']}: {meta['versions']}; {meta['minutes']:.1f} min wall, "
        f"load average {meta['load'][0]:.1f} at the start, {meta['load'][1]:.1f} at "
        "the end (a shared machine).",
        "",
        f"**Candidates** ({n_cand} per target): a `{meta['backbone']}` backbone "
        f"{meta['backbone_params']} + Dense head, trained on {meta['n_source']} "
        "rows of each source (MNIST, Fashion-MNIST, USPS framed like MNIST, "
        "MNIST-M-like in grey; all grey 28×28 in [0, 1]) with Adam 1e-3, batch "
        f"64, and snapshotted after {', '.join(map(str, meta['steps']))} "
        "optimizer steps; plus the architecture at its random initial weights. "
        "`@n` in the names below is the number of source steps.",
        "",
        f"**Targets**: {', '.join(LABELS.get(t, t) for t in targets)}, {meta['shots']} "
        "labelled rows per class drawn per seed from a target train pool; "
        f"accuracy on {meta['n_test']} target test rows (disjoint from every "
        "source: the MNIST t10k digits are split between the MNIST-M-like "
        "source, the MNIST target and the MNIST-M-like target).",
        "",
        "**Scores** on the labelled target train rows only: LogME and H-score "
        "read the features below the source head (the layer "
        "`TransferClassifier` transfers by default), LEEP and NCE the source "
        "head's softmax (NCE its argmax).",
        "",
        "**Target training recipes**, fixed in advance and the same for every "
        "candidate; everything else is the estimator's default (Adam at the "
        "source run's 1e-3, batch 64, 10 epochs of the small target set cycled "
        "to at least 500 steps):",
        "",
        *recipe_lines,
        "",
        f"Seeds {meta['seeds']} (each seed: its own source training, candidate "
        "initialisation, target draw and target training). Cells: mean ± std "
        "over seeds. *mean over targets* averages a seed's per-target "
        "correlations; *pooled* ranks all (target, candidate) pairs of a seed "
        "together, which also asks the scores to be comparable across targets. "
        "Nothing was chosen by looking at target test labels.",
        "",
        "**Floor** (the best score's Spearman ρ with the accuracy ≥ 0.7, mean "
        "over targets and seeds):",
        "",
        *[f"- {floor_line(runs, r)[0]}" for r in recipes],
        "",
    ]
    for r in recipes:
        table = summarise(runs, r)
        for title, i in (("Spearman ρ", 0), ("Kendall τ", 1)):
            lines += [f"## {title} with the `{r}` accuracy", ""]
            lines += [
                "| score | " + " | ".join(head) + " |",
                "|---" * (len(head) + 1) + "|",
            ]
            for m in METHODS:
                cells = [_mean_std([c[i] for c in table[col][m]]) for col in cols]
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += ["## Candidates: target accuracy (%) and scores, mean over seeds", ""]
    for t in targets:
        keys = list(runs[0][t])
        acc = {
            k: {r: np.mean([run[t][k]["acc"][r] for run in runs]) for r in recipes}
            for k in keys
        }
        score = {
            k: {m: np.mean([run[t][k][m] for run in runs]) for m in METHODS}
            for k in keys
        }
        lines += [
            f"### → {LABELS.get(t, t)}",
            "",
            "| candidate | "
            + " | ".join(f"`{r}`" for r in recipes)
            + " | "
            + " | ".join(METHODS)
            + " |",
            "|---" * (len(recipes) + len(METHODS) + 1) + "|",
        ]
        for k in sorted(keys, key=lambda k: -acc[k][recipes[0]]):
            lines.append(
                f"| {name(k)} | "
                + " | ".join(f"{acc[k][r]:.1f}" for r in recipes)
                + " | "
                + " | ".join(f"{score[k][m]:.3f}" for m in METHODS)
                + " |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


BACKBONES = {
    "small_cnn": {"filters": (16, 32), "units": 64},
    "mlp": {"units": (256, 128)},
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--recipes", default="fine_tune,feature_extraction")
    p.add_argument("--backbone", default="small_cnn", choices=sorted(BACKBONES))
    p.add_argument("--steps", default=",".join(map(str, STEPS)))
    p.add_argument("--shots", type=int, default=10, help="labelled rows per class")
    p.add_argument("--quick", action="store_true", help="a smoke run: small data")
    p.add_argument(
        "--out",
        nargs="?",
        const=str(OUT),
        default=None,
        help=f"write the table (default path: {OUT})",
    )
    args = p.parse_args(argv)
    import keras
    import scipy
    import sklearn

    from keras_transfer import backend

    load = os.getloadavg()[0]
    start = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    targets = args.targets.split(",")
    recipes = {r: RECIPES[r] for r in args.recipes.split(",")}
    n_source, n_test = (500, 300) if args.quick else (3000, 2000)
    steps = tuple(int(s) for s in args.steps.split(","))
    extra = {"epochs": 2} if args.quick else {}
    domains = load_domains(n_source, n_test)
    zoo = {
        "steps": steps,
        "backbone": args.backbone,
        "backbone_params": BACKBONES[args.backbone],
    }
    runs = [
        run_seed(domains, targets, s, args.shots, recipes, extra, **zoo) for s in seeds
    ]
    meta = {
        "command": f"KERAS_BACKEND={backend.name()} python3 "
        + shlex.join(["benchmarks/transferability.py", *sys.argv[1:]]),
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d"),
        "versions": f"backend {backend.name()}, keras {keras.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPU cores ({platform.machine()})",
        "minutes": (time.perf_counter() - start) / 60,
        "load": (load, os.getloadavg()[0]),
        "n_source": n_source,
        "n_test": n_test,
        "shots": args.shots,
        "seeds": seeds,
        "recipes": recipes,
        "extra": extra,
        **zoo,
    }
    text = report(runs, meta)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
