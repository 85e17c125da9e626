"""CUDA sgemm kernels (kernels/gemm/sgemm.cu) run on the CPU emulator, checked against NumPy float64."""
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


def _operands(rng, M, N, K, variant):
    a = rng.standard_normal((M, K)).astype(f32)
    b = rng.standard_normal((K, N)).astype(f32)
    a_arg = np.ascontiguousarray(a.T) if variant == "tn" else a
    b_arg = np.ascontiguousarray(b.T) if variant == "nt" else b
    return a, b, a_arg, b_arg


def _launch(name, out, a_arg, b_arg, M, N, K, alpha=1.0, beta=0.0):
    grid = ((N + 63) // 64, (M + 63) // 64)
    _mod().launch(name, grid=grid, block=256,
                  args=(out, a_arg, b_arg, i32(M), i32(N), i32(K), f32(alpha), f32(beta)))


@pytest.mark.parametrize("variant", ["nn", "nt", "tn"])
@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 80), N=st.integers(1, 80), K=st.integers(0, 70), seed=st.integers(0, 2**16))
def test_sgemm_matches_reference(variant, M, N, K, seed):
    rng = np.random.default_rng(seed)
    a, b, a_arg, b_arg = _operands(rng, M, N, K, variant)
    out = np.full((M, N), np.nan, f32)  # beta == 0 must never read out
    _launch(f"sgemm_{variant}", out, a_arg, b_arg, M, N, K)
    ref = _ref_matmul(a_arg, b_arg, variant)
    assert np.all(np.abs(out - ref) <= _bound(a, b))


@pytest.mark.parametrize("variant", ["nn", "nt", "tn"])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (64, 64, 16), (65, 63, 17), (130, 70, 129), (3, 200, 5)])
def test_sgemm_alpha_beta_ragged(variant, M, N, K):
    rng = np.random.default_rng(M * 1000 + N + K)
    a, b, a_arg, b_arg = _operands(rng, M, N, K, variant)
    c = rng.standard_normal((M, N)).astype(f32)
    out = c.copy()
    _launch(f"sgemm_{variant}", out, a_arg, b_arg, M, N, K, alpha=0.5, beta=-2.0)
    ref = 0.5 * _ref_matmul(a_arg, b_arg, variant) - 2.0 * c
    assert np.all(np.abs(out - ref) <= 0.5 * _bound(a, b) + 4 * EPS * np.abs(c))


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
