"""CUDA softmax / log_softmax kernels (kernels/softmax/softmax.cu) on the CPU emulator vs NumPy float64."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

cuda_emulator = pytest.importorskip("cuda_emulator")
from fastnn.kernels.cuda_build import cu_file  # noqa: E402

pytestmark = pytest.mark.skipif(not cuda_emulator.available(), reason="CUDA emulator (g++ C++20) unusable here")
EPS = np.finfo(np.float32).eps
i32, f32 = np.int32, np.float32


def _mod():
    return cuda_emulator.load(cu_file("softmax"))


def _ref(name, *inputs):
    """float64 oracle: kernels/softmax/ref.py's `name`(out, *inputs) when present, else NumPy."""
    out = np.empty(inputs[0].shape, np.float64)
    try:
        getattr(importlib.import_module("fastnn.kernels.softmax.ref"), name)(out, *inputs)
        return out
    except (ImportError, AttributeError):
        pass
    if name in ("softmax", "log_softmax"):
        x = inputs[0]
        z = x - x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        return np.exp(z - lse) if name == "softmax" else z - lse
    dout, y = inputs
    if name == "softmax_backward":
        return y * (dout - (dout * y).sum(axis=1, keepdims=True))
    return dout - np.exp(y) * dout.sum(axis=1, keepdims=True)


def _launch(kernel, args, M, block, grid=None):
    _mod().launch(kernel, grid=grid or min(M, 65535), block=block, args=args)


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 6), N=st.integers(1, 300), block=st.sampled_from([32, 64, 256]),
       scale=st.sampled_from([1.0, 50.0, 1e4]), seed=st.integers(0, 2**16), grid_rows=st.booleans())
def test_softmax_and_log_softmax_forward(M, N, block, scale, seed, grid_rows):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((M, N)) * scale).astype(f32)
    grid = M if grid_rows else 1  # grid 1: one block walks every row
    x64 = x.astype(np.float64)
    p = np.full((M, N), np.nan, f32)
    _launch("softmax_forward", (p, x, i32(M), i32(N)), M, block, grid)
    ref_p = _ref("softmax", x64)
    assert np.all(np.isfinite(p))
    assert np.all(np.abs(p - ref_p) <= 8 * EPS * (ref_p + 1.0 / N) + 1e-38)   # abs: tiny probs underflow
    lp = np.full((M, N), np.nan, f32)
    _launch("log_softmax_forward", (lp, x, i32(M), i32(N)), M, block, grid)
    ref_lp = _ref("log_softmax", x64)
    # (x - max) is exact in fp32; the error is that of log(sum) plus one rounding of the result
    assert np.all(np.abs(lp - ref_lp) <= 4 * EPS * np.abs(ref_lp) + 8 * EPS * np.log(N + 1) + 1e-38)


@settings(max_examples=20, deadline=None)
@given(M=st.integers(1, 5), N=st.integers(1, 200), block=st.sampled_from([32, 128]), seed=st.integers(0, 2**16))
def test_softmax_and_log_softmax_backward(M, N, block, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, N)) * 3
    dout = rng.standard_normal((M, N)).astype(f32)
    y = _ref("softmax", x).astype(f32)
    dx = np.full((M, N), np.nan, f32)
    _launch("softmax_backward", (dx, dout, y, i32(M), i32(N)), M, block)
    ref = _ref("softmax_backward", dout.astype(np.float64), y.astype(np.float64))
    bound = 8 * EPS * np.sqrt(N) * y * (np.abs(dout) + (np.abs(dout) * y).sum(axis=1, keepdims=True))
    assert np.all(np.abs(dx - ref) <= bound + 1e-38)
    ly = _ref("log_softmax", x).astype(f32)
    dx = np.full((M, N), np.nan, f32)
    _launch("log_softmax_backward", (dx, dout, ly, i32(M), i32(N)), M, block)
    ref = _ref("log_softmax_backward", dout.astype(np.float64), ly.astype(np.float64))
    bound = 8 * EPS * (np.abs(dout) + np.sqrt(N) * np.exp(ly) * np.abs(dout).sum(axis=1, keepdims=True))
    assert np.all(np.abs(dx - ref) <= bound + 1e-38)


def test_softmax_extreme_logits_closed_form():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], f32)
    p = np.full(x.shape, np.nan, f32)
    _launch("softmax_forward", (p, x, i32(2), i32(3)), 2, 32)
    np.testing.assert_array_equal(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[1], 1 / 3, rtol=2 * EPS)
    lp = np.full(x.shape, np.nan, f32)
    _launch("log_softmax_forward", (lp, x, i32(2), i32(3)), 2, 32)
    np.testing.assert_array_equal(lp[0], [0.0, -2e4, -1e4])
    np.testing.assert_allclose(lp[1], -np.log(3), rtol=2 * EPS)
