"""The Tensor methods added for torch programs (tensor_methods_extra.py and div's rounding_mode) against
torch over shapes with size-0 and size-1 dims and non-contiguous inputs: values, in-place results, and
gradients of the composed ops; plus torch.autograd.backward over a list of tensors."""
import numpy as np
import pytest
torch = pytest.importorskip("torch", reason="torch==2.13.0 is the oracle of these tests")
from hypothesis import given, settings, strategies as st  # noqa: E402

import fastnn

EPS = np.finfo(np.float64).eps
shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)


def pair(a):
    """The same float64 data as (torch, fastnn) leaf tensors requiring grad."""
    return torch.tensor(a, requires_grad=True), fastnn.tensor(a, requires_grad=True)


def view(x, transpose):
    return x.transpose(0, -1) if transpose and x.ndim > 1 else x


BINARY = {
    "fmod": lambda x, y: x.fmod(y), "remainder": lambda x, y: x.remainder(y), "mod_op": lambda x, y: x % y,
    "floordiv_op": lambda x, y: x // y, "floor_div": lambda x, y: x.div(y, rounding_mode="floor"),
    "trunc_div": lambda x, y: x.div(y, rounding_mode="trunc"), "lerp": lambda x, y: x.lerp(y, 0.3),
    "addcmul": lambda x, y: x.addcmul(y, x, value=0.5), "addcdiv": lambda x, y: x.addcdiv(x, y, value=2),
}
UNARY = {
    "neg": lambda x: x.neg(), "negative": lambda x: x.negative(), "frac": lambda x: x.frac(),
    "clamp_min": lambda x: x.clamp_min(0.1), "clamp_max": lambda x: x.clamp_max(-0.2),
    "index_fill": lambda x: x.index_fill(-1, _index(x), 7.0),
}


def _index(x):
    lib = torch if isinstance(x, torch.Tensor) else fastnn
    return lib.tensor([0] if x.shape[-1] else [], dtype=lib.int64)


def compare(tv, fv, tg, fg):
    scale = max(1.0, float(np.abs(tv.detach().numpy()).max())) if tv.numel() else 1.0
    np.testing.assert_allclose(fv.detach().numpy(), tv.detach().numpy(), rtol=64 * EPS, atol=64 * EPS * scale)
    assert tuple(fv.shape) == tuple(tv.shape)
    if tg is not None:
        np.testing.assert_allclose(fg.numpy(), tg.numpy(), rtol=64 * EPS, atol=64 * EPS * scale)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 1000), transpose=st.booleans(), name=st.sampled_from(sorted(BINARY)))
def test_binary_methods_match_torch(shape, seed, transpose, name):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) * 3
    b = rng.choice([-1.5, -0.7, 0.6, 1.3], size=shape)            # away from zero: quotients stay tame
    (ta, fa), (tb, fb) = pair(a), pair(b)
    tv, fv = BINARY[name](view(ta, transpose), view(tb, transpose)), BINARY[name](view(fa, transpose), view(fb, transpose))
    if name == "floordiv_op":                    # torch: "derivative for aten::floor_divide is not implemented"
        compare(tv, fv, None, None)
        return
    tv.sum().backward()
    fv.sum().backward()
    compare(tv, fv, ta.grad, fa.grad)
    compare(tv, fv, tb.grad, fb.grad)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 1000), transpose=st.booleans(), name=st.sampled_from(sorted(UNARY)))
def test_unary_methods_match_torch(shape, seed, transpose, name):
    a = np.random.default_rng(seed).standard_normal(shape) * 3
    ta, fa = pair(a)
    tv, fv = UNARY[name](view(ta, transpose)), UNARY[name](view(fa, transpose))
    tv.sum().backward()
    fv.sum().backward()
    compare(tv, fv, ta.grad, fa.grad)


INPLACE = {"sin_": (), "cos_": (), "log2_": (), "exp2_": (), "clamp_min_": (0.1,), "clamp_max_": (0.2,),
           "frac_": (), "fmod_": (0.7,), "remainder_": (0.7,), "t_": (), "squeeze_": (), "unsqueeze_": (0,),
           "transpose_": (0, -1)}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_variants_match_torch(name):
    a = np.abs(np.random.default_rng(1).standard_normal((3, 1) if name != "t_" else (2, 3))) + 0.1
    t, f = torch.tensor(a), fastnn.tensor(a)
    rt, rf = getattr(t, name)(*INPLACE[name]), getattr(f, name)(*INPLACE[name])
    assert rt is t and rf is f
    compare(t, f, None, None)
    for fn in (lambda x: x.lerp_(x * 2, 0.25), lambda x: x.addcmul_(x, x, value=2), lambda x: x.addcdiv_(x, x + 1),
               lambda x: x.index_fill_(0, (torch if isinstance(x, torch.Tensor) else fastnn).tensor([1]), -1.0),
               lambda x: x.div_(0.3, rounding_mode="floor")):
        t, f = torch.tensor(a), fastnn.tensor(a)
        fn(t)
        fn(f)
        compare(t, f, None, None)


def test_random_inplace_ranges():
    fastnn.manual_seed(0)
    r = fastnn.zeros(500).random_(3, 7)
    assert set(r.tolist()) == {3.0, 4.0, 5.0, 6.0}
    assert set(fastnn.zeros(500).random_(4).tolist()) == {0.0, 1.0, 2.0, 3.0}
    b = fastnn.zeros(2000).bernoulli_(0.25)
    assert set(b.tolist()) == {0.0, 1.0} and 0.18 < b.mean().item() < 0.32   # 2000 draws: ~6 sigma band


def test_autograd_backward_over_a_list_matches_torch():
    res = []
    for L in (torch, fastnn):
        a = L.tensor([1.0, -2.0, 0.5], requires_grad=True)
        L.autograd.backward([(a * a).sum(), a.exp()], [None, L.tensor([1.0, 10.0, 100.0])])
        res.append(a.grad.numpy())
    np.testing.assert_allclose(res[1], res[0], rtol=4 * EPS)


@pytest.mark.parametrize("name", sorted(set(BINARY) - {"floordiv_op"}) + sorted(UNARY))
def test_methods_on_every_backend(backend, name):
    """The same values and gradients on the cpu and cuda backends (cuda: the emulated stand-in here)."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)) * 3, rng.choice([-1.5, 0.6, 1.3], size=(3, 4))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    fa = fastnn.tensor(a, device=backend, requires_grad=True)
    fb = fastnn.tensor(b, device=backend, requires_grad=True)
    if name in BINARY:
        tv, fv = BINARY[name](ta, tb), BINARY[name](fa, fb)
    else:
        tv, fv = UNARY[name](ta), UNARY[name](fa)
    tv.sum().backward()
    fv.sum().backward()
    assert fv.device.type == backend
    np.testing.assert_allclose(fv.detach().cpu().numpy(), tv.detach().numpy(), rtol=64 * EPS, atol=64 * EPS * 5)
    np.testing.assert_allclose(fa.grad.cpu().numpy(), ta.grad.numpy(), rtol=64 * EPS, atol=64 * EPS * 5)
