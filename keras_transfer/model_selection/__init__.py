"""Model selection for domain adaptation without target labels.

* Scorers that rank models by what they do on unlabelled target rows:
  :class:`PredictionEntropyScorer`, :class:`ImportanceWeightedScorer` (IWV),
  :class:`DeepEmbeddedValidation` (DEV), :class:`SoftNeighborhoodDensity`
  (SND), :class:`CircularValidation` (reverse validation), and the supervised
  :class:`TargetAccuracyScorer` for benchmarks that have target labels.
* Splitters that keep target rows in every fold:
  :class:`SourceTargetShuffleSplit`, :class:`LeaveOneDomainOut`.
* Transferability scores that rank source networks (or feature layers) for
  a target task before fine-tuning: :func:`logme`, :func:`h_score`,
  :func:`leep`, :func:`nce`, and :class:`TransferabilityScorer` for a
  ``GridSearchCV`` over a :class:`~keras_transfer.TransferClassifier`'s
  ``source_model`` / ``feature_layer``.
* :func:`pack_domains` / :func:`unpack_domains` between ``(source, target)``
  and the packed form ``(X, y, sample_domain)`` (skada's convention).

Public scikit-learn APIs only; metadata routing is used when the user turns
it on and never switched on here. Importing this package does not import
Keras.

Example:
>>> from sklearn.model_selection import GridSearchCV
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from keras_transfer import DomainAdaptiveClassifier
>>> from keras_transfer.datasets import make_rotated_moons
>>> from keras_transfer.model_selection import (
...     SoftNeighborhoodDensity, SourceTargetShuffleSplit, pack_domains)
>>> Xs, ys, Xt, yt = make_rotated_moons(100, 100, random_state=0)
>>> X, y, _ = pack_domains(source=(Xs, ys), target=Xt)
>>> search = GridSearchCV(
...     make_pipeline(StandardScaler(),
...                   DomainAdaptiveClassifier(epochs=2, random_state=0)),
...     {"domainadaptiveclassifier__strategy": ["source_only", "dann"]},
...     scoring=SoftNeighborhoodDensity(),
...     cv=SourceTargetShuffleSplit(n_splits=1, random_state=0),
... ).fit(X, y)
>>> search.predict(Xt).shape
(100,)
"""

from keras_transfer.model_selection._packing import (
    is_masked,
    pack_domains,
    unpack_domains,
)
from keras_transfer.model_selection._scorers import (
    CircularValidation,
    DeepEmbeddedValidation,
    DomainAdaptationScorer,
    ImportanceWeightedScorer,
    PredictionEntropyScorer,
    ReverseValidation,
    SoftNeighborhoodDensity,
    TargetAccuracyScorer,
    unsupervised_scorers,
)
from keras_transfer.model_selection._splitters import (
    LeaveOneDomainOut,
    SourceTargetShuffleSplit,
)
from keras_transfer.model_selection._transferability import (
    TransferabilityScorer,
    h_score,
    leep,
    logme,
    nce,
)

__all__ = [
    "CircularValidation",
    "DeepEmbeddedValidation",
    "DomainAdaptationScorer",
    "ImportanceWeightedScorer",
    "LeaveOneDomainOut",
    "PredictionEntropyScorer",
    "ReverseValidation",
    "SoftNeighborhoodDensity",
    "SourceTargetShuffleSplit",
    "TargetAccuracyScorer",
    "TransferabilityScorer",
    "h_score",
    "is_masked",
    "leep",
    "logme",
    "nce",
    "pack_domains",
    "unpack_domains",
    "unsupervised_scorers",
]
