"""Shared by the Winograd kernel tests (tests/kernels/test_conv2d_winograd*.py): float eps and gamma_n,
the hypothesis strategy of layer shapes, one image's data, the float64 reference results, one run of a
Winograd module's three kernels (winograd.py and winograd4.py share their API) or of the per-image
dispatchers (kernels/conv2d/cpu.py conv2d_image_*) on NaN-filled scratch, and the central-difference
check of a module's gradients."""
import numpy as np
from hypothesis import strategies as st

from fastnn.kernels.conv2d import cpu, ref

EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}


def gamma(n, dtype):
    """gamma_n = n*eps/(1 - n*eps): the relative error bound of n rounded operations in sequence."""
    return n * EPS[dtype] / (1 - n * EPS[dtype])


@st.composite
def cases(draw, min_cg=1, max_cg=5, min_og=1, max_og=5, max_hw=13):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(min_cg, max_cg)), draw(st.integers(min_og, max_og))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    small = st.sampled_from([1, 2, 3])
    H = draw(st.one_of(small, st.integers(1, max_hw)))
    W = draw(st.one_of(small, st.integers(1, max_hw)))
    return dict(C=cg * groups, O=og * groups, H=H, W=W, ph=ph, pw=pw, groups=groups,
                seed=draw(st.integers(0, 2 ** 16)))


