"""Every name of issue 13's points 1-3 that a quick case can show, run through torch and fastnn with the
same code: values (float64, tight bounds), in-place results, nn layers (torch's weights loaded, outputs and
input gradients), losses (value and gradient), functional forms, Module helpers and hooks, schedulers'
learning-rate sequences and state_dict keys. Random functions compare shapes and dtypes only."""
import re

import numpy as np
import pytest
torch = pytest.importorskip("torch", reason="torch==2.13.0 is the oracle of these tests")
import torch.nn.functional as TF  # noqa: E402

import fastnn
import fastnn.nn.functional as FF

X = np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]])
Y = np.array([[1.1, 0.2, -0.3], [0.5, -0.6, 0.9]])
EPS = np.finfo(np.float64).eps

# expressions over T (torch or fastnn), F, nn and x, y (float64 2x3), i (index), v (x's first row)
TOP = ['mul(x, y)', 'add(x, y)', 'add(x, y, alpha=2)', 'sub(x, y)', 'sub(x, y, alpha=3)', 'div(x, y)',
    "div(x, y, rounding_mode='floor')", "div(x, y, rounding_mode='trunc')", 'topk(x, 2)', 'sort(x)',
    'sort(x, descending=True)', 'argsort(x)', 'gather(x, 1, i)', 'scatter(x, 1, i, y)',
    'index_select(x, 1, T.tensor([2, 0]))', 'masked_fill(x, x > 0, 5.0)', 'where(x > 0, x, y)', 'chunk(x, 2, 1)',
    'split(x, 2, 1)', 'split(x, [1, 2], 1)', 'cumsum(x, 1)', 'prod(x)', 'prod(x, 1)', 'std(x)', 'std(x, 1)',
    'var(x, 0)', 'var(x, unbiased=False)', 'norm(x)', 'norm(x, dim=1)', 'any(x > 1)', 'all(x > -2)',
    'logsumexp(x, 1)', "einsum('ij,kj->ik', x, y)", 'tril(x)', 'triu(x, 1)', 'eye(3)', 'zeros_like(x)',
    'ones_like(x)', 'full_like(x, 7)', 'empty_like(x).shape', 'isnan(x)', 'isinf(x)', 'isfinite(x)', 'round(x)',
    'floor(x)', 'ceil(x)', 'sign(x)', 'clamp(x, -0.5, 0.5)', 'clip(x, max=0.1)', 'maximum(x, y)', 'minimum(x, y)',
    'scatter_add(x, 1, i, y)', 'masked_select(x, x > 0)', 'narrow(x, 1, 1, 2)', 'roll(x, 1, 1)', 'flip(x, [0])',
    'diag(v)', 'diag(x)', 'linspace(0, 1, 5)', 'logspace(0, 2, 3)', 'randint(0, 5, (3,)).shape',
    'randperm(5).sort()[0]', 'normal(0.0, 1.0, size=(2,)).shape', 'bernoulli(T.zeros(3))',
    'multinomial(T.tensor([0.0, 1.0]), 2, replacement=True)', 'clone(x)', 'cumprod(x, 1)',
    'tensordot(x, y, dims=([1], [1]))', 'mv(x, v)', 'allclose(x, x + 1e-12)', 'equal(x, y)', 'isclose(x, y)',
    'nan_to_num(T.log(x))', 'trunc(x)', 'log1p(x.abs())', 'expm1(x)', 'exp2(x)', 'square(x)', 'rsqrt(x.abs())',
    'numel(x)', 'is_tensor(x)', 'abs(x)', 'exp(x)', 'log(x.abs())', 'sqrt(x.abs())', 'sum(x, 1)', 'mean(x, 0)',
    'max(x)', 'max(x, 1)[0]', 'min(x, 1)[1]', 'argmax(x, 1)', 'cat([x, y])', 'stack([x, y], 1)',
    'squeeze(x.unsqueeze(0))', 'unsqueeze(x, 1)', 'flatten(x)', 'reshape(x, (3, 2))', 'transpose(x, 0, 1)',
    'permute(x, (1, 0))', 'matmul(x, y.t())', 'mm(x, y.t())', 'bmm(x.unsqueeze(0), y.t().unsqueeze(0))',
    'dot(v, v)', 'outer(v, v)', 'softmax(x, 1)', 'log_softmax(x, 1)', 'sigmoid(x)', 'tanh(x)', 'relu(x)', 'neg(x)',
    'reciprocal(x)', 'sin(x)', 'cos(x)', 'pow(x, 2)', 'arange(5)', 'zeros(2, 3)', 'ones(2)', 'full((2,), 3.0)',
    'tensor([1, 2]).dtype', 'as_tensor([1.0])', 'from_numpy(np.ones(2))', 'randn(2, 3).shape', 'rand(2).shape',
    'manual_seed(0) is not None', 'get_num_threads() > 0', 'is_grad_enabled()', 'FloatTensor([1, 2])',
    'LongTensor([1, 2])', "device('cuda:0').index", 'Size([2, 3])', 'float32', 'int64',
    'addmm(T.ones(2, 2, dtype=T.float64), x, y.t())',
    'baddbmm(T.ones(1, 2, 2, dtype=T.float64), x.unsqueeze(0), y.t().unsqueeze(0))']
