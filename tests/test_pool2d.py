"""Pooling on every backend: the pool2d primitives against kernels/pool2d/ref.py over hypothesis-chosen
windows (kernel, stride, padding, dilation, ceil_mode, adaptive bins, batch 1, 1x1 planes), window
tables against torch's closed-form size rules, and the engine's backward against central differences."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import fastnn
import fastnn.nn.functional as F
from fastnn import nn
from fastnn.backends import get_backend
from fastnn.kernels.pool2d import ref, windows as win
from gradcheck import check_grads

SETTINGS = dict(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


@st.composite
def sliding_cases(draw):
    k, d = (draw(st.integers(1, 4)), draw(st.integers(1, 4))), (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, (di * (ki - 1) + 1) // 2)) for ki, di in zip(k, d))
    lo = [max(1, di * (ki - 1) + 1 - 2 * pi) for ki, di, pi in zip(k, d, p)]
    return dict(N=draw(st.integers(1, 2)), C=draw(st.integers(1, 3)), H=draw(st.integers(lo[0], lo[0] + 6)),
                W=draw(st.integers(lo[1], lo[1] + 6)), k=k, s=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                p=p, d=d, ceil=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)))


def _tables(c, count_include_pad=True):
    rows = win.sliding(c["H"], c["k"][0], c["s"][0], c["p"][0], c["d"][0], c["ceil"], count_include_pad)
    cols = win.sliding(c["W"], c["k"][1], c["s"][1], c["p"][1], c["d"][1], c["ceil"], count_include_pad)
    return rows, cols


def test_sliding_window_sizes_follow_torchs_rule():
    # torch's rule, written out: floor/ceil((n + 2p - d(k-1) - 1)/s) + 1, dropping a window starting in the padding
    assert win.pooled_size(7, 3, 2, 1, 1, False) == 4 and win.pooled_size(7, 3, 2, 1, 1, True) == 4
    assert win.pooled_size(5, 2, 2, 1, 1, True) == 3          # ceil gives 4, whose start 3*2 >= 5 + 1: dropped
    assert win.pooled_size(5, 2, 2, 0, 1, True) == 3 and win.pooled_size(5, 2, 2, 0, 1, False) == 2
    start, count, div, out = win.sliding(5, 3, 2, 1, 1, True, True)
    assert out == 3 and list(start) == [0, 1, 3] and list(count) == [2, 3, 2] and list(div) == [3, 3, 3]
    assert list(win.sliding(5, 3, 2, 1, 1, True, False)[2]) == [2, 3, 2]
    s, n, _ = win.adaptive(10, 3)                               # bins [0,4) [3,7) [6,10)
    assert list(s) == [0, 3, 6] and list(n) == [4, 4, 4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=20, **SETTINGS)
@given(N=st.integers(0, 3), C=st.integers(1, 4), H=st.integers(2, 9), W=st.integers(2, 9), seed=st.integers(0, 999),
       special=st.booleans())
def test_max_pool_without_indices_matches_reference(backend, dtype, N, C, H, W, seed, special):
    """max_pool2d(indices=False): a backend may keep no indices (the cpu one, on a 2x2 stride-2 grid, runs
    pool2d/max2x2.py and its backward replays the scan on x); values and gradients stay ref's, with
    ties, NaN and -inf (torch's scan) and odd sizes (a last row or column in no window)."""
    be = get_backend(backend)
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (N, C, H, W)).astype(dtype)
    if special:
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.1] = -np.inf
    hs, hn, _, _ = win.sliding(H, 2, 2, 0, 1, False)
    ws, wn, _, _ = win.sliding(W, 2, 2, 0, 1, False)
    want, want_idx = ref.max_forward(x, hs, hn, ws, wn)
    xd = be.asarray(x)
    got, idx = be.max_pool2d(xd, hs, hn, ws, wn, 1, 1, indices=False)
    np.testing.assert_array_equal(be.to_numpy(got), want)
    dout = rng.standard_normal(want.shape).astype(dtype)
    got_dx = be.max_pool2d_backward(be.asarray(dout), idx, x.shape, hs, hn, ws, wn, 1, 1, x=xd)
    np.testing.assert_array_equal(be.to_numpy(got_dx), ref.max_backward(dout, want_idx, x.shape, hn, wn))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, **SETTINGS)
@given(c=sliding_cases(), ties=st.booleans())
def test_max_pool_primitives_match_reference(backend, dtype, c, ties):
    be = get_backend(backend)
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    x = (np.round(x) if ties else x).astype(dtype)             # rounded values: many ties, first one wins
    (hs, hn, _, _), (ws, wn, _, _) = _tables(c)
    want, want_idx = ref.max_forward(x, hs, hn, ws, wn, *c["d"])
    got, idx = be.max_pool2d(be.asarray(x), hs, hn, ws, wn, *c["d"])
    np.testing.assert_array_equal(be.to_numpy(got), want)
    np.testing.assert_array_equal(be.to_numpy(idx), want_idx)
    dout = rng.standard_normal(want.shape).astype(dtype)
    got_dx = be.to_numpy(be.max_pool2d_backward(be.asarray(dout), idx, x.shape, hs, hn, ws, wn, *c["d"]))
    np.testing.assert_allclose(got_dx, ref.max_backward(dout.astype(np.float64), want_idx, x.shape, hn, wn),
                               rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, **SETTINGS)
