"""The one module that asks which Keras backend is running.

Everything else in keras_transfer is written with ``keras.ops`` only; the few
things that genuinely differ per backend (thread pools, how many steps one
compiled call may run) live here.
"""

from __future__ import annotations

import os

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "XLA_FLAGS",
)


def name() -> str:
    """Return the name of the running Keras backend.

    Example:
    >>> from keras_transfer import backend
    >>> backend.name() in {"jax", "tensorflow", "torch"}
    True
    """
    import keras

    return keras.backend.backend()


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` that imports TensorFlow only when needed.

    Keras's version seeds TensorFlow whenever it is installed, so in a JAX or
    torch process it imports it: about 10 s and 450 MB of memory for nothing
    (measured: a torch fit's RSS grew from 631 to 1105 MB). Here TensorFlow is
    seeded when it is the backend or already imported (``tf.data`` in use);
    Python, NumPy, torch and Keras's own seed generator are seeded as Keras
    does.

    Example:
    >>> import sys
    >>> from keras_transfer import backend
    >>> before = "tensorflow" in sys.modules  # e.g. another example imported it
    >>> backend.set_random_seed(0)
    >>> backend.name() == "tensorflow" or before or "tensorflow" not in sys.modules
    True
    """
    import sys

    import keras

    if name() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    from keras_transfer._keras_private import seed_without_tensorflow

    if not seed_without_tensorflow(seed):  # another Keras: its own behaviour
        keras.utils.set_random_seed(seed)


def keras_without_tensorflow():
    """A context in which Keras does not import TensorFlow just to look at it.

    Keras asks a lazy ``tensorflow`` module whether TensorFlow is importable,
    importing it, wherever it might meet a TensorFlow object: every
    ``get_config`` (so cloning, copying and saving a model). In a JAX or torch
    process where TensorFlow is neither the backend nor imported, there is
    none to meet, so here the lazy module answers "not available"
    (``_keras_private.lazy_tensorflow``; another Keras version just behaves
    as its own). Elsewhere the context does nothing.

    Example:
    >>> import sys, keras
    >>> from keras_transfer import backend
    >>> before = "tensorflow" in sys.modules  # e.g. another example imported it
    >>> with backend.keras_without_tensorflow():
    ...     _ = keras.layers.Dense(2).get_config()
    >>> backend.name() == "tensorflow" or before or "tensorflow" not in sys.modules
    True
    """
    import contextlib
    import sys

    from keras_transfer._keras_private import lazy_tensorflow

    lazy_tf = lazy_tensorflow()
    if name() == "tensorflow" or "tensorflow" in sys.modules or lazy_tf is None:
        return contextlib.nullcontext()
    return _unavailable(lazy_tf)


def _unavailable(lazy_tf):
    import contextlib

    @contextlib.contextmanager
    def scope():
        saved = lazy_tf._available
        lazy_tf._available = False
        try:
            yield
        finally:
            lazy_tf._available = saved

    return scope()


def limit_threads(n: int = 1) -> None:
    """Cap the CPU thread pools of the running backend at ``n`` threads.

    Call it before ``import keras`` for the environment variables to take
    effect everywhere; the torch pool is capped whenever it is called. Useful
    when several processes share few cores (``pytest -n 2``, ``n_jobs=2``):
    torch otherwise oversubscribes the cores and runs many times slower.

    Example:
    >>> from keras_transfer import backend
    >>> backend.limit_threads(1)
    """
    n = int(n)
    for var in _THREAD_VARS[:-1]:
        os.environ.setdefault(var, str(n))
    if n == 1:
        # Only "--" flags: XLA stops reading XLA_FLAGS at a bare word.
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (
                flags + " --xla_cpu_multi_thread_eigen=false"
            ).strip()
    backend_name = os.environ.get("KERAS_BACKEND", "")
    if backend_name == "torch":
        # torch reads its pool size at import, not from the variables above.
        import torch

        torch.set_num_threads(n)
        if torch.get_num_interop_threads() != n:
            try:
                torch.set_num_interop_threads(n)
            except RuntimeError:  # already started; the intra-op cap is what matters
                pass


def worker_env(n_threads: int = 1) -> dict[str, str]:
    """Environment variables that make a worker process run like this one.

    The running Keras backend (``KERAS_BACKEND``) and ``n_threads`` threads
    per process, as :func:`limit_threads` sets them. Pass them to processes
    that do not inherit this one's environment, e.g. the workers of a Ray
    cluster: ``ray.init(runtime_env={"env_vars": backend.worker_env()})``.

    Example:
    >>> from keras_transfer import backend
    >>> env = backend.worker_env(1)
    >>> env["KERAS_BACKEND"] == backend.name(), env["OMP_NUM_THREADS"]
    (True, '1')
    """
    n = int(n_threads)
    env = {var: str(n) for var in _THREAD_VARS[:-1]}
    env["KERAS_BACKEND"] = name()
    if n == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    return env


# ---- data-parallel training -------------------------------------------------------
# Keras spreads a fit over devices in a backend-specific way: JAX through
# keras.distribution (one global program that XLA partitions), TensorFlow
# through tf.distribute (one program per replica, gradients summed), and the
# torch backend not at all.

DATA_PARALLEL = "data_parallel"


def distribution_scope(distribution=None):
    """A context manager under which a Keras fit runs data-parallel.

    Args:
        distribution: ``None`` (whatever is active: a single device, or the
            caller's own ``keras.distribution`` / ``tf.distribute`` scope);
            ``"data_parallel"``: every local device (GPUs, else CPUs) through
            ``keras.distribution.DataParallel`` on JAX and
            ``tf.distribute.MirroredStrategy`` on TensorFlow; or an instance
            of either (``keras.distribution.Distribution`` on JAX,
            ``tf.distribute.Strategy`` on TensorFlow).

    Raises:
        ValueError: on the torch backend, which has no data-parallel ``fit``
            in Keras, or for an unknown name.
        TypeError: for an object the running backend cannot use.

    Example:
    >>> from keras_transfer import backend
    >>> with backend.distribution_scope(None):
    ...     backend.num_replicas()
    1
    """
    import contextlib

    if distribution is None:
        return contextlib.nullcontext()
    backend_name = name()
    if backend_name not in ("jax", "tensorflow"):
        raise ValueError(
            f"distribution={distribution!r}: Keras's {backend_name} backend has no "
            "data-parallel fit. Use KERAS_BACKEND=jax (keras.distribution."
            "DataParallel) or tensorflow (tf.distribute.MirroredStrategy), or "
            "distribution=None."
        )
    if isinstance(distribution, str):
        if distribution != DATA_PARALLEL:
            raise ValueError(
                f"distribution must be None, {DATA_PARALLEL!r}, a keras.distribution."
                f"Distribution (JAX) or a tf.distribute.Strategy (TensorFlow); got "
                f"{distribution!r}."
            )
        distribution = _data_parallel(backend_name)
    if backend_name == "jax":
        # keras.distribution exports its subclasses, not the Distribution base.
        usable = hasattr(distribution, "device_mesh") and hasattr(distribution, "scope")
        hint = "a keras.distribution.Distribution (e.g. DataParallel)"
    else:
        import tensorflow as tf

        usable = isinstance(distribution, tf.distribute.Strategy)
        hint = "a tf.distribute.Strategy (e.g. MirroredStrategy)"
    if not usable:
        raise TypeError(
            f"On the {backend_name} backend, distribution must be {hint} or "
            f"{DATA_PARALLEL!r}; got {type(distribution).__name__}."
        )
    return distribution.scope()


_MIRRORED = {}


def _data_parallel(backend_name: str):
    if backend_name == "jax":
        import keras

        return keras.distribution.DataParallel()  # every local device
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices(
        "CPU"
    )
    names = tuple(d.name for d in devices)
    # One strategy per process: the collective ops of a second MirroredStrategy
    # over the same devices can collide with those of the first ("Shape
    # mismatch in the collective instance") when a later fit has other shapes.
    if names not in _MIRRORED:
        _MIRRORED[names] = tf.distribute.MirroredStrategy(list(names))
    return _MIRRORED[names]


def num_replicas() -> int:
    """How many devices share each batch in the running (or next) fit.

    ``1`` outside a data-parallel scope.

    Example:
    >>> from keras_transfer import backend
    >>> backend.num_replicas()
    1
    """
    backend_name = name()
    if backend_name == "tensorflow":
        import tensorflow as tf

        return int(tf.distribute.get_strategy().num_replicas_in_sync)
    if backend_name == "jax":
        import keras

        dist = keras.distribution.distribution()
        if dist is None:
            return 1
        mesh = dist.device_mesh
        return int(dict(zip(mesh.axis_names, mesh.shape))[dist.batch_dim_name])
    return 1


def scale_loss_for_replicas(loss):
    """``loss / replicas`` inside a ``tf.distribute`` replica, else ``loss``.

    tf.distribute sums the gradients of the replicas, each computed on its
    share of the batch; Keras scales its own compiled losses so that the sum
    is the gradient of the mean, and a ``compute_loss`` of one's own must do
    the same. JAX's ``keras.distribution`` computes one global loss instead,
    so nothing changes there.

    Example:
    >>> from keras_transfer import backend
    >>> float(backend.scale_loss_for_replicas(2.0))
    2.0
    """
    replicas = num_replicas() if name() == "tensorflow" else 1
    return loss / replicas if replicas > 1 else loss


#: The most training steps one compiled call runs (``steps_per_execution``).
MAX_STEPS_PER_EXECUTION = 32

_BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
)


def steps_per_execution(steps_per_epoch: int, callbacks=()) -> int:
    """Training steps per compiled call for a fit of ``steps_per_epoch`` steps.

    On TensorFlow a step of a small network costs far more in Python dispatch
    (one ``tf.function`` call, a log dict per step) than in arithmetic; with
    Keras's ``model.steps_per_execution = k`` one call runs ``k`` steps in a graph
    loop, and JAX skips the per-step callback round trip. The steps and their
    order are unchanged, so are the results. It stays 1 on torch (Keras's
    torch trainer runs one step per call), under ``tf.distribute`` (Keras's
    multi-step graph loop fails there on a generator-fed dataset) and when a
    callback listens to batches (``on_train_batch_end`` and the like would
    fire every ``k``-th step only).

    Example:
    >>> import keras
    >>> from keras_transfer import backend
    >>> class PerBatch(keras.callbacks.Callback):
    ...     def on_train_batch_end(self, batch, logs=None):
    ...         pass
    >>> backend.steps_per_execution(100, [PerBatch()])
    1
    >>> k = backend.steps_per_execution(10)
    >>> k == (1 if backend.name() == "torch" else 10)
    True
    """
    backend_name = name()
    if backend_name == "torch":
        return 1
    if backend_name == "tensorflow" and num_replicas() > 1:
        return 1
    import keras

    base = keras.callbacks.Callback
    for callback in callbacks or ():
        for hook in _BATCH_HOOKS:
            if getattr(type(callback), hook, None) is not getattr(base, hook):
                return 1
    return max(1, min(int(steps_per_epoch), MAX_STEPS_PER_EXECUTION))
