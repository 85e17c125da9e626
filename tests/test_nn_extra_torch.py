"""Issue 13 nn additions vs torch (float64 tight, float32 eps-tolerance): activations, norms, embedding, losses,
module state_dict keys / reprs / default inits, and error wording for bad shapes and dtypes."""
import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
TF = torch.nn.functional

ACTS = [
    ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {}), ("elu", {"alpha": 0.5}),
    ("celu", {"alpha": 1.5}), ("selu", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
    ("mish", {}), ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 3.0}), ("hardtanh", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("relu6", {}),
]


def _x(rng, shape=(5, 7)):
    x = rng.standard_normal(shape) * 4
    x.flat[:6] = [-30.0, -1e-3, 0.3, 6.5, 25.0, -0.75]  # tails, near 0, around relu6/hardtanh corners
    return x


def _pair(fx, tx, dtype, backend):
    """Same expression in fastnn and torch: returns (fastnn leaf, torch leaf)."""
    f = fastnn.tensor(fx.astype(dtype), device=backend, requires_grad=True)
    t = torch.tensor(tx.astype(dtype), requires_grad=True)
    return f, t


def _check(fo, to, fleaves, tleaves, dtype):
    eps = np.finfo(dtype).eps
    rtol, atol = (1e-12, 1e-13) if dtype == np.float64 else (64 * eps, 64 * eps)
    np.testing.assert_allclose(fo.detach().cpu().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(5).standard_normal(tuple(to.shape)).astype(dtype)
    (fo * fastnn.tensor(g, device=fleaves[0].device)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    for f, t in zip(fleaves, tleaves):
        np.testing.assert_allclose(f.grad.cpu().numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", ACTS)
def test_activation_matches_torch(name, kw, dtype, backend):
    x = _x(np.random.default_rng(0))
    f, t = _pair(x, x, dtype, backend)
    _check(getattr(F, name)(f, **kw), getattr(TF, name)(t, **kw), [f], [t], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmin_prelu_match_torch(dtype, backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5))
    f, t = _pair(x, x, dtype, backend)
    _check(F.softmin(f, dim=1), TF.softmin(t, dim=1), [f], [t], dtype)
    w = rng.uniform(-1, 1, 3)
    f, t = _pair(x, x, dtype, backend)
    fw, tw = _pair(w, w, dtype, backend)
    _check(F.prelu(f, fw), TF.prelu(t, tw), [f, fw], [t, tw], dtype)
    f, t = _pair(x, x, dtype, backend)
    fw, tw = _pair(w[:1], w[:1], dtype, backend)
    _check(F.prelu(f, fw), TF.prelu(t, tw), [f, fw], [t, tw], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,norm", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((3, 5), (5,))])
def test_layer_norm_matches_torch(shape, norm, dtype, backend):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(norm), rng.standard_normal(norm)
    f, t = _pair(x, x, dtype, backend)
    fw, tw = _pair(w, w, dtype, backend)
    fb, tb = _pair(b, b, dtype, backend)
    _check(F.layer_norm(f, norm, fw, fb, 1e-5), TF.layer_norm(t, norm, tw, tb, 1e-5), [f, fw, fb], [t, tw, tb], dtype)
    f, t = _pair(x, x, dtype, backend)
    _check(F.layer_norm(f, norm), TF.layer_norm(t, norm), [f], [t], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,groups", [((4, 6), 3), ((2, 6, 5), 2), ((2, 4, 3, 3), 4), ((3, 4, 2), 1)])
def test_group_norm_matches_torch(shape, groups, dtype, backend):
    rng = np.random.default_rng(3)
    C = shape[1]
    x, w, b = rng.standard_normal(shape) * 2 - 1, rng.standard_normal(C), rng.standard_normal(C)
    f, t = _pair(x, x, dtype, backend)
    fw, tw = _pair(w, w, dtype, backend)
    fb, tb = _pair(b, b, dtype, backend)
    _check(F.group_norm(f, groups, fw, fb), TF.group_norm(t, groups, tw, tb), [f, fw, fb], [t, tw, tb], dtype)
    f, t = _pair(x, x, dtype, backend)
    _check(F.group_norm(f, groups), TF.group_norm(t, groups), [f], [t], dtype)


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize_matches_torch(p, dim, backend):
    x = np.random.default_rng(4).standard_normal((4, 5))
    x[1] = 0.0  # a zero row: the eps clamp is active there
    f, t = _pair(x, x, np.float64, backend)
    _check(F.normalize(f, p=p, dim=dim), TF.normalize(t, p=p, dim=dim), [f], [t], np.float64)


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 0}, {"padding_idx": -1}, {"scale_grad_by_freq": True}])
def test_embedding_matches_torch(kw, backend):
    rng = np.random.default_rng(6)
    w = rng.standard_normal((6, 4))
    idx = np.array([[0, 2, 5, 2], [1, 0, 5, 5]])
    fw, tw = _pair(w, w, np.float64, backend)
    fo = F.embedding(fastnn.tensor(idx, device=backend), fw, **kw)
    to = TF.embedding(torch.tensor(idx), tw, **kw)
    _check(fo, to, [fw], [tw], np.float64)


def test_embedding_max_norm_renormalises_like_torch(backend):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 4)) * 3
    idx = np.array([1, 3, 3, 0])
    fe = nn.Embedding(6, 4, max_norm=1.5).double().to(backend)
    te = torch.nn.Embedding(6, 4, max_norm=1.5).double()
    fe.load_state_dict({"weight": w})
    te.load_state_dict({"weight": torch.tensor(w)})
    _check(fe(fastnn.tensor(idx, device=backend)), te(torch.tensor(idx)), [fe.weight], [te.weight], np.float64)
    np.testing.assert_allclose(fe.weight.detach().cpu().numpy(), te.weight.detach().numpy(), rtol=1e-12)


