"""The small fixes the port suite found (tests/test_ports.py): each against a closed form, and
against torch when it is installed (reprs, values)."""
import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
from fastnn.utils.data import DataLoader, TensorDataset

try:
    import torch
except ImportError:         # the closed-form halves still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed (closed-form tests still run)")


def test_type_names_print_like_torch():
    t = fastnn.ones(2)
    assert str(type(t)) == "<class 'fastnn.Tensor'>"
    assert str(type(t.shape)) == "<class 'fastnn.Size'>"
    assert str(type(t.dtype)) == "<class 'fastnn.dtype'>" and str(type(t.device)) == "<class 'fastnn.device'>"
    assert type(t) is fastnn.Tensor and type(t.shape) is fastnn.Size


@needs_torch
def test_type_names_match_torch():
    for mine, theirs in [(fastnn.ones(1), torch.ones(1)), (fastnn.ones(1).shape, torch.ones(1).shape),
                         (fastnn.float32, torch.float32), (fastnn.device("cpu"), torch.device("cpu"))]:
        assert str(type(mine)) == str(type(theirs)).replace("torch", "fastnn")


@pytest.mark.parametrize("fn, expected", [("add", [4.0, 6.0]), ("sub", [-2.0, -2.0]), ("mul", [3.0, 8.0]),
                                          ("div", [1 / 3, 0.5])])
def test_out_argument_is_written(fn, expected):
    a, b = fastnn.tensor([1.0, 2.0]), fastnn.tensor([3.0, 4.0])
    out = fastnn.zeros(2)
    res = getattr(fastnn, fn)(a, b, out=out)
    assert res is out
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-7)


def test_matmul_out_resizes_and_refuses_autograd():
    a = fastnn.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = fastnn.zeros(1)
    assert fastnn.matmul(a, a, out=out) is out
    assert out.tolist() == [[7.0, 10.0], [15.0, 22.0]]
    w = fastnn.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        fastnn.matmul(a, w, out=fastnn.zeros(2, 2))
    with fastnn.no_grad():
        fastnn.matmul(a, w, out=out)
    assert out.tolist() == [[3.0, 3.0], [7.0, 7.0]]


def test_eye_and_linspace_take_requires_grad():
    e = fastnn.eye(2, 3, requires_grad=True)
    ((e + 1) ** 2).sum().backward()
    assert e.grad.tolist() == [[4.0, 2.0, 2.0], [2.0, 4.0, 2.0]]     # d/de (e+1)^2 = 2(e+1)
    assert fastnn.linspace(0, 1, 3, requires_grad=True).requires_grad


def test_remainder_and_floor_divide_follow_pythons_signs():
    a = [7, -7, 7, -7, 0]
    b = [3, 3, -3, -3, 5]
    ta, tb = fastnn.tensor(a), fastnn.tensor(b)
    assert (ta % tb).tolist() == [x % y for x, y in zip(a, b)]
    assert (ta // tb).tolist() == [x // y for x, y in zip(a, b)]
    assert (ta % 3).tolist() == [x % 3 for x in a] and (10 % fastnn.tensor([3, 4])).tolist() == [1, 2]
    assert (17 // fastnn.tensor([5, -5])).tolist() == [3, -4]
    assert fastnn.remainder(ta, 4).tolist() == [x % 4 for x in a]
    assert fastnn.floor_divide(ta, 2).tolist() == [x // 2 for x in a]
    x = fastnn.tensor([5.5, -5.5, 2.0], requires_grad=True)
    r = x % 2.0
    np.testing.assert_allclose(r.detach().numpy(), [1.5, 0.5, 0.0])
    r.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]          # d(x - 2 floor(x/2))/dx = 1


def test_unique():
    t = fastnn.tensor([[3, 1], [3, 2]])
    assert fastnn.unique(t).tolist() == [1, 2, 3]
    values, inverse, counts = t.unique(return_inverse=True, return_counts=True)
    assert values.tolist() == [1, 2, 3] and inverse.tolist() == [[2, 0], [2, 1]] and counts.tolist() == [1, 1, 2]
    assert inverse.dtype == fastnn.int64 and counts.dtype == fastnn.int64
    assert fastnn.unique(fastnn.tensor([[1, 2], [1, 2], [0, 5]]), dim=0).tolist() == [[0, 5], [1, 2]]


def test_scatter_takes_a_zero_dim_index_into_a_vector():
    one_hot = fastnn.zeros(5).scatter_(0, fastnn.tensor(3), value=1)    # the Transforms tutorial's one-hot
    assert one_hot.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        fastnn.zeros(2, 2).scatter_(0, fastnn.tensor(1), value=1)


def test_tensor_dataset_samples_are_tensors():
    ds = TensorDataset(fastnn.arange(6.0).reshape(3, 2), fastnn.tensor([4, 5, 6]))
    x, y = ds[1]
    assert isinstance(x, fastnn.Tensor) and isinstance(y, fastnn.Tensor)
    assert x.tolist() == [2.0, 3.0] and y.shape == () and y.item() == 5 and y.dtype == fastnn.int64


def test_subset_keeps_its_indices_and_random_split_gives_lists():
    ds = TensorDataset(fastnn.arange(10))
    a, b = fastnn.utils.data.random_split(ds, [7, 3])
    assert type(a.indices) is list and sorted(a.indices + b.indices) == list(range(10))
    assert [a[i][0].item() for i in range(len(a))] == a.indices
    sub = fastnn.utils.data.Subset(ds, range(2, 5))
    assert sub.indices == range(2, 5) and len(sub) == 3 and sub[1][0].item() == 3


def test_default_collate_of_dicts():
    batch = next(iter(DataLoader([{"x": fastnn.ones(2) * i, "y": i} for i in range(3)], batch_size=3)))
    assert sorted(batch) == ["x", "y"]
    assert batch["x"].tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]] and batch["y"].tolist() == [0, 1, 2]
    assert batch["y"].dtype == fastnn.int64


