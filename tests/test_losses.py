"""Tests for keras_transfer.losses (run once per KERAS_BACKEND)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_transfer.losses import (
    binary_cross_entropy_with_logits,
    coral,
    distillation_loss,
    domain_adversarial_loss,
    entropy,
    entropy_weights,
    gaussian_kernel_matrix,
    linear_mmd,
    mcc,
    mmd,
    multilinear_map,
    pairwise_squared_distances,
    prediction_entropy,
    randomized_multilinear_map,
    wasserstein_critic_terms,
    weighted_covariance,
)

BACKEND = keras.backend.backend()


def np_(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def rnd(seed, *shape, loc=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (loc + scale * rng.normal(size=shape)).astype("float32")


# --------------------------------------------------------------------------
# NumPy references
# --------------------------------------------------------------------------


def ref_sqdist(x, y):
    x, y = np.float64(x), np.float64(y)
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def ref_dan_bandwidths(x, y, kernel_mul=2.0, kernel_num=5):
    z = np.concatenate([x, y]).astype(np.float64)
    n = len(z)
    base = ref_sqdist(z, z).sum() / (n * n - n)
    base /= kernel_mul ** (kernel_num // 2)
    return [base * kernel_mul**k for k in range(kernel_num)]


def ref_kernel(x, y, bandwidths):
    d = ref_sqdist(x, y)
    return sum(np.exp(-d / h) for h in bandwidths)


def ref_mmd(x, y, bandwidths):
    return (
        ref_kernel(x, x, bandwidths).mean()
        + ref_kernel(y, y, bandwidths).mean()
        - 2 * ref_kernel(x, y, bandwidths).mean()
    )


def ref_coral(xs, xt):
    d = xs.shape[1]
    cs = np.cov(np.float64(xs), rowvar=False)
    ct = np.cov(np.float64(xt), rowvar=False)
    return ((cs - ct) ** 2).sum() / (4 * d * d)


def ref_log_softmax(z):
    z = np.float64(z)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def ref_entropy_rows(z):
    lp = ref_log_softmax(z)
    return -(np.exp(lp) * lp).sum(-1)


def ref_kl_distill(s, t, temp):
    lps, lpt = ref_log_softmax(s / temp), ref_log_softmax(t / temp)
    return (np.exp(lpt) * (lpt - lps)).sum(-1).mean() * temp**2


def ref_mcc(logits, temp=2.5):
    # Transcription of the reference (Transfer-Learning-Library) implementation.
    b, k = logits.shape
    p = np.exp(ref_log_softmax(logits / temp))
    w = 1 + np.exp(-ref_entropy_rows(logits / temp))
    w = (b * w / w.sum())[:, None]
    c = (p * w).T @ p
    c = c / c.sum(axis=1)
    return (c.sum() - np.trace(c)) / k


def ref_bce(z, y):
    z = np.float64(z)
    p = 1 / (1 + np.exp(-z))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


# --------------------------------------------------------------------------
# Backend helpers (only the tests are backend-aware)
# --------------------------------------------------------------------------


def grad_fn(fns):
    """Return ``x -> [d fn(x) / dx for fn in fns]`` (NumPy in and out).

    On JAX all gradients are computed by one jitted function: one compilation
    is much cheaper than JAX's op-by-op eager compilation.
    """
    if BACKEND == "jax":
        import jax

        jitted = jax.jit(lambda x: [jax.grad(fn)(x) for fn in fns])
        return lambda x: [np.asarray(g) for g in jitted(np.float32(x))]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def run_tf(x):
            out = []
            for fn in fns:
                xt = tf.constant(np.float32(x))
                with tf.GradientTape() as tape:
                    tape.watch(xt)
                    y = fn(xt)
                out.append(tape.gradient(y, xt).numpy())
            return out

        return run_tf
    if BACKEND == "torch":
        import torch

        def run_torch(x):
            out = []
            for fn in fns:
                xt = torch.tensor(np.float32(x), requires_grad=True)
                fn(xt).backward()
                out.append(xt.grad.numpy())
            return out

        return run_torch
    pytest.skip(f"no gradient helper for {BACKEND}")


def compiled(fn, *example_args):
    """``fn`` compiled for the backend (TF: dynamic batch dimension)."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        sig = [
            tf.TensorSpec([None, *np.shape(a)[1:]], tf.as_dtype(np.asarray(a).dtype))
            for a in example_args
        ]
        return tf.function(fn, input_signature=sig)
    return fn


