"""fastnn.optim vs torch.optim (float64): 10 steps of every optimizer with non-default hyper-parameters,
state_dict layout, and lr schedulers (lr and momentum/beta1 sequences)."""
import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.optim as optim
from fastnn.optim import lr_scheduler as fsched

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.02, maximize=True)),
    ("AdamW", dict(lr=0.01, betas=(0.85, 0.99), weight_decay=0.05, amsgrad=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1, eps=1e-8)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01, momentum=0.5, centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.95)),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.05)),
    ("Adadelta", dict(maximize=True)),
]


def _pair(backend, seed=0):
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    fm = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double().to(backend)
    fm.load_state_dict(tm.state_dict())  # torch tensors are accepted (copied in place)
    return tm, fm


def _step_both(tm, fm, topt, fopt, x, y, backend):
    topt.zero_grad()
    torch.nn.functional.mse_loss(tm(torch.tensor(x)), torch.tensor(y)).backward()
    topt.step()
    fopt.zero_grad()
    nn.functional.mse_loss(fm(fastnn.tensor(x, device=backend)), fastnn.tensor(y, device=backend)).backward()
    fopt.step()


def _assert_params_close(tm, fm, rtol=1e-6):
    for (n, tp), fp in zip(tm.named_parameters(), fm.parameters()):
        np.testing.assert_allclose(fp.detach().cpu().numpy(), tp.detach().numpy(), rtol=rtol, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("name,hp", CONFIGS)
def test_ten_steps_match_torch(backend, name, hp):
    tm, fm = _pair(backend)
    topt, fopt = getattr(torch.optim, name)(tm.parameters(), **hp), getattr(optim, name)(fm.parameters(), **hp)
    rng = np.random.default_rng(1)
    for _ in range(10):
        x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
        _step_both(tm, fm, topt, fopt, x, y, backend)
    _assert_params_close(tm, fm)
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert sorted(tsd["state"]) == sorted(fsd["state"])
    for i, tst in tsd["state"].items():
        assert list(fsd["state"][i]) == list(tst), f"state keys of param {i}"
        for k, v in tst.items():
            np.testing.assert_allclose(fsd["state"][i][k].cpu().numpy(), v.numpy(), rtol=1e-6, atol=1e-12)
    for tg, fg in zip(tsd["param_groups"], fsd["param_groups"]):
        assert fg["params"] == tg["params"]
        for k, v in fg.items():
            assert k in tg and tg[k] == v, k


@pytest.mark.parametrize("name,hp", [CONFIGS[0], CONFIGS[2], CONFIGS[5], CONFIGS[6]])
def test_torch_state_dict_loads_and_continues(backend, name, hp):
    tm, fm = _pair(backend)
    topt = getattr(torch.optim, name)(tm.parameters(), **hp)
    rng = np.random.default_rng(2)
    data = [(rng.standard_normal((6, 5)), rng.standard_normal((6, 3))) for _ in range(6)]
    for x, y in data[:3]:
        topt.zero_grad()
        torch.nn.functional.mse_loss(tm(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
    fm.load_state_dict(tm.state_dict())
    fopt = getattr(optim, name)(fm.parameters(), **hp)
    fopt.load_state_dict(topt.state_dict())  # torch's layout, torch tensors
    for x, y in data[3:]:
        _step_both(tm, fm, topt, fopt, x, y, backend)
    _assert_params_close(tm, fm)


def test_param_groups_and_skipped_grads_match_torch(backend):
    tm, fm = _pair(backend)
    tp, fp = list(tm.parameters()), list(fm.parameters())
    topt = torch.optim.Adam([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.05}], lr=0.01)
    fopt = optim.Adam([{"params": fp[:2]}, {"params": fp[2:], "lr": 0.05}], lr=0.01)
    rng = np.random.default_rng(3)
    for k in range(6):
        x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
        _step_both(tm, fm, topt, fopt, x, y, backend)
        if k % 2 == 0:  # drop one grad: torch skips that parameter (its step count lags)
            tp[1].grad = None
            fp[1].grad = None
            topt.step()
            fopt.step()
    _assert_params_close(tm, fm)
    assert fopt.state_dict()["state"][1]["step"].item() == topt.state_dict()["state"][1]["step"].item()


def _sched_pair(make_sched, opt_name="SGD", **opt_kw):
    tp = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    fp = nn.Parameter(fastnn.zeros(2, dtype=fastnn.float64))
    topt, fopt = getattr(torch.optim, opt_name)([tp], **opt_kw), getattr(optim, opt_name)([fp], **opt_kw)
    return topt, fopt, make_sched(torch.optim.lr_scheduler, topt), make_sched(fsched, fopt)


@pytest.mark.parametrize("make,opt_name,kw,steps", [
    (lambda m, o: m.StepLR(o, step_size=4, gamma=0.3), "SGD", dict(lr=0.1), 20),
    (lambda m, o: m.CosineAnnealingLR(o, T_max=6, eta_min=0.001), "SGD", dict(lr=0.1), 30),
    (lambda m, o: m.OneCycleLR(o, max_lr=0.4, total_steps=25), "SGD", dict(lr=0.1, momentum=0.9), 25),
    (lambda m, o: m.OneCycleLR(o, max_lr=0.01, epochs=3, steps_per_epoch=7, three_phase=True,
                               anneal_strategy="linear"), "Adam", dict(lr=0.001), 21),
    (lambda m, o: m.OneCycleLR(o, max_lr=[0.02], total_steps=10, pct_start=0.5, div_factor=10.0,
                               final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9), "AdamW",
     dict(lr=0.001), 10),
])
def test_schedulers_match_torch(make, opt_name, kw, steps):
    import warnings

    topt, fopt, ts, fs = _sched_pair(make, opt_name, **kw)
    key = "betas" if "betas" in fopt.defaults else "momentum"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps - 1):
            topt.step()
            fopt.step()
            ts.step()
            fs.step()
            assert fs.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=0)
            assert fopt.param_groups[0][key] == pytest.approx(topt.param_groups[0][key], rel=1e-12)
