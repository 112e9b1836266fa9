"""Time per training step on a GPU: our DANN step, a plain Keras step, PyTorch.

A ResNet-style network (3×3 conv stem, three residual stages, global average
pooling, a Dense head) on 32×32×3 images, 256 source + 256 target rows per
step, bf16 mixed precision (``keras.mixed_precision`` policy
``"mixed_bfloat16"``; ``torch.autocast(dtype=torch.bfloat16)``). Per backend,
in its own process (KERAS_BACKEND is fixed at import):

(a) a plain Keras ``model.fit`` of the same feature extractor + head on the
    same 512 rows per step (NumPy input, as the estimator takes);
(b) ``DomainAdaptiveClassifier("dann").fit`` (adds the domain discriminator
    behind a gradient-reversal layer, the masked task loss and the λ
    schedule), batch_size=256 per domain;
(c) on the torch backend's process, a hand-written PyTorch DANN loop: the same
    architecture in ``torch.nn``, the gradient reversal as an
    ``autograd.Function``, Adam, data resident on the device.

A number is the median over epochs after the first (which compiles) of the
epoch's wall time divided by its steps; the end of an epoch waits for the
device, so every step is counted. The goal: (b) ≤ 1.2 × (a) on JAX and torch.

    python benchmarks/gpu_speed.py                 # on a GPU; writes docs/benchmarks.md
    python benchmarks/gpu_speed.py --backends jax torch --epochs 6
    python benchmarks/gpu_speed.py --cpu-smoke     # tiny, on the CPU, prints only
    # one backend's child on a machine without the rest, then the table here:
    KERAS_BACKEND=torch python benchmarks/gpu_speed.py --child torch --profile > t.log
    python benchmarks/gpu_speed.py --results jax.log t.log

Levers for the torch backend on CUDA (issue 16), all measured by one run::

    python benchmarks/gpu_speed.py --torch-levers   # 5 torch children, minutes

runs the torch child once per setting, each in its own process: the bf16
baseline, float32 with TF32 matmuls/convolutions instead of the
mixed_bfloat16 casts (``--precision float32``), channels_first (torch's own
layout: no transpose around each convolution), both together, and both with
``jit_compile=True`` (``torch.compile`` of the train step), with the
hand-written PyTorch loop in the same precision beside each; it prints one
table (and writes it into docs/benchmarks.md unless ``--no-write``). Nothing
of this is on by default in keras_transfer: a lever becomes a default only
once this table shows it helps.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

from _timing import epoch_timer  # benchmarks/ is sys.path[0] for a script

FULL = dict(batch=256, widths=(64, 128, 256), steps=20, epochs=6, units=(64, 64))
# --cpu-smoke: proves that every path runs, at a size a laptop CPU does in seconds.
SMOKE = dict(batch=8, widths=(8, 16, 32), steps=2, epochs=3, units=(64, 64))
SHAPE = (32, 32, 3)
CLASSES = 10


def image_shape():
    """32×32×3 in the layout of ``keras.config.image_data_format()``."""
    import keras

    if keras.config.image_data_format() == "channels_first":
        return (SHAPE[2], *SHAPE[:2])
    return SHAPE


def synthetic(n, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, *image_shape())).astype("float32")
    return X, (np.arange(n) % CLASSES).astype("int32")


# ---- Keras: the network, plain fit, our estimator ------------------------------


def resnet(input_shape, widths):
    """Conv stem + one basic residual block per stage + global average pooling."""
    import keras
    from keras import layers

    channel_axis = 1 if keras.config.image_data_format() == "channels_first" else -1

    def conv_bn(x, width, kernel, stride):
        x = layers.Conv2D(width, kernel, stride, padding="same", use_bias=False)(x)
        return layers.BatchNormalization(axis=channel_axis)(x)

    inputs = keras.Input(input_shape)
    x = layers.ReLU()(conv_bn(inputs, widths[0], 3, 1))
    for i, width in enumerate(widths):
        stride = 1 if i == 0 else 2
        y = layers.ReLU()(conv_bn(x, width, 3, stride))
        y = conv_bn(y, width, 3, 1)
        shortcut = (
            x if stride == 1 and x.shape[-1] == width else conv_bn(x, width, 1, stride)
        )
        x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="resnet")


def ms_per_step(times, steps):
    import numpy as np

    return 1000.0 * float(np.median(times[1:])) / steps


def plain_keras(cfg, jit_compile, extra_callbacks=()):
    import keras

    from keras_transfer.backend import set_random_seed

    set_random_seed(0)
    X, y = synthetic(2 * cfg["batch"] * cfg["steps"], 0)
    inputs = keras.Input(image_shape())
    outputs = keras.layers.Dense(CLASSES)(resnet(image_shape(), cfg["widths"])(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    timer = epoch_timer()
    model.fit(
        X,
        y,
        batch_size=2 * cfg["batch"],
        epochs=cfg["epochs"],
        verbose=0,
        callbacks=[timer, *extra_callbacks],
    )
    return ms_per_step(timer.times, cfg["steps"])


def ours(cfg, jit_compile, extra_callbacks=()):
    from keras_transfer import DomainAdaptiveClassifier

    n = cfg["batch"] * cfg["steps"]
    Xs, ys = synthetic(n, 1)
    Xt, _ = synthetic(n, 2)
    timer = epoch_timer()
    DomainAdaptiveClassifier(
        "dann",
        backbone=lambda shape: resnet(shape, cfg["widths"]),
        strategy_params={"units": cfg["units"]},
        epochs=cfg["epochs"],
        batch_size=cfg["batch"],
        random_state=0,
        callbacks=[timer, *extra_callbacks],
        jit_compile=jit_compile,
    ).fit((Xs, ys), Xt)
    return ms_per_step(timer.times, cfg["steps"])


def batch_assembly(cfg):
    """Host milliseconds that DomainBatches takes to build one step's batch."""
    import numpy as np

    from keras_transfer.data import DomainBatches

    n = cfg["batch"] * cfg["steps"]
    Xs, ys = synthetic(n, 1)
    Xt, _ = synthetic(n, 2)
    data = DomainBatches(Xs, ys, Xt, batch_size=cfg["batch"], seed=0)
    times = []
    for i in range(len(data)):
        start = time.perf_counter()
        data[i]
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


