"""matmul/mm/bmm over random shapes (size 0 and 1, non-contiguous, batch broadcasting) vs NumPy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import contextlib

import fastnn
from fastnn.backends import get_backend

dims = st.integers(0, 9)


@contextlib.contextmanager
def cpu_gemm(impl):
    """Force the cpu backend's GEMM: our Numba kernel ('fastnn') or OpenBLAS ('blas')."""
    be = get_backend("cpu")
    old, be.gemm_impl = be.gemm_impl, impl
    try:
        yield
    finally:
        be.gemm_impl = old


def _tol(dtype, k):
    eps = np.finfo(dtype).eps
    return 4 * eps * max(k, 1)


def _close(got, a, b, dtype):
    """|got - a@b| <= c*eps*K*(|a|@|b|): the forward-error bound of any summation order."""
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    bound = _tol(dtype, a.shape[-1]) * np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    assert got.shape == ref.shape
    assert np.all(np.abs(got - ref) <= bound + np.finfo(dtype).tiny), np.abs(got - ref).max()


@settings(max_examples=40, deadline=None)
@given(m=dims, k=dims, n=dims, ta=st.booleans(), tb=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_mm_shapes_and_transposed_views(m, k, n, ta, tb, dtype):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    A = fastnn.from_numpy(a).T if ta else fastnn.from_numpy(a)  # transposed views: non-contiguous
    B = fastnn.from_numpy(b).T if tb else fastnn.from_numpy(b)
    for impl in ("fastnn", "blas"):
        with cpu_gemm(impl):
            _close((A @ B).numpy(), a.T if ta else a, b.T if tb else b, dtype)


@settings(max_examples=30, deadline=None)
@given(batch_a=st.lists(st.integers(1, 3), max_size=2), batch_b=st.lists(st.integers(1, 3), max_size=2),
       m=dims, k=dims, n=dims, data=st.data())
def test_matmul_batch_broadcasting(batch_a, batch_b, m, k, n, data):
    # make the batch shapes broadcastable: where both have a dim, one of them may be 1
    la, lb = len(batch_a), len(batch_b)
    for i in range(1, min(la, lb) + 1):
        if batch_a[-i] != batch_b[-i] and 1 not in (batch_a[-i], batch_b[-i]):
            batch_b[-i] = 1
    rng = np.random.default_rng(0)
    a = rng.standard_normal(tuple(batch_a) + (m, k))
    b = rng.standard_normal(tuple(batch_b) + (k, n))
    for impl in ("fastnn", "blas"):
        with cpu_gemm(impl):
            _close((fastnn.tensor(a) @ fastnn.tensor(b)).numpy(), a, b, np.float64)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_matmul_is_exact(dtype):
    rng = np.random.default_rng(3)
    a = rng.integers(-50, 50, (7, 13)).astype(dtype)
    b = rng.integers(-50, 50, (13, 5)).astype(dtype)
    got = fastnn.from_numpy(a) @ fastnn.from_numpy(b)
    assert got.dtype == fastnn.from_numpy(a).dtype
    np.testing.assert_array_equal(got.numpy(), a @ b)
    c = rng.integers(-9, 9, (4, 3, 2)).astype(dtype)
    d = rng.integers(-9, 9, (4, 2, 5)).astype(dtype)
    np.testing.assert_array_equal(fastnn.bmm(fastnn.from_numpy(c), fastnn.from_numpy(d)).numpy(), c @ d)


def test_vector_cases():
    rng = np.random.default_rng(4)
    v, M = rng.standard_normal(5), rng.standard_normal((5, 3))
    np.testing.assert_allclose((fastnn.tensor(v) @ fastnn.tensor(M)).numpy(), v @ M)
    np.testing.assert_allclose((fastnn.tensor(M.T) @ fastnn.tensor(v)).numpy(), M.T @ v)
    assert (fastnn.tensor(v) @ fastnn.tensor(v)).shape == ()


def test_shared_thread_pool_runs_float_gemms_on_our_kernel_and_restores(monkeypatch):
    """cpu backend: inside shared_thread_pool() float matmuls go through kernels/gemm (Numba's pool)
    and still match the float64 product; the GEMM choice is restored after, even on an exception."""
    be = get_backend("cpu")
    calls = []
    real = be.k_gemm.matmul_nt
    monkeypatch.setattr(be.k_gemm, "matmul_nt", lambda *a, **k: (calls.append(a[1].shape), real(*a, **k)))
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((200, 30)).astype(np.float32), rng.standard_normal((20, 30)).astype(np.float32)
    old = be.gemm_impl
    with be.shared_thread_pool():
        _close(be.matmul(x, w, trans_b=True), x, w.T, np.float32)
    assert calls == [(200, 30)] and be.gemm_impl == old
    with pytest.raises(RuntimeError), be.shared_thread_pool():
        raise RuntimeError("boom")
    assert be.gemm_impl == old
    from fastnn.backends.base import Backend
    assert isinstance(Backend().shared_thread_pool(), contextlib.nullcontext)  # the contract's default


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_gemm_uses_one_thread_pool(monkeypatch, threads):
    """cpu backend, FASTNN_CPU_GEMM=auto: float matmuls take OpenBLAS on one thread only; on more they
    run on kernels/gemm in Numba's pool (no second spinning pool), and match the float64 product."""
    import numba

    be = get_backend("cpu")
    calls = []
    real = be.k_gemm.matmul
    monkeypatch.setattr(be.k_gemm, "matmul", lambda *a, **k: (calls.append(a[1].shape), real(*a, **k)))
    monkeypatch.setattr(be, "gemm_impl", "auto")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((64, 40)).astype(np.float32), rng.standard_normal((40, 30)).astype(np.float32)
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        _close(be.matmul(x, w), x, w, np.float32)
        used_ours = numba.get_num_threads() > 1
    finally:
        numba.set_num_threads(old)
    assert calls == ([(64, 40)] if used_ours else [])
