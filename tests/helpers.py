"""Test-only helpers (the per-backend gradient is a test tool, not library code)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np


def input_gradient(fn, x, upstream):
    """d/dx of sum(fn(x) * upstream), computed with the running backend's autodiff."""
    name = keras.backend.backend()
    x = np.asarray(x, "float32")
    upstream = np.asarray(upstream, "float32")
    if name == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: (fn(v) * upstream).sum())(x))
    if name == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(fn(v) * upstream)
        return tape.gradient(out, v).numpy()
    if name == "torch":
        import torch

        v = torch.tensor(x, requires_grad=True)
        (fn(v) * torch.tensor(upstream)).sum().backward()
        return v.grad.numpy()
    raise NotImplementedError(name)


def run_python(code, backend=None, cwd=None, timeout=600) -> str:
    """Run ``code`` in a fresh Python process on ``backend`` (default: the
    running one); assert it succeeds and return its stdout."""
    env = {**os.environ, "KERAS_BACKEND": backend or keras.backend.backend()}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout
