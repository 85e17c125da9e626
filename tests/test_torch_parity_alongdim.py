"""Indexing, scans and sorting along a dim (kernels/index, scan, sort) against torch on every backend:
errors (wrong index dtype, out-of-range index, dim out of range) with torch's wording before any kernel
runs, values and gradients of gather/scatter_add/index_select/embedding/cumsum/cumprod/sort/topk, and
kernels/sort/ref.py's order against torch.sort(stable=True)."""
import numpy as np
import pytest

import fastnn
from alongdim import EPS, ref_sort as _ref_sort, values

torch = pytest.importorskip("torch")


def _torch_error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 — the wording is what is compared
        return type(e), str(e)
    raise AssertionError("torch accepted the input")


@pytest.mark.parametrize("case", [
    ("gather", lambda L, a: L.gather(a, 1, L.tensor([[0.5]])), "gather(): Expected dtype int32/int64 for index"),
    ("scatter_add", lambda L, a: L.scatter_add(a, 1, L.tensor([[0.5]]), L.ones(1, 1)),
     "scatter(): Expected dtype int32/int64 for index"),
    ("gather", lambda L, a: L.gather(a, 1, L.tensor([[4]])), "index 4 is out of bounds for dimension 1 with size 4"),
    ("gather", lambda L, a: L.gather(a, 1, L.tensor([[-1]])), "index -1 is out of bounds for dimension 1 with size 4"),
    ("gather", lambda L, a: L.gather(a, 2, L.tensor([[0]])), "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ("scatter_add", lambda L, a: L.scatter_add(a, -1, L.tensor([[9]]), L.ones(1, 1)),
     "index 9 is out of bounds for dimension 1 with size 4"),
    ("scatter_add", lambda L, a: L.scatter_add(a, -3, L.tensor([[0]]), L.ones(1, 1)),
     "Dimension out of range (expected to be in range of [-2, 1], but got -3)"),
], ids=lambda c: c[2][:30] if isinstance(c, tuple) else str(c))
def test_bad_input_raises_torchs_error(backend, case):
    _, fn, text = case
    t_type, t_msg = _torch_error(lambda: fn(torch, torch.zeros(3, 4)))
    with pytest.raises(t_type) as e:
        fn(fastnn, fastnn.zeros(3, 4, device=backend))
    assert text in str(e.value) and text in t_msg


def test_int32_index_is_accepted_like_torch(backend):
    x = np.arange(12.0).reshape(3, 4)
    i = np.array([[3, 0], [1, 1], [2, 0]], dtype=np.int32)
    want = torch.tensor(x).gather(1, torch.tensor(i)).numpy()
    got = fastnn.tensor(x, device=backend).gather(1, fastnn.tensor(i, device=backend))
    np.testing.assert_array_equal(got.cpu().numpy(), want)


@pytest.mark.parametrize("dim", [-1, 0, 1, -2])
def test_gather_scatter_add_grads_match_torch(backend, dim):
    rng = np.random.default_rng(3)
    x, src = rng.standard_normal((4, 5)), rng.standard_normal((3, 4))
    index = rng.integers(0, 4 if dim % 2 == 0 else 5, (3, 4))
    outs = []
    for L, dev in ((torch, "cpu"), (fastnn, backend)):
        xt = L.tensor(x, requires_grad=True, device=dev)
        st_ = L.tensor(src, requires_grad=True, device=dev)
        it = L.tensor(index, device=dev)
        y = (xt.gather(dim, it) * st_).sum() + (xt.scatter_add(dim, it, st_) ** 2).sum()
        y.backward()
        outs.append([np.asarray(v.detach().cpu().numpy()) for v in (y, xt.grad, st_.grad)])
    for want, got in zip(*outs):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * (1 + np.abs(want).max()))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_and_embedding_grads_match_torch(backend, dim):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, 6))
    sel = np.array([4, 0, 4, 2, 4]) if dim == 0 else np.array([5, 1, 5, 0])
    emb_idx = np.array([[1, 3, 1], [0, 1, 4]])
    res = []
    for L, dev in ((torch, "cpu"), (fastnn, backend)):
        t = L.tensor(x, requires_grad=True, device=dev)
        y = (t.index_select(dim, L.tensor(sel, device=dev)) ** 2).sum()
        y = y + (L.nn.functional.embedding(L.tensor(emb_idx, device=dev), t) ** 3).sum()
        y.backward()
        res.append((y.detach().cpu().numpy(), t.grad.cpu().numpy()))
    for want, got in zip(*res):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * (1 + np.abs(want).max()))



