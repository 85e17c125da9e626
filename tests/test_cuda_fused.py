"""The fused MLP training step as a CUDA graph (fastnn/backends/cuda_fused.py) on the emulated GPU:
forward, backward, update, capture and replay vs a float64 NumPy reference, and its launch/sync counts."""
import inspect

import numpy as np
import pytest

import cupy_standin
from conftest_cuda import needs_emulator
from fastnn.backends.base import FusedMLPSpec
from fastnn.backends.cuda import CUDABackend
from fastnn.kernels.optim import ref as optim_ref

pytestmark = needs_emulator
EPS = float(np.finfo(np.float32).eps)
TOL = 256 * EPS  # params after a few float32 steps vs float64 (observed errors ~1e-7, updates ~1e-1)
SIZES, ACTS = (20, 16, 10), ("relu", "none")   # ACTS[l]: layer l's activation (the output layer's: none)
HYPER = {
    "sgd": dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-3, nesterov=True, maximize=False),
    "adam": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False),
    "adamw": dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-2, amsgrad=True, maximize=False),
    "adagrad": dict(lr=0.1, lr_decay=0.01, weight_decay=0.0, eps=1e-10, initial_accumulator_value=0.1,
                    maximize=False),
    "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.5, centered=True, maximize=False),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=1e-3, maximize=False),
}
STATE = {"sgd": ["momentum_buffer"], "adam": ["exp_avg", "exp_avg_sq"],
         "adamw": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"], "adagrad": ["sum"],
         "rmsprop": ["square_avg", "grad_avg", "momentum_buffer"], "adadelta": ["square_avg", "acc_delta"]}


@pytest.fixture(scope="module")
def be():
    return CUDABackend(cp=cupy_standin)


def n_params(sizes=SIZES, bias=(True, True)):
    return sum(o * i + (o if b else 0) for i, o, b in zip(sizes, sizes[1:], bias))


def problem(seed=0, N=20):
    rng = np.random.default_rng(seed)
    p0 = (rng.standard_normal(n_params()) * 0.3).astype(np.float32)
    X = rng.standard_normal((N, SIZES[0])).astype(np.float32)
    Y = rng.integers(0, SIZES[-1], N)
    return p0, X, Y


# ---- float64 NumPy reference: the same network, loss and optimizer, written out plainly ---------------
def layers(flat, sizes=SIZES):
    out, off = [], 0
    for i, o in zip(sizes, sizes[1:]):
        W = flat[off:off + o * i].reshape(o, i)
        off += o * i
        out.append((W, flat[off:off + o]))
        off += o
    return out


def ref_grads(flat, x, y):
    """(flat grads, loss sum, correct) of mean cross-entropy of the relu MLP on one batch."""
    hs, Ls = [x], layers(flat)
    for l, (W, b) in enumerate(Ls):
        z = hs[-1] @ W.T + b
        hs.append(np.maximum(z, 0) if ACTS[l] == "relu" else z)
    logits, M = hs[-1], len(y)
    m = logits.max(1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(1, keepdims=True)))[:, 0]
    loss_rows = lse - logits[np.arange(M), y]
    dz = (np.exp(logits - lse[:, None]) - np.eye(SIZES[-1])[y]) / M
    grads = np.zeros_like(flat)
    for l in reversed(range(len(Ls))):
        gW, gb = layers(grads)[l]
        gW[...] = dz.T @ hs[l]
        gb[...] = dz.sum(0)
        dz = (dz @ Ls[l][0]) * (hs[l] > 0 if l and ACTS[l - 1] == "relu" else 1)
    return grads, loss_rows.sum(), int((logits.argmax(1) == y).sum())


def ref_update(opt, flat, grads, state, step, h):
    name = {"adamw": "adam"}.get(opt, opt) + "_step"
    kw = dict(h, step=step, grad=grads, decoupled=opt == "adamw")
    if "betas" in kw:
        kw["beta1"], kw["beta2"] = kw.pop("betas")
    params = list(inspect.signature(getattr(optim_ref, name)).parameters)
    bufs = {"momentum_buffer": state.get("momentum_buffer", np.empty(0)), "exp_avg": state.get("exp_avg"),
            "exp_avg_sq": state.get("exp_avg_sq"), "max_exp_avg_sq": state.get("max_exp_avg_sq", np.empty(0)),
            "state_sum": state.get("sum"), "square_avg": state.get("square_avg"),
            "grad_avg": state.get("grad_avg", np.empty(0)), "acc_delta": state.get("acc_delta")}
    args = [flat] + [bufs[p] if p in bufs else kw[p] for p in params[1:]]
    getattr(optim_ref, name)(*args)


