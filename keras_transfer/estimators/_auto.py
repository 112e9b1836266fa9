"""The label-free choice of λ and strategy inside ``fit`` (``"auto"``).

``DomainAdaptiveClassifier(adaptation_weight="auto")`` and/or
``strategy="auto"`` fit a small set of candidates, always with source-only
among them, and keep the one that a rule without target labels prefers:

1. a stratified 20 % of the labelled source rows is held out; every candidate
   is fitted on the other source rows and all target rows (same seed);
2. a candidate is dropped when its fit looks collapsed
   (:func:`~keras_transfer.diagnostics.collapse_report`), when its target
   predictions moved much further from the source class shares than
   source-only's (by more than 0.2 in total variation), or when its accuracy on
   the held-out source rows is below source-only's by more than
   ``max(1 point, 2 standard errors)``;
3. among the rest (source-only is never dropped), the winner is the one whose
   target predictions agree most with the ensemble of them all (the mean of
   their probabilities; ensemble-based validation, "EnsV", Hu et al. 2023): the
   ensemble is at least as accurate as its average member on most tasks, so
   agreement with it is a label-free proxy for target accuracy, and a
   candidate that went its own way (the ones that lose to source-only) agrees
   least. Each candidate's probabilities are first calibrated by temperature
   scaling on the held-out source rows, so that an overconfident candidate does
   not outweigh the others in the ensemble. Ties go to the earlier candidate
   (source-only first).

The winner is the candidate fitted in step 1 (no refit), so its checks hold
for the model that is returned. ``selection_`` lists every candidate with its
scores. Cost: one fit per candidate (``1 + len(strategies) * len(weights)``,
see :func:`auto_candidates`), plus a prediction on at most 2,000 target rows
and on the held-out source rows each.

The information maximisation score ``H(mean p) - mean H(p)`` of each candidate
is reported in ``selection_`` beside the agreement. It chose the winner in
earlier versions and lost to source-only by 1-2.5 points on three Amazon pairs,
where it preferred ``mmd``'s confident predictions (docs/benchmarks_auto.md
compares both rules on the same candidates). With only two eligible
candidates the ensemble follows, row by row, the more confident of them
(exactly so for two classes), so the rule then prefers the more confident
candidate, as the information score does.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from keras_transfer.data import is_stream
from keras_transfer.diagnostics.collapse import CollapseWarning, collapse_report
from keras_transfer.estimators._validation import check_labels, is_masked
from keras_transfer.strategies import data_kind, recipe_settings

#: Multipliers of the recipe's λ tried by ``adaptation_weight="auto"``.
AUTO_WEIGHTS = (0.1, 0.3, 1.0)
#: Strategies tried by ``strategy="auto"`` (source-only is always added): the
#: ones that paid off at their defaults on images, text and dense features in
#: docs/benchmarks_defaults.md. ``adda`` is the strongest on digits and Amazon
#: reviews; where it drifts (dense features: its held-out source accuracy
#: falls) the checks drop it. Not ``mcc``: it sharpens the target predictions
#: and lost 4-7 points to source-only where the source model is mostly wrong
#: on the target (Amazon Kitchen→DVD, Kitchen→Books; MNIST-M→MNIST features).
AUTO_STRATEGIES = ("mmd", "dann", "cdan", "adda")
VALIDATION_FRACTION = 0.2
#: A candidate whose predicted target class shares are further from the source
#: shares than source-only's by more than this is dropped.
MAX_EXTRA_SHIFT = 0.2
MAX_TARGET_ROWS = 2000


def is_auto(value) -> bool:
    """Whether a parameter value asks for the label-free choice."""
    return isinstance(value, str) and value.lower() == "auto"


def auto_candidates(estimator, kind: str) -> list[tuple[str, float]]:
    """``(strategy, λ)`` pairs that ``"auto"`` fits, source-only first.

    The strategy is a name, or the estimator's own Strategy instance.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.estimators import auto_candidates
    >>> clf = DomainAdaptiveClassifier("mmd", adaptation_weight="auto")
    >>> auto_candidates(clf, "dense")
    [('source_only', 0.0), ('mmd', 0.1), ('mmd', 0.3), ('mmd', 1.0)]
    """
    if is_auto(estimator.strategy):
        names = AUTO_STRATEGIES
    else:
        names = (estimator.strategy,)
    out = [("source_only", 0.0)]
    for name in names:
        if _label(name) == "source_only":
            continue
        if is_auto(estimator.adaptation_weight):
            base = float(recipe_settings(name, kind)["adaptation_weight"])
            weights = [round(base * m, 6) for m in AUTO_WEIGHTS]
        elif estimator.adaptation_weight is None:
            weights = [float(recipe_settings(name, kind)["adaptation_weight"])]
        else:
            weights = [float(estimator.adaptation_weight)]
        out.extend((name, w) for w in weights if w > 0)
    return out


def _label(strategy) -> str:
    return strategy if isinstance(strategy, str) else strategy.name_


#: Temperatures tried when calibrating a candidate on the held-out source rows.
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T that minimises the NLL of softmax(logits / T) on
    labelled rows (temperature scaling, Guo et al. 2017)."""
    rows = np.arange(len(labels))
    nll = [
        -np.mean(np.log(_softmax(logits / t)[rows, labels] + 1e-12))
        for t in TEMPERATURES
    ]
    return float(TEMPERATURES[int(np.argmin(nll))])