METHODS = ['gather(1, i)', 'index_select(0, T.tensor([1]))', 'masked_fill(x > 0, 1.0)', 'repeat(2, 1)',
    'expand_as(T.ones(2, 2, 3))', 'chunk(3, 1)', 'split(1)', 'sort(1)[1]', 'std()', 'var(1)', 'cumsum(0)',
    'new_zeros(2)', 'new_ones((2, 2))', 'new_full((2,), 3.0)', 'new_tensor([1.0, 2.0])', 'new_empty((2,)).shape',
    'type_as(T.tensor([1]))', 'size()', 'size(1)', 'dim()', 't()', 'expand(2, 2, 3)',
    'repeat_interleave(2, dim=0)', 'type()', 'type(T.LongTensor)', 'float()', 'double()', 'long()', 'int()',
    'bool()', 'half().dtype', 'is_cuda', 'cpu()', "to('cpu')", 'to(T.float32)', 'numel()', 'x[0, 0].item()',
    'tolist()', 'numpy()', 'clone()', 'detach()', 'contiguous()', 'view(3, 2)', 'view(-1)', 'view_as(y)',
    'reshape(-1)', 'flatten()', 'unsqueeze(0)', 'squeeze()', 'permute(1, 0)', 'transpose(0, 1)', 'T', 'abs()',
    'exp()', 'log1p()', 'neg()', 'sum(1, keepdim=True)', 'mean()', 'max(1)[0]', 'min()', 'argmax()', 'argmin(1)',
    'topk(1)[0]', 'clamp(min=0)', 'clip(-1, 1)', 'masked_select(x > 0)', 'narrow(0, 0, 1)', 'roll(1)', 'flip(1)',
    'tril()', 'triu()', 'all()', 'any()', 'isnan()', 'norm(p=1)', 'logsumexp(0)', 'prod(0)', 'cumprod(1)',
    'allclose(x)', 'equal(x)', 'isclose(y)', 'nan_to_num()', 'trunc()', 'sign()', 'round()', 'floor()', 'ceil()',
    'square()', 'rsqrt()', 'sqrt()', 'pow(2)', 'sigmoid()', 'tanh()', 'relu()', 'softmax(1)', 'log_softmax(1)',
    'matmul(y.t())', 'mm(y.t())', 'eq(y)', 'ne(y)', 'lt(y)', 'le(y)', 'gt(y)', 'ge(y)', 'add(y, alpha=2)',
    'sub(1)', 'mul(2)', "div(y, rounding_mode='floor')", 'scatter(1, i, y)', 'scatter_add(1, i, y)',
    'element_size()', 'is_contiguous()', 'is_floating_point()', 'is_leaf', 'requires_grad', 'grad_fn',
    'device.type', 'dtype', 'shape', 'ndim', 'data', 'frac()', 'fmod(1.0)', 'remainder(1.0)',
    'index_fill(1, T.tensor([0]), 9.0)', '__mod__(0.5)', '__floordiv__(0.5)', 'clamp_min(0.1)', 'lerp(y, 0.3)',
    'addcmul(x, y, value=2)', 'addcdiv(x, y.abs() + 1)']
