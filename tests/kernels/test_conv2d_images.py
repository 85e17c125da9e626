"""The multi-image CPU conv2d kernels (kernels/conv2d/images.py: one im2col + GEMM over a chunk of b images)
against kernels/conv2d/ref.py in float64 (tight) and float32, over chunks of 0, 1 and several images, odd
sizes, padding wider than the kernel, strides, dilation and groups; each output of the backward alone
and all together (one gather of dout serves them), bias and gradients accumulated into, dx overwritten."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.conv2d import images, ref

EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}


@st.composite
def cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 7)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.sampled_from([1, 1, 2, 3]))
    lo_h, lo_w = max(1, dh * (kh - 1) + 1 - 2 * ph), max(1, dw * (kw - 1) + 1 - 2 * pw)
    H, W = draw(st.integers(lo_h, lo_h + 8)), draw(st.integers(lo_w, lo_w + 24))
    return dict(b=draw(st.sampled_from([0, 1, 1, 2, 3, 5])), C=cg * groups, O=og * groups, H=H, W=W, KH=kh,
                KW=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=dh, dw=dw, groups=groups, seed=draw(st.integers(0, 2 ** 16)))


def _setup(c, dtype):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["b"], c["C"], c["H"], c["W"]))
    w = rng.standard_normal((c["O"], c["C"] // c["groups"], c["KH"], c["KW"]))
    bias = rng.standard_normal(c["O"])
    cfg = ((c["sh"], c["sw"]), (c["ph"], c["pw"]), (c["dh"], c["dw"]), c["groups"])
    want = ref.conv2d_forward(x, w, *cfg)
    dout = rng.standard_normal(want.shape)
    K = w[0].size * want.shape[2] * want.shape[3] * max(c["b"], 1)   # the longest sum (the weight gradient's)
    tol = 4 * EPS[dtype] * np.sqrt(K)
    geo = [np.int64(c[k]) for k in ("KH", "KW", "sh", "sw", "ph", "pw", "dh", "dw", "groups")]
    work = np.full(images.work_size(c["C"], c["O"], c["KH"], c["KW"], want.shape[2], want.shape[3], c["groups"],
                                    c["b"]), np.nan, dtype)
    return x, w, bias, dout, cfg, want, tol, geo, work


def _check(got, want, tol):
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= tol * (np.abs(want) + 1.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [True, False])
@settings(max_examples=30, deadline=None)
@given(c=cases())
def test_forward_matches_reference(dtype, with_bias, c):
    x, w, bias, _, _, want, tol, geo, work = _setup(c, dtype)
    b = bias.astype(dtype) if with_bias else np.zeros(0, dtype)
    out = np.full(want.shape, np.nan, dtype)
    images.forward(out, x.astype(dtype), w.reshape(w.shape[0], -1).astype(dtype), b, *geo, work)
    _check(out, want + (bias[None, :, None, None] if with_bias else 0.0), tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("outputs", ["all", "dx", "dw", "db"])
@settings(max_examples=30, deadline=None)
@given(c=cases())
def test_backward_matches_reference(dtype, outputs, c):
    x, w, _, dout, cfg, _, tol, geo, work = _setup(c, dtype)
    w2 = w.reshape(w.shape[0], -1)
    nb = c["b"] if outputs in ("all", "dx") else 0
    dx = np.full((nb,) + x.shape[1:], np.nan, dtype)                                  # overwritten
    dw2 = np.full(w2.shape if outputs in ("all", "dw") else (0, w2.shape[1]), 0.5, dtype)   # accumulated into
    db = np.full(c["O"] if outputs in ("all", "db") else 0, 0.25, dtype)                 # accumulated into
    images.backward(dx, dw2, db, dout.astype(dtype), x.astype(dtype), w2.astype(dtype), *geo, work)
    if nb:
        _check(dx, ref.conv2d_backward_input(dout, w, x.shape, *cfg), tol)
    if dw2.size:
        _check(dw2, ref.conv2d_backward_weight(dout, x, w.shape, *cfg).reshape(w2.shape) + 0.5, tol)
    if db.size:
        _check(db, dout.sum(axis=(0, 2, 3)) + 0.25, tol)


@settings(max_examples=200, deadline=None)
@given(CKK=st.integers(1, 5000), OHW=st.integers(1, 3000), B=st.integers(1, 300))
def test_chunks_stay_within_the_bound(CKK, OHW, B):
    # where a caller takes the multi-image path, a chunk's im2col holds at most IMAGES_COL_MAX elements
    b = images.chunk_images(CKK, OHW, B)
    assert 1 <= b <= B
    if images.use_images(CKK, OHW):
        assert b * CKK * OHW <= images.IMAGES_COL_MAX
        assert b >= min(B, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(b=st.integers(0, 4), O=st.integers(1, 7), OH=st.integers(1, 9), OW=st.integers(1, 40),
       seed=st.integers(0, 2 ** 16))
def test_bias_backward_sums_each_channel(dtype, b, O, OH, OW, seed):
    dout = np.random.default_rng(seed).standard_normal((b, O, OH, OW))
    db = np.full(O, 0.25, dtype)                                  # accumulated into
    images.bias_backward(db, dout.astype(dtype))
    _check(db, dout.sum(axis=(0, 2, 3)) + 0.25, 4 * EPS[dtype] * np.sqrt(max(b * OH * OW, 1)))
