"""Kernel family softmax, on every backend and kernel by kernel.

Primitives (`backend` fixture): backend.softmax / softmax_backward (plain and log) vs kernels/softmax/ref.py,
hypothesis shapes with empty rows/columns and non-contiguous inputs. CPU kernels: float64 central
differences, closed forms and +-1e4 logits, empty shapes, errors. CUDA kernels (softmax.cu on the
emulator): block sizes and grids smaller than the rows, extreme logits in closed form."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from primitive import call, fixture_settings, randn, ref64
from fastnn.kernels.cuda_build import cu_file
from fastnn.kernels.softmax import cpu, ref

# ==== primitives on every backend (the `backend` fixture), and the CPU kernels' own checks ====

FLOATS = [np.float32, np.float64]


KINDS = ["softmax", "log_softmax"]


_x = randn


def _ref(name, *arrays):
    return ref64(getattr(ref, name), *arrays)


@fixture_settings(max_examples=40)
@given(kind=st.sampled_from(KINDS), dtype=st.sampled_from(FLOATS), M=st.integers(0, 8), N=st.integers(0, 30),
       seed=st.integers(0, 2**31), scale=st.sampled_from([1.0, 30.0]), contiguous=st.booleans())
def test_forward_matches_reference(backend, kind, dtype, M, N, seed, scale, contiguous):
    """backend.softmax (cpu: Numba; cuda: softmax.cu for float32, ref.py on the device otherwise)."""
    x = _x((M, N), dtype, seed, scale)
    out = call(backend, "softmax", x, log=kind == "log_softmax", contiguous=contiguous)
    assert out.dtype == dtype and out.shape == x.shape
    want = _ref(kind, x)
    eps = np.finfo(dtype).eps
    # log_softmax = x - lse: rounding relative to |x| + |lse|; softmax = exp(x - lse): relative, plus exp's
    # argument error, which is the rounding of lse (|lse|) and of the subtraction (|x - lse|)
    lsm = _ref("log_softmax", x)
    mag = np.abs(x) + np.abs(x - want) if kind == "log_softmax" else np.abs(want) * (1 + np.abs(x - lsm) + np.abs(lsm))
    assert np.all(np.abs(out - want) <= 8 * eps * mag + np.finfo(dtype).tiny)


@fixture_settings(max_examples=40)
@given(kind=st.sampled_from(KINDS), dtype=st.sampled_from(FLOATS), M=st.integers(0, 8), N=st.integers(0, 30),
       seed=st.integers(0, 2**31), contiguous=st.booleans())
def test_backward_matches_reference(backend, kind, dtype, M, N, seed, contiguous):
    x, dout = _x((M, N), dtype, seed), _x((M, N), dtype, seed + 1)
    out = call(backend, "softmax", x, log=kind == "log_softmax")
    dx = call(backend, "softmax_backward", dout, out, log=kind == "log_softmax", contiguous=contiguous)
    assert dx.dtype == dtype and dx.shape == x.shape
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


# ==== CUDA kernels (the .cu launched on the emulator directly) ====

EPS = np.finfo(np.float32).eps


i32, f32 = np.int32, np.float32


def _mod():
    return cuda_emulator.load(cu_file("softmax"))


def _cu_ref(name, *inputs):
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


@needs_emulator
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
    ref_p = _cu_ref("softmax", x64)
    assert np.all(np.isfinite(p))
    assert np.all(np.abs(p - ref_p) <= 8 * EPS * (ref_p + 1.0 / N) + 1e-38)   # abs: tiny probs underflow
    lp = np.full((M, N), np.nan, f32)
    _launch("log_softmax_forward", (lp, x, i32(M), i32(N)), M, block, grid)
    ref_lp = _cu_ref("log_softmax", x64)
    # (x - max) is exact in fp32; the error is that of log(sum) plus one rounding of the result
    assert np.all(np.abs(lp - ref_lp) <= 4 * EPS * np.abs(ref_lp) + 8 * EPS * np.log(N + 1) + 1e-38)


@needs_emulator
@settings(max_examples=20, deadline=None)
@given(M=st.integers(1, 5), N=st.integers(1, 200), block=st.sampled_from([32, 128]), seed=st.integers(0, 2**16))
def test_softmax_and_log_softmax_backward(M, N, block, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, N)) * 3
    dout = rng.standard_normal((M, N)).astype(f32)
    y = _cu_ref("softmax", x).astype(f32)
    dx = np.full((M, N), np.nan, f32)
    _launch("softmax_backward", (dx, dout, y, i32(M), i32(N)), M, block)
    ref = _cu_ref("softmax_backward", dout.astype(np.float64), y.astype(np.float64))
    bound = 8 * EPS * np.sqrt(N) * y * (np.abs(dout) + (np.abs(dout) * y).sum(axis=1, keepdims=True))
    assert np.all(np.abs(dx - ref) <= bound + 1e-38)
    ly = _cu_ref("log_softmax", x).astype(f32)
    dx = np.full((M, N), np.nan, f32)
    _launch("log_softmax_backward", (dx, dout, ly, i32(M), i32(N)), M, block)
    ref = _cu_ref("log_softmax_backward", dout.astype(np.float64), ly.astype(np.float64))
    bound = 8 * EPS * (np.abs(dout) + np.sqrt(N) * np.exp(ly) * np.abs(dout).sum(axis=1, keepdims=True))
    assert np.all(np.abs(dx - ref) <= bound + 1e-38)


@needs_emulator
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
