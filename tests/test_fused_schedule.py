"""A per-step LR scheduler on the cpu fused path: one compiled epoch reading a per-step hyper-parameter
table gives the weights, optimizer state and scheduler state of eager steps with scheduler.step() after each."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.fused import FusedMLP
from fastnn.kernels.fused_mlp import cpu as fused_cpu

EPS64 = np.finfo(np.float64).eps


def _model(seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 5)).double()


def _data(n=50, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12)), rng.integers(0, 5, n).astype(np.int64)


SETUPS = {   # (optimizer, scheduler) pairs whose scheduler changes lr and beta1 / momentum every step
    "adam-onecycle": lambda p, total: _onecycle(optim.Adam(p, lr=1e-3, weight_decay=1e-3), total),
    "sgd-onecycle": lambda p, total: _onecycle(optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True), total),
    "rmsprop-linear": lambda p, total: _linear(optim.RMSprop(p, lr=1e-2, momentum=0.5), total),
}


def _onecycle(opt, total):
    return opt, optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=total)


def _linear(opt, total):
    return opt, optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=total)


def _np(v):
    return np.asarray(v.detach().numpy() if hasattr(v, "detach") else v, np.float64)


def _eager(X, Y, perms, B, setup, total, drop_last):
    """The oracle: autograd steps, optimizer.step() then scheduler.step() per batch."""
    model = _model()
    opt, sched = SETUPS[setup](model.parameters(), total)
    loss_fn = nn.CrossEntropyLoss()
    for perm in perms:
        stop = len(perm) - (len(perm) % B if drop_last else 0)
        for s in range(0, stop, B):
            rows = perm[s:s + B]
            opt.zero_grad()
            loss_fn(model(fastnn.tensor(X[rows])), fastnn.tensor(Y[rows])).backward()
            opt.step()
            sched.step()
    return model, opt, sched


@pytest.mark.parametrize("drop_last", [False, True], ids=["short-last", "drop-last"])
@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_scheduled_epoch_is_one_call_and_equals_eager_steps(monkeypatch, setup, drop_last):
    X, Y = _data()
    B, epochs = 8, 3                      # 6 full batches + one of 2 rows per epoch
    nsteps = 50 // B + (0 if drop_last else 1)
    perms = [np.random.default_rng(e).permutation(len(X)).astype(np.int64) for e in range(epochs)]
    calls = []
    real = fused_cpu.train_epoch
    monkeypatch.setattr(fused_cpu, "train_epoch", lambda *a: calls.append(a[11].shape) or real(*a))
    model = _model()
    opt, sched = SETUPS[setup](model.parameters(), epochs * nsteps)
    fm = FusedMLP(model, nn.CrossEntropyLoss(), opt)
    seen_steps = []
    buf = opt.flat_buffers(0)[0]

    def on_step():
        seen_steps.append(buf.steps[0])   # the optimizer's step count as the scheduler would see it
        sched.step()

    for perm in perms:
        fm.epoch(X, Y, B, perm=perm, drop_last=drop_last, on_step=on_step)
    assert [shape[0] for shape in calls] == [nsteps] * epochs   # one compiled call per epoch, a row per step
    want_model, want_opt, want_sched = _eager(X, Y, perms, B, setup, epochs * nsteps, drop_last)
    for (name, got), want in zip(model.named_parameters(), want_model.parameters()):
        w = want.detach().numpy()
        np.testing.assert_allclose(got.detach().numpy(), w, rtol=64 * EPS64, atol=64 * EPS64 * np.abs(w).max(),
                                   err_msg=name)
    got_state, want_state = opt.state_dict(), want_opt.state_dict()
    assert got_state["param_groups"] == want_state["param_groups"]      # lr, betas/momentum as per-step
    for k, st in want_state["state"].items():
        for key, v in st.items():
            v, got = _np(v), _np(got_state["state"][k][key])
            np.testing.assert_allclose(got, v, rtol=64 * EPS64, atol=64 * EPS64 * np.abs(v).max(),
                                       err_msg=f"{k}.{key}")
    assert sched.state_dict() == want_sched.state_dict()
    if opt.step_advances_count(0):
        assert seen_steps == list(range(1, epochs * nsteps + 1))


def test_scheduler_after_an_epoch_resumes_like_per_step():
    """The scheduler's state_dict after one fused epoch, loaded into a fresh scheduler that then runs
    per step, continues the same lr sequence as one scheduler stepped per step throughout."""
    X, Y = _data()
    B, nsteps = 8, 7
    perm = np.arange(50, dtype=np.int64)
    model = _model()
    opt, sched = SETUPS["adam-onecycle"](model.parameters(), 2 * nsteps)
    FusedMLP(model, nn.CrossEntropyLoss(), opt).epoch(X, Y, B, perm=perm, on_step=sched.step)
    ref_opt, ref_sched = SETUPS["adam-onecycle"](_model().parameters(), 2 * nsteps)
    for _ in range(nsteps):
        ref_sched.step()
    resumed_opt, resumed = SETUPS["adam-onecycle"](_model().parameters(), 2 * nsteps)
    resumed_opt.load_state_dict(opt.state_dict())
    resumed.load_state_dict(sched.state_dict())
    for _ in range(nsteps):
        assert resumed_opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]
        assert resumed_opt.param_groups[0]["betas"] == ref_opt.param_groups[0]["betas"]
        resumed.step()
        ref_sched.step()


def test_table_epoch_equals_the_per_step_fallback(monkeypatch):
    """One call with the per-step table against one backend call per batch with on_step between them
    (FusedMLP's path for a backend without on_step): the same weights, state and scheduler state."""
    import dataclasses

    X, Y = _data()
    B, epochs = 8, 2
    perms = [np.random.default_rng(e).permutation(len(X)).astype(np.int64) for e in range(epochs)]
    runs = []
    for on_step_feature in (True, False):
        model = _model()
        opt, sched = SETUPS["adam-onecycle"](model.parameters(), epochs * 7)
        fm = FusedMLP(model, nn.CrossEntropyLoss(), opt)
        with monkeypatch.context() as m:
            m.setattr(type(fm.backend), "fused_mlp_features",
                      dataclasses.replace(fm.backend.fused_mlp_features, on_step=on_step_feature))
            losses = [fm.epoch(X, Y, B, perm=perm, on_step=sched.step) for perm in perms]
        runs.append((model, opt, sched, losses))
    (m1, o1, s1, l1), (m2, o2, s2, l2) = runs
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        w = p2.detach().numpy()
        np.testing.assert_allclose(p1.detach().numpy(), w, rtol=16 * EPS64, atol=16 * EPS64 * np.abs(w).max())
    np.testing.assert_allclose(np.array(l1), np.array(l2), rtol=16 * EPS64)
    assert o1.state_dict()["param_groups"] == o2.state_dict()["param_groups"]
    assert s1.state_dict() == s2.state_dict()
