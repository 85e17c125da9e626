"""The cuda backend's primitives on the emulated GPU (cupy_standin + cuda_emulator) vs NumPy float64."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cupy_standin
from conftest_cuda import needs_emulator
from fastnn.backends.cuda import CUDABackend
from fastnn.backends.cuda_launcher import parse_signatures

pytestmark = needs_emulator
EPS = float(np.finfo(np.float32).eps)
SETTINGS = settings(max_examples=20, deadline=None)


@pytest.fixture(scope="module")
def be():
    return CUDABackend(cp=cupy_standin)


def dev(be, a):
    return be.asarray(np.asarray(a))


def host(a):
    return cupy_standin.asnumpy(a)


def close(got, ref, rtol, atol=None):
    """|got - ref| <= atol + rtol*|ref| elementwise (atol defaults to rtol: values here are O(1))."""
    got = np.asarray(got, np.float64)
    atol = rtol if atol is None else atol
    assert got.shape == ref.shape, (got.shape, ref.shape)
    bad = ~(np.abs(got - ref) <= atol + rtol * np.abs(ref))
    assert not bad.any(), f"max err {np.max(np.abs(got - ref)[bad])} at {np.argwhere(bad)[:3].tolist()}"


def maybe_noncontig(a, flag):
    """a itself, or a non-contiguous array with a's values (every other column of a wider array)."""
    if not flag or a.ndim < 1:
        return a
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


# ---- construction -------------------------------------------------------------------------------
def test_no_gpu_raises_clear_error():
    try:
        import cupy

        if cupy.is_available():
            pytest.skip("a real GPU is present")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match="cuda"):
        CUDABackend()


def test_cupy_missing_says_install_gpu_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(RuntimeError, match=r"fastnn\[gpu\]"):
        CUDABackend()


def test_bad_gemm_setting(monkeypatch):
    monkeypatch.setenv("FASTNN_CUDA_GEMM", "fast")
    with pytest.raises(ValueError, match="FASTNN_CUDA_GEMM"):
        CUDABackend(cp=cupy_standin)


def test_signatures_parsed_from_cu():
    sigs = parse_signatures('extern "C" __global__ void k(float* out, const long long* t, int n, double a) {}')
    assert [(n, str(d), p) for n, d, p in sigs["k"]] == [("out", "float32", True), ("t", "int64", True),
                                                         ("n", "int32", False), ("a", "float64", False)]


# ---- the stand-in catches what a real GPU would get wrong ------------------------------------------
def test_python_int_to_int_param_rejected(be):
    """Real CuPy passes Python ints as int64: the emulator rejects that for an `int` parameter."""
    x = be.asarray(np.ones(4, np.float32))
    out = be.xp.empty_like(x)
    fn = be.launcher.function("act_forward")
    with pytest.raises(TypeError, match="int32"):
        fn((1,), (32,), (out, x, 4, np.int32(1)))
    be.launch("act_forward", (1,), (32,), out, x, 4, 1)  # the backend converts to the exact C types
    assert np.all(host(out) == 1)


def test_host_array_to_kernel_rejected(be):
    with pytest.raises(TypeError, match="device array"):
        be.launch("act_forward", (1,), (32,), np.empty(4, np.float32), be.asarray(np.ones(4, np.float32)), 4, 1)


def test_host_array_mixed_into_device_math_rejected(be):
    with pytest.raises(TypeError, match="host array"):
        be.asarray(np.ones(3)) + np.ones(3)


def test_stats_count_launches_and_syncs(be):
    cupy_standin.stats.reset()
    be.stats.reset()
    x = be.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = be.activation(x, "relu")
    be.sum_rows(y)
    assert be.stats.kernel_launches == cupy_standin.stats.launches == 2
    assert be.stats.host_syncs == cupy_standin.stats.syncs == 0
    np.testing.assert_array_equal(be.to_numpy(y), np.arange(6).reshape(2, 3))
    assert be.stats.host_syncs == cupy_standin.stats.syncs == 1


# ---- GEMM ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["fastnn", "cublas"])
@SETTINGS
@given(M=st.integers(0, 70), N=st.integers(0, 70), K=st.integers(0, 40), ta=st.booleans(), tb=st.booleans(),
       nc=st.booleans(), seed=st.integers(0, 2**16))
