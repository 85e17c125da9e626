"""Conv2d and F.pad on every backend: the conv2d primitives against kernels/conv2d/ref.py over
hypothesis-chosen configurations (odd sizes, strides, padding, dilation, groups, batch 1, 1x1 images,
non-contiguous inputs), and the engine's backward against float64 central differences."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastnn
import fastnn.nn.functional as F
from fastnn import nn
from fastnn.backends import get_backend
from fastnn.kernels.conv2d import ref
from gradcheck import check_grads

EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}


@st.composite
def conv_cases(draw, max_hw=9):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    lo_h, lo_w = max(1, dh * (kh - 1) + 1 - 2 * ph), max(1, dw * (kw - 1) + 1 - 2 * pw)
    H, W = draw(st.integers(lo_h, max(lo_h, max_hw))), draw(st.integers(lo_w, max(lo_w, max_hw)))
    return dict(N=draw(st.integers(1, 3)), C=cg * groups, O=og * groups, H=H, W=W, k=(kh, kw),
                stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), padding=(ph, pw), dilation=(dh, dw),
                groups=groups, seed=draw(st.integers(0, 2 ** 16)))


def _arrays(c, dtype, noncontig=False):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    if noncontig:  # a transposed view of a (N, C, W, H) array: strides not C-contiguous
        x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    w = rng.standard_normal((c["O"], c["C"] // c["groups"]) + c["k"])
    return x.astype(dtype), w.astype(dtype)


def _cfg(c):
    return c["stride"], c["padding"], c["dilation"], c["groups"]


def _tol(dtype, c, ref_abs):
    K = (c["C"] // c["groups"]) * c["k"][0] * c["k"][1] * c["N"] * c["H"] * c["W"]
    return 4 * EPS[dtype] * np.sqrt(K) * (ref_abs + 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30, deadline=None)
@given(c=conv_cases(), noncontig=st.booleans())
def test_primitives_match_reference(backend, dtype, c, noncontig):
    be = get_backend(backend)
    x, w = _arrays(c, dtype, noncontig)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    want = ref.conv2d_forward(x64, w64, *_cfg(c))
    got = be.to_numpy(be.conv2d(be.asarray(x), be.asarray(w), *_cfg(c)))
    assert got.shape == want.shape and got.dtype == dtype
    assert np.all(np.abs(got - want) <= _tol(dtype, c, np.abs(want)))
    dout = np.random.default_rng(c["seed"] + 1).standard_normal(want.shape).astype(dtype)
    d64 = dout.astype(np.float64)
    want_dx = ref.conv2d_backward_input(d64, w64, x.shape, *_cfg(c))
    got_dx = be.to_numpy(be.conv2d_backward_input(be.asarray(dout), be.asarray(w), x.shape, *_cfg(c)))
    assert np.all(np.abs(got_dx - want_dx) <= _tol(dtype, c, np.abs(want_dx)))
    want_dw = ref.conv2d_backward_weight(d64, x64, w.shape, *_cfg(c))
    got_dw = be.to_numpy(be.conv2d_backward_weight(be.asarray(dout), be.asarray(x), w.shape, *_cfg(c)))
    assert np.all(np.abs(got_dw - want_dw) <= _tol(dtype, c, np.abs(want_dw)))


def test_reference_against_a_direct_sum():
    """ref.py itself against the definition, element by element (stride 2, padding, dilation, groups)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((6, 2, 3, 2))
    (sh, sw), (ph, pw), (dh, dw), g = (2, 1), (1, 2), (1, 2), 2
    out = ref.conv2d_forward(x, w, (sh, sw), (ph, pw), (dh, dw), g)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    for n, o, y, z in np.ndindex(*out.shape):
        gi = o // 3
        s = sum(xpad[n, gi * 2 + c, y * sh + i * dh, z * sw + j * dw] * w[o, c, i, j]
                for c in range(2) for i in range(3) for j in range(2))
        assert out[n, o, y, z] == pytest.approx(s, abs=1e-12)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=12, deadline=None)
@given(c=conv_cases(max_hw=6), bias=st.booleans())
def test_conv2d_backward_central_differences(backend, c, bias):
    x, w = _arrays(c, np.float64)
    b = np.random.default_rng(c["seed"] + 2).standard_normal(c["O"])
    s, p, d, g = _cfg(c)

    def np_fn(x, w, *bb):
        out = ref.conv2d_forward(x, w, s, p, d, g)
        return out + bb[0].reshape(1, -1, 1, 1) if bb else out

    def fn(x, w, *bb):
        return F.conv2d(x, w, bb[0] if bb else None, stride=s, padding=p, dilation=d, groups=g)

    check_grads(fn, np_fn, [x, w, b] if bias else [x, w], device=backend)


PAD_MODES = ["constant", "reflect", "replicate", "circular"]


def _np_pad(x, pads, mode, value=0.0):
    """NumPy's np.pad as the oracle for F.pad (mode names: edge = replicate, wrap = circular)."""
    widths = [(0, 0)] * (x.ndim - len(pads) // 2) + [(pads[2 * k], pads[2 * k + 1]) for k in range(len(pads) // 2)][::-1]
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    kw = dict(constant_values=value) if mode == "constant" else {}
    return np.pad(x, widths, mode=np_mode, **kw)


@pytest.mark.parametrize("mode", PAD_MODES)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=10, deadline=None)
@given(H=st.integers(2, 5), W=st.integers(2, 5), data=st.data())
def test_pad_modes_forward_and_backward(backend, mode, H, W, data):
    lim = (lambda n: n - 1) if mode == "reflect" else (lambda n: n)
    pads = (data.draw(st.integers(0, lim(W))), data.draw(st.integers(0, lim(W))),
            data.draw(st.integers(0, lim(H))), data.draw(st.integers(0, lim(H))))
    x = np.random.default_rng(H * 10 + W).standard_normal((2, 3, H, W))
    check_grads(lambda t: F.pad(t, pads, mode=mode), lambda a: _np_pad(a, pads, mode), [x], device=backend)


