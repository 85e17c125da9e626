"""The Winograd F(4x4,3x3) conv kernels (kernels/conv2d/winograd4.py): the transform matrices against
the direct correlation; the kernels against kernels/conv2d/ref.py in float64 and float32 over odd sizes
(partial tiles), 1-3 pixel images, padding 0-2, groups and one image; their gradients against float64
central differences of their own forward; an image large enough for several chunks of tile rows; the
per-image dispatchers at shapes that take F(4x4,3x3) (NaN-filled work_size scratch) and the backend's
conv2d there (non-contiguous input).

Tolerances are first-order worst-case bounds of the algorithm in floating point, derived below from the
matrices themselves (no fudge factor): a sum of n rounded operations errs by at most gamma_n times the
same sum taken over absolute values. With rB = the row sums of |B^T| (|V[j,j']| <= rB[j] rB[j'] max|x|)
and cA = the column sums of |A^T| (|dM[j,j']| <= cA[j] cA[j'] max|dy|), the absolute-value evaluation of
one output entry is at most
    forward      KF^2 * sum_c max|x_c| * sum|w[o,c]|,       KF = max_{i,k} sum_j |A^T[i,j]| rB[j] |G[j,k]|
    input grad   4 KD^2 * sum_o max|dy_o| * sum|w[o,c]|,    KD = max_{l,k} sum_j |B^T[j,l]| cA[j] |G[j,k]|
                                                            (4: a pixel lies in at most 2x2 tiles)
    weight grad  KW^2 * tiles * max|dy_o| * max|x_c|,       KW = max_k sum_j |G[j,k]| rB[j] cA[j]
(KF = 29.3, KD = 19.3, KW = 53.3: 860 / 1495 / 2844 against F(2x2,3x3)'s 16 / 64 / 64 in
test_conv2d_winograd.py; the points +-2 and the 1/6, 1/24 of G make F(4x4,3x3) round worse), and n
is the GEMM's sum (Cg, Og or the tiles) plus 32: the transforms on both sides take at most 23 roundings
in sequence (each 1-D stage at most 4, G's two at most 6 with its inexact constants) and the sum of the
overlapping tiles 3 more. DESIGN.md records the errors measured.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.conv2d import cpu, winograd4
from winograd_cases import (bounds, cases, check_backend, check_central_differences, data,
                            module_work, reference, run_dispatchers, run_kernels)

I64 = np.int64
EPS64 = float(np.finfo(np.float64).eps)
BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=np.float64)
RB, CA = np.abs(BT).sum(axis=1), np.abs(AT).sum(axis=0)
KF = (np.abs(AT) @ (RB[:, None] * np.abs(G))).max()
KD = (np.abs(BT).T @ (CA[:, None] * np.abs(G))).max()
KW = (np.abs(G) * (RB * CA)[:, None]).sum(axis=0).max()


def test_transform_matrices_compute_the_correlation():
    """A^T [(G g) * (B^T d)] is the 1-D correlation of d (6) with g (3), and the 2-D form the 2-D one."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        d, g = rng.standard_normal(6), rng.standard_normal(3)
        want = np.array([d[i:i + 3] @ g for i in range(4)])
        np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), want, rtol=0, atol=64 * EPS64 * np.abs(d).sum())
        d2, g2 = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
        want2 = np.array([[np.sum(d2[i:i + 3, j:j + 3] * g2) for j in range(4)] for i in range(4)])
        got2 = AT @ ((G @ g2 @ G.T) * (BT @ d2 @ BT.T)) @ AT.T
        np.testing.assert_allclose(got2, want2, rtol=0, atol=1024 * EPS64 * np.abs(d2).sum())


def _bounds(c, x, w, dout, dtype):
    # the worst-case error bounds of the module docstring, shaped as the forward output, dx and dw
    return bounds(c, x, w, dout, dtype, 4, KF ** 2, 4 * KD ** 2, KW ** 2, 32)


def _check(got, c, x, w, dout, cfg, dtype):
    # got against ref.py on the data the kernels saw (rounded to dtype), in float64, within _bounds
    x, w, dout = (a.astype(dtype).astype(np.float64) for a in (x, w, dout))
    for g, wnt, bound in zip(got, reference(x, w, dout, cfg), _bounds(c, x, w, dout, dtype)):
        assert g.shape == wnt.shape
        assert np.all(np.abs(g - wnt) <= bound + np.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=60, deadline=None)
