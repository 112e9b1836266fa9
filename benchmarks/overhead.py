"""DANN fit time against a plain Keras fit of the same network, per backend.

Each backend runs in its own process (KERAS_BACKEND is fixed at import). For
each problem the same feature extractor + head is trained (a) by plain
``model.fit`` on the labelled source rows and (b) by
``DomainAdaptiveClassifier(strategy="dann")`` on the same source rows plus as
many unlabelled target rows (every DANN step sees ``batch_size`` source and
``batch_size`` target rows, and runs the domain discriminator: 64-64 without
dropout, the size of the issue's definition and of DANN's default until the
1024-1024 recipe, so that the ratio measures per-step work, not a 16× larger
discriminator). The time per epoch is the median over epochs after the first
(compilation excluded); both the wall time and the process's CPU time are
kept, the latter being less inflated on a shared, loaded machine.

    python benchmarks/overhead.py      # all backends; writes docs/benchmarks.md
    python benchmarks/overhead.py --backends jax --epochs 4
    python benchmarks/overhead.py --problems mlp    # the tiny MLP only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

# The discriminator of the DANN fits (see the module docstring).
DANN_PARAMS = {"units": (64, 64), "dropout": 0.0}

PROBLEMS = {
    # name: (rows per domain, input shape, backbone, backbone_params, batch size)
    "moons MLP (2000+2000 rows, 2→64→64)": (2000, (2,), "mlp", {}, 64),
    "digits CNN (1024+1024 images 28×28)": (1024, (28, 28, 1), "cnn", {}, 64),
}


def epoch_clock():
    """A Keras callback whose ``times`` lists (wall, CPU) seconds of each epoch."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = self.start
            self.times.append((time.perf_counter() - wall, time.process_time() - cpu))

    return EpochClock()


def per_epoch(clock):
    """Median (wall, CPU) seconds of the epochs after the first."""
    import numpy as np

    return tuple(float(v) for v in np.median(np.array(clock.times[1:]), axis=0))


def plain_fit(X, y, shape, backbone, params, batch_size, epochs) -> tuple:
    """(wall, CPU) seconds per epoch of ``Sequential([backbone, Dense]).fit``."""
    import keras

    from keras_transfer import backend
    from keras_transfer.backbones import build_backbone

    backend.set_random_seed(0)  # keras.utils' seeds (imports) TensorFlow too
    features = build_backbone(backbone, shape, **params)
    plain = keras.Sequential([features, keras.layers.Dense(10)])
    plain.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    t = epoch_clock()
    plain.fit(X, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[t])
    return per_epoch(t)


def ours(strategy, Xs, ys, Xt, backbone, params, batch_size, epochs) -> tuple:
    """(wall, CPU) seconds per epoch of ``DomainAdaptiveClassifier(strategy).fit``."""
    from keras_transfer import DomainAdaptiveClassifier

    t = epoch_clock()
    DomainAdaptiveClassifier(
        strategy,
        strategy_params=DANN_PARAMS if strategy == "dann" else None,
        backbone=backbone,
        backbone_params=params,
        epochs=epochs,
        batch_size=batch_size,
        random_state=0,
        callbacks=[t],
    ).fit((Xs, ys), Xt)
    return per_epoch(t)