# in-place variants: compared by the tensor they modify (or the result, for shape-changing / random ones)
INPLACE = ['add_(y)', 'sub_(y)', 'mul_(2)', 'div_(2)', 'pow_(2)', 'exp_()', 'log_()', 'sqrt_()', 'abs_()',
    'neg_()', 'clamp_(-0.5, 0.5)', 'clip_(max=0)', 'clamp_min_(0)', 'clamp_max_(0)', 'zero_()', 'fill_(3)',
    'copy_(y)', 'relu_()', 'sigmoid_()', 'tanh_()', 'masked_fill_(x > 0, 1.0)', 'scatter_(1, i, y)',
    'scatter_add_(1, i, y)', 'floor_()', 'ceil_()', 'round_()', 'sign_()', 'sin_()', 'cos_()', 'reciprocal_()',
    't_()', 'unsqueeze_(0)', 'squeeze_()', 'log1p_()', 'expm1_()', 'square_()', 'rsqrt_()', 'trunc_()',
    'nan_to_num_()', 'lerp_(y, 0.5)', 'uniform_().shape', 'normal_().shape', 'index_fill_(1, T.tensor([0]), 9.0)',
    'requires_grad_()', 'detach_()', 'transpose_(0, 1)', 'fmod_(1.0)', 'remainder_(1.0)', 'exp2_()', 'frac_()',
    'addcmul_(x, y)', 'addcdiv_(x, y.abs() + 1)', 'clamp_(min=0)', 'bernoulli_(0.5).shape', 'random_(0, 5).shape',
    'log2_()', 'mul_(y)', 'add_(1, alpha=2)', 'sub_(y, alpha=2)', "div_(y, rounding_mode='trunc')", 'maximum(y)',
    'minimum(y)']
RESULT_ONLY = ("t_", "unsqueeze_", "squeeze_", "transpose_", "uniform", "normal", "bernoulli", "random", "requires",
               "detach_", "maximum", "minimum")


def env(L):
    return dict(T=L, F=TF if L is torch else FF, nn=L.nn, np=np, x=L.tensor(X), y=L.tensor(Y),
                i=L.tensor([[0, 2], [1, 0]]), v=L.tensor(X[0]))


def plain(r):
    """A result as comparable Python/NumPy values (dtypes and sizes by name, library prefix dropped)."""
    if isinstance(r, (torch.Tensor, fastnn.Tensor)):
        return (str(r.dtype).split(".")[-1], r.detach().numpy())
    if isinstance(r, np.ndarray):
        return (str(r.dtype), r)
    if isinstance(r, (tuple, list)):
        return [plain(a) for a in r]
    if isinstance(r, (torch.dtype, fastnn.dtype, torch.Size, fastnn.Size, str)):
        return re.sub(r"^(torch|fastnn)\.", "", str(r).replace("torch.Size", "Size").replace("fastnn.Size", "Size"))
    return r


