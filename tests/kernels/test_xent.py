"""Kernel family xent (fused softmax + cross-entropy), on every backend and kernel by kernel.

Primitives (`backend` fixture): backend.cross_entropy / cross_entropy_backward vs kernels/xent/ref.py,
hypothesis shapes and non-contiguous inputs. CPU kernels: float64 central differences, closed forms
(uniform logits: loss = log C), out-of-range safety, errors. CUDA kernels (xent.cu on the emulator):
block sizes, per-row dloss and NULL, the fused loss/grad/accuracy accumulators, invalid targets,
sum_to_scalar."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from primitive import call, fixture_settings
from fastnn.kernels.cuda_build import cu_file
from fastnn.kernels.xent import cpu, ref

# ==== primitives on every backend (the `backend` fixture), and the CPU kernels' own checks ====

FLOATS = [np.float32, np.float64]


def _case(M, C, dtype, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((M, C)) * scale).astype(dtype)
    return logits, rng.integers(0, C, M).astype(np.int64)


def _forward(logits, target):
    loss, probs = np.empty(logits.shape[0], logits.dtype), np.empty_like(logits)
    cpu.cross_entropy_forward(loss, probs, logits, target)
    return loss, probs


@fixture_settings(max_examples=40)
@given(dtype=st.sampled_from(FLOATS), M=st.integers(0, 9), C=st.integers(1, 30), seed=st.integers(0, 2**31),
       scale=st.sampled_from([1.0, 50.0]), contiguous=st.booleans())
def test_forward_matches_reference(backend, dtype, M, C, seed, scale, contiguous):
    """backend.cross_entropy (cpu: Numba; cuda: xent.cu for float32, ref.py on the device otherwise)."""
    logits, target = _case(M, C, dtype, seed, scale)
    loss, probs = call(backend, "cross_entropy", logits, target, contiguous=contiguous)
    assert loss.dtype == probs.dtype == dtype and loss.shape == (M,) and probs.shape == (M, C)
    wl, wp = np.empty(M), np.empty((M, C))
    ref.cross_entropy_forward(wl, wp, logits.astype(np.float64), target)
    eps = np.finfo(dtype).eps
    lse_mag = np.max(np.abs(logits.astype(np.float64)), axis=1) + np.log(C) + 1
    assert np.all(np.abs(loss - wl) <= 8 * eps * lse_mag)
    assert np.all(np.abs(probs - wp) <= 8 * eps * wp * lse_mag[:, None] + np.finfo(dtype).tiny)


@fixture_settings(max_examples=40)
@given(dtype=st.sampled_from(FLOATS), M=st.integers(0, 9), C=st.integers(1, 30), seed=st.integers(0, 2**31),
       contiguous=st.booleans())
def test_backward_matches_reference(backend, dtype, M, C, seed, contiguous):
    logits, target = _case(M, C, dtype, seed)
    _, probs = call(backend, "cross_entropy", logits, target)
    dloss = np.random.default_rng(seed + 1).standard_normal(M).astype(dtype)
    dlogits = call(backend, "cross_entropy_backward", dloss, probs, target, contiguous=contiguous)
    assert dlogits.dtype == dtype and dlogits.shape == (M, C)
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


# ==== CUDA kernels (the .cu launched on the emulator directly) ====

EPS = np.finfo(np.float32).eps


i32, i64, f32 = np.int32, np.int64, np.float32


def _mod():
    return cuda_emulator.load(cu_file("xent"))


def _ref_forward(logits, target):
    """(loss_rows, probs) in float64: ref.cross_entropy_forward when present, else NumPy."""
    M, N = logits.shape
    loss, probs = np.empty(M), np.empty((M, N))
    try:
        importlib.import_module("fastnn.kernels.xent.ref").cross_entropy_forward(loss, probs, logits, target)
        return loss, probs
    except (ImportError, AttributeError):
        pass
    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return lse - z[np.arange(M), target], np.exp(z - lse[:, None])


def _ref_backward(dloss_rows, probs, target):
    """float64 dlogits = dloss_rows[:, None] * (probs - onehot): ref.cross_entropy_backward when present."""
    out = np.empty(probs.shape)
    try:
        importlib.import_module("fastnn.kernels.xent.ref").cross_entropy_backward(out, dloss_rows, probs, target)
        return out
    except (ImportError, AttributeError):
        return dloss_rows[:, None] * (probs - _onehot(target, probs.shape[1]))


def _onehot(target, N):
    o = np.zeros((target.size, N))
    o[np.arange(target.size), target] = 1
    return o


def _cu_case(rng, M, N, scale):
    logits = (rng.standard_normal((M, N)) * scale).astype(f32)
    return logits, rng.integers(0, N, M).astype(i64)


def _loss_bound(loss, N):
    return 4 * EPS * np.abs(loss) + 8 * EPS * np.log(N + 1) + 1e-38


@needs_emulator
@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 6), N=st.integers(1, 200), block=st.sampled_from([32, 128, 256]),
       scale=st.sampled_from([1.0, 30.0, 1e4]), seed=st.integers(0, 2**16))
def test_forward_and_backward(M, N, block, scale, seed):
    rng = np.random.default_rng(seed)
    logits, target = _cu_case(rng, M, N, scale)
    loss = np.full(M, np.nan, f32)
    probs = np.full((M, N), np.nan, f32)
    _mod().launch("cross_entropy_forward", grid=M, block=block, args=(loss, probs, logits, target, i32(M), i32(N)))
    ref_loss, ref_p = _ref_forward(logits.astype(np.float64), target)
    assert np.all(np.abs(loss - ref_loss) <= _loss_bound(ref_loss, N))
    assert np.all(np.abs(probs - ref_p) <= 8 * EPS * (ref_p + 1.0 / N))
    # backward, mean reduction with a device-scalar upstream gradient (stride 0)
    dloss = np.array([1.5], f32)
    dlogits = np.full((M, N), np.nan, f32)
    _mod().launch("cross_entropy_backward", grid=2, block=64,
                  args=(dlogits, probs, target, dloss, i32(0), i32(M), i32(N), f32(1.0 / M)))
    ref_d = _ref_backward(np.full(M, 1.5 / M), probs.astype(np.float64), target)
    assert np.all(np.abs(dlogits - ref_d) <= 4 * EPS * np.abs(ref_d) + 1e-38)


@needs_emulator
def test_backward_per_row_dloss_and_null():
    rng = np.random.default_rng(1)
    M, N = 7, 13
    probs = rng.dirichlet(np.ones(N), M).astype(f32)
    target = rng.integers(0, N, M).astype(i64)
    dloss = rng.standard_normal(M).astype(f32)
    for d, stride in ((dloss, 1), (None, 0)):
        dl = np.full((M, N), np.nan, f32)
        _mod().launch("cross_entropy_backward", grid=1, block=32,
                      args=(dl, probs, target, d, i32(stride), i32(M), i32(N), f32(0.5)))
        g = 0.5 * (dloss.astype(np.float64) if d is not None else np.ones(M))
        ref = _ref_backward(g, probs.astype(np.float64), target)
        assert np.all(np.abs(dl - ref) <= 4 * EPS * np.abs(ref) + 1e-38)


@needs_emulator
@settings(max_examples=20, deadline=None)
@given(M=st.integers(1, 8), N=st.integers(1, 150), seed=st.integers(0, 2**16), ties=st.booleans())
def test_fused_loss_grad_and_accumulators(M, N, seed, ties):
    rng = np.random.default_rng(seed)
    logits, target = _cu_case(rng, M, N, 4.0)
    if ties:  # integer logits: many ties, argmax must pick the first maximum like numpy/torch
        logits = np.round(logits / 4).astype(f32)
    loss = np.full(M, np.nan, f32)
    dlogits = np.full((M, N), np.nan, f32)
    loss_sum, correct = np.array([0.25], f32), np.array([3], i32)
    _mod().launch("cross_entropy_fused", grid=min(M, 3), block=64,
                  args=(loss, dlogits, logits, target, i32(M), i32(N), f32(1.0 / M), loss_sum, correct))
    ref_loss, ref_p = _ref_forward(logits.astype(np.float64), target)
    assert np.all(np.abs(loss - ref_loss) <= _loss_bound(ref_loss, N))
    ref_d = (ref_p - _onehot(target, N)) / M
    assert np.all(np.abs(dlogits - ref_d) <= 8 * EPS * (ref_p + _onehot(target, N) + 1.0 / N) / M)
    assert abs(loss_sum[0] - (0.25 + ref_loss.sum())) <= 8 * EPS * (0.25 + ref_loss.sum()) * M + 1e-6
    assert correct[0] == 3 + np.sum(np.argmax(logits, axis=1) == target)
    acc = np.array([0], i32)
    _mod().launch("accuracy_count", grid=M, block=32, args=(acc, logits, target, i32(M), i32(N)))
    assert acc[0] == np.sum(np.argmax(logits, axis=1) == target)


@needs_emulator
def test_invalid_target_gives_nan_row_and_is_not_correct():
    logits = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], f32)
    target = np.array([3, 0], i64)
    loss, probs = np.zeros(2, f32), np.zeros((2, 3), f32)
    _mod().launch("cross_entropy_forward", grid=2, block=32, args=(loss, probs, logits, target, i32(2), i32(3)))
    assert np.isnan(loss[0]) and np.isfinite(loss[1])
    dl, ls, corr = np.zeros((2, 3), f32), np.zeros(1, f32), np.zeros(1, i32)
    _mod().launch("cross_entropy_fused", grid=2, block=32,
                  args=(loss, dl, logits, target, i32(2), i32(3), f32(1.0), None, corr))
    assert np.isnan(dl[0]).all() and np.isfinite(dl[1]).all() and corr[0] == 1


@needs_emulator
@pytest.mark.parametrize("n,block", [(1, 32), (100, 64), (1000, 256)])
@pytest.mark.parametrize("accumulate", [0, 1])
def test_sum_to_scalar(n, block, accumulate):
    x = np.random.default_rng(n).standard_normal(n).astype(f32)
    out = np.array([2.0], f32)
    _mod().launch("sum_to_scalar", grid=1, block=block, args=(out, x, i32(n), f32(1.0 / n), i32(accumulate)))
    total = np.empty(1)
    try:
        importlib.import_module("fastnn.kernels.reduce.ref").sum_all(total, x.astype(np.float64))
    except (ImportError, AttributeError):
        total[0] = x.astype(np.float64).sum()
    ref = (2.0 if accumulate else 0.0) + total[0] / n
    assert abs(out[0] - ref) <= 4 * EPS * np.sqrt(n) * np.abs(x).sum() / n + 4 * EPS * abs(ref)
