"""Tensor ops against closed forms (the seed examples) and NumPy, on every backend."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastnn


def T(a, backend, **kw):
    return fastnn.tensor(a, device=backend, **kw)


def N(t):
    return t.detach().cpu().numpy()


# ---- the seed examples, closed form ------------------------------------------------------------
def test_seed_matmul_outer_dot(backend):
    a, b = T([[1, 2], [3, 4]], backend), T([[5, 6], [7, 8]], backend)
    assert (a @ b).tolist() == [[19, 22], [43, 50]]
    assert fastnn.mm(a, b).tolist() == [[19, 22], [43, 50]]
    assert fastnn.matmul(a.float(), b.float()).tolist() == [[19.0, 22.0], [43.0, 50.0]]
    assert (a @ b).dtype == fastnn.int64
    u, v = T([1, 3, 5], backend), T([2, 4, 6], backend)
    expected = [[2, 4, 6], [6, 12, 18], [10, 20, 30]]
    assert fastnn.outer(u, v).tolist() == expected and fastnn.ger(u, v).tolist() == expected
    assert fastnn.dot(T([1, 2, 3], backend), T([4, 5, 6], backend)).item() == 32


def test_seed_shapes_bmm_and_batch_broadcast(backend):
    x = fastnn.randn(256, 5, 6, device=backend)
    assert fastnn.bmm(x, fastnn.randn(256, 6, 7, device=backend)).shape == (256, 5, 7)
    assert (x @ fastnn.randn(6, 7, device=backend)).shape == (256, 5, 7)
    assert (fastnn.randn(3, 1, 4, 5, device=backend) @ fastnn.randn(2, 5, 6, device=backend)).shape == (3, 2, 4, 6)
    assert (fastnn.randn(5, device=backend) @ fastnn.randn(3, 5, 2, device=backend)).shape == (3, 2)


def test_add_vs_add_(backend):
    x = T([1.0, 2.0], backend)
    y = x.add(T([10.0, 20.0], backend))
    assert x.tolist() == [1.0, 2.0] and y.tolist() == [11.0, 22.0]
    r = x.add_(T([10.0, 20.0], backend))
    assert r is x and x.tolist() == [11.0, 22.0]
    x.mul_(2)
    assert x.tolist() == [22.0, 44.0]


def test_seed_features_weights(backend):
    fastnn.manual_seed(7)
    features = fastnn.randn((1, 5), device=backend)
    weights = fastnn.randn_like(features)
    bias = fastnn.randn((1, 1), device=backend)
    y = fastnn.sigmoid(fastnn.sum(features * weights) + bias)
    y2 = fastnn.sigmoid(fastnn.mm(features, weights.view(5, 1)) + bias)
    f, w, b = N(features), N(weights), N(bias)
    ref = 1 / (1 + np.exp(-((f * w).sum() + b)))
    np.testing.assert_allclose(N(y), ref, rtol=1e-6)
    np.testing.assert_allclose(N(y2), ref, rtol=1e-6)


# ---- indexing ------------------------------------------------------------------------------------
def test_indexing_and_assignment(backend):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = T(a, backend)
    for idx in (2, (slice(None), 2), (Ellipsis, -1), (slice(1, None), [2, 0]), (slice(None, None, 2),)):
        np.testing.assert_array_equal(N(t[idx]), a[idx])
    np.testing.assert_array_equal(N(t[t > 10]), a[a > 10])
    t[0] = 5.0
    t[:, 1] = T([9.0, 8.0, 7.0, 6.0], backend)
    a[0] = 5.0
    a[:, 1] = [9, 8, 7, 6]
    np.testing.assert_array_equal(N(t), a)


# ---- shapes ----------------------------------------------------------------------------------------
def test_shape_ops(backend):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = T(a, backend)
    np.testing.assert_array_equal(N(t.reshape(4, 6)), a.reshape(4, 6))
    np.testing.assert_array_equal(N(t.view(-1, 4)), a.reshape(-1, 4))
    np.testing.assert_array_equal(N(t.permute(2, 0, 1)), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(N(t.transpose(0, 2)), a.swapaxes(0, 2))
    np.testing.assert_array_equal(N(t.T), a.T)
    np.testing.assert_array_equal(N(t.flatten()), a.ravel())
    np.testing.assert_array_equal(N(t.flatten(1)), a.reshape(2, 12))
    assert t.unsqueeze(0).shape == (1, 2, 3, 4) and t.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert t.unsqueeze(1).squeeze().shape == (2, 3, 4) and t.unsqueeze(1).squeeze(1).shape == (2, 3, 4)
    assert t.squeeze(0).shape == (2, 3, 4)
    c = fastnn.cat([t, t], dim=1)
    np.testing.assert_array_equal(N(c), np.concatenate([a, a], axis=1))
    s = fastnn.stack([t, t], dim=-1)
    np.testing.assert_array_equal(N(s), np.stack([a, a], axis=-1))
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.T.view(-1)
    with pytest.raises(RuntimeError, match="invalid for input of size 24"):
        t.reshape(5, 5)


# ---- reductions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions(backend, dim, keepdim):
    a = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    t = T(a, backend)
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    np.testing.assert_allclose(N(t.sum(**kw)), a.sum(axis=dim, keepdims=keepdim and dim is not None), rtol=1e-5)
    np.testing.assert_allclose(N(t.mean(**kw)), a.mean(axis=dim, keepdims=keepdim and dim is not None), rtol=1e-5)
    if dim is None:
        assert t.max().item() == a.max() and t.argmax().item() == a.argmax()
    else:
        values, indices = t.max(**kw)
        np.testing.assert_array_equal(N(values), a.max(axis=dim, keepdims=keepdim))
        np.testing.assert_array_equal(N(indices), a.argmax(axis=dim, keepdims=keepdim) if keepdim else a.argmax(axis=dim))
        np.testing.assert_array_equal(N(t.argmax(**kw)), np.argmax(a, axis=dim, keepdims=keepdim))


def test_topk_and_accuracy_idiom(backend):
    ps = fastnn.softmax(fastnn.randn(8, 10, device=backend), dim=1)
    labels = fastnn.randint(0, 10, (8,), device=backend)
    top_p, top_class = ps.topk(1, dim=1)
    np.testing.assert_array_equal(N(top_class)[:, 0], N(ps).argmax(1))
    equals = top_class == labels.view(*top_class.shape)
    acc = fastnn.mean(equals.type(fastnn.FloatTensor)).item()
    assert acc == pytest.approx((N(ps).argmax(1) == N(labels)).mean())


# ---- elementwise and broadcasting -----------------------------------------------------------------
arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                    elements=st.floats(-3, 3))


@settings(max_examples=40, deadline=None)
@given(a=arrays, data=st.data())
def test_broadcast_arithmetic_matches_numpy(a, data):
    b = data.draw(hnp.arrays(np.float64, hnp.broadcastable_shapes(a.shape, min_side=0, max_side=4),
                             elements=st.floats(0.5, 3)))
    ta, tb = fastnn.tensor(a), fastnn.tensor(b)
    for got, want in ((ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b),
                      (ta > tb, a > b), (ta == tb, a == b), (2 - ta, 2 - a), (ta ** 2, a ** 2)):
        np.testing.assert_allclose(N(got), want, rtol=1e-12)


def test_type_promotion_like_torch():
    i, f = fastnn.tensor([1, 2]), fastnn.tensor([1.0, 2.0])
    assert (i + f).dtype == fastnn.float32
    assert (i * 2.5).dtype == fastnn.float32
    assert (i * 2).dtype == fastnn.int64
    assert (i / 2).dtype == fastnn.float32
    assert (f.double() + f).dtype == fastnn.float64


def test_math_functions(backend):
    a = np.abs(np.random.default_rng(2).standard_normal(7)) + 0.1
    t = T(a, backend, dtype=fastnn.float64)
    for fn, ref in ((fastnn.exp, np.exp), (fastnn.log, np.log), (fastnn.sqrt, np.sqrt),
                    (fastnn.tanh, np.tanh), (fastnn.relu, lambda x: np.maximum(x, 0))):
        np.testing.assert_allclose(N(fn(t)), ref(a), rtol=1e-12)
    np.testing.assert_allclose(N(t.pow(3)), a ** 3, rtol=1e-12)
    np.testing.assert_allclose(N(fastnn.sigmoid(t)), 1 / (1 + np.exp(-a)), rtol=1e-12)


@pytest.mark.parametrize("dtype", [fastnn.float32, fastnn.float64])
def test_activations_stable_at_extremes(backend, dtype):
    x = T([[-1e4, 0.0, 1e4], [1e4, 1e4, -1e4]], backend, dtype=dtype)
    for y in (fastnn.sigmoid(x), fastnn.tanh(x), fastnn.softmax(x, dim=1), fastnn.log_softmax(x, dim=1),
              fastnn.softmax(x, dim=0), x.log_softmax(0)):
        assert np.isfinite(N(y)).all()
    np.testing.assert_allclose(N(fastnn.softmax(x, 1)), [[0, 0, 1], [0.5, 0.5, 0]], atol=1e-7)
    np.testing.assert_allclose(N(fastnn.log_softmax(x, 1))[0], [-2e4, -1e4, 0], rtol=1e-6)
    np.testing.assert_allclose(N(fastnn.sigmoid(x))[0], [0, 0.5, 1], atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5), data=st.data())
def test_softmax_any_dim_matches_numpy(shape, data):
    a = np.random.default_rng(0).standard_normal(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    e = np.exp(a - a.max(axis=dim, keepdims=True)) if a.size else a
    ref = e / e.sum(axis=dim, keepdims=True) if a.size else a
    np.testing.assert_allclose(N(fastnn.tensor(a).softmax(dim)), ref, rtol=1e-12, atol=1e-15)
