"""TransferClassifier's methods: a registered strategy plus a freezing policy."""

from __future__ import annotations

from typing import NamedTuple

from keras_transfer.strategies import available_strategies, strategy_class


class Method(NamedTuple):
    """A transfer method: a registered strategy (the loss and its parts) and
    a freezing / optimizer policy of the transferred network."""

    strategy: str = "source_only"
    freeze: object = "none"  # default policy; "half": the lower half
    locked: bool = False  # the policy is the method (freeze= cannot change it)
    gradual: bool = False  # gradual unfreezing from the top, one layer an epoch
    head_warmup: float = 0.0  # share of the epochs the new head trains alone


#: ``TransferClassifier(strategy=...)`` names -> method.
METHODS = {
    "feature_extraction": Method(freeze="all", locked=True),
    # plain fine-tuning: every layer at the full rate from the first step
    "fine_tune": Method(),
    # LP-FT (Kumar et al., ICLR 2022): the new head alone for the first fifth
    # of the epochs, then everything at the full rate. Not the default: 3
    # label draws (docs/benchmarks_transfer_defaults.md) gained over plain
    # fine-tuning with a related source (MNIST→USPS: +2.0 / +0.7 points at 1
    # / 5 labels a class) but lost at every budget with an unrelated one
    # (Fashion-MNIST→MNIST: -2.9 / -2.2 / -2.1 / -1.0 / -0.8).
    "lp_ft": Method(head_warmup=0.2),
    "partial": Method(freeze="half"),
    "gradual": Method(gradual=True),
    "joint": Method("joint"),
    "lwf": Method("lwf"),
    "adapter": Method("residual_adapter", freeze="all", locked=True),
    "lora": Method("lora", freeze="all", locked=True),
    "fusion": Method("fusion", freeze="all"),
}


def method_of(name) -> Method:
    """The method a ``strategy=`` name stands for: a name of :data:`METHODS`,
    or any registered strategy that takes a source model's parts (its own
    default policy: nothing frozen).

    Example:
    >>> from keras_transfer.estimators._methods import method_of
    >>> method_of("adapter").strategy, method_of("partial").freeze
    ('residual_adapter', 'half')
    """
    if isinstance(name, str) and name in METHODS:
        return METHODS[name]
    if isinstance(name, str) and name in available_strategies(transfer=True):
        return Method(name)
    raise ValueError(
        f"Unknown strategy {name!r}; use one of {list(METHODS)} (or a registered "
        f"transfer strategy: {available_strategies(transfer=True)})."
    )


def keeps_source() -> list[str]:
    """The methods whose fitted model still predicts the source task.

    Example:
    >>> from keras_transfer.estimators._methods import keeps_source
    >>> keeps_source()
    ['joint', 'lwf', 'adapter', 'lora']
    """
    return [
        name
        for name, method in METHODS.items()
        if strategy_class(method.strategy).predicts_source
    ]