def worker(epochs: int, problems=("mlp", "cnn"), repeats: int = 1) -> list[dict]:
    import numpy as np

    from keras_transfer.backend import limit_threads

    limit_threads(1)
    rows = []
    rng = np.random.default_rng(0)
    for name, (n, shape, backbone, params, batch) in PROBLEMS.items():
        if backbone not in problems:
            continue
        Xs = rng.random((n, *shape), dtype=np.float32)
        ys = rng.integers(0, 10, n)
        Xt = rng.random((n, *shape), dtype=np.float32)
        net = (shape, backbone, params)
        X2, y2 = np.concatenate([Xs, Xt]), np.concatenate([ys, ys])
        pairs = []  # (plain 2b, dann), alternating, so load swings hit both
        for _ in range(repeats):
            # the rows a DANN step sees: batch source + batch target rows
            plain2 = plain_fit(X2, y2, *net, 2 * batch, epochs)
            dann = ours("dann", Xs, ys, Xt, backbone, params, batch, epochs)
            pairs.append((plain2, dann))
        plain = plain_fit(Xs, ys, *net, batch, epochs)
        source_only = ours("source_only", Xs, ys, Xt, backbone, params, batch, epochs)
        row = {"problem": name, "steps": int(np.ceil(n / batch))}
        for i, clock in enumerate(("", "cpu_")):  # wall, then CPU seconds
            row.update(
                {
                    f"plain_{clock}s": plain[i],
                    f"plain2_{clock}s": float(np.median([p[i] for p, _ in pairs])),
                    f"source_only_{clock}s": source_only[i],
                    f"dann_{clock}s": float(np.median([d[i] for _, d in pairs])),
                    f"dann_{clock}ratio": float(
                        np.median([d[i] / p[i] for p, d in pairs])
                    ),
                }
            )
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,torch,tensorflow")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--problems", default="mlp,cnn", help="backbones to time: mlp, cnn or both"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="alternate the plain-2b and DANN fits this many times; the "
        "ratio is the median of the pairs' ratios",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/ alone"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.epochs, args.problems.split(","), args.repeats)
        print("RESULT" + json.dumps(result))
        return
    results = {}
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend}
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                "--epochs",
                str(args.epochs),
                "--problems",
                args.problems,
                "--repeats",
                str(args.repeats),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
        if not line:
            sys.stderr.write(out.stderr[-3000:])
            raise SystemExit(f"{backend} worker failed")
        results[backend] = json.loads(line[0][6:])
        for r in results[backend]:
            print(
                f"{backend:10s} {r['problem']:40s} plain {r['plain_s']:.3f} "
                f"plain(2b) {r['plain2_s']:.3f} source_only {r['source_only_s']:.3f} "
                f"dann {r['dann_s']:.3f} s/epoch; dann/plain(2b) "
                f"{r['dann_ratio']:.2f} wall, {r['dann_cpu_ratio']:.2f} CPU"
            )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end: {load:.1f}")
    lines = [
        "## DANN overhead against a plain Keras fit",
        "",
        f"`python benchmarks/overhead.py --epochs {args.epochs} --problems "
        f"{args.problems} --repeats {args.repeats}` on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        "CPU only, one thread, one backend per process; load average at the end "
        f"{load:.1f} (on {os.cpu_count()} cores: above that, other jobs shared them). "
        "Wall seconds per epoch (median "
        "of epochs 2..N; the first epoch compiles; with --repeats the plain 2b "
        "and DANN fits alternate and DANN / plain 2b is the median of the pairs' "
        "ratios, of wall and of CPU time: the process's CPU time is less inflated "
        "by other jobs); every fit runs the same number "
        f"of steps per epoch. Columns: **plain** = `keras.Sequential([backbone, "
        "Dense(10)]).fit` on the source rows, batch b; **plain 2b** = the same "
        "fit on the rows a DANN step sees (b source + b target rows per step, "
        "i.e. the same data per step): the reference for the overhead; "
        "**source_only** and **DANN** = `DomainAdaptiveClassifier` (b source "
        "rows per step, plus b target rows for DANN, which also runs the domain "
        "discriminator, 64-64 without dropout, and the gradient-reversal layer).",
        "",
        "| backend | problem | plain | plain 2b | source_only | DANN "
        "| DANN / plain 2b, wall | DANN / plain 2b, CPU | DANN / plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, rows in results.items():
        for r in rows:
            lines.append(
                f"| {backend} | {r['problem']} | {r['plain_s']:.3f} | "
                f"{r['plain2_s']:.3f} | {r['source_only_s']:.3f} | "
                f"{r['dann_s']:.3f} | {r['dann_ratio']:.2f}× | "
                f"{r['dann_cpu_ratio']:.2f}× | {r['dann_s'] / r['plain_s']:.2f}× |"
            )
    if args.no_write:
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _report import write_section

    every = args.problems.split(",") == ["mlp", "cnn"]
    if not every:  # a partial run keeps the full table and writes its own
        lines[0] += f" ({args.problems} only)"
    section = "overhead" if every else f"overhead-{args.problems}"
    print("wrote", write_section(section, "\n".join(lines)))


if __name__ == "__main__":
    main()
