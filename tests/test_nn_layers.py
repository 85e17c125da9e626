"""Layers: Linear, activations, Softmax/LogSoftmax, Flatten, Dropout, BatchNorm1d against NumPy and
float64 central differences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F
from gradcheck import check_grads


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_grads(backend, bias):
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    if bias:
        check_grads(lambda x, W, b: F.linear(x, W, b), lambda x, W, b: x @ W.T + b, [x, W, b], device=backend)
    else:
        check_grads(lambda x, W: F.linear(x, W), lambda x, W: x @ W.T, [x, W], device=backend)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 5), fin=st.integers(1, 6), fout=st.integers(1, 6), bias=st.booleans(),
       transposed=st.booleans())
def test_linear_module_forward(n, fin, fout, bias, transposed):
    layer = nn.Linear(fin, fout, bias=bias)
    rng = np.random.default_rng(n + 10 * fin)
    x = rng.standard_normal((fin, n) if transposed else (n, fin)).astype(np.float32)
    xt = fastnn.tensor(x)
    if transposed:  # a non-contiguous input
        xt, x = xt.t(), x.T
    out = layer(xt)
    W = layer.weight.detach().numpy()
    ref = x @ W.T + (layer.bias.detach().numpy() if bias else 0)
    eps = np.finfo(np.float32).eps
    assert tuple(out.shape) == (n, fout)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=16 * eps * np.sqrt(fin), atol=16 * eps * np.sqrt(fin))


def test_linear_default_init_and_repr():
    layer = nn.Linear(400, 300)
    W, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    bound = 1 / np.sqrt(400)
    assert layer.weight.shape == (300, 400) and layer.bias.shape == (300,)
    assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound) has std bound / sqrt(3); 120k samples pin it to well under 1 %
    np.testing.assert_allclose(W.std(), bound / np.sqrt(3), rtol=0.01)
    assert repr(layer) == "Linear(in_features=400, out_features=300, bias=True)"
    assert nn.Linear(2, 3, bias=False).bias is None
    assert layer.weight.requires_grad and isinstance(layer.weight, nn.Parameter)


@pytest.mark.parametrize("name,ref", [("relu", lambda x: np.maximum(x, 0)), ("sigmoid", _sig), ("tanh", np.tanh)])
def test_activations(backend, name, ref):
    x = np.random.default_rng(1).standard_normal((3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep relu's kink away from the finite-difference stencil
    module = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[name]()
    check_grads(lambda a: module(a), ref, [x], device=backend)
    check_grads(lambda a: getattr(F, name)(a), ref, [x], device=backend)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_modules(backend, dim):
    x = np.random.default_rng(2).standard_normal((3, 4))
    check_grads(lambda a: nn.Softmax(dim=dim)(a), lambda a: _softmax(a, dim), [x], device=backend)
    check_grads(lambda a: nn.LogSoftmax(dim=dim)(a), lambda a: np.log(_softmax(a, dim)), [x], device=backend)
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


def test_softmax_implicit_dim_warns(backend):
    x = fastnn.randn(2, 3, device=backend)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = F.softmax(x)
    np.testing.assert_allclose(out.cpu().numpy(), _softmax(x.cpu().numpy(), 1), rtol=1e-6)


def test_flatten(backend):
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    check_grads(lambda a: nn.Flatten()(a), lambda a: a.reshape(2, 12), [x], device=backend)
    check_grads(lambda a: nn.Flatten(0, 1)(a), lambda a: a.reshape(6, 4), [x], device=backend)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_dropout(backend):
    p = 0.3
    x = fastnn.ones(200, 100, device=backend, requires_grad=True)
    drop = nn.Dropout(p)
    out = drop(x)
    o = out.detach().cpu().numpy()
    kept = o != 0
    np.testing.assert_allclose(o[kept], 1 / (1 - p), rtol=1e-6)
    # fraction dropped ~ Binomial(20000, 0.3): 5 sigma is 0.016
    assert abs((~kept).mean() - p) < 0.016
    out.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), o)  # d out / d x = mask / (1 - p) = out for x = 1
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 1.0).detach().cpu().numpy().max() == 0
    assert repr(drop) == "Dropout(p=0.3, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def _bn_ref(x, w, b, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w.reshape(shape) + b.reshape(shape)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2)])
def test_batchnorm_training_grads(backend, shape):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal(shape), rng.uniform(0.5, 2, 3), rng.standard_normal(3)

    fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    check_grads(fn, _bn_ref, [x, w, b], device=backend)
    check_grads(lambda x: F.batch_norm(x, None, None, training=True),
                lambda x: _bn_ref(x, np.ones(3), np.zeros(3)), [x], device=backend)
    # the module routes the same gradients into its parameters
    bn = nn.BatchNorm1d(3).double().to(backend)
    with fastnn.no_grad():
        bn.weight.copy_(fastnn.tensor(w))
        bn.bias.copy_(fastnn.tensor(b))
    xt = fastnn.tensor(x, device=backend, requires_grad=True)
    wt = fastnn.tensor(w, device=backend, requires_grad=True)
    bt = fastnn.tensor(b, device=backend, requires_grad=True)
    g = fastnn.tensor(rng.standard_normal(shape), device=backend)
    (bn(xt) * g).sum().backward()
    (fn(xt.detach().requires_grad_(), wt, bt) * g).sum().backward()
    np.testing.assert_allclose(bn.weight.grad.cpu().numpy(), wt.grad.cpu().numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.bias.grad.cpu().numpy(), bt.grad.cpu().numpy(), rtol=1e-12)


def test_batchnorm_running_stats_and_eval(backend):
    rng = np.random.default_rng(5)
    bn = nn.BatchNorm1d(4, momentum=0.2).to(backend)
    rm, rv = np.zeros(4), np.ones(4)
    for _ in range(3):
        x = rng.standard_normal((6, 4)).astype(np.float32) * 2 + 1
        out = bn(fastnn.tensor(x, device=backend))
        np.testing.assert_allclose(out.detach().cpu().numpy(), _bn_ref(x, np.ones(4), np.zeros(4)), atol=1e-5)
        rm = 0.8 * rm + 0.2 * x.mean(0)
        rv = 0.8 * rv + 0.2 * x.var(0, ddof=1)
    np.testing.assert_allclose(bn.running_mean.cpu().numpy(), rm, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.cpu().numpy(), rv, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 3
    bn.eval()
    x = rng.standard_normal((2, 4)).astype(np.float32)
    xt = fastnn.tensor(x, device=backend, requires_grad=True)
    out = bn(xt)
    np.testing.assert_allclose(out.detach().cpu().numpy(), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.cpu().numpy(), np.broadcast_to(1 / np.sqrt(rv + 1e-5), (2, 4)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_mean.cpu().numpy(), rm, rtol=1e-5)  # eval leaves stats alone


def test_batchnorm_cumulative_momentum_and_errors(backend):
    bn = nn.BatchNorm1d(2, momentum=None).to(backend)
    xs = [np.random.default_rng(i).standard_normal((3, 2)).astype(np.float32) for i in range(3)]
    for x in xs:
        bn(fastnn.tensor(x, device=backend))
    np.testing.assert_allclose(bn.running_mean.cpu().numpy(), np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(fastnn.randn(1, 2, device=backend))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(fastnn.randn(2, device=backend))
    assert repr(nn.BatchNorm1d(10)) == ("BatchNorm1d(10, eps=1e-05, momentum=0.1, affine=True, "
                                       "bias=True, track_running_stats=True)")
    bn2 = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn2.state_dict()) == [] and bn2.weight is None
    x = np.random.default_rng(7).standard_normal((4, 3)).astype(np.float32)
    bn2.eval()  # no running stats: batch statistics even in eval, like torch
    np.testing.assert_allclose(bn2(fastnn.tensor(x)).numpy(), _bn_ref(x, np.ones(3), np.zeros(3)), atol=1e-5)