def test_matmul(be, impl, M, N, K, ta, tb, nc, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    a_arg = maybe_noncontig(np.ascontiguousarray(a.T) if ta else a, nc)
    b_arg = np.ascontiguousarray(b.T) if tb else b
    be.gemm_impl = impl
    try:
        out = be.matmul(dev(be, a_arg), dev(be, b_arg), trans_a=ta, trans_b=tb)
    finally:
        be.gemm_impl = "auto"
    ref = a.astype(np.float64) @ b.astype(np.float64)
    bound = 4 * EPS * np.sqrt(max(K, 1)) * (np.abs(a) @ np.abs(b)) + 1e-30
    got = host(out)
    assert got.shape == (M, N) and got.dtype == np.float32
    assert np.all(np.abs(got - ref) <= bound)


def test_matmul_shape_error(be):
    with pytest.raises(RuntimeError, match=r"2x3 and 2x3"):
        be.matmul(dev(be, np.ones((2, 3), np.float32)), dev(be, np.ones((2, 3), np.float32)))


def test_matmul_float64_and_int_fall_back(be):
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    np.testing.assert_array_equal(host(be.matmul(dev(be, a), dev(be, a.T.copy()))), a @ a.T)
    f = np.linspace(0, 1, 6).reshape(3, 2)
    close(host(be.matmul(dev(be, f), dev(be, f), trans_a=True)), f.T @ f, 1e-12)


@SETTINGS
@given(B=st.integers(0, 3), M=st.integers(1, 20), N=st.integers(1, 20), K=st.integers(0, 20), ta=st.booleans(),
       tb=st.booleans(), seed=st.integers(0, 2**16))
def test_bmm(be, B, M, N, K, ta, tb, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((B, M, K)).astype(np.float32)
    b = rng.standard_normal((B, K, N)).astype(np.float32)
    a_arg = np.ascontiguousarray(a.swapaxes(1, 2)) if ta else a
    b_arg = np.ascontiguousarray(b.swapaxes(1, 2)) if tb else b
    be.gemm_impl = "fastnn"
    try:
        got = host(be.bmm(dev(be, a_arg), dev(be, b_arg), trans_a=ta, trans_b=tb))
    finally:
        be.gemm_impl = "auto"
    ref = a.astype(np.float64) @ b.astype(np.float64)
    bound = 4 * EPS * np.sqrt(max(K, 1)) * (np.abs(a) @ np.abs(b)) + 1e-30
    assert got.shape == (B, M, N) and np.all(np.abs(got - ref) <= bound)


# ---- elementwise, softmax, cross-entropy, reductions ------------------------------------------------
def _act64(x, act):
    if act == "relu":
        return np.maximum(x, 0)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if act == "tanh":
        return np.tanh(x)
    return x


shapes2d = st.tuples(st.integers(0, 9), st.integers(0, 40))


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh"])
@SETTINGS
@given(shape=shapes2d, nc=st.booleans(), seed=st.integers(0, 2**16))
def test_activation_and_backward(be, act, shape, nc, seed):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal(shape)).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)
    out = be.activation(dev(be, maybe_noncontig(x, nc)), act)
    ref = _act64(x.astype(np.float64), act)
    close(host(out), ref, 4 * EPS)
    dx = host(be.activation_backward(dev(be, dout), out, act))
    y = host(out).astype(np.float64)
    dref = dout * {"relu": (y > 0), "sigmoid": y * (1 - y), "tanh": 1 - y * y}[act]
    close(dx, dref, 4 * EPS)


@pytest.mark.parametrize("log", [False, True])
@SETTINGS
@given(shape=st.tuples(st.integers(0, 6), st.integers(1, 300)), big=st.booleans(), seed=st.integers(0, 2**16))
def test_softmax_and_backward(be, log, shape, big, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * (1e4 if big else 3)).astype(np.float32)
    x64 = x.astype(np.float64)
    z = x64 - x64.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    ref = z - lse if log else np.exp(z - lse)
    out = be.softmax(dev(be, x), log=log)
    tol = 8 * EPS * (np.abs(x64).max() + 1 if log and x.size else 1) * np.sqrt(shape[1])
    close(host(out), ref, tol)
    dout = rng.standard_normal(shape).astype(np.float32)
    y = host(out).astype(np.float64)
    dref = dout - np.exp(y) * dout.sum(1, keepdims=True) if log else y * (dout - (dout * y).sum(1, keepdims=True))
    close(host(be.softmax_backward(dev(be, dout), out, log=log)), dref, 16 * EPS * np.sqrt(shape[1]))


@SETTINGS
@given(M=st.integers(0, 8), C=st.integers(1, 50), seed=st.integers(0, 2**16))
def test_cross_entropy_and_backward(be, M, C, seed):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((M, C))).astype(np.float32)
    t = rng.integers(0, C, M)
    loss, probs = be.cross_entropy(dev(be, x), dev(be, t))
    x64 = x.astype(np.float64)
    lse = np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1)) + x64.max(1, initial=-np.inf)
    close(host(loss), lse - x64[np.arange(M), t], 8 * EPS * np.sqrt(C))
    p = np.exp(x64 - lse[:, None])
    close(host(probs), p, 8 * EPS * np.sqrt(C))
    d = rng.standard_normal(M).astype(np.float32)
    onehot = np.eye(C)[t]
    close(host(be.cross_entropy_backward(dev(be, d), probs, dev(be, t))), d[:, None] * (host(probs) - onehot),
          4 * EPS)


