"""CPU GEMM kernels (kernels/gemm/cpu.py) vs the float64 NumPy reference, with the honest error bound
|out - ref| <= (K+2)*eps*(|A| @ |B| + |out_before|); int64 exact."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.gemm import cpu, ref

DTYPES = [np.float32, np.float64, np.int64]
VARIANTS = ["matmul", "matmul_nt", "matmul_tn"]


def _operands(variant, M, K, N, dtype, rng):
    """(a, b) as the kernel takes them and the logical (A (M,K), B (K,N))."""
    if np.dtype(dtype).kind == "i":
        A, B = rng.integers(-50, 50, (M, K)), rng.integers(-50, 50, (K, N))
    else:
        A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    A, B = A.astype(dtype), B.astype(dtype)
    a = np.ascontiguousarray(A.T) if variant == "matmul_tn" else A
    b = np.ascontiguousarray(B.T) if variant == "matmul_nt" else B
    return a, b, A, B


def _run_and_check(variant, M, K, N, dtype, accumulate, seed):
    rng = np.random.default_rng(seed)
    a, b, A, B = _operands(variant, M, K, N, dtype, rng)
    prev = (rng.standard_normal((M, N)) * 3).astype(dtype)
    out = prev.copy()
    getattr(cpu, variant)(out, a, b, accumulate=accumulate)
    want = np.empty((M, N), np.float64 if np.dtype(dtype).kind == "f" else dtype)
    want[...] = prev
    getattr(ref, variant)(want, a, b, accumulate=accumulate)
    if np.dtype(dtype).kind == "i":
        np.testing.assert_array_equal(out, want)
        return
    eps = np.finfo(dtype).eps
    mag = np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64))
    bound = (K + 2) * eps * (mag + (np.abs(prev) if accumulate else 0)) + np.finfo(dtype).tiny
    assert np.all(np.abs(out - want) <= bound), np.max(np.abs(out - want) - bound)


@settings(max_examples=40, deadline=None)
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from(DTYPES),
       M=st.integers(0, 20), K=st.integers(0, 40), N=st.integers(0, 40),
       accumulate=st.booleans(), seed=st.integers(0, 2**31))
def test_gemm_matches_reference_small(variant, dtype, M, K, N, accumulate, seed):
    _run_and_check(variant, M, K, N, dtype, accumulate, seed)


@settings(max_examples=12, deadline=None)
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from([np.float32, np.float64]),
       M=st.integers(30, 140), K=st.integers(500, 1100), N=st.integers(1, 90),
       accumulate=st.booleans(), seed=st.integers(0, 2**31))
def test_gemm_matches_reference_blocked_parallel(variant, dtype, M, K, N, accumulate, seed):
    """Large enough for the parallel path and K > KC (several k-blocks, ragged tiles)."""
    _run_and_check(variant, M, K, N, dtype, accumulate, seed)


@settings(max_examples=15, deadline=None)
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from([np.float32, np.float64]),
       M=st.integers(1, 700), K=st.integers(1, 600), N=st.integers(120, 420),
       accumulate=st.booleans(), seed=st.integers(0, 2**31))
def test_gemm_matches_reference_wide_packed_a(variant, dtype, M, K, N, accumulate, seed):
    """Chunks of >= PACK_A_MIN_N columns pack A (ragged micro-panels and row blocks); from 512 rows
    the 2-thread split is along M."""
    _run_and_check(variant, M, K, N, dtype, accumulate, seed)


@pytest.mark.parametrize("shape", [(64, 784, 128), (128, 64, 784), (1024, 64, 10), (7, 3, 200),
                                   (1024, 128, 784), (1024, 784, 128), (128, 1024, 784)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_mnist_shapes(shape, variant):
    _run_and_check(variant, *shape, np.float32, False, 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_gemm_thread_counts_agree(threads):
    """Same answer whatever the thread split (chunking must cover every tile exactly once)."""
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        _run_and_check("matmul", 100, 300, 70, np.float64, True, 3)
    finally:
        numba.set_num_threads(old)


def test_gemm_int64_closed_form():
    out = np.empty((2, 2), np.int64)
    cpu.matmul(out, np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]]))
    np.testing.assert_array_equal(out, [[19, 22], [43, 50]])


def test_gemm_float_closed_form_identity():
    x = np.random.default_rng(0).standard_normal((9, 21)).astype(np.float32)
    out = np.empty_like(x)
    cpu.matmul(out, x, np.eye(21, dtype=np.float32))
    np.testing.assert_array_equal(out, x)  # exact: one nonzero product per output


def test_gemm_errors_are_clear():
    a, b = np.ones((3, 4), np.float32), np.ones((5, 6), np.float32)
    with pytest.raises(ValueError, match=r"cannot be multiplied \(3x4 and 5x6\)"):
        cpu.matmul(np.empty((3, 6), np.float32), a, b)
    with pytest.raises(TypeError, match="float64"):
        cpu.matmul(np.empty((3, 6), np.float32), a, np.ones((4, 6), np.float64))
    with pytest.raises(ValueError, match="out has shape"):
        cpu.matmul(np.empty((3, 5), np.float32), a, np.ones((4, 6), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        cpu.matmul(np.empty((3, 6), np.float32), a, np.ones((6, 4), np.float32).T)
