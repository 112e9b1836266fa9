"""TransferClassifier: learn a source task, carry the network over, fine-tune."""

from __future__ import annotations

import keras
import numpy as np

from keras_transfer._optimizers import fresh_optimizer
from keras_transfer.backbones import copy_model
from keras_transfer.data import is_stream
from keras_transfer.estimators._methods import Method, keeps_source, method_of
from keras_transfer.estimators._source import (
    SourceModels,
    _is_softmax,
    is_model_source,
    split_transfer_inputs,
)
from keras_transfer.estimators._threads import seeded_fit_in_isolation
from keras_transfer.estimators._transfer_training import (
    freeze_transferred,
    optimizer_groups,
    stream_batches,
    target_batches,
    transfer_optimizer,
)
from keras_transfer.estimators._validation import (
    as_image_batch,
    check_classes,
    check_labels,
    check_params,
    check_validation_pair,
    check_X,
    dict_or_none,
    encode,
    encode_labels,
    non_negative,
    positive_int,
    validation_batches,
)
from keras_transfer.estimators.base import BaseTransferEstimator, distributed
from keras_transfer.freezing import _LRMultiplierMixin
from keras_transfer.models import AdaptationModel
from keras_transfer.strategies import (
    get_strategy,
    strategy_class,
    transfers_source,
)


