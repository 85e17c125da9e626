"""Kernel family bmm, on every backend and kernel by kernel.

Primitives (`backend` fixture, our kernel forced): backend.bmm with transposed and non-contiguous operands
vs the float64 reference, bound |out - ref| <= (K+2)*eps*(|A| @ |B|). CPU kernels (kernels/bmm/cpu.py):
every variant and dtype (int64 exact), larger tile paths, odd strides, closed form, errors. CUDA kernels
(bmm_* in kernels/gemm/sgemm.cu on the emulator): broadcast operands, grids smaller than the batch, beta."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from primitive import call, fixture_settings, our_gemm
from fastnn.kernels.bmm import cpu, ref
from fastnn.kernels.cuda_build import cu_file

# ==== primitives on every backend (the `backend` fixture), and the CPU kernels' own checks ====

VARIANTS = ["bmm", "bmm_nt", "bmm_tn"]


def _assert_matches_reference(variant, dtype, B, M, K, N, seed):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "i":
        A, Bm = rng.integers(-50, 50, (B, M, K)), rng.integers(-50, 50, (B, K, N))
    else:
        A, Bm = rng.standard_normal((B, M, K)), rng.standard_normal((B, K, N))
    A, Bm = A.astype(dtype), Bm.astype(dtype)
    a = np.ascontiguousarray(np.swapaxes(A, 1, 2)) if variant == "bmm_tn" else A
    b = np.ascontiguousarray(np.swapaxes(Bm, 1, 2)) if variant == "bmm_nt" else Bm
    out = np.full((B, M, N), 7, dtype)  # stale values must be overwritten
    getattr(cpu, variant)(out, a, b)
    want = np.empty((B, M, N), np.float64 if np.dtype(dtype).kind == "f" else dtype)
    getattr(ref, variant)(want, a, b)
    if np.dtype(dtype).kind == "i":
        np.testing.assert_array_equal(out, want)
    else:
        bound = (K + 2) * np.finfo(dtype).eps * np.matmul(np.abs(A), np.abs(Bm)).astype(np.float64)
        assert np.all(np.abs(out - want) <= bound + np.finfo(dtype).tiny)


@fixture_settings(max_examples=30)
@given(dtype=st.sampled_from([np.float32, np.float64]), B=st.integers(0, 6), M=st.integers(0, 7),
       K=st.integers(0, 9), N=st.integers(0, 9), trans_a=st.booleans(), trans_b=st.booleans(),
       contiguous=st.booleans(), seed=st.integers(0, 2**31))
def test_bmm_primitive_matches_reference(backend, dtype, B, M, K, N, trans_a, trans_b, contiguous, seed):
    """backend.bmm with our kernel forced (cpu: Numba bmm; cuda: sgemm.cu's bmm for float32, ref on the
    device otherwise), transposed operands and non-contiguous inputs."""
    rng = np.random.default_rng(seed)
    A, Bm = rng.standard_normal((B, M, K)).astype(dtype), rng.standard_normal((B, K, N)).astype(dtype)
    a = np.ascontiguousarray(np.swapaxes(A, 1, 2)) if trans_a else A
    b = np.ascontiguousarray(np.swapaxes(Bm, 1, 2)) if trans_b else Bm
    with our_gemm(backend):
        out = call(backend, "bmm", a, b, trans_a=trans_a, trans_b=trans_b, contiguous=contiguous)
    want = np.empty((B, M, N))
    ref.bmm(want, A.astype(np.float64), Bm.astype(np.float64))
    assert out.dtype == dtype and out.shape == (B, M, N)
    bound = (K + 2) * np.finfo(dtype).eps * np.matmul(np.abs(A), np.abs(Bm)).astype(np.float64)
    assert np.all(np.abs(out - want) <= bound + np.finfo(dtype).tiny)


@settings(max_examples=50, deadline=None)
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from([np.float32, np.float64, np.int64]),
       B=st.integers(0, 40), M=st.integers(0, 7), K=st.integers(0, 9), N=st.integers(0, 9),
       seed=st.integers(0, 2**31))
def test_bmm_matches_reference(variant, dtype, B, M, K, N, seed):
    _assert_matches_reference(variant, dtype, B, M, K, N, seed)


@settings(max_examples=25, deadline=None)
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from([np.float32, np.float64, np.int64]),
       B=st.integers(1, 5), M=st.integers(7, 26) | st.integers(60, 70), K=st.integers(0, 40),
       N=st.integers(8, 26), seed=st.integers(0, 2**31))
def test_bmm_larger_shapes_match_reference(variant, dtype, B, M, K, N, seed):
    _assert_matches_reference(variant, dtype, B, M, K, N, seed)


@pytest.mark.parametrize("variant", VARIANTS)
def test_bmm_c_contiguous_views_with_odd_strides(variant):
    # x[:, 2:3] of a (1,5,4) array is C-contiguous for numpy, but its length-1 axes keep x's strides
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 5, 4))[:, 2:3, :]
    b = rng.standard_normal((1, 4, 3)) if variant == "bmm" else rng.standard_normal((1, 3, 4))[:, 1:2, :]
    assert a.flags.c_contiguous and b.flags.c_contiguous
    M = a.shape[2] if variant == "bmm_tn" else a.shape[1]
    out = np.full((1, M, b.shape[1] if variant == "bmm_nt" else b.shape[2]), np.nan)
    getattr(cpu, variant)(out, a, b)
    want = np.empty_like(out)
    getattr(ref, variant)(want, a, b)
    np.testing.assert_allclose(out, want, rtol=1e-14)


def test_bmm_closed_form_and_uninitialised_out():
    a = np.array([[[1, 2], [3, 4]], [[1, 0], [0, 1]]], np.float32)
    b = np.array([[[5, 6], [7, 8]], [[2, 3], [4, 5]]], np.float32)
    out = np.full((2, 2, 2), np.nan, np.float32)
    cpu.bmm(out, a, b)
    np.testing.assert_array_equal(out, [[[19, 22], [43, 50]], [[2, 3], [4, 5]]])
    out[...] = np.nan
    cpu.bmm_nt(out, a, np.ascontiguousarray(np.swapaxes(b, 1, 2)))
    np.testing.assert_array_equal(out, [[[19, 22], [43, 50]], [[2, 3], [4, 5]]])


def test_bmm_errors_are_clear():
    a, b = np.ones((2, 3, 4), np.float32), np.ones((2, 5, 6), np.float32)
    with pytest.raises(ValueError, match="cannot be multiplied \\(2x3x4 and 2x5x6\\)"):
        cpu.bmm(np.empty((2, 3, 6), np.float32), a, b)
    with pytest.raises(TypeError, match="float64"):
        cpu.bmm(np.empty((2, 3, 6), np.float32), a, np.ones((2, 4, 6), np.float64))
    with pytest.raises(ValueError, match="3-D"):
        cpu.bmm(np.empty((3, 6), np.float32), a, b)
    a, b = np.ones((2, 3, 4), np.float32), np.ones((2, 4, 6), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        cpu.bmm_nt(np.empty((2, 3, 6), np.float32), a, np.ones((2, 4, 6), np.float32).transpose(0, 2, 1))
    with pytest.raises(ValueError, match="C-contiguous"):  # out is written by flat offsets
        cpu.bmm(np.empty((2, 6, 3), np.float32).transpose(0, 2, 1), a, b)
    with pytest.raises(ValueError, match="C-contiguous"):
        cpu.bmm(np.empty((2, 3, 6), np.float32), np.ones((2, 4, 3), np.float32).transpose(0, 2, 1), b)
    ro = np.empty((2, 3, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        cpu.bmm(ro, a, b)
    with pytest.raises(ValueError, match=r"out has shape \(2, 3, 5\), expected \(2, 3, 6\)"):
        cpu.bmm_tn(np.empty((2, 3, 5), np.float32), np.ones((2, 4, 3), np.float32), b)


# ==== CUDA kernels (the .cu launched on the emulator directly) ====

EPS = np.finfo(np.float32).eps


i32, i64, f32 = np.int32, np.int64, np.float32


def _ref_bmm(a, b):
    """float64 oracle: kernels/bmm/ref.py's bmm when present, else NumPy matmul."""
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), np.float64)
    try:
        importlib.import_module("fastnn.kernels.bmm.ref").bmm(out, a, b)
    except (ImportError, AttributeError):
        np.matmul(a, b, out=out)
    return out


