"""Peak memory of a DANN fit on a memmap source larger than 1.5 GB.

Writes a float32 source file (default 100 000 x 4096 = 1.64 GB) and a target
file (20 000 x 4096) in a temporary folder, then fits
``DomainAdaptiveClassifier("dann", backbone="mlp", epochs=1)`` in a fresh
process per mode and records how far the resident set size (RSS) grows over
the baseline taken after the imports: VmHWM from /proc/self/status (the
kernel's peak, reset after the baseline) and the largest VmRSS seen by a
thread sampling every 10 ms. Modes:

* ``memmap``: ``fit((np.memmap, ys), np.memmap)``, rows read through the
  file per batch (what the library does);
* ``generator``: a generator function reading consecutive batches with
  ``np.fromfile`` as source, the target memmap as target;
* ``mapped``: as ``memmap`` but rows taken by indexing the memmap (the
  library's file reads switched off), to show what that would cost.

The files are deleted at the end. Linux only (reads /proc).

    KERAS_BACKEND=jax python benchmarks/streaming.py
    KERAS_BACKEND=jax python benchmarks/streaming.py --rows 20000 --modes memmap
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

MB = 2**20


def status() -> dict[str, float]:
    """The memory lines of /proc/self/status, in MB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


class Sampler(threading.Thread):
    """Largest VmRSS / RssFile seen, polled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.01):
        super().__init__(daemon=True)
        self.interval, self.peak, self.peak_file = interval, 0.0, 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            s = status()
            self.peak = max(self.peak, s["VmRSS"])
            self.peak_file = max(self.peak_file, s["RssFile"])
            time.sleep(self.interval)


def make_data(folder, rows, target_rows, features, seed=0):
    """Write source/target float32 files chunk by chunk (never mapped here)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    direction = rng.normal(size=features).astype("float32") / np.sqrt(features)
    labels = {}
    for name, n, shift in (("source", rows, 0.0), ("target", target_rows, 0.5)):
        y = rng.integers(0, 2, n)
        with open(os.path.join(folder, f"{name}.f32"), "wb") as f:
            for lo in range(0, n, 4096):
                k = min(4096, n - lo)
                x = rng.standard_normal((k, features), dtype="float32")
                x += (2.0 * y[lo : lo + k, None] - 1.0) * 3.0 * direction + shift
                x.tofile(f)
        labels[name] = y
    np.save(os.path.join(folder, "labels.npy"), labels["source"])
    np.save(os.path.join(folder, "target_labels.npy"), labels["target"])