class TransferClassifier(BaseTransferEstimator, SourceModels):
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
        every transferred layer trains from the first step, at
        ``learning_rate × backbone_lr_multiplier`` (1 by default: the source
        run's rate);
    ``"lp_ft"``
        LP-FT: the new head trains alone for the first fifth of the epochs
        (none in a fit of under 5 epochs), then everything as in
        ``fine_tune``; for a source close to the target (it lost to
        ``fine_tune`` with an unrelated one, see docs/transfer.md);
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
        pretrain_epochs: epochs of source pretraining (0: no pretraining);
            ``None`` (default): 5 epochs, a small source set cycled so that
            pretraining takes at least 1,000 optimizer steps.
        epochs: epochs of target training; ``None`` (default): 10 epochs, a
            small target set cycled so that training takes at least 500
            optimizer steps (50 labelled rows at batch 64 would otherwise get
            one step an epoch). A number given is that many passes.
        steps_per_epoch: optimizer steps per target epoch (default: one pass
            over the target rows, or more at the default length).
        batch_size: rows per step (per task for ``joint``).
        optimizer, learning_rate: a Keras optimizer name, config dict
            (``{"class_name": "sgd", "config": {"momentum": 0.9}}``) or
            instance, and its learning rate; ``None`` reuses the source run's
            settings (the pretraining's, or a compiled pretrained model's
            optimizer and learning rate), else Adam at 1e-3.
        source_holdout: fraction of source rows held out from pretraining to
            measure source accuracy before and after transfer.
        random_state: seed (int) or None.
        verbose: Keras verbosity.
        callbacks: Keras callbacks of the target training.
        distribution: data-parallel training (pretraining and target
            training), as in ``DomainAdaptiveClassifier``: None, ``"data_parallel"``
            or a ``keras.distribution.Distribution`` / ``tf.distribute.Strategy``.
            Not on torch. See ``docs/distributed.md``.

    Fitted attributes: ``classes_``, ``model_`` (a
    :class:`~keras_transfer.models.AdaptationModel`), ``history_``,
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
        pretrain_epochs: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        batch_size: int = 64,
        optimizer=None,
        learning_rate: float | None = None,
        source_holdout: float = 0.1,
        random_state=None,
        verbose=0,
        callbacks=None,
        distribution=None,
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
        self.distribution = distribution

    # ---- parameters ------------------------------------------------------------

    #: the parameter table: name -> constraint, checked at the top of fit
    PARAMETERS = {
        "epochs": positive_int(optional=True),
        "batch_size": positive_int(),
        "pretrain_epochs": positive_int(minimum=0, optional=True),
        "steps_per_epoch": positive_int(optional=True),
        "adaptation_weight": non_negative(),
        "backbone_lr_multiplier": non_negative(),
        "learning_rate": non_negative(positive=True, optional=True),
        "source_holdout": non_negative(below=1),
        "strategy_params": dict_or_none,
    }

    def _check_params(self) -> Method:
        method = method_of(self.strategy)
        check_params(self, self.PARAMETERS)
        get_strategy(method.strategy, **(self.strategy_params or {}))  # checks them
        return method

    def _build_model(self, src, n_classes, method):
        """The AdaptationModel of ``method`` on the source model ``src`` (a copy).

        Returns ``(model, tuned, frozen)``: the transferred layers that train
        and the names of the frozen ones.
        """
        inputs, features, source_out = self._split_points(src)
        inputs = inputs[0] if len(inputs) == 1 else inputs
        backbone = keras.Model(inputs, features, name="transferred")
        cls = strategy_class(method.strategy)
        self._check_source_head(source_out, cls)
        parts = {}
        if cls.needs_source_head:
            parts["source_head"] = keras.Model(features, source_out, name="source_head")
            parts["source_probabilities"] = _is_softmax(src.layers[-1])
        if cls.needs_source_copy:
            # A fresh functional model on the copy's layers: a loaded model
            # comes compiled, and its compiled metrics must not join ours.
            copy = copy_model(src)
            copy_in = copy.inputs[0] if len(copy.inputs) == 1 else copy.inputs
            parts["source_model"] = keras.Model(
                copy_in, copy.outputs[0], name="source_copy"
            )
            parts["source_probabilities"] = _is_softmax(src.layers[-1])
        if cls.needs_backbone:
            parts["backbone"] = backbone
        strategy = get_strategy(
            method.strategy, **(self.strategy_params or {}), **parts
        )
        # Freezing: the method's policy, or the user's where it may choose.
        policy = method.freeze
        if self.freeze is not None and not method.locked:
            policy = self.freeze
        backbone, tuned, frozen = freeze_transferred(
            backbone,
            policy,
            freeze_batchnorm=self.freeze_batchnorm,
            strategy=strategy,
        )
        model = AdaptationModel(
            backbone,
            num_classes=n_classes,
            strategy=strategy,
            adaptation_weight=float(self.adaptation_weight),
            schedule="constant",
            classifier=keras.layers.Dense(int(n_classes), name="target_head"),
        )
        model.build((None, *tuple(src.inputs[0].shape[1:])))
        return model, tuned, frozen

    # ---- fit -----------------------------------------------------------------------

    @seeded_fit_in_isolation
    @distributed
    def fit(
        self,
        X=None,
        y=None,
        *,
        source=None,
        target=None,
        source_data=None,
        validation_data=None,
        classes=None,
    ):
        """Pretrain (or load) the source model, transfer it and train the target task.

        Args:
            X, y: the target task (packed form; the source is ``source_model``).
            source: ``(Xs, ys)``, a ``keras.Model`` or a model file path.
            target: ``(Xt, yt)``, or a stream of ``(X_batch, y_batch)``
                batches (a generator function, an iterable, a
                ``keras.utils.PyDataset`` or a ``tf.data.Dataset``; the
                constructor's ``steps_per_epoch`` where it has no length).
            source_data: ``(Xs, ys)`` for a pretrained source: source rows for
                ``joint`` training and for the source accuracies (labels are the
                model's output indices 0..K-1).
            validation_data: ``(X_val, y_val)`` of the target task, evaluated
                each epoch (e.g. for ``keras.callbacks.EarlyStopping``).
            classes: every label of the target task; required with a streamed
                target (its labels are not known up front), optional with
                arrays (labels that no row holds are then kept as classes).

        Features may be arrays, scipy.sparse matrices or ``np.memmap`` files
        (read a batch at a time, never loaded whole; docs/streaming.md).

        Returns:
            self
        """
        method = self._check_params()
        check_validation_pair(validation_data)
        packed = source is None and target is None
        source, Xt, yt = split_transfer_inputs(self, X, y, source, target)
        seed = self._seed()
        steps = None  # an epoch's length, given or read from a stream
        streamed = is_stream(Xt)
        if streamed:
            yt_enc = None
            batches, epochs, steps, classes = stream_batches(
                Xt,
                source,
                classes,
                epochs=self.epochs,
                steps=self.steps_per_epoch,
                batch_size=self.batch_size,
                seed=seed,
            )
            Xt, holder = check_X(
                self, batches.peek()[0], reset=True, what="target stream, batch 0"
            )
        else:
            Xt, holder = check_X(
                self, Xt, reset=True, what="target X", keep_memmap=True
            )
            yt = check_labels(yt, Xt.shape[0], "y" if packed else "target labels")
            given = classes is not None
            classes = check_classes(classes) if given else encode_labels(yt)
            if len(classes) < 2:
                raise ValueError(
                    f"Only one class ({classes[0]!r}) in the target labels; a "
                    "classifier needs at least two."
                )
            yt_enc = encode(yt, classes, np.zeros(len(yt), bool), given)
        # A stream's batches reach the model as they come: no reshaping.
        to_input = (lambda X, _: X) if streamed else self._to_model_input

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
            Xs, _ = check_X(holder, Xs, reset=False, what="source X", keep_memmap=True)
            ys = check_labels(ys, Xs.shape[0], "source labels")
            source_classes = encode_labels(ys)
            if len(source_classes) < 2:
                raise ValueError("The source task needs at least two classes.")
            ys_enc = encode(ys, source_classes, np.zeros(len(ys), bool))
            Xs = as_image_batch(Xs)
            Xt = to_input(Xt, Xs.shape[1:])
            self._check_input_shape(Xt.shape[1:], Xs.shape[1:], "Target")
            Xs_train, ys_train, Xs_eval, ys_eval = self._holdout(Xs, ys_enc, seed)
            src, inherited, source_history = self._pretrain(
                Xs_train, ys_train, len(source_classes), seed
            )
            source_model = src
        elif source is None:
            # No source: a plain classifier trained from scratch (nothing is
            # transferred, so no layer is frozen).
            if transfers_source(strategy_class(method.strategy)):
                raise ValueError(
                    f"No source: strategy={self.strategy!r} needs a source model. "
                    "Pass source_model= (a keras.Model, a .keras/.h5 path or "
                    "(Xs, ys)) to the constructor, or call fit(source=..., "
                    "target=...)."
                )
            method = Method(gradual=method.gradual)
            src = self._build_source_network(as_image_batch(Xt).shape[1:], 2)
            Xt = as_image_batch(Xt)
            inherited = source_history = source_model = source_classes = None
        else:
            if not is_model_source(source):
                raise TypeError(
                    "source must be (Xs, ys), a keras.Model, a Pretrained, a path "
                    "to a .keras, .h5 or .weights.h5 file or a keras_hub preset "
                    f"folder; got {type(source).__name__}."
                )
            input_shape = as_image_batch(Xt).shape[1:]
            src, inherited = self._load_source(source, input_shape)
            source_history, source_model = None, None
            model_shape = tuple(src.inputs[0].shape[1:]) if src.inputs else None
            if model_shape is not None:
                Xt = to_input(Xt, model_shape)
                self._check_input_shape(Xt.shape[1:], model_shape, "Target")
            n_out = self._source_outputs(src)
            source_classes = None if n_out is None else np.arange(n_out)
            if source_data is not None:
                Xs_eval, ys_eval = self._check_source_data(
                    source_data, holder, src, n_out
                )
                Xs_train, ys_train = Xs_eval, ys_eval
        strategy = strategy_class(method.strategy)
        if strategy.source_rows == "labelled" and Xs_train is None:
            raise ValueError(
                f"strategy={self.strategy!r} trains the source head too: give source "
                "data, fit(source=(Xs, ys), ...) or source_data=(Xs, ys) with a "
                "pretrained model."
            )

        score_before = None
        if Xs_eval is not None and len(Xs_eval):
            score_before = self._accuracy(
                self._outputs_of(Xs_eval, src),
                ys_eval,
            )

        model, tuned, frozen = self._build_model(src, len(classes), method)
        # Source rows next to the target rows: with their labels (joint), or
        # their inputs alone (lwf distils on them, which keeps the source task
        # where target inputs are few).
        Xs_rows = ys_rows = None
        if Xs_train is not None and model.strategy.source_rows != "none":
            if streamed:
                raise ValueError(
                    f"strategy={self.strategy!r} trains on source rows next to the "
                    "target batches, which a streamed target does not support: pass "
                    "the target as arrays or an np.memmap (read a batch at a time), "
                    "or give a pretrained source model without source rows."
                )
            Xs_rows, ys_rows = Xs_train, ys_train
            if model.strategy.source_rows == "inputs":
                ys_rows = np.full_like(ys_train, -1)
        if not streamed:
            batches, epochs = target_batches(
                Xs_rows,
                ys_rows,
                Xt,
                yt_enc,
                epochs=self.epochs,
                steps=self.steps_per_epoch,
                batch_size=self.batch_size,
                seed=seed,
            )
        base_optimizer = transfer_optimizer(
            self.optimizer, self.learning_rate, inherited
        )
        optimizer, extra_callbacks = optimizer_groups(
            model,
            tuned,
            base_optimizer,
            multiplier=self.backbone_lr_multiplier,
            method=method_of(self.strategy),
            epochs=epochs,
        )
        model.compile(optimizer=optimizer)  # built by fit (build_before_fit)
        model.set_total_steps(epochs * (steps or len(batches)))
        val = validation_batches(
            validation_data,
            holder,
            classes,
            side="target",
            to_input=lambda X: self._to_model_input(X, src.inputs[0].shape[1:]),
            keep_memmap=True,
        )
        if self.verbose:
            print(
                f"Target training ({self.strategy}): {epochs} epochs on "
                + (
                    f"{Xt.shape[0]} target rows"
                    if not streamed
                    else f"{steps} streamed target batches each"
                )
                + f", {len(classes)} classes",
                flush=True,
            )
        history = self._train(
            model,
            batches,
            epochs=epochs,
            validation=val,
            callbacks=[*(self.callbacks or []), *extra_callbacks],
            steps=steps,
        )
        if isinstance(optimizer, _LRMultiplierMixin):
            # The grouped optimizer is a training device; keep a plain one so
            # that the model saves and pickles like any Keras model.
            plain = fresh_optimizer(base_optimizer)
            model.compile(optimizer=plain)
            plain.build(model.trainable_variables)

        score_after = None
        if strategy.predicts_source and Xs_eval is not None and len(Xs_eval):
            out = self._outputs_of(Xs_eval, model)
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
            gradual_stages_=next(
                (list(cb.stages_) for cb in extra_callbacks if method.gradual), None
            ),
        )

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
                f"use one of {keeps_source()} to predict it."
            )
        logits = np.asarray(out["source_logits"])
        return self.source_classes_[np.argmax(logits, axis=1)]

    def score_source(self, X, y) -> float:
        """Source-task accuracy of the fitted model (see :meth:`predict_source`)."""
        return float(np.mean(self.predict_source(X) == np.asarray(y)))
