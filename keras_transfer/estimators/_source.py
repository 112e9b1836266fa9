"""The source side of TransferClassifier: load, build, cut and check source models."""

from __future__ import annotations

import math
import os

import h5py
import keras
import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from keras_transfer._optimizers import build_before_fit
from keras_transfer.backbones import (
    Pretrained,
    build_backbone,
    copy_model,
    load_network,
    pool_features,
)
from keras_transfer.backbones.files import MODEL_SUFFIXES, check_hdf5
from keras_transfer.data import EpochSync, RowSubset, is_stream
from keras_transfer.estimators._divergence import FailOnNonFinite
from keras_transfer.estimators._transfer_training import (
    pretrain_batches,
    transfer_optimizer,
)
from keras_transfer.estimators._validation import as_image_batch, check_labels, check_X


def _is_path(obj) -> bool:
    return isinstance(obj, (str, os.PathLike))


def is_model_source(obj) -> bool:
    """A pretrained source: a keras.Model, a path or a :class:`Pretrained`."""
    return isinstance(obj, (keras.Model, Pretrained)) or _is_path(obj)


#: Layers that end a network without a classifier head (``include_top=False``
#: with ``pooling=``): the whole network is then the feature extractor.
_POOLING = (
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
    keras.layers.Flatten,
)


def is_headless(model) -> bool:
    """Whether a source network has no classifier head: its output is a
    feature map (``(n, H, W, C)``: a keras_hub image backbone, a
    ``keras.applications`` network with ``include_top=False``) or comes from
    a global pooling / Flatten layer (``pooling="avg"``)."""
    out = model.outputs[0]
    return len(out.shape) > 2 or isinstance(model.layers[-1], _POOLING)


def _optimizer_settings(model):
    """(class, config, learning rate) of a compiled model's optimizer, or None."""
    opt = getattr(model, "optimizer", None)
    inner = getattr(opt, "inner_optimizer", None)  # a LossScaleOptimizer
    opt = inner if isinstance(inner, keras.optimizers.Optimizer) else opt
    if not isinstance(opt, keras.optimizers.Optimizer):
        return None
    try:
        lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
    except Exception:  # an unusual schedule: keep the class, not the rate
        lr = None
    return {"class": type(opt), "config": opt.get_config(), "learning_rate": lr}


def _is_softmax(layer) -> bool:
    if isinstance(layer, keras.layers.Softmax):
        return True
    # By identity and name, not keras.activations.serialize: that imports
    # TensorFlow (seconds, ~500 MB) inside a JAX or torch process.
    act = getattr(layer, "activation", None)
    return act is keras.activations.softmax or (
        callable(act) and getattr(act, "__name__", None) == "softmax"
    )


def _head_units_from_weights(path) -> int:
    """Units of the last Dense layer stored in a ``.weights.h5`` file."""
    best = None
    with h5py.File(path, "r") as f:
        layers = f.get("layers")
        names = [] if layers is None else list(layers.keys())
        for name in names:
            stem, _, num = name.rpartition("_")
            if name == "dense":
                key = 0
            elif stem == "dense" and num.isdigit():
                key = int(num)
            else:
                continue
            vars_ = layers[name].get("vars")
            if vars_ is not None and "0" in vars_ and (best is None or key > best[0]):
                best = (key, int(vars_["0"].shape[-1]))
    if best is None:
        raise ValueError(
            f"Cannot find the classifier head in {path}: a .weights.h5 source must "
            "come from a model made of the named backbone plus one Dense head (e.g. "
            "TransferClassifier(...).source_model_.save_weights(...))."
        )
    return best[1]


