"""Reading a pretrained model from a file or a folder, with errors that name it.

Keras's own loader says ``File not found`` for an empty or truncated
``.keras`` file that exists, raises ``BadZipFile`` for flipped bytes, and
fails on every legacy Keras 2 ``.h5`` model saved with an optimizer (its
config says ``lr`` and ``decay``, which Keras 3 optimizers refuse). Here a
``.keras`` file is checked as a zip archive first (every member's CRC), and
a legacy ``.h5`` model is loaded without compiling; its optimizer settings
are read from the file's ``training_config``, translated to Keras 3 names.
A folder holding a ``config.json`` is a keras_hub preset (what
``backbone.save_to_preset(folder)`` writes), loaded with keras_hub.
"""

from __future__ import annotations

import json
import os
import zipfile

import h5py
import keras

from keras_transfer import backend

_KERAS2_NAMES = {"lr": "learning_rate"}


def _fail(path, problem: str, fix: str = "") -> ValueError:
    return ValueError(
        f"Cannot read the model file {path!r}: {problem}." + (f" {fix}" if fix else "")
    )


_RESAVE = (
    "Copy or save it again (model.save(path) writes a complete file); a file "
    "cut short by an interrupted download or copy looks like this."
)


def check_keras_archive(path: str) -> None:
    """Raise a clear ``ValueError`` unless ``path`` is a complete zip archive.

    Example:
    >>> import os, tempfile
    >>> from keras_transfer.backbones.files import check_keras_archive
    >>> path = os.path.join(tempfile.mkdtemp(), "empty.keras")
    >>> open(path, "wb").close()
    >>> try:
    ...     check_keras_archive(path)
    ... except ValueError as err:
    ...     print(str(err).split(": ", 1)[1].split(".")[0])
    the file is empty (0 bytes)
    """
    size = os.path.getsize(path)
    if size == 0:
        raise _fail(path, "the file is empty (0 bytes)", _RESAVE)
    if not zipfile.is_zipfile(path):
        raise _fail(
            path,
            f"a .keras model is a zip archive, and this file ({size} bytes) is "
            "not one, or is truncated",
            _RESAVE,
        )
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise _fail(path, f"the archive is damaged ({err})", _RESAVE) from None
    if bad is not None:
        raise _fail(
            path,
            f"the archive is corrupted (member {bad!r} fails its checksum)",
            _RESAVE,
        )


def check_hdf5(path: str) -> None:
    """Raise a clear ``ValueError`` unless ``path`` is an HDF5 file."""
    if os.path.getsize(path) == 0:
        raise _fail(path, "the file is empty (0 bytes)", _RESAVE)
    if not h5py.is_hdf5(path):
        raise _fail(path, "it is not an HDF5 file, or is truncated", _RESAVE)


def legacy_optimizer_settings(path: str) -> dict | None:
    """The optimizer of a Keras 2 ``.h5`` model's ``training_config``, in
    Keras 3 terms (``{"class", "config", "learning_rate"}``), or None.

    ``lr`` becomes ``learning_rate``; arguments Keras 3 dropped (``decay``)
    are left out.
    """
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("training_config")
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        spec = json.loads(raw)["optimizer_config"]
        cls = type(keras.optimizers.get(spec["class_name"]))
    except (KeyError, TypeError, ValueError):
        return None  # an optimizer Keras 3 does not know: use our defaults
    accepted = set(cls().get_config())
    config = {}
    for key, value in spec.get("config", {}).items():
        key = _KERAS2_NAMES.get(key, key)
        if key in accepted and key != "name":
            config[key] = value
    lr = config.get("learning_rate")
    return {
        "class": cls,
        "config": config,
        "learning_rate": float(lr) if isinstance(lr, (int, float)) else None,
    }


