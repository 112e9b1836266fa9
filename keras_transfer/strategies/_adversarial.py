"""The shared base of the adversarial strategies: sub-networks against the features."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_transfer.layers import DenseStack, reverse_gradient
from keras_transfer.losses import class_balance
from keras_transfer.strategies.base import Strategy


class AdversarialStrategy(Strategy):
    """Base of the strategies that train small networks against the features.

    DANN, CDAN, WDGRL, MDD, MCD (and ADDA) own one or two MLP sub-networks (a
    domain discriminator, a critic, adversarial heads) that learn at the full
    rate on the features, while the feature extractor learns to defeat them.
    Most do it through :meth:`reversal` (gradient reversal, whose factor is λ,
    the scheduled ``adaptation_weight``). This class holds what they share:
    the options below and their checks, the MLP builder (:meth:`mlp`), the
    reversal, ``adaptation_loss = adversarial_loss + BSP − λ·diversity·H``
    and ``get_config``. A subclass creates its sub-networks (in ``__init__`` or,
    when their size depends on the number of classes, in ``build``), writes
    ``call`` (which sub-network reads what) and :meth:`adversarial_loss`.

    Args:
        units: hidden units of the sub-networks (``()``: linear).
        dropout: dropout rate after each hidden layer of the sub-networks.
        bsp: weight of Batch Spectral Penalization on the features (Chen et
            al., ICML 2019; 1e-4 in the paper), 0 to leave it off.
        diversity: weight (times λ) of the class-balance term ``H(mean_t p)``,
            the entropy of the mean target prediction
            (:func:`~keras_transfer.losses.class_balance`, the diversity term
            of SHOT's information maximisation), which the loss subtracts: it
            rules out the degenerate answer of putting every target row in
            one class, and assumes the target classes are not far from
            balanced. 0 (off) by default; MCD and WDGRL turn it on.

    Example:
    >>> from keras_transfer.strategies import get_strategy
    >>> from keras_transfer.strategies._adversarial import AdversarialStrategy
    >>> dann = get_strategy("dann", units=(32,), dropout=0.1)
    >>> isinstance(dann, AdversarialStrategy), dann.get_config()["units"]
    (True, [32])
    >>> probe = dann.mlp(3, "probe")
    >>> type(probe).__name__, probe.units, probe.outputs, probe.dropout
    ('DenseStack', (32,), 3, 0.1)
    """

    def __init__(
        self,
        units: Sequence[int] = (),
        dropout: float = 0.0,
        bsp: float = 0.0,
        diversity: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        if float(bsp) < 0:
            raise ValueError(f"bsp must be >= 0, got {bsp!r}.")
        if float(diversity) < 0:
            raise ValueError(f"diversity must be >= 0, got {diversity!r}.")
        units = tuple(int(u) for u in units)
        if any(u <= 0 for u in units):
            raise ValueError(f"units must be positive integers, got {units!r}.")
        self.units = units
        self.dropout = float(dropout)
        self.bsp = float(bsp)
        self.diversity = float(diversity)

    def reversal(self, x, factor):
        """Identity forward, gradient times ``-factor`` backward (a function,
        not a nested layer: on PyTorch each layer call costs more than the
        arithmetic of a small sub-network)."""
        return reverse_gradient(x, factor)

    def mlp(
        self, outputs: int, name: str, spectral_norm: bool = False
    ) -> keras.layers.Layer:
        """An MLP sub-network: ``units`` ReLU layers, each followed by dropout
        when ``dropout > 0``, then ``outputs`` linear outputs (logits or a
        score). A :class:`~keras_transfer.layers.DenseStack` (one layer call);
        with ``spectral_norm``, a ``keras.Sequential`` whose Dense layers are
        wrapped in ``keras.layers.SpectralNormalization`` (a ≈1-Lipschitz
        critic)."""
        if not spectral_norm:
            return DenseStack(self.units, int(outputs), self.dropout, name=name)

        def dense(width, activation=None):
            layer = keras.layers.Dense(width, activation=activation)
            return keras.layers.SpectralNormalization(layer)

        layers = []
        for u in self.units:
            layers.append(dense(u, "relu"))
            if self.dropout:
                layers.append(keras.layers.Dropout(self.dropout))
        return keras.Sequential([*layers, dense(int(outputs))], name=name)

    def adversarial_loss(self, outputs: dict, batch: dict):
        """The loss of the sub-networks' game (without BSP); subclasses write it."""
        raise NotImplementedError

    def adaptation_loss(self, outputs: dict, batch: dict):
        loss = self.adversarial_loss(outputs, batch) + self.spectral_penalty(batch)
        if self.diversity:
            balance = class_balance(batch["logits"], 1.0 - batch["is_source"])
            lam = ops.cast(batch["lambda"], "float32")
            loss = loss - lam * self.diversity * balance
        return loss

    def get_config(self):
        return {
            **super().get_config(),
            "units": list(self.units),
            "dropout": self.dropout,
            "bsp": self.bsp,
            "diversity": self.diversity,
        }
