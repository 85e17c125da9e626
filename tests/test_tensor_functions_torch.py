"""fastnn's torch-namespace functions vs torch (float64): the same expression, values and input grads compared."""
import numpy as np
import pytest

import fastnn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

IDX = np.array([[0, 2, 1, 2], [1, 0, 0, 3], [2, 2, 1, 0]])
SEL = np.array([2, 0, 2])


def _idx(lib, a):
    return lib.tensor(a, dtype=lib.int64)


# name -> (shapes of the float inputs, fn(lib, *tensors)) with lib = torch or fastnn
CASES = {
    "mul": ([(3, 4), (4,)], lambda L, a, b: L.mul(a, b)),
    "add_alpha": ([(3, 4), (3, 1)], lambda L, a, b: L.add(a, b, alpha=2.5)),
    "sub": ([(3, 4), (3, 4)], lambda L, a, b: L.sub(a, b, alpha=-1)),
    "div": ([(3, 4), (3, 4)], lambda L, a, b: L.div(a, b.abs() + 1)),
    "div_floor": ([(3, 4), (3, 4)], lambda L, a, b: L.div(a * 3, b.abs() + 1, rounding_mode="floor") + a),
    "div_trunc": ([(3, 4), (3, 4)], lambda L, a, b: L.div(a * 3, b.abs() + 1, rounding_mode="trunc") + a),
    "gather": ([(3, 4)], lambda L, a: L.gather(a, 1, _idx(L, IDX)) * 2),
    "gather0": ([(3, 4)], lambda L, a: L.gather(a, 0, _idx(L, IDX[:, :3] % 3))),
    "scatter_add": ([(3, 5), (3, 4)], lambda L, a, s: L.scatter_add(a, 1, _idx(L, IDX), s)),
    "scatter": ([(3, 5), (3, 4)], lambda L, a, s: L.scatter(a, 1, _idx(L, np.array([[0, 1, 2, 3]] * 3)), s)),
    "index_select": ([(3, 4)], lambda L, a: L.index_select(a, 0, _idx(L, SEL))),
    "index_select1": ([(3, 4)], lambda L, a: L.index_select(a, 1, _idx(L, SEL))),
    "masked_fill": ([(3, 4)], lambda L, a: a.masked_fill(a > 0, -2.0)),
    "masked_select": ([(3, 4)], lambda L, a: L.masked_select(a, a > 0.1)),
    "where": ([(3, 4), (4,)], lambda L, a, b: L.where(a > 0, a, b)),
    "chunk": ([(5, 4)], lambda L, a: L.chunk(a, 2, 0)[1] * 3),
    "split": ([(5, 4)], lambda L, a: L.split(a, [1, 3], 1)[1]),
    "narrow": ([(5, 4)], lambda L, a: L.narrow(a, 0, 1, 3)),
    "cumsum": ([(3, 4)], lambda L, a: L.cumsum(a, 1)),
    "cumsum0": ([(3, 4)], lambda L, a: L.cumsum(a, dim=0)),
    "cumprod": ([(3, 4)], lambda L, a: L.cumprod(a, 1)),
    "prod": ([(3, 4)], lambda L, a: L.prod(a)),
    "prod_dim": ([(3, 4)], lambda L, a: L.prod(a, 1, keepdim=True)),
    "std": ([(3, 4)], lambda L, a: L.std(a)),
    "var_dim": ([(3, 4)], lambda L, a: L.var(a, 1)),
    "var_biased": ([(3, 4)], lambda L, a: L.var(a, 0, unbiased=False, keepdim=True)),
    "var_correction": ([(3, 4)], lambda L, a: a.var(dim=1, correction=0)),
    "norm": ([(3, 4)], lambda L, a: L.norm(a)),
    "norm_dim": ([(3, 4)], lambda L, a: a.norm(dim=1)),
    "norm_p1": ([(3, 4)], lambda L, a: a.norm(p=1)),
    "logsumexp": ([(3, 4)], lambda L, a: L.logsumexp(a, 1)),
    "logsumexp_keep": ([(3, 4)], lambda L, a: L.logsumexp(a * 100, 0, keepdim=True)),
    "einsum_mm": ([(3, 4), (4, 2)], lambda L, a, b: L.einsum("ij,jk->ik", a, b)),
    "einsum_bmm": ([(2, 3, 4), (2, 4, 5)], lambda L, a, b: L.einsum("bij,bjk->bik", a, b)),
    "einsum_trace": ([(3, 3)], lambda L, a: L.einsum("ii", a)),
    "einsum_sum": ([(3, 4), (4,)], lambda L, a, b: L.einsum("ij,j->i", a, b)),
    "einsum_outer": ([(3,), (4,)], lambda L, a, b: L.einsum("i,j", a, b)),
    "tril": ([(4, 5)], lambda L, a: L.tril(a)),
    "triu": ([(2, 4, 5)], lambda L, a: L.triu(a, 1)),
    "clamp": ([(3, 4)], lambda L, a: L.clamp(a, -0.5, 0.5)),
    "clip": ([(3, 4)], lambda L, a: L.clip(a, min=0.1)),
    "maximum": ([(3, 4), (4,)], lambda L, a, b: L.maximum(a, b)),
    "minimum": ([(3, 4), (3, 4)], lambda L, a, b: L.minimum(a, b)),
    "roll": ([(3, 4)], lambda L, a: L.roll(a, 1, 1)),
    "roll_flat": ([(3, 4)], lambda L, a: L.roll(a, -2)),
    "roll_multi": ([(3, 4)], lambda L, a: L.roll(a, (1, 2), (0, 1))),
    "flip": ([(3, 4)], lambda L, a: L.flip(a, [0, 1])),
    "diag_vec": ([(4,)], lambda L, a: L.diag(a, 1)),
    "diag_mat": ([(3, 4)], lambda L, a: L.diag(a, -1)),
    "tensordot": ([(2, 3, 4), (3, 4, 5)], lambda L, a, b: L.tensordot(a, b, dims=2)),
    "tensordot_list": ([(2, 3, 4), (4, 3)], lambda L, a, b: L.tensordot(a, b, dims=([1, 2], [1, 0]))),
    "addmm": ([(2, 4), (2, 3), (3, 4)], lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2)),
    "baddbmm": ([(2, 3, 5), (2, 3, 4), (2, 4, 5)], lambda L, c, a, b: L.baddbmm(c, a, b, alpha=0.5)),
    "mv": ([(3, 4), (4,)], lambda L, a, b: L.mv(a, b)),
    "nan_to_num": ([(3, 4)], lambda L, a: L.nan_to_num(L.log(a), nan=0.5, neginf=-3.0)),
    "log1p": ([(3, 4)], lambda L, a: L.log1p(a.abs())),
    "expm1": ([(3, 4)], lambda L, a: L.expm1(a)),
    "exp2": ([(3, 4)], lambda L, a: L.exp2(a)),
    "square": ([(3, 4)], lambda L, a: L.square(a)),
    "rsqrt": ([(3, 4)], lambda L, a: L.rsqrt(a.abs() + 0.1)),
    "rounding": ([(3, 4)], lambda L, a: L.round(a * 3) + L.floor(a) + L.ceil(a) + L.trunc(a * 2) + L.sign(a) + a),
    "sort": ([(3, 4)], lambda L, a: L.sort(a, 1, descending=True)[0] * L.arange(4.0, dtype=a.dtype).to(a.device)),
    "topk": ([(3, 4)], lambda L, a: L.topk(a, 2, 0)[0]),
    "clone": ([(3, 4)], lambda L, a: L.clone(a) * 2),
    "repeat": ([(2, 3)], lambda L, a: a.repeat(2, 1, 3)),
    "repeat_interleave": ([(2, 3)], lambda L, a: a.repeat_interleave(2, dim=1)),
    "expand_as": ([(3, 1)], lambda L, a: a.expand_as(L.zeros(2, 3, 4, dtype=a.dtype))),
    "t": ([(3, 4)], lambda L, a: a.t() * 1.5),
    "method_chain": ([(3, 4)], lambda L, a: a.gather(1, _idx(L, IDX)).cumsum(0).prod(1).sum()),
}


