"""Kernel family reduce, on every backend and kernel by kernel.

Primitives (`backend` fixture): backend.sum_rows vs kernels/reduce/ref.py with the accumulation error
bound, non-contiguous inputs. CPU kernels: sum_rows with accumulate, sum_all, max/argmax with NumPy's
semantics (first maximum, NaN wins), float32 accuracy over 1e6 rows, errors. CUDA kernel (reduce.cu on
the emulator): sum_rows over block shapes, with and without accumulate."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from primitive import call, fixture_settings
from fastnn.kernels.cuda_build import cu_file
from fastnn.kernels.reduce import cpu, ref

# ==== primitives on every backend (the `backend` fixture), and the CPU kernels' own checks ====

FLOATS = [np.float32, np.float64]


def _x(shape, dtype, seed):
    return (np.random.default_rng(seed).standard_normal(shape) * 10).astype(dtype)


@fixture_settings(max_examples=30)
@given(dtype=st.sampled_from(FLOATS), M=st.integers(0, 60), N=st.integers(0, 40), seed=st.integers(0, 2**31),
       contiguous=st.booleans())
def test_sum_rows_primitive_matches_reference(backend, dtype, M, N, seed, contiguous):
    """backend.sum_rows (cpu: Numba; cuda: reduce.cu for float32, ref.py on the device otherwise)."""
    x = _x((M, N), dtype, seed)
    out = call(backend, "sum_rows", x, contiguous=contiguous)
    assert out.dtype == dtype and out.shape == (N,)
    want = np.empty(N)
    ref.sum_rows(want, x)
    # float64 accumulation (cpu) or float32 tree sums (cuda): at most (M+2) eps(dtype) of sum |x|
    mag = np.abs(x.astype(np.float64)).sum(axis=0)
    assert np.all(np.abs(out - want) <= (M + 2) * np.finfo(dtype).eps * mag + np.finfo(dtype).tiny)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(FLOATS), M=st.integers(0, 60), N=st.integers(0, 40), accumulate=st.booleans(),
       seed=st.integers(0, 2**31))
def test_sum_rows_matches_reference(dtype, M, N, accumulate, seed):
    x = _x((M, N), dtype, seed)
    prev = _x((N,), dtype, seed + 1)
    out = prev.copy()
    cpu.sum_rows(out, x, accumulate)
    want = prev.astype(np.float64)
    ref.sum_rows(want, x, accumulate)
    # float64 accumulation: M*eps64 relative error, then one rounding to dtype
    mag = np.abs(x.astype(np.float64)).sum(axis=0) + (np.abs(prev) if accumulate else 0)
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(out - want) <= eps * np.abs(want) + (M + 2) * np.finfo(np.float64).eps * mag
                  + (eps * mag if accumulate else 0) + np.finfo(dtype).tiny)


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from(FLOATS), shape=st.lists(st.integers(0, 9), min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**31))
def test_sum_all_matches_reference(dtype, shape, seed):
    x = _x(shape, dtype, seed)
    out, want = np.empty(1, dtype), np.empty(1)
    cpu.sum_all(out, x)
    ref.sum_all(want, x)
    mag = np.abs(x.astype(np.float64)).sum()
    assert abs(out[0] - want[0]) <= np.finfo(dtype).eps * abs(want[0]) + (x.size + 2) * np.finfo(np.float64).eps * mag


def test_sum_rows_float32_is_accurate():
    """Closed form: 1e6 rows of 0.1f sum to 1e6 * float32(0.1) to float32 rounding (naive float32 sums drift)."""
    x = np.full((1_000_000, 2), 0.1, np.float32)
    out = np.empty(2, np.float32)
    cpu.sum_rows(out, x)
    np.testing.assert_array_equal(out, np.float32(1e6 * np.float64(np.float32(0.1))))


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from(FLOATS), M=st.integers(0, 8), N=st.integers(1, 12), seed=st.integers(0, 2**31),
       ties=st.booleans(), nan=st.booleans())
def test_argmax_and_max_rows_match_numpy(dtype, M, N, seed, ties, nan):
    x = _x((M, N), dtype, seed)
    if ties:
        x = np.round(x / 10)
    if nan and M:
        x[0, N // 2] = np.nan
    idx = np.empty(M, np.int64)
    cpu.argmax_rows(idx, x)
    want = np.empty(M, np.int64)
    ref.argmax_rows(want, x)
    np.testing.assert_array_equal(idx, want)
    out = np.empty(M, dtype)
    cpu.max_rows(out, x)
    np.testing.assert_array_equal(out, x.max(axis=1))


def test_errors_are_clear():
    with pytest.raises(ValueError, match="out must have shape \\(3,\\)"):
        cpu.sum_rows(np.empty(2, np.float32), np.ones((4, 3), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        cpu.sum_rows(np.empty(3, np.int64), np.ones((4, 3), np.int64))
    with pytest.raises(ValueError, match="empty sequence"):
        cpu.argmax_rows(np.empty(2, np.int64), np.ones((2, 0), np.float32))


# ==== CUDA kernels (the .cu launched on the emulator directly) ====

EPS = np.finfo(np.float32).eps


i32, f32 = np.int32, np.float32


def _ref_sum_rows(x, prev, accumulate):
    """float64 oracle: ref.sum_rows(out, x, accumulate) from kernels/reduce/ref.py when present, else NumPy."""
    out = prev.astype(np.float64)
    try:
        importlib.import_module("fastnn.kernels.reduce.ref").sum_rows(out, x, accumulate=bool(accumulate))
        return out
    except (ImportError, AttributeError):
        return x.sum(axis=0) + (prev if accumulate else 0.0)


@needs_emulator
@settings(max_examples=30, deadline=None)
@given(M=st.integers(0, 150), N=st.integers(1, 100), ty=st.sampled_from([1, 3, 8, 32]),
       accumulate=st.sampled_from([0, 1]), seed=st.integers(0, 2**16))
def test_sum_rows(M, N, ty, accumulate, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, N)).astype(f32)
    prev = rng.standard_normal(N).astype(f32)
    out = prev.copy() if accumulate else np.full(N, np.nan, f32)  # accumulate=0 must not read out
    cuda_emulator.load(cu_file("reduce")).launch(
        "sum_rows", grid=(N + 31) // 32, block=(32, ty), args=(out, x, i32(M), i32(N), i32(accumulate)))
    ref = _ref_sum_rows(x.astype(np.float64), prev, accumulate)
    bound = 4 * EPS * (np.sqrt(M + 1) * np.abs(x).sum(axis=0) + np.abs(ref)) + 1e-38
    assert np.all(np.abs(out - ref) <= bound)
