"""fastnn.fused.FusedMLP: the fused step/epoch equals the eager nn + optim path, on every backend."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.fused import FusedMLP, fused_unsupported_reason

OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd_plain": lambda p: optim.SGD(p, lr=0.1),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.05, lr_decay=1e-3, weight_decay=1e-3, initial_accumulator_value=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-3, alpha=0.9, momentum=0.5, centered=True, weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=1e-3, betas=(0.8, 0.99), weight_decay=1e-3, amsgrad=True),
    "adamw": lambda p: optim.AdamW(p, lr=1e-3, weight_decay=0.05),
    "adadelta": lambda p: optim.Adadelta(p, lr=0.5, rho=0.85, weight_decay=1e-3),
}


def _model(backend, act=nn.ReLU, seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), act(), nn.Linear(16, 8), act(), nn.Linear(8, 5)).to(backend)


def _data(n=96, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12)).astype(np.float32), rng.integers(0, 5, n).astype(np.int64)


def _fused_vs_eager(backend, opt, batch, shard_threads=None, double=False, state_rtol=1e-4, clip=None):
    """100 steps (10 on the emulated GPU) of fused and eager from the same init on the same batches:
    the same loss at step 1, the same weights (1e-5 relative in float32, 1e-12 in float64) and
    optimizer state after. With clip, eager runs nn.utils.clip_grad_norm_ before each step and the fused
    path clips its summed gradient (fm.clip_grad_norm); returns fm and the eager total norms."""
    X, Y = _data()
    eager_model, fused_model = _model(backend), _model(backend)
    rtol, atol = (1e-12, 1e-14) if double else (1e-5, 1e-6)
    if double:
        X, eager_model, fused_model = X.astype(np.float64), eager_model.double(), fused_model.double()
    eager_opt, fused_opt = OPTIMIZERS[opt](eager_model.parameters()), OPTIMIZERS[opt](fused_model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    fm = FusedMLP(fused_model, loss_fn, fused_opt)
    fm.clip_grad_norm, norms = clip, []
    if shard_threads is not None:  # cpu: cut each batch into row shards as this many threads would
        fm.impl.trainer.nthreads = shard_threads
    steps = 100 if backend == "cpu" else 10  # the emulated GPU runs every CUDA thread as a fiber
    for s in range(steps):
        i = (s * batch) % 96
        x = fastnn.tensor(X[i:i + batch], device=backend)
        y = fastnn.tensor(Y[i:i + batch], device=backend)
        eager_opt.zero_grad()
        loss = loss_fn(eager_model(x), y)
        loss.backward()
        if clip is not None:
            norms.append(float(nn.utils.clip_grad_norm_(eager_model.parameters(), clip)))
        eager_opt.step()
        fused_loss, _ = fm.step(x, y)
        if s == 0:
            np.testing.assert_allclose(fused_loss.item(), loss.item(), rtol=rtol)
    for (name, pe), pf in zip(eager_model.named_parameters(), fused_model.parameters()):
        np.testing.assert_allclose(pf.detach().cpu().numpy(), pe.detach().cpu().numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)
    # the optimizer state is shared: state_dicts agree too
    se, sf = eager_opt.state_dict()["state"], fused_opt.state_dict()["state"]
    assert sorted(se) == sorted(sf)
    for k in se:
        for name in se[k]:
            np.testing.assert_allclose(sf[k][name].cpu().numpy(), se[k][name].cpu().numpy(),
                                       rtol=1e-12 if double else state_rtol, atol=atol)
    return fm, norms


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_fused_steps_equal_eager_steps(backend, opt):
    _fused_vs_eager(backend, opt, batch=16)


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_fused_row_shards_equal_eager_steps(opt, double):
    """cpu, batch 48 as 2 threads run it: two row shards of 24, partial gradients summed in the update.
    The weights meet the same bars; in float32 the state's bar is 1e-3 (centered RMSprop's grad_avg
    differs by 3e-4 relative in one element: the summation order of the gradient changed), and in
    float64 weights and state agree to 1e-12, so the sharded math is the eager math."""
    fm, _ = _fused_vs_eager("cpu", opt, batch=48, shard_threads=2, double=double, state_rtol=1e-3)
    assert fm.impl.trainer._grads.shape[0] == 2


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_fused_clip_grad_norm_equals_eager_clip_grad_norm_(backend, opt):
    """fm.clip_grad_norm = c == nn.utils.clip_grad_norm_(params, c) between eager backward and step, with
    the clip active on most steps (c below the typical norm); on cpu also over two row shards. The
    clip value is a runtime scalar: changing it mid-run needs no new compile (cpu) or capture (cuda).
    float64 on the cpu (the cuda fused MLP is float32 only)."""
    for double, threads in ([(False, None), (False, 2), (True, None), (True, 2)] if backend == "cpu"
                            else [(False, None)]):
        fm, norms = _fused_vs_eager(backend, opt, batch=16 if threads is None else 48, shard_threads=threads,
                                    double=double, state_rtol=1e-3, clip=0.1)
        assert sum(n > 0.1 for n in norms) >= len(norms) // 2      # the clip did act


def test_fused_clip_value_is_a_runtime_scalar(backend):
    """Changing fm.clip_grad_norm between steps (0.1, 0.05, 0.2, off, ...) follows eager clip_grad_norm_
    step by step, with no new compiled specialization (cpu) and no new graph capture (cuda) for a new value."""
    from fastnn.kernels.fused_mlp import cpu as fused_cpu

    X, Y = _data()
    eager_model, fused_model = _model(backend), _model(backend)
    eager_opt, fused_opt = OPTIMIZERS["adam"](eager_model.parameters()), OPTIMIZERS["adam"](fused_model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    fm = FusedMLP(fused_model, loss_fn, fused_opt)
    clips = [0.1, 0.05, 0.2, None, 0.07, 0.15]
    for s, clip in enumerate(clips):
        x, y = fastnn.tensor(X[s * 16:(s + 1) * 16], device=backend), fastnn.tensor(Y[s * 16:(s + 1) * 16], device=backend)
        eager_opt.zero_grad()
        loss_fn(eager_model(x), y).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(eager_model.parameters(), clip)
        eager_opt.step()
        fm.clip_grad_norm = clip
        fm.step(x, y)
        if s == 0:
            compiled = len(fused_cpu.train_epoch.signatures)
            captures = getattr(fm.backend, "stats", None) and fm.backend.stats.graph_captures
    for pe, pf in zip(eager_model.parameters(), fused_model.parameters()):
        np.testing.assert_allclose(pf.detach().cpu().numpy(), pe.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
    assert len(fused_cpu.train_epoch.signatures) == compiled
    if backend == "cuda":   # one graph for clipping steps, one for the unclipped step: no capture per value
        assert fm.backend.stats.graph_captures == captures + 1


def test_fused_epoch_equals_steps_in_the_same_order(backend):
    X, Y = _data(50)
    m1, m2 = _model(backend, nn.Tanh), _model(backend, nn.Tanh)
    o1, o2 = optim.Adam(m1.parameters(), lr=1e-2), optim.Adam(m2.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    f1, f2 = FusedMLP(m1, loss_fn, o1), FusedMLP(m2, loss_fn, o2)
    Xd, Yd = fastnn.tensor(X, device=backend), fastnn.tensor(Y, device=backend)
    loss, acc = f1.epoch(Xd, Yd, batch_size=16, shuffle=True, seed=3)
    perm = np.random.default_rng(3).permutation(50)
    losses, correct = [], 0
    for b in range(0, 50, 16):
        idx = perm[b:b + 16]
        l, c = f2.step(fastnn.tensor(X[idx], device=backend), fastnn.tensor(Y[idx], device=backend))
        losses.append(l.item() * len(idx))
        correct += c.item()
    np.testing.assert_allclose(loss, sum(losses) / 50, rtol=1e-5)
    assert acc == pytest.approx(correct / 50)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p1.detach().cpu().numpy(), p2.detach().cpu().numpy(), rtol=1e-5, atol=1e-7)


def test_mixing_fused_and_eager_continues_one_run():
    X, Y = _data()
    a, b = _model("cpu"), _model("cpu")
    oa, ob = optim.Adam(a.parameters(), lr=1e-2), optim.Adam(b.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    fa = FusedMLP(a, loss_fn, oa)
    for s in range(6):
        x, y = fastnn.tensor(X[s * 16:(s + 1) * 16]), fastnn.tensor(Y[s * 16:(s + 1) * 16])
        if s % 2:
            fa.step(x, y)
        else:
            oa.zero_grad()
            loss_fn(a(x), y).backward()
            oa.step()
        ob.zero_grad()
        loss_fn(b(x), y).backward()
        ob.step()
    for p1, p2 in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=1e-5, atol=1e-7)
    assert oa.state_dict()["state"][0]["step"].item() == 6


def test_unsupported_models_say_why():
    loss_fn = nn.CrossEntropyLoss()
    m = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    assert "BatchNorm1d" in fused_unsupported_reason(m, loss_fn, optim.SGD(m.parameters(), lr=0.1))
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    assert "NLLLoss" in fused_unsupported_reason(m, nn.NLLLoss(), optim.SGD(m.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="FusedMLP cannot train this model"):
        FusedMLP(m, nn.L1Loss(), optim.SGD(m.parameters(), lr=0.1))
    assert fused_unsupported_reason(m, loss_fn, optim.SGD(m.parameters(), lr=0.1)) is None


def test_bad_batch_is_a_clear_error():
    m = _model("cpu")
    fm = FusedMLP(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1))
    with pytest.raises((TypeError, ValueError), match="12"):
        fm.step(fastnn.randn(4, 13), fastnn.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        fm.step(fastnn.randn(4, 12), fastnn.tensor([0, 1, 2, 7]))


def test_backend_features_decide_dropout_and_mse(backend):
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.2), nn.Linear(4, 2)).to(backend)
    reason = fused_unsupported_reason(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1))
    m2 = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).to(backend)
    reason2 = fused_unsupported_reason(m2, nn.MSELoss(), optim.SGD(m2.parameters(), lr=0.1))
    if backend == "cpu":
        assert reason is None and reason2 is None
    else:
        assert "no dropout" in reason and "no MSE" in reason2
