"""Freezing policies, BatchNorm in inference mode, learning-rate groups, LoRA."""

import keras
import numpy as np
import pytest

from keras_transfer.freezing import (
    GradualUnfreezing,
    add_lora,
    freeze,
    select_layers,
    weighted_layers,
    with_lr_multipliers,
)


def make_mlp(dropout=True):
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="a"),
            keras.layers.BatchNormalization(name="bn"),
            *([keras.layers.Dropout(0.1, name="drop")] if dropout else []),
            keras.layers.Dense(8, activation="relu", name="b"),
            keras.layers.Dense(3, name="top"),
        ]
    )


def data(n=64, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype("float32")
    return X, (X[:, 0] > 0).astype("int32") + (X[:, 1] > 0).astype("int32")


def names(layers):
    return [layer.name for layer in layers]


def weights(model):
    return {
        layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers
    }


def test_select_layers_policies():
    m = make_mlp()
    assert names(weighted_layers(m)) == ["a", "bn", "b", "top"]
    assert names(select_layers(m, "all")) == ["a", "bn", "b", "top"]
    assert select_layers(m, "none") == select_layers(m, None) == []
    assert names(select_layers(m, 2)) == ["a", "bn"]
    assert names(select_layers(m, -1)) == ["a", "bn", "b"]
    assert names(select_layers(m, "b")) == ["b"]
    assert names(select_layers(m, "[ab]")) == ["a", "b"]
    assert names(select_layers(m, ["top", "a"])) == ["a", "top"]
    with pytest.raises(ValueError, match="No layer matches 'c'"):
        select_layers(m, "c")
    with pytest.raises(TypeError):
        select_layers(m, 1.5)


def test_freeze_sets_trainable_and_keeps_batchnorm_frozen():
    m = make_mlp()
    assert names(freeze(m, 1)) == ["a", "bn"]
    assert {w.path.split("/")[1] for w in m.trainable_weights} == {"b", "top"}
    assert names(freeze(m, "none")) == ["bn"]  # BatchNorm stays frozen
    assert names(freeze(m, "none", freeze_batchnorm=False)) == []
    assert len(m.trainable_weights) == 8
    assert names(freeze(m, "all")) == ["a", "bn", "b", "top"]
    assert m.trainable_weights == []


def test_frozen_batchnorm_keeps_statistics_and_runs_in_inference_mode():
    X, y = data()
    m = make_mlp()
    rng = np.random.default_rng(1)  # non-trivial moving statistics
    bn = m.get_layer("bn")
    bn.moving_mean.assign(rng.normal(size=8).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=8).astype("float32"))
    bn_before = weights(m)["bn"]
    freeze(m, "none")
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(X + 3.0, y, epochs=2, verbose=0)  # shifted inputs would move the stats
    bn_after = weights(m)["bn"]
    assert all(np.array_equal(a, b) for a, b in zip(bn_before, bn_after))
    h = keras.ops.convert_to_numpy(m.get_layer("a")(X))
    train = keras.ops.convert_to_numpy(bn(h, training=True))
    infer = keras.ops.convert_to_numpy(bn(h, training=False))
    assert np.array_equal(train, infer)  # inference mode even when training


