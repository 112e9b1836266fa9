"""Collapse detection: signs that an adaptive fit diverged, without target labels.

An adaptation loss can win against the task: the target predictions fall onto
one or two classes (entropy minimisation without a diversity term, an
over-weighted adversary), the source accuracy falls during training, or a loss
turns non-finite. None of that needs target labels to see. The estimators run
:func:`collapse_report` after every adaptive fit, warn with
:class:`CollapseWarning` when it fires, and ``"auto"`` drops such candidates.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

__all__ = ["CollapseReport", "CollapseWarning", "collapse_report"]

#: Total-variation distance between the predicted target class shares and the
#: source class shares above which the predictions count as collapsed. 0.4 is
#: 90 % of the rows in one class for two balanced classes, or half of ten
#: balanced classes never predicted; a real label shift that large is rare.
MAX_PREDICTION_SHIFT = 0.4
#: Fall of the per-epoch source (task) accuracy, best epoch to last, that counts
#: as the adaptation term overpowering the task.
MAX_SOURCE_ACCURACY_DROP = 0.1


class CollapseWarning(UserWarning):
    """An adaptive fit shows signs of collapse (see :func:`collapse_report`)."""


@dataclasses.dataclass
class CollapseReport:
    """What :func:`collapse_report` found; truthy when the fit looks collapsed.

    Attributes:
        collapsed: whether any sign fired.
        reasons: one sentence per sign that fired.
        target_class_shares: share of target rows predicted as each class.
        source_class_shares: share of each class among the source labels.
        prediction_shift: total-variation distance between the two (0 to 1).
        source_accuracy_drop: best minus last per-epoch source accuracy, or
            None without a history.
    """

    collapsed: bool
    reasons: list
    target_class_shares: np.ndarray
    source_class_shares: np.ndarray
    prediction_shift: float
    source_accuracy_drop: float | None

    def __bool__(self) -> bool:
        return self.collapsed


def _shares(counts) -> np.ndarray:
    counts = np.asarray(counts, "float64")
    return counts / max(counts.sum(), 1.0)


def collapse_report(
    target_proba,
    source_labels,
    history: dict | None = None,
    *,
    max_prediction_shift: float = MAX_PREDICTION_SHIFT,
    max_source_accuracy_drop: float = MAX_SOURCE_ACCURACY_DROP,
) -> CollapseReport:
    """Check an adaptive fit for collapse, without target labels.

    Three signs, each a reason in the report:

    * the class shares predicted on the target rows are far from the source
      class shares (total-variation distance ≥ ``max_prediction_shift``);
    * the per-epoch source accuracy in ``history`` (Keras's ``accuracy``
      entry) fell by ≥ ``max_source_accuracy_drop`` from its best epoch;
    * a loss in ``history`` is not finite.

    Args:
        target_proba: (n_target, n_classes) predicted probabilities.
        source_labels: encoded source labels (ints in ``[0, n_classes)``;
            negative values, i.e. unlabelled rows, are ignored).
        history: a Keras ``History.history`` dict, or None.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.diagnostics import collapse_report
    >>> ys = np.array([0, 1] * 50)
    >>> healthy = np.tile([[0.8, 0.2], [0.3, 0.7]], (50, 1))
    >>> bool(collapse_report(healthy, ys))
    False
    >>> collapsed = np.tile([[0.9, 0.1]], (100, 1))
    >>> report = collapse_report(collapsed, ys)
    >>> bool(report), report.target_class_shares.tolist()
    (True, [1.0, 0.0])
    """
    proba = np.asarray(target_proba, "float64")
    if proba.ndim != 2 or proba.shape[0] == 0:
        raise ValueError(
            f"target_proba must be (n_rows, n_classes) with rows, got {proba.shape}."
        )
    k = proba.shape[1]
    labels = np.asarray(source_labels).astype("int64").ravel()
    labels = labels[(labels >= 0) & (labels < k)]
    source = (
        _shares(np.bincount(labels, minlength=k)) if labels.size else np.full(k, 1 / k)
    )
    target = _shares(np.bincount(np.argmax(proba, axis=1), minlength=k))
    shift = float(0.5 * np.abs(target - source).sum())
    reasons = []
    if not np.isfinite(proba).all():
        reasons.append("the model predicts non-finite probabilities")
    elif shift >= max_prediction_shift - 1e-12:
        top = np.argsort(target)[::-1][: min(3, k)]
        shares = ", ".join(f"class #{i}: {target[i]:.0%}" for i in top)
        reasons.append(
            f"the target predictions collapsed onto few classes ({shares}; "
            f"distance to the source class shares {shift:.2f})"
        )
    drop = None
    history = history or {}
    acc = np.asarray(history.get("accuracy", []), "float64")
    if acc.size >= 2 and np.isfinite(acc).all():
        drop = float(acc.max() - acc[-1])
        if drop >= max_source_accuracy_drop:
            reasons.append(
                f"the source accuracy fell from {acc.max():.3f} to {acc[-1]:.3f} "
                "during training"
            )
    bad = sorted(
        key
        for key, values in history.items()
        if key.endswith("loss") and not np.isfinite(np.asarray(values, "float64")).all()
    )
    if bad:
        reasons.append(f"non-finite training losses ({', '.join(bad)})")
    return CollapseReport(
        collapsed=bool(reasons),
        reasons=reasons,
        target_class_shares=target,
        source_class_shares=source,
        prediction_shift=shift,
        source_accuracy_drop=drop,
    )


def warn_collapse(report: CollapseReport, strategy: str, stacklevel: int = 2) -> None:
    """Issue a :class:`CollapseWarning` that says what fired and what to do."""
    warnings.warn(
        f"The {strategy!r} fit looks collapsed: {'; '.join(report.reasons)}. The "
        "adaptation term may have overpowered the task: try a smaller "
        "adaptation_weight, adaptation_weight='auto' (which keeps source-only "
        "among its candidates), or strategy='source_only'. Details in "
        "collapse_report_.",
        CollapseWarning,
        stacklevel=stacklevel + 1,
    )