def assert_same(t, f):
    if isinstance(t, list):
        assert isinstance(f, list) and len(t) == len(f)
        for a, b in zip(t, f):
            assert_same(a, b)
    elif isinstance(t, tuple):
        assert t[0] == f[0], f"dtype {f[0]} != {t[0]}"
        a, b = t[1], f[1]
        assert a.shape == b.shape
        if a.dtype.kind == "f":
            scale = max(1.0, np.abs(a[np.isfinite(a)]).max()) if np.isfinite(a).any() else 1.0   # inputs are O(1)
            np.testing.assert_allclose(b, a, rtol=64 * EPS, atol=64 * EPS * scale, equal_nan=True)
        else:
            np.testing.assert_array_equal(b, a)
    else:
        assert f == t


def run(code, L):
    e = env(L)
    return e, eval(code, e)


@pytest.mark.parametrize("expr", TOP)
def test_top_level(expr):
    assert_same(plain(run("T." + expr, torch)[1]), plain(run("T." + expr, fastnn)[1]))


@pytest.mark.parametrize("expr", METHODS)
def test_methods(expr):
    code = expr if expr.startswith("x[") else "x." + expr
    assert_same(plain(run(code, torch)[1]), plain(run(code, fastnn)[1]))


@pytest.mark.parametrize("expr", INPLACE)
def test_inplace(expr):
    out = []
    for L in (torch, fastnn):
        e, r = run("x." + expr, L)
        out.append(plain(r if expr.startswith(RESULT_ONLY) else e["x"]))
        if not expr.startswith(RESULT_ONLY):
            assert r is e["x"]                            # returns self, as torch
    assert_same(*out)


def test_random_functions_shapes_and_ranges():
    for L in (torch, fastnn):
        L.manual_seed(0)
        r = L.randint(0, 5, (200,))
        assert str(r.dtype).endswith("int64") and 0 <= int(r.min()) and int(r.max()) < 5
        assert sorted(L.randperm(7).tolist()) == list(range(7))
        assert tuple(L.normal(0.0, 1.0, size=(3, 2)).shape) == (3, 2)
        assert L.bernoulli(L.ones(4)).tolist() == [1.0] * 4
        assert L.multinomial(L.tensor([0.0, 1.0, 0.0]), 3, replacement=True).tolist() == [1, 1, 1]


def test_legacy_constructors_devices_and_cuda_namespace():
    for L in (torch, fastnn):
        assert L.FloatTensor([1, 2]).tolist() == [1.0, 2.0] and str(L.FloatTensor([1]).dtype).endswith("float32")
        assert L.LongTensor([1, 2]).tolist() == [1, 2] and str(L.LongTensor([1]).dtype).endswith("int64")
        assert tuple(L.FloatTensor(2, 3).shape) == (2, 3) and tuple(L.FloatTensor().shape) == (0,)
        assert L.tensor([1.5]).type(L.LongTensor).tolist() == [1]
        assert L.device("cuda:0").type == "cuda" and L.device("cuda:0").index == 0
        assert not L.ones(1).is_cuda
        assert isinstance(L.cuda.is_available(), bool) and L.cuda.device_count() >= 0
        L.cuda.manual_seed(0)
        L.cuda.manual_seed_all(0)


# ---- nn -----------------------------------------------------------------------------------------------
LAYERS = ['Identity()', 'LeakyReLU(0.1)', 'PReLU()', 'PReLU(6)', 'ELU(0.5)', 'SELU()', 'GELU()', "GELU(approximate='tanh')", 'SiLU()', 'Mish()', 'Softplus(beta=2)', 'Hardtanh(-0.5, 0.5)', 'ReLU6()', 'Softmin(1)', 'LayerNorm(6)', 'LayerNorm([6], elementwise_affine=False)', 'GroupNorm(2, 4)@4', 'Unflatten(1, (2, 3))', 'Linear(6, 3)', 'Tanh()', 'Sigmoid()', 'ReLU()', 'Softmax(1)', 'LogSoftmax(1)', 'Flatten()', 'Dropout(0.0)', 'BatchNorm1d(6)', 'Conv2d(4, 2, 2)@4', 'MaxPool2d(2)@4', 'AvgPool2d(2)@4', 'AdaptiveAvgPool2d(1)@4', 'BatchNorm2d(4)@4']