def test_pad_constant_value_and_negative_crop(backend):
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    t = fastnn.tensor(x, device=backend)
    np.testing.assert_array_equal(F.pad(t, (1, 2), value=-1.5).cpu().numpy(), _np_pad(x, (1, 2), "constant", -1.5))
    np.testing.assert_array_equal(F.pad(t, (-1, 1, 0, -2)).cpu().numpy(),
                                  np.pad(x[:, :1, 1:], ((0, 0), (0, 0), (0, 1))))
    check_grads(lambda a: F.pad(a, (-1, 1, 0, -2)), lambda a: np.pad(a[:, :1, 1:], ((0, 0), (0, 0), (0, 1))),
                [x], device=backend)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same", "valid"])
def test_conv2d_module_padding_modes(backend, padding_mode, padding):
    """Conv2d(padding_mode=m) == F.conv2d(F.pad(x, m), w) with closed-form padding widths."""
    m = nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=padding_mode).double().to(backend)
    x = np.random.default_rng(0).standard_normal((2, 2, 7, 8))
    if padding == "same":
        lrtb = (1, 2, 1, 1)                     # kernel (3, 4): H total 2 -> (1, 1); W total 3 -> (1, 2)
    elif padding == "valid":
        lrtb = (0, 0, 0, 0)
    else:
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
        lrtb = (pw, pw, ph, ph)
    mode = "constant" if padding_mode == "zeros" else padding_mode
    xp_ = _np_pad(x, lrtb, mode)
    w, b = m.weight.detach().cpu().numpy(), m.bias.detach().cpu().numpy()
    want = ref.conv2d_forward(xp_, w, (1, 1), (0, 0), (1, 1), 1) + b.reshape(1, -1, 1, 1)
    got = m(fastnn.tensor(x, device=backend)).detach().cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if padding == "same":
        assert got.shape[2:] == x.shape[2:]


def test_conv2d_default_init_bounds():
    """kaiming_uniform(a=sqrt(5)) on (out, in/groups, kH, kW) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias too."""
    m = nn.Conv2d(8, 32, 5, groups=2)
    bound = 1 / np.sqrt(4 * 25)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert w.shape == (32, 4, 5, 5) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound                      # 3200 draws fill the interval
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound  # the uniform's std, closed form
    assert list(m.state_dict()) == ["weight", "bias"]


def test_conv2d_errors_name_shapes():
    x = fastnn.randn(2, 3, 8, 8)
    with pytest.raises(RuntimeError, match=r"Given groups=1, weight of size \[6, 1, 5, 5\], expected input\[2, 3, "
                                           r"8, 8\] to have 1 channels, but got 3 channels instead"):
        F.conv2d(x, fastnn.randn(6, 1, 5, 5))
    with pytest.raises(RuntimeError, match=r"Kernel size can't be greater than actual input size"):
        F.conv2d(x, fastnn.randn(4, 3, 9, 9))
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, fastnn.randn(4, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d"):
        F.conv2d(fastnn.randn(3, 8), fastnn.randn(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match="\"conv2d\" not implemented for 'Long'"):
        F.conv2d(fastnn.zeros(1, 1, 3, 3, dtype=fastnn.int64), fastnn.zeros(1, 1, 2, 2, dtype=fastnn.int64))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_unbatched_input_and_empty_batch(backend):
    m = nn.Conv2d(3, 2, 3).double().to(backend)
    x = np.random.default_rng(1).standard_normal((3, 5, 5))
    got = m(fastnn.tensor(x, device=backend)).detach().cpu().numpy()
    want = ref.conv2d_forward(x[None], m.weight.detach().cpu().numpy(), (1, 1), (0, 0), (1, 1), 1)[0] \
        + m.bias.detach().cpu().numpy().reshape(-1, 1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert m(fastnn.zeros(0, 3, 5, 5, dtype=fastnn.float64, device=backend)).shape == (0, 2, 3, 3)


@pytest.mark.parametrize("stride,padding", [((1, 1), (2, 2)), ((2, 1), (1, 0))])
def test_primitives_chunk_rows_when_im2col_is_large(stride, padding):
    """C*KH*KW*OW*OH above cpu.COL_MAX: the CPU kernels cut the output rows into chunks (and copy tiles)."""
    from fastnn.kernels.conv2d import cpu

    be = get_backend("cpu")
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 16, 41, 40)), rng.standard_normal((3, 16, 5, 5))
    cfg = (stride, padding, (1, 1), 1)
    want = ref.conv2d_forward(x, w, *cfg)
    assert 16 * 25 * want.shape[2] * want.shape[3] > cpu.COL_MAX                # more than one chunk
    np.testing.assert_allclose(be.conv2d(x, w, *cfg), want, rtol=1e-12, atol=1e-11)
    dout = rng.standard_normal(want.shape)
    np.testing.assert_allclose(be.conv2d_backward_input(dout, w, x.shape, *cfg),
                               ref.conv2d_backward_input(dout, w, x.shape, *cfg), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(be.conv2d_backward_weight(dout, x, w.shape, *cfg),
                               ref.conv2d_backward_weight(dout, x, w.shape, *cfg), rtol=1e-12, atol=1e-10)
