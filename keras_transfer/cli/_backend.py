"""Which Keras backend the CLI runs, chosen before Keras is imported."""

from __future__ import annotations

import importlib.util
import os
import sys

from keras_transfer.cli._common import BACKENDS, PROG, CLIError

# ---------------------------------------------------------------------------
# backend


#: why the backend was chosen (said on stderr by the commands that train)
_BACKEND_REASON = {"why": None}


def _choose_backend(requested: str | None) -> str | None:
    """Set KERAS_BACKEND before Keras is imported; return the backend name."""
    name, why = _pick_backend(requested)
    _BACKEND_REASON["why"] = why
    return name


def _pick_backend(requested: str | None) -> tuple[str | None, str]:
    if requested and requested not in BACKENDS:
        raise CLIError(f"unknown backend {requested!r}; use one of {list(BACKENDS)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's C++ logs
    if "keras" in sys.modules:
        import keras

        running = keras.backend.backend()
        if requested and requested != running:
            raise CLIError(
                f"--backend {requested}: Keras is already running on {running} in "
                "this process; start a new process (or set KERAS_BACKEND first)"
            )
        return running, "already running in this process"
    if requested:
        os.environ["KERAS_BACKEND"] = requested
        return requested, "--backend"
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "$KERAS_BACKEND"
    configured = _keras_json_backend()
    if configured and _installed(configured):
        # Keras reads its own configuration
        return configured, "from Keras's keras.json; --backend to change"
    # No usable choice anywhere: take the first installed backend, fastest first.
    for name in BACKENDS:
        if _installed(name):
            os.environ["KERAS_BACKEND"] = name
            return name, "the first installed; --backend to change"
    return None, None


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _keras_json_backend() -> str | None:
    """The backend named in Keras's own keras.json, if any."""
    import json

    home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    path = os.path.join(os.path.expanduser(home), "keras.json")
    try:
        with open(path) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return backend if isinstance(backend, str) else None


def _say_backend() -> None:
    """One line on stderr: which Keras backend runs, and why (said where the
    work starts, so that an error before it stays one line)."""
    why = _BACKEND_REASON["why"]
    print(
        f"{PROG}: Keras backend {_running_backend()}" + (f" ({why})" if why else ""),
        file=sys.stderr,
        flush=True,
    )


def _running_backend() -> str:
    from keras_transfer import backend

    return backend.name()