@given(c=sliding_cases(), cip=st.booleans(), adaptive=st.booleans(), data=st.data())
def test_avg_pool_primitives_match_reference(backend, dtype, c, cip, adaptive, data):
    be = get_backend(backend)
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"])).astype(dtype)
    if adaptive:
        OH, OW = data.draw(st.integers(1, c["H"] + 2)), data.draw(st.integers(1, c["W"] + 2))
        (hs, hn, hd), (ws, wn, wd) = win.adaptive(c["H"], OH), win.adaptive(c["W"], OW)
    else:
        c = dict(c, d=(1, 1), p=tuple(min(p, k // 2) for p, k in zip(c["p"], c["k"])))
        (hs, hn, hd, _), (ws, wn, wd, _) = _tables(c, cip)
    div = win.divisor_table(hd, wd)
    eps = np.finfo(dtype).eps
    want = ref.avg_forward(x.astype(np.float64), hs, hn, ws, wn, div)
    got = be.to_numpy(be.avg_pool2d(be.asarray(x), hs, hn, ws, wn, div))
    np.testing.assert_allclose(got, want, rtol=16 * eps, atol=16 * eps * np.abs(x).max())
    dout = rng.standard_normal(want.shape).astype(dtype)
    want_dx = ref.avg_backward(dout.astype(np.float64), x.shape, hs, hn, ws, wn, div)
    got_dx = be.to_numpy(be.avg_pool2d_backward(be.asarray(dout), x.shape, hs, hn, ws, wn, div))
    np.testing.assert_allclose(got_dx, want_dx, rtol=16 * eps, atol=16 * eps * np.abs(dout).max())


def test_reference_max_pool_by_definition():
    """ref.py against explicit window loops: padding as -inf, dilation, the first maximum wins."""
    x = np.array([[[[1., 3., 3.], [2., 3., 0.], [1., 1., 5.]]]])
    (hs, hn, _, _), (ws, wn, _, _) = (win.sliding(3, 2, 1, 1, 1, False), win.sliding(3, 2, 1, 1, 1, False))
    out, idx = ref.max_forward(x, hs, hn, ws, wn)
    assert out[0, 0].tolist() == [[1, 3, 3, 3], [2, 3, 3, 3], [2, 3, 5, 5], [1, 1, 5, 5]]
    assert idx[0, 0, 0].tolist() == [0, 1, 1, 2] and idx[0, 0, 1, 2] == 1    # ties: the first 3 (row-major)


@settings(max_examples=10, **SETTINGS)
@given(c=sliding_cases())
def test_max_pool_backward_central_differences(backend, c):
    x = np.random.default_rng(c["seed"]).permutation(c["N"] * c["C"] * c["H"] * c["W"]).astype(np.float64)
    x = x.reshape(c["N"], c["C"], c["H"], c["W"]) * 0.1           # distinct values: the max is differentiable
    kw = dict(kernel_size=c["k"], stride=c["s"], padding=c["p"], dilation=c["d"], ceil_mode=c["ceil"])
    (hs, hn, _, _), (ws, wn, _, _) = _tables(c)
    assume(hn.min() > 0 and wn.min() > 0)      # an all-padding window outputs -inf: no derivative there
    check_grads(lambda t: F.max_pool2d(t, **kw), lambda a: ref.max_forward(a, hs, hn, ws, wn, *c["d"])[0], [x],
                device=backend)


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                dict(kernel_size=(2, 3), padding=(1, 1)), dict(kernel_size=2, divisor_override=3)])
def test_avg_pool_backward_central_differences(backend, kw):
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6))

    def np_fn(a):   # the definition: sums over clipped windows, torch's divisor
        k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2
        p = kw.get("padding", 0)
        p = p if isinstance(p, tuple) else (p, p)
        s = kw.get("stride", k)
        s = s if isinstance(s, tuple) else (s, s)
        rows = win.sliding(5, k[0], s[0], p[0], 1, kw.get("ceil_mode", False), kw.get("count_include_pad", True))
        cols = win.sliding(6, k[1], s[1], p[1], 1, kw.get("ceil_mode", False), kw.get("count_include_pad", True))
        div = win.divisor_table(rows[2], cols[2], kw.get("divisor_override"))
        out = np.zeros(a.shape[:2] + (rows[3], cols[3]))
        for i in range(rows[3]):
            for j in range(cols[3]):
                out[:, :, i, j] = a[:, :, rows[0][i]:rows[0][i] + rows[1][i], cols[0][j]:cols[0][j] + cols[1][j]
                                    ].sum(axis=(2, 3)) / div[i, j]
        return out

    check_grads(lambda t: F.avg_pool2d(t, **kw), np_fn, [x], device=backend)