# --------------------------------------------------------------------------
# Docstring examples
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# MMD
# --------------------------------------------------------------------------


def test_pairwise_and_kernel_match_numpy():
    x, y = rnd(0, 8, 4), rnd(1, 4, 4)
    np.testing.assert_allclose(
        np_(pairwise_squared_distances(x, y)), ref_sqdist(x, y), atol=1e-4
    )
    bw = [1.0, 4.0, 16.0]
    np.testing.assert_allclose(
        np_(gaussian_kernel_matrix(x, y, bw)), ref_kernel(x, y, bw), atol=1e-5
    )


def test_mmd_known_bandwidths_matches_numpy():
    x, y = rnd(0, 8, 4), rnd(1, 4, 4, loc=0.5)
    bw = [1.0, 4.0, 16.0]
    np.testing.assert_allclose(np_(mmd(x, y, bandwidths=bw)), ref_mmd(x, y, bw), 1e-4)


@pytest.mark.parametrize("kernel_mul,kernel_num", [(2.0, 5), (1.5, 3)])
def test_mmd_dan_bandwidths_matches_numpy(kernel_mul, kernel_num):
    x, y = rnd(2, 8, 4), rnd(3, 4, 4, loc=1.0)
    bw = ref_dan_bandwidths(x, y, kernel_mul, kernel_num)
    got = mmd(x, y, kernel_mul=kernel_mul, kernel_num=kernel_num)
    np.testing.assert_allclose(np_(got), ref_mmd(x, y, bw), rtol=1e-4)


def test_mmd_identity_and_mean_shift_monotone():
    x = rnd(4, 6, 4)
    assert abs(float(np_(mmd(x, x)))) < 1e-5
    assert abs(float(np_(linear_mmd(x, x)))) < 1e-10
    bw = [1.0, 4.0, 16.0]
    values = [float(np_(mmd(x, x + s, bandwidths=bw))) for s in (0.0, 0.3, 1.0, 3.0)]
    assert values[0] < 1e-5
    assert all(a < b for a, b in zip(values, values[1:]))
    lin = [float(np_(linear_mmd(x, x + s))) for s in (0.5, 1.0)]
    np.testing.assert_allclose(lin, [4 * 0.25, 4 * 1.0], rtol=1e-5)


def test_mmd_integer_weights_equal_duplicated_rows():
    x, y = rnd(5, 8, 4), rnd(6, 4, 4)
    wx = np.array([1, 2, 0, 3, 1, 1, 0, 1], "float32")
    bw = [1.0, 4.0, 16.0]
    dup = np.repeat(x, wx.astype(int), axis=0)
    np.testing.assert_allclose(
        np_(mmd(x, y, bandwidths=bw, source_weight=wx)), ref_mmd(dup, y, bw), rtol=1e-4
    )


# --------------------------------------------------------------------------
# Other references
# --------------------------------------------------------------------------


def test_coral_matches_numpy_and_identity():
    xs, xt = rnd(7, 8, 4), rnd(8, 4, 4, scale=2.0)
    np.testing.assert_allclose(np_(coral(xs, xt)), ref_coral(xs, xt), rtol=1e-4)
    assert abs(float(np_(coral(xs, xs)))) < 1e-10
    # A mean shift leaves covariances (hence CORAL) unchanged.
    assert abs(float(np_(coral(xs, xs + 5.0)))) < 1e-6
    np.testing.assert_allclose(
        np_(weighted_covariance(xs)), np.cov(xs, rowvar=False), atol=1e-5
    )


def test_distillation_matches_numpy():
    s, t = rnd(9, 8, 5, scale=3.0), rnd(10, 8, 5, scale=3.0)
    for temp in (1.0, 2.0, 4.0):
        np.testing.assert_allclose(
            np_(distillation_loss(s, t, temperature=temp)),
            ref_kl_distill(s, t, temp),
            rtol=1e-4,
        )
    assert abs(float(np_(distillation_loss(s, s)))) < 1e-6


