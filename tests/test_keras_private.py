"""One test per private Keras API touch point (keras_transfer/_keras_private.py).

When a Keras upgrade breaks one of these, the failing test names the touch
point to rewrite; nothing else in the package uses private Keras APIs.
"""

import ast
import inspect
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np

from keras_transfer import _keras_private
from keras_transfer.freezing import with_lr_multipliers

PACKAGE = pathlib.Path(_keras_private.__file__).parent


def test_no_module_but_the_fence_imports_keras_src():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_keras_private.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(name.startswith("keras.src") for name in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_1_seeding_without_tensorflow():
    # The lazy module and its flag exist, and seeding through it works
    # without importing TensorFlow in a process that has not imported it.
    from keras.src.utils import rng_utils

    assert hasattr(rng_utils.tf, "_available")
    code = (
        "import sys, numpy as np\n"
        "from keras_transfer._keras_private import seed_without_tensorflow\n"
        "assert seed_without_tensorflow(3)\n"
        "a = np.random.rand()\n"
        "seed_without_tensorflow(3)\n"
        "assert a == np.random.rand()\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_2_walk_layers_reaches_nested_and_custom_layers():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.BatchNormalization(name="inner_bn")

        def call(self, x):
            return self.inner(x)

    nested = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="n")])
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Block(name="block")(nested(inputs)))
    names = [layer.name for layer in _keras_private.walk_layers(model)]
    assert names.index("n") < names.index("block") < names.index("inner_bn")
    only_models = _keras_private.walk_layers(
        model, descend=lambda layer: isinstance(layer, keras.Model)
    )
    assert "inner_bn" not in [layer.name for layer in only_models]


def test_3_optimizer_update_step_and_weight_decay_hooks():
    for name in ("_backend_update_step", "_apply_weight_decay", "_use_weight_decay"):
        assert hasattr(keras.optimizers.Optimizer, name), name
    params = inspect.signature(keras.optimizers.Optimizer._backend_update_step)
    assert list(params.parameters)[1:] == [
        "grads",
        "trainable_variables",
        "learning_rate",
    ]
    # Both hooks are called: a frozen group (multiplier 0) of an AdamW with
    # weight decay stays bit-identical while the other group moves.
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)]
    )
    opt = with_lr_multipliers(
        keras.optimizers.AdamW(0.1, weight_decay=0.5), [([model.layers[0]], 0.0)]
    )
    model.compile(opt, "mse")
    w0 = [np.array(w) for w in model.get_weights()]
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0)
    w1 = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(w0[:2], w1[:2]))
    assert not np.array_equal(w0[2], w1[2])