def _information(proba: np.ndarray) -> float:
    """H(mean p) - mean H(p), in nats (higher: confident and diverse)."""
    eps = 1e-12
    mean = proba.mean(axis=0)
    marginal = -np.sum(mean * np.log(mean + eps))
    conditional = -np.mean(np.sum(proba * np.log(proba + eps), axis=1))
    return float(marginal - conditional)


def _check_inputs(estimator, Xs, ys, Xt):
    if any(is_stream(v) for v in (Xs, ys, Xt)):
        raise ValueError(
            "strategy='auto' / adaptation_weight='auto' need the source and target "
            "as arrays (they hold out source rows and score every target row); "
            "pass arrays, or fix the strategy and λ for streamed input."
        )
    if Xt is None:
        raise ValueError(
            "strategy='auto' / adaptation_weight='auto' choose by what each "
            "candidate does on the target rows: pass unlabelled target rows, "
            "e.g. fit((Xs, ys), Xt)."
        )
    if is_auto(estimator.strategy) and estimator.strategy_params:
        raise ValueError(
            "strategy_params apply to one strategy; with strategy='auto' leave them "
            "unset, or fix the strategy."
        )


def _split_source(Xs, ys, seed):
    """(train rows, validation rows) of the source, stratified where possible."""
    ys = check_labels(ys, Xs.shape[0], "source labels")
    labelled = np.flatnonzero(~is_masked(ys))
    labels = ys[labelled]
    _, counts = np.unique(labels.astype(str), return_counts=True)
    n_val = int(round(VALIDATION_FRACTION * labelled.size))
    if n_val < 2 * counts.size or labelled.size - n_val < 2 * counts.size:
        raise ValueError(
            f"'auto' holds out {VALIDATION_FRACTION:.0%} of the labelled source rows "
            f"to compare candidates; {labelled.size} labelled rows of "
            f"{counts.size} classes are too few. Fix strategy and adaptation_weight."
        )
    stratify = labels if counts.min() >= 2 else None
    train, val = train_test_split(
        labelled, test_size=n_val, stratify=stratify, random_state=seed
    )
    unlabelled = np.setdiff1d(np.arange(Xs.shape[0]), labelled)
    return np.sort(np.concatenate([train, unlabelled])), np.sort(val)


