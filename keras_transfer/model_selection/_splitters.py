"""Cross-validation splitters for the packed domain-adaptation form.

A domain-adaptive model needs the unlabelled target rows while it trains, and
an unsupervised scorer needs them in the test fold, so these splitters put
target rows in both; only labelled source rows (or whole source domains) are
held out. They read ``sample_domain`` (> 0 source, < 0 target) when metadata
routing delivers it, else ``groups`` (so ``search.fit(X, y, groups=sd)``
works without routing), else the mask (``y == -1`` marks target rows).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import UNCHANGED

from keras_transfer.model_selection._packing import (
    check_sample_domain,
    domains_of,
    is_masked,
    num_rows,
)
from keras_transfer.model_selection._routing import RequestsMetadata

__all__ = ["LeaveOneDomainOut", "SourceTargetShuffleSplit"]


class _DomainSplitter(RequestsMetadata):
    _metadata_method = "split"
    _default_requests = {"groups": True, "sample_domain": True}
    _params: tuple[str, ...] = ()

    @staticmethod
    def _domains(X, y, groups, sample_domain):
        if X is None:
            raise ValueError("split needs X (or at least its number of rows).")
        n = num_rows(X)
        if sample_domain is None:
            sample_domain = groups
        return domains_of(y, sample_domain, n)

    def set_split_request(self, *, groups=UNCHANGED, sample_domain=UNCHANGED):
        """Which metadata the splitter takes when routing is on (both by default).

        Example:
        >>> from keras_transfer.model_selection import LeaveOneDomainOut
        >>> cv = LeaveOneDomainOut().set_split_request(groups=False)
        >>> cv.get_metadata_routing().split.requests
        {'groups': False, 'sample_domain': True}
        """
        return self._set_request(groups=groups, sample_domain=sample_domain)

    def __repr__(self):
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"{type(self).__name__}({args})"


class SourceTargetShuffleSplit(_DomainSplitter):
    """Shuffle split of the labelled source rows; target rows on both sides.

    Each split holds out ``test_size`` of the labelled source rows
    (stratified by label by default). The training fold gets the other
    source rows and *every* target row (unlabelled, so nothing leaks); the
    test fold gets the held-out source rows plus the target rows (all of
    them, or ``target_test_size`` of them), which is what unsupervised DA
    scorers need. Unlabelled source rows, if any, stay in training.

    Args:
        n_splits: number of splits.
        test_size: fraction (float) or number (int) of labelled source rows
            held out.
        target_test_size: None (every target row in each test fold), or the
            fraction / number of target rows in each test fold.
        stratify: keep the class proportions of the source labels.
        random_state: seed of the shuffles (int for reproducible splits).

    Example:
    >>> import numpy as np
    >>> from keras_transfer.model_selection import SourceTargetShuffleSplit
    >>> y = np.array([0, 1, 0, 1, 0, 1, -1, -1, -1])   # -1: target rows
    >>> cv = SourceTargetShuffleSplit(n_splits=2, test_size=2, random_state=0)
    >>> for train, test in cv.split(np.zeros((9, 1)), y):
    ...     print(sorted(set(train) & {6, 7, 8}), len(test))
    [6, 7, 8] 5
    [6, 7, 8] 5
    """

    _params = ("n_splits", "test_size", "target_test_size", "stratify", "random_state")

    def __init__(
        self,
        n_splits: int = 5,
        *,
        test_size: float | int = 0.2,
        target_test_size: float | int | None = None,
        stratify: bool = True,
        random_state=None,
    ):
        self.n_splits = n_splits
        self.test_size = test_size
        self.target_test_size = target_test_size
        self.stratify = stratify
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None, sample_domain=None) -> int:
        """The number of splits.

        Example:
        >>> from keras_transfer.model_selection import SourceTargetShuffleSplit
        >>> SourceTargetShuffleSplit(3).get_n_splits()
        3
        """
        return int(self.n_splits)

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Yield ``(train, test)`` row indices; see the class docstring.

        Args:
            X: the packed rows.
            y: labels, ``-1`` on unlabelled rows (needed to find the labelled
                source rows).
            groups: read as ``sample_domain`` when that is not given.
            sample_domain: > 0 source rows, < 0 target rows.
        """
        if (
            isinstance(self.n_splits, bool)
            or not isinstance(self.n_splits, numbers.Integral)
            or self.n_splits < 1
        ):
            raise ValueError(f"n_splits must be an int >= 1, got {self.n_splits!r}.")
        if y is None:
            raise ValueError(
                "SourceTargetShuffleSplit needs y to find the labelled source rows."
            )
        sd = self._domains(X, y, groups, sample_domain)
        y = np.asarray(y)
        labelled = ~is_masked(y)
        source = np.flatnonzero((sd > 0) & labelled)
        kept = np.flatnonzero((sd > 0) & ~labelled)
        target = np.flatnonzero(sd < 0)
        if source.size < 2:
            raise ValueError("Fewer than 2 labelled source rows: nothing to split.")
        if target.size == 0:
            raise ValueError(
                "No target rows: mark them with y == -1 or sample_domain < 0."
            )
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        splitter_cls = StratifiedShuffleSplit if self.stratify else ShuffleSplit
        source_splits = splitter_cls(
            self.n_splits, test_size=self.test_size, random_state=seed
        ).split(np.zeros((source.size, 1)), y[source])
        for i, (tr, te) in enumerate(source_splits):
            test_target = target
            if self.target_test_size is not None:
                _, pick = next(
                    ShuffleSplit(
                        1, test_size=self.target_test_size, random_state=seed + 1 + i
                    ).split(np.zeros((target.size, 1)))
                )
                test_target = target[np.sort(pick)]
            train = np.sort(np.concatenate([source[tr], kept, target]))
            test = np.sort(np.concatenate([source[te], test_target]))
            yield train, test