def test_entropy_matches_numpy_and_is_stable():
    z = rnd(11, 8, 5, scale=3.0)
    np.testing.assert_allclose(np_(prediction_entropy(z)), ref_entropy_rows(z), 1e-5)
    np.testing.assert_allclose(np_(entropy(z)), ref_entropy_rows(z).mean(), 1e-5)
    np.testing.assert_allclose(
        np_(entropy_weights(z)), 1 + np.exp(-ref_entropy_rows(z)), rtol=1e-5
    )
    big = np.zeros((8, 5), "float32")
    big[0, :2] = [1e4, -1e4]
    h = np_(prediction_entropy(big))
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h, [0.0] + [np.log(5)] * 7, atol=1e-6)


def test_mcc_matches_reference():
    z = rnd(12, 8, 5, scale=3.0)
    for temp in (1.0, 2.5):
        np.testing.assert_allclose(
            np_(mcc(z, temperature=temp)), ref_mcc(z, temp), rtol=1e-4
        )
    assert 0.0 <= float(np_(mcc(z))) <= 1.0


def test_domain_adversarial_matches_numpy_and_is_stable():
    z = rnd(13, 8, 1, scale=4.0)
    y = np.arange(8) % 2 == 0
    np.testing.assert_allclose(
        np_(domain_adversarial_loss(z, y)), ref_bce(z[:, 0], y).mean(), rtol=1e-5
    )
    w = np.linspace(0.0, 2.0, 8).astype("float32")
    np.testing.assert_allclose(
        np_(domain_adversarial_loss(z[:, 0], y.astype("float32"), sample_weight=w)),
        (w * ref_bce(z[:, 0], y)).sum() / w.sum(),
        rtol=1e-5,
    )
    extreme = np.array([1e4, -1e4, 1e4, -1e4] * 2, "float32")
    out = np_(binary_cross_entropy_with_logits(extreme, np.array([1, 0, 0, 1] * 2)))
    np.testing.assert_allclose(out, [0.0, 0.0, 1e4, 1e4] * 2, rtol=1e-6)


def test_wasserstein_matches_numpy():
    cs, ct = rnd(14, 8, 1), rnd(15, 4)
    np.testing.assert_allclose(
        np_(wasserstein_critic_terms(cs, ct)), cs.mean() - ct.mean(), rtol=1e-5
    )


def test_multilinear_maps_match_numpy():
    f = rnd(16, 8, 4)
    g = np.exp(ref_log_softmax(rnd(17, 8, 5))).astype("float32")
    np.testing.assert_allclose(
        np_(multilinear_map(f, g)),
        np.einsum("bi,bj->bij", f, g).reshape(8, 20),
        rtol=1e-6,
    )
    rf, rg = rnd(18, 4, 32), rnd(19, 5, 32)
    np.testing.assert_allclose(
        np_(randomized_multilinear_map(f, g, rf, rg)),
        (f @ rf) * (g @ rg) / np.sqrt(32),
        rtol=1e-5,
        atol=1e-6,
    )


def test_unequal_batch_sizes():
    x, y = rnd(20, 4, 4), rnd(21, 8, 4, loc=1.0)
    bw = [1.0, 4.0, 16.0]
    np.testing.assert_allclose(np_(mmd(x, y, bandwidths=bw)), ref_mmd(x, y, bw), 1e-4)
    np.testing.assert_allclose(np_(coral(x, y)), ref_coral(x, y), rtol=1e-4)
    np.testing.assert_allclose(
        np_(wasserstein_critic_terms(x[:, 0], y[:, 0])),
        x[:, 0].mean() - y[:, 0].mean(),
        rtol=1e-5,
    )


# --------------------------------------------------------------------------
# Weighted (masked) forms
# --------------------------------------------------------------------------

N_ROWS = 12
MASK = (np.arange(N_ROWS) % 3 != 0).astype("float32")  # 8 "source" rows
SEL = MASK > 0


