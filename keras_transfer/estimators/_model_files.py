"""Moved to :mod:`keras_transfer.backbones.files` (backbones load files too)."""

from keras_transfer.backbones.files import (  # noqa: F401
    check_hdf5,
    check_keras_archive,
    legacy_optimizer_settings,
    load_model_file,
)
