"""TransferClassifier: learn a source task, carry the network over, fine-tune."""

from __future__ import annotations

import math
import os

import h5py
import keras
import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from keras_transfer.backbones import build_backbone, copy_model, pool_features
from keras_transfer.data.batches import take_rows
from keras_transfer.estimators._divergence import FailOnNonFinite
from keras_transfer.estimators._model_files import check_hdf5, load_model_file
from keras_transfer.estimators._threads import seeded_fit_in_isolation
from keras_transfer.estimators._validation import (
    as_image_batch,
    check_labels,
    check_non_negative,
    check_positive_int,
    check_X,
    encode_labels,
)
from keras_transfer.estimators.base import BaseTransferEstimator
from keras_transfer.freezing import (
    GradualUnfreezing,
    _LRMultiplierMixin,
    freeze,
    weighted_layers,
    with_lr_multipliers,
)
from keras_transfer.layers.lora import LoRA, add_lora
from keras_transfer.layers.residual_adapter import ResidualAdapter
from keras_transfer.models.transfer_model import KEEPS_SOURCE, STRATEGIES, TransferModel

DEFAULT_OPTIMIZER = "adam"
DEFAULT_LEARNING_RATE = 1e-3
#: strategy -> freeze policy used when ``freeze=None``
DEFAULT_FREEZE = {
    "feature_extraction": "all",
    "fine_tune": "none",
    "partial": "half",
    "gradual": "none",
    "joint": "none",
    "lwf": "none",
    "adapter": "all",
    "lora": "all",
    "fusion": "all",
}
STRATEGY_PARAMS = {
    "lwf": {"temperature": 2.0, "warmup_epochs": 1, "source_inputs": True},
    "adapter": {"units": 32, "activation": "relu"},
    "lora": {"rank": 4, "alpha": None},
}


