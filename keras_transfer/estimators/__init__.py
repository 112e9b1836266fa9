"""The scikit-learn face of keras_transfer."""

from keras_transfer.estimators._auto import auto_candidates, fit_auto
from keras_transfer.estimators.base import BaseTransferEstimator
from keras_transfer.estimators.domain_adaptive import DomainAdaptiveClassifier
from keras_transfer.estimators.source_free import SHOTClassifier, TentClassifier
from keras_transfer.estimators.transfer import TransferClassifier

__all__ = [
    "BaseTransferEstimator",
    "DomainAdaptiveClassifier",
    "SHOTClassifier",
    "TentClassifier",
    "TransferClassifier",
    "auto_candidates",
    "fit_auto",
]