def worker(args) -> dict:
    import numpy as np

    import keras_transfer.data.memmap as kt_memmap
    from keras_transfer import DomainAdaptiveClassifier

    folder, f = args.folder, args.features
    source_path = os.path.join(folder, "source.f32")
    Xs = np.memmap(source_path, "float32", "r", shape=(args.rows, f))
    Xt = np.memmap(
        os.path.join(folder, "target.f32"), "float32", "r", shape=(args.target_rows, f)
    )
    ys = np.load(os.path.join(folder, "labels.npy"))
    yt = np.load(os.path.join(folder, "target_labels.npy"))
    if args.mode == "mapped":
        kt_memmap._file_layout = lambda X: None  # index the memmap instead

    def source_batches():
        for lo in range(0, args.rows, args.batch_size):
            k = min(args.batch_size, args.rows - lo)
            x = np.fromfile(source_path, "float32", k * f, offset=lo * f * 4)
            yield x.reshape(k, f), ys[lo : lo + k]

    def estimator():
        return DomainAdaptiveClassifier(
            "dann", backbone="mlp", epochs=1, batch_size=args.batch_size, random_state=0
        )

    imports = status()
    # Warm-up: the same fit on 256 rows in RAM starts the backend (loads the
    # compiler's code pages, compiles); what it costs does not depend on data.
    small = np.fromfile(source_path, "float32", 256 * f).reshape(256, f)
    estimator().fit((small, ys[:256]), small)
    warm = status()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    sampler = Sampler()
    sampler.start()
    start = time.perf_counter()
    clf = estimator()
    if args.mode == "generator":
        steps = -(-args.rows // args.batch_size)
        clf.fit(source=source_batches, target=Xt, classes=[0, 1], steps_per_epoch=steps)
    else:
        clf.fit((Xs, ys), Xt)
    fit_s = time.perf_counter() - start
    fit_hwm = status()["VmHWM"]
    accuracy = float(np.mean(clf.predict(Xt) == yt))
    sampler.stop.set()
    sampler.join()
    end = status()
    steps = -(-args.rows // args.batch_size)
    import keras

    return {
        "mode": args.mode,
        "backend": keras.backend.backend(),
        "imports_mb": imports["VmRSS"],
        "warmup_growth_mb": warm["VmHWM"] - imports["VmRSS"],
        "baseline_mb": warm["VmRSS"],
        "fit_growth_mb": fit_hwm - warm["VmRSS"],
        "hwm_growth_mb": end["VmHWM"] - warm["VmRSS"],
        "sampled_growth_mb": sampler.peak - warm["VmRSS"],
        "file_pages_growth_mb": sampler.peak_file - warm["RssFile"],
        "total_growth_mb": max(warm["VmHWM"], end["VmHWM"]) - imports["VmRSS"],
        "fit_s": fit_s,
        "steps": steps,
        "target_accuracy": accuracy,
    }


def machine() -> str:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if "model name" in ln]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) / MB
    gpu = "an NVIDIA GPU present" if os.path.exists("/dev/nvidia0") else "no GPU"
    return f"{cpu}, {os.cpu_count()} CPU cores, {total:.0f} GB RAM, {gpu}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--target-rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--modes", default="memmap,generator,mapped")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode:
        print("RESULT" + json.dumps(worker(args)))
        return
    source_gb = args.rows * args.features * 4 / 1e9
    results = []
    with tempfile.TemporaryDirectory(prefix="kt-streaming-") as folder:
        make_data(folder, args.rows, args.target_rows, args.features)
        for mode in args.modes.split(","):
            cmd = [sys.executable, __file__, "--mode", mode, "--folder", folder]
            for name in ("rows", "target_rows", "features", "batch_size"):
                cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
            if not line:
                sys.stderr.write(out.stderr[-3000:])
                raise SystemExit(f"mode {mode} failed")
            r = json.loads(line[0][6:])
            results.append(r)
            print(
                f"{mode:10s} imports {r['imports_mb']:.0f} MB, warm-up fit "
                f"+{r['warmup_growth_mb']:.0f} MB; fit: VmHWM "
                f"+{r['fit_growth_mb']:.0f} MB, with predict "
                f"+{r['hwm_growth_mb']:.0f} MB, sampled VmRSS "
                f"+{r['sampled_growth_mb']:.0f} MB, file pages "
                f"+{r['file_pages_growth_mb']:.0f} MB; over imports "
                f"+{r['total_growth_mb']:.0f} MB; {r['fit_s']:.0f} s, target "
                f"accuracy {r['target_accuracy']:.3f}"
            )
    what = {
        "memmap": "`fit((memmap, ys), memmap)`: rows read through the file",
        "generator": "source: generator of `np.fromfile` batches; target: memmap",
        "mapped": "as `memmap`, rows taken by indexing the map (not the default)",
    }
    backend = results[0]["backend"]
    command = " ".join(
        [f"KERAS_BACKEND={backend} python benchmarks/streaming.py"]
        + list(argv if argv is not None else sys.argv[1:])
    )
    # one section per backend: their start-up costs differ (JAX's compiler)
    section = "streaming" if backend == "jax" else f"streaming-{backend}"
    lines = [
        f"## Streaming ({backend}): peak memory of a DANN fit on a "
        f"{source_gb:.2f} GB memmap",
        "",
        f"`{command}` on {machine()}. Source: {args.rows:,} × {args.features} float32 "
        f"({source_gb:.2f} GB file), target: {args.target_rows:,} × "
        f'{args.features} (memmap); `DomainAdaptiveClassifier("dann", '
        f'backbone="mlp", epochs=1, batch_size={args.batch_size})`, one epoch = '
        f"{results[0]['steps']:,} steps; one fresh process per mode. Each "
        "process first measures its RSS after the imports (Python, NumPy, "
        "Keras, keras_transfer), then runs a warm-up: the same fit on 256 rows "
        "in RAM, which starts the backend (it maps the compiler's code pages "
        "and compiles; this costs the same whatever the data). The fit on the "
        "files follows, then `predict` on the target file; their growth is "
        "measured over the RSS after the warm-up: *VmHWM* is the kernel's peak "
        "(reset after the warm-up) at the end of `fit` and after `predict`, "
        "*sampled* the largest VmRSS seen every 10 ms, *file pages* the largest "
        "growth of RssFile (file pages mapped into the process). *Over imports* "
        "is the whole peak over the after-import RSS, warm-up included.",
        "",
        "| mode | RSS after imports | warm-up fit (256 rows in RAM) "
        "| fit (VmHWM) | fit + predict (VmHWM) | fit + predict (sampled) "
        "| file pages | peak over imports | fit time | target accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {what[r['mode']]} | {r['imports_mb']:.0f} MB | "
            f"+{r['warmup_growth_mb']:.0f} MB | **+{r['fit_growth_mb']:.0f} MB** | "
            f"+{r['hwm_growth_mb']:.0f} MB | "
            f"+{r['sampled_growth_mb']:.0f} MB | +{r['file_pages_growth_mb']:.0f} MB "
            f"| +{r['total_growth_mb']:.0f} MB | {r['fit_s']:.0f} s | "
            f"{r['target_accuracy']:.3f} |"
        )
    if args.no_write:
        print("\n".join(lines))
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _report import write_section

    print("wrote", write_section(section, "\n".join(lines)))
    summary = [
        f"`{command}`, {machine()}:",
        "",
        "| mode | fit | fit + predict | file pages mapped | backend start-up "
        "(256-row fit in RAM) | peak over the import baseline |",
        "|---|---|---|---|---|---|",
    ] + [
        f"| {what[r['mode']]} | **+{r['fit_growth_mb']:.0f} MB** | "
        f"+{r['hwm_growth_mb']:.0f} MB | +{r['file_pages_growth_mb']:.0f} MB | "
        f"+{r['warmup_growth_mb']:.0f} MB | +{r['total_growth_mb']:.0f} MB |"
        for r in results
    ]
    print(
        "wrote", write_section(f"{section}-summary", "\n".join(summary), "streaming.md")
    )


if __name__ == "__main__":
    main()