def _inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _run(lib, arrays, fn, device=None):
    kw = {} if device is None else {"device": device}
    ts = [lib.tensor(a, dtype=lib.float64, requires_grad=True, **kw) for a in arrays]
    out = fn(lib, *ts)
    w = np.random.default_rng(7).standard_normal(tuple(out.shape))
    (out * lib.tensor(w, dtype=lib.float64, **kw)).sum().backward()
    to_np = (lambda t: t.detach().cpu().numpy())
    return to_np(out), [to_np(t.grad) if t.grad is not None else np.zeros_like(a) for t, a in zip(ts, arrays)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_matches_torch(backend, name):
    shapes, fn = CASES[name]
    arrays = _inputs(shapes, abs(hash(name)) % 1000)
    t_out, t_grads = _run(torch, arrays, fn)
    f_out, f_grads = _run(fastnn, arrays, fn, device=backend)
    assert f_out.shape == t_out.shape
    np.testing.assert_allclose(f_out, t_out, rtol=1e-10, atol=1e-12)
    for fg, tg in zip(f_grads, t_grads):
        np.testing.assert_allclose(fg, tg, rtol=1e-9, atol=1e-12)


NOGRAD = {
    "argsort": lambda L, a: L.argsort(a, 1, descending=True),
    "isnan": lambda L, a: L.isnan(L.log(a)),
    "isinf": lambda L, a: L.isinf(L.log(a * 0)),
    "isfinite": lambda L, a: L.isfinite(L.log(a)),
    "any": lambda L, a: L.any(a > 1, 1),
    "all": lambda L, a: L.all(a > -1),
    "isclose": lambda L, a: L.isclose(a, a + 1e-9),
    "int_div_floor": lambda L, a: L.div((a * 10).long(), 3, rounding_mode="floor"),
    "int_div_trunc": lambda L, a: L.div((a * 10).long(), 3, rounding_mode="trunc"),
    "cumsum_int": lambda L, a: L.cumsum((a > 0).int(), 0),
    "prod_int": lambda L, a: L.prod((a * 3).long() + 5, 1),
    "eye": lambda L, a: L.eye(3, 4).to(a.device) + a.new_ones(3, 4),
    "logspace": lambda L, a: L.logspace(0, 2, 5),
    "new_full": lambda L, a: a.new_full((2, 2), 3.5),
    "type_as": lambda L, a: a.type_as(L.zeros(1, dtype=L.int32)),
}


@pytest.mark.parametrize("name", sorted(NOGRAD))
def test_nograd_function_matches_torch(backend, name):
    a = np.random.default_rng(3).standard_normal((3, 4))
    t = NOGRAD[name](torch, torch.tensor(a))
    f = NOGRAD[name](fastnn, fastnn.tensor(a, device=backend))
    assert str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(f.cpu().numpy(), t.numpy())


def test_allclose_equal_numel_is_tensor():
    a = fastnn.tensor([1.0, 2.0])
    assert fastnn.allclose(a, a + 1e-9) and not fastnn.allclose(a, a + 1)
    assert fastnn.equal(a, a.clone()) and fastnn.numel(a) == 2
    assert fastnn.is_tensor(a) and not fastnn.is_tensor([1.0])


def test_inplace_methods_match_torch():
    a = np.random.default_rng(1).standard_normal((3, 4))
    for name, args in [("exp_", ()), ("sqrt_", ()), ("abs_", ()), ("clamp_", (-0.2, 0.3)), ("add_", (2.0,)),
                       ("log1p_", ()), ("floor_", ()), ("square_", ())]:
        src = np.abs(a) if name == "sqrt_" or name == "log1p_" else a
        t, f = torch.tensor(src), fastnn.tensor(src)
        rt, rf = getattr(t, name)(*args), getattr(f, name)(*args)
        assert rf is f
        np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=1e-12)
    m = a > 0
    t, f = torch.tensor(a), fastnn.tensor(a)
    t.masked_fill_(torch.tensor(m), 9.0)
    f.masked_fill_(fastnn.tensor(m), 9.0)
    np.testing.assert_array_equal(f.numpy(), t.numpy())


