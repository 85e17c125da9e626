"""Kernel family batchnorm, on every backend and kernel by kernel.

Primitives (`backend` fixture): backend.batch_norm / batch_norm_backward (cpu: kernels/batchnorm/cpu.py;
cuda: batchnorm.cu for float32, ref.py on the device otherwise) vs kernels/batchnorm/ref.py, hypothesis
shapes (N, C, *) with N=0/1, C=0/1, L=1, non-contiguous inputs, training and eval, eps-derived bounds.
The backward kernel against float64 central differences of the reference forward (the derivation's
oracle); the functional's torch behaviours at the edges (empty batch, one value per channel). CUDA
kernels on the emulator: block sizes and grids smaller than the channel count."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F
from conftest_cuda import needs_emulator
from primitive import device, fixture_settings
from fastnn.backends import get_backend
from fastnn.kernels.batchnorm import cpu, ref
from fastnn.kernels.cuda_build import cu_file

FLOATS = [np.float32, np.float64]
EPS_BN = 1e-5


def call(backend, primitive, *args, contiguous=True):
    """backend.<primitive>(*args on the device) with its outputs as NumPy arrays (None stays None)."""
    be = get_backend(backend)
    outs = getattr(be, primitive)(*[device(backend, a, contiguous) for a in args])
    return tuple(None if o is None else be.to_numpy(o) for o in outs)


def _data(shape, dtype, seed, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + offset).astype(dtype)


def _as3(a):
    """(N,C,*) as (N,C,L), the kernels' layout."""
    return a.reshape(a.shape[0], a.shape[1], int(np.prod(a.shape[2:])))


def _ref_forward(x, w, b, rm=None, rv=None):
    """float64 (out (N,C,L), mean, invstd, var) of ref.py; rm None: training."""
    x3 = _as3(x)
    C = x.shape[1]
    out, mean, invstd, var = np.empty(x3.shape), np.empty(C), np.empty(C), np.empty(C)
    ref.batch_norm_forward(out, mean, invstd, var, x3, w, b, rm, rv, EPS_BN, rm is None)
    return out, mean, invstd, var


def _ref_backward(dout, x, w, mean, invstd, training):
    x3 = _as3(x)
    dx, dw, db = np.empty(x3.shape), np.empty(x.shape[1]), np.empty(x.shape[1])
    ref.batch_norm_backward(dx, dw, db, _as3(dout), x3, w, mean, invstd, training)
    return dx, dw, db


def _accumulation(x3, training):
    """Worst-case rounding count of a per-channel sum (M terms, any order) when training, else 1."""
    return x3.shape[0] * x3.shape[2] + 1 if training else 1


shapes = st.one_of(st.tuples(st.integers(0, 6), st.integers(0, 4)),
                   st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 9)),
                   st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 4), st.integers(1, 5)))


@fixture_settings(max_examples=50)
@given(shape=shapes, dtype=st.sampled_from(FLOATS), training=st.booleans(), affine=st.booleans(),
       offset=st.sampled_from([0.0, 5.0, -40.0]), seed=st.integers(0, 2**31), contiguous=st.booleans())
