"""Fit time and accuracy side by side with ADAPT's DANN (one process per run).

ADAPT (``adapt`` on PyPI, TensorFlow/Keras) is not a dependency of this
project: it lives in a virtual environment of its own, which ``--setup``
creates (the command it runs is printed, and is all there is to it)::

    python benchmarks/vs_adapt.py --setup   # in ~/.cache/keras_transfer_bench/
    python benchmarks/vs_adapt.py           # moons, 3 seeds + Amazon B→K; writes docs
    python benchmarks/vs_adapt.py --seeds 0 --tasks moons --no-write
    python benchmarks/vs_adapt.py --tasks moons --no-write --jax-cache /tmp/jc

The Amazon files are read with ``keras_transfer.datasets.load_amazon``: set
``KERAS_TRANSFER_DATA`` to a folder that holds ``amazon_reviews/`` when the
machine cannot download them.

ADAPT 0.4.5 declares ``tensorflow`` as a requirement; the venv gets
``tensorflow-cpu`` (the same code without the CUDA wheels) and ``adapt`` with
``--no-deps`` next to its other requirements, so the pip command is::

    pip install tensorflow-cpu==2.21.0 scikeras cvxopt scikit-learn
    pip install --no-deps adapt==0.4.5

Both sides train the same task: the same rows (written once by this process
to a temporary ``.npz`` that every run reads), the same networks, epochs,
batch size (rows per domain per step), Adam 1e-3 and a constant λ. ADAPT's
``DANN`` takes an encoder, a task head and a discriminator; ours is
``DomainAdaptiveClassifier("dann", schedule="constant")`` with the
``mlp`` backbone and the discriminator of ``strategy_params["units"]``.
Every run is its own process (ADAPT's venv python, or this python with
``KERAS_BACKEND`` set), one CPU thread; the runs of a seed alternate, in an
order rotated per seed. The time is ``fit``'s wall time after the imports
and the data are loaded, building the networks included; the accuracy is on
the target rows (moons: the target training rows; Amazon: kitchen's test
split). A ratio is ours / ADAPT of the same seed.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

VENV = pathlib.Path.home() / ".cache" / "keras_transfer_bench" / "adapt-venv"
ADAPT_REQUIREMENTS = [
    "tensorflow-cpu==2.21.0",
    "scikeras",
    "cvxopt",
    "scikit-learn",
]
ADAPT_PACKAGE = "adapt==0.4.5"

# name: epochs, batch (rows per domain per step), encoder units, discriminator
# units, λ
TASKS = {
    "moons": dict(epochs=50, batch=32, units=(64, 64), disc=(64, 64), lam=1.0),
    "amazon": dict(epochs=20, batch=32, units=(50,), disc=(50,), lam=0.1),
}
TITLES = {
    "moons": "rotated two moons, 2000 source + 2000 target rows (30°), 2→64→64",
    "amazon": "Amazon reviews books → kitchen, 2000 + 2000 rows × 5000 "
    "log1p counts, 5000→50",
}
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


# ---- the data, made once by the driver ---------------------------------------------


def write_data(task: str, path: str) -> None:
    """Save ``Xs, ys, Xt, X_eval, y_eval`` of ``task`` to ``path`` (float32)."""
    import numpy as np

    from keras_transfer.datasets import load_amazon, make_rotated_moons

    if task == "moons":
        Xs, ys, Xt, yt = make_rotated_moons(2000, 2000, angle=30, random_state=0)
        X_eval, y_eval = Xt, yt
    else:
        Xs, ys = load_amazon("books", "train")
        Xt, _ = load_amazon("kitchen", "train")
        X_eval, y_eval = load_amazon("kitchen", "test")
        Xs, Xt, X_eval = (np.log1p(X.toarray()) for X in (Xs, Xt, X_eval))
    np.savez(
        path,
        Xs=np.asarray(Xs, "float32"),
        ys=np.asarray(ys, "int32"),
        Xt=np.asarray(Xt, "float32"),
        X_eval=np.asarray(X_eval, "float32"),
        y_eval=np.asarray(y_eval, "int32"),
    )


# ---- one run, in a child process ----------------------------------------------


def run_adapt(data, cfg, seed):
    """ADAPT's DANN: fit seconds and target accuracy (ADAPT's venv)."""
    import keras
    import numpy as np
    import tensorflow as tf
    from adapt.feature_based import DANN

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    Xs, ys, Xt = data["Xs"], data["ys"], data["Xt"]
    n_in = Xs.shape[1]
    start, cpu = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(seed)

    def mlp(n, units, last=None):
        layers = [keras.Input((n,))]
        layers += [keras.layers.Dense(u, activation="relu") for u in units]
        return keras.Sequential(layers + ([last] if last else []))

    encoder = mlp(n_in, cfg["units"])
    task = mlp(cfg["units"][-1], (), keras.layers.Dense(2, activation="softmax"))
    disc = mlp(cfg["units"][-1], cfg["disc"], keras.layers.Dense(1, "sigmoid"))
    model = DANN(
        encoder,
        task,
        disc,
        Xt=Xt,
        lambda_=cfg["lam"],
        # ADAPT's DANN reshapes its prediction to the labels' shape: one-hot.
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.Adam(1e-3),
        random_state=seed,
        verbose=0,
    )
    onehot = np.eye(2, dtype="float32")[ys]
    model.fit(Xs, onehot, epochs=cfg["epochs"], batch_size=cfg["batch"])
    fit_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    pred = np.asarray(model.predict(data["X_eval"], verbose=0)).argmax(1)
    return fit_s, cpu_s, float((pred == data["y_eval"]).mean())


def run_ours(data, cfg, seed):
    """``DomainAdaptiveClassifier("dann")``: fit seconds and target accuracy."""
    import numpy as np

    from keras_transfer import DomainAdaptiveClassifier
    from keras_transfer.backend import limit_threads

    limit_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    clf = DomainAdaptiveClassifier(
        "dann",
        adaptation_weight=cfg["lam"],
        schedule="constant",
        backbone_params={"units": cfg["units"]},
        strategy_params={"units": cfg["disc"]},
        epochs=cfg["epochs"],
        batch_size=cfg["batch"],
        learning_rate=1e-3,
        random_state=seed,
    ).fit((data["Xs"], data["ys"]), data["Xt"])
    fit_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    pred = clf.predict(data["X_eval"])
    return fit_s, cpu_s, float(np.mean(pred == data["y_eval"]))


def child(side, task, data_path, seed):
    import numpy as np

    with np.load(data_path) as f:
        data = {k: f[k] for k in f.files}
    run = run_adapt if side == "adapt" else run_ours
    fit_s, cpu_s, acc = run(data, TASKS[task], seed)
    result = {"fit_s": fit_s, "cpu_s": cpu_s, "acc": acc}
    print("RESULT " + json.dumps(result), flush=True)


# ---- the driver ----------------------------------------------------------------


def setup(venv: pathlib.Path) -> None:
    """Create ``venv`` and install ADAPT into it from the package registry."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    for cmd in (pip + ADAPT_REQUIREMENTS, pip + ["--no-deps", ADAPT_PACKAGE]):
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    check = [str(venv / "bin" / "python"), "-c", "import adapt.feature_based"]
    subprocess.run(check, check=True, env={**os.environ, **THREAD_ENV})
    print("ADAPT installed in", venv)


