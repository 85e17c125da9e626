"""CUDA column-sum kernel sum_rows (kernels/reduce/reduce.cu) on the CPU emulator vs NumPy float64."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

cuda_emulator = pytest.importorskip("cuda_emulator")
from fastnn.kernels.cuda_build import cu_file  # noqa: E402

pytestmark = pytest.mark.skipif(not cuda_emulator.available(), reason="CUDA emulator (g++ C++20) unusable here")
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