class LeaveOneDomainOut(_DomainSplitter):
    """Hold out one whole source domain per split; target rows on both sides.

    For several source domains (``sample_domain`` 1, 2, ...): split ``k``
    trains on the other source domains plus every target row, and tests on
    source domain ``k`` plus the target rows (``include_target=False``
    leaves them out of the test fold). The domains come from
    ``sample_domain`` (metadata routing) or from ``groups``.

    Args:
        include_target: put the target rows in every test fold too.

    Example:
    >>> import numpy as np
    >>> from keras_transfer.model_selection import LeaveOneDomainOut
    >>> sd = np.array([1, 1, 2, 2, -1, -1])
    >>> for train, test in LeaveOneDomainOut().split(np.zeros((6, 1)), groups=sd):
    ...     print(train.tolist(), test.tolist())
    [2, 3, 4, 5] [0, 1, 4, 5]
    [0, 1, 4, 5] [2, 3, 4, 5]
    """

    _params = ("include_target",)

    def __init__(self, include_target: bool = True):
        self.include_target = include_target

    @staticmethod
    def _sample_domain(X, groups, sample_domain):
        sd = sample_domain if sample_domain is not None else groups
        if sd is None:
            raise ValueError(
                "LeaveOneDomainOut needs the domain of each row: pass "
                "sample_domain (with metadata routing on) or groups=sample_domain "
                "(> 0 for each source domain, < 0 for target rows)."
            )
        n = num_rows(X) if X is not None else len(sd)
        return check_sample_domain(sd, n)

    def get_n_splits(self, X=None, y=None, groups=None, sample_domain=None) -> int:
        """The number of source domains.

        Example:
        >>> from keras_transfer.model_selection import LeaveOneDomainOut
        >>> LeaveOneDomainOut().get_n_splits(groups=[1, 2, 3, -1])
        3
        """
        sd = self._sample_domain(X, groups, sample_domain)
        return int(np.unique(sd[sd > 0]).size)

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Yield ``(train, test)`` row indices, one split per source domain.

        Args:
            X: the packed rows.
            y: ignored (present for the scikit-learn signature).
            groups: read as ``sample_domain`` when that is not given.
            sample_domain: > 0 source domains, < 0 target rows.
        """
        sd = self._sample_domain(X, groups, sample_domain)
        sources = np.unique(sd[sd > 0])
        if sources.size < 2:
            raise ValueError(
                f"LeaveOneDomainOut needs at least 2 source domains, found "
                f"{sources.tolist()}; use SourceTargetShuffleSplit for one."
            )
        target = np.flatnonzero(sd < 0)
        for d in sources:
            held = np.flatnonzero(sd == d)
            train = np.flatnonzero((sd > 0) & (sd != d))
            train = np.sort(np.concatenate([train, target]))
            test = (
                np.sort(np.concatenate([held, target])) if self.include_target else held
            )
            yield train, test
