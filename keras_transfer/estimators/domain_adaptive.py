"""DomainAdaptiveClassifier: same labels, shifted domains, target mostly unlabelled."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import scipy.sparse as sp

from keras_transfer import backend, schedules
from keras_transfer.backbones import build_backbone
from keras_transfer.data import DomainBatches, StreamBatches, is_stream
from keras_transfer.data.packing import unpack_domains
from keras_transfer.diagnostics.collapse import collapse_report, warn_collapse
from keras_transfer.estimators._auto import fit_auto, is_auto
from keras_transfer.estimators._threads import seeded_fit_in_isolation
from keras_transfer.estimators._validation import (
    as_image_batch,
    check_classes,
    check_labels,
    check_params,
    check_positive_int,
    check_same_shape,
    check_X,
    dict_or_none,
    encode,
    encode_labels,
    is_masked,
    non_negative,
    positive_int,
    validation_batches,
)
from keras_transfer.estimators.base import BaseTransferEstimator, distributed
from keras_transfer.models import AdaptationModel
from keras_transfer.strategies import (
    data_kind,
    get_strategy,
    recipe_settings,
    strategy_class,
    transfers_source,
)


class DomainAdaptiveClassifier(BaseTransferEstimator):
    """A Keras classifier adapted from a labelled source to a shifted target domain.

    Two ways to call ``fit``:

    * explicit: ``fit((Xs, ys), Xt)`` or ``fit(source=(Xs, ys), target=Xt)``;
      the target may be ``(Xt, yt)`` with ``-1`` for unlabelled rows
      (semi-supervised);
    * packed, for ``Pipeline`` / ``GridSearchCV`` / ``cross_val_score``:
      ``fit(X, y)`` where unlabelled target rows have ``y == -1`` (skada's
      convention), optionally with ``sample_domain`` (> 0 source, < 0 target)
      passed through scikit-learn metadata routing. Without it, labelled rows
      are source and masked rows are target;
    * streamed: ``fit(source=batches, target=Xt, classes=[0, 1])`` where the
      source and/or the target is a generator, a function returning one, a
      ``keras.utils.PyDataset`` or a ``tf.data.Dataset`` (see
      ``docs/streaming.md``). ``np.memmap`` arrays (explicit or streamed form)
      are read a batch at a time, never loaded whole.

    ``predict`` treats its input as target-domain data.

    Args:
        strategy: ``"dann"``, ``"source_only"``, any name in
            ``keras_transfer.strategies.available_strategies(transfer=False)``, a
            :class:`~keras_transfer.strategies.Strategy`, or ``"auto"``: the
            strategy (and with ``adaptation_weight="auto"`` also λ) is chosen
            without target labels among source-only and a few robust
            strategies; ``strategy_``, ``adaptation_weight_`` and
            ``selection_`` say what was tried and chosen.
        adaptation_weight: λ, the weight of the adaptation term (≥ 0);
            ``None`` (default) takes the strategy's recipe (see
            ``docs/strategies/``); ``"auto"`` chooses λ without target labels
            among a small grid that includes 0 (source-only), see
            :func:`~keras_transfer.estimators.fit_auto` and
            ``docs/model_selection.md``.
        schedule: how λ ramps over training: ``"ganin"``, ``"constant"``,
            ``"warmup"`` or a schedule object; ``None`` (default) takes the
            strategy's recipe (``"ganin"`` for every built-in strategy).
        backbone: feature extractor: ``"auto"`` (default: ``"cnn"`` for
            images, i.e. rows of shape (H, W) or (H, W, C); ``"mlp"`` for
            vectors), ``"mlp"``, ``"cnn"``, a ``keras.Model`` (copied with its
            weights) or a callable ``input_shape -> Model``.
        feature_layer: name of the layer of ``backbone`` where features end;
            a feature map ``(n, H, W, C)`` there is global-average pooled.
        backbone_params: keyword arguments of a named backbone builder.
        strategy_params: keyword arguments of a named strategy.
        epochs: passes over the larger domain.
        batch_size: rows *per domain* in each batch (a step sees source and
            target rows).
        optimizer: Keras optimizer name, config dict (``{"class_name":
            "adam", "config": {"epsilon": 0.01}}``) or instance; ``None``
            (default): the strategy's recipe (Adam for every built-in
            strategy; with ``epsilon=0.01`` for ``wdgrl`` and ``mcc`` on
            sparse text).
        learning_rate: learning rate when ``optimizer`` is a name or a
            config dict; ``None``
            (default): the recipe's (1e-3 for every built-in strategy).
        random_state: seed (int) for reproducible fits, or None.
        verbose: Keras ``fit`` verbosity (0 silent, 1 progress bar, 2 per epoch).
        callbacks: Keras callbacks passed to ``fit``. With arrays on
            TensorFlow and JAX one compiled call runs several steps
            (``backend.steps_per_execution``) unless a callback has
            batch-level hooks, which then see every step.
        jit_compile: passed to ``model.compile`` (``"auto"``, True, False);
            False skips XLA compilation, which is faster for tiny data.
        distribution: data-parallel training over several devices: None
            (default: one device, or the ``keras.distribution`` /
            ``tf.distribute`` scope ``fit`` is called in), ``"data_parallel"``
            (every local GPU, else CPU), or a ``keras.distribution.Distribution``
            (JAX) / ``tf.distribute.Strategy`` (TensorFlow). Not on torch.
            See ``docs/distributed.md``.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(300, 300, angle=30, random_state=0)
    >>> clf = DomainAdaptiveClassifier("dann", epochs=3, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (300,)
    """

    def __init__(
        self,
        strategy="dann",
        adaptation_weight: float | str | None = None,
        schedule=None,
        backbone="auto",
        feature_layer: str | None = None,
        backbone_params: dict | None = None,
        strategy_params: dict | None = None,
        epochs: int = 20,
        batch_size: int = 64,
        optimizer=None,
        learning_rate: float | None = None,
        random_state=None,
        verbose=0,
        callbacks=None,
        jit_compile="auto",
        distribution=None,
    ):
        self.strategy = strategy
        self.adaptation_weight = adaptation_weight
        self.schedule = schedule
        self.backbone = backbone
        self.feature_layer = feature_layer
        self.backbone_params = backbone_params
        self.strategy_params = strategy_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.jit_compile = jit_compile
        self.distribution = distribution

    # ---- turning the two ways in into (source, target) -------------------------

    def _split_inputs(self, X, y, source, target, sample_domain):
        """Return (Xs, ys, Xt, yt) from the explicit or the packed form."""
        explicit = source is not None or target is not None or isinstance(X, tuple)
        if not explicit:
            return self._unpack(X, y, sample_domain)
        if isinstance(X, tuple):
            if source is not None:
                raise TypeError(
                    "Pass the source once: fit((Xs, ys), Xt) or fit(source=...)."
                )
            source, target, y = X, (y if target is None else target), None
        if y is not None or sample_domain is not None:
            raise TypeError(
                "In the explicit form fit((Xs, ys), Xt) pass no y or sample_domain."
            )
        if not (isinstance(source, (tuple, list)) and len(source) == 2):
            raise TypeError("source must be a pair (Xs, ys) of features and labels.")
        Xs, ys = source
        if target is None:
            raise ValueError(
                "No target data: call fit((Xs, ys), Xt) with target features Xt "
                "(unlabelled is fine)."
            )
        if isinstance(target, tuple) and len(target) == 1:
            target = target[0]  # (Xt,): features alone, as a target stream may yield
        if (
            isinstance(target, (tuple, list))
            and len(target) == 2
            and not np.isscalar(target[1])
            and np.ndim(target[1]) == 1
            and np.ndim(target[0]) >= 2
        ):
            Xt, yt = target
        else:
            Xt, yt = target, None
        return Xs, ys, Xt, yt

    def _unpack(self, X, y, sample_domain):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is "
                "None. Pass the labels, with -1 on unlabelled target rows, or use the "
                "explicit form fit((Xs, ys), Xt)."
            )
        if X is None:
            raise ValueError(
                "X is None: pass the features, fit(X, y) with y = -1 on unlabelled "
                "target rows, or fit((Xs, ys), Xt)."
            )
        if sp.issparse(X):
            X = sp.csr_matrix(X)  # any sparse format, rows selectable
        elif not hasattr(X, "iloc"):
            X = np.asarray(X)
        y = check_labels(y, X.shape[0], "y")
        if is_masked(y).all():
            raise ValueError(
                "No labelled rows: every y is -1 (unlabelled). Give the labels of "
                "the source rows; -1 marks only the unlabelled target rows."
            )
        Xs, ys, Xt, yt = unpack_domains(X, y, sample_domain)
        return (Xs, ys, Xt, yt) if len(yt) else (Xs, ys, None, None)

    # ---- fit ----------------------------------------------------------------------

    #: the parameter table: name -> constraint, checked at the top of fit
    PARAMETERS = {
        "epochs": positive_int(),
        "batch_size": positive_int(),
        "learning_rate": non_negative(positive=True, optional=True),
        "adaptation_weight": non_negative(optional=True),
        "strategy_params": dict_or_none,
    }

    def _check_params(self):
        check_params(self, self.PARAMETERS)
        if isinstance(self.strategy, str) and transfers_source(
            strategy_class(self.strategy)
        ):
            raise ValueError(
                f"strategy {self.strategy!r} transfers a source model's task (its "
                "own labels) to a new one: use keras_transfer.TransferClassifier."
            )
        strategy = get_strategy(self.strategy, **(self.strategy_params or {}))
        if self.schedule is not None:
            schedules.get(self.schedule)  # fails early on an unknown name
        return strategy

    def _settings(self, strategy, kind: str) -> dict:
        """The training settings: the user's where given, else the recipe's."""
        settings = recipe_settings(strategy, kind)
        for name in ("adaptation_weight", "schedule", "optimizer", "learning_rate"):
            if getattr(self, name) is not None:
                settings[name] = getattr(self, name)
        settings["adaptation_weight"] = float(settings["adaptation_weight"])
        settings["schedule"] = schedules.get(settings["schedule"])
        return settings

    @seeded_fit_in_isolation
    @distributed
    def fit(
        self,
        X=None,
        y=None,
        *,
        source=None,
        target=None,
        sample_domain=None,
        validation_data=None,
        classes=None,
        steps_per_epoch: int | None = None,
    ):
        """Fit on labelled source rows and (unlabelled) target rows.

        Args:
            X, y: the packed form (``y == -1`` marks unlabelled rows), or
                ``X=(Xs, ys)`` and ``y=Xt`` for the explicit form.
            source: ``(Xs, ys)``, keyword form.
            target: ``Xt`` or ``(Xt, yt)`` with ``-1`` for unlabelled rows.
            sample_domain: packed form only: > 0 source rows, < 0 target rows.
            validation_data: optional ``(X_val, y_val)`` evaluated each epoch
                (e.g. for ``keras.callbacks.EarlyStopping``).
            classes: every label the data may hold. Required with a streamed
                source (its labels are not known before training); optional
                with arrays (default: the labels of the source rows).
            steps_per_epoch: streamed input only: steps (one source and one
                target batch each) per epoch. Needed when a stream has no
                length (a generator); default: batches of the longer domain.

        Returns:
            self
        """
        if any(is_stream(v) for v in (X, y, source, target)):
            return self._fit_streams(
                X,
                y,
                source,
                target,
                sample_domain,
                validation_data,
                classes,
                steps_per_epoch,
            )
        if steps_per_epoch is not None:
            raise TypeError(
                "steps_per_epoch is for streamed input; with arrays an epoch is one "
                "pass over the larger domain (set epochs instead)."
            )
        if is_auto(self.strategy) or is_auto(self.adaptation_weight):
            Xs, ys, Xt, yt = self._split_inputs(X, y, source, target, sample_domain)
            return fit_auto(self, Xs, ys, Xt, yt, validation_data, classes)
        # Seed first: layers draw their initializer seeds when constructed.
        seed = self._seed()
        strategy = self._check_params()
        Xs, ys, Xt, yt = self._split_inputs(X, y, source, target, sample_domain)
        settings = self._settings(strategy, data_kind(Xs))
        Xs, holder = check_X(self, Xs, reset=True, what="source X", keep_memmap=True)
        ys = check_labels(ys, Xs.shape[0], "source labels")
        if Xt is not None:
            check_same_shape(Xs, Xt)  # before sklearn's generic message
            Xt, _ = check_X(holder, Xt, reset=False, what="target X", keep_memmap=True)
            yt = None if yt is None else check_labels(yt, Xt.shape[0], "target labels")

        s_mask = is_masked(ys)
        t_mask = None if yt is None else is_masked(yt)
        labelled = [ys[~s_mask]] + ([] if yt is None else [yt[~t_mask]])
        labelled = np.concatenate(labelled)
        if labelled.size == 0:
            raise ValueError(
                "No labelled rows: give labels for the source rows (-1 marks only "
                "unlabelled ones)."
            )
        # The label set comes from the source; target labels must be among it.
        given = classes is not None
        if given:
            classes = check_classes(classes)
        else:
            classes = encode_labels(ys[~s_mask] if (~s_mask).any() else labelled)
        if len(classes) < 2:
            hint = ""
            if s_mask.any() or (t_mask is not None and t_mask.any()):
                hint = (
                    " (-1 marks unlabelled target rows in the packed form; if -1 is "
                    "a real class, e.g. labels -1/+1, recode them to 0/1)"
                )
            raise ValueError(
                f"Only one class ({classes.tolist()[0]!r}) among the labelled rows; a "
                f"classifier needs at least two{hint}."
            )
        ys_enc = encode(ys, classes, s_mask, given)
        yt_enc = None if yt is None else encode(yt, classes, t_mask, given)

        Xs, Xt = as_image_batch(Xs), (None if Xt is None else as_image_batch(Xt))
        target_X = Xt  # all target rows, for after_fit (AdaBN)
        if strategy.needs_target and Xt is None:
            _warn_no_target(strategy, stacklevel=3)
            settings["adaptation_weight"] = 0.0
        if not strategy.needs_target and yt_enc is not None:
            # Source-only training still learns from labelled target rows.
            keep = yt_enc >= 0
            Xt, yt_enc = Xt[keep], yt_enc[keep]
            if Xt.shape[0] == 0:
                Xt = yt_enc = None
        elif not strategy.needs_target:
            Xt = None

        batches = DomainBatches(Xs, ys_enc, Xt, yt_enc, self.batch_size, seed=seed)
        model = self._new_model(
            Xs.shape[1:],
            len(classes),
            strategy,
            settings,
            total_steps=self.epochs * len(batches),
        )
        val = validation_batches(validation_data, holder, classes, keep_memmap=True)
        history = self._train(
            model,
            batches,
            source_batches=DomainBatches(
                Xs, ys_enc, None, None, self.batch_size, seed=seed
            ),
            target_X=target_X,
            validation=val,
            callbacks=self.callbacks or [],
            steps_per_execution=backend.steps_per_execution(
                len(batches), self.callbacks
            ),
        )
        self._commit(
            holder,
            classes_=classes,
            model_=model,
            history_=dict(history.history),
            input_shape_=tuple(Xs.shape[1:]),
            strategy_=strategy.name_,
            adaptation_weight_=settings["adaptation_weight"],
        )
        self._warn_if_collapsed(strategy, ys_enc, target_X)
        return self

    def _fit_streams(
        self, X, y, source, target, sample_domain, validation_data, classes, steps
    ):
        """fit when the source or the target is a stream (data.StreamBatches)."""
        if source is None and (is_stream(X) or isinstance(X, tuple)):
            source, target, y = X, (y if target is None else target), None
        elif X is not None:
            raise TypeError(
                "Pass streams as fit(source=..., target=...) or fit(source, target)."
            )
        if y is not None or sample_domain is not None:
            raise TypeError(
                "Streamed input takes no y or sample_domain: the source yields "
                "(X_batch, y_batch) and the target X_batch or (X_batch, y_batch)."
            )
        seed = self._seed()
        strategy = self._check_params()
        if steps is not None:
            check_positive_int(steps, "steps_per_epoch")
        if classes is not None:
            classes = check_classes(classes)
        holder = None
        if is_stream(source):
            if classes is None:
                raise ValueError(
                    "A streamed source has no labels up front: pass classes=[...] "
                    "to fit with every label its batches may hold, e.g. "
                    "fit(source=batches, target=Xt, classes=[0, 1])."
                )
        else:
            if not (isinstance(source, (tuple, list)) and len(source) == 2):
                raise TypeError(
                    "source must be a stream of (X_batch, y_batch) or a pair (Xs, ys)."
                )
            Xs, ys = source
            Xs, holder = check_X(
                self, Xs, reset=True, what="source X", keep_memmap=True
            )
            ys = check_labels(ys, Xs.shape[0], "source labels")
            given = classes is not None
            if not given:
                classes = check_classes(ys[~is_masked(ys)])
            source = (as_image_batch(Xs), encode(ys, classes, is_masked(ys), given))
        target_X = None
        if is_stream(target) and strategy.needs_all_target_rows:
            raise ValueError(
                f"strategy {strategy.name_!r} reads every target row again after "
                "training, which a stream cannot give: pass the target as an array "
                "or np.memmap."
            )
        if target is not None and not is_stream(target):
            Xt, yt = (
                target
                if isinstance(target, (tuple, list)) and len(target) == 2
                else (target, None)
            )
            if holder is not None:
                check_same_shape(Xs, Xt)
            Xt, _ = check_X(
                holder or copy.copy(self),
                Xt,
                reset=holder is None,
                what="target X",
                keep_memmap=True,
            )
            target_X = as_image_batch(Xt)
            if yt is not None:
                yt = check_labels(yt, Xt.shape[0], "target labels")
                yt = encode(yt, classes, is_masked(yt), True)
            target = (target_X, yt)
        if not strategy.needs_target:
            target = None  # source-only strategies train on source batches
        adaptation_weight = None
        if strategy.needs_target and target is None:
            _warn_no_target(strategy, stacklevel=4)
            adaptation_weight = 0.0

        def encode_batch(y_batch):
            y_batch = check_labels(y_batch, len(y_batch), "y_batch")
            return encode(y_batch, classes, is_masked(y_batch), True)

        batches = StreamBatches(
            source,
            target,
            encode_labels=encode_batch,
            batch_size=self.batch_size,
            seed=seed,
        )
        steps = steps or batches.steps_per_epoch
        if steps is None:
            unknown = " and the ".join(
                name
                for name, side in (
                    ("source", batches.source),
                    ("target", batches.target),
                )
                if side is not None and side.length is None
            )
            raise ValueError(
                f"Cannot tell how many steps make an epoch: the {unknown} stream "
                "has no length (a generator, an iterator or an endless dataset). "
                "Pass steps_per_epoch=N "
                "to fit (one step = one source and one target batch; the λ "
                "schedule needs the total), or a stream with a length: a "
                "keras.utils.PyDataset, a tf.data.Dataset of known cardinality, "
                "or an iterable with __len__."
            )
        if holder is None:
            _, holder = check_X(
                self, batches.peek()[0], reset=True, what="source stream, batch 0"
            )
        input_shape = batches.row_shape
        first = batches.peek()[0]
        settings = self._settings(
            strategy, "image" if len(input_shape) > 1 else data_kind(first)
        )
        if adaptation_weight is not None:
            settings["adaptation_weight"] = adaptation_weight
        model = self._new_model(
            input_shape,
            len(classes),
            strategy,
            settings,
            total_steps=self.epochs * steps,
        )
        val = validation_batches(validation_data, holder, classes, keep_memmap=True)
        history = self._train(
            model,
            batches,
            source_batches=batches.source_batches(steps),
            target_X=target_X,
            validation=val,
            callbacks=self.callbacks or [],
            steps=steps,
        )
        return self._commit(
            holder,
            classes_=classes,
            model_=model,
            history_=dict(history.history),
            input_shape_=tuple(input_shape),
            strategy_=strategy.name_,
            adaptation_weight_=settings["adaptation_weight"],
        )

    def _new_model(
        self,
        input_shape,
        n_classes,
        strategy,
        settings,
        total_steps,
    ) -> AdaptationModel:
        """A built and compiled AdaptationModel whose λ schedule spans total_steps."""
        backbone = self.backbone
        if isinstance(backbone, str) and backbone == "auto":
            backbone = "cnn" if len(input_shape) == 3 else "mlp"
        feature_extractor = build_backbone(
            backbone,
            tuple(input_shape),
            self.feature_layer,
            **(self.backbone_params or {}),
        )
        model = AdaptationModel(
            feature_extractor,
            num_classes=n_classes,
            strategy=strategy,
            adaptation_weight=settings["adaptation_weight"],
            schedule=settings["schedule"],
        )
        model.build((None, *input_shape))
        model.set_total_steps(total_steps)
        optimizer = self._make_optimizer(
            settings["optimizer"], settings["learning_rate"]
        )
        model.compile(optimizer=optimizer, jit_compile=self.jit_compile)
        return model

    def _warn_if_collapsed(self, strategy, ys_enc, target_X):
        """Warn (CollapseWarning) when an adaptive fit shows signs of collapse.

        Sets ``collapse_report_`` (None for fits that do not adapt). Costs one
        prediction on at most 2,000 target rows.
        """
        self.collapse_report_ = None
        if not strategy.needs_target or target_X is None or not self.adaptation_weight_:
            return
        report = collapse_report(
            self._proba_of(target_X, max_rows=2000), ys_enc, self.history_
        )
        self.collapse_report_ = report
        if report.collapsed:
            warn_collapse(report, strategy.name_, stacklevel=4)


def _warn_no_target(strategy, stacklevel):
    warnings.warn(
        f"No target rows were given, so strategy {strategy.name_!r} cannot "
        "adapt: the model is fitted with adaptation_weight=0 (plain source "
        "training). Pass unlabelled target rows with y=-1, or use "
        "fit((Xs, ys), Xt).",
        UserWarning,
        stacklevel=stacklevel,
    )
