"""fastnn.fused.FusedMLP: the fused step/epoch equals the eager nn + optim path, on every backend."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.fused import FusedMLP, fused_unsupported_reason
from fastnn.kernels.fused_mlp.cpu import WIDE_INPUT
from fastnn.kernels.gemm.cpu import NT_PACK_MIN_M

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
        fm.impl.nthreads = shard_threads
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
    assert fm.impl._grads.shape[0] == 2


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


@pytest.mark.parametrize("batch, threads", [(24, 2), (24, 1), (NT_PACK_MIN_M + 2, 1)])
def test_a_wide_first_layer_equals_eager_float64(batch, threads):
    """cpu: an input of WIDE_INPUT + 7 features enters the first layer as x @ W.T (gemm's dot tiles) when a
    shard has fewer than NT_PACK_MIN_M rows, else through the transposed x: both give eager's weights
    (1e-12 relative after 4 Adam steps), with 1 or 2 row shards."""
    rng = np.random.default_rng(3)
    n_in = WIDE_INPUT + 7
    X, Y = rng.standard_normal((4 * batch, n_in)), rng.integers(0, 5, 4 * batch).astype(np.int64)
    models = []
    for _ in range(2):
        fastnn.manual_seed(0)
        models.append(nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, 5)).double())
    eager_model, fused_model = models
    eager_opt, fused_opt = optim.Adam(eager_model.parameters(), lr=1e-3), optim.Adam(fused_model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    fm = FusedMLP(fused_model, loss_fn, fused_opt)
    fm.impl.nthreads = threads
    for s in range(4):
        x, y = fastnn.tensor(X[s * batch:(s + 1) * batch]), fastnn.tensor(Y[s * batch:(s + 1) * batch])
        eager_opt.zero_grad()
        loss = loss_fn(eager_model(x), y)
        loss.backward()
        eager_opt.step()
        fused_loss, _ = fm.step(x, y)
        np.testing.assert_allclose(fused_loss.item(), loss.item(), rtol=1e-12)
    for (name, pe), pf in zip(eager_model.named_parameters(), fused_model.parameters()):
        np.testing.assert_allclose(pf.detach().numpy(), pe.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


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
    assert reason is None                     # both fused MLPs take dropout (FusedMLPFeatures.dropout)
    if backend == "cpu":
        assert reason2 is None
    else:
        assert "no MSE" in reason2


# ---- dropout follows fastnn.manual_seed -------------------------------------------------------------
DROP_SIZES, DROP_P = (12, 16, 8, 5), (0.3, 0.5)


def _dropout_model(backend, double=False):
    """Linear-ReLU-Dropout(0.3)-Linear-Tanh-Dropout(0.5)-Linear; the same initial weights every time."""
    fastnn.manual_seed(0)
    m = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(DROP_P[0]), nn.Linear(16, 8), nn.Tanh(),
                      nn.Dropout(DROP_P[1]), nn.Linear(8, 5)).to(backend)
    return m.double() if double else m


def _dropout_steps(backend, seed, double=False, steps=3, batch=16):
    """`steps` fused SGD(momentum) steps after fastnn.manual_seed(seed): (losses, initial flat params,
    final flat params)."""
    X, Y = _data()
    model = _dropout_model(backend, double)
    p0 = np.concatenate([p.detach().cpu().numpy().ravel() for p in model.parameters()])
    fm = FusedMLP(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    fastnn.manual_seed(seed)
    losses = []
    for s in range(steps):
        rows = slice(s * batch, (s + 1) * batch)
        x = fastnn.tensor(X[rows].astype(np.float64) if double else X[rows], device=backend)
        losses.append(fm.step(x, fastnn.tensor(Y[rows], device=backend))[0].item())
    p = np.concatenate([q.detach().cpu().numpy().ravel() for q in model.parameters()])
    return losses, p0, p


def test_fused_dropout_follows_manual_seed(backend):
    """Two runs after the same manual_seed give identical results; another seed gives other masks."""
    a, b, c = _dropout_steps(backend, 7), _dropout_steps(backend, 7), _dropout_steps(backend, 8)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[2], b[2])
    assert a[0][0] != c[0][0]                                # same weights, other masks: another loss
    assert np.abs(a[2] - c[2]).max() > 1e-3 * np.abs(a[2]).max()


def test_fused_dropout_masks_are_the_reference_masks_of_drawn_seeds(backend):
    """The fused steps == kernels/fused_mlp/ref.py's train_step (float64 NumPy) with the dropout seeds
    fastnn's generator gives after manual_seed(11): one draw of integers(0, 2**63) per fused call."""
    from fastnn.kernels.fused_mlp import ref
    from fastnn.kernels.optim import table

    double = backend == "cpu"                # the cuda fused MLP is float32
    losses, p0, got = _dropout_steps(backend, 11, double=double)
    draws = np.random.default_rng(11)        # what fastnn.manual_seed(11) makes the cpu generator
    X, Y = _data()
    params, grads, state = p0.astype(np.float64), np.zeros(p0.size), np.zeros((table.N_STATE, p0.size))
    code, hp = table.pack_group("sgd", dict(lr=0.1, momentum=0.9))
    for s in range(3):
        seed = int(draws.integers(0, 2 ** 63))
        loss, _ = ref.train_step(params, grads, state, X[s * 16:(s + 1) * 16].astype(np.float64),
                                 Y[s * 16:(s + 1) * 16], hp, code, s + 1, DROP_SIZES, [True] * 3,
                                 np.array([1, 3]), np.array(DROP_P), 0, seed)
        tol = 1e-12 if double else 64 * float(np.finfo(np.float32).eps)
        assert losses[s] == pytest.approx(loss, rel=tol)
    tol = 1e-12 if double else 256 * float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(got, params, rtol=tol, atol=tol * np.abs(params).max())


def test_fused_dropout_epochs_agree_across_devices_and_capture_once(backend):
    """Two shuffled epochs with dropout (fresh seed per epoch call, ragged last batch) equal the cpu
    fused run after the same manual_seed to float32 rounding; on cuda the seed changes without a
    re-capture (the graphs read it from a device buffer)."""
    X, Y = _data(40)

    def run(device):
        model = _dropout_model(device)
        fm = FusedMLP(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2))
        Xd, Yd = fastnn.tensor(X, device=device), fastnn.tensor(Y, device=device)
        fastnn.manual_seed(5)
        out = [fm.epoch(Xd, Yd, batch_size=16) for _ in range(2)]
        return out, np.concatenate([p.detach().cpu().numpy().ravel() for p in model.parameters()])

    if backend == "cuda":
        be = fastnn.backends.get_backend("cuda")
        captures = be.stats.graph_captures
    got, p = run(backend)
    if backend == "cuda":
        assert be.stats.graph_captures - captures == 2   # one per batch shape (16 and the ragged 8)
    want, q = run("cpu")
    tol = 256 * float(np.finfo(np.float32).eps)
    for (l1, a1), (l2, a2) in zip(got, want):
        assert l1 == pytest.approx(l2, rel=tol) and a1 == a2
    np.testing.assert_allclose(p, q, rtol=tol, atol=tol * np.abs(q).max())