def _rows(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def fit_auto(estimator, Xs, ys, Xt, yt, validation_data=None, classes=None):
    """Fit the ``"auto"`` candidates and keep the label-free winner (see module doc).

    Sets on ``estimator`` the winner's fitted attributes plus
    ``strategy_``, ``adaptation_weight_`` and ``selection_`` (a dict of
    equal-length lists: one entry per candidate; ``pandas.DataFrame(
    clf.selection_)`` shows it as a table).

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("mmd", adaptation_weight="auto", epochs=2,
    ...                                random_state=0).fit((Xs, ys), Xt)
    >>> clf.selection_["strategy"]
    ['source_only', 'mmd', 'mmd', 'mmd']
    >>> sum(clf.selection_["selected"])
    1
    """
    _check_inputs(estimator, Xs, ys, Xt)
    seed = estimator.random_state
    seed = seed if seed is None or isinstance(seed, int) else 0
    train, val = _split_source(Xs, ys, seed)
    ys = np.asarray(ys)
    Xs_train, ys_train = _rows(Xs, train), ys[train]
    Xs_val, ys_val = _rows(Xs, val), ys[val]
    target = Xt if yt is None else (Xt, yt)
    kind = data_kind(Xs)
    rows = []
    reference = None
    for name, weight in auto_candidates(estimator, kind):
        candidate = clone(estimator).set_params(
            strategy=name,
            adaptation_weight=weight,
            strategy_params=None
            if is_auto(estimator.strategy)
            else estimator.strategy_params,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CollapseWarning)
            candidate.fit(
                (Xs_train, ys_train),
                target,
                validation_data=validation_data,
                classes=classes,
            )
        seconds = time.perf_counter() - start
        source_logits = np.asarray(candidate._model_outputs(Xs_val), "float64")
        val_enc = np.searchsorted(candidate.classes_, ys_val)
        source_acc = float(np.mean(np.argmax(source_logits, axis=1) == val_enc))
        Xt_checked = candidate._prediction_input(
            np.asarray(Xt) if not hasattr(Xt, "shape") else Xt
        )
        proba = candidate._proba_of(Xt_checked, max_rows=MAX_TARGET_ROWS)
        # Calibrated on the held-out source rows, so that a candidate that is
        # merely overconfident (e.g. one whose loss sharpens predictions) does
        # not win on target confidence alone.
        temperature = _temperature(source_logits, val_enc)
        calibrated = _softmax(np.log(proba + 1e-12) / temperature)
        encoded = np.searchsorted(candidate.classes_, ys_train[~is_masked(ys_train)])
        report = collapse_report(
            proba, encoded, candidate.history_ if weight > 0 else None
        )
        row = {
            "strategy": _label(name),
            "adaptation_weight": weight,
            "source_accuracy": source_acc,
            "target_information": _information(calibrated),
            "proba": calibrated,
            "temperature": temperature,
            "prediction_shift": report.prediction_shift,
            "collapsed": bool(report.collapsed) if weight > 0 else False,
            "reason": "; ".join(report.reasons) if weight > 0 else "",
            "fit_seconds": round(seconds, 3),
            "estimator": candidate,
        }
        if reference is None:
            reference = row  # source-only
        rows.append(row)
    _judge(rows, reference, n_val=len(val))
    _agreement(rows)
    best = max(
        (r for r in rows if r["eligible"]),
        key=lambda r: r["ensemble_agreement"],
    )
    winner = best["estimator"]
    fitted = {
        k: v
        for k, v in vars(winner).items()
        if k.endswith("_") and not k.startswith("_")
    }
    estimator._commit(winner, **fitted)
    estimator.strategy_ = best["strategy"]
    estimator.adaptation_weight_ = best["adaptation_weight"]
    estimator.selection_ = {
        key: [r[key] for r in rows]
        for key in (
            "strategy",
            "adaptation_weight",
            "source_accuracy",
            "ensemble_agreement",
            "target_information",
            "temperature",
            "prediction_shift",
            "collapsed",
            "eligible",
            "reason",
            "fit_seconds",
        )
    }
    estimator.selection_["selected"] = [r is best for r in rows]
    dropped = [r for r in rows[1:] if not r["eligible"]]
    if (
        rows[1:]
        and len(dropped) == len(rows) - 1
        and any(r["collapsed"] for r in dropped)
    ):
        warnings.warn(
            "'auto' kept source-only: every adaptive candidate was dropped, "
            "some as collapsed (see selection_['reason']).",
            CollapseWarning,
            stacklevel=3,
        )
    return estimator


def _agreement(rows) -> None:
    """Each candidate's share of target rows whose class is the class of the
    eligible candidates' mean probability (the ensemble), as
    ``row["ensemble_agreement"]``; each row's ``"proba"`` is removed (not kept
    in ``selection_``)."""
    eligible = [r["proba"] for r in rows if r["eligible"]]
    vote = np.argmax(np.mean(eligible, axis=0), axis=1)
    for row in rows:
        row["ensemble_agreement"] = float(
            np.mean(np.argmax(row.pop("proba"), axis=1) == vote)
        )


def _judge(rows, reference, n_val: int) -> None:
    """Mark each candidate eligible or not, with the reason (see module doc)."""
    acc = reference["source_accuracy"]
    tolerance = max(0.01, 2.0 * np.sqrt(max(acc * (1 - acc), 1e-4) / max(n_val, 1)))
    for row in rows:
        reasons = [row["reason"]] if row["reason"] else []
        if row is not reference:
            if (
                row["prediction_shift"]
                > reference["prediction_shift"] + MAX_EXTRA_SHIFT
            ):
                reasons.append(
                    f"target class shares {row['prediction_shift']:.2f} from the "
                    f"source shares (source-only: {reference['prediction_shift']:.2f})"
                )
                row["collapsed"] = True
            if row["source_accuracy"] < acc - tolerance:
                reasons.append(
                    f"held-out source accuracy {row['source_accuracy']:.3f} below "
                    f"source-only's {acc:.3f} by more than {tolerance:.3f}"
                )
        row["reason"] = "; ".join(reasons)
        row["eligible"] = row is reference or not reasons