@SETTINGS
@given(shape=st.tuples(st.integers(0, 70), st.integers(0, 70)), nc=st.booleans(), seed=st.integers(0, 2**16))
def test_sum_rows(be, shape, nc, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    got = host(be.sum_rows(dev(be, maybe_noncontig(x, nc))))
    close(got, x.astype(np.float64).sum(0), 2 * EPS * max(shape[0], 1), atol=2 * EPS * max(shape[0], 1) *
          (np.abs(x).sum(0).max(initial=0) + 1e-30))


def test_index_add_accumulates_repeats(be):
    out = dev(be, np.zeros((4, 2), np.float32))
    idx = dev(be, np.array([1, 3, 1, 1]))
    src = dev(be, np.arange(8, dtype=np.float32).reshape(4, 2))
    be.index_add(out, idx, src)
    ref = np.zeros((4, 2))
    np.add.at(ref, [1, 3, 1, 1], np.arange(8.0).reshape(4, 2))
    np.testing.assert_array_equal(host(out), ref)


def test_float64_paths_match_reference(be):
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    close(host(be.activation(dev(be, x), "sigmoid")), 1 / (1 + np.exp(-x)), 1e-14)
    close(host(be.softmax(dev(be, x), log=True)), x - np.log(np.exp(x).sum(1, keepdims=True)), 1e-14)
    loss, _ = be.cross_entropy(dev(be, x), dev(be, np.array([0, 1, 3])))
    close(host(loss), np.log(np.exp(x).sum(1)) - x[[0, 1, 2], [0, 1, 3]], 1e-14)
    close(host(be.sum_rows(dev(be, x))), x.sum(0), 1e-14)


# ---- optimizers: optim.cu kernels vs kernels/optim/ref.py (same call as the cpu backend) -------------
OPTIM_CASES = {
    "sgd_step": (1, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=True, maximize=False)),
    "adam_step": (3, dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, amsgrad=True,
                          decoupled=True, maximize=False)),
    "adagrad_step": (1, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, eps=1e-10, maximize=True)),
    "rmsprop_step": (3, dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.0, momentum=0.5, centered=True,
                             maximize=False)),
}


@pytest.mark.parametrize("name", sorted(OPTIM_CASES))
@pytest.mark.parametrize("n", [0, 1, 300])
def test_optimizer_step_matches_ref(be, name, n):
    import inspect

    from fastnn.kernels.optim import ref

    nstate, hyper = OPTIM_CASES[name]
    rng = np.random.default_rng(n)
    param = rng.standard_normal(n).astype(np.float32)
    scale = 0.0 if name == "rmsprop_step" else 0.1  # centered RMSprop needs square_avg >= grad_avg**2
    state = [np.abs(rng.standard_normal(n)).astype(np.float32) * scale for _ in range(nstate)]
    params = list(inspect.signature(getattr(ref, name)).parameters)
    host_args = [param.astype(np.float64)] + [s.astype(np.float64) for s in state]
    dev_args = [dev(be, param)] + [dev(be, s) for s in state]
    for step in (1, 2, 3):
        grad = rng.standard_normal(n).astype(np.float32)
        kw = dict(hyper, grad=None, step=step)
        tail = [kw[p] for p in params[1 + nstate:]]
        getattr(ref, name)(*host_args, *[grad.astype(np.float64) if v is None else v for v in tail])
        be.optimizer_step(name, *dev_args, *[dev(be, grad) if v is None else v for v in tail])
    close(host(dev_args[0]), host_args[0], 64 * EPS, atol=64 * EPS)
    for d, h in zip(dev_args[1:], host_args[1:]):
        close(host(d), h, 64 * EPS, atol=64 * EPS)


# ---- stream capture in the stand-in: record, replay with the same pointers, refuse syncs -------------
def test_graph_capture_records_and_replays(be):
    x = be.asarray(np.array([-1.0, 2.0, -3.0, 4.0], np.float32))
    y = be.xp.zeros_like(x)
    stream = be.cp.cuda.Stream(non_blocking=True)
    cupy_standin.stats.reset()
    with stream:
        stream.begin_capture()
        be.launch("act_forward", (1,), (32,), y, x, 4, 1)
        with pytest.raises(cupy_standin.StandinError, match="capture"):
            cupy_standin.asnumpy(y)       # a host sync inside a capture is illegal on a real GPU too
        graph = stream.end_capture()
    assert cupy_standin.stats.launches == 0 and np.all(host(y) == 0)   # captured, not run
    graph.launch(stream)
    np.testing.assert_array_equal(host(y), [0, 2, 0, 4])
    x[...] = be.asarray(np.array([5.0, -6.0, 7.0, -8.0], np.float32))
    graph.launch(stream)                   # replay reads the same pointer: sees the new values
    np.testing.assert_array_equal(host(y), [5, 0, 7, 0])
    assert cupy_standin.stats.graph_launches == 2 and cupy_standin.stats.graph_kernel_launches == 2


def test_softmax_3d_over_last_axis(be):
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
    e = np.exp(x.astype(np.float64) - x.max(-1, keepdims=True))
    close(host(be.softmax(dev(be, x))), e / e.sum(-1, keepdims=True), 8 * EPS)