@pytest.mark.parametrize("spec", LAYERS)
def test_layers(spec):
    ctor, _, inp = spec.partition("@")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 3, 3) if inp == "4" else (4, 6)).astype(np.float32)
    tm, fm = eval("torch.nn." + ctor), eval("fastnn.nn." + ctor)
    fm.load_state_dict({k: fastnn.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    tx, fx = torch.tensor(x, requires_grad=True), fastnn.tensor(x, requires_grad=True)
    to, fo = tm(tx), fm(fx)
    (to * to).sum().backward()
    (fo * fo).sum().backward()
    eps32 = np.finfo(np.float32).eps
    np.testing.assert_allclose(fo.detach().numpy(), to.detach().numpy(), rtol=256 * eps32,
                               atol=256 * eps32 * max(1.0, float(np.abs(to.detach().numpy()).max())))
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1024 * eps32,
                               atol=1024 * eps32 * max(1.0, float(np.abs(tx.grad.numpy()).max())))
    assert repr(fm) == repr(tm)


def test_embedding_padding_idx():
    te = torch.nn.Embedding(5, 3, padding_idx=1)
    fe = fastnn.nn.Embedding(5, 3, padding_idx=1)
    fe.load_state_dict({k: fastnn.tensor(v.detach().numpy()) for k, v in te.state_dict().items()})
    idx = [[0, 1], [4, 1]]
    to, fo = te(torch.tensor(idx)), fe(fastnn.tensor(idx))
    to.sum().backward()
    fo.sum().backward()
    np.testing.assert_array_equal(fo.detach().numpy(), to.detach().numpy())
    np.testing.assert_array_equal(fe.weight.grad.numpy(), te.weight.grad.numpy())
    assert not fe.weight.grad.numpy()[1].any()


LOSSES = ['SmoothL1Loss()|x,P', 'SmoothL1Loss(beta=0.5)|x,P', 'HuberLoss(delta=0.5)|x,P', "KLDivLoss(reduction='batchmean')|logx,P", "KLDivLoss(reduction='batchmean', log_target=True)|logx,logP", "KLDivLoss(reduction='sum')|logx,P", 'CrossEntropyLoss()|x,y', 'CrossEntropyLoss(weight=W)|x,y', 'CrossEntropyLoss(ignore_index=3)|x,y', 'CrossEntropyLoss(label_smoothing=0.1)|x,y', 'CrossEntropyLoss()|x,P', 'CrossEntropyLoss(weight=W, label_smoothing=0.2)|x,y', 'NLLLoss()|logx,y', 'NLLLoss(weight=W)|logx,y', 'NLLLoss(ignore_index=0)|logx,y', "NLLLoss(weight=W, ignore_index=0, reduction='sum')|logx,y", 'BCEWithLogitsLoss()|x,P', 'BCEWithLogitsLoss(pos_weight=W)|x,P', 'BCELoss()|sig,P', 'MSELoss()|x,P', "L1Loss(reduction='sum')|x,P", 'CosineEmbeddingLoss(margin=0.1)|x,x2,s', 'MarginRankingLoss(margin=0.2)|v,v2,s', 'CrossEntropyLoss(weight=W, label_smoothing=0.2, ignore_index=3)|x,y', "CrossEntropyLoss(weight=W, label_smoothing=0.2, reduction='none')|x,y", "CrossEntropyLoss(weight=W, label_smoothing=0.3, reduction='sum')|x,y"]


@pytest.mark.parametrize("spec", LOSSES)
def test_losses(spec):
    ctor, args = spec.split("|")
    rng = np.random.default_rng(0)
    x, P = rng.standard_normal((4, 6)), rng.random((4, 6))
    P = P / P.sum(1, keepdims=True)
    res = []
    for L in (torch, fastnn):
        xx = L.tensor(x, requires_grad=True)
        e = dict(x=xx, logx=xx.log_softmax(1), sig=xx.sigmoid(), P=L.tensor(P), logP=L.tensor(np.log(P)),
                 y=L.tensor([1, 0, 3, 2]), W=L.tensor(np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0])), x2=L.tensor(x[::-1].copy()),
                 s=L.tensor([1.0, -1.0, 1.0, -1.0]), v=xx[:, 0], v2=L.tensor(x[:, 1].copy()))
        out = eval("L.nn." + ctor.replace("=W", "=e['W']"), dict(L=L, e=e))(*[e[a] for a in args.split(",")])
        out.sum().backward()
        res.append((out.detach().numpy(), xx.grad.numpy()))
    for t, f in zip(*res):
        np.testing.assert_allclose(f, t, rtol=256 * EPS, atol=256 * EPS * max(1.0, float(np.abs(t).max())))


