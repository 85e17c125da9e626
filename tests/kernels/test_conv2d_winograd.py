"""The Winograd F(2x2,3x3) conv kernels (kernels/conv2d/winograd.py) against kernels/conv2d/ref.py in
float64 and float32 over odd sizes (partial tiles), 1-3 pixel images, padding 0-2, groups and one
image; their gradients against float64 central differences of their own forward; and the per-image
dispatchers and the backend's conv2d at shapes that take the Winograd path (scratch from work_size,
non-contiguous inputs through the backend).

Tolerances are first-order worst-case bounds of the algorithm in floating point (no fudge factor): a
sum of n rounded operations errs by at most gamma_n = n*eps/(1 - n*eps) times the same sum taken over
absolute values. In F(2x2,3x3) every entry of B^T d B sums at most 4 inputs, and each 1-D stage
|A^T|.|G| (output/weight), |B|.|G| (input gradient) and |G^T|.|A|, |G^T|.|B| (weight gradient) has
row sums at most 2 (e.g. (1,1,1,0).|G| = (2,1,1)), so the absolute-value evaluation is at most
    forward      16 * sum_c max|x_c| * sum|w[o,c]|                     (4 from V, 2 x 2 from A^T G)
    input grad   64 * sum_o max|dy_o| * sum|w[o,c]|                    (4 from dM, 2 x 2, 4 overlapping tiles)
    weight grad  64 * tiles * max|dy_o| * max|x_c|                     (4 from dM, 4 from V, 2 x 2)
per output entry, and n is the longest chain of roundings: the GEMM's sum (Cg, Og or the tiles) plus 16
for the transforms on both sides. The float32 errors this allows are ~16x the direct algorithm's
worst case (the transforms' growth); DESIGN.md records the errors measured.
"""
import numpy as np
import pytest
from hypothesis import given, settings

from fastnn.kernels.conv2d import cpu, winograd
from winograd_cases import (bounds, cases, check_backend, check_central_differences, data as _data,
                            module_work, reference, run_dispatchers, run_kernels)

I64 = np.int64


def _bounds(c, x, w, dout, dtype):
    # the worst-case error bounds of the module docstring, shaped as the forward output, dx and dw
    return bounds(c, x, w, dout, dtype, 2, 16, 64, 64, 16)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=60, deadline=None)
@given(c=cases())
def test_winograd_kernels_match_reference(dtype, c):
    x, w, dout, cfg = _data(c)
    got = run_kernels(winograd, x, w, dout, c, dtype, module_work(winograd, c, dout, dtype))
    # the reference sees the data the kernels see (rounded to dtype), in float64
    x, w, dout = (a.astype(dtype).astype(np.float64) for a in (x, w, dout))
    want = reference(x, w, dout, cfg)
    for g, wnt, bound in zip(got, want, _bounds(c, x, w, dout, dtype)):
        assert g.shape == wnt.shape
        assert np.all(np.abs(g - wnt) <= bound + np.finfo(dtype).tiny)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4, 1, 0, 1), (4, 2, 3, 6, 0, 2, 2), (1, 1, 1, 1, 1, 1, 1)])
def test_winograd_gradients_match_central_differences(shape):
    """dx and dw of the kernels against float64 central differences of their own forward."""
    check_central_differences(winograd, shape)


def test_winograd_chunks_tile_rows_when_the_image_is_large():
    """An image whose tiles exceed WINO_MAX: the kernels run in chunks of tile rows (the input
    gradient carries the rows two chunks share), against the reference in float64."""
    c = dict(C=16, O=16, H=211, W=37, ph=1, pw=0, groups=1, seed=11)
    x, w, dout, cfg = _data(c)
    TH, TW = (dout.shape[1] + 1) // 2, (dout.shape[2] + 1) // 2
    assert winograd.chunk_tile_rows(I64(16), I64(16), I64(TH), I64(TW)) < TH      # more than one chunk
    got = run_kernels(winograd, x, w, dout, c, np.float64, module_work(winograd, c, dout, np.float64))
    want = reference(x, w, dout, cfg)
    for g, wnt, bound in zip(got, want, _bounds(c, x, w, dout, np.float64)):
        assert np.all(np.abs(g - wnt) <= bound)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=12, deadline=None)
@given(c=cases(min_cg=cpu.WINOGRAD_MIN_CG, max_cg=cpu.WINOGRAD_MIN_CG + 2, min_og=cpu.WINOGRAD_MIN_OG,
               max_og=cpu.WINOGRAD_MIN_OG + 2, max_hw=24))
def test_dispatchers_take_winograd_with_work_size_scratch(dtype, c):
    """conv2d_image_* at 3x3 / stride 1 / dilation 1 shapes wide enough for the Winograd rule, with a
    NaN-filled scratch of cpu.work_size elements (too small a scratch would leave NaNs or fault): the
    kernels the rule gives F(2x2,3x3) (here the forward and the input gradient; the weight gradient
    runs F(4x4,3x3): test_conv2d_winograd4.py checks it) against the reference within its bounds."""
    x, w, dout, cfg = _data(c)
    got = run_dispatchers(c, x, w, dout, dtype)
    x, w, dout = (a.astype(dtype).astype(np.float64) for a in (x, w, dout))
    Cg, Og = c["C"] // c["groups"], c["O"] // c["groups"]
    f2 = [k for k in range(3) if not cpu.use_winograd4(Cg, Og, 3, 3, 1, 1, 1, 1, k)]
    assert f2 == [0, 1]
    for k, g, wnt, bound in zip(range(3), got, reference(x, w, dout, cfg), _bounds(c, x, w, dout, dtype)):
        if k in f2:
            assert np.all(np.abs(g - wnt) <= bound + np.finfo(dtype).tiny)


@pytest.mark.parametrize("noncontig", [False, True])
def test_backend_conv2d_on_the_winograd_path(noncontig):
    """The CPU backend's conv2d primitives (eager drivers over a batch of 3 on the Numba threads) at a
    Winograd shape, with a non-contiguous input view, against the reference in float64."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 32, 15, 12))
    if noncontig:
        x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    w = rng.standard_normal((32, 16, 3, 3))
    assert cpu.use_winograd(16, 16, 3, 3, 1, 1, 1, 1)
    check_backend(x, w, ((1, 1), (1, 1), (1, 1), 2), 1e-12)
