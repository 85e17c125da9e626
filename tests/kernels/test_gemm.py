"""Kernel family gemm, on every backend and kernel by kernel.

Primitives (`backend` fixture, our kernel forced): backend.matmul with transposed and non-contiguous
operands vs the float64 reference, bound |out - ref| <= (K+2)*eps*(|A| @ |B|). CPU kernels
(kernels/gemm/cpu.py): every variant and dtype with accumulate (int64 exact), blocked/parallel and
packed-A paths, MNIST shapes, thread counts, closed forms, errors. CUDA kernels (kernels/gemm/sgemm.cu
on the emulator): nn/nt/tn vs float64, alpha/beta on ragged tiles, K = 0, the fused sgemm_nt_bias_act."""
import importlib

import numba
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from primitive import call, fixture_settings, our_gemm
from fastnn.kernels.cuda_build import cu_file
from fastnn.kernels.gemm import cpu, ref

# ==== primitives on every backend (the `backend` fixture), and the CPU kernels' own checks ====

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


def _run_and_check(variant, M, K, N, dtype, accumulate, seed, kernel=None):
    """kernel(out, a, b, accumulate) (default: cpu.<variant>) against ref.<variant> in float64."""
    rng = np.random.default_rng(seed)
    a, b, A, B = _operands(variant, M, K, N, dtype, rng)
    prev = (rng.standard_normal((M, N)) * 3).astype(dtype)
    out = prev.copy()
    (kernel or getattr(cpu, variant))(out, a, b, accumulate=accumulate)
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


@fixture_settings(max_examples=30)
@given(dtype=st.sampled_from([np.float32, np.float64]), M=st.integers(0, 20), K=st.integers(0, 40),
       N=st.integers(0, 40), trans_a=st.booleans(), trans_b=st.booleans(), contiguous=st.booleans(),
       seed=st.integers(0, 2**31))
