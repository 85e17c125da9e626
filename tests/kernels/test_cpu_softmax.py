"""CPU softmax / log_softmax kernels (kernels/softmax/cpu.py) vs the float64 NumPy reference, vs float64
central differences (backward), closed forms and +-1e4 logits."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.softmax import cpu, ref

FLOATS = [np.float32, np.float64]
KINDS = ["softmax", "log_softmax"]


def _x(shape, dtype, seed, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def _ref(name, *arrays):
    out = np.empty(arrays[0].shape, np.float64)
    getattr(ref, name)(out, *[a.astype(np.float64) for a in arrays])
    return out


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), dtype=st.sampled_from(FLOATS), M=st.integers(0, 8), N=st.integers(0, 30),
       seed=st.integers(0, 2**31), scale=st.sampled_from([1.0, 30.0]))
def test_forward_matches_reference(kind, dtype, M, N, seed, scale):
    x = _x((M, N), dtype, seed, scale)
    out = np.empty_like(x)
    getattr(cpu, kind)(out, x)
    want = _ref(kind, x)
    eps = np.finfo(dtype).eps
    # log_softmax = x - lse: rounding relative to |x| + |lse|; softmax: relative, plus exp's argument error
    mag = np.abs(x) + np.abs(x - want) if kind == "log_softmax" else np.abs(want) * (1 + np.abs(x - _ref("log_softmax", x)))
    assert np.all(np.abs(out - want) <= 8 * eps * mag + np.finfo(dtype).tiny)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), dtype=st.sampled_from(FLOATS), M=st.integers(0, 8), N=st.integers(0, 30),
       seed=st.integers(0, 2**31))
def test_backward_matches_reference(kind, dtype, M, N, seed):
    x, dout = _x((M, N), dtype, seed), _x((M, N), dtype, seed + 1)
    out = np.empty_like(x)
    getattr(cpu, kind)(out, x)
    dx = np.empty_like(x)
    getattr(cpu, kind + "_backward")(dx, dout, out)
    want = _ref(kind + "_backward", dout, out)
    eps = np.finfo(dtype).eps
    scale = np.sum(np.abs(dout.astype(np.float64)), axis=1, keepdims=True) + np.abs(dout)
    assert np.all(np.abs(dx - want) <= 8 * eps * scale * np.maximum(1, np.abs(np.exp(out.astype(np.float64)))))


@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_central_differences(kind):
    """float64: dx_ij = d/dx_ij sum(dout * f(x)), by central differences of the reference forward."""
    x, dout = _x((3, 5), np.float64, 0), _x((3, 5), np.float64, 1)
    out = np.empty_like(x)
    getattr(cpu, kind)(out, x)
    dx = np.empty_like(x)
    getattr(cpu, kind + "_backward")(dx, dout, out)
    num, h = np.empty_like(x), 1e-6
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        num[idx] = np.sum(dout * (_ref(kind, xp) - _ref(kind, xm))) / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", FLOATS)
def test_closed_forms_and_stability(dtype):
    x = np.array([[1e4, -1e4, 1e4], [0.0, 0.0, 0.0], [-1e4, -1e4, -1e4]], dtype)
    out = np.empty_like(x)
    cpu.softmax(out, x)
    np.testing.assert_array_equal(out, np.array([[0.5, 0, 0.5], [1 / 3] * 3, [1 / 3] * 3], dtype))
    cpu.log_softmax(out, x)
    assert np.all(np.isfinite(out[:, [0, 2]])) and out[0, 1] == -2e4 - np.log(dtype(2))
    np.testing.assert_allclose(out[1], -np.log(3), rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0, 0)])
def test_empty_rows_and_columns(shape):
    for kind in KINDS:
        x = np.empty(shape, np.float32)
        out = np.empty_like(x)
        getattr(cpu, kind)(out, x)
        getattr(cpu, kind + "_backward")(np.empty_like(x), x, out)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="2-D"):
        cpu.softmax(np.empty(3, np.float32), np.ones(3, np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        cpu.softmax(np.empty((2, 2), np.int64), np.ones((2, 2), np.int64))
