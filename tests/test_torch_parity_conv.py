"""fastnn Conv2d / F.conv2d / F.pad against torch (float64 to 1e-10, float32 to eps-derived bounds):
values, input/weight/bias gradients, every padding mode, state_dict layout, repr and error wording."""
import numpy as np
import pytest

import fastnn
import fastnn.nn.functional as F
from fastnn import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
TF = torch.nn.functional

CASES = [  # (N, C, H, W), (O, KH, KW), kwargs
    ((2, 3, 11, 9), (4, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1))),
    ((1, 4, 7, 7), (4, 3, 3), dict(groups=4, padding=1)),                      # depthwise
    ((3, 6, 8, 5), (9, 1, 3), dict(groups=3, stride=2, padding="valid")),
    ((2, 2, 6, 7), (3, 4, 3), dict(padding="same", dilation=(1, 2))),         # asymmetric 'same'
    ((1, 1, 1, 1), (2, 1, 1), {}),                                              # 1x1 everything
    ((4, 1, 28, 28), (6, 5, 5), dict(padding=2)),                               # LeNet-5's first layer
]


def _both(shape_x, shape_w, dtype, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape_x).astype(dtype), rng.standard_normal(shape_w).astype(dtype)
    b = rng.standard_normal(shape_w[0]).astype(dtype) if bias else None
    return x, w, b


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, None)])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv2d_values_and_grads(backend, case, dtype, rtol):
    (xs, (O, KH, KW), kw) = CASES[case]
    groups = kw.get("groups", 1)
    x, w, b = _both(xs, (O, xs[1] // groups, KH, KW), dtype, seed=case)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    fx, fw, fb = (fastnn.tensor(a, device=backend, requires_grad=True) for a in (x, w, b))
    t_out, f_out = TF.conv2d(tx, tw, tb, **kw), F.conv2d(fx, fw, fb, **kw)
    g = np.random.default_rng(99).standard_normal(tuple(t_out.shape)).astype(dtype)
    (t_out * torch.tensor(g)).sum().backward()
    (f_out * fastnn.tensor(g, device=backend)).sum().backward()
    K = xs[1] // groups * KH * KW
    for got, want, n in ((f_out.detach(), t_out.detach(), K), (fx.grad, tx.grad, O * KH * KW),
                         (fw.grad, tw.grad, xs[0] * xs[2] * xs[3]), (fb.grad, tb.grad, xs[0] * xs[2] * xs[3])):
        got, want = got.cpu().numpy(), want.numpy()
        assert got.shape == want.shape and got.dtype == want.dtype
        tol = rtol if rtol else 8 * np.finfo(np.float32).eps * np.sqrt(n)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_matches_torch(backend, mode):
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 6))
    pads = (2, 1, 0, 3) if mode != "constant" else (2, -1, 0, 3)
    tx, fx = torch.tensor(x, requires_grad=True), fastnn.tensor(x, device=backend, requires_grad=True)
    t, f = TF.pad(tx, pads, mode=mode), F.pad(fx, pads, mode=mode)
    g = np.random.default_rng(4).standard_normal(tuple(t.shape))
    (t * torch.tensor(g)).sum().backward()
    (f * fastnn.tensor(g, device=backend)).sum().backward()
    np.testing.assert_allclose(f.detach().cpu().numpy(), t.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(fx.grad.cpu().numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(padding="same", padding_mode="reflect"),
                                dict(stride=2, padding=(1, 2), padding_mode="circular", bias=False),
                                dict(groups=2, dilation=2, padding_mode="replicate", padding=2)])
