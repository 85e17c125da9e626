"""CUDA batched GEMM kernels (bmm_* in kernels/gemm/sgemm.cu) on the CPU emulator vs NumPy float64 (incl. broadcast)."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

cuda_emulator = pytest.importorskip("cuda_emulator")
from fastnn.kernels.cuda_build import cu_file  # noqa: E402

pytestmark = pytest.mark.skipif(not cuda_emulator.available(), reason="CUDA emulator (g++ C++20) unusable here")
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


@pytest.mark.parametrize("variant", ["nn", "nt", "tn"])
@settings(max_examples=20, deadline=None)
@given(B=st.integers(1, 4), M=st.integers(1, 70), N=st.integers(1, 70), K=st.integers(0, 40),
       bcast=st.sampled_from(["none", "a", "b"]), seed=st.integers(0, 2**16))
def test_bmm_matches_reference(variant, B, M, N, K, bcast, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((1 if bcast == "a" else B, M, K)).astype(f32)
    b = rng.standard_normal((1 if bcast == "b" else B, K, N)).astype(f32)
    if bcast != "none":  # a broadcast operand still has batch B on the other side
        B = max(B, 2)
        a = a if bcast == "a" else rng.standard_normal((B, M, K)).astype(f32)
        b = b if bcast == "b" else rng.standard_normal((B, K, N)).astype(f32)
    out = _run(variant, a, b, bcast_a=bcast == "a", bcast_b=bcast == "b")
    _check(out, a, b)


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