def _two_domain_cases():
    z = rnd(22, N_ROWS, 4)
    z[~SEL] += 1.5  # "target" rows differ
    c = rnd(23, N_ROWS)
    return [
        # name, masked call on the full batch, call on the selected rows
        (
            "mmd",
            lambda w1, w2: mmd(z, z, source_weight=w1, target_weight=w2),
            lambda: mmd(z[SEL], z[~SEL]),
        ),
        (
            "linear_mmd",
            lambda w1, w2: linear_mmd(z, z, source_weight=w1, target_weight=w2),
            lambda: linear_mmd(z[SEL], z[~SEL]),
        ),
        (
            "coral",
            lambda w1, w2: coral(z, z, source_weight=w1, target_weight=w2),
            lambda: coral(z[SEL], z[~SEL]),
        ),
        (
            "wasserstein",
            lambda w1, w2: wasserstein_critic_terms(c, c, w1, w2),
            lambda: wasserstein_critic_terms(c[SEL], c[~SEL]),
        ),
    ]


def _one_domain_cases():
    z = rnd(24, N_ROWS, 5, scale=3.0)
    t = rnd(25, N_ROWS, 5, scale=3.0)
    y = (np.arange(N_ROWS) % 2).astype("float32")
    return [
        ("entropy", lambda w: entropy(z, weight=w), lambda: entropy(z[SEL])),
        ("mcc", lambda w: mcc(z, weight=w), lambda: mcc(z[SEL])),
        (
            "dann",
            lambda w: domain_adversarial_loss(z[:, :1], y, sample_weight=w),
            lambda: domain_adversarial_loss(z[SEL, :1], y[SEL]),
        ),
        (
            "distillation",
            lambda w: distillation_loss(z, t, sample_weight=w),
            lambda: distillation_loss(z[SEL], t[SEL]),
        ),
    ]


@pytest.mark.parametrize("case", range(4))
def test_two_domain_weights_equal_selected_rows(case):
    name, masked, selected = _two_domain_cases()[case]
    got = np_(masked(MASK, 1.0 - MASK))
    want = np_(selected())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7, err_msg=name)
    # Scaling the weights of a set does not change the result.
    np.testing.assert_allclose(
        np_(masked(3.0 * MASK, 0.5 * (1.0 - MASK))), want, rtol=1e-4, atol=1e-7
    )


@pytest.mark.parametrize("case", range(4))
def test_one_domain_weights_equal_selected_rows(case):
    name, masked, selected = _one_domain_cases()[case]
    np.testing.assert_allclose(
        np_(masked(MASK)), np_(selected()), rtol=1e-4, atol=1e-7, err_msg=name
    )


@pytest.mark.parametrize("case", range(4))
def test_two_domain_all_zero_weights_give_zero(case):
    name, masked, _ = _two_domain_cases()[case]
    zero, one = np.zeros(N_ROWS, "float32"), np.ones(N_ROWS, "float32")
    for w1, w2 in [(zero, one), (one, zero), (zero, zero)]:
        assert float(np_(masked(w1, w2))) == 0.0, name


@pytest.mark.parametrize("case", range(4))
def test_one_domain_all_zero_weights_give_zero(case):
    name, masked, _ = _one_domain_cases()[case]
    assert float(np_(masked(np.zeros(N_ROWS, "float32")))) == 0.0, name


def test_single_row_sets_are_finite():
    x, z = rnd(26, N_ROWS, 4), rnd(26, N_ROWS, 5)
    one = np.eye(N_ROWS, dtype="float32")[0]
    for value in (
        coral(x, x, source_weight=one, target_weight=1 - one),
        mmd(x, x, source_weight=one, target_weight=one),
        mcc(z, weight=one),
    ):
        assert np.isfinite(float(np_(value)))


# --------------------------------------------------------------------------
# Gradients and compilation
# --------------------------------------------------------------------------

X = rnd(27, N_ROWS, 4)
W_ZERO = np.zeros(N_ROWS, "float32")