FUNCTIONAL = ['one_hot(T.tensor([0, 2, 1]), 4)', 'one_hot(T.tensor([0, 2, 1]))', 'normalize(x)', 'normalize(x, p=1, dim=0)', 'embedding(T.tensor([1, 0]), x)', 'leaky_relu(x, 0.2)', 'elu(x)', 'selu(x)', 'gelu(x)', "gelu(x, approximate='tanh')", 'silu(x)', 'mish(x)', 'softplus(x, beta=2, threshold=1)', 'hardtanh(x)', 'relu6(x)', 'softmin(x, 1)', 'layer_norm(x, (6,))', 'group_norm(x4, 2)', 'pad(x, (1, 2))', "pad(x4, (1, 1, 1, 1), mode='reflect')", 'cross_entropy(x, T.tensor([1, 0, 3, 2]), label_smoothing=0.1)', "kl_div(x.log_softmax(1), x.softmax(1), reduction='batchmean')", 'smooth_l1_loss(x, x * 2)', 'huber_loss(x, x * 2, delta=0.3)', 'dropout(x, 0.0)', 'log_softmax(x, dim=1)', 'softmax(x, dim=0)', 'linear(x, x[:2])', 'relu(x)', 'sigmoid(x)', 'tanh(x)', 'mse_loss(x, x * 0)', 'l1_loss(x, x * 0)', 'binary_cross_entropy(x.sigmoid(), x.sigmoid() * 0 + 0.5)', 'binary_cross_entropy_with_logits(x, x * 0 + 0.5, pos_weight=T.ones(6) * 2)', 'margin_ranking_loss(x[0], x[1], T.ones(6))', 'cosine_embedding_loss(x, x + 1, T.ones(4))', 'nll_loss(x.log_softmax(1), T.tensor([1, 0, 3, 2]))', 'max_pool2d(x4, 2)', 'avg_pool2d(x4, 2)', 'adaptive_avg_pool2d(x4, 1)', 'conv2d(x4, x4[:1, :, :2, :2])', 'prelu(x, T.tensor([0.25], dtype=T.float64))']


@pytest.mark.parametrize("expr", FUNCTIONAL)
def test_functional(expr):
    rng = np.random.default_rng(0)
    x, x4 = rng.standard_normal((4, 6)), rng.standard_normal((2, 4, 3, 3))
    t = eval("F." + expr, dict(F=TF, T=torch, x=torch.tensor(x), x4=torch.tensor(x4)))
    f = eval("F." + expr, dict(F=FF, T=fastnn, x=fastnn.tensor(x), x4=fastnn.tensor(x4)))
    assert_same(plain(t), plain(f))


