"""CUDA fused softmax-cross-entropy kernels (kernels/xent/xent.cu) on the CPU emulator vs NumPy float64."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

cuda_emulator = pytest.importorskip("cuda_emulator")
from fastnn.kernels.cuda_build import cu_file  # noqa: E402

pytestmark = pytest.mark.skipif(not cuda_emulator.available(), reason="CUDA emulator (g++ C++20) unusable here")
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


def _case(rng, M, N, scale):
    logits = (rng.standard_normal((M, N)) * scale).astype(f32)
    return logits, rng.integers(0, N, M).astype(i64)


def _loss_bound(loss, N):
    return 4 * EPS * np.abs(loss) + 8 * EPS * np.log(N + 1) + 1e-38


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 6), N=st.integers(1, 200), block=st.sampled_from([32, 128, 256]),
       scale=st.sampled_from([1.0, 30.0, 1e4]), seed=st.integers(0, 2**16))
def test_forward_and_backward(M, N, block, scale, seed):
    rng = np.random.default_rng(seed)
    logits, target = _case(rng, M, N, scale)
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


@settings(max_examples=20, deadline=None)
@given(M=st.integers(1, 8), N=st.integers(1, 150), seed=st.integers(0, 2**16), ties=st.booleans())
def test_fused_loss_grad_and_accumulators(M, N, seed, ties):
    rng = np.random.default_rng(seed)
    logits, target = _case(rng, M, N, 4.0)
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