def test_conv2d_module_loads_torch_state_dict(kw):
    tm = torch.nn.Conv2d(4, 6, 3, **kw).double()
    fm = nn.Conv2d(4, 6, 3, **kw).double()
    assert repr(fm) == repr(tm)
    assert list(fm.state_dict()) == list(tm.state_dict())
    fm.load_state_dict({k: fastnn.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((2, 4, 9, 8))
    np.testing.assert_allclose(fm(fastnn.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


def _torch_message(fn):
    with pytest.raises(Exception) as e:
        fn()
    return str(e.value).splitlines()[0]


@pytest.mark.parametrize("args", [((2, 3, 8, 8), (6, 1, 5, 5), {}), ((2, 3, 8, 8), (4, 3, 9, 9), {}),
                                  ((2, 3, 8, 8), (4, 3, 3, 3), dict(stride=2, padding="same")),
                                  ((2, 4, 8, 8), (3, 2, 3, 3), dict(groups=2))])
def test_conv2d_errors_match_torch(args):
    xs, ws, kw = args
    want = _torch_message(lambda: TF.conv2d(torch.zeros(xs), torch.zeros(ws), **kw))
    got = _torch_message(lambda: F.conv2d(fastnn.zeros(*xs), fastnn.zeros(*ws), **kw))
    assert got == want


POOLS = [
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool2d", dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1))),
    ("max_pool2d", dict(kernel_size=2)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", dict(kernel_size=(2, 4), stride=1, divisor_override=5)),
    ("adaptive_avg_pool2d", dict(output_size=(3, 4))),
    ("adaptive_avg_pool2d", dict(output_size=(None, 1))),
    ("adaptive_max_pool2d", dict(output_size=(4, 3))),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", POOLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(POOLS)])
def test_pools_match_torch(backend, name, kw, dtype):
    x = np.round(np.random.default_rng(6).standard_normal((2, 3, 9, 7)) * 2).astype(dtype)  # ties on purpose
    tx, fx = torch.tensor(x, requires_grad=True), fastnn.tensor(x, device=backend, requires_grad=True)
    t, f = getattr(TF, name)(tx, **kw), getattr(F, name)(fx, **kw)
    g = np.random.default_rng(7).standard_normal(tuple(t.shape)).astype(dtype)
    (t * torch.tensor(g)).sum().backward()
    (f * fastnn.tensor(g, device=backend)).sum().backward()
    tol = 0 if "max" in name else 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(f.detach().cpu().numpy(), t.detach().numpy(), rtol=tol, atol=tol * 8)
    np.testing.assert_allclose(fx.grad.cpu().numpy(), tx.grad.numpy(), rtol=8 * np.finfo(dtype).eps,
                               atol=8 * np.finfo(dtype).eps * 8)
    if "max" in name:
        _, ti = getattr(TF, name)(tx, **kw, return_indices=True)
        _, fi = getattr(F, name)(fx, **kw, return_indices=True)
        np.testing.assert_array_equal(fi.cpu().numpy(), ti.numpy())


def test_cnn_layers_state_dict_and_repr_match_torch():
    def net(lib):
        return lib.nn.Sequential(
            lib.nn.Conv2d(3, 8, 3, padding=1), lib.nn.BatchNorm2d(8), lib.nn.ReLU(), lib.nn.MaxPool2d(2),
            lib.nn.Dropout2d(0.1), lib.nn.AvgPool2d(2, ceil_mode=True), lib.nn.AdaptiveAvgPool2d((1, 1)),
            lib.nn.AdaptiveMaxPool2d(1), lib.nn.Flatten(), lib.nn.Linear(8, 10))
    t, f = net(torch).double(), net(fastnn).double()
    assert repr(f) == repr(t)
    assert [(k, tuple(v.shape)) for k, v in f.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    f.load_state_dict({k: fastnn.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    t.eval(), f.eval()
    x = np.random.default_rng(8).standard_normal((2, 3, 12, 12))
    np.testing.assert_allclose(f(fastnn.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    t.train(), f.train()
    tb, fb = t[1], f[1]
    for _ in range(3):
        y = np.random.default_rng(9).standard_normal((4, 8, 5, 5))
        tb(torch.tensor(y)), fb(fastnn.tensor(y))
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(fb, k).numpy(), getattr(tb, k).numpy(), rtol=1e-12)