@given(c=cases(max_hw=19))
def test_winograd4_kernels_match_reference(dtype, c):
    x, w, dout, cfg = data(c)
    got = run_kernels(winograd4, x, w, dout, c, dtype, module_work(winograd4, c, dout, dtype))
    _check(got, c, x, w, dout, cfg, dtype)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4, 1, 0, 1), (4, 2, 3, 6, 0, 2, 2), (1, 1, 1, 1, 1, 1, 1),
                                   (2, 2, 9, 7, 1, 2, 1)])
def test_winograd4_gradients_match_central_differences(shape):
    """dx and dw of the kernels against float64 central differences of their own forward."""
    check_central_differences(winograd4, shape)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd4_chunks_tile_rows_when_the_image_is_large(dtype):
    """An image whose tiles exceed WINO_MAX: the kernels run in chunks of tile rows (unequal: 53 tile
    rows; the input gradient adds the 2 rows two chunks share), against the reference."""
    c = dict(C=16, O=16, H=211, W=37, ph=1, pw=0, groups=1, seed=11)
    x, w, dout, cfg = data(c)
    TH, TW = (dout.shape[1] + 3) // 4, (dout.shape[2] + 3) // 4
    R = winograd4.chunk_tile_rows(I64(16), I64(16), I64(TH), I64(TW))
    assert R < TH and TH % R != 0                                    # several chunks, a shorter last one
    got = run_kernels(winograd4, x, w, dout, c, dtype, module_work(winograd4, c, dout, dtype))
    _check(got, c, x, w, dout, cfg, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("channels", [(cpu.WINOGRAD4_MIN_N, cpu.WINOGRAD4_MIN_N),
                                      (cpu.WINOGRAD_MIN_CG, cpu.WINOGRAD_MIN_OG)])
@settings(max_examples=8, deadline=None)
@given(data_=st.data())
def test_dispatchers_take_winograd4_with_work_size_scratch(dtype, channels, data_):
    """conv2d_image_* at 3x3 / stride 1 / dilation 1 shapes where the rule gives F(4x4,3x3) all three
    kernels (32 channels per group each way) or the weight gradient alone (16 input, 8 output), with a
    NaN-filled scratch of cpu.work_size elements (too small a scratch would leave NaNs or fault): those
    kernels against the reference within F(4x4,3x3)'s bounds (test_conv2d_winograd.py checks the rest)."""
    cg, og = channels
    c = data_.draw(cases(min_cg=cg, max_cg=cg + 2, min_og=og, max_og=og + 2, max_hw=24))
    x, w, dout, cfg = data(c)
    got = run_dispatchers(c, x, w, dout, dtype)
    Cg, Og = c["C"] // c["groups"], c["O"] // c["groups"]
    f4 = [k for k in range(3) if cpu.use_winograd4(Cg, Og, 3, 3, 1, 1, 1, 1, k)]
    assert f4 == ([0, 1, 2] if cg >= cpu.WINOGRAD4_MIN_N else [2])
    x, w, dout = (a.astype(dtype).astype(np.float64) for a in (x, w, dout))
    for k, g, wnt, bound in zip(range(3), got, reference(x, w, dout, cfg), _bounds(c, x, w, dout, dtype)):
        if k in f4:
            assert np.all(np.abs(g - wnt) <= bound + np.finfo(dtype).tiny)


@pytest.mark.parametrize("noncontig", [False, True])
def test_backend_conv2d_on_the_winograd4_path(noncontig):
    """The CPU backend's conv2d primitives (eager drivers over a batch of 3 on the Numba threads) at an
    F(4x4,3x3) shape, with a non-contiguous input view, against the reference in float64."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 64, 15, 13))
    if noncontig:
        x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    w = rng.standard_normal((64, 32, 3, 3))
    assert all(cpu.use_winograd4(32, 32, 3, 3, 1, 1, 1, 1, k) for k in range(3))
    check_backend(x, w, ((1, 1), (1, 1), (1, 1), 2), 1e-11)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_images", [0, 1, 3])
@pytest.mark.parametrize("grads", ["both", "dx", "dw"])
@settings(max_examples=6, deadline=None)
@given(c=cases(max_hw=14))
def test_winograd4_batch_kernels_match_reference(dtype, n_images, grads, c):
    """forward_images (with a bias) and backward_images over a batch of images on a NaN-filled scratch,
    both gradients in one call or either alone (the other output of size 0 stays untouched), against
    ref.py per image and, for the weight gradient, summed over the batch (the bound of the batch's
    N*tiles-term sum); a batch of 0 images writes nothing."""
    N, G, O = n_images, c["groups"], c["O"]
    rng = np.random.default_rng(c["seed"])
    batch = [data(dict(c, seed=c["seed"] + i)) for i in range(N)]
    X = np.stack([b[0] for b in batch]) if N else np.zeros((0, c["C"], c["H"], c["W"]))
    _, w, _, cfg = data(c)
    D = (np.stack([b[2] for b in batch]) if N else
         np.zeros((0, O, max(c["H"] + 2 * c["ph"] - 2, 0), max(c["W"] + 2 * c["pw"] - 2, 0))))
    bias = rng.standard_normal(O)
    Xd, w2, Dd, bd = X.astype(dtype), w.reshape(O, -1).astype(dtype), D.astype(dtype), bias.astype(dtype)
    work = module_work(winograd4, c, np.empty(D.shape[1:]), dtype)
    geo = (I64(c["ph"]), I64(c["pw"]), I64(G))
    out = np.full(D.shape, np.nan, dtype)
    winograd4.forward_images(out, Xd, w2, bd, *geo, work)
    dx = np.full(X.shape if grads != "dw" else (0,) + X.shape[1:], np.nan, dtype)
    dw2 = np.full(w2.shape if grads != "dx" else (0, w2.shape[1]), 0.5, dtype)
    winograd4.backward_images(dx, dw2, Dd, Xd, w2, *geo, work)
    xs, ws, ds = (a.astype(dtype).astype(np.float64) for a in (X, w, D))
    want_dw = np.zeros(w.shape)
    for i in range(N):
        (f_w, dx_w, dw_w), (f_b, dx_b, dw_b) = reference(xs[i], ws, ds[i], cfg), _bounds(c, xs[i], ws, ds[i], dtype)
        f_w = f_w + bias.astype(dtype)[:, None, None]
        assert np.all(np.abs(out[i] - f_w) <= f_b + 2 * np.finfo(dtype).eps * np.abs(f_w) + np.finfo(dtype).tiny)
        if grads != "dw":
            assert np.all(np.abs(dx[i] - dx_w) <= dx_b + np.finfo(dtype).tiny)
        want_dw += dw_w
    if grads != "dx" and N:
        tiles = -(-D.shape[2] // 4) * -(-D.shape[3] // 4)
        ax, ad = np.abs(xs).max(axis=0), np.abs(ds).max(axis=0)
        bound = N * bounds(c, ax, ws, ad, dtype, 4, KF ** 2, 4 * KD ** 2, KW ** 2, 32 + (N - 1) * tiles)[2]
        assert np.all(np.abs((dw2 - 0.5).reshape(w.shape) - want_dw) <= bound + np.finfo(dtype).tiny)
    elif grads != "dx":
        assert np.all(dw2 == 0.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_images_shares_gemms_across_images(dtype):
    """At the examples Net's conv2 (32->64, 26x26) forward_images puts 4 images' tiles in one GEMM per
    position (images_per_gemm); a batch of 5 is a group of 4 and a group of 1, against ref.py per image."""
    c = dict(C=32, O=64, H=26, W=26, ph=0, pw=0, groups=1, seed=5)
    assert winograd4.images_per_gemm(I64(32), I64(64), I64(6), I64(6)) == 4
    batch = [data(dict(c, seed=5 + i)) for i in range(5)]
    _, w, _, cfg = batch[0]
    X = np.stack([b[0] for b in batch])
    out = np.full((5, 64, 24, 24), np.nan, dtype)
    work = module_work(winograd4, c, out[0], dtype)
    winograd4.forward_images(out, X.astype(dtype), w.reshape(64, -1).astype(dtype), np.zeros(0, dtype), I64(0),
                             I64(0), I64(1), work)
    xs, ws = X.astype(dtype).astype(np.float64), w.astype(dtype).astype(np.float64)
    for i in range(5):
        dummy = np.zeros((64, 24, 24))
        want, bound = reference(xs[i], ws, dummy, cfg)[0], _bounds(c, xs[i], ws, dummy, dtype)[0]
        assert np.all(np.abs(out[i] - want) <= bound + np.finfo(dtype).tiny)
