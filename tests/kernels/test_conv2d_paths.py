"""Each CPU conv2d algorithm on its own (direct SIMD forward, im2col + GEMM) and the per-image
dispatchers, against kernels/conv2d/ref.py in float32 and float64, over shapes including size-1 dims,
channel counts around the 4-channel register tile, padding wider than the kernel and dilation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.conv2d import cpu, direct, ref

EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}


@st.composite
def cases(draw, stride_w=None):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    sh = draw(st.integers(1, 3))
    sw = stride_w or draw(st.integers(1, 3))
    lo_h, lo_w = max(1, dh * (kh - 1) + 1 - 2 * ph), max(1, dw * (kw - 1) + 1 - 2 * pw)
    H, W = draw(st.integers(lo_h, lo_h + 8)), draw(st.integers(lo_w, lo_w + 40))
    return dict(C=cg * groups, O=og * groups, H=H, W=W, KH=kh, KW=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=dh,
                dw=dw, groups=groups, seed=draw(st.integers(0, 2 ** 16)))


def _setup(c, dtype):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((1, c["C"], c["H"], c["W"]))
    w = rng.standard_normal((c["O"], c["C"] // c["groups"], c["KH"], c["KW"]))
    cfg = ((c["sh"], c["sw"]), (c["ph"], c["pw"]), (c["dh"], c["dw"]), c["groups"])
    want = ref.conv2d_forward(x, w, *cfg)
    dout = rng.standard_normal(want.shape)
    K = w[0].size * want.shape[2] * want.shape[3]
    tol = 4 * EPS[dtype] * np.sqrt(K)
    return x.astype(dtype), w.astype(dtype), dout.astype(dtype), cfg, want, tol


def _check(got, want, tol):
    assert np.all(np.abs(got - want) <= tol * (np.abs(want) + 1.0))


def _run(c, dtype, fwd, bin_, bw, with_sw):
    x, w, dout, cfg, want, tol = _setup(c, dtype)
    i64 = np.int64
    geo = [i64(c[k]) for k in (("KH", "KW", "sh", "sw", "ph", "pw", "dh", "dw", "groups") if with_sw else
                               ("KH", "KW", "sh", "ph", "pw", "dh", "dw", "groups"))]
    w2 = w.reshape(w.shape[0], -1)
    OH, OW = want.shape[2:]
    work = np.full(cpu.work_size(c["C"], c["O"], c["KH"], c["KW"], OH, OW, c["groups"]), np.nan, dtype)
    extra = (work,) if with_sw else ()
    out = np.full(want.shape[1:], np.nan, dtype)
    fwd(out, x[0], w2, *geo, *extra)
    _check(out, want[0], tol)
    if bin_ is not None:
        dx = np.full(x.shape[1:], np.nan, dtype)              # overwritten
        bin_(dx, dout[0], w2, *geo, *extra)
        want_dx = ref.conv2d_backward_input(dout.astype(np.float64), w.astype(np.float64), x.shape, *cfg)
        _check(dx, want_dx[0], tol)
    if bw is not None:
        dw2 = np.full(w2.shape, 0.5, dtype)                    # accumulated into
        bw(dw2, dout[0], x[0], *geo, *extra)
        want_dw = ref.conv2d_backward_weight(dout.astype(np.float64), x.astype(np.float64), w.shape, *cfg)
        _check(dw2, want_dw.reshape(w2.shape) + 0.5, tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(c=cases(stride_w=1))
def test_direct_forward_matches_reference(dtype, c):
    _run(c, dtype, direct.forward, None, None, with_sw=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=25, deadline=None)
@given(c=cases())
def test_im2col_kernels_match_reference(dtype, c):
    _run(c, dtype, cpu.im2col_forward, cpu.im2col_backward_input, cpu.im2col_backward_weight, with_sw=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=25, deadline=None)
@given(c=cases())
def test_image_dispatchers_match_reference(dtype, c):
    _run(c, dtype, cpu.conv2d_image_forward, cpu.conv2d_image_backward_input, cpu.conv2d_image_backward_weight,
         with_sw=True)
