"""The fused CNN's index-free 2x2 stride-2 max pool (kernels/pool2d/max2x2.py) against kernels/pool2d/
ref.py in float32 and float64: forward values, and the backward (the scan replayed on the input) against
ref's scatter at its argmax, with ties, NaN and -inf in the data (torch's scan), odd and size-1 sizes
(the fused step hands these kernels its own C-contiguous regions); `usable` against the window tables
it must accept or refuse."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.pool2d import max2x2, ref
from fastnn.kernels.pool2d.windows import sliding


def _tables(H, W, ceil=False):
    hs, hn, _, _ = sliding(H, 2, 2, 0, 1, ceil)
    ws, wn, _, _ = sliding(W, 2, 2, 0, 1, ceil)
    return hs, hn, ws, wn


def _data(P, H, W, seed, dtype, special):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (1, P, H, W)).astype(dtype)          # many ties
    if special:
        x[rng.random(x.shape) < 0.05] = np.nan
        x[rng.random(x.shape) < 0.05] = -np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(P=st.integers(1, 3), H=st.integers(2, 13), W=st.integers(2, 70), seed=st.integers(0, 2 ** 16),
       special=st.booleans())
def test_max2x2_matches_reference(dtype, P, H, W, seed, special):
    x = _data(P, H, W, seed, dtype, special)
    hs, hn, ws, wn = _tables(H, W)
    assert max2x2.usable(H, W, hs, hn, ws, wn, 1, 1)
    want, idx = ref.max_forward(x, hs, hn, ws, wn)
    rng = np.random.default_rng(seed + 1)
    dout = rng.standard_normal(want.shape).astype(dtype)
    want_dx = ref.max_backward(dout, idx, x.shape, hn, wn)
    xs = x[0]
    out = np.full(want.shape[1:], 7, dtype)
    max2x2.forward(out, xs)
    np.testing.assert_array_equal(out, want[0])                 # NaN == NaN here
    dx = np.full(x.shape[1:], 5, dtype)                          # every element must be written
    max2x2.backward(dx, dout[0], xs)
    np.testing.assert_array_equal(dx, want_dx[0])


def test_max2x2_first_maximum_and_last_nan_win():
    # one window each: all equal (the first wins), max on the second row's first element, NaN twice
    # (the last NaN wins), all -inf (the first position)
    x = np.array([[[1, 1], [1, 1]], [[0, 2], [5, 5]], [[np.nan, 0], [np.nan, 9]],
                  [[-np.inf, -np.inf], [-np.inf, -np.inf]]], np.float32)
    out = np.zeros((4, 1, 1), np.float32)
    max2x2.forward(out, x)
    np.testing.assert_array_equal(out.ravel(), [1, 5, np.nan, -np.inf])
    dx = np.full_like(x, 3)
    max2x2.backward(dx, np.full((4, 1, 1), 2, np.float32), x)
    want = np.zeros_like(x)
    want[0, 0, 0], want[1, 1, 0], want[2, 1, 0], want[3, 0, 0] = 2, 2, 2, 2
    np.testing.assert_array_equal(dx, want)


@pytest.mark.parametrize("k,s,p,d,ceil,H,ok", [
    (2, 2, 0, 1, False, 28, True), (2, 2, 0, 1, False, 27, True), (2, 2, 0, 1, True, 28, True),
    (2, 2, 0, 1, True, 27, False),        # ceil_mode's last window is cut short
    (2, 2, 1, 1, False, 28, False), (3, 2, 0, 1, False, 28, False), (2, 1, 0, 1, False, 28, False),
    (2, 2, 0, 2, False, 28, False), (1, 2, 0, 1, False, 28, False)])
def test_usable_accepts_only_the_whole_2x2_stride_2_grid(k, s, p, d, ceil, H, ok):
    hs, hn, _, _ = sliding(H, k, s, p, d, ceil)
    assert max2x2.usable(H, H, hs, hn, hs, hn, d, d) == ok


@pytest.mark.parametrize("T", [1, 2, 3])
def test_plane_drivers_split_planes_over_threads(T):
    """forward_planes / backward_planes (the eager max_pool2d without indices): the serial kernels over
    contiguous blocks of planes on T threads, against ref (5 planes: blocks of 1 or 2, ties, NaN)."""
    x = _data(5, 7, 9, 3, np.float32, True)
    hs, hn, ws, wn = _tables(7, 9)
    want, idx = ref.max_forward(x, hs, hn, ws, wn)
    dout = np.random.default_rng(4).standard_normal(want.shape).astype(np.float32)
    out = np.full(want.shape[1:], 7, np.float32)
    max2x2.forward_planes(out, x[0], np.int64(T))
    np.testing.assert_array_equal(out, want[0])
    dx = np.full(x.shape[1:], 5, np.float32)
    max2x2.backward_planes(dx, dout[0], x[0], np.int64(T))
    np.testing.assert_array_equal(dx, ref.max_backward(dout, idx, x.shape, hn, wn)[0])
