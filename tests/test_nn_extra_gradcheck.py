"""Float64 central differences (tests/gradcheck.py) for every issue-13 differentiable op, against NumPy
references written from the formulas (inputs kept away from kinks), on cpu and emulated cuda."""
import math

import numpy as np
import pytest

import fastnn.nn.functional as F
from gradcheck import check_grads

_erf = np.vectorize(math.erf)


def _away(rng, shape, kinks, scale=2.0, gap=0.05):
    x = rng.standard_normal(shape) * scale
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, k + gap * 2, x)
    return x


def _sig(x):
    return 1 / (1 + np.exp(-x))


NP_ACTS = {
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.1 * x), {"negative_slope": 0.1}, [0]),
    "elu": (lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1)), {"alpha": 0.7}, [0]),
    "celu": (lambda x: np.where(x > 0, x, 1.5 * (np.exp(x / 1.5) - 1)), {"alpha": 1.5}, [0]),
    "selu": (lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1)), {}, [0]),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), {}, []),
    "gelu_tanh": (lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
                  {"approximate": "tanh"}, []),
    "silu": (lambda x: x * _sig(x), {}, []),
    "mish": (lambda x: x * np.tanh(np.log1p(np.exp(x))), {}, []),
    "softplus": (lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2), {"beta": 2.0, "threshold": 3.0},
                 [1.5]),
    "hardtanh": (lambda x: np.clip(x, -0.5, 1.5), {"min_val": -0.5, "max_val": 1.5}, [-0.5, 1.5]),
    "relu6": (lambda x: np.clip(x, 0, 6), {}, [0, 6]),
}


@pytest.mark.parametrize("name", sorted(NP_ACTS))
def test_activation_grads(name, backend):
    ref, kw, kinks = NP_ACTS[name]
    fn = getattr(F, name.replace("_tanh", ""))
    x = _away(np.random.default_rng(0), (4, 5), kinks, scale=3.0)
    check_grads(lambda t: fn(t, **kw), ref, [x], device=backend)


def test_softmin_prelu_grads(backend):
    rng = np.random.default_rng(1)
    x = _away(rng, (3, 4, 2), [0])

    def softmin(a):
        e = np.exp(-a - (-a).max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    check_grads(lambda t: F.softmin(t, dim=1), softmin, [x], device=backend)
    w = rng.uniform(0.1, 0.5, 4)
    check_grads(F.prelu, lambda a, b: np.where(a > 0, a, b[None, :, None] * a), [x, w], device=backend)


def _ln(x, w, b, k, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    m, v = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def test_layer_norm_grads(backend):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    check_grads(lambda t, tw, tb: F.layer_norm(t, (2, 4), tw, tb), lambda a, c, d: _ln(a, c, d, 2), [x, w, b],
                device=backend)
    check_grads(lambda t: F.layer_norm(t, (4,)), lambda a: _ln(a, 1.0, 0.0, 1), [x], device=backend)


def test_group_norm_grads(backend):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 6, 3)), rng.standard_normal(6), rng.standard_normal(6)

    def gn(a, c, d):
        g = a.reshape(2, 3, -1)
        g = (g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + 1e-5)
        return g.reshape(a.shape) * c[None, :, None] + d[None, :, None]

    check_grads(lambda t, tw, tb: F.group_norm(t, 3, tw, tb), gn, [x, w, b], device=backend)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_normalize_grads(p, backend):
    x = _away(np.random.default_rng(4), (3, 5), [0])
    ref = lambda a: a / np.maximum((np.abs(a) ** p).sum(axis=1, keepdims=True) ** (1 / p), 1e-12)  # noqa: E731
    check_grads(lambda t: F.normalize(t, p=p, dim=1), ref, [x], device=backend)


@pytest.mark.parametrize("padding_idx,freq", [(None, False), (1, False), (None, True)])
def test_embedding_grads(padding_idx, freq, backend):
    import fastnn

    w = np.random.default_rng(5).standard_normal((5, 3))
    idx = np.array([[1, 4, 4], [0, 1, 4]])
    counts = np.bincount(idx.ravel(), minlength=5)
    if padding_idx is None and not freq:  # plain lookup: central differences of a[idx]
        check_grads(lambda t: F.embedding(fastnn.tensor(idx, device=backend), t), lambda a: a[idx], [w],
                    device=backend)
        return
    t = fastnn.tensor(w, device=backend, requires_grad=True)
    g = np.random.default_rng(6).standard_normal((2, 3, 3))
    (F.embedding(fastnn.tensor(idx, device=backend), t, padding_idx=padding_idx, scale_grad_by_freq=freq)
     * fastnn.tensor(g, device=backend)).sum().backward()
    want = np.zeros_like(w)
    scale = 1.0 / counts[idx] if freq else np.ones(idx.shape)
    np.add.at(want, idx, g * scale[..., None])  # closed form: index-add of the scaled upstream grads
    if padding_idx is not None:
        want[padding_idx] = 0
    np.testing.assert_allclose(t.grad.cpu().numpy(), want, rtol=1e-12)


def _smooth(d, beta):
    z = np.abs(d)
    return np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pointwise_loss_grads(reduction, backend):
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((4, 3)) * 2, rng.standard_normal((4, 3))
    d = x - y
    x = np.where(np.abs(np.abs(d) - 0.8) < 0.05, x + 0.2, x)  # away from the beta kink
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    check_grads(lambda a, b: F.smooth_l1_loss(a, b, beta=0.8, reduction=reduction),
                lambda a, b: red(_smooth(a - b, 0.8)), [x, y], device=backend)
    check_grads(lambda a, b: F.huber_loss(a, b, delta=0.8, reduction=reduction),
                lambda a, b: red(0.8 * _smooth(a - b, 0.8)), [x, y], device=backend)


@pytest.mark.parametrize("reduction,log_target", [("batchmean", False), ("sum", True), ("none", False),
                                                  ("batchmean", True)])
def test_kl_div_grads(reduction, log_target, backend):
    rng = np.random.default_rng(8)
    x, t = np.log(rng.dirichlet(np.ones(4), 3)), rng.dirichlet(np.ones(4), 3)
    if log_target:
        t = np.log(t)

    def ref(a, b):
        pt = np.exp(b) if log_target else b
        loss = pt * ((b if log_target else np.log(b)) - a)
        return loss.sum() / a.shape[0] if reduction == "batchmean" else loss.sum() if reduction == "sum" else loss

    check_grads(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), ref, [x, t],
                device=backend)


def test_cosine_embedding_and_margin_ranking_grads(backend):
    import fastnn

    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    y = np.array([1.0, -1.0, -1.0, 1.0, -1.0])

    def cos_ref(u, v):
        c = (u * v).sum(1) / np.sqrt(((u * u).sum(1) + 1e-12) * ((v * v).sum(1) + 1e-12))
        return np.mean(np.where(y == 1, 1 - c, np.maximum(c + 0.2, 0)))

    check_grads(lambda u, v: F.cosine_embedding_loss(u, v, fastnn.tensor(y, device=backend), margin=-0.2),
                cos_ref, [a, b], device=backend)
    u, v = rng.standard_normal(5), rng.standard_normal(5)
    h = -y * (u - v) + 0.1
    u = np.where(np.abs(h) < 0.05, u + 0.3, u)
    check_grads(lambda p, q, r: F.margin_ranking_loss(p, q, r, margin=0.1, reduction="sum"),
                lambda p, q, r: np.maximum(-r * (p - q) + 0.1, 0).sum(), [u, v, y], device=backend)
