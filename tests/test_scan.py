"""Scans along a dim on every backend: the cumsum / cumprod / cumprod_backward primitives (kernels/scan)
against kernels/scan/ref.py over hypothesis shapes (size-0/1 dims, negative dims, non-contiguous
inputs, zeros for cumprod's backward), integer dtypes through ref.py, and cumprod's gradient against
float64 central differences (zeros included, where a division-based backward fails); torch parity:
test_torch_parity_alongdim.py."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from alongdim import EPS, SETTINGS, noncontig, shape_and_dim, values
from fastnn.backends import get_backend
from fastnn.backends.base import lines_shape
from fastnn.kernels.scan import ref
from gradcheck import check_grads


def _ref(op, x, d, *more):
    """ref.<op> on float64 copies through (A, N, B) views, shaped back like x."""
    shape = lines_shape(x.shape, d)
    out = np.empty(shape)
    getattr(ref, op)(out, *(np.asarray(a, np.float64).reshape(shape) for a in (x,) + more))
    return out.reshape(x.shape)


def _with_zeros(rng, x):
    x = x.copy()
    x[rng.random(x.shape) < 0.25] = 0
    return x


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, **SETTINGS)
@given(sd=shape_and_dim(max_size=6), nc=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_scan_matches_reference(backend, op, dtype, sd, nc, seed):
    (shape, dim), be, rng = sd, get_backend(backend), np.random.default_rng(seed)
    d = dim % len(shape)
    x = _with_zeros(rng, values(rng, shape, dtype)) if op == "cumprod" else values(rng, shape, dtype)
    got = be.to_numpy(getattr(be, op)(be.asarray(noncontig(x) if nc else x), d))
    assert got.shape == x.shape and got.dtype == x.dtype
    want, mag = _ref(op, x, d), _ref(op, np.abs(x), d)
    # float64 running value (N roundings, any order) + the final rounding to dtype
    bound = (shape[d] + 2) * EPS[np.dtype(dtype)] * mag
    assert np.all(np.abs(got - want) <= bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, **SETTINGS)
@given(sd=shape_and_dim(max_size=6), nc=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_cumprod_backward_matches_reference(backend, dtype, sd, nc, seed):
    (shape, dim), be, rng = sd, get_backend(backend), np.random.default_rng(seed)
    d = dim % len(shape)
    x, dout = _with_zeros(rng, values(rng, shape, dtype)), values(rng, shape, dtype)
    out = _ref("cumprod", x, d).astype(dtype)
    got = be.to_numpy(be.cumprod_backward(*(be.asarray(noncontig(a) if nc else a) for a in (dout, x, out)), d))
    want = _ref("cumprod_backward", dout, d, x, out)
    mag = _ref("cumprod_backward", np.abs(dout), d, np.abs(x), np.abs(out))
    bound = (2 * shape[d] + 4) * EPS[np.dtype(dtype)] * mag
    assert np.all(np.abs(got - want) <= bound)


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_rows_and_lines_at_realistic_width(backend, op):
    """Rows longer than a warp's 32 lanes (cuda rows kernel carries across steps) and wide lines."""
    be, rng = get_backend(backend), np.random.default_rng(4)
    x = (1 + 0.01 * values(rng, (3, 100), np.float32)) if op == "cumprod" else values(rng, (3, 100), np.float32)
    for d in (0, 1):
        got = be.to_numpy(getattr(be, op)(be.asarray(x), d))
        bound = (x.shape[d] + 2) * EPS[np.dtype(np.float32)] * _ref(op, np.abs(x), d)
        assert np.all(np.abs(got - _ref(op, x, d)) <= bound)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_scans_run_the_reference(backend, dtype):
    be, x = get_backend(backend), np.arange(1, 13, dtype=dtype).reshape(3, 4)
    np.testing.assert_array_equal(be.to_numpy(be.cumsum(be.asarray(x), 1)), np.cumsum(x, 1))
    np.testing.assert_array_equal(be.to_numpy(be.cumprod(be.asarray(x), 0)), np.cumprod(x, 0))


# ---- the ops --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_cumprod_grad_with_zeros_matches_central_differences(backend, dim):
    x = np.array([[0.5, 0.0, 2.0, -1.5], [0.0, 0.0, 3.0, 0.7], [1.2, -0.4, 0.0, 2.2]])
    check_grads(lambda a: a.cumprod(dim), lambda a: np.cumprod(a, axis=dim), [x], device=backend)