class SourceModels:
    """TransferClassifier's source-model helpers (reads ``backbone``,
    ``backbone_params``, ``feature_layer`` and ``source_holdout``)."""

    def _pretrain(self, Xs, ys_enc, n_classes, seed):
        """Train the source network on ``(Xs, ys_enc)``; returns ``(model,
        its optimizer settings, history)`` (reads ``optimizer``,
        ``learning_rate``, ``pretrain_epochs``, ``batch_size``, ``verbose``)."""
        model = self._build_source_network(Xs.shape[1:], n_classes)
        optimizer = transfer_optimizer(
            self.optimizer, self.learning_rate, pretraining=True
        )
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        build_before_fit(model)
        history = {}
        if self.pretrain_epochs != 0:
            batches, epochs = pretrain_batches(
                Xs,
                ys_enc,
                epochs=self.pretrain_epochs,
                batch_size=self.batch_size,
                seed=seed,
            )
            if self.verbose:
                print(
                    f"Source pre-training: {epochs} epochs on "
                    f"{Xs.shape[0]} source rows, {n_classes} classes",
                    flush=True,
                )
            history = model.fit(
                batches,
                epochs=epochs,
                verbose=self.verbose,
                callbacks=[FailOnNonFinite("source pre-training"), EpochSync(batches)],
                shuffle=False,  # DomainBatches shuffles, epoch by epoch
            ).history
        return model, _optimizer_settings(model), dict(history)

    @staticmethod
    def _to_model_input(X, input_shape):
        X = as_image_batch(X)
        shape = tuple(input_shape)
        if not sp.issparse(X) and X.shape[1:] != shape:
            if math.prod(X.shape[1:]) == math.prod(d or 0 for d in shape):
                X = X.reshape((X.shape[0], *shape))
        return X

    @staticmethod
    def _check_input_shape(X_shape, model_shape, what):
        model_shape = tuple(model_shape)
        ok = len(X_shape) == len(model_shape) and all(
            m is None or m == d for d, m in zip(X_shape, model_shape)
        )
        if not ok:
            hint = ""
            if len(X_shape) == 3 and len(model_shape) == 3:
                hint = (
                    " Resize the images to the source's framing, e.g. "
                    "keras_transfer.datasets.resize_images(X, 20, pad=4) frames "
                    "16x16 USPS digits like 28x28 MNIST digits."
                )
            raise ValueError(
                f"{what} rows have shape {tuple(X_shape)} but the source model takes "
                f"inputs of shape {model_shape}.{hint}"
            )

    # ---- the source ------------------------------------------------------------

    def _backbone_for(self, input_shape):
        if isinstance(self.backbone, str) and self.backbone == "auto":
            return "cnn" if len(input_shape) == 3 else "mlp"
        return self.backbone

    def _build_source_network(self, input_shape, n_classes):
        """The named backbone with a Dense head, one flat functional model."""
        net = build_backbone(
            self._backbone_for(input_shape),
            input_shape,
            None,
            **(self.backbone_params or {}),
        )
        head = keras.layers.Dense(int(n_classes), name="source_head")
        try:
            inputs, features = net.inputs, net.outputs
        except (AttributeError, ValueError):
            inputs = features = None
        if inputs and features and len(features) == 1:
            return keras.Model(inputs, head(features[0]), name="source_model")
        inputs = keras.Input(tuple(input_shape))
        return keras.Model(inputs, head(net(inputs)), name="source_model")

    def _load_source(self, source, input_shape):
        """A private copy of the pretrained model and its optimizer settings."""
        if isinstance(source, keras.Model):
            settings = _optimizer_settings(source)
            return copy_model(source), settings
        if isinstance(source, Pretrained):
            return source(input_shape), None
        path = os.fspath(source)
        if not os.path.exists(path):
            raise ValueError(f"Source model file {path!r} does not exist.")
        lower = path.lower()
        if lower.endswith(".weights.h5"):
            check_hdf5(path)
            model = self._build_source_network(
                input_shape, _head_units_from_weights(path)
            )
            model.load_weights(path)
            return model, None
        if os.path.isdir(path) or lower.endswith(MODEL_SUFFIXES):
            model, legacy = load_network(path)
            return model, legacy or _optimizer_settings(model)
        raise ValueError(
            f"Unsupported source file {path!r}: use a .keras model, a legacy .h5 "
            "model, a keras_hub preset folder, or a .weights.h5 file (with "
            "backbone= naming its architecture, or "
            "keras_transfer.backbones.Pretrained(builder, weights=path))."
        )

    # ---- networks per strategy ---------------------------------------------------

    def _split_points(self, model):
        """(inputs, features tensor, source output tensor) of the source model.

        A headless network (:func:`is_headless`) is all features: its source
        output is None.
        """
        try:
            inputs, output = model.inputs, model.outputs
        except (AttributeError, ValueError):
            inputs = output = None
        if not inputs or not output or len(output) != 1:
            raise ValueError(
                "The source model must be a functional or Sequential Keras model with "
                "one input and one output (subclassed models cannot be cut into a "
                "feature extractor and a head)."
            )
        headless = is_headless(model)
        if self.feature_layer is None and headless:
            return inputs, pool_features(output[0]), None
        if self.feature_layer is not None:
            try:
                features = model.get_layer(self.feature_layer).output
            except ValueError:
                names = [layer.name for layer in model.layers]
                raise ValueError(
                    f"No layer named {self.feature_layer!r} in the source model; its "
                    f"layers are {names}."
                ) from None
        else:
            features = model.layers[-1].input
            if isinstance(features, (list, tuple)):
                raise ValueError(
                    "The source model's last layer has several inputs; name the "
                    "layer where features end with feature_layer=."
                )
        return inputs, pool_features(features), None if headless else output[0]

    @staticmethod
    def _source_outputs(src) -> int | None:
        """Classes of the pretrained source task, None for a headless one."""
        return None if is_headless(src) else int(src.outputs[0].shape[-1])

    def _check_source_head(self, source_out, cls) -> None:
        if source_out is None and (cls.needs_source_head or cls.needs_source_copy):
            raise ValueError(
                f"strategy={self.strategy!r} keeps the source task, but the source "
                "network has no classifier head (a backbone without its top); "
                "use fine_tune, feature_extraction, partial, gradual, adapter, "
                "lora or fusion."
            )

    def _holdout(self, Xs, ys, seed):
        n = Xs.shape[0]
        n_hold = int(round(self.source_holdout * n))
        if n_hold < 1 or n - n_hold < 2:
            return Xs, ys, None, None
        idx = np.arange(n)
        try:
            tr, ev = train_test_split(
                idx, test_size=n_hold, random_state=seed or 0, stratify=ys
            )
        except ValueError:  # a class too small to stratify
            tr, ev = train_test_split(idx, test_size=n_hold, random_state=seed or 0)
        tr, ev = np.sort(tr), np.sort(ev)
        if isinstance(Xs, np.memmap):  # split without copying the file
            return RowSubset(Xs, tr), ys[tr], RowSubset(Xs, ev), ys[ev]
        return Xs[tr], ys[tr], Xs[ev], ys[ev]

    def _check_source_data(self, source_data, holder, src, n_out):
        if not (isinstance(source_data, (tuple, list)) and len(source_data) == 2):
            raise TypeError("source_data must be a pair (Xs, ys).")
        if n_out is None:
            raise ValueError(
                "source_data needs a source model with a classifier head; this "
                "one is a backbone without its top."
            )
        Xs, ys = source_data
        Xs, _ = check_X(holder, Xs, reset=False, what="source_data X", keep_memmap=True)
        ys = check_labels(ys, Xs.shape[0], "source_data labels")
        if ys.dtype.kind not in "iu" or ys.min() < 0 or ys.max() >= n_out:
            raise ValueError(
                "source_data labels must be the pretrained model's output indices "
                f"0..{n_out - 1} (integers)."
            )
        Xs = self._to_model_input(Xs, tuple(src.inputs[0].shape[1:]))
        return Xs, ys.astype("int32")


