"""CPU batched GEMM (kernels/bmm/cpu.py) vs the float64 NumPy reference with the bound
|out - ref| <= (K+2)*eps*(|A| @ |B|); int64 exact; closed form; errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.bmm import cpu, ref

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


@settings(max_examples=50, deadline=None)
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from([np.float32, np.float64, np.int64]),
       B=st.integers(0, 40), M=st.integers(0, 7), K=st.integers(0, 9), N=st.integers(0, 9),
       seed=st.integers(0, 2**31))
def test_bmm_matches_reference(variant, dtype, B, M, K, N, seed):
    _assert_matches_reference(variant, dtype, B, M, K, N, seed)


# Larger shapes take the other paths of the tile loop: several groups of rows (the last one
# overlapping the one before when the group height does not divide M; M >= 64 has its own rule),
# several 8-column tiles with a partial last one, long k loops, odd and even batch counts.
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