def test_forward_matches_reference(backend, shape, dtype, training, affine, offset, seed, contiguous):
    C = shape[1]
    x = _data(shape, dtype, seed, offset, scale=2.0)
    w = _data((C,), dtype, seed + 1) if affine else None
    b = _data((C,), dtype, seed + 2) if affine else None
    rm = None if training else _data((C,), dtype, seed + 3, offset)
    rv = None if training else np.abs(_data((C,), dtype, seed + 4)) + dtype(0.1)
    out, mean, invstd, var = call(backend, "batch_norm", x, w, b, EPS_BN, rm, rv, contiguous=contiguous)
    assert out.shape == x.shape and out.dtype == dtype and mean.shape == invstd.shape == var.shape == (C,)
    w64 = np.ones(C) if w is None else w.astype(np.float64)
    b64 = np.zeros(C) if b is None else b.astype(np.float64)
    want, wmean, winv, wvar = _ref_forward(x, w64, b64, rm, rv)
    x3 = _as3(x.astype(np.float64))
    eps, A = np.finfo(dtype).eps, _accumulation(x3, training)
    absmean = np.abs(x3).sum(axis=(0, 2)) / max(x3.shape[0] * x3.shape[2], 1)
    # mean: A roundings of |x|; var/invstd: relative A roundings; out: the mean's error times invstd,
    # the invstd error times |xhat|, and the output's own rounding
    xhat = np.abs(x3 - wmean[None, :, None]) * winv[None, :, None]
    bound = 4 * eps * (A * np.abs(w64)[None, :, None] * (xhat + (winv * absmean)[None, :, None])
                       + np.abs(b64)[None, :, None]) + np.finfo(dtype).tiny
    assert np.all(np.abs(_as3(out) - want) <= bound)
    assert np.all(np.abs(mean - wmean) <= 4 * eps * A * absmean + np.finfo(dtype).tiny)
    assert np.all(np.abs(var - wvar) <= 4 * eps * A * (wvar + absmean * absmean * eps * A) + np.finfo(dtype).tiny)
    assert np.all(np.abs(invstd - winv) <= 4 * eps * A * winv)


@fixture_settings(max_examples=50)
@given(shape=shapes, dtype=st.sampled_from(FLOATS), training=st.booleans(), affine=st.booleans(),
       offset=st.sampled_from([0.0, 5.0]), seed=st.integers(0, 2**31), contiguous=st.booleans())
def test_backward_matches_reference(backend, shape, dtype, training, affine, offset, seed, contiguous):
    C = shape[1]
    x = _data(shape, dtype, seed, offset, scale=2.0)
    dout = _data(shape, dtype, seed + 5)
    w = _data((C,), dtype, seed + 1) if affine else None
    mean = _data((C,), dtype, seed + 3, offset)  # saved statistics: any values are a valid input
    invstd = (np.abs(_data((C,), dtype, seed + 4)) + dtype(0.2)).astype(dtype)
    dx, dw, db = call(backend, "batch_norm_backward", dout, x, w, mean, invstd, training, contiguous=contiguous)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert (dw is None and db is None) if w is None else (dw.shape == db.shape == (C,) and dw.dtype == dtype)
    w64 = np.ones(C) if w is None else w.astype(np.float64)
    want_dx, want_dw, want_db = _ref_backward(dout.astype(np.float64), x.astype(np.float64), w64, mean, invstd,
                                              training)
    x3, g3 = _as3(x.astype(np.float64)), np.abs(_as3(dout.astype(np.float64)))
    M = max(x3.shape[0] * x3.shape[2], 1)
    eps, A = np.finfo(dtype).eps, _accumulation(x3, True)
    xc = np.abs(x3 - mean.astype(np.float64)[None, :, None])
    r = invstd.astype(np.float64)
    s1 = g3.sum(axis=(0, 2))       # bound of |sum dout| and of its rounding error / (eps A)
    s2 = (g3 * xc).sum(axis=(0, 2))  # likewise for sum dout * (x - mean)
    tiny = np.finfo(dtype).tiny
    assert np.all(np.abs(db - want_db) <= 4 * eps * A * s1 + tiny) if w is not None else True
    assert np.all(np.abs(dw - want_dw) <= 4 * eps * A * r * s2 + tiny) if w is not None else True
    # dx = w r (dout - S1/M - (x - mean) S2 r^2 / M): each term's rounding and the sums' errors
    terms = g3 + (A * (s1 / M))[None, :, None] + xc * (A * r * r * s2 / M)[None, :, None] if training else g3
    bound = 8 * eps * np.abs(w64 * r)[None, :, None] * terms + tiny
    assert np.all(np.abs(_as3(dx) - want_dx) <= bound)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 2, 3, 2), (1, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_backward_kernel_matches_central_differences(shape, training):
    """float64: the hand-derived backward kernel against d sum(dout * forward) / d(x, weight, bias) by
    central differences of ref.py's forward (batch statistics recomputed at every perturbed x)."""
    rng = np.random.default_rng(11)
    x, dout = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
    C = shape[1]
    w, b = rng.uniform(0.5, 2, C), rng.standard_normal(C)
    rm, rv = (None, None) if training else (rng.standard_normal(C), rng.uniform(0.5, 2, C))

    def loss(x, w, b):
        return np.sum(_ref_forward(x, w, b, rm, rv)[0] * _as3(dout))

    _, mean, invstd, _ = _ref_forward(x, w, b, rm, rv)
    x3 = _as3(x)
    dx, dw, db = np.empty_like(x3), np.empty(C), np.empty(C)
    cpu.batch_norm_backward(dx, dw, db, _as3(dout).copy(), x3.copy(), w, mean, invstd, training)
    for got, arr, k in ((dx.reshape(shape), x, 0), (dw, w, 1), (db, b, 2)):
        num, h = np.empty_like(arr), 1e-6
        for idx in np.ndindex(arr.shape):
            args_p, args_m = [x.copy(), w.copy(), b.copy()], [x.copy(), w.copy(), b.copy()]
            args_p[k][idx] += h
            args_m[k][idx] -= h
            num[idx] = (loss(*args_p) - loss(*args_m)) / (2 * h)
        np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-7 * np.abs(num).max(initial=1))


