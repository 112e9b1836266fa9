"""``keras-transfer``: domain adaptation from the command line.

Subcommands::

    keras-transfer demo                       # rotated moons, before/after table + PNG
    keras-transfer fit SOURCE TARGET -o model.pkl --strategy dann
    keras-transfer transfer SOURCE TARGET -o model.pkl --strategy fine_tune
    keras-transfer predict model.pkl DATA -o predictions.csv
    keras-transfer evaluate model.pkl DATA    # accuracy on a labelled file
    keras-transfer benchmark [NAME]           # run benchmarks/NAME.py (or list them)
    keras-transfer strategies                 # names accepted by --strategy

Data files: CSV (last column is the label, or ``--label-column``), NPZ (arrays
``X`` and optional ``y``), svmlight/libsvm, a folder of images (one subfolder
per class; a flat folder is unlabelled) or a TensorFlow Datasets name such as
``tfds:mnist:train``. The Keras backend is chosen with ``--backend`` (or
``KERAS_BACKEND``) before Keras is imported. Errors print one line on stderr
and exit with status 2 (``KERAS_TRANSFER_DEBUG=1`` shows the traceback).

Example:
>>> from keras_transfer.cli import main
>>> main(["--version"])  # doctest: +ELLIPSIS
keras-transfer ...
0
"""

from __future__ import annotations

import os
import sys

from keras_transfer.cli._backend import _choose_backend
from keras_transfer.cli._common import PROG, CLIError
from keras_transfer.cli._data import read_csv, read_data, source_labels
from keras_transfer.cli._parser import (
    TRAINING_OPTIONS,
    build_parser,
    estimator_defaults,
)

__all__ = [
    "TRAINING_OPTIONS",
    "CLIError",
    "PROG",
    "build_parser",
    "estimator_defaults",
    "main",
    "read_csv",
    "read_data",
    "source_labels",
]


def main(argv: list[str] | None = None) -> int:
    """Run ``keras-transfer`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 on a usage or data error (one
    line on stderr; set ``KERAS_TRANSFER_DEBUG=1`` for the traceback).

    Example:
    >>> from keras_transfer.cli import main
    >>> main(["fit", "missing.csv", "target.csv"])
    2
    """
    debug = os.environ.get("KERAS_TRANSFER_DEBUG", "") not in ("", "0")
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:  # --help and --version
            return int(exit_.code or 0)
        _choose_backend(getattr(args, "backend", None))
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... -o - | head`): not an error of ours. Point
        # stdout at devnull so the flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CLIError, ValueError, TypeError, OSError, ImportError, KeyError) as err:
        if debug:
            raise
        message = " ".join(str(err).split())
        if isinstance(err, KeyError) or not message:
            message = f"{type(err).__name__}: {message or repr(err)}"
        elif isinstance(err, (TypeError, ImportError)):
            message = f"{type(err).__name__}: {message}"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