class _TaskBatches(keras.utils.PyDataset):
    """Target rows (and, for ``joint`` and ``lwf``, as many source rows) per batch.

    ``y`` is ``{"label": target class or -1, "source_label": source class
    or -1}``; with ``plain=True`` (pretraining) it is the label array.
    Rows are reshuffled every epoch; a small set is cycled so that an epoch
    has ``steps`` batches when ``steps`` is given.
    """

    def __init__(
        self,
        X,
        y,
        Xs=None,
        ys=None,
        batch_size=64,
        steps=None,
        seed=None,
        shuffle=True,
        plain=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.X, self.y = X, np.asarray(y, "int32")
        self.Xs = Xs
        self.ys = None if ys is None else np.asarray(ys, "int32")
        self.plain, self.shuffle = plain, shuffle
        n = X.shape[0]
        n_s = 0 if Xs is None else Xs.shape[0]
        self.half = min(int(batch_size), max(n, n_s))
        longest = max(n, n_s)
        self.n_batches = int(steps) if steps else max(1, math.ceil(longest / self.half))
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def _order(self, n):
        if not self.shuffle:
            return np.arange(n)
        reps = math.ceil(self.n_batches * self.half / n)
        return np.concatenate([self.rng.permutation(n) for _ in range(reps)])

    def on_epoch_end(self):
        self.order = self._order(self.X.shape[0])
        self.source_order = None if self.Xs is None else self._order(self.Xs.shape[0])

    def __len__(self):
        return self.n_batches

    def __getitem__(self, index):
        lo, hi = index * self.half, (index + 1) * self.half
        idx = np.sort(self.order[lo:hi])
        x, labels = take_rows(self.X, idx), self.y[idx]
        if self.plain:
            return x, labels
        if self.Xs is None:
            return x, {"label": labels, "source_label": np.full_like(labels, -1)}
        s_idx = np.sort(self.source_order[lo:hi])
        s_labels = self.ys[s_idx]
        return np.concatenate([x, take_rows(self.Xs, s_idx)]), {
            "label": np.concatenate([labels, np.full_like(s_labels, -1)]),
            "source_label": np.concatenate([np.full_like(labels, -1), s_labels]),
        }


def _is_path(obj) -> bool:
    return isinstance(obj, (str, os.PathLike))


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


class TransferClassifier(BaseTransferEstimator):
    """Pretrain on a source task, transfer the network, fine-tune a target task.

    The article's flow: a source task with its own label set (or a
    pretrained Keras model) gives a network; its feature extractor is carried
    over to the target task, which gets a new head, and is adapted with the
    chosen ``strategy``. Training is Keras's own ``model.fit`` (progress bars,
    callbacks, validation data work as usual).

    Ways to call ``fit``:

    * explicit: ``fit(source=(Xs, ys), target=(Xt, yt))``; ``source`` may
      also be a pretrained ``keras.Model``, a path to a ``.keras`` file, to a
      legacy Keras 2 ``.h5`` file, or to a ``.weights.h5`` file of the named
      ``backbone`` plus a Dense head (then there is no pretraining);
    * packed, for ``Pipeline`` / ``GridSearchCV``: ``fit(X, y)`` is the
      target task and the source is the constructor's ``source_model``.

    Strategies (``strategy=``):

    ``"fine_tune"`` (default)
        every transferred layer trains, at ``learning_rate ×
        backbone_lr_multiplier`` (1 by default: the source run's settings);
    ``"feature_extraction"``
        the transferred network is frozen, only the new head trains;
    ``"partial"``
        the first layers are frozen (``freeze``: default the lower half);
    ``"gradual"``
        gradual unfreezing from the top, one more layer each epoch (ULMFiT);
    ``"joint"``
        ``L = L_s + λ·L_t``: source and target heads trained together on
        batches of source and target rows (needs source data);
    ``"lwf"``
        learning without forgetting: ``L = L_t + λ·KD``, the frozen source
        model's outputs distilled into the source head, on the target inputs
        and, when source rows are at hand (source data, or ``source_data``
        with a pretrained model), on as many source inputs (their labels
        unused; ``strategy_params={"source_inputs": False}`` for the paper's
        target-only LwF);
    ``"adapter"``
        source network frozen, a zero-initialised residual adapter
        ``f_t = f_s + Δf(f_s)`` and the new head train;
    ``"lora"``
        source kernels frozen, low-rank updates ``W + A·B`` of every Dense /
        Conv2D kernel (``B = 0`` at start) and the new head train;
    ``"fusion"``
        frozen transferred features concatenated with the features of the
        same architecture trained from scratch on the target.

    The input framing must match the source's: e.g. USPS digits (16×16,
    filling the frame) fed to an MNIST network should be framed like MNIST
    with ``keras_transfer.datasets.resize_images(X, 20, pad=4)`` (a
    ``FunctionTransformer`` in a ``Pipeline`` does it for ``predict`` too).

    Args:
        strategy: one of the strategies above.
        source_model: the source for the packed ``fit(X, y)``: a
            ``keras.Model``, a path (``.keras``, legacy ``.h5``,
            ``.weights.h5``), or source data ``(Xs, ys)`` to pretrain on.
        backbone: architecture to pretrain on source data (or to load a
            ``.weights.h5`` into): ``"auto"`` (``"cnn"`` for images, ``"mlp"``
            otherwise), a name from ``keras_transfer.backbones``, or a
            callable ``input_shape -> keras.Model``.
        backbone_params: keyword arguments of a named backbone.
        feature_layer: name of the layer where features end in the source
            model (default: the input of its last layer, i.e. below the head);
            a feature map ``(n, H, W, C)`` there is global-average pooled.
        freeze: which transferred layers are frozen: ``"all"``, ``"none"``,
            ``k`` (the first k layers with weights), a name / regex or a list
            of them; ``None`` uses the strategy's default (``"none"``; the lower
            half for ``partial``; ``"all"`` for ``fusion``). ``feature_extraction``,
            ``adapter`` and ``lora`` always freeze the whole source network.
        freeze_batchnorm: keep BatchNormalization layers frozen, i.e. in
            inference mode (the Keras transfer-learning guide's rule).
        backbone_lr_multiplier: learning-rate multiplier of the transferred
            weights (new heads, adapters and LoRA factors use 1).
        adaptation_weight: λ of ``joint`` (``L_s + λ·L_t``) and ``lwf``
            (``L_t + λ·KD``).
        strategy_params: ``{"temperature": 2.0, "warmup_epochs": 1,
            "source_inputs": True}`` for lwf, ``{"units": 32,
            "activation": "relu"}`` for adapter, ``{"rank": 4, "alpha": None}``
            for lora.
        pretrain_epochs: epochs of source pretraining (0: no pretraining).
        epochs: epochs of target training.
        steps_per_epoch: optimizer steps per target epoch (default: one pass
            over the target rows; set it for few-shot targets).
        batch_size: rows per step (per task for ``joint``).
        optimizer, learning_rate: ``None`` reuses the source run's settings
            (the pretraining's, or a compiled pretrained model's optimizer
            and learning rate), else Adam at 1e-3.
        source_holdout: fraction of source rows held out from pretraining to
            measure source accuracy before and after transfer.
        random_state: seed (int) or None.
        verbose: Keras verbosity.
        callbacks: Keras callbacks of the target training.

    Fitted attributes: ``classes_``, ``model_`` (a
    :class:`~keras_transfer.models.TransferModel`), ``history_``,
    ``source_classes_``, ``source_model_`` (when pretrained here),
    ``source_history_``, ``source_score_before_`` / ``source_score_after_``
    (source accuracy of the source model and, for joint/lwf/adapter/lora,
    of the fitted model), ``training_settings_``, ``frozen_layers_``.

    Example:
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from keras_transfer import TransferClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X.reshape(-1, 8, 8) / 16.0
    >>> src, tgt = y < 5, y >= 5
    >>> clf = TransferClassifier("fine_tune", pretrain_epochs=2, epochs=2,
    ...                          backbone="mlp", random_state=0)
    >>> clf = clf.fit(source=(X[src], y[src]), target=(X[tgt], y[tgt]))
    >>> clf.classes_.tolist(), clf.source_classes_.tolist()
    ([5, 6, 7, 8, 9], [0, 1, 2, 3, 4])
    >>> clf.predict(X[tgt][:3]).shape
    (3,)
    """

    def __init__(
        self,
        strategy: str = "fine_tune",
        source_model=None,
        backbone="auto",
        backbone_params: dict | None = None,
        feature_layer: str | None = None,
        freeze=None,
        freeze_batchnorm: bool = True,
        backbone_lr_multiplier: float = 1.0,
        adaptation_weight: float = 1.0,
        strategy_params: dict | None = None,
        pretrain_epochs: int = 5,
        epochs: int = 10,
        steps_per_epoch: int | None = None,
        batch_size: int = 64,
        optimizer=None,
        learning_rate: float | None = None,
        source_holdout: float = 0.1,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.strategy = strategy
        self.source_model = source_model
        self.backbone = backbone
        self.backbone_params = backbone_params
        self.feature_layer = feature_layer
        self.freeze = freeze
        self.freeze_batchnorm = freeze_batchnorm
        self.backbone_lr_multiplier = backbone_lr_multiplier
        self.adaptation_weight = adaptation_weight
        self.strategy_params = strategy_params
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.source_holdout = source_holdout
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    # ---- parameters ------------------------------------------------------------

    def _check_params(self) -> dict:
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ValueError(
                f"Unknown strategy {self.strategy!r}; use one of {list(STRATEGIES)}."
            )
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.pretrain_epochs, "pretrain_epochs", minimum=0)
        if self.steps_per_epoch is not None:
            check_positive_int(self.steps_per_epoch, "steps_per_epoch")
        check_non_negative(self.adaptation_weight, "adaptation_weight")
        check_non_negative(self.backbone_lr_multiplier, "backbone_lr_multiplier")
        if self.learning_rate is not None:
            check_non_negative(self.learning_rate, "learning_rate")
            if self.learning_rate == 0:
                raise ValueError("learning_rate must be > 0 (or None).")
        check_non_negative(self.source_holdout, "source_holdout")
        if self.source_holdout >= 1:
            raise ValueError("source_holdout must be a fraction in [0, 1).")
        params = dict(STRATEGY_PARAMS.get(self.strategy, {}))
        extra = dict(self.strategy_params or {})
        unknown = sorted(set(extra) - set(params))
        if unknown:
            raise ValueError(
                f"Unknown strategy_params {unknown} for strategy {self.strategy!r}; "
                f"it accepts {sorted(params) or 'none'}."
            )
        params.update(extra)
        return params

    def _make_optimizer(self, inherited=None, *, pretraining=False):
        """The optimizer, reusing the source run's settings where not overridden."""
        lr = self.learning_rate
        if lr is None and inherited is not None and not pretraining:
            lr = inherited["learning_rate"]
        opt = self.optimizer
        if opt is None:
            if inherited is not None and not pretraining:
                config = dict(inherited["config"])
                if lr is not None:
                    config["learning_rate"] = float(lr)
                return inherited["class"].from_config(config)
            opt = DEFAULT_OPTIMIZER
        lr = DEFAULT_LEARNING_RATE if lr is None else float(lr)
        if isinstance(opt, str):
            try:
                return keras.optimizers.get(
                    {"class_name": opt, "config": {"learning_rate": lr}}
                )
            except ValueError:
                raise ValueError(
                    f"Unknown optimizer {opt!r}; use a Keras optimizer name such as "
                    "'adam' or 'sgd', or a keras.optimizers.Optimizer."
                ) from None
        if isinstance(opt, keras.optimizers.Optimizer):
            config = opt.get_config()
            if self.learning_rate is not None:
                config["learning_rate"] = float(self.learning_rate)
            return type(opt).from_config(config)
        raise TypeError(
            "optimizer must be None, a name or a keras.optimizers.Optimizer, "
            f"got {opt!r}."
        )

    # ---- inputs ----------------------------------------------------------------

    def _split_inputs(self, X, y, source, target):
        """(source, Xt, yt) from the explicit or the packed form."""
        positional = isinstance(X, tuple) or isinstance(X, keras.Model) or _is_path(X)
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
                source = self.source_model
            elif self.source_model is not None:
                raise TypeError(
                    "The source is given twice: in the constructor (source_model=) "
                    "and in fit(source=...); give it once."
                )
            if not (isinstance(target, (tuple, list)) and len(target) == 2):
                raise TypeError(
                    "target must be a pair (Xt, yt): the target task's features and "
                    "labels."
                )
            Xt, yt = target
        else:
            if X is None or y is None:
                raise ValueError(
                    "fit(X, y) needs the target task's features and labels."
                )
            Xt, yt, source = X, y, self.source_model
        if source is None:
            raise ValueError(
                "No source: pass source_model= (a keras.Model, a .keras/.h5 path or "
                "(Xs, ys)) to the constructor, or call fit(source=..., target=...)."
            )
        return source, Xt, yt

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
        if lower.endswith((".keras", ".h5", ".hdf5")):
            model, legacy = load_model_file(path)
            return model, legacy or _optimizer_settings(model)
        raise ValueError(
            f"Unsupported source file {path!r}: use a .keras model, a legacy .h5 "
            "model or a .weights.h5 file (with backbone= naming its architecture)."
        )

    def _pretrain(self, Xs, ys_enc, n_classes, seed):
        model = self._build_source_network(Xs.shape[1:], n_classes)
        optimizer = self._make_optimizer(pretraining=True)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = {}
        if self.pretrain_epochs:
            batches = _TaskBatches(
                Xs, ys_enc, batch_size=self.batch_size, seed=seed, plain=True
            )
            if self.verbose:
                print(
                    f"Source pre-training: {self.pretrain_epochs} epochs on "
                    f"{Xs.shape[0]} source rows, {n_classes} classes",
                    flush=True,
                )
            history = model.fit(
                batches,
                epochs=self.pretrain_epochs,
                verbose=self.verbose,
                callbacks=[FailOnNonFinite("source pre-training")],
            ).history
        return model, _optimizer_settings(model), dict(history)

    # ---- networks per strategy ---------------------------------------------------

    def _split_points(self, model):
        """(inputs, features tensor, source output tensor) of the source model."""
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
        return inputs, pool_features(features), output[0]

    def _build_model(self, src, n_classes, params):
        strategy = self.strategy
        inputs, features, source_out = self._split_points(src)
        backbone = keras.Model(inputs, features, name="transferred")
        backbone_ids = {id(layer) for layer in weighted_layers(backbone)}
        keeps_head = strategy in ("joint", "lwf", "adapter")
        network = (
            keras.Model(inputs, [features, source_out], name="transferred")
            if keeps_head
            else backbone
        )
        reference = None
        if strategy in ("lwf", "lora"):
            reference = copy_model(src)
            reference.trainable = False
        if strategy == "lora":
            names = [layer.name for layer in weighted_layers(backbone)]
            network = add_lora(
                backbone,
                rank=int(params["rank"]),
                alpha=params["alpha"],
                layer_names=names,
            )
        transferred = [
            layer
            for layer in weighted_layers(network)
            if id(layer) in backbone_ids or strategy == "lora"
        ]
        # ---- freezing ----
        policy = self.freeze if self.freeze is not None else DEFAULT_FREEZE[strategy]
        if strategy in ("feature_extraction", "adapter"):
            policy = "all"
        if policy == "half":
            policy = max(1, len(transferred) // 2)
        if strategy == "lora":
            # Only the low-rank factors train; every other weight is frozen.
            for layer in weighted_layers(network):
                layer.trainable = isinstance(layer, LoRA)
                if isinstance(layer, LoRA):
                    layer.layer.trainable = False
        else:
            part = backbone if keeps_head else network
            freeze(part, policy, freeze_batchnorm=bool(self.freeze_batchnorm))
            if keeps_head and strategy != "adapter":
                for layer in weighted_layers(network):
                    if id(layer) not in backbone_ids:
                        layer.trainable = True  # the source head
            if strategy == "adapter":
                network.trainable = False
        frozen = [
            layer.name
            for layer in weighted_layers(network)
            if not layer.trainable_weights
        ]
        adapter = scratch = None
        if strategy == "adapter":
            adapter = ResidualAdapter(
                units=int(params["units"]),
                activation=params["activation"],
                name="adapter",
            )
        if strategy == "fusion":
            scratch = keras.models.clone_model(backbone)  # same layers, fresh weights
            freeze(scratch, "none", freeze_batchnorm=False)
        model = TransferModel(
            network,
            num_classes=n_classes,
            strategy=strategy,
            adaptation_weight=float(self.adaptation_weight),
            temperature=float(params.get("temperature", 2.0)),
            adapter=adapter,
            scratch=scratch,
            reference=reference,
            source_probabilities=_is_softmax(src.layers[-1]),
        )
        model.build((None, *tuple(src.inputs[0].shape[1:])))
        tuned = [
            layer
            for layer in weighted_layers(network)
            if id(layer) in backbone_ids and layer.trainable_weights
        ]
        return model, tuned, frozen

    # ---- fit -----------------------------------------------------------------------

    @seeded_fit_in_isolation
    def fit(
        self,
        X=None,
        y=None,
        *,
        source=None,
        target=None,
        source_data=None,
        validation_data=None,
    ):
        """Pretrain (or load) the source model, transfer it and train the target task.

        Args:
            X, y: the target task (packed form; the source is ``source_model``).
            source: ``(Xs, ys)``, a ``keras.Model`` or a model file path.
            target: ``(Xt, yt)``.
            source_data: ``(Xs, ys)`` for a pretrained source: source rows for
                ``joint`` training and for the source accuracies (labels are the
                model's output indices 0..K-1).
            validation_data: ``(X_val, y_val)`` of the target task, evaluated
                each epoch (e.g. for ``keras.callbacks.EarlyStopping``).

        Returns:
            self
        """
        params = self._check_params()
        source, Xt, yt = self._split_inputs(X, y, source, target)
        Xt, holder = check_X(self, Xt, reset=True, what="target X")
        yt = check_labels(yt, Xt.shape[0], "target labels")
        classes = encode_labels(yt)
        if len(classes) < 2:
            raise ValueError(
                f"Only one target class ({classes[0]!r}); a classifier needs at "
                "least two."
            )
        yt_enc = np.searchsorted(classes, yt).astype("int32")
        seed = self._seed()

        is_data = isinstance(source, (tuple, list))
        if is_data and source_data is not None:
            raise TypeError("source_data is only for a pretrained source model.")
        Xs_train = ys_train = Xs_eval = ys_eval = None
        if is_data:
            if len(source) != 2:
                raise TypeError(
                    "source must be a pair (Xs, ys) of features and labels."
                )
            Xs, ys = source
            Xs, _ = check_X(holder, Xs, reset=False, what="source X")
            ys = check_labels(ys, Xs.shape[0], "source labels")
            source_classes = encode_labels(ys)
            if len(source_classes) < 2:
                raise ValueError("The source task needs at least two classes.")
            ys_enc = np.searchsorted(source_classes, ys).astype("int32")
            Xs = as_image_batch(Xs)
            Xt = self._to_model_input(Xt, Xs.shape[1:])
            self._check_input_shape(Xt.shape[1:], Xs.shape[1:], "Target")
            Xs_train, ys_train, Xs_eval, ys_eval = self._holdout(Xs, ys_enc, seed)
            src, inherited, source_history = self._pretrain(
                Xs_train, ys_train, len(source_classes), seed
            )
            source_model = src
        else:
            if not (isinstance(source, keras.Model) or _is_path(source)):
                raise TypeError(
                    "source must be (Xs, ys), a keras.Model or a path to a .keras, "
                    f".h5 or .weights.h5 file; got {type(source).__name__}."
                )
            input_shape = as_image_batch(Xt).shape[1:]
            src, inherited = self._load_source(source, input_shape)
            source_history, source_model = None, None
            model_shape = tuple(src.inputs[0].shape[1:]) if src.inputs else None
            if model_shape is not None:
                Xt = self._to_model_input(Xt, model_shape)
                self._check_input_shape(Xt.shape[1:], model_shape, "Target")
            n_out = int(src.outputs[0].shape[-1])
            source_classes = np.arange(n_out)
            if source_data is not None:
                Xs_eval, ys_eval = self._check_source_data(
                    source_data, holder, src, n_out
                )
                Xs_train, ys_train = Xs_eval, ys_eval
        if self.strategy == "joint" and Xs_train is None:
            raise ValueError(
                "strategy='joint' trains the source head too: give source data, "
                "fit(source=(Xs, ys), ...) or source_data=(Xs, ys) with a "
                "pretrained model."
            )

        score_before = None
        if Xs_eval is not None and len(Xs_eval):
            score_before = self._accuracy(
                src.predict(Xs_eval, batch_size=max(self.batch_size, 256), verbose=0),
                ys_eval,
            )

        model, tuned, frozen = self._build_model(src, len(classes), params)
        optimizer = self._make_optimizer(inherited)
        base_optimizer = optimizer
        callbacks = [FailOnNonFinite(), *(self.callbacks or [])]
        gradual = None
        if self.strategy == "gradual" and tuned:
            optimizer = with_lr_multipliers(
                optimizer, [([layer], 0.0) for layer in tuned]
            )
            gradual = GradualUnfreezing(multiplier=float(self.backbone_lr_multiplier))
            callbacks.append(gradual)
        elif self.strategy == "lwf" and int(params["warmup_epochs"]) > 0:
            # Li & Hoiem's warm-up: the new head alone first, then everything.
            source_head = [
                layer
                for layer in weighted_layers(model.network)
                if layer.trainable_weights and all(layer is not t for t in tuned)
            ]
            optimizer = with_lr_multipliers(
                optimizer, [(tuned, 0.0), (source_head, 0.0)]
            )
            callbacks.append(
                GradualUnfreezing(
                    multiplier=float(self.backbone_lr_multiplier),
                    epochs_per_stage=int(params["warmup_epochs"]),
                    groups=[0],
                )
            )
            callbacks.append(
                GradualUnfreezing(
                    multiplier=1.0,
                    epochs_per_stage=int(params["warmup_epochs"]),
                    groups=[1],
                )
            )
        elif tuned and float(self.backbone_lr_multiplier) != 1.0:
            optimizer = with_lr_multipliers(
                optimizer, [(tuned, float(self.backbone_lr_multiplier))]
            )
        model.compile(optimizer=optimizer)
        optimizer.build(model.trainable_variables)
        # joint trains on source labels; lwf distils on source inputs too
        # (labels hidden: -1), which keeps the source task where target
        # inputs are few.
        with_source = Xs_train is not None and (
            self.strategy == "joint"
            or (self.strategy == "lwf" and bool(params["source_inputs"]))
        )
        source_labels = None
        if with_source:
            source_labels = (
                ys_train if self.strategy == "joint" else np.full_like(ys_train, -1)
            )
        batches = _TaskBatches(
            Xt,
            yt_enc,
            Xs_train if with_source else None,
            source_labels,
            batch_size=self.batch_size,
            steps=self.steps_per_epoch,
            seed=seed,
        )
        val = self._validation_batches(validation_data, holder, classes, src)
        if self.verbose:
            print(
                f"Target training ({self.strategy}): {self.epochs} epochs on "
                f"{Xt.shape[0]} target rows, {len(classes)} classes",
                flush=True,
            )
        history = model.fit(
            batches,
            epochs=self.epochs,
            verbose=self.verbose,
            callbacks=callbacks,
            validation_data=val,
        )
        if isinstance(optimizer, _LRMultiplierMixin):
            # The grouped optimizer is a training device; keep a plain one so
            # that the model saves and pickles like any Keras model.
            plain = type(base_optimizer).from_config(base_optimizer.get_config())
            model.compile(optimizer=plain)
            plain.build(model.trainable_variables)

        score_after = None
        if self.strategy in KEEPS_SOURCE and Xs_eval is not None and len(Xs_eval):
            out = model.predict(
                Xs_eval, batch_size=max(self.batch_size, 256), verbose=0
            )
            score_after = self._accuracy(out["source_logits"], ys_eval)
        opt_name = type(base_optimizer).__name__
        settings = {
            "optimizer": opt_name,
            "learning_rate": float(
                keras.ops.convert_to_numpy(base_optimizer.learning_rate)
            ),
            "batch_size": int(self.batch_size),
            "inherited": inherited is not None
            and self.optimizer is None
            and self.learning_rate is None,
        }
        return self._commit(
            holder,
            classes_=classes,
            model_=model,
            history_=dict(history.history),
            input_shape_=tuple(Xt.shape[1:]),
            strategy_=self.strategy,
            source_classes_=source_classes,
            source_model_=source_model,
            source_history_=source_history,
            source_score_before_=score_before,
            source_score_after_=score_after,
            training_settings_=settings,
            frozen_layers_=frozen,
            gradual_stages_=None if gradual is None else list(gradual.stages_),
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
        return Xs[tr], ys[tr], Xs[ev], ys[ev]

    def _check_source_data(self, source_data, holder, src, n_out):
        if not (isinstance(source_data, (tuple, list)) and len(source_data) == 2):
            raise TypeError("source_data must be a pair (Xs, ys).")
        Xs, ys = source_data
        Xs, _ = check_X(holder, Xs, reset=False, what="source_data X")
        ys = check_labels(ys, Xs.shape[0], "source_data labels")
        if ys.dtype.kind not in "iu" or ys.min() < 0 or ys.max() >= n_out:
            raise ValueError(
                "source_data labels must be the pretrained model's output indices "
                f"0..{n_out - 1} (integers)."
            )
        Xs = self._to_model_input(Xs, tuple(src.inputs[0].shape[1:]))
        return Xs, ys.astype("int32")

    def _validation_batches(self, validation_data, holder, classes, src):
        if validation_data is None:
            return None
        Xv, yv = validation_data
        Xv, _ = check_X(holder, Xv, reset=False, what="validation X")
        yv = check_labels(yv, Xv.shape[0], "validation labels")
        idx = np.searchsorted(classes, yv)
        idx = np.clip(idx, 0, len(classes) - 1)
        if np.any(classes[idx] != yv):
            raise ValueError("validation labels must be among the target classes.")
        Xv = self._to_model_input(Xv, tuple(src.inputs[0].shape[1:]))
        return _TaskBatches(Xv, idx, batch_size=256, shuffle=False)

    @staticmethod
    def _accuracy(logits, y) -> float:
        return float(np.mean(np.argmax(np.asarray(logits), axis=1) == np.asarray(y)))

    # ---- prediction -----------------------------------------------------------------

    def _prediction_input(self, X):
        return self._to_model_input(X, self.input_shape_)

    def predict_source(self, X) -> np.ndarray:
        """Source-task labels (strategies joint, lwf, adapter and lora).

        Example:
        >>> import numpy as np
        >>> from sklearn.datasets import load_digits
        >>> from keras_transfer import TransferClassifier
        >>> X, y = load_digits(return_X_y=True)
        >>> X = X / 16.0
        >>> clf = TransferClassifier("lwf", pretrain_epochs=2, epochs=1,
        ...                          random_state=0)
        >>> clf = clf.fit(source=(X[y < 5], y[y < 5]), target=(X[y >= 5], y[y >= 5]))
        >>> set(clf.predict_source(X[:20]).tolist()) <= {0, 1, 2, 3, 4}
        True
        """
        out = self._predict_all(X)
        if "source_logits" not in out:
            raise AttributeError(
                f"strategy {self.strategy_!r} does not keep the source task; "
                f"use one of {list(KEEPS_SOURCE)} to predict it."
            )
        logits = np.asarray(out["source_logits"])
        return self.source_classes_[np.argmax(logits, axis=1)]

    def score_source(self, X, y) -> float:
        """Source-task accuracy of the fitted model (see :meth:`predict_source`)."""
        return float(np.mean(self.predict_source(X) == np.asarray(y)))
