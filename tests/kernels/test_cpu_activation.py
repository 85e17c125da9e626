"""CPU activation kernels (kernels/activation/cpu.py) vs the float64 NumPy reference, vs float64
central differences (backward), and closed forms; stability at |x| ~ 1e4."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.activation import cpu, ref

NAMES = ["relu", "sigmoid", "tanh"]
FLOATS = [np.float32, np.float64]
shapes = st.lists(st.integers(0, 7), min_size=1, max_size=3).map(tuple)


def _x(shape, dtype, seed, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def _ref(name, *arrays):
    out = np.empty(arrays[0].shape, np.float64)
    getattr(ref, name)(out, *[a.astype(np.float64) for a in arrays])
    return out


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), dtype=st.sampled_from(FLOATS), shape=shapes, seed=st.integers(0, 2**31))
def test_forward_matches_reference(name, dtype, shape, seed):
    x = _x(shape, dtype, seed)
    out = np.empty_like(x)
    getattr(cpu, name)(out, x)
    want = _ref(name, x)
    assert np.all(np.abs(out - want) <= 4 * np.finfo(dtype).eps * np.abs(want) + np.finfo(dtype).tiny)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), dtype=st.sampled_from(FLOATS), shape=shapes, seed=st.integers(0, 2**31))
def test_backward_matches_reference(name, dtype, shape, seed):
    x, dout = _x(shape, dtype, seed), _x(shape, dtype, seed + 1)
    out = np.empty_like(x)
    getattr(cpu, name)(out, x)
    dx = np.empty_like(x)
    getattr(cpu, name + "_backward")(dx, dout, out)
    want = _ref(name + "_backward", dout, out)
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(dx - want) <= 4 * eps * np.abs(dout) + np.finfo(dtype).tiny)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_central_differences(name):
    """float64: dx = dout * f'(x) with f' from (f(x+h) - f(x-h)) / 2h of the reference forward."""
    x = _x((5, 6), np.float64, 0)
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink
    dout = _x((5, 6), np.float64, 1)
    out = np.empty_like(x)
    getattr(cpu, name)(out, x)
    dx = np.empty_like(x)
    getattr(cpu, name + "_backward")(dx, dout, out)
    h = 1e-6
    num = dout * (_ref(name, x + h) - _ref(name, x - h)) / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", FLOATS)
def test_closed_forms_and_stability(dtype):
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype)
    out = np.empty_like(x)
    with np.errstate(all="raise"):
        cpu.sigmoid(out, x)
        assert np.all(np.isfinite(out))
        np.testing.assert_array_equal(out[[0, 2, 4]], np.array([0.0, 0.5, 1.0], dtype))
        cpu.tanh(out, x)
        np.testing.assert_array_equal(out[[0, 2, 4]], np.array([-1.0, 0.0, 1.0], dtype))
        cpu.relu(out, x)
        np.testing.assert_array_equal(out, np.maximum(x, 0))


@settings(max_examples=40, deadline=None)
@given(act=st.integers(0, 3), dtype=st.sampled_from(FLOATS), M=st.integers(0, 9), N=st.integers(0, 20),
       seed=st.integers(0, 2**31))
def test_bias_act_matches_reference(act, dtype, M, N, seed):
    x, b = _x((M, N), dtype, seed), _x((N,), dtype, seed + 1)
    out = np.empty_like(x)
    cpu.bias_act(out, x, b, act)
    want = np.empty((M, N))
    ref.bias_act(want, x.astype(np.float64), b.astype(np.float64), act)
    pre = np.abs(x.astype(np.float64)) + np.abs(b.astype(np.float64))
    assert np.all(np.abs(out - want) <= 4 * np.finfo(dtype).eps * (np.abs(want) + pre) + np.finfo(dtype).tiny)


def test_errors_are_clear():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="one shape and dtype"):
        cpu.relu(np.empty((3, 2), np.float32), x)
    with pytest.raises(TypeError, match="int64"):
        cpu.relu(np.empty((2, 3), np.int64), x.astype(np.int64))
    with pytest.raises(ValueError, match="b \\(N,\\)"):
        cpu.bias_act(np.empty_like(x), x, np.ones(2, np.float32), 1)
    with pytest.raises(ValueError, match="activation code"):
        cpu.bias_act(np.empty_like(x), x, np.ones(3, np.float32), 7)