def test_one_hot_matches_torch(backend):
    idx = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(fastnn.tensor(idx, device=backend)).cpu().numpy(),
                                  TF.one_hot(torch.tensor(idx)).numpy())
    out = F.one_hot(fastnn.tensor(idx, device=backend), num_classes=6)
    assert str(out.dtype) == "fastnn.int64"
    np.testing.assert_array_equal(out.cpu().numpy(), TF.one_hot(torch.tensor(idx), 6).numpy())


LOSSES = [
    ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5, "reduction": "sum"}),
    ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}), ("huber_loss", {"delta": 2.0, "reduction": "none"}),
    ("kl_div", {"reduction": "batchmean"}), ("kl_div", {"reduction": "sum", "log_target": True}),
    ("kl_div", {"reduction": "none"}), ("kl_div", {"reduction": "batchmean", "log_target": True}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", LOSSES)
def test_pointwise_losses_match_torch(name, kw, dtype, backend):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 4)) * 2
    if name == "kl_div":
        x = np.log(rng.dirichlet(np.ones(4), 5))
        y = rng.dirichlet(np.ones(4), 5)
        y = np.log(y) if kw.get("log_target") else y
    else:
        y = x + rng.standard_normal((5, 4)) * 1.5
    f, t = _pair(x, x, dtype, backend)
    fy, ty = _pair(y, y, dtype, backend)
    _check(getattr(F, name)(f, fy, **kw), getattr(TF, name)(t, ty, **kw), [f, fy], [t, ty], dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_cosine_embedding_and_margin_ranking_match_torch(reduction, margin, backend):
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    y = np.array([1, -1, 1, -1, -1, 1], dtype=np.float64)
    fa, ta = _pair(a, a, np.float64, backend)
    fb, tb = _pair(b, b, np.float64, backend)
    fy = fastnn.tensor(y, device=backend)
    _check(F.cosine_embedding_loss(fa, fb, fy, margin, reduction=reduction),
           TF.cosine_embedding_loss(ta, tb, torch.tensor(y), margin, reduction=reduction), [fa, fb], [ta, tb],
           np.float64)
    a1, b1 = rng.standard_normal(6), rng.standard_normal(6)
    fa, ta = _pair(a1, a1, np.float64, backend)
    fb, tb = _pair(b1, b1, np.float64, backend)
    _check(F.margin_ranking_loss(fa, fb, fy, margin, reduction=reduction),
           TF.margin_ranking_loss(ta, tb, torch.tensor(y), margin, reduction=reduction), [fa, fb], [ta, tb],
           np.float64)


def _modules(lib):
    return [lib.LeakyReLU(0.2), lib.LeakyReLU(inplace=True), lib.PReLU(), lib.PReLU(3, init=0.1), lib.ELU(),
            lib.ELU(0.5, inplace=True), lib.CELU(), lib.SELU(), lib.GELU(), lib.GELU("tanh"), lib.SiLU(), lib.Mish(),
            lib.Softplus(), lib.Softplus(2, 10), lib.Hardtanh(), lib.Hardtanh(-2.0, 3.0), lib.ReLU6(),
            lib.Softmin(dim=1), lib.LayerNorm(4), lib.LayerNorm((3, 4), eps=1e-3, elementwise_affine=False),
            lib.LayerNorm(4, bias=False), lib.GroupNorm(2, 4), lib.GroupNorm(3, 6, affine=False),
            lib.GroupNorm(1, 4, bias=False), lib.Embedding(10, 3), lib.Embedding(10, 3, padding_idx=2, max_norm=1.0),
            lib.Embedding(10, 3, norm_type=1.0, scale_grad_by_freq=True), lib.Unflatten(1, (2, 3)),
            lib.SmoothL1Loss(beta=0.5), lib.HuberLoss(delta=2.0), lib.KLDivLoss(reduction="batchmean"),
            lib.CosineEmbeddingLoss(margin=0.1), lib.MarginRankingLoss(), lib.Identity(),
            lib.ModuleDict({"a": lib.Linear(2, 3), "b": lib.LayerNorm(3)}),
            lib.ModuleList([lib.Linear(2, 2), lib.GELU()])]


@pytest.mark.parametrize("i", range(len(_modules(nn))))
def test_module_state_dict_keys_repr_and_init(i):
    tm, fm = _modules(torch.nn)[i], _modules(nn)[i]
    assert repr(fm) == repr(tm)
    tsd, fsd = tm.state_dict(), fm.state_dict()
    assert list(fsd) == list(tsd)
    for k in tsd:
        assert tuple(fsd[k].shape) == tuple(tsd[k].shape)
        if "Linear" not in repr(tm) and not isinstance(tm, torch.nn.Embedding):  # deterministic inits
            np.testing.assert_array_equal(fsd[k].numpy(), tsd[k].numpy())
    if isinstance(tm, torch.nn.Embedding) and tm.padding_idx is not None:
        assert np.all(fsd["weight"].numpy()[tm.padding_idx] == 0)


def test_parameter_containers_keys_and_repr():
    tl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2, 2))])
    fl = nn.ParameterList([nn.Parameter(fastnn.zeros(3)), fastnn.zeros(2, 2)])
    assert list(fl.state_dict()) == list(tl.state_dict())
    assert repr(fl) == repr(tl).replace("torch.", "fastnn.")
    assert isinstance(fl[1], nn.Parameter) and len(fl) == 2 and [tuple(p.shape) for p in fl] == [(3,), (2, 2)]
    td = torch.nn.ParameterDict({"w": torch.nn.Parameter(torch.zeros(3)), "b": torch.nn.Parameter(torch.zeros(1))})
    fd = nn.ParameterDict({"w": nn.Parameter(fastnn.zeros(3)), "b": nn.Parameter(fastnn.zeros(1))})
    assert list(fd.state_dict()) == list(td.state_dict()) and list(fd) == list(td) and "w" in fd

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ps, self.ds = tl, td

    class FNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps, self.ds = fl, fd

    assert [n for n, _ in FNet().named_parameters()] == [n for n, _ in TNet().named_parameters()]