def load_model_file(path: str):
    """``(model, optimizer settings or None)`` from a ``.keras`` or legacy ``.h5`` file.

    Example:
    >>> import os, tempfile, keras
    >>> from keras_transfer import backend
    >>> from keras_transfer.backbones.files import load_model_file
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> with backend.keras_without_tensorflow():  # Keras's saving would import it
    ...     keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    >>> model, settings = load_model_file(path)
    >>> model.output_shape, settings
    ((None, 2), None)
    """
    lower = path.lower()
    if lower.endswith(".keras"):
        check_keras_archive(path)
        try:
            with backend.keras_without_tensorflow():
                model = keras.saving.load_model(path)
        except Exception as err:
            raise _fail(
                path, f"Keras could not load it: {type(err).__name__}: {err}"
            ) from err
        return model, None
    check_hdf5(path)
    try:
        # compile=False: a Keras 2 optimizer config (lr=, decay=) does not load
        # in Keras 3; its settings are read from training_config instead.
        with backend.keras_without_tensorflow():
            model = keras.saving.load_model(path, compile=False)
    except Exception as err:
        raise _fail(
            path,
            f"Keras could not load it as a legacy HDF5 model: "
            f"{type(err).__name__}: {err}",
            "If it holds weights only, name it *.weights.h5 and pass the "
            "architecture with backbone=.",
        ) from err
    return model, legacy_optimizer_settings(path)


#: File names of whole saved networks (``.weights.h5`` files hold weights only).
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_network_path(path) -> bool:
    """Whether ``path`` names a saved network: a model file or a keras_hub preset."""
    return str(path).lower().endswith(MODEL_SUFFIXES) or is_preset_dir(path)


def is_preset_dir(path) -> bool:
    """Whether ``path`` is a folder with a ``config.json`` (a keras_hub preset)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))


def load_preset(path: str) -> keras.Model:
    """The keras_hub backbone saved in a local preset folder.

    keras_hub is imported here only (it is an optional dependency:
    ``pip install keras-hub``). Note that keras_hub imports TensorFlow
    wherever it is installed, whichever the Keras backend.
    """
    try:
        import keras_hub
    except ImportError:
        raise ImportError(
            f"{path!r} is a keras_hub preset folder (it has a config.json); "
            "loading it needs keras-hub: pip install keras-hub (or the "
            "keras-transfer[hub] extra)."
        ) from None
    try:
        return keras_hub.models.Backbone.from_preset(path)
    except Exception as err:
        raise ValueError(
            f"Cannot load the keras_hub preset folder {path!r} as a backbone: "
            f"{type(err).__name__}: {err}"
        ) from err


def load_network(path) -> tuple[keras.Model, dict | None]:
    """``(model, optimizer settings or None)`` from a ``.keras`` file, a legacy
    ``.h5`` model or a keras_hub preset folder.

    Example:
    >>> import os, tempfile, keras
    >>> from keras_transfer import backend
    >>> from keras_transfer.backbones.files import load_network
    >>> path = os.path.join(tempfile.mkdtemp(), "net.keras")
    >>> with backend.keras_without_tensorflow():
    ...     keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    >>> load_network(path)[0].output_shape
    (None, 2)
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"Model file or folder {path!r} does not exist.")
    if os.path.isdir(path):
        if not is_preset_dir(path):
            raise ValueError(
                f"{path!r} is a folder without a config.json: a model folder "
                "must be a keras_hub preset (backbone.save_to_preset(folder))."
            )
        return load_preset(path), None
    lower = path.lower()
    if lower.endswith(".weights.h5"):
        raise ValueError(
            f"{path!r} holds weights only, not an architecture: pass "
            "keras_transfer.backbones.Pretrained(builder, weights=path), or "
            "backbone=<the architecture> with source_model=path."
        )
    if lower.endswith(MODEL_SUFFIXES):
        return load_model_file(path)
    raise ValueError(
        f"Unsupported model file {path!r}: use a .keras model, a legacy .h5 "
        "model, a keras_hub preset folder, or a .weights.h5 file with its "
        "architecture."
    )