def test_learning_rate_groups():
    X, y = data()
    base = make_mlp(dropout=False)  # the runs must see the same computation
    start = weights(base)

    def run(groups):
        m = keras.models.clone_model(base)
        m.set_weights(base.get_weights())
        freeze(m, "none", freeze_batchnorm=False)
        opt = keras.optimizers.SGD(learning_rate=0.1, weight_decay=0.1)
        if groups is not None:
            layers = {layer.name: layer for layer in m.layers}
            opt = with_lr_multipliers(
                opt, [([layers[n] for n in group], mult) for group, mult in groups]
            )
        m.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(X, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
        return weights(m)

    plain = run(None)
    grouped = run([(["a", "bn"], 0.0), (["top"], 0.5)])
    # Multiplier 0: bit-identical, weight decay included (BatchNorm's moving
    # statistics are not the optimizer's: only its gamma and beta are checked).
    frozen = grouped["a"] + grouped["bn"][:2]
    assert all(
        np.array_equal(w, s) for w, s in zip(frozen, start["a"] + start["bn"][:2])
    )
    for w, p in zip(grouped["b"], plain["b"]):  # no group: the base rate
        np.testing.assert_allclose(w, p, rtol=1e-6, atol=1e-7)
    # One SGD step (gradient and weight decay): the update is scaled exactly.
    for g, p, s in zip(grouped["top"], plain["top"], start["top"]):
        np.testing.assert_allclose(g - s, 0.5 * (p - s), rtol=1e-4, atol=1e-7)
    assert not np.array_equal(grouped["top"][0], plain["top"][0])


def test_gradual_unfreezing_callback_moves_groups_from_the_top():
    X, y = data()
    m = make_mlp()
    groups = [["a"], ["b"], ["top"]]
    freeze(m, "none")
    layers = {layer.name: layer for layer in m.layers}
    m.compile(
        with_lr_multipliers("adam", [([layers[n] for n in g], 0.0) for g in groups]),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    snapshots = [weights(m)]

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(weights(self.model))

    cb = GradualUnfreezing(multiplier=1.0)
    m.fit(X, y, epochs=4, batch_size=32, verbose=0, callbacks=[cb, Record()])
    assert cb.stages_ == [0, 1, 2, 3]
    moved = [
        {n for n in ("a", "b", "top") if not np.array_equal(prev[n][0], snap[n][0])}
        for prev, snap in zip(snapshots, snapshots[1:])
    ]
    assert moved == [set(), {"top"}, {"top", "b"}, {"top", "b", "a"}]


@pytest.mark.parametrize(
    "layer, shape",
    [
        (keras.layers.Dense(5, activation="relu"), (4, 7)),
        (
            keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh"),
            (2, 9, 9, 3),
        ),
    ],
)
def test_lora_starts_equal_and_trains_only_the_low_rank_factors(layer, shape, tmp_path):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    inputs = keras.Input(shape[1:])
    model = keras.Model(inputs, layer(inputs))
    before = model.predict(x, verbose=0)
    kernel = np.array(layer.kernel)
    wrapped = add_lora(model, rank=2)
    assert np.array_equal(wrapped.predict(x, verbose=0), before)  # bit for bit
    lora = wrapped.layers[-1]
    assert lora.lora_enabled  # Keras's own LoRA (layer.enable_lora)
    lora_names = ["lora_kernel_a", "lora_kernel_b"]
    assert [w.name for w in wrapped.trainable_weights] == lora_names

    y = np.ones_like(before)
    wrapped.compile(keras.optimizers.SGD(0.1), "mse")
    wrapped.fit(x, y, epochs=2, verbose=0)
    base = next(w for w in lora.weights if w.name == "kernel")
    assert np.array_equal(np.array(base), kernel)  # base frozen
    after = wrapped.predict(x, verbose=0)
    assert not np.array_equal(after, before)
    np.testing.assert_allclose(  # the update is W + (alpha / r) A B
        keras.ops.convert_to_numpy(lora.kernel),
        kernel
        + (np.array(lora.lora_kernel_a) @ np.array(lora.lora_kernel_b)).reshape(
            kernel.shape
        ),
        rtol=1e-5,
        atol=1e-6,
    )

    path = tmp_path / "lora.keras"
    wrapped.save(path)
    loaded = keras.saving.load_model(path)
    assert np.array_equal(loaded.predict(x, verbose=0), after)
    # Keras restores a LoRA layer with its kernel frozen (its own rule); the
    # per-variable freeze of the bias is not part of the saved format.
    assert {w.name for w in loaded.trainable_weights} - {"bias"} == set(lora_names)


def test_add_lora_reaches_nested_models_and_checks_its_input():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, name="inner")])
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="outer")(inner(inputs)))
    wrapped = add_lora(model, rank=1, layer_names=["inner"])
    assert len(wrapped.trainable_weights) == 2 + 2  # inner's A, B + outer's W, b
    assert wrapped.layers[1].layers[0].lora_enabled
    assert not wrapped.layers[-1].lora_enabled
    with pytest.raises(ValueError, match="No Dense or Conv layer named"):
        add_lora(model, rank=1, layer_names=["missing"])
    with pytest.raises(ValueError, match="rank"):
        add_lora(model, rank=0)
