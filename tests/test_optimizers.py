"""fresh_optimizer: the one copy of an optimizer (adapter, distill, adda)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer._optimizers import fresh_optimizer, recompile
from keras_transfer.freezing import set_lr_multiplier, with_lr_multipliers


def small_model():
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)]
    )


def test_overrides_apply_and_the_original_is_untouched():
    opt = keras.optimizers.Adam(learning_rate=0.01, beta_1=0.8, epsilon=1e-6)
    new = fresh_optimizer(opt, learning_rate=0.1, beta_1=0.5)
    assert type(new) is type(opt) and new is not opt  # torch: a subclass of Adam
    assert float(new.learning_rate) == pytest.approx(0.1)
    assert new.beta_1 == 0.5 and new.epsilon == 1e-6
    assert float(opt.learning_rate) == pytest.approx(0.01) and opt.beta_1 == 0.8
    # None and settings the optimizer lacks are ignored (SGD has no beta_1).
    same = fresh_optimizer(opt, learning_rate=None)
    assert float(same.learning_rate) == pytest.approx(0.01) and same.beta_1 == 0.8
    sgd = fresh_optimizer(keras.optimizers.SGD(0.2, momentum=0.9), beta_1=0.5)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9
    assert "beta_1" not in sgd.get_config()


def test_a_compiled_model_gives_its_optimizer():
    model = small_model()
    model.compile(keras.optimizers.RMSprop(0.003), "mse")
    model.optimizer.build(model.trainable_variables)
    new = fresh_optimizer(model)
    assert type(new) is type(model.optimizer) and not new.built
    assert float(new.learning_rate) == pytest.approx(0.003)


def test_a_multiplier_optimizer_keeps_its_class_and_groups():
    """TransferClassifier's per-group optimizers (freezing.with_lr_multipliers):
    the copy is of the same on-the-fly class, with the same groups and their
    initial multipliers, and it trains like the original (group 0 frozen)."""
    model = small_model()
    first, second = model.layers
    opt = with_lr_multipliers("adam", [([first], 0.0), ([second], 0.25)])
    opt.build(model.trainable_variables)
    set_lr_multiplier(opt, 1, 0.75)  # a callback's change: not carried over
    new = fresh_optimizer(opt, learning_rate=0.05)
    assert type(new) is type(opt) and new.__class__.__name__ == "LRMultiplierAdam"
    assert float(new.learning_rate) == pytest.approx(0.05)
    new.build(model.trainable_variables)
    got = [float(keras.ops.convert_to_numpy(m)) for m in new.lr_multipliers]
    assert got == [0.0, 0.25]
    model.compile(new, "mse")
    frozen = first.get_weights()[0].copy()
    moved = second.get_weights()[0].copy()
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(first.get_weights()[0], frozen)
    assert not np.array_equal(second.get_weights()[0], moved)


def test_a_loss_scale_optimizer_wraps_a_fresh_inner_copy():
    inner = keras.optimizers.Adam(0.01)
    opt = keras.optimizers.LossScaleOptimizer(inner, initial_scale=128.0)
    new = fresh_optimizer(opt, learning_rate=0.02, beta_1=0.5)
    assert isinstance(new, keras.optimizers.LossScaleOptimizer)
    assert new.initial_scale == 128.0 and new.inner_optimizer is not inner
    assert type(new.inner_optimizer) is type(inner)
    assert new.inner_optimizer.beta_1 == 0.5
    assert float(new.inner_optimizer.learning_rate) == pytest.approx(0.02)


def test_recompile_keeps_the_compile_settings():
    model = small_model()
    model.compile(keras.optimizers.Adam(0.01), "mse", run_eagerly=True)
    before = model.optimizer
    recompile(model, beta_1=0.5)
    assert model.optimizer is not before and model.optimizer.beta_1 == 0.5
    assert model.run_eagerly


def test_an_estimator_copies_the_users_optimizer(small_moons):
    from keras_transfer import DomainAdaptiveClassifier

    Xs, ys, Xt, _ = small_moons
    opt = keras.optimizers.SGD(0.05, momentum=0.9)
    clf = DomainAdaptiveClassifier(optimizer=opt, epochs=1, random_state=0)
    used = clf.fit((Xs, ys), Xt).model_.optimizer
    assert used is not opt and isinstance(used, keras.optimizers.SGD)
    assert used.momentum == 0.9 and float(used.learning_rate) == pytest.approx(0.05)
    assert not opt.built  # the user's instance never trains
    # learning_rate= replaces the instance's rate, in the copy only
    clf = DomainAdaptiveClassifier(
        optimizer=opt, learning_rate=0.01, epochs=1, random_state=0
    )
    used = clf.fit((Xs, ys), Xt).model_.optimizer
    assert float(used.learning_rate) == pytest.approx(0.01)
    assert float(opt.learning_rate) == pytest.approx(0.05)


class _OptimizerStateAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.built = self.model.optimizer.built
        self.n_variables = len(self.model.optimizer.variables)


def test_the_optimizer_is_built_before_the_first_step(small_moons):
    # Keras's TensorFlow trainer would create the optimizer's slots inside
    # the first traced step, which traces that step twice; the model builds
    # them before fit, on every backend, with every trainable variable.
    from keras_transfer import DomainAdaptiveClassifier

    Xs, ys, Xt, _ = small_moons
    probe = _OptimizerStateAtStart()
    clf = DomainAdaptiveClassifier("dann", epochs=1, callbacks=[probe], random_state=0)
    model = clf.fit((Xs, ys), Xt).model_
    assert probe.built
    assert probe.n_variables == len(model.optimizer.variables)
    assert probe.n_variables > 2 * len(model.trainable_variables)  # Adam's slots