def ref_train(opt, p0, X, Y, batches, h, state=None, step=0):
    flat = p0.astype(np.float64)
    init = h.get("initial_accumulator_value", 0.0)
    state = state or {k: np.full(flat.size, init if k == "sum" else 0.0) for k in STATE[opt]}
    loss, correct = 0.0, 0
    for idx in batches:
        step += 1
        g, ls, c = ref_grads(flat, X[idx].astype(np.float64), Y[idx])
        ref_update(opt, flat, g, state, step, h)
        loss, correct = loss + ls, correct + c
    return flat, state, loss, correct


def batches_of(perm, B, drop_last=False):
    out = [perm[i:i + B] for i in range(0, len(perm), B)]
    return out[:-1] if drop_last and len(out[-1]) < B else out


def make(be, opt, p0, h=None):
    spec = FusedMLPSpec(sizes=SIZES, activations=ACTS[:-1], bias=(True, True), loss="cross_entropy", optimizer=opt,
                        hparams=dict(h or HYPER[opt]), params=be.asarray(p0), step=0)
    return be.fused_mlp(spec)


def assert_params_close(got, ref, tol):
    err = np.abs(np.asarray(got, np.float64) - ref)
    assert np.all(err <= tol * (1 + np.abs(ref))), f"max err {err.max()}"


# ---- tests --------------------------------------------------------------------------------------
@pytest.mark.parametrize("opt", sorted(HYPER))
def test_fused_epochs_match_reference(be, opt):
    """Two epochs (2 full batches of 8 + a ragged 4, shuffled) via graph replays == float64 reference."""
    p0, X, Y = problem(1)
    fm = make(be, opt, p0)
    Xd, Yd = be.asarray(X), be.asarray(Y)
    rng = np.random.default_rng(5)
    ref_p, state, step = p0.astype(np.float64), None, 0
    for _ in range(2):
        perm = rng.permutation(len(X))
        loss, acc = fm.epoch(Xd, Yd, 8, perm)
        ref_p, state, rl, rc = ref_train(opt, ref_p, X, Y, batches_of(perm, 8), HYPER[opt], state, step)
        step += 3
        assert abs(loss - rl / len(X)) <= 64 * EPS * (1 + abs(rl / len(X)))
        assert acc == rc / len(X)
    assert fm.steps == 6
    assert_params_close(cupy_standin.asnumpy(fm.params), ref_p, TOL)
    for k in STATE[opt]:
        assert_params_close(cupy_standin.asnumpy(fm.state[k]), state[k], TOL)


def test_fused_step_matches_reference_and_eager_primitives(be):
    """step(x, y) == the float64 reference == the same step written with the backend's eager primitives."""
    p0, X, Y = problem(2, N=8)
    fm = make(be, "sgd", p0)
    eager = be.asarray(p0)
    buf = be.xp.zeros_like(eager)
    ref_p, state = p0.astype(np.float64), None
    for step in (1, 2, 3):
        loss, correct = fm.step(be.asarray(X), be.asarray(Y))
        ref_p, state, rl, rc = ref_train("sgd", ref_p, X, Y, [np.arange(8)], HYPER["sgd"], state, step - 1)
        assert abs(float(loss) - rl / 8) <= 64 * EPS * (1 + rl / 8) and int(correct) == rc
        eager_step(be, eager, buf, be.asarray(X), be.asarray(Y), step)
    assert_params_close(cupy_standin.asnumpy(fm.params), ref_p, TOL)
    assert_params_close(cupy_standin.asnumpy(eager), cupy_standin.asnumpy(fm.params).astype(np.float64), TOL)


def eager_step(be, flat, momentum_buffer, x, y, step):
    """One SGD step through the backend's eager primitives (no graph)."""
    Ls = layers(flat)
    hs = [x]
    for l, (W, b) in enumerate(Ls):
        z = be.matmul(hs[-1], W, trans_b=True) + b
        hs.append(z if ACTS[l] == "none" else be.activation(z, ACTS[l]))
    loss_rows, probs = be.cross_entropy(hs[-1], y)
    dz = be.cross_entropy_backward(be.xp.full(len(y), 1.0 / len(y), dtype=np.float32), probs, y)
    grads = be.xp.zeros_like(flat)
    for l in reversed(range(len(Ls))):
        gW, gb = layers(grads)[l]
        gW[...] = be.matmul(dz, hs[l], trans_a=True)
        gb[...] = be.sum_rows(dz)
        if l:
            dz = be.activation_backward(be.matmul(dz, Ls[l][0]), hs[l], ACTS[l - 1])
    h = HYPER["sgd"]
    be.optimizer_step("sgd_step", flat, momentum_buffer, grads, step, h["lr"], h["momentum"], h["dampening"],
                      h["weight_decay"], h["nesterov"], h["maximize"])


