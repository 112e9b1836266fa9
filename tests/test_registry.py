"""Tests that grow with the strategy registry.

Every registered strategy (``available_strategies()``) must have a behaviour
test listed in ``BEHAVIOUR`` (a new strategy without one fails here), and
each one is fitted cheaply through the estimator that takes it, then pickled
and reloaded with identical predictions.
"""

import importlib
import pickle
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_transfer import DomainAdaptiveClassifier, TransferClassifier
from keras_transfer.datasets import make_rotated_moons
from keras_transfer.strategies import (
    available_strategies,
    strategy_class,
    transfers_source,
)

#: strategy -> the test that checks what it does (module::function)
BEHAVIOUR = {
    "source_only": "test_domain_adaptive::test_dann_beats_source_only_on_rotated_moons",
    "dann": "test_domain_adaptive::test_dann_beats_source_only_on_rotated_moons",
    **{
        name: "test_strategies::test_strategy_moves_its_quantity"
        for name in ("mmd", "coral", "wdgrl", "cdan", "cdan+e", "mcc", "entropy")
    },
    "distill": "test_strategies::test_distill_transfers_the_teachers_target_knowledge",
    "adapter": (
        "test_strategies::test_adapter_starts_as_source_model_and_adapts_features"
    ),
    "adabn": "test_strategies::test_adabn_sets_batchnorm_statistics_to_target",
    "mdd": "test_new_strategies::test_mdd_features_shrink_the_margin_disparity",
    "mcd": "test_new_strategies::test_mcd_features_shrink_the_classifier_discrepancy",
    "adda": (
        "test_new_strategies::"
        "test_adda_target_encoder_maps_target_rows_onto_the_source_features"
    ),
    "self_training": (
        "test_self_training::test_pseudo_labels_grow_the_confident_target_set"
    ),
    **{
        name: "test_transfer::test_what_trains_under_each_strategy"
        for name in ("joint", "lwf", "residual_adapter", "lora", "fusion")
    },
}


def shipped_strategies() -> set:
    """The registry of a fresh process: what the package itself registers (a
    docstring example run in this process may have registered its own)."""
    code = (
        "from keras_transfer.strategies import available_strategies\n"
        "print(','.join(available_strategies()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(out.stdout.strip().splitlines()[-1].split(","))


def test_every_registered_strategy_has_a_behaviour_test():
    missing = sorted(shipped_strategies() - set(BEHAVIOUR))
    assert not missing, (
        f"strategies without a behaviour test: {missing}; add one and list it "
        "in tests/test_registry.py::BEHAVIOUR"
    )
    for name, where in BEHAVIOUR.items():
        module, function = where.split("::")
        assert callable(getattr(importlib.import_module(module), function)), name


def test_strategy_attributes_are_valid():
    for name in available_strategies():
        cls = strategy_class(name)
        assert cls.task_rows in ("labelled", "target"), name
        assert cls.source_rows in ("none", "labelled", "inputs"), name
        assert isinstance(cls.recipe, dict), name


def bn_backbone(input_shape):
    inputs = keras.Input(tuple(input_shape))
    h = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.BatchNormalization()(h))


@pytest.mark.parametrize("name", available_strategies())
def test_each_strategy_fits_pickles_and_reloads(name):
    Xs, ys, Xt, yt = make_rotated_moons(64, 64, angle=30, random_state=0)
    small = {"epochs": 1, "batch_size": 32, "random_state": 0}
    if transfers_source(strategy_class(name)):
        clf = TransferClassifier(
            name,
            backbone="mlp",
            backbone_params={"units": (8,)},
            pretrain_epochs=1,
            **small,
        )
        clf.fit(source=(Xs, ys), target=(Xt, yt))
    else:
        backbone = bn_backbone if name == "adabn" else "mlp"
        clf = DomainAdaptiveClassifier(name, backbone=backbone, **small)
        clf.fit((Xs, ys), Xt)
    assert clf.model_.strategy.name_ == name
    proba = clf.predict_proba(Xt)
    assert proba.shape == (64, 2) and np.all(np.isfinite(proba))
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(Xt), proba)
