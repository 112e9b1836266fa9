import keras
import numpy as np
import pytest
from helpers import input_gradient
from keras import ops

from keras_transfer import schedules
from keras_transfer.layers import GradientReversal


@pytest.mark.parametrize("factor", [0.0, 0.5, 1.0, 3.0])
def test_gradient_reversal_identity_forward_negated_gradient(factor):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5)).astype("float32")
    upstream = rng.normal(size=(4, 5)).astype("float32")
    layer = GradientReversal()
    out = ops.convert_to_numpy(layer(x, factor=factor))
    np.testing.assert_array_equal(out, x)  # exactly the identity
    grad = input_gradient(lambda v: layer(v, factor=factor), x, upstream)
    np.testing.assert_allclose(grad, -factor * upstream, rtol=1e-6, atol=1e-7)


def test_gradient_reversal_default_factor_and_serialization():
    layer = GradientReversal(factor=2.0)
    x = np.ones((2, 3), "float32")
    grad = input_gradient(layer, x, np.ones_like(x))
    np.testing.assert_allclose(grad, -2.0 * np.ones_like(x))
    clone = GradientReversal.from_config(layer.get_config())
    assert clone.factor == 2.0
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, GradientReversal) and restored.factor == 2.0


def test_gradient_reversal_inside_jit_compiled_model():
    inputs = keras.Input((3,))
    out = keras.layers.Dense(1)(GradientReversal(1.0)(inputs))
    model = keras.Model(inputs, out)
    model.compile("sgd", "mse", jit_compile="auto")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    dense = model.layers[-1]
    expected = x @ ops.convert_to_numpy(dense.kernel) + ops.convert_to_numpy(dense.bias)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5
    )


def test_schedules_values():
    np.testing.assert_allclose(float(schedules.Constant()(0.7)), 1.0)
    ganin = schedules.Ganin(gamma=10.0)
    for p in (0.0, 0.1, 0.5, 1.0):
        expected = 2.0 / (1.0 + np.exp(-10.0 * p)) - 1.0
        np.testing.assert_allclose(float(ganin(p)), expected, rtol=1e-6, atol=1e-7)
    warm = schedules.Warmup(0.2)
    np.testing.assert_allclose(
        [float(warm(p)) for p in (0.0, 0.1, 0.2, 0.9)], [0.0, 0.5, 1.0, 1.0], rtol=1e-6
    )


def test_schedules_get_and_serialize():
    assert schedules.get("ganin") == schedules.Ganin()
    assert schedules.get(None) == schedules.Constant()
    custom = schedules.Ganin(gamma=5.0)
    assert schedules.get(custom) is custom
    assert schedules.deserialize(schedules.serialize(custom)) == custom
    with pytest.raises(ValueError, match="Unknown λ schedule"):
        schedules.get("cosine-ish")
    with pytest.raises(ValueError, match="warmup"):
        schedules.Warmup(0.0)


def test_lambda_schedule_runs_in_graph(small_moons):
    """λ follows the schedule over training, from a step counter in the model."""
    from keras_transfer import DomainAdaptiveClassifier

    Xs, ys, Xt, _ = small_moons
    clf = DomainAdaptiveClassifier(
        "dann", epochs=4, batch_size=50, schedule="warmup", random_state=0
    ).fit((Xs, ys), Xt)
    lam = clf.history_["lambda"]
    assert len(lam) == 4
    assert lam[0] < lam[1] <= lam[2] <= lam[3] <= 1.0 + 1e-6
    assert float(clf.model_.step_counter.numpy()) == 4 * 4