# ---- PyTorch by hand -------------------------------------------------------------


def torch_dann(cfg, precision="mixed_bfloat16"):
    """ms per step of a hand-written PyTorch DANN loop.

    ``precision``: ``"mixed_bfloat16"`` (bf16 autocast) or ``"float32"``
    (float32 weights and activations; TF32 tensor cores when enabled).
    """
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)

    class Reverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, lam):
            ctx.lam = lam
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            return -ctx.lam * grad, None

    def conv_bn(c_in, c_out, kernel, stride):
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.a = conv_bn(c_in, c_out, 3, stride)
            self.b = conv_bn(c_out, c_out, 3, 1)
            same = stride == 1 and c_in == c_out
            self.shortcut = nn.Identity() if same else conv_bn(c_in, c_out, 1, stride)

        def forward(self, x):
            return F.relu(self.b(F.relu(self.a(x))) + self.shortcut(x))

    widths = cfg["widths"]
    layers = [conv_bn(3, widths[0], 3, 1), nn.ReLU()]
    for i, width in enumerate(widths):
        layers.append(Block(widths[max(i - 1, 0)], width, 1 if i == 0 else 2))
    features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    head = nn.Linear(widths[-1], CLASSES)
    sizes = [widths[-1], *cfg["units"]]
    disc = nn.Sequential(
        *[
            m
            for a, b in zip(sizes[:-1], sizes[1:])
            for m in (nn.Linear(a, b), nn.ReLU())
        ],
        nn.Linear(sizes[-1], 1),
    )
    modules = nn.ModuleList([features, head, disc]).to(device)
    opt = torch.optim.Adam(modules.parameters(), lr=1e-3)

    b = cfg["batch"]
    xs, ys = synthetic(b, 1)
    xt, _ = synthetic(b, 2)
    x = torch.from_numpy(np.concatenate([xs, xt]))
    if x.shape[-1] == SHAPE[-1]:  # NHWC -> torch's NCHW
        x = x.permute(0, 3, 1, 2)
    x = x.contiguous().to(device)  # resident on the device, like a hand loop's
    ys = torch.from_numpy(ys).long().to(device)
    domain = torch.cat([torch.ones(b), torch.zeros(b)]).to(device)

    autocast = precision == "mixed_bfloat16"

    def step(lam=1.0):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            f = features(x)
            logits = head(f[:b])
            d = disc(Reverse.apply(f, lam)).squeeze(1)
        loss = F.cross_entropy(logits.float(), ys)
        loss = loss + F.binary_cross_entropy_with_logits(d.float(), domain)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    times = []
    for _ in range(cfg["epochs"]):
        sync()
        start = time.perf_counter()
        for _ in range(cfg["steps"]):
            step()
        sync()
        times.append(time.perf_counter() - start)
    return ms_per_step(times, cfg["steps"])


