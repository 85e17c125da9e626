"""LR schedulers against closed-form schedules (torch itself: test_torch_parity_optim.py)."""
import math

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.optim as optim
from fastnn.optim import lr_scheduler as sched


def _opt(kind="SGD", lr=0.1, **kw):
    p = nn.Parameter(fastnn.zeros(2))
    return getattr(optim, kind)([p], lr=lr, **kw)


def _run(opt, s, n):
    lrs = [s.get_last_lr()[0]]
    for _ in range(n):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == lrs[-1]
    return np.array(lrs)


def test_step_lr_closed_form():
    opt = _opt(lr=0.5)
    lrs = _run(opt, sched.StepLR(opt, step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(lrs, [0.5 * 0.5 ** (e // 3) for e in range(11)], rtol=1e-15)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_annealing_closed_form(eta_min):
    opt = _opt(lr=0.2)
    T = 7
    lrs = _run(opt, sched.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min), 2 * T)
    closed = [eta_min + (0.2 - eta_min) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(2 * T + 1)]
    # torch's recursive form equals the closed form up to rounding (it keeps following the cosine past T_max)
    np.testing.assert_allclose(lrs, closed, rtol=1e-12, atol=1e-15)


def test_one_cycle_closed_form_and_momentum():
    opt = _opt(lr=0.1, momentum=0.9)
    total, max_lr, pct = 20, 1.0, 0.3
    s = sched.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct)
    lrs, moms = [s.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
    for _ in range(total - 1):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
    init, low = max_lr / 25, max_lr / 25 / 1e4
    up_end = pct * total - 1

    def cos(a, b, t):
        return b + (a - b) / 2 * (math.cos(math.pi * t) + 1)

    exp_lr = [cos(init, max_lr, e / up_end) if e <= up_end else cos(max_lr, low, (e - up_end) / (total - 1 - up_end))
              for e in range(total)]
    exp_m = [cos(0.95, 0.85, e / up_end) if e <= up_end else cos(0.85, 0.95, (e - up_end) / (total - 1 - up_end))
             for e in range(total)]
    np.testing.assert_allclose(lrs, exp_lr, rtol=1e-12)
    np.testing.assert_allclose(moms, exp_m, rtol=1e-12)
    assert lrs[0] == pytest.approx(init) and lrs[-1] == pytest.approx(low)
    opt.step()
    s.step()  # step `total` is allowed (lr at the end), one more is not
    with pytest.raises(ValueError, match="Tried to step"):
        s.step()


def test_one_cycle_cycles_adam_beta1_and_linear():
    opt = _opt("Adam", lr=0.1, betas=(0.9, 0.99))
    s = sched.OneCycleLR(opt, max_lr=0.5, epochs=2, steps_per_epoch=5, anneal_strategy="linear", pct_start=0.4)
    assert opt.param_groups[0]["betas"] == (0.95, 0.99)
    lrs = _run(opt, s, 3)
    np.testing.assert_allclose(lrs, [0.02, 0.02 + (0.5 - 0.02) / 3, 0.02 + 2 * (0.5 - 0.02) / 3, 0.5], rtol=1e-12)
    assert opt.param_groups[0]["betas"] == (pytest.approx(0.85), 0.99)


def test_scheduler_state_dict_and_errors():
    opt = _opt(lr=1.0)
    s = sched.StepLR(opt, step_size=2, gamma=0.1)
    _run(opt, s, 3)
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3 and sd["base_lrs"] == [1.0]
    opt2 = _opt(lr=1.0)
    s2 = sched.StepLR(opt2, step_size=5)
    s2.load_state_dict(sd)
    assert s2.step_size == 2 and s2.last_epoch == 3
    with pytest.raises(ValueError, match="total_steps OR"):
        sched.OneCycleLR(_opt(), max_lr=1.0)
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.OneCycleLR(_opt("Adagrad"), max_lr=1.0, total_steps=4)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sched.StepLR(object(), 3)
