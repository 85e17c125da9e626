"""The cuda backend on a REAL GPU (marked `gpu`; skipped unless cupy.is_available()): NVRTC-compiled
kernels, cuBLAS vs our sgemm, and the fused CUDA-graph training step vs the float64 reference."""
import numpy as np
import pytest

from conftest_cuda import real_gpu_available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not real_gpu_available(),
                                                  reason="CuPy not installed or no usable CUDA GPU (cupy.is_available())")]
EPS = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def be():
    from fastnn.backends.cuda import CUDABackend

    return CUDABackend()


@pytest.mark.parametrize("impl", ["fastnn", "cublas"])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (65, 130, 33), (256, 64, 512)])
def test_matmul_real(be, impl, ta, tb, M, N, K):
    rng = np.random.default_rng(M * N + K)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    a_arg = np.ascontiguousarray(a.T) if ta else a
    b_arg = np.ascontiguousarray(b.T) if tb else b
    be.gemm_impl = impl
    try:
        got = be.to_numpy(be.matmul(be.asarray(a_arg), be.asarray(b_arg), trans_a=ta, trans_b=tb))
    finally:
        be.gemm_impl = "auto"
    bound = 8 * EPS * np.sqrt(K) * (np.abs(a) @ np.abs(b))
    assert np.all(np.abs(got - a.astype(np.float64) @ b) <= bound)


def test_softmax_xent_real(be):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((33, 700)) * 5).astype(np.float32)
    t = rng.integers(0, 700, 33)
    loss, probs = be.cross_entropy(be.asarray(x), be.asarray(t))
    x64 = x.astype(np.float64)
    lse = np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1)) + x64.max(1)
    assert np.allclose(be.to_numpy(loss), lse - x64[np.arange(33), t], rtol=64 * EPS, atol=64 * EPS)
    assert np.allclose(be.to_numpy(be.softmax(be.asarray(x))), be.to_numpy(probs), rtol=8 * EPS, atol=8 * EPS)


@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop"])
def test_fused_graph_epochs_real(be, opt):
    import test_cuda_fused as F

    p0, X, Y = F.problem(1)
    fm = F.make(be, opt, p0)
    Xd, Yd = be.asarray(X), be.asarray(Y)
    ref_p, state, step = p0.astype(np.float64), None, 0
    for epoch in range(2):
        perm = np.random.default_rng(epoch).permutation(len(X))
        be.stats.reset()
        loss, acc = fm.epoch(Xd, Yd, 8, perm)
        assert be.stats.graph_launches == 3 and be.stats.host_syncs == 1
        ref_p, state, rl, rc = F.ref_train(opt, ref_p, X, Y, F.batches_of(perm, 8), F.HYPER[opt], state, step)
        step += 3
        assert abs(loss - rl / len(X)) <= 64 * EPS * (1 + rl / len(X)) and acc == rc / len(X)
    F.assert_params_close(be.to_numpy(fm.params), ref_p, F.TOL)