def modules(L):
    nn = L.nn
    L.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.ModuleList([nn.Linear(4, 4), nn.Tanh()]),
                      nn.ModuleDict({"a": nn.Linear(4, 2)}))
    m.pl = nn.ParameterList([nn.Parameter(L.ones(2)), nn.Parameter(L.zeros(3))])
    m.pd = nn.ParameterDict({"w": nn.Parameter(L.ones(1))})
    r = {"named_modules": [n for n, _ in m.named_modules()], "children": [type(c).__name__ for c in m.children()],
         "params": [(n, tuple(p.shape)) for n, p in m.named_parameters()], "state_dict": list(m.state_dict())}
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    r["apply"] = seen
    m.requires_grad_(False)
    r["requires_grad_"] = [p.requires_grad for p in m.parameters()]
    m.requires_grad_(True)
    r["casts"] = [str(getattr(m, c)()[0].weight.dtype).split(".")[-1] for c in ("double", "half", "float")]
    r["repr"] = re.sub(r"(torch|fastnn)\.", "", repr(m))
    calls, lin = [], m[0]
    handles = [lin.register_forward_pre_hook(lambda mod, inp: calls.append(("pre", tuple(inp[0].shape)))),
               lin.register_forward_hook(lambda mod, inp, out: calls.append(("fwd", tuple(out.shape)))),
               lin.register_full_backward_hook(lambda mod, gin, gout: calls.append(("bwd", tuple(gout[0].shape),
                                                                                    gin[0] is None)))]
    m[1](lin(L.ones(5, 3))).sum().backward()
    for h in handles:
        h.remove()
    lin(L.ones(5, 3))
    r["hooks"], r["extra_repr"] = calls, lin.extra_repr()
    r["containers"] = (len(m[2]), list(m[3].keys()), len(m.pl), list(m.pd.keys()))
    r["train_eval"] = (m.eval().training, m.train().training)
    m.zero_grad()
    r["zero_grad"] = lin.weight.grad is None
    r["buffers"] = [n for n, _ in nn.BatchNorm1d(3).named_buffers()]
    return r


def test_module_helpers_and_hooks():
    t, f = modules(torch), modules(fastnn)
    for k in t:
        assert f[k] == t[k], k


SCHEDULERS = ['StepLR(o, 3, gamma=0.5)', 'MultiStepLR(o, [2, 5], gamma=0.1)', 'ExponentialLR(o, 0.9)', 'LambdaLR(o, lambda e: 1 / (e + 1))', 'MultiplicativeLR(o, lambda e: 0.95)', 'LinearLR(o, start_factor=0.25, total_iters=4)', 'ConstantLR(o, factor=0.5, total_iters=3)', 'PolynomialLR(o, total_iters=6, power=2.0)', 'CosineAnnealingLR(o, T_max=5, eta_min=0.01)', 'CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001)', 'CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2)', "CyclicLR(o, 0.01, 0.1, step_size_up=3, mode='triangular2', cycle_momentum=False)", 'OneCycleLR(o, max_lr=0.5, total_steps=12)', 'SequentialLR(o, [S.ConstantLR(o, factor=0.1, total_iters=2), S.ExponentialLR(o, gamma=0.9)], milestones=[2])', 'ChainedScheduler([S.ConstantLR(o, factor=0.1, total_iters=2), S.ExponentialLR(o, gamma=0.9)])', 'ReduceLROnPlateau(o, patience=1, factor=0.5)']


@pytest.mark.parametrize("spec", SCHEDULERS)
def test_schedulers(spec):
    plateau = [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7]
    out = []
    for L in (torch, fastnn):
        p = L.nn.Parameter(L.ones(2))
        o = L.optim.SGD([p], lr=0.1, momentum=0.9)
        s = eval("S." + spec, dict(S=L.optim.lr_scheduler, o=o))
        lrs, moms = [], []
        for i in range(12):
            o.step()
            s.step(plateau[i]) if "Plateau" in spec else s.step()
            lrs.append(s.get_last_lr()[0])
            moms.append(o.param_groups[0]["momentum"])
        out.append((lrs, moms, sorted(k for k in s.state_dict() if k != "_schedulers")))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=16 * EPS)
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=16 * EPS)
    assert out[1][2] == out[0][2]