def test_matmul_primitive_matches_reference(backend, dtype, M, K, N, trans_a, trans_b, contiguous, seed):
    """backend.matmul with our kernel forced (cpu: Numba GEMM; cuda: sgemm.cu for float32, the device's
    matmul otherwise), transposed operands and non-contiguous inputs."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    a = np.ascontiguousarray(A.T) if trans_a else A
    b = np.ascontiguousarray(B.T) if trans_b else B
    with our_gemm(backend):
        out = call(backend, "matmul", a, b, trans_a=trans_a, trans_b=trans_b, contiguous=contiguous)
    want = np.empty((M, N))
    ref.matmul(want, A.astype(np.float64), B.astype(np.float64))
    assert out.dtype == dtype and out.shape == (M, N)
    mag = np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64))
    assert np.all(np.abs(out - want) <= (K + 2) * np.finfo(dtype).eps * mag + np.finfo(dtype).tiny)


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


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), trans_a=st.booleans(), M=st.integers(0, 40),
       K=st.integers(0, 40) | st.integers(cpu.KC - 2, cpu.KC + 40), N=st.integers(0, 40), accumulate=st.booleans(),
       seed=st.integers(0, 2**31))
def test_gemm_narrow_matches_reference(dtype, trans_a, M, K, N, accumulate, seed):
    """gemm_narrow (the Winograd kernels' per-position GEMMs): the axpy tiles called straight where N fits one
    panel (2W columns) and K one k-block, gemm_serial elsewhere (wider N, K > KC, empty shapes)."""
    def narrow(out, a, b, accumulate):
        cpu.gemm_narrow(out, a, b, np.bool_(trans_a), np.bool_(accumulate))

    _run_and_check("matmul_tn" if trans_a else "matmul", M, K, N, dtype, accumulate, seed, narrow)


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


# ==== CUDA kernels (the .cu launched on the emulator directly) ====

EPS = np.finfo(np.float32).eps


i32, f32 = np.int32, np.float32


def _mod():
    return cuda_emulator.load(cu_file("gemm"))


def _ref_matmul(a_arg, b_arg, variant="nn"):
    """float64 oracle on the kernel's own operands: kernels/gemm/ref.py's matmul / matmul_nt / matmul_tn
    when present, else NumPy."""
    a64, b64 = a_arg.astype(np.float64), b_arg.astype(np.float64)
    opa = a64.T if variant == "tn" else a64
    opb = b64.T if variant == "nt" else b64
    out = np.empty((opa.shape[0], opb.shape[1]), np.float64)
    try:
        ref = importlib.import_module("fastnn.kernels.gemm.ref")
        {"nn": ref.matmul, "nt": ref.matmul_nt, "tn": ref.matmul_tn}[variant](out, a64, b64)
    except (ImportError, AttributeError):
        np.matmul(opa, opb, out=out)
    return out


def _bound(a, b):
    """|fp32 GEMM error| <= c * eps * sqrt(K) * (|a| @ |b|)  (+ a tiny floor for exact zeros)."""
    k = max(a.shape[1], 1)
    return 4 * EPS * np.sqrt(k) * (np.abs(a) @ np.abs(b)) + 1e-30


def _cu_operands(rng, M, N, K, variant):
    a = rng.standard_normal((M, K)).astype(f32)
    b = rng.standard_normal((K, N)).astype(f32)
    a_arg = np.ascontiguousarray(a.T) if variant == "tn" else a
    b_arg = np.ascontiguousarray(b.T) if variant == "nt" else b
    return a, b, a_arg, b_arg


def _launch(name, out, a_arg, b_arg, M, N, K, alpha=1.0, beta=0.0):
    grid = ((N + 63) // 64, (M + 63) // 64)
    _mod().launch(name, grid=grid, block=256,
                  args=(out, a_arg, b_arg, i32(M), i32(N), i32(K), f32(alpha), f32(beta)))


@needs_emulator
@pytest.mark.parametrize("variant", ["nn", "nt", "tn"])
@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 80), N=st.integers(1, 80), K=st.integers(0, 70), seed=st.integers(0, 2**16))
def test_sgemm_matches_reference(variant, M, N, K, seed):
    rng = np.random.default_rng(seed)
    a, b, a_arg, b_arg = _cu_operands(rng, M, N, K, variant)
    out = np.full((M, N), np.nan, f32)  # beta == 0 must never read out
    _launch(f"sgemm_{variant}", out, a_arg, b_arg, M, N, K)
    ref = _ref_matmul(a_arg, b_arg, variant)
    assert np.all(np.abs(out - ref) <= _bound(a, b))


@needs_emulator
@pytest.mark.parametrize("variant", ["nn", "nt", "tn"])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (64, 64, 16), (65, 63, 17), (130, 70, 129), (3, 200, 5)])
def test_sgemm_alpha_beta_ragged(variant, M, N, K):
    rng = np.random.default_rng(M * 1000 + N + K)
    a, b, a_arg, b_arg = _cu_operands(rng, M, N, K, variant)
    c = rng.standard_normal((M, N)).astype(f32)
    out = c.copy()
    _launch(f"sgemm_{variant}", out, a_arg, b_arg, M, N, K, alpha=0.5, beta=-2.0)
    ref = 0.5 * _ref_matmul(a_arg, b_arg, variant) - 2.0 * c
    assert np.all(np.abs(out - ref) <= 0.5 * _bound(a, b) + 4 * EPS * np.abs(c))


@needs_emulator
def test_sgemm_zero_k_scales_out():
    c = np.arange(6, dtype=f32).reshape(2, 3)
    out = c.copy()
    _launch("sgemm_nn", out, np.zeros((2, 0), f32), np.zeros((0, 3), f32), 2, 3, 0, alpha=1.0, beta=3.0)
    np.testing.assert_array_equal(out, 3 * c)


def _act(x, act):
    if act == 1:
        return np.maximum(x, 0)
    if act == 2:
        return 1 / (1 + np.exp(-x))
    if act == 3:
        return np.tanh(x)
    return x


@needs_emulator
@pytest.mark.parametrize("act", [0, 1, 2, 3])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (70, 65, 33), (5, 130, 64)])
def test_sgemm_nt_bias_act(act, with_bias, M, N, K):
    rng = np.random.default_rng(act * 7 + M)
    x = rng.standard_normal((M, K)).astype(f32)
    w = rng.standard_normal((N, K)).astype(f32)
    bias = rng.standard_normal(N).astype(f32) if with_bias else None
    out = np.full((M, N), np.nan, f32)
    _mod().launch("sgemm_nt_bias_act", grid=((N + 63) // 64, (M + 63) // 64), block=256,
                  args=(out, x, w, bias, i32(M), i32(N), i32(K), i32(act)))
    pre = _ref_matmul(x, w, "nt")
    if with_bias:
        pre = pre + bias
    # activations are 1-Lipschitz: the GEMM bound carries over, plus the activation's own rounding
    tol = _bound(x, w.T) + 4 * EPS * (np.abs(_act(pre, act)) + (0 if not with_bias else np.abs(bias)))
    assert np.all(np.abs(out - _act(pre, act)) <= tol)