def data(c):
    """x (C,H,W), w (O,Cg,3,3), dout (O,OH,OW) drawn from N(0,1), and ref.py's (stride, padding,
    dilation, groups)."""
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["C"], c["H"], c["W"]))
    w = rng.standard_normal((c["O"], c["C"] // c["groups"], 3, 3))
    cfg = ((1, 1), (c["ph"], c["pw"]), (1, 1), c["groups"])
    OH, OW = c["H"] + 2 * c["ph"] - 2, c["W"] + 2 * c["pw"] - 2
    dout = rng.standard_normal((c["O"], max(OH, 0), max(OW, 0)))
    return x, w, dout, cfg


def reference(x, w, dout, cfg):
    """ref.py's forward, input gradient and weight gradient of one image, in float64."""
    return (ref.conv2d_forward(x[None], w, *cfg)[0], ref.conv2d_backward_input(dout[None], w, (1,) + x.shape, *cfg)[0],
            ref.conv2d_backward_weight(dout[None], x[None], w.shape, *cfg))


def run_dispatchers(c, x, w, dout, dtype):
    """conv2d_image_forward / _backward_input / _backward_weight at 3x3, stride 1, dilation 1 on data
    rounded to dtype, with a NaN-filled scratch of cpu.work_size elements (too small a scratch would leave
    NaNs or fault), dx starting as NaN (overwritten) and dw from 0."""
    OH, OW = dout.shape[1:]
    one = np.int64(1)
    work = np.full(cpu.work_size(c["C"], c["O"], 3, 3, OH, OW, c["groups"]), np.nan, dtype)
    geo = (np.int64(3), np.int64(3), one, one, np.int64(c["ph"]), np.int64(c["pw"]), one, one, np.int64(c["groups"]))
    xd, w2, dd = x.astype(dtype), w.reshape(c["O"], -1).astype(dtype), dout.astype(dtype)
    out, dx, dw2 = np.full(dout.shape, np.nan, dtype), np.full(x.shape, np.nan, dtype), np.zeros(w2.shape, dtype)
    cpu.conv2d_image_forward(out, xd, w2, *geo, work)
    cpu.conv2d_image_backward_input(dx, dd, w2, *geo, work)
    cpu.conv2d_image_backward_weight(dw2, dd, xd, *geo, work)
    return out, dx, dw2.reshape(w.shape)


def run_kernels(mod, x, w, dout, c, dtype, work):
    """mod's forward, input gradient (dx starts as NaN: overwritten) and weight gradient (added to 0.5)
    of one image, on the data rounded to dtype."""
    x, w2, dout = x.astype(dtype), w.reshape(c["O"], -1).astype(dtype), dout.astype(dtype)
    geo = (np.int64(c["ph"]), np.int64(c["pw"]), np.int64(c["groups"]))
    out = np.full(dout.shape, np.nan, dtype)
    mod.forward(out, x, w2, *geo, work)
    dx = np.full(x.shape, np.nan, dtype)
    mod.backward_input(dx, dout, w2, *geo, work)
    dw2 = np.full(w2.shape, 0.5, dtype)
    mod.backward_weight(dw2, dout, x, *geo, work)
    return out, dx, (dw2 - 0.5).reshape(w.shape)


def module_work(mod, c, dout, dtype):
    """A NaN-filled scratch of mod.work_size elements for the layer c."""
    Cg, Og, (OH, OW) = c["C"] // c["groups"], c["O"] // c["groups"], dout.shape[1:]
    return np.full(mod.work_size(np.int64(Cg), np.int64(Og), np.int64(OH), np.int64(OW)), np.nan, dtype)


def check_central_differences(mod, shape):
    """dx and dw of mod's kernels against float64 central differences of its own forward: the loss
    sum(forward(x, w) * dout) is linear in x and in w, so a difference step is exact up to rounding.
    shape: (C, O, H, W, ph, pw, groups)."""
    C, O, H, W, ph, pw, groups = shape
    c = dict(C=C, O=O, H=H, W=W, ph=ph, pw=pw, groups=groups, seed=3)
    x, w, dout, _ = data(c)
    work = module_work(mod, c, dout, np.float64)
    _, dx, dw = run_kernels(mod, x, w, dout, c, np.float64, work)

    def loss(xv, wv):
        return float(np.sum(run_kernels(mod, xv, wv, dout, c, np.float64, work)[0] * dout))

    h = 1e-3
    for arr, grad, f in ((x, dx, lambda a: loss(a, w)), (w, dw, lambda a: loss(x, a))):
        num = np.empty_like(arr)
        for i in np.ndindex(arr.shape):
            p, m = arr.copy(), arr.copy()
            p[i] += h
            m[i] -= h
            num[i] = (f(p) - f(m)) / (2 * h)
        scale = np.abs(dout).sum() * max(np.abs(x).max(), np.abs(w).max()) * 9
        np.testing.assert_allclose(grad, num, rtol=0, atol=1e-10 * scale)


def bounds(c, x, w, dout, dtype, tile, kf, kd, kw, extra):
    """Worst-case error bounds of a Winograd F(tile x tile, 3x3) evaluation, shaped as the forward output,
    dx and dw: kf * sum_c max|x_c| sum|w[o,c]|, kd * sum_o max|dy_o| sum|w[o,c]| and
    kw * tiles * max|dy_o| max|x_c| (the absolute-value evaluation, each test file derives its factors),
    times gamma_n for n = the GEMM's sum (Cg, Og, tiles) + extra (the transforms' roundings)."""
    G, Cg, Og = c["groups"], c["C"] // c["groups"], c["O"] // c["groups"]
    OH, OW = dout.shape[1:]
    tiles = -(-OH // tile) * -(-OW // tile)
    xmax = np.abs(x).reshape(c["C"], -1).max(axis=1, initial=0).reshape(G, Cg)
    ymax = np.abs(dout).reshape(c["O"], -1).max(axis=1, initial=0).reshape(G, Og)
    wsum = np.abs(w).sum(axis=(2, 3)).reshape(G, Og, Cg)
    fwd = kf * np.einsum("gc,goc->go", xmax, wsum).reshape(-1, 1, 1) * gamma(Cg + extra, dtype)
    dx = kd * np.einsum("go,goc->gc", ymax, wsum).reshape(-1, 1, 1) * gamma(Og + extra, dtype)
    dw = kw * tiles * np.einsum("go,gc->goc", ymax, xmax).reshape(c["O"], Cg, 1, 1) * gamma(tiles + extra, dtype)
    return fwd, dx, dw


def check_backend(x, w, cfg, atol):
    """The CPU backend's conv2d primitives (eager drivers over the batch on the Numba threads) on x (any
    strides) and w against the reference in float64, |error| <= atol * max(1, max|exact|)."""
    from fastnn.backends import get_backend

    be = get_backend("cpu")
    want = ref.conv2d_forward(x, w, *cfg)
    dout = np.random.default_rng(8).standard_normal(want.shape)
    got = (be.conv2d(x, w, *cfg), be.conv2d_backward_input(dout, w, x.shape, *cfg),
           be.conv2d_backward_weight(dout, x, w.shape, *cfg))
    want = (want, ref.conv2d_backward_input(dout, w, x.shape, *cfg), ref.conv2d_backward_weight(dout, x, w.shape, *cfg))
    for g, wnt in zip(got, want):
        np.testing.assert_allclose(g, wnt, rtol=0, atol=atol * max(1.0, np.abs(wnt).max()))