@pytest.mark.parametrize("L", [1, 3, 40])
def test_cpu_drivers_agree(L):
    """The entry points pick a driver by size and row length (prange over channels above SERIAL_MAX,
    streaming rows below ROWS_L); called directly here on small inputs. Serial and parallel run the
    same per-channel arithmetic: equal results; the streaming variant sums in another order."""
    x = _data((5, 3, L), np.float64, 0, 3.0)
    C, dout = 3, _data(x.shape, np.float64, 1)
    w, b = _data((C,), np.float64, 2), _data((C,), np.float64, 3)
    res = []
    for kernel, bkernel in ((cpu._forward_serial, cpu._backward_serial), (cpu._forward_parallel, cpu._backward_parallel),
                            (cpu._forward_rows, cpu._backward_rows)):
        for training in (True, False):
            out, mean, invstd, var = np.empty_like(x), *(np.empty(C) for _ in range(3))
            kernel(out, mean, invstd, var, x, w, b, b, np.abs(w), EPS_BN, training)
            dx, dw, db = np.empty_like(x), np.empty(C), np.empty(C)
            bkernel(dx, dw, db, dout, x, w, mean, invstd, training)
            res.append((out, mean, invstd, var, dx, dw, db))
    for a, b_ in zip(res[0] + res[1], res[2] + res[3]):
        np.testing.assert_array_equal(a, b_)
    for a, b_ in zip(res[0] + res[1], res[4] + res[5]):
        np.testing.assert_allclose(a, b_, rtol=1e-13, atol=1e-13 * np.abs(a).max())


def test_cpu_entry_points_refuse_bad_layouts():
    x = np.ones((2, 3, 4), np.float32)
    c = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        cpu.batch_norm_forward(np.empty_like(x), c, c.copy(), c.copy(), np.ones((2, 3, 8), np.float32)[..., ::2],
                               c, c, c, c, EPS_BN, True)
    with pytest.raises(ValueError, match=r"per-channel arrays must be \(3,\) float32"):
        cpu.batch_norm_forward(np.empty_like(x), *(np.ones(3, np.float64) for _ in range(3)), x,
                               *(np.ones(3, np.float64) for _ in range(4)), EPS_BN, True)
    xi = x.astype(np.int64)
    with pytest.raises(TypeError, match="float32 or float64"):
        cpu.batch_norm_backward(np.empty_like(xi), c, c.copy(), xi, xi, c, c, c, True)


# ==== the functional's edges, against torch ====