def _err(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 — the type and message are what we compare
        return type(e).__name__, str(e).split("\n")[0]
    return None


def _errors(lib, Fn, T):
    i, f = T([1, 2]), T([[0.5, 1.0]])
    return [
        lambda: Fn.gelu(i), lambda: Fn.silu(i), lambda: Fn.elu(i), lambda: Fn.mish(i), lambda: Fn.softplus(i),
        lambda: Fn.leaky_relu(i), lambda: Fn.gelu(f, approximate="x"),
        lambda: Fn.layer_norm(T([[1.0, 2.0, 3.0]] * 2), (4,)),
        lambda: Fn.layer_norm(T([[1.0, 2.0, 3.0]] * 2), (3,), T([1.0, 1.0])),
        lambda: Fn.group_norm(T([[[1.0]] * 5] * 2), 2), lambda: lib.GroupNorm(2, 5),
        lambda: Fn.group_norm(T([1.0, 2.0]), 1),
        lambda: Fn.embedding(T([1.0]), T([[1.0, 2.0]] * 3)), lambda: Fn.embedding(T([5]), T([[1.0, 2.0]] * 3)),
        lambda: lib.Embedding(3, 2, padding_idx=3), lambda: Fn.one_hot(T([1.0])), lambda: Fn.one_hot(T([-1])),
        lambda: Fn.one_hot(T([3]), 3), lambda: Fn.prelu(T([[1.0] * 4] * 2), T([1.0, 1.0, 1.0])),
        lambda: Fn.smooth_l1_loss(f, f, beta=-1), lambda: Fn.huber_loss(f, f, delta=0.0),
        lambda: Fn.kl_div(f, f, reduction="bad"), lambda: Fn.normalize(T([1, 2]), dim=0),
        lambda: Fn.cosine_embedding_loss(T([[1.0, 2.0]]), T([[1.0, 2.0]]), T([[1.0]])),
        lambda: Fn.cosine_embedding_loss(T([[1.0, 2.0]] * 2), T([[1.0, 2.0]] * 2), T([1.0, 1.0, 1.0])),
        lambda: Fn.margin_ranking_loss(T([1.0, 2.0]), T([[1.0], [2.0]]), T([1.0, 1.0])),
        lambda: lib.Unflatten(1, (2, 2))(T([[1.0, 2.0, 3.0]])), lambda: lib.Hardtanh(2.0, 1.0),
    ]


@pytest.mark.parametrize("i", range(len(_errors(nn, F, fastnn.tensor))))
def test_errors_match_torch_wording(i):
    got = _err(_errors(nn, F, fastnn.tensor)[i])
    want = _err(_errors(torch.nn, TF, torch.tensor)[i])
    assert want is not None and got is not None
    assert got[0] == want[0]
    assert got[1] == want[1].replace("torch.Size", "fastnn.Size")