# ---- one backend, in this process ------------------------------------------------


def device_name(backend):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                line.split(":", 1)[1].strip() for line in f if "model name" in line
            )
    except (OSError, StopIteration):
        pass
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        return d.device_kind if d.platform != "cpu" else f"CPU ({cpu})"
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return details.get("device_name", "GPU")
    return f"CPU ({cpu})"


def torch_profile(cfg):
    """Print where one epoch of each Keras fit spends its time (torch backend).

    ``torch.profiler`` records the second epoch of a plain fit and of our DANN
    fit: the busiest operators by host time, the host-to-device copies, and
    per step the wall time against the time the GPU was busy. A step whose
    wall time far exceeds its GPU time is bound by Python dispatch on the host.
    """
    import keras
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)

    class Profiled(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.prof = profile(activities=activities)
                self.prof.__enter__()
                self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.wall = time.perf_counter() - self.start
                self.prof.__exit__(None, None, None)

    short = dict(cfg, epochs=2)
    for name, fit in (("plain", plain_keras), ("dann", ours)):
        callback = Profiled()
        fit(short, False, extra_callbacks=[callback])
        events = callback.prof.key_averages()
        steps = cfg["steps"]
        device_us = sum(getattr(e, "self_device_time_total", 0) or 0 for e in events)
        copies = [e for e in events if "Memcpy" in e.key or "aten::to" == e.key]
        print(
            f"PROFILE {name}: wall {1000 * callback.wall / steps:.2f} ms/step, "
            f"device busy {device_us / 1000 / steps:.2f} ms/step",
            flush=True,
        )
        for e in copies:
            print(
                f"PROFILE {name}: {e.key}: {e.count / steps:.1f} per step", flush=True
            )
        print(events.table(sort_by="self_cpu_time_total", row_limit=25), flush=True)


def set_precision(backend, precision):
    """The Keras dtype policy; for float32 on torch also TF32 matmuls/convs."""
    import keras

    if precision == "float32":
        keras.mixed_precision.set_global_policy("float32")
        if backend == "torch":
            import torch

            # TF32: float32 storage, tensor-core matmuls and convolutions.
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.set_float32_matmul_precision("high")
    else:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")


def child(
    backend,
    cfg,
    jit_modes,
    profile=False,
    data_format="channels_last",
    precision="mixed_bfloat16",
):
    import keras

    set_precision(backend, precision)
    keras.config.set_image_data_format(data_format)
    row = {
        "backend": backend,
        "device": device_name(backend),
        "data_format": data_format,
        "precision": precision,
        "runs": [],
    }

    def report():  # after every measurement, so a run cut short keeps its numbers
        print("RESULT " + json.dumps(row), flush=True)

    row["batch_assembly_ms"] = batch_assembly(cfg)
    if backend == "torch":
        row["torch_by_hand"] = torch_dann(cfg, precision)
        report()
    for jit in jit_modes:
        run = {"jit_compile": jit, "plain": plain_keras(cfg, jit)}
        row["runs"].append(run)
        report()
        run["dann"] = ours(cfg, jit)
        report()
    if profile and backend == "torch":
        torch_profile(cfg)


# ---- driver ----------------------------------------------------------------------


def torch_levers(smoke=False):
    """Child arguments, one setting per child: what ``--torch-levers`` measures."""
    first, f32 = ["--data-format", "channels_first"], ["--precision", "float32"]
    levers = [
        ["--data-format", "channels_last", "--precision", "mixed_bfloat16"],
        ["--data-format", "channels_last", *f32],
        [*first, "--precision", "mixed_bfloat16"],
        [*first, *f32],
    ]
    if not smoke:  # torch.compile of a step takes minutes on a CPU
        levers.append([*first, *f32, "--torch-jit"])
    return levers


def importable(backend):
    module = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}[backend]
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def run_backend(backend, args, extra=()):
    env = {**os.environ, "KERAS_BACKEND": backend}
    if args.cpu_smoke:
        env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, __file__, "--child", backend, *sys.argv[1:], *extra]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    print(out.stdout, end="", flush=True)
    row = last_result(out.stdout)
    if row is None or out.returncode:
        error = out.stderr.strip().splitlines()[-3:] or [f"exit {out.returncode}"]
        row = {"backend": backend, **(row or {"runs": []}), "error": error}
    return row