@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_one_value_per_channel_raises_like_torch(backend, shape):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.functional.batch_norm(torch.randn(shape), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(fastnn.randn(*shape, device=backend), None, None, training=True)


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4), (0, 3, 2, 2)])
def test_empty_batch_trains_like_torch(backend, shape):
    """torch: an empty training batch gives an empty output and gradient, leaves the running statistics
    alone and still counts the batch."""
    torch = pytest.importorskip("torch")
    ours = (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(3).to(backend)
    theirs = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(3)
    x = fastnn.zeros(*shape, device=backend, requires_grad=True)
    tx = torch.zeros(shape, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    y.sum().backward()
    ty.sum().backward()
    assert tuple(y.shape) == tuple(ty.shape) and tuple(x.grad.shape) == tuple(tx.grad.shape)
    np.testing.assert_array_equal(ours.running_mean.cpu().numpy(), theirs.running_mean.numpy())
    np.testing.assert_array_equal(ours.running_var.cpu().numpy(), theirs.running_var.numpy())
    assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked.item()) == 1
    assert ours.weight.grad is None or np.all(ours.weight.grad.cpu().numpy() == 0)


# ==== CUDA kernels (batchnorm.cu launched on the emulator directly) ====

i32, f32 = np.int32, np.float32


@needs_emulator
@settings(max_examples=15, deadline=None)
@given(N=st.integers(1, 5), C=st.integers(1, 5), L=st.integers(1, 70), block=st.sampled_from([32, 64, 256]),
       grid=st.integers(1, 3), training=st.booleans(), seed=st.integers(0, 2**16))
def test_cu_kernels_with_small_grids_and_blocks(N, C, L, block, grid, training, seed):
    """grid < C: blocks walk several channels; block > N*L: idle threads join the reductions."""
    mod = cuda_emulator.load(cu_file("batchnorm"))
    x, dout = _data((N, C, L), f32, seed, 3.0, 2.0), _data((N, C, L), f32, seed + 1)
    w, b = _data((C,), f32, seed + 2), _data((C,), f32, seed + 3)
    rm, rv = _data((C,), f32, seed + 4), np.abs(_data((C,), f32, seed + 5)) + f32(0.5)
    out, mean, invstd, var = np.full_like(x, np.nan), *(np.full(C, np.nan, f32) for _ in range(3))
    mod.launch("batch_norm_forward", grid=grid, block=block,
               args=(out, mean, invstd, var, x, w, b, rm, rv, i32(N), i32(C), i32(L), f32(EPS_BN), i32(training)))
    want = _ref_forward(x, w.astype(np.float64), b.astype(np.float64), None if training else rm, rv)
    A, eps = (N * L + 1 if training else 1), np.finfo(f32).eps
    absmean = np.abs(x.astype(np.float64)).mean(axis=(0, 2))
    xhat = np.abs(x - want[1][None, :, None]) * want[2][None, :, None]
    bound = 4 * eps * (A * np.abs(w)[None, :, None] * (xhat + (want[2] * absmean)[None, :, None])
                       + np.abs(b)[None, :, None])
    assert np.all(np.abs(out - want[0]) <= bound)
    np.testing.assert_allclose(invstd, want[2], rtol=4 * eps * A)
    dx, dw, db = np.full_like(x, np.nan), np.full(C, np.nan, f32), np.full(C, np.nan, f32)
    mod.launch("batch_norm_backward", grid=grid, block=block,
               args=(dx, dw, db, dout, x, w, mean, invstd, i32(N), i32(C), i32(L), i32(training)))
    wdx, wdw, wdb = _ref_backward(dout.astype(np.float64), x, w.astype(np.float64), mean, invstd, training)
    g, xc = np.abs(dout.astype(np.float64)), np.abs(x - mean.astype(np.float64)[None, :, None])
    s1, s2, r = g.sum(axis=(0, 2)), (g * xc).sum(axis=(0, 2)), invstd.astype(np.float64)
    assert np.all(np.abs(db - wdb) <= 4 * eps * (N * L + 1) * s1)
    assert np.all(np.abs(dw - wdw) <= 4 * eps * (N * L + 1) * r * s2)
    terms = g + ((N * L + 1) * (s1[None, :, None] + xc * (r * r * s2)[None, :, None]) / (N * L) if training else 0)
    assert np.all(np.abs(dx - wdx) <= 8 * eps * np.abs(w * r)[None, :, None] * terms)
