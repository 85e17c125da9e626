"""Transforms against closed forms, and batch application == stacking per-sample results."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.data import transforms as T

EPS32 = np.finfo(np.float32).eps


def images(seed, shape):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_to_tensor_closed_form():
    x = np.array([[0, 1], [128, 255]], np.uint8)
    y = T.ToTensor()(x)
    assert y.shape == (1, 2, 2) and y.dtype == np.float32
    exact = np.array([[0, 1], [128, 255]], np.float64)[None] / 255.0
    np.testing.assert_allclose(y, exact, rtol=EPS32, atol=0)
    assert y[0, 0, 0] == 0.0 and y[0, 1, 1] == 1.0


def test_to_tensor_hwc_and_other_dtypes():
    x = images(1, (3, 4, 2))
    y = T.ToTensor()(x)
    assert y.shape == (2, 3, 4)
    np.testing.assert_allclose(y, np.moveaxis(x, 2, 0) / 255.0, rtol=EPS32)
    f = np.random.default_rng(0).random((3, 4))
    np.testing.assert_array_equal(T.ToTensor()(f)[0], f)           # floats are not rescaled
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\), got shape \(5,\)"):
        T.ToTensor()(np.zeros(5, np.uint8))


def test_normalize_closed_form():
    x = np.random.default_rng(0).random((2, 3, 4)).astype(np.float32)
    mean, std = [0.1, 0.5], [0.2, 2.0]
    y = T.Normalize(mean, std)(x)
    exact = (x.astype(np.float64) - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(y, exact, rtol=4 * EPS32, atol=4 * EPS32)
    assert y.dtype == np.float32
    assert not np.shares_memory(x, y)
    z = x.copy()
    out = T.Normalize(mean, std, inplace=True)(z)
    assert np.shares_memory(out, z)
    np.testing.assert_array_equal(out, y)


def test_normalize_errors():
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match=r"mean has 2 values but the image \(3, 4, 4\) has 3"):
        T.Normalize([0.1, 0.2], [1.0])(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(TypeError, match="float array, got uint8"):
        T.Normalize([0.1], [1.0])(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\(\.\.\., C, H, W\), got shape \(4, 4\)"):
        T.Normalize([0.1], [1.0])(np.zeros((4, 4), np.float32))


def mnist_pipeline():
    return T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,)),
                      T.Lambda(lambda x: x.reshape(*x.shape[:-3], np.prod(x.shape[-3:])), batched=True)])


def test_compose_closed_form():
    x = images(3, (28, 28))
    y = mnist_pipeline()(x)
    exact = ((x.astype(np.float64) / 255 - 0.1307) / 0.3081).reshape(-1)
    assert y.shape == (784,) and y.dtype == np.float32
    np.testing.assert_allclose(y, exact, rtol=8 * EPS32, atol=8 * EPS32)


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6), seed=st.integers(0, 99),
       strided=st.booleans())
def test_batch_equals_per_sample(b, h, w, seed, strided):
    xb = images(seed, (b, h, 2 * w if strided else w))
    if strided:
        xb = xb[:, :, ::2]                                 # non-contiguous batch
    pipes = [mnist_pipeline(), T.ToTensor(),
             T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2.0)])]   # unbatched Lambda
    for t in pipes:
        np.testing.assert_array_equal(T.apply_batch(t, xb), np.stack([t(x) for x in xb]))
    if b == 1:                       # an empty batch keeps its per-sample shape when vectorized
        assert mnist_pipeline().batch(xb[:0]).shape == (0, h * w)


def test_batch_hwc():
    xb = images(5, (3, 4, 5, 2))
    np.testing.assert_array_equal(T.ToTensor().batch(xb), np.stack([T.ToTensor()(x) for x in xb]))


def test_plain_callable_fallback():
    xb = images(6, (4, 2, 2))
    got = T.apply_batch(lambda x: x.sum(), xb)
    np.testing.assert_array_equal(got, xb.reshape(4, -1).sum(1))


def test_lambda_requires_callable():
    with pytest.raises(TypeError, match="should be callable, got int"):
        T.Lambda(3)
