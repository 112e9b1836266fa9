"""Domain-adaptation and transfer losses as pure ``keras.ops`` functions.

Every function is backend-neutral and traceable (jit / ``tf.function``).
Two-domain losses accept optional per-row weights (e.g. 0/1 domain masks),
so they can be applied to a mixed batch without boolean indexing.
"""

from .adversarial import binary_cross_entropy_with_logits, domain_adversarial_loss
from .conditional import multilinear_map, randomized_multilinear_map
from .coral import coral, weighted_covariance
from .discrepancy import classifier_discrepancy, margin_disparity_discrepancy
from .distillation import distillation_loss
from .entropy import class_balance, entropy, entropy_weights, prediction_entropy
from .mcc import mcc
from .mmd import gaussian_kernel_matrix, linear_mmd, mmd, pairwise_squared_distances
from .pseudo_label import aligned_probabilities, pseudo_label_loss
from .spectral import batch_spectral_penalty, domain_spectral_penalty
from .wasserstein import wasserstein_critic_terms

__all__ = [
    "aligned_probabilities",
    "batch_spectral_penalty",
    "binary_cross_entropy_with_logits",
    "class_balance",
    "classifier_discrepancy",
    "coral",
    "distillation_loss",
    "domain_adversarial_loss",
    "domain_spectral_penalty",
    "entropy",
    "entropy_weights",
    "gaussian_kernel_matrix",
    "linear_mmd",
    "margin_disparity_discrepancy",
    "mcc",
    "mmd",
    "multilinear_map",
    "pairwise_squared_distances",
    "prediction_entropy",
    "pseudo_label_loss",
    "randomized_multilinear_map",
    "wasserstein_critic_terms",
    "weighted_covariance",
]