def test_register_hook_and_retain_grad_match_torch():
    a = np.random.default_rng(2).standard_normal((3,))
    res = []
    for L in (torch, fastnn):
        x = L.tensor(a, requires_grad=True)
        h = x * 2
        seen = []
        h.register_hook(lambda g: seen.append(g.clone()) or g * 3)
        h.retain_grad()
        (h ** 2).sum().backward()
        res.append((x.grad.numpy(), seen[0].numpy()))
    np.testing.assert_allclose(res[1][0], res[0][0])
    np.testing.assert_allclose(res[1][1], res[0][1])


def test_grad_fn_names_match_torch():
    for expr in (lambda L, a: a * 2, lambda L, a: a + a, lambda L, a: a.gather(0, L.tensor([0])),
                 lambda L, a: a.cumsum(0), lambda L, a: a.exp(), lambda L, a: a.sum()):
        t = expr(torch, torch.ones(2, requires_grad=True))
        f = expr(fastnn, fastnn.ones(2, requires_grad=True))
        assert f.grad_fn.name == type(t.grad_fn).__name__


def test_type_casts_and_names():
    x = fastnn.tensor([1.5, 2.5])
    assert x.type(fastnn.LongTensor).dtype == fastnn.int64
    assert x.type("torch.DoubleTensor").dtype == fastnn.float64
    assert x.type() == "fastnn.FloatTensor" and x.long().type() == "fastnn.LongTensor"
    assert x.half().dtype == fastnn.float16 and x.int().dtype == fastnn.int32 and x.bool().dtype == fastnn.bool
    assert x.size() == (2,) and x.dim() == 1 and not x.is_cuda
    assert fastnn.device("cuda:0").type == "cuda" and fastnn.device("cuda:0").index == 0


