"""Optimizers: flat-buffer packing, one update per group, grad-None skipping, state_dict round trips.

The oracle is a per-parameter float64 replay of torch's update rules (kernels/optim/ref.py, applied
to each parameter separately and unpacked), so the packing/step bookkeeping is tested independently
of the flat kernels; torch itself is compared in test_torch_parity_optim.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
import fastnn.nn as nn
import fastnn.optim as optim
from fastnn.kernels.optim import ref

CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.85, 0.99), weight_decay=0.05)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1, eps=1e-8)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01, momentum=0.5, centered=True)),
    ("RMSprop", dict(lr=0.01)),
]


class RefOptimizer:
    """Per-parameter float64 replay of the same algorithm (state initialised like torch)."""

    def __init__(self, name, arrays, **hp):
        self.name, self.hp, self.params = name, hp, [a.astype(np.float64).copy() for a in arrays]
        self.steps = [0] * len(arrays)
        self.state = [dict(m=np.zeros(a.size), v=np.zeros(a.size), vmax=np.zeros(a.size),
                           s=np.full(a.size, hp.get("initial_accumulator_value", 0.0)),
                           g=np.zeros(a.size), b=np.zeros(a.size)) for a in arrays]

    def step(self, grads):
        d = dict(dict(SGD=dict(lr=1e-3), Adam=dict(lr=1e-3), AdamW=dict(lr=1e-3, weight_decay=1e-2),
                      Adagrad=dict(lr=1e-2), RMSprop=dict(lr=1e-2))[self.name], **self.hp)
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            self.steps[i] += 1
            st, t, flat, gf = self.state[i], self.steps[i], p.reshape(-1), g.reshape(-1).astype(np.float64)
            if self.name == "SGD":
                ref.sgd_step(flat, st["b"], gf, t, d["lr"], d.get("momentum", 0.0), d.get("dampening", 0.0),
                             d.get("weight_decay", 0.0), d.get("nesterov", False), d.get("maximize", False))
            elif self.name in ("Adam", "AdamW"):
                b1, b2 = d.get("betas", (0.9, 0.999))
                ref.adam_step(flat, st["m"], st["v"], st["vmax"], gf, t, d["lr"], b1, b2, d.get("eps", 1e-8),
                              d.get("weight_decay", 0.0), d.get("amsgrad", False), self.name == "AdamW")
            elif self.name == "Adagrad":
                ref.adagrad_step(flat, st["s"], gf, t, d["lr"], d.get("lr_decay", 0.0), d.get("weight_decay", 0.0),
                                 d.get("eps", 1e-10))
            else:
                ref.rmsprop_step(flat, st["v"], st["g"], st["b"], gf, t, d["lr"], d.get("alpha", 0.99),
                                 d.get("eps", 1e-8), d.get("weight_decay", 0.0), d.get("momentum", 0.0),
                                 d.get("centered", False))


def _params(backend, dtype=fastnn.float64, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (1,), (2, 3)]
    return [nn.Parameter(fastnn.tensor(rng.standard_normal(s), dtype=dtype, device=backend)) for s in shapes]


def _host(t):
    return t.detach().cpu().numpy()


@pytest.mark.parametrize("name,hp", CONFIGS)
def test_matches_per_parameter_reference(backend, name, hp):
    params = _params(backend)
    oracle = RefOptimizer(name, [_host(p) for p in params], **hp)
    opt = getattr(optim, name)(params, **hp)
    rng = np.random.default_rng(1)
    for _ in range(10):
        grads = [rng.standard_normal(p.shape) for p in params]
        for p, g in zip(params, grads):
            p.grad = fastnn.tensor(g, device=backend)
        opt.step()
        oracle.step(grads)
    for p, r in zip(params, oracle.params):
        np.testing.assert_allclose(_host(p), r, rtol=1e-12, atol=1e-14)


def test_params_become_views_of_one_flat_buffer(backend):
    params = _params(backend)
    before = [_host(p).copy() for p in params]
    opt = optim.SGD(params, lr=0.1)
    assert len(opt.flat_buffers(0)) == 1                     # the public flat-buffer API (fastnn/fused.py)
    seg = opt.flat_buffers(0)[0]
    assert seg.flat.size == sum(p.numel() for p in params) and [id(p) for p in seg.params] == [id(p) for p in params]
    for p, b in zip(params, before):  # values preserved
        np.testing.assert_array_equal(_host(p), b)
    seg.flat[...] = 7.0  # storage shared with the flat buffer
    for p in params:
        assert (_host(p) == 7.0).all()


def test_one_kernel_call_per_group(backend, monkeypatch):
    params = _params(backend)
    opt = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}])
    calls = []
    be = params[0].backend
    real = be.optimizer_step
    monkeypatch.setattr(be, "optimizer_step", lambda name, *a: (calls.append((name, a[0].size)), real(name, *a)))
    for p in params:
        p.grad = fastnn.ones_like(p)
    opt.step()
    assert calls == [("adam_step", 12 + 4), ("adam_step", 1 + 6)]


@pytest.mark.parametrize("name,hp", [c for c in CONFIGS if c[1].get("momentum", 1) != 0])
def test_params_without_grad_are_skipped(backend, name, hp):
    params = _params(backend)
    oracle = RefOptimizer(name, [_host(p) for p in params], **hp)
    opt = getattr(optim, name)(params, **hp)
    rng = np.random.default_rng(2)
    for k in range(6):
        grads = [None if (k < 3 and i == 1) or (k == 4 and i == 3) else rng.standard_normal(p.shape)
                 for i, p in enumerate(params)]
        for p, g in zip(params, grads):
            p.grad = None if g is None else fastnn.tensor(g, device=backend)
        frozen = _host(params[1]).copy()
        opt.step()
        oracle.step(grads)
        if grads[1] is None:
            np.testing.assert_array_equal(_host(params[1]), frozen)
    for p, r in zip(params, oracle.params):
        np.testing.assert_allclose(_host(p), r, rtol=1e-12, atol=1e-14)
    if name != "SGD":
        assert opt.state_dict()["state"][1]["step"].item() == 3


def test_state_dict_round_trip(backend):
    def make():
        fastnn.manual_seed(3)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().to(backend)
        return model, optim.Adam(model.parameters(), lr=0.05, amsgrad=True)

    x = fastnn.randn(5, 3, dtype=fastnn.float64, device=backend)

    def train(model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()

    m1, o1 = make()
    train(m1, o1, 3)
    msd, osd = m1.state_dict(), o1.state_dict()
    msd = {k: v.clone() for k, v in msd.items()}
    assert sorted(osd["state"]) == [0, 1, 2, 3]
    assert list(osd["state"][0]) == ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert osd["param_groups"][0]["params"] == [0, 1, 2, 3]
    train(m1, o1, 2)
    m2, o2 = make()
    m2.load_state_dict(msd)
    o2.load_state_dict(osd)
    train(m2, o2, 2)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(_host(p1), _host(p2))


def test_load_state_dict_updates_values_in_place(backend):
    model = nn.Linear(3, 2).double().to(backend)
    opt = optim.SGD(model.parameters(), lr=1.0)
    new = {"weight": np.ones((2, 3)), "bias": np.zeros(2)}
    model.load_state_dict(new)
    model.weight.grad = fastnn.ones(2, 3, dtype=fastnn.float64, device=backend)
    model.bias.grad = fastnn.ones(2, dtype=fastnn.float64, device=backend)
    opt.step()  # the optimizer's flat buffer saw the loaded values
    np.testing.assert_array_equal(_host(model.weight), np.zeros((2, 3)))
    np.testing.assert_array_equal(_host(model.bias), -np.ones(2))


def test_rebinding_param_data_is_picked_up(backend):
    p = nn.Parameter(fastnn.zeros(3, dtype=fastnn.float64, device=backend))
    opt = optim.SGD([p], lr=1.0)
    p.data = fastnn.full((3,), 5.0, dtype=fastnn.float64, device=backend)
    p.grad = fastnn.ones(3, dtype=fastnn.float64, device=backend)
    opt.step()
    np.testing.assert_array_equal(_host(p), [4.0, 4.0, 4.0])
    opt.step()
    np.testing.assert_array_equal(_host(p), [3.0, 3.0, 3.0])


def test_mixed_dtypes_and_zero_grad(backend):
    a = nn.Parameter(fastnn.ones(2, dtype=fastnn.float32, device=backend))
    b = nn.Parameter(fastnn.ones(3, dtype=fastnn.float64, device=backend))
    opt = optim.SGD([a, b], lr=0.5)
    assert len(opt._segments[0]) == 2
    a.grad, b.grad = fastnn.ones_like(a), fastnn.ones_like(b)
    opt.step()
    assert a.dtype == fastnn.float32 and b.dtype == fastnn.float64
    np.testing.assert_array_equal(_host(a), [0.5, 0.5])
    np.testing.assert_array_equal(_host(b), [0.5, 0.5, 0.5])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(_host(a.grad), [0, 0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_closure_and_bad_arguments(backend):
    p = nn.Parameter(fastnn.tensor([2.0], dtype=fastnn.float64, device=backend))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    np.testing.assert_allclose(_host(p), [1.0])  # 2 - 0.25 * 2 * 2
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)


def test_moving_params_after_construction_is_refused(backend):
    model = nn.Linear(2, 2).to(backend)
    opt = optim.SGD(model.parameters(), lr=0.1)
    model.double()
    model(fastnn.randn(3, 2, dtype=fastnn.float64, device=backend)).sum().backward()
    with pytest.raises(RuntimeError, match="after the optimizer was built"):
        opt.step()


@settings(max_examples=25, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=2).map(tuple), min_size=1, max_size=4),
       cfg=st.integers(0, len(CONFIGS) - 1), masks=st.lists(st.integers(0, 15), min_size=3, max_size=3))
def test_packing_property(shapes, cfg, masks):
    """Any parameter shapes (incl. empty ones) and any pattern of missing grads: same as per-parameter updates."""
    name, hp = CONFIGS[cfg]
    rng = np.random.default_rng(len(shapes))
    params = [nn.Parameter(fastnn.tensor(rng.standard_normal(s), dtype=fastnn.float64)) for s in shapes]
    oracle = RefOptimizer(name, [_host(p) for p in params], **hp)
    opt = getattr(optim, name)(params, **hp)
    for mask in masks:
        grads = [rng.standard_normal(s) if mask >> (i % 4) & 1 else None for i, s in enumerate(shapes)]
        for p, g in zip(params, grads):
            p.grad = None if g is None else fastnn.tensor(g)
        opt.step()
        oracle.step(grads)
    for p, r in zip(params, oracle.params):
        assert tuple(p.shape) == r.shape
        np.testing.assert_allclose(_host(p), r, rtol=1e-12, atol=1e-14)


def test_public_flat_state_and_step_counting(backend):
    """init_flat_state allocates torch's state buffers for the group's settings (Adam: zeros, Adagrad:
    initial_accumulator_value); step_advances_count follows torch ('step' exists iff it counts; SGD
    counts only with momentum)."""
    params = _params(backend)
    opt = optim.Adam(params, lr=0.1)
    buf = opt.flat_buffers(0)[0]
    assert buf.state == {}
    opt.init_flat_state(0)
    assert sorted(buf.state) == ["exp_avg", "exp_avg_sq"]
    assert all((_host_arr(buf, v) == 0).all() and v.shape == buf.flat.shape for v in buf.state.values())
    ada = optim.Adagrad(_params(backend), lr=0.1, initial_accumulator_value=0.25)
    ada.init_flat_state(0)
    assert (_host_arr(ada.flat_buffers(0)[0], ada.flat_buffers(0)[0].state["sum"]) == 0.25).all()
    assert opt.step_advances_count(0)
    assert not optim.SGD(_params(backend), lr=0.1).step_advances_count(0)
    assert optim.SGD(_params(backend), lr=0.1, momentum=0.9).step_advances_count(0)


def _host_arr(buf, a):
    return np.asarray(buf.backend.to_numpy(a))
