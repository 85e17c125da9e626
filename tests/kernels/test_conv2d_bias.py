"""kernels/conv2d/bias.py (the eager conv2d's bias add and bias gradient) against NumPy's broadcast add and
sum, over shapes with size-0 and size-1 dims, odd plane sizes around the vector width, 1 and 2 threads,
float32 and float64; through the cpu backend's primitives; and both primitives on every backend."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.backends import get_backend
from primitive import call, fixture_settings
from fastnn.kernels.conv2d import bias as kb

DTYPES = [np.float32, np.float64]


@st.composite
def cases(draw):
    return dict(N=draw(st.integers(0, 5)), O=draw(st.integers(1, 6)), H=draw(st.integers(1, 7)),
                W=draw(st.integers(1, 19)), T=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2 ** 16)))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(c=cases())
def test_bias_add_and_sum_match_numpy(dtype, c):
    rng = np.random.default_rng(c["seed"])
    out = rng.standard_normal((c["N"], c["O"], c["H"], c["W"])).astype(dtype)
    b = rng.standard_normal(c["O"]).astype(dtype)
    want = out + b.reshape(1, -1, 1, 1)
    T = max(1, min(c["T"], c["N"]))
    kb.bias_forward_(out, b, np.int64(T))
    np.testing.assert_array_equal(out, want)               # one rounding per element, as NumPy's
    db, partial = np.zeros(c["O"], dtype), np.zeros((T, c["O"]), dtype)
    kb.bias_backward_drv(db, partial, out)
    exact = out.astype(np.float64).sum(axis=(0, 2, 3))
    n = c["N"] * c["H"] * c["W"] + T                      # terms per channel, partials included
    bound = n * np.finfo(dtype).eps * np.abs(out).astype(np.float64).sum(axis=(0, 2, 3))
    assert np.all(np.abs(db - exact) <= bound + np.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backend_bias_primitives_on_a_non_contiguous_gradient(dtype):
    be = get_backend("cpu")
    rng = np.random.default_rng(0)
    dout = rng.standard_normal((4, 5, 6, 3)).astype(dtype).transpose(0, 1, 3, 2)   # (4,5,3,6), strided
    exact = dout.astype(np.float64).sum(axis=(0, 2, 3))
    bound = 80 * np.finfo(dtype).eps * np.abs(dout).astype(np.float64).sum(axis=(0, 2, 3))   # 72 terms + partials
    assert np.all(np.abs(be.conv2d_backward_bias(dout) - exact) <= bound)
    out, b = rng.standard_normal((3, 5, 2, 2)).astype(dtype), rng.standard_normal(5).astype(dtype)
    want = out + b.reshape(1, -1, 1, 1)
    np.testing.assert_array_equal(be.conv2d_bias_(out, b), want)


@fixture_settings(max_examples=25)
@given(c=cases(), dtype=st.sampled_from(DTYPES), contiguous=st.booleans())
def test_bias_primitives_on_every_backend(backend, c, dtype, contiguous):
    """conv2d_bias_ / conv2d_backward_bias through the `backend` fixture (cpu: kernels/conv2d/bias.py;
    cuda: base.py's xp defaults on the device) against NumPy in float64."""
    rng = np.random.default_rng(c["seed"])
    out = rng.standard_normal((c["N"], c["O"], c["H"], c["W"])).astype(dtype)
    b = rng.standard_normal(c["O"]).astype(dtype)
    want = out + b.reshape(1, -1, 1, 1)
    got = call(backend, "conv2d_bias_", out.copy(), b, contiguous=contiguous)   # in place: on a copy
    np.testing.assert_array_equal(got, want)
    db = call(backend, "conv2d_backward_bias", out, contiguous=contiguous)
    exact = out.astype(np.float64).sum(axis=(0, 2, 3))
    n = c["N"] * c["H"] * c["W"] + 3
    assert np.all(np.abs(db - exact) <= n * np.finfo(dtype).eps * np.abs(out).astype(np.float64).sum(axis=(0, 2, 3)))
