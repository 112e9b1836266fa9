"""The CLI's constants, its error type and its argument parser class."""

from __future__ import annotations

import argparse

PROG = "keras-transfer"
BACKENDS = ("jax", "tensorflow", "torch")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
SVMLIGHT_SUFFIXES = {".svm", ".svmlight", ".libsvm"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
DEFAULT_MODEL = "keras_transfer_model.pkl"
DEFAULT_DEMO_PNG = "keras_transfer_demo.png"
# The demo's training settings: those of the project's own DANN-vs-source-only
# test on rotated moons (fixed, never tuned on target labels).
DEMO_FIT = dict(epochs=20, batch_size=128, learning_rate=3e-3)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")