def _run(variant, a, b, bcast_a=False, bcast_b=False, grid_z=None, alpha=1.0, beta=0.0, out=None):
    """a (B|1,M,K), b (B|1,K,N) logical operands; passes the kernel the layout `variant` expects."""
    B = max(a.shape[0], b.shape[0])
    M, K, N = a.shape[1], a.shape[2], b.shape[2]
    a_arg = np.ascontiguousarray(a.transpose(0, 2, 1)) if variant == "tn" else a
    b_arg = np.ascontiguousarray(b.transpose(0, 2, 1)) if variant == "nt" else b
    if out is None:
        out = np.full((B, M, N), np.nan, f32)
    sa, sb = (0 if bcast_a else M * K), (0 if bcast_b else K * N)
    grid = ((N + 63) // 64, (M + 63) // 64, grid_z or min(B, 65535))
    cuda_emulator.load(cu_file("gemm")).launch(
        f"bmm_{variant}", grid=grid, block=256,
        args=(out, a_arg, b_arg, i32(B), i32(M), i32(N), i32(K), i64(sa), i64(sb), i64(M * N), f32(alpha), f32(beta)))
    return out


def _check(out, a, b, extra=0.0):
    ref = _ref_bmm(np.broadcast_to(a, (out.shape[0],) + a.shape[1:]).astype(np.float64),
                   np.broadcast_to(b, (out.shape[0],) + b.shape[1:]).astype(np.float64))
    bound = 4 * EPS * np.sqrt(max(a.shape[2], 1)) * (np.abs(a) @ np.abs(b)) + 1e-30 + extra
    assert np.all(np.abs(out - ref) <= bound)


@needs_emulator
@pytest.mark.parametrize("variant", ["nn", "nt", "tn"])
@settings(max_examples=20, deadline=None)
@given(B=st.integers(1, 4), M=st.integers(1, 70), N=st.integers(1, 70), K=st.integers(0, 40),
       bcast=st.sampled_from(["none", "a", "b"]), seed=st.integers(0, 2**16))
def test_cuda_bmm_matches_reference(variant, B, M, N, K, bcast, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((1 if bcast == "a" else B, M, K)).astype(f32)
    b = rng.standard_normal((1 if bcast == "b" else B, K, N)).astype(f32)
    if bcast != "none":  # a broadcast operand still has batch B on the other side
        B = max(B, 2)
        a = a if bcast == "a" else rng.standard_normal((B, M, K)).astype(f32)
        b = b if bcast == "b" else rng.standard_normal((B, K, N)).astype(f32)
    out = _run(variant, a, b, bcast_a=bcast == "a", bcast_b=bcast == "b")
    _check(out, a, b)


@needs_emulator
@pytest.mark.parametrize("variant", ["nn", "nt", "tn"])
def test_bmm_grid_smaller_than_batch_and_beta(variant):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 65, 17)).astype(f32)
    b = rng.standard_normal((5, 17, 66)).astype(f32)
    c = rng.standard_normal((5, 65, 66)).astype(f32)
    out = _run(variant, a, b, grid_z=2, alpha=2.0, beta=1.0, out=c.copy())
    ref_ab = _ref_bmm(a.astype(np.float64), b.astype(np.float64))
    bound = 8 * EPS * np.sqrt(17) * (np.abs(a) @ np.abs(b)) + 4 * EPS * np.abs(c)
    assert np.all(np.abs(out - (2 * ref_ab + c)) <= bound)
