"""CPU fused cross-entropy kernels (kernels/xent/cpu.py) vs the float64 NumPy reference, float64
central differences, closed forms (uniform logits: loss = log C) and out-of-range safety."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.xent import cpu, ref

FLOATS = [np.float32, np.float64]


def _case(M, C, dtype, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((M, C)) * scale).astype(dtype)
    return logits, rng.integers(0, C, M).astype(np.int64)


def _forward(logits, target):
    loss, probs = np.empty(logits.shape[0], logits.dtype), np.empty_like(logits)
    cpu.cross_entropy_forward(loss, probs, logits, target)
    return loss, probs


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(FLOATS), M=st.integers(0, 9), C=st.integers(1, 30), seed=st.integers(0, 2**31),
       scale=st.sampled_from([1.0, 50.0]))
def test_forward_matches_reference(dtype, M, C, seed, scale):
    logits, target = _case(M, C, dtype, seed, scale)
    loss, probs = _forward(logits, target)
    wl, wp = np.empty(M), np.empty((M, C))
    ref.cross_entropy_forward(wl, wp, logits.astype(np.float64), target)
    eps = np.finfo(dtype).eps
    lse_mag = np.max(np.abs(logits.astype(np.float64)), axis=1) + np.log(C) + 1
    assert np.all(np.abs(loss - wl) <= 8 * eps * lse_mag)
    assert np.all(np.abs(probs - wp) <= 8 * eps * wp * lse_mag[:, None] + np.finfo(dtype).tiny)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(FLOATS), M=st.integers(0, 9), C=st.integers(1, 30), seed=st.integers(0, 2**31))
def test_backward_matches_reference(dtype, M, C, seed):
    logits, target = _case(M, C, dtype, seed)
    _, probs = _forward(logits, target)
    dloss = np.random.default_rng(seed + 1).standard_normal(M).astype(dtype)
    dlogits = np.empty_like(probs)
    cpu.cross_entropy_backward(dlogits, dloss, probs, target)
    want = np.empty((M, C))
    ref.cross_entropy_backward(want, dloss.astype(np.float64), probs.astype(np.float64), target)
    assert np.all(np.abs(dlogits - want) <= 2 * np.finfo(dtype).eps * np.abs(dloss)[:, None])


def test_backward_matches_central_differences():
    """float64: dlogits = d/dlogits sum(dloss * loss_rows(logits)), by central differences."""
    logits, target = _case(4, 6, np.float64, 0)
    dloss = np.random.default_rng(1).standard_normal(4)
    _, probs = _forward(logits, target)
    dlogits = np.empty_like(probs)
    cpu.cross_entropy_backward(dlogits, dloss, probs, target)
    num, h = np.empty_like(logits), 1e-6
    for idx in np.ndindex(logits.shape):
        lp, lm = logits.copy(), logits.copy()
        lp[idx] += h
        lm[idx] -= h
        num[idx] = np.sum(dloss * (_forward(lp, target)[0] - _forward(lm, target)[0])) / (2 * h)
    np.testing.assert_allclose(dlogits, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", FLOATS)
def test_closed_forms_and_stability(dtype):
    C = 10
    loss, probs = _forward(np.zeros((3, C), dtype), np.array([0, 4, 9]))
    np.testing.assert_allclose(loss, np.log(C), rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(probs, 1 / C, rtol=4 * np.finfo(dtype).eps)
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype)
    loss, probs = _forward(logits, np.array([0, 1]))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(probs))
    assert loss[0] == 0 and np.isclose(loss[1], np.log(3), rtol=4 * np.finfo(dtype).eps)
    loss, _ = _forward(logits, np.array([1, 0]))
    assert loss[0] == dtype(2e4)


def test_out_of_range_target_is_safe():
    logits, _ = _case(3, 4, np.float32, 0)
    target = np.array([1, -1, 4], np.int64)
    loss, probs = _forward(logits, target)
    assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(loss[2])
    dlogits = np.empty_like(probs)
    cpu.cross_entropy_backward(dlogits, np.ones(3, np.float32), probs, target)
    assert np.all(np.isfinite(dlogits[0]))


def test_errors_are_clear():
    logits = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match="int64 target"):
        _forward(logits, np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="target \\(M,\\)"):
        _forward(logits, np.zeros(2, np.int64))
