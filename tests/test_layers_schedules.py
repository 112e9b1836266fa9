import keras
import numpy as np
import pytest
from helpers import input_gradient
from keras import ops

from keras_transfer import schedules
from keras_transfer.layers import DenseStack, GradientReversal, reverse_gradient


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


def test_reverse_gradient_function_matches_the_layer():
    x = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    up = np.ones_like(x)
    np.testing.assert_array_equal(ops.convert_to_numpy(reverse_gradient(x, 0.7)), x)
    np.testing.assert_allclose(
        input_gradient(lambda v: reverse_gradient(v, 0.7), x, up), -0.7 * up, rtol=1e-6
    )


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_dense_stack_is_the_sequential_it_replaces(dropout):
    """Same seed -> the same weights as Sequential([Dense, Dropout, ..., Dense])
    (the adversarial sub-networks' old form), the same outputs, and a config
    round trip."""
    x = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
    keras.utils.set_random_seed(3)
    layers = []
    for u in (16, 8):
        layers.append(keras.layers.Dense(u, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    seq = keras.Sequential([*layers, keras.layers.Dense(2)])
    seq.build((None, 5))
    keras.utils.set_random_seed(3)
    stack = DenseStack((16, 8), outputs=2, dropout=dropout)
    stack.build((None, 5))
    dense = [w for w in seq.weights]
    assert len(stack.weights) == len(dense) == 6
    for a, b in zip(stack.weights, dense):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    np.testing.assert_allclose(
        ops.convert_to_numpy(stack(x)),
        ops.convert_to_numpy(seq(x)),
        rtol=1e-5,
        atol=1e-6,
    )
    if dropout:  # training: dropout on, a different output; inference: off
        assert not np.allclose(
            ops.convert_to_numpy(stack(x, training=True)),
            ops.convert_to_numpy(stack(x)),
        )
    clone = DenseStack.from_config(stack.get_config())
    assert (clone.units, clone.outputs, clone.dropout) == ((16, 8), 2, dropout)
    assert clone.compute_output_shape((None, 5)) == (None, 2)


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


class _Halfway(schedules.LambdaSchedule):
    """A schedule that writes only ``__call__`` (value() falls back to it)."""

    def __call__(self, progress):
        return ops.minimum(ops.convert_to_tensor(progress, "float32") * 2.0, 1.0)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.Constant(),
        schedules.Ganin(),
        schedules.Ganin(3.0),
        schedules.Warmup(0.3),
        _Halfway(),
    ],
    ids=repr,
)
def test_schedule_host_value_is_the_graph_value(schedule):
    """value() (the host formula of eager PyTorch steps) is __call__'s number."""
    for p in np.linspace(0.0, 1.0, 41, dtype="float32"):
        graph = float(ops.convert_to_numpy(schedule(p)))
        # Ganin's "2 / (1 + e) - 1" cancels: an ulp of the float32 value near 1
        # (1.2e-7) is the resolution of either formula.
        assert schedule.value(p) == pytest.approx(graph, rel=1e-6, abs=3e-7)


def _lambdas_per_step(host: bool, monkeypatch, schedule="ganin"):
    """λ at every step of two fits in a row (the second continues counting)."""
    from keras_transfer.data import DomainBatches
    from keras_transfer.models import AdaptationModel
    from keras_transfer.models import adaptation_model as module

    if not host:  # the traced path, whatever the backend
        monkeypatch.setattr(module, "_eager_torch", lambda: False)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    data = DomainBatches(Xs, (Xs[:, 0] > 0).astype(int), Xt, batch_size=10, seed=0)
    model = AdaptationModel(
        keras.Sequential([keras.layers.Dense(4)]), 2, "dann", 0.7, schedule
    )
    model.build((None, 2))
    model.set_total_steps(3 * len(data))
    model.compile(optimizer="sgd", jit_compile=False)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            # The running mean of λ over the epoch so far, after every step.
            seen.append(logs["lambda"])

    model.fit(data, epochs=2, verbose=0, callbacks=[Record()])
    model.fit(data, epochs=1, verbose=0, callbacks=[Record()])
    return np.array(seen), float(ops.convert_to_numpy(model.step_counter))


@pytest.mark.parametrize("schedule", ["ganin", _Halfway()], ids=["ganin", "custom"])
def test_eager_torch_lambda_matches_the_traced_lambda(schedule, monkeypatch):
    """The host-side λ of eager PyTorch steps is the graph's, step for step,
    across fits; elsewhere, and for a schedule without its own value(), both
    runs take the traced path (same numbers)."""
    host, host_steps = _lambdas_per_step(True, monkeypatch, schedule)
    traced, traced_steps = _lambdas_per_step(False, monkeypatch, schedule)
    assert host_steps == traced_steps == 12.0
    np.testing.assert_allclose(host, traced, rtol=1e-6, atol=3e-7)
    assert host[0] == 0.0 and host[-1] > 0.5  # the ramp did move


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