@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scans_match_torch(backend, op, dim):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    x[1, 2] = x[2, 0] = x[2, 3] = 0
    res = []
    for L, dev in ((torch, "cpu"), (fastnn, backend)):
        t = L.tensor(x, requires_grad=True, device=dev)
        y = getattr(t, op)(dim)
        (y * L.arange(24.0).reshape(4, 6).to(dev)).sum().backward()
        res.append((y.detach().cpu().numpy(), t.grad.cpu().numpy()))
    for want, got in zip(*res):
        np.testing.assert_allclose(got, want, rtol=8 * EPS[np.dtype(np.float32)],
                                   atol=16 * EPS[np.dtype(np.float32)] * np.abs(want).max())


def test_scan_dim_out_of_range_raises_torchs_error(backend):
    for op in ("cumsum", "cumprod"):
        with pytest.raises(IndexError) as t_err:
            getattr(torch.zeros(3, 4), op)(2)
        with pytest.raises(IndexError) as e:
            getattr(fastnn.zeros(3, 4, device=backend), op)(2)
        assert str(e.value) == str(t_err.value)


def test_reference_order_is_torchs_stable_order():
    """The oracle itself against torch.sort(stable=True): NaN, ties, -0.0, both directions."""
    rng = np.random.default_rng(9)
    x = values(rng, (6, 30), np.float64, ties=True, nans=True)
    for descending in (False, True):
        tv, ti = torch.sort(torch.tensor(x), dim=1, descending=descending, stable=True)
        v, i = _ref_sort(x, 1, descending)
        np.testing.assert_array_equal(i, ti.numpy())
        np.testing.assert_array_equal(v, tv.numpy())


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_op_matches_torch_stable(backend, dim, descending):
    rng = np.random.default_rng(10)
    x = values(rng, (5, 7), np.float32, ties=True, nans=True)
    tv, ti = torch.sort(torch.tensor(x), dim=dim, descending=descending, stable=True)
    v, i = fastnn.tensor(x, device=backend).sort(dim, descending, stable=True)
    np.testing.assert_array_equal(i.cpu().numpy(), ti.numpy())
    np.testing.assert_array_equal(v.cpu().numpy(), tv.numpy())
    np.testing.assert_array_equal(fastnn.tensor(x, device=backend).argsort(dim, descending).cpu().numpy(), ti.numpy())


@pytest.mark.parametrize("largest", [False, True])
def test_topk_op_values_and_grads_match_torch(backend, largest):
    """Distinct values (torch's tie order in topk is unspecified) plus NaNs; gradients flow back."""
    rng = np.random.default_rng(11)
    x = rng.permutation(40).reshape(5, 8).astype(np.float64) / 7
    x[1, 3] = x[3, 0] = np.nan
    res = []
    for L, dev in ((torch, "cpu"), (fastnn, backend)):
        t = L.tensor(x, requires_grad=True, device=dev)
        v, i = t.topk(3, dim=-1, largest=largest)
        (L.nan_to_num(v, nan=5.0) * L.arange(3.0, dtype=v.dtype).to(dev)).sum().backward()
        res.append((v.detach().cpu().numpy(), i.cpu().numpy(), t.grad.cpu().numpy()))
    for want, got in zip(*res):
        np.testing.assert_array_equal(got, want)


def test_sort_errors_match_torch(backend):
    cases = [lambda L, a: a.sort(dim=2), lambda L, a: a.topk(5), lambda L, a: a.topk(2, dim=-3),
             lambda L, a: a.argsort(dim=3)]
    for fn in cases:
        with pytest.raises((IndexError, RuntimeError)) as t_err:
            fn(torch, torch.zeros(3, 4))
        with pytest.raises(t_err.type) as e:
            fn(fastnn, fastnn.zeros(3, 4, device=backend))
        assert str(t_err.value) in str(e.value)
