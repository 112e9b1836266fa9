"""The one module that asks which Keras backend is running.

Everything else in keras_transfer is written with ``keras.ops`` only; the few
things that genuinely differ per backend (thread pools) live here.
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
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism" not in flags:
            os.environ["XLA_FLAGS"] = (
                flags + " --xla_cpu_multi_thread_eigen=false"
                " intra_op_parallelism_threads=1"
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
