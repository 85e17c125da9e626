"""kernels/optim/table.py (the optimizers' one table) against torch.optim: constructor defaults and
order, state buffers and 'step' per setting; and optim.Adadelta in float32 on every backend (cpu:
the Numba kernel, cuda: optim.cu) against torch.optim.Adadelta in float32."""
import inspect

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.optim as optim
from fastnn.kernels.optim import table

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
NAMES = sorted(table.OPTIMIZERS)


def _defaults(cls):
    return {k: p.default for k, p in inspect.signature(cls).parameters.items() if k != "params"}


@pytest.mark.parametrize("name", NAMES)
def test_hparams_are_torch_signature_and_fastnn_signature(name):
    d = table.get(name)
    theirs, ours = _defaults(getattr(torch.optim, d.torch_name)), _defaults(getattr(optim, d.torch_name))
    keys = [k for k, _ in d.hparams]
    assert list(ours) == keys                                  # fastnn's class takes exactly these, in order
    assert [k for k in theirs if k in keys] == keys            # in torch's order
    for k, v in d.hparams:
        assert theirs[k] == v and ours[k] == v, k


def _variants(d):
    """The default group, then each state condition's key flipped on."""
    out = [{}]
    for s in d.state:
        if s.when is not None:
            out.append({s.when[0]: True if s.when[1] == "true" else 0.5})
    return out


@pytest.mark.parametrize("name", NAMES)
def test_state_names_and_step_match_torch(name):
    d = table.get(name)
    for hp in _variants(d):
        p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = getattr(torch.optim, d.torch_name)([p], **hp)
        p.grad = torch.full((3,), 0.5, dtype=torch.float64)
        opt.step()
        group = dict(opt.param_groups[0])
        want = list(opt.state[p])
        assert want == (["step"] if d.has_step else []) + table.state_names(name, group), hp
        fp = nn.Parameter(fastnn.ones(3, dtype=fastnn.float64))
        fopt = getattr(optim, d.torch_name)([fp], **hp)
        fp.grad = fastnn.full((3,), 0.5, dtype=fastnn.float64)
        fopt.step()
        assert list(fopt.state.get(fp, {})) == want, hp


def test_adagrad_fill_and_sgd_step_count_follow_torch():
    p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    t = torch.optim.Adagrad([p], initial_accumulator_value=0.25)
    assert table.state_fill("adagrad", "sum", t.param_groups[0]) == float(t.state[p]["sum"][0])
    assert not table.counts_step("sgd", {"momentum": 0}) and table.counts_step("sgd", {"momentum": 0.9})


@pytest.mark.parametrize("hp", [dict(), dict(lr=0.5, rho=0.7, eps=1e-4, weight_decay=0.1, maximize=True)])
def test_adadelta_float32_matches_torch(backend, hp):
    """10 steps in float32: cpu runs kernels/optim/cpu.py, cuda runs optim.cu. Both follow torch's op
    order; the bound allows a few float32 roundings per step (relative to the parameter's size and to
    how far it moved)."""
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    fm = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(backend)
    fm.load_state_dict(tm.state_dict())
    p0 = [p.detach().numpy().copy() for p in tm.parameters()]
    topt, fopt = torch.optim.Adadelta(tm.parameters(), **hp), optim.Adadelta(fm.parameters(), **hp)
    rng = np.random.default_rng(1)
    for _ in range(10):
        x, y = rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
        topt.zero_grad()
        torch.nn.functional.mse_loss(tm(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
        fopt.zero_grad()
        nn.functional.mse_loss(fm(fastnn.tensor(x, device=backend)), fastnn.tensor(y, device=backend)).backward()
        fopt.step()
    eps = np.finfo(np.float32).eps
    for tp, fp, a in zip(tm.parameters(), fm.parameters(), p0):
        want, got = tp.detach().numpy(), fp.detach().cpu().numpy()
        assert not np.array_equal(want, a)
        bound = 64 * 10 * eps * (np.abs(want) + np.abs(want - a)) + 1e-30
        assert np.all(np.abs(got - want) <= bound), np.abs(got - want).max()


def test_adadelta_arguments_like_torch():
    p = nn.Parameter(fastnn.ones(2))
    tp = torch.nn.Parameter(torch.ones(2))
    for kw in (dict(lr=-1.0), dict(rho=1.5), dict(eps=-1.0), dict(weight_decay=-0.1)):
        with pytest.raises(ValueError) as theirs:
            torch.optim.Adadelta([tp], **kw)
        with pytest.raises(ValueError, match=str(theirs.value).replace(".", r"\.")):
            optim.Adadelta([p], **kw)
    o = optim.Adadelta([p], foreach=False, capturable=True)  # torch's keywords are accepted and kept
    t = torch.optim.Adadelta([tp], foreach=False, capturable=True)
    assert {k: v for k, v in o.param_groups[0].items() if k != "params"} == \
        {k: v for k, v in t.param_groups[0].items() if k != "params"}
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.Adadelta([p], differentiable=True)


def test_train_config_builds_adadelta_with_torch_defaults():
    from fastnn.train import TrainConfig, make_optimizer

    o = make_optimizer(TrainConfig(optimizer="adadelta").validate(), [nn.Parameter(fastnn.ones(2))])
    t = torch.optim.Adadelta([torch.nn.Parameter(torch.ones(2))])
    assert type(o) is optim.Adadelta
    assert {k: o.param_groups[0][k] for k in ("lr", "rho", "eps", "weight_decay")} == \
        {k: t.param_groups[0][k] for k in ("lr", "rho", "eps", "weight_decay")}