def test_counts_one_graph_launch_per_step_one_sync_per_epoch(be):
    p0, X, Y = problem(3)
    fm = make(be, "adam", p0)
    Xd, Yd = be.asarray(X), be.asarray(Y)
    for epoch in range(3):
        cupy_standin.stats.reset()
        be.stats.reset()
        fm.epoch(Xd, Yd, 8, np.random.default_rng(epoch).permutation(20))
        s = cupy_standin.stats
        assert s.graph_launches == be.stats.graph_launches == 3      # ceil(20 / 8) steps
        assert s.syncs == be.stats.host_syncs == 1                   # the epoch's loss/accuracy read
        assert s.launches == be.stats.kernel_launches == 1           # epoch_reset; the rest is in graphs
    per_graph = s.graph_kernel_launches / s.graph_launches
    assert per_graph == 2 + 2 + 1 + (2 + 1) + 3 + 2 + 1             # gather, fwd, xent, bwd, optim, cursor


def test_drop_last_and_lr_change(be):
    """drop_last skips the ragged batch; a new lr / weight_decay between epochs takes effect."""
    p0, X, Y = problem(4)
    h = dict(HYPER["sgd"])
    fm = make(be, "sgd", p0, h)
    Xd, Yd = be.asarray(X), be.asarray(Y)
    perm = np.arange(20)[::-1].copy()
    cupy_standin.stats.reset()
    fm.epoch(Xd, Yd, 8, perm, drop_last=True)
    assert cupy_standin.stats.graph_launches == 2
    ref_p, state, _, _ = ref_train("sgd", p0, X, Y, batches_of(perm, 8, True), HYPER["sgd"])
    fm.hparams.update(lr=0.01, weight_decay=0.05)   # lr: device hp buffer; weight_decay: recapture
    fm.epoch(Xd, Yd, 8, perm, drop_last=True)
    ref_p, state, _, _ = ref_train("sgd", ref_p, X, Y, batches_of(perm, 8, True),
                                   dict(h, lr=0.01, weight_decay=0.05), state, 2)
    assert_params_close(cupy_standin.asnumpy(fm.params), ref_p, TOL)


def test_uint8_data_normalized_in_gather(be):
    p0, _, Y = problem(5)
    Xu8 = np.random.default_rng(5).integers(0, 256, (20, SIZES[0]), dtype=np.uint8)
    fm = make(be, "sgd", p0)
    perm = np.random.default_rng(6).permutation(20)
    fm.epoch(be.asarray(Xu8), be.asarray(Y), 8, perm, scale=1 / 255, shift=-0.5)
    Xf = Xu8.astype(np.float64) / 255 - 0.5
    ref_p, *_ = ref_train("sgd", p0, Xf, Y, batches_of(perm, 8), HYPER["sgd"])
    assert_params_close(cupy_standin.asnumpy(fm.params), ref_p, TOL)


