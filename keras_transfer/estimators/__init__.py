"""The scikit-learn face of keras_transfer."""

from keras_transfer.estimators.base import BaseTransferEstimator
from keras_transfer.estimators.domain_adaptive import DomainAdaptiveClassifier

__all__ = ["BaseTransferEstimator", "DomainAdaptiveClassifier"]