def last_result(text):
    """The last ``RESULT`` row a child printed (it prints one after each step)."""
    rows = [
        json.loads(line[len("RESULT ") :])
        for line in text.splitlines()
        if line.startswith("RESULT ")
    ]
    return rows[-1] if rows else None


def markdown(rows, cfg, smoke):
    def fmt(v):
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"

    lines = [
        "| backend | device | jit_compile | plain Keras step (ms) | "
        'DomainAdaptiveClassifier("dann") step (ms) | ratio | goal ≤ 1.2× | '
        "DomainBatches batch on the host (ms) | DANN / PyTorch by hand |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    torch_by_hand = {}  # precision -> (device, ms), the first measured
    for row in rows:
        if "error" in row:
            lines.append(
                f"| {row['backend']} | failed: {' '.join(row['error'])[-200:]} "
                "| | | | | | | |"
            )
        layout = "".join(
            f", {row[key]}" for key in ("data_format", "precision") if key in row
        )
        for run in row.get("runs", []):
            if "dann" not in run:
                continue
            ratio = run["dann"] / run["plain"]
            goal = (
                ""
                if row["backend"] == "tensorflow"
                else ("yes" if ratio <= 1.2 else "no")
            )
            by_hand = row.get("torch_by_hand")  # same process, same precision
            vs_hand = f"{run['dann'] / by_hand:.2f}×" if by_hand else ""
            lines.append(
                f"| {row['backend']} | {row['device']}{layout} "
                f"| {run['jit_compile']} | "
                f"{fmt(run['plain'])} | {fmt(run['dann'])} | {ratio:.2f}× | {goal} "
                f"| {fmt(row['batch_assembly_ms'])} | {vs_hand} |"
            )
        if "torch_by_hand" in row:
            precision = row.get("precision", "mixed_bfloat16")
            torch_by_hand.setdefault(precision, (row["device"], row["torch_by_hand"]))
    for precision, (device, ms) in torch_by_hand.items():
        lines.append(
            f"| PyTorch by hand (no Keras) | {device}, {precision} | eager | | "
            f"{fmt(ms)} | | | device-resident | 1 |"
        )
    size = (
        f"{cfg['batch']} source + {cfg['batch']} target rows of 32×32×3 per step, "
        f"widths {cfg['widths']}, bf16 mixed precision unless the row says "
        "float32 (TF32 on torch+CUDA), median of "
        f"{cfg['epochs'] - 1} epochs × {cfg['steps']} steps after a warm-up epoch"
    )
    when = datetime.date.today().isoformat()
    head = "CPU smoke run, not a speed measurement" if smoke else "measured"
    return "\n".join([f"{head} on {when}: {size}.", "", *lines])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "tensorflow"])
    parser.add_argument("--epochs", type=int, help="epochs (the first is warm-up)")
    parser.add_argument("--steps", type=int, help="steps per epoch")
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="tiny sizes on the CPU, to check that the script runs; prints only",
    )
    parser.add_argument(
        "--torch-jit",
        action="store_true",
        help="on torch also time jit_compile=True (torch.compile)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="on torch also print a torch.profiler breakdown of one epoch",
    )
    parser.add_argument(
        "--results",
        nargs="+",
        help="logs of children run elsewhere (`--child BACKEND` output): write "
        "their table without running anything",
    )
    parser.add_argument(
        "--data-format",
        choices=["channels_last", "channels_first"],
        default="channels_last",
        help="Keras image layout of the nets (torch's own convolutions are "
        "channels_first: channels_last costs a transpose around each one)",
    )
    parser.add_argument(
        "--precision",
        choices=["mixed_bfloat16", "float32"],
        default="mixed_bfloat16",
        help="Keras dtype policy; float32 also turns on TF32 on torch",
    )
    parser.add_argument(
        "--torch-levers",
        action="store_true",
        help="torch only: one child per lever (precision, layout, compiled "
        "step), one table",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = dict(SMOKE if args.cpu_smoke else FULL)
    for key in ("epochs", "steps"):
        if getattr(args, key):
            cfg[key] = getattr(args, key)
    if cfg["epochs"] < 2:
        parser.error("--epochs must be >= 2 (the first one is warm-up)")

    if args.child:
        jit_modes = ["auto"]
        if args.child == "torch" and args.torch_jit:
            jit_modes.append(True)
        return child(
            args.child,
            cfg,
            jit_modes,
            profile=args.profile,
            data_format=args.data_format,
            precision=args.precision,
        )

    rows = []
    for path in args.results or []:
        with open(path) as f:
            row = last_result(f.read())
        if row is not None:
            rows.append(row)
    runs = [(b, ()) for b in ([] if args.results else args.backends)]
    if args.torch_levers and not args.results:
        runs = [("torch", lever) for lever in torch_levers(args.cpu_smoke)]
    for backend, extra in runs:
        if not importable(backend):
            print(f"{backend}: not importable, skipped", flush=True)
            continue
        start = time.perf_counter()
        rows.append(run_backend(backend, args, extra))
        print(f"{backend} {' '.join(extra)}: {time.perf_counter() - start:.0f} s")
    text = markdown(rows, cfg, args.cpu_smoke)
    print(text)
    if not (args.cpu_smoke or args.no_write):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _report import write_section

        intro = (
            "## GPU speed: a DANN step against a plain Keras step and hand-written "
            "PyTorch\n\n`python benchmarks/gpu_speed.py` (ResNet-style net, "
            "bf16; see the script's docstring). Goal: the DANN step ≤ 1.2× the "
            "plain Keras step on JAX and torch.\n\n"
        )
        if args.torch_levers:
            intro = (
                "## GPU speed: torch-backend levers\n\n`python benchmarks/"
                "gpu_speed.py --torch-levers`: the torch backend's step under "
                "each setting (precision, image layout, compiled step), each in "
                "its own process, beside hand-written PyTorch in the same "
                "precision. Issue 16's floor: the DANN step within 2× of the "
                "hand-written loop (aim 1.5×).\n\n"
            )
        section = "gpu_speed_torch_levers" if args.torch_levers else "gpu_speed"
        print("wrote", write_section(section, intro + text))


if __name__ == "__main__":
    main()