@pytest.mark.parametrize("size", [(1, 1), (3, 4), (None, 2), 5])
def test_adaptive_pools_backward(backend, size):
    x = np.random.default_rng(1).permutation(2 * 3 * 7 * 5).astype(np.float64).reshape(2, 3, 7, 5) * 0.01
    OH, OW = (size, size) if isinstance(size, int) else (7 if size[0] is None else size[0], size[1])
    (hs, hn, hd), (ws, wn, wd) = win.adaptive(7, OH), win.adaptive(5, OW)
    check_grads(lambda t: F.adaptive_avg_pool2d(t, size),
                lambda a: ref.avg_forward(a, hs, hn, ws, wn, win.divisor_table(hd, wd)), [x], device=backend)
    check_grads(lambda t: F.adaptive_max_pool2d(t, size), lambda a: ref.max_forward(a, hs, hn, ws, wn)[0], [x],
                device=backend)


def test_pool_errors_and_unbatched():
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size, but got pad=2, "
                                           "kernel_size=2 and dilation=1"):
        F.max_pool2d(fastnn.randn(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.max_pool2d(fastnn.randn(1, 1, 2, 2), 3)
    with pytest.raises(RuntimeError, match="\"max_pool2d\" not implemented for 'Long'"):
        F.max_pool2d(fastnn.zeros(1, 1, 4, 4, dtype=fastnn.int64), 2)
    x = fastnn.randn(3, 6, 6)
    assert F.max_pool2d(x, 2).shape == (3, 3, 3) and F.adaptive_avg_pool2d(x, 1).shape == (3, 1, 1)
    out, idx = nn.MaxPool2d(2, return_indices=True)(fastnn.randn(1, 2, 4, 4))
    assert idx.dtype == fastnn.int64 and idx.shape == (1, 2, 2, 2)


def test_batchnorm2d_matches_closed_form(backend):
    """Training: (x - mean) / sqrt(biased var + eps) per channel over (N, H, W); running_var gets the
    unbiased variance; eval uses the running statistics."""
    x = np.random.default_rng(2).standard_normal((4, 3, 5, 2)) * 3 + 1
    bn = nn.BatchNorm2d(3, momentum=0.5).double().to(backend)
    with fastnn.no_grad():
        bn.weight.copy_(fastnn.tensor([1.0, 2.0, -1.0], device=backend))
        bn.bias.copy_(fastnn.tensor([0.0, 0.5, 1.0], device=backend))
    y = bn(fastnn.tensor(x, device=backend)).detach().cpu().numpy()
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    want = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    want = want * np.array([1.0, 2.0, -1.0])[None, :, None, None] + np.array([0.0, 0.5, 1.0])[None, :, None, None]
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    n = 4 * 5 * 2
    np.testing.assert_allclose(bn.running_mean.cpu().numpy(), 0.5 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.cpu().numpy(), 0.5 + 0.5 * var * n / (n - 1), rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    rm, rv = bn.running_mean.cpu().numpy(), bn.running_var.cpu().numpy()
    y = bn(fastnn.tensor(x, device=backend)).detach().cpu().numpy()
    want = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    want = want * np.array([1.0, 2.0, -1.0])[None, :, None, None] + np.array([0.0, 0.5, 1.0])[None, :, None, None]
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        bn(fastnn.randn(3, 5, 2, device=backend))


def test_batchnorm2d_backward_central_differences(backend):
    x = np.random.default_rng(3).standard_normal((3, 2, 3, 2))
    w, b = np.array([1.5, -0.5]), np.array([0.1, 0.2])

    def np_fn(x, w, b):
        m, v = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
        return (x - m) / np.sqrt(v + 1e-5) * w[None, :, None, None] + b[None, :, None, None]

    check_grads(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), np_fn, [x, w, b], device=backend)


def test_dropout2d_zeroes_whole_channels(backend):
    fastnn.manual_seed(0)
    x = fastnn.ones(8, 16, 3, 3, device=backend, requires_grad=True)
    y = F.dropout2d(x, 0.5)
    planes = y.detach().cpu().numpy().reshape(8, 16, 9)
    assert set(np.unique(planes)) <= {0.0, 2.0}
    assert (planes.min(axis=2) == planes.max(axis=2)).all()      # each (n, c) plane all kept or all zero
    assert 0.2 < (planes[:, :, 0] == 0).mean() < 0.8
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy().reshape(8, 16, 9), planes)   # dx = mask / (1 - p)
    assert F.dropout2d(x, 0.5, training=False) is x