def run_child(side, task, data_path, seed, venv, jax_cache=None):
    if side == "adapt":
        python, backend = str(venv / "bin" / "python"), "tensorflow"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    else:
        python, backend = sys.executable, side
        env = dict(os.environ)
        here = str(pathlib.Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (here, env.get("PYTHONPATH")) if p
        )
    env.update(THREAD_ENV, KERAS_BACKEND=backend)
    if jax_cache and side == "jax":  # JAX's persistent compilation cache
        env.update(
            JAX_COMPILATION_CACHE_DIR=str(jax_cache),
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    cmd = [python, __file__, "--child", side, task, data_path, str(seed)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    rows = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if not rows:
        raise SystemExit(f"{side} {task} seed {seed} failed:\n{out.stderr[-3000:]}")
    return json.loads(rows[-1][len("RESULT ") :])


def table(task, sides, results, seeds):
    import numpy as np

    def times(side, key):
        return [results[(side, s)][key] for s in seeds]

    def ratio(side, key):
        pairs = zip(times(side, key), times("adapt", key))
        return float(np.median([a / b for a, b in pairs]))

    lines = [
        f"**{TITLES[task]}**: {TASKS[task]['epochs']} epochs, batch "
        f"{TASKS[task]['batch']} per domain, discriminator "
        f"{'-'.join(map(str, TASKS[task]['disc']))}, λ = {TASKS[task]['lam']} "
        "constant.",
        "",
        f"| | fit wall (s), seeds {'/'.join(map(str, seeds))} | fit CPU (s) "
        "| ratio to ADAPT, wall / CPU (median) | target accuracy | mean accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for side in sides:
        acc = times(side, "acc")
        name = "ADAPT 0.4.5 (TensorFlow)" if side == "adapt" else f"ours, {side}"
        rel = (
            "1"
            if side == "adapt"
            else f"{ratio(side, 'fit_s'):.2f}× / {ratio(side, 'cpu_s'):.2f}×"
        )
        lines.append(
            f"| {name} | {' / '.join(f'{x:.2f}' for x in times(side, 'fit_s'))} | "
            f"{' / '.join(f'{x:.2f}' for x in times(side, 'cpu_s'))} | {rel} | "
            f"{' / '.join(f'{a:.3f}' for a in acc)} | {np.mean(acc):.3f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="create ADAPT's venv")
    parser.add_argument("--venv", type=pathlib.Path, default=VENV)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--amazon-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--jax-cache",
        type=pathlib.Path,
        help="run the JAX fits with JAX's persistent compilation cache in this "
        "folder, filled by one untimed JAX run per task first (what repeated "
        "fits of one network, e.g. a grid search, get)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        side, task, path, seed = args.child
        return child(side, task, path, int(seed))
    if args.setup:
        return setup(args.venv)
    if not (args.venv / "bin" / "python").exists():
        raise SystemExit(
            f"No ADAPT venv at {args.venv}: run `python {sys.argv[0]} --setup` "
            "first (or pass --venv)."
        )
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sides = ["adapt", *args.backends]
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            path = os.path.join(tmp, f"{task}.npz")
            write_data(task, path)
            seeds = args.seeds if task == "moons" else args.amazon_seeds
            results = {}
            if args.jax_cache and "jax" in sides:
                run_child("jax", task, path, seeds[0], args.venv, args.jax_cache)
            for i, seed in enumerate(seeds):
                order = sides[i % len(sides) :] + sides[: i % len(sides)]
                for side in order:
                    r = results[(side, seed)] = run_child(
                        side, task, path, seed, args.venv, args.jax_cache
                    )
                    print(
                        f"{task} seed {seed} {side:10s} fit {r['fit_s']:.2f} s "
                        f"(CPU {r['cpu_s']:.2f} s) acc {r['acc']:.3f}",
                        flush=True,
                    )
            sections.append(table(task, sides, results, seeds))
            print(sections[-1], flush=True)
    text = "\n\n".join(sections)
    if args.no_write:
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    intro = (
        "## Side by side with ADAPT (DANN)\n\n"
        f"`python benchmarks/vs_adapt.py` on {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, one thread per run, one process per run, "
        "alternating; ADAPT 0.4.5 with tensorflow-cpu 2.21 in its own venv "
        "(`--setup`). Fit time after the imports (building the networks "
        "included): wall time, and the process's CPU time, which a loaded "
        f"machine inflates less. Load average at the end: {load:.1f}"
        + (
            f" (on {os.cpu_count()} cores: a shared, loaded machine, so absolute "
            "times are inflated; compare the ratios, measured in the same run)"
            if load > 0.75 * (os.cpu_count() or 1)
            else " (a quiet machine)"
        )
        + ".\n\n"
    )
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _report import write_section

    print("wrote", write_section("vs_adapt", intro + text))


if __name__ == "__main__":
    main()