def _module_list(lib):
    return lib.nn.ModuleList([lib.nn.Linear(4, 4), lib.nn.Linear(4, 4), lib.nn.ReLU(), lib.nn.Linear(4, 4)])


def test_module_list_repr_groups_repeats():
    assert repr(_module_list(fastnn)) == (
        "ModuleList(\n  (0-1): 2 x Linear(in_features=4, out_features=4, bias=True)\n  (2): ReLU()\n"
        "  (3): Linear(in_features=4, out_features=4, bias=True)\n)")
    assert repr(nn.ModuleList()) == "ModuleList()"


@needs_torch
def test_module_list_repr_matches_torch():
    assert repr(_module_list(fastnn)) == repr(_module_list(torch))
    nested = [lib.nn.ModuleList([lib.nn.Sequential(lib.nn.Linear(2, 2)) for _ in range(3)]) for lib in (fastnn, torch)]
    assert repr(nested[0]) == repr(nested[1])


def test_return_types_print_like_torch():
    t = fastnn.tensor([[3.0, 1.0], [0.5, 4.0]])
    assert repr(t.max(dim=1)) == ("fastnn.return_types.max(\nvalues=tensor([3., 4.]),\n"
                                  "indices=tensor([0, 1]))")
    assert repr(t.min(dim=0)).startswith("fastnn.return_types.min(\nvalues=tensor([0.5000, 1.0000]),")
    values, indices = fastnn.sort(fastnn.tensor([2, 1]))
    assert values.tolist() == [1, 2] and indices.tolist() == [1, 0]
    assert fastnn.topk(fastnn.tensor([1.0, 3.0]), 1).values.tolist() == [3.0]


@needs_torch
def test_return_types_match_torch():
    x = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, -1.0]], dtype=np.float32)
    a, b = fastnn.tensor(x), torch.tensor(x)
    for f in (lambda m: m.max(dim=1), lambda m: m.min(dim=0), lambda m: m.sort(dim=1, descending=True),
              lambda m: m.topk(2)):
        assert repr(f(a)) == repr(f(b)).replace("torch", "fastnn")


def test_sgd_param_groups_keep_torchs_keys():
    opt = fastnn.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
    group = opt.state_dict()["param_groups"][0]
    assert list(group) == ["lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach",
                           "differentiable", "fused", "params"]
    with pytest.raises(NotImplementedError):
        fastnn.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1, differentiable=True)


@needs_torch
def test_sgd_param_groups_match_torch():
    mine = fastnn.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9).state_dict()["param_groups"]
    theirs = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9).state_dict()["param_groups"]
    assert mine == theirs