def split_transfer_inputs(estimator, X, y, source, target):
    """TransferClassifier.fit's ``(source, Xt, yt)`` from the explicit form
    (``fit(source, target)``) or the packed one (``fit(X, y)``, the source from
    ``source_model=``). A streamed target comes back as ``Xt`` with ``yt``
    None (its batches carry the labels)."""
    positional = isinstance(X, tuple) or is_model_source(X)
    if source is not None or target is not None or positional:
        if positional:
            if source is not None or target is not None:
                raise TypeError(
                    "Pass source and target once: fit(source, target) or "
                    "fit(source=..., target=...)."
                )
            source, target = X, y
        elif X is not None or y is not None:
            raise TypeError(
                "Use either fit(X, y) (the target task; source from "
                "source_model=) or fit(source=..., target=...), not both."
            )
        if source is None:
            source = estimator.source_model
        elif estimator.source_model is not None:
            raise TypeError(
                "The source is given twice: in the constructor (source_model=) "
                "and in fit(source=...); give it once."
            )
        if is_stream(target):  # (X_batch, y_batch) batches; labels in the stream
            return source, target, None
        if not (isinstance(target, (tuple, list)) and len(target) == 2):
            raise TypeError(
                "target must be a pair (Xt, yt): the target task's features and "
                "labels, or a stream of (X_batch, y_batch) batches."
            )
        Xt, yt = target
    elif is_stream(X) and y is None:
        Xt, yt, source = X, None, estimator.source_model
    else:
        if X is None or y is None:
            raise ValueError(
                f"{type(estimator).__name__} requires y to be passed, but the target "
                "y is None: fit(X, y) needs the target task's features and "
                "labels."
            )
        Xt, yt, source = X, y, estimator.source_model
    return source, Xt, yt
