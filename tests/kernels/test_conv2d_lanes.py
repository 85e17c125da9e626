"""The lane-layout convolution and 2x2 max pool (kernels/conv2d/lanes.py, kernels/pool2d/lanes.py) against
kernels/conv2d/ref.py and kernels/pool2d/ref.py in float32 and float64: chunks of 0..L images (lanes past
them zero), any stride / zero padding / dilation / bias, a border around the output region (a padded
conv reading it next), 1x1 sizes (the kernels take C-contiguous arrays: the eager backend's conv makes
its inputs so, tests/test_conv2d.py); the pool with ties, NaN and -inf (torch's scan)
and odd sizes, and its backward writing every interior element."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.conv2d import cpu, lanes, ref
from fastnn.kernels.pool2d import lanes as pool_lanes
from fastnn.kernels.pool2d import ref as pool_ref
from fastnn.kernels.pool2d.windows import sliding
from fastnn.kernels.simd import lanes as lanes_for

I = np.int64


def _to_lanes(x, ph, pw, L):
    xl = np.full(lanes.region_size(*x.shape[1:], ph, pw, L), 9, x.dtype)   # every element must be written
    lanes.to_lanes(xl, x, I(ph), I(pw))
    return xl


def _from_lanes(xl, shape, ph, pw):
    x = np.zeros(shape, xl.dtype)
    lanes.from_lanes(x, xl, I(ph), I(pw))
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_lane_conv_matches_reference(dtype, data):
    L = lanes_for(np.dtype(dtype))
    nb = data.draw(st.integers(0, L), "nb")
    C, O = data.draw(st.integers(1, 4), "C"), data.draw(st.integers(1, 7), "O")
    KH, KW = data.draw(st.integers(1, 4), "KH"), data.draw(st.integers(1, 4), "KW")
    sh, sw, dh, dw = (data.draw(st.integers(1, 3), n) for n in ("sh", "sw", "dh", "dw"))
    ph, pw = data.draw(st.integers(0, 2), "ph"), data.draw(st.integers(0, 2), "pw")
    H = data.draw(st.integers(max(1, dh * (KH - 1) + 1 - 2 * ph), 11), "H")
    W = data.draw(st.integers(max(1, dw * (KW - 1) + 1 - 2 * pw), 11), "W")
    oph, opw = data.draw(st.integers(0, 2), "oph"), data.draw(st.integers(0, 2), "opw")
    bias = data.draw(st.booleans(), "bias")
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16), "seed"))
    x = rng.standard_normal((nb, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else np.zeros(0, dtype)
    geo = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    want = ref.conv2d_forward(x.astype(np.float64), w.astype(np.float64), **geo)
    if bias:
        want = want + b.astype(np.float64)[:, None, None]
    OH, OW = want.shape[2], want.shape[3]
    pos, tap, opos = lanes.offsets_arrays(C, H, W, ph, pw, KH, KW, sh, sw, dh, dw, OH, OW, oph, opw, L)
    plane = I((OH + 2 * oph) * (OW + 2 * opw) * L)
    xl, w2 = _to_lanes(x, ph, pw, L), w.reshape(O, -1)
    ol = np.zeros(lanes.region_size(O, OH, OW, oph, opw, L), dtype)
    lanes.forward(ol, xl, w2, b, pos, tap, opos, plane)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_from_lanes(ol, want.shape, oph, opw), want, **tol)
    dout = rng.standard_normal(want.shape)
    border = ol.reshape(O, OH + 2 * oph, OW + 2 * opw, L).copy()
    border[:, oph:oph + OH, opw:opw + OW] = 0
    assert not border.any()                                                # the next conv's zero padding
    dl = _to_lanes(dout.astype(dtype), oph, opw, L)
    dw2, db = np.zeros((O, C * KH * KW), dtype), np.zeros(O if bias else 0, dtype)
    lanes.backward_weight(dw2, db, dl, xl, pos, tap, opos, plane)
    want_dw = ref.conv2d_backward_weight(dout, x.astype(np.float64), w.shape, **geo).reshape(O, -1)
    np.testing.assert_allclose(dw2, want_dw, **tol)
    if bias:
        np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), **tol)
    dxl = np.full_like(xl, 7)
    lanes.backward_input(dxl, dl, w2, pos, tap, opos, plane)
    want_dx = ref.conv2d_backward_input(dout, w.astype(np.float64), x.shape, **geo)
    np.testing.assert_allclose(_from_lanes(dxl, x.shape, ph, pw), want_dx, **tol)


def test_lane_layout_puts_images_in_lanes_and_zeros_the_rest():
    L = lanes_for(np.dtype(np.float32))
    x = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3) + 1
    xl = _to_lanes(x, 1, 0, L).reshape(1, 4, 3, L)
    np.testing.assert_array_equal(xl[0, 1:3, :, 0], x[0, 0])
    np.testing.assert_array_equal(xl[0, 1:3, :, 1], x[1, 0])
    assert not xl[:, :, :, 2:].any() and not xl[:, 0].any() and not xl[:, 3].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(nb=st.integers(1, 5), C=st.integers(1, 3), H=st.integers(2, 9), W=st.integers(2, 9),
       ph=st.integers(0, 1), oph=st.integers(0, 2), seed=st.integers(0, 2 ** 16), special=st.booleans())
def test_lane_max2x2_matches_reference(dtype, nb, C, H, W, ph, oph, seed, special):
    L = lanes_for(np.dtype(dtype))
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (nb, C, H, W)).astype(dtype)                 # many ties
    if special:
        x[rng.random(x.shape) < 0.05] = np.nan
        x[rng.random(x.shape) < 0.05] = -np.inf
    hs, hn, _, OH = sliding(H, 2, 2, 0, 1, False)
    ws, wn, _, OW = sliding(W, 2, 2, 0, 1, False)
    want, idx = pool_ref.max_forward(x, hs, hn, ws, wn)
    xl = _to_lanes(x, ph, ph, L)
    ol = np.zeros(lanes.region_size(C, OH, OW, oph, oph, L), dtype)
    pool_lanes.forward(ol, xl, I(C), I(H), I(W), I(ph), I(ph), I(OH), I(OW), I(oph), I(oph))
    np.testing.assert_array_equal(_from_lanes(ol, want.shape, oph, oph), want)
    dout = rng.standard_normal(want.shape).astype(dtype)
    want_dx = pool_ref.max_backward(dout, idx, x.shape, hn, wn)
    dl = _to_lanes(dout, oph, oph, L)
    dxl = np.full_like(xl, 5)                                             # every interior element written
    pool_lanes.backward(dxl, dl, xl, I(C), I(H), I(W), I(ph), I(ph), I(OH), I(OW), I(oph), I(oph))
    np.testing.assert_array_equal(_from_lanes(dxl, x.shape, ph, ph), want_dx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 2, 3])
@settings(max_examples=12, deadline=None)
@given(N=st.integers(1, 40), C=st.integers(1, 7), O=st.integers(1, 9), K=st.integers(1, 5),
       s=st.integers(1, 2), p=st.integers(0, 2), d=st.integers(1, 2), needs=st.sampled_from(
           [(1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, 1, 0)]), seed=st.integers(0, 2 ** 16))
def test_eager_lane_drivers_match_reference(dtype, T, N, C, O, K, s, p, d, needs, seed):
    """conv2d/lanes.py's batch drivers (the eager "lanes" family): N images in chunks of L over T threads;
    forward with a bias, and the one backward pass giving any of dx, dw, db (gradients summed over
    per-thread partials)."""
    rng = np.random.default_rng(seed)
    H = W = max(1, d * (K - 1) + 1 - 2 * p) + 3
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((O, C, K, K)), rng.standard_normal(O)
    geo = dict(stride=(s, s), padding=(p, p), dilation=(d, d))
    want = ref.conv2d_forward(x, w, **geo) + b[:, None, None]
    dout = rng.standard_normal(want.shape)
    args = tuple(I(v) for v in (K, K, s, s, p, p, d, d))
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    xd, w2, dd = x.astype(dtype), w.reshape(O, -1).astype(dtype), dout.astype(dtype)
    out = np.full(want.shape, np.nan, dtype)
    lanes.forward_images(out, xd, w2, b.astype(dtype), *args, I(T))
    np.testing.assert_allclose(out, want, **tol)
    dx = np.full(x.shape if needs[0] else (0,) + x.shape[1:], np.nan, dtype)
    dw2 = np.full(w2.shape if needs[1] else (0, w2.shape[1]), np.nan, dtype)
    db = np.full(O if needs[2] else 0, np.nan, dtype)
    lanes.backward_images(dx, dw2, db, np.zeros((T, dw2.size + db.size), dtype), dd, xd, w2, *args)
    if needs[0]:
        np.testing.assert_allclose(dx, ref.conv2d_backward_input(dout, w, x.shape, **geo), **tol)
    if needs[1]:
        np.testing.assert_allclose(dw2, ref.conv2d_backward_weight(dout, x, w.shape, **geo).reshape(O, -1), **tol)
    if needs[2]:
        np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), **tol)


def test_the_eager_dispatch_takes_lanes_where_its_rule_says():
    """conv2d/cpu.py's driver family: lanes at LeNet-5's convs (150 and 25 taps), the image kernels at the
    examples Net's conv1 (9 taps), a 64x64 plane and groups 2, Winograd at 3x3 over 16 channels; the
    dispatcher's results against ref at LeNet's conv2."""
    assert cpu._family(6, 16, 5, 5, 1, 1, 1, 1, 0, 1, 10, 10) == "lanes"
    assert cpu._family(1, 6, 5, 5, 1, 1, 1, 1, 2, 1, 28, 28) == "lanes"
    assert cpu._family(1, 32, 3, 3, 1, 1, 1, 1, 0, 1, 26, 26) == "image"
    assert cpu._family(6, 16, 5, 5, 1, 1, 1, 1, 1, 1, 64, 64) == "image"
    assert cpu._family(3, 16, 5, 5, 1, 1, 1, 1, 0, 2, 10, 10) == "image"       # groups 2
    assert cpu._family(16, 16, 3, 3, 1, 1, 1, 1, 0, 1, 10, 10) == "winograd"
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((19, 6, 14, 14)), rng.standard_normal((16, 6, 5, 5))
    want = ref.conv2d_forward(x, w)
    dout = rng.standard_normal(want.shape)
    args = tuple(I(v) for v in (5, 5, 1, 1, 0, 0, 1, 1, 1))
    work = np.empty((2, cpu.work_size(6, 16, 5, 5, 10, 10, 1)))
    out, dx, dw2 = np.empty(want.shape), np.empty(x.shape), np.empty((16, 150))
    cpu.conv2d_forward(out, x, w.reshape(16, -1), *args, work)
    cpu.conv2d_backward_input(dx, dout, w.reshape(16, -1), *args, work)
    cpu.conv2d_backward_weight(dw2, np.zeros((2, dw2.size)), dout, x, *args, work)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, ref.conv2d_backward_input(dout, w, x.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw2, ref.conv2d_backward_weight(dout, x, w.shape).reshape(16, -1), rtol=1e-12,
                               atol=1e-12)