def test_bad_inputs_raise_clear_errors(be):
    p0, X, Y = problem(6)
    fm = make(be, "sgd", p0)
    with pytest.raises(TypeError, match="device-resident"):
        fm.epoch(X, Y, 8, np.arange(20))
    with pytest.raises(ValueError, match=r"\(20,\) int64"):
        fm.epoch(be.asarray(X), be.asarray(Y.astype(np.int32)), 8, np.arange(20))
    with pytest.raises(ValueError, match=r"x \(B,20\)"):
        fm.step(be.asarray(X[:, :5]), be.asarray(Y))
    with pytest.raises(ValueError, match="optimizer"):
        be.fused_mlp(FusedMLPSpec(sizes=SIZES, activations=ACTS[:-1], bias=(True, True), optimizer="lbfgs",
                                  hparams={}, params=be.asarray(p0)))
    with pytest.raises(TypeError, match="float32 cuda buffer"):
        be.fused_mlp(FusedMLPSpec(sizes=SIZES, activations=ACTS[:-1], bias=(True, True), optimizer="sgd",
                                  hparams={"lr": 0.1}, params=p0))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_fused_matches_cpu_fused_trainer(be, opt):
    """The CUDA graph path and the CPU fused path (backends/cpu_fused.py over kernels/fused_mlp, Numba)
    agree to float32 tolerance."""
    from fastnn.backends import get_backend

    p0, X, Y = problem(7)
    cpu = get_backend("cpu").fused_mlp(FusedMLPSpec(sizes=SIZES, activations=ACTS[:-1], bias=(True, True),
                                                    optimizer=opt, hparams=dict(HYPER[opt]), params=p0.copy()))
    fm = make(be, opt, p0)
    Xd, Yd = be.asarray(X), be.asarray(Y)
    for epoch in range(2):
        perm = np.random.default_rng(epoch).permutation(len(X))
        cl, ca = cpu.epoch(X, Y, 8, perm)
        gl, ga = fm.epoch(Xd, Yd, 8, perm)
        assert abs(gl - cl) <= 64 * EPS * (1 + abs(cl)) and ga == ca
    assert_params_close(cupy_standin.asnumpy(fm.params), cpu.params.astype(np.float64), TOL)


@pytest.fixture
def cuda_registered():
    """get_backend('cuda') -> the emulated backend for this test (the registry is restored after)."""
    from fastnn import backends

    saved = dict(backends._REGISTRY), dict(backends._INSTANCES)
    backends.register_backend("cuda", lambda: CUDABackend(cp=cupy_standin))
    yield backends.get_backend("cuda")
    backends._REGISTRY.clear(), backends._REGISTRY.update(saved[0])
    backends._INSTANCES.clear(), backends._INSTANCES.update(saved[1])


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_engine_eager_training_on_cuda_matches_reference(cuda_registered, opt):
    """Sequential(Linear, ReLU, Linear) + CrossEntropyLoss + fastnn.optim on device 'cuda' (autograd over
    the backend's primitives, eager kernel launches) == the float64 reference, step for step."""
    import fastnn
    import fastnn.nn as nn
    import fastnn.optim as optim

    be = cuda_registered
    _, X, Y = problem(8, N=16)
    model = nn.Sequential(nn.Linear(20, 16, device="cuda"), nn.ReLU(), nn.Linear(16, 10, device="cuda"))
    p0 = np.concatenate([be.to_numpy(p._data).ravel() for p in model.parameters()])
    h = dict(HYPER[opt])
    kw = {k: v for k, v in h.items() if k in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "betas",
                                               "eps", "amsgrad")}
    o = getattr(optim, {"sgd": "SGD", "adam": "Adam"}[opt])(model.parameters(), **kw)
    loss_fn = nn.CrossEntropyLoss()
    batches = [np.arange(0, 8), np.arange(8, 16), np.arange(4, 12)]
    for idx in batches:
        o.zero_grad()
        loss = loss_fn(model(fastnn.tensor(X[idx], device="cuda")), fastnn.tensor(Y[idx], device="cuda"))
        loss.backward()
        o.step()
    ref_p, *_ = ref_train(opt, p0, X, Y, batches, h)
    got = np.concatenate([be.to_numpy(p._data).ravel() for p in model.parameters()])
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert_params_close(got, ref_p, TOL)


def test_resume_from_optimizer_state_and_step(be):
    """A runner built on existing Adam state at step 3 continues exactly like the reference (the device
    hp buffer starts from spec['step'], so bias corrections continue rather than restart)."""
    p0, X, Y = problem(9)
    perm = np.random.default_rng(9).permutation(20)
    p3, state, _, _ = ref_train("adam", p0, X, Y, batches_of(perm, 8), HYPER["adam"])
    spec = FusedMLPSpec(sizes=SIZES, activations=ACTS[:-1], bias=(True, True), optimizer="adam",
                        hparams=dict(HYPER["adam"]), params=be.asarray(p3.astype(np.float32)), step=3,
                        state={k: be.asarray(v.astype(np.float32)) for k, v in state.items()})
    fm = be.fused_mlp(spec)
    fm.epoch(be.asarray(X), be.asarray(Y), 8, perm)
    ref_p, *_ = ref_train("adam", p3.astype(np.float32), X, Y, batches_of(perm, 8), HYPER["adam"],
                          {k: v.astype(np.float32).astype(np.float64) for k, v in state.items()}, 3)
    assert fm.steps == 6
    assert_params_close(cupy_standin.asnumpy(fm.params), ref_p, TOL)
