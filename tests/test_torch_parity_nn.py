"""fastnn.nn vs torch.nn (float64): state_dict keys/shapes, repr, forward and grads of layers and losses."""
from collections import OrderedDict

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
TF = torch.nn.functional


def _archs(lib):
    return [
        lib.Sequential(lib.Linear(784, 128), lib.ReLU(), lib.Linear(128, 10), lib.LogSoftmax(dim=1)),
        lib.Sequential(OrderedDict([("fc1", lib.Linear(784, 128)), ("relu1", lib.ReLU()),
                                    ("bn", lib.BatchNorm1d(128)), ("drop", lib.Dropout(0.2)),
                                    ("fc2", lib.Linear(128, 64, bias=False)), ("tanh", lib.Tanh()),
                                    ("flat", lib.Flatten()), ("out", lib.Linear(64, 10)),
                                    ("softmax", lib.Softmax(dim=1))])),
        lib.Sequential(lib.BatchNorm1d(5, affine=False), lib.Sigmoid(), lib.BatchNorm1d(5, bias=False),
                       lib.BatchNorm1d(5, momentum=None, eps=1e-3, track_running_stats=False)),
    ]


@pytest.mark.parametrize("i", range(3))
def test_state_dict_keys_shapes_and_repr(i):
    tm, fm = _archs(torch.nn)[i], _archs(nn)[i]
    tsd, fsd = tm.state_dict(), fm.state_dict()
    assert list(fsd) == list(tsd)
    for k in tsd:
        assert tuple(fsd[k].shape) == tuple(tsd[k].shape), k
        assert str(fsd[k].dtype).split(".")[-1] == str(tsd[k].dtype).split(".")[-1], k
    assert repr(fm) == repr(tm)
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]


def test_network_forward_backward_match(backend):
    tm = _archs(torch.nn)[1].double()
    fm = _archs(nn)[1].double().to(backend)
    fm.load_state_dict(tm.state_dict())
    tm.drop.p = fm.drop.p = 0.0  # dropout masks come from different generators
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 784)), rng.integers(0, 10, 16)
    for train in (True, False):
        tm.train(train)
        fm.train(train)
        tl = TF.nll_loss(tm(torch.tensor(x)).log(), torch.tensor(y))
        fl = F.nll_loss(fm(fastnn.tensor(x, device=backend)).log(), fastnn.tensor(y, device=backend))
        np.testing.assert_allclose(fl.item(), tl.item(), rtol=1e-6)
        tm.zero_grad()
        fm.zero_grad()
        tl.backward()
        fl.backward()
        for (n, tp), fp in zip(tm.named_parameters(), fm.parameters()):
            np.testing.assert_allclose(fp.grad.cpu().numpy(), tp.grad.numpy(), rtol=1e-6, atol=1e-12, err_msg=n)
    for k, v in tm.state_dict().items():  # running stats and num_batches_tracked
        np.testing.assert_allclose(fm.state_dict()[k].cpu().numpy(), v.numpy(), rtol=1e-6, atol=1e-12, err_msg=k)


def _loss_cases(rng):
    x = rng.standard_normal((6, 4))
    t = rng.integers(0, 4, 6)
    t_ign = t.copy()
    t_ign[2] = -100
    w = rng.uniform(0.5, 2, 4)
    p = rng.uniform(0.05, 0.95, (6, 4))
    y = rng.random((6, 4))
    probs = rng.random((6, 4))
    probs /= probs.sum(1, keepdims=True)
    x3, t3 = rng.standard_normal((2, 4, 3)), rng.integers(0, 4, (2, 3))
    return [
        ("cross_entropy", x, t, {}),
        ("cross_entropy", x, t_ign, {"weight": w}),
        ("cross_entropy", x, t, {"label_smoothing": 0.15}),
        ("cross_entropy", x, probs, {"label_smoothing": 0.1}),
        ("cross_entropy", x3, t3, {}),
        ("nll_loss", x, t_ign, {"weight": w}),
        ("mse_loss", x, y, {}),
        ("l1_loss", x, y, {}),
        ("binary_cross_entropy", p, y, {"weight": w}),
        ("binary_cross_entropy_with_logits", x, y, {"pos_weight": w}),
        ("binary_cross_entropy_with_logits", 40 * x, y, {}),
    ]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", range(11))
def test_losses_match_torch(backend, case, reduction):
    name, x, t, kw = _loss_cases(np.random.default_rng(case))[case]
    tx = torch.tensor(x, requires_grad=True)
    fx = fastnn.tensor(x, device=backend, requires_grad=True)
    float_t = t.dtype.kind == "f"
    tt = torch.tensor(t, requires_grad=float_t)
    ft = fastnn.tensor(t, device=backend, requires_grad=float_t)
    tkw = {k: torch.tensor(v) for k, v in kw.items() if isinstance(v, np.ndarray)}
    fkw = {k: fastnn.tensor(v, device=backend) for k, v in kw.items() if isinstance(v, np.ndarray)}
    extra = {k: v for k, v in kw.items() if not isinstance(v, np.ndarray)}
    tl = getattr(TF, name)(tx, tt, reduction=reduction, **tkw, **extra)
    fl = getattr(F, name)(fx, ft, reduction=reduction, **fkw, **extra)
    np.testing.assert_allclose(fl.detach().cpu().numpy(), tl.detach().numpy(), rtol=1e-6, atol=1e-12)
    g = np.random.default_rng(9).standard_normal(tl.shape)
    (tl * torch.tensor(g)).sum().backward()
    (fl * fastnn.tensor(g, device=backend)).sum().backward()
    np.testing.assert_allclose(fx.grad.cpu().numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-12)
    if float_t:
        np.testing.assert_allclose(ft.grad.cpu().numpy(), tt.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_loss_modules_match_torch(backend):
    rng = np.random.default_rng(11)
    x, t = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    for cls in ("CrossEntropyLoss", "NLLLoss"):
        tl = getattr(torch.nn, cls)(reduction="sum")(torch.tensor(x), torch.tensor(t))
        fl = getattr(nn, cls)(reduction="sum")(fastnn.tensor(x, device=backend), fastnn.tensor(t, device=backend))
        np.testing.assert_allclose(fl.item(), tl.item(), rtol=1e-6)


def test_bad_input_messages_match_torch(backend):
    x, t = np.zeros((3, 10)), np.array([1, 10, 2])
    with pytest.raises(IndexError) as te:
        TF.cross_entropy(torch.tensor(x), torch.tensor(t))
    with pytest.raises(IndexError) as fe:
        F.cross_entropy(fastnn.tensor(x, device=backend), fastnn.tensor(t, device=backend))
    assert str(fe.value) == str(te.value)
    with pytest.raises(ValueError) as te:
        TF.cross_entropy(torch.zeros(64, 10), torch.zeros(32, dtype=torch.long))
    with pytest.raises(ValueError) as fe:
        F.cross_entropy(fastnn.zeros(64, 10, device=backend), fastnn.zeros(32, dtype=fastnn.int64, device=backend))
    assert str(fe.value) == str(te.value)