GRAD_CASES = {
    "mmd": lambda v: mmd(v, v, source_weight=MASK, target_weight=1 - MASK),
    "mmd_empty": lambda v: mmd(v, v, source_weight=W_ZERO, target_weight=1 - MASK),
    "mmd_identical": lambda v: mmd(v, v),
    "linear_mmd": lambda v: linear_mmd(v, v + 1.0, source_weight=MASK),
    "coral": lambda v: coral(v, v, source_weight=MASK, target_weight=1 - MASK),
    "coral_empty": lambda v: coral(v, v, W_ZERO, 1 - MASK),
    "coral_one_row": lambda v: coral(v, v, np.eye(N_ROWS, dtype="float32")[0]),
    "wasserstein": lambda v: wasserstein_critic_terms(v[:, 0], v[:, 1], MASK),
    "dann": lambda v: domain_adversarial_loss(v[:, :1] * 1e3, MASK),
    "entropy": lambda v: entropy(v * 1e3, weight=MASK),
    "entropy_empty": lambda v: entropy(v, weight=W_ZERO),
    "mcc": lambda v: mcc(v, weight=MASK),
    "mcc_empty": lambda v: mcc(v, weight=W_ZERO),
    "distillation": lambda v: distillation_loss(v, ops.flip(v, axis=0) * 1e3),
    "cdan": lambda v: ops.sum(multilinear_map(v, ops.softmax(v))),
}


def test_gradients_are_finite():
    names = sorted(GRAD_CASES)
    grads = dict(zip(names, grad_fn([GRAD_CASES[n] for n in names])(X)))
    for name, g in grads.items():
        assert g.shape == X.shape, name
        assert np.all(np.isfinite(g)), name
        if not name.endswith("_empty") and name != "mmd_identical":
            assert np.any(g != 0), name


def test_mmd_gradient_descent_moves_target_to_source():
    x = rnd(28, 8, 4)
    y = rnd(29, 4, 4, loc=2.0)

    def loss(v):
        return mmd(x, v)

    step = grad_fn([loss])
    start_loss = float(np_(loss(y)))
    start_gap = np.linalg.norm(y.mean(0) - x.mean(0))
    for _ in range(20):
        y = y - 5.0 * step(y)[0]
    assert float(np_(loss(y))) < 0.5 * start_loss
    assert np.linalg.norm(y.mean(0) - x.mean(0)) < 0.5 * start_gap


def test_losses_trace_under_compilation():
    z = rnd(30, N_ROWS, 4)
    mask = MASK

    def step(feats, logits, w):
        return ops.stack(
            [
                mmd(feats, feats, source_weight=w, target_weight=1.0 - w),
                linear_mmd(feats, feats, source_weight=w, target_weight=1.0 - w),
                coral(feats, feats, w, 1.0 - w),
                wasserstein_critic_terms(logits[:, 0], logits[:, 0], w, 1.0 - w),
                domain_adversarial_loss(logits[:, :1], w, sample_weight=w + 1.0),
                entropy(logits, weight=1.0 - w),
                ops.mean(entropy_weights(logits)),
                mcc(logits, weight=1.0 - w),
                distillation_loss(logits, ops.flip(logits, axis=0)),
                ops.mean(multilinear_map(feats, ops.softmax(logits))),
            ]
        )

    eager = np_(step(z, z, mask))
    fn = compiled(step, z, z, mask)
    np.testing.assert_allclose(np_(fn(z, z, mask)), eager, rtol=1e-4, atol=1e-6)
    if BACKEND == "tensorflow":
        # A different batch size through the same traced graph (dynamic dim).
        z2 = np.concatenate([z, z[:3]])
        m2 = np.concatenate([mask, mask[:3]])
        assert np.all(np.isfinite(np_(fn(z2, z2, m2))))
    np.testing.assert_allclose(
        np_(fn(z, z, np.zeros_like(mask)))[[0, 1, 2, 3]], 0.0, atol=0
    )


def test_dtypes():
    x = rnd(31, 8, 4)
    # Half precision is upcast to float32; float64 is kept.
    half = mmd(x.astype("float16"), x[:4].astype("float16"))
    assert keras.backend.standardize_dtype(half.dtype) == "float32"
    np.testing.assert_allclose(np_(half), np_(mmd(x, x[:4])), rtol=1e-2)
    # Integer / boolean labels and weights are accepted.
    loss = domain_adversarial_loss(x[:, 0], np.arange(8) % 2, sample_weight=MASK[:8])
    assert np.isfinite(float(np_(loss)))