def test_random_functions_shapes_and_ranges():
    fastnn.manual_seed(0)
    n = fastnn.normal(2.0, 0.5, size=(2000,))
    assert abs(n.mean().item() - 2.0) < 0.05 and abs(n.std().item() - 0.5) < 0.05
    b = fastnn.bernoulli(fastnn.full((4000,), 0.25))
    assert set(np.unique(b.numpy())) <= {0.0, 1.0} and abs(b.mean().item() - 0.25) < 0.03
    m = fastnn.multinomial(fastnn.tensor([[0.0, 1.0, 3.0], [1.0, 0.0, 0.0]]), 2, replacement=True)
    assert m.shape == (2, 2) and m.dtype == fastnn.int64 and (m[1] == 0).all()
    assert (m[0] != 0).all()
    w = fastnn.multinomial(fastnn.tensor([1.0, 1.0, 1.0]), 3)
    assert sorted(w.tolist()) == [0, 1, 2]


ERRORS = [
    (lambda L, a: L.gather(a, 1, L.tensor([[0.0]])), "int64"),
    (lambda L, a: L.gather(a, 1, L.tensor([0])), "same number of dimensions"),
    (lambda L, a: L.gather(a, 1, L.tensor([[7]])), "out of bounds"),
    (lambda L, a: L.index_select(a, 0, L.tensor([[0]])), "vector"),
    (lambda L, a: L.index_select(a, 0, L.tensor([5])), "out of range"),
    (lambda L, a: a.masked_fill(a, 1.0), "boolean"),
    (lambda L, a: L.div(a, a, rounding_mode="round"), "rounding_mode"),
    (lambda L, a: L.split(a, [1, 1], 0), "sum exactly"),
    (lambda L, a: L.chunk(a, 0), "greater than 0"),
    (lambda L, a: L.narrow(a, 0, 2, 5), "exceeds dimension size"),
    (lambda L, a: L.diag(L.zeros(2, 2, 2)), "1D or 2D"),
    (lambda L, a: L.tril(L.zeros(3)), "at least 2 dimensions"),
    (lambda L, a: L.einsum("ij,jk->ik", a), "operands"),
    (lambda L, a: L.einsum("ijk->i", a), "number of dimensions"),
    (lambda L, a: L.tensordot(a, L.zeros(5, 2, dtype=a.dtype), dims=1), "contracted dimensions need to match"),
    (lambda L, a: L.mv(a, L.zeros(3)), "size mismatch"),
    (lambda L, a: L.multinomial(L.tensor([-1.0, 1.0]), 1), "element < 0"),
    (lambda L, a: L.var(L.tensor([1, 2])), "floating point"),
    (lambda L, a: L.cumsum(a, 3), "Dimension out of range"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_match_torch_wording(case):
    fn, words = ERRORS[case]
    a = np.zeros((3, 4))
    with pytest.raises(Exception) as te:
        fn(torch, torch.tensor(a))
    with pytest.raises(type(te.value)) as fe:
        fn(fastnn, fastnn.tensor(a))
    assert words in str(fe.value), str(fe.value)
    assert words.lower() in str(te.value).lower(), f"torch says: {te.value}"


def test_gather_scatter_with_index_smaller_than_input_matches_torch():
    a = np.random.default_rng(5).standard_normal((4, 5))
    s = np.random.default_rng(6).standard_normal((2, 3))   # src as large as index: torch 2.13's backward
    idx = np.array([[0, 1, 3], [2, 2, 0]])                 # refuses a larger src (gradient shaped like index)
    res = []
    for L in (torch, fastnn):
        x, src = L.tensor(a, requires_grad=True), L.tensor(s, requires_grad=True)
        i, i4 = L.tensor(idx), L.tensor(idx % 4)
        out = x.gather(1, i).sum() * 2 + (x.scatter_add(0, i4, src) ** 2).sum() + (x.scatter(1, i, src.detach()) ** 3).sum()
        out.backward()
        res.append((out.item(), x.grad.numpy(), src.grad.numpy()))
    for f, t in zip(res[1], res[0]):
        np.testing.assert_allclose(f, t, rtol=1e-10)
