"""Kernel family optim, on every backend and kernel by kernel.

Primitives (`backend` fixture): backend.optimizer_step vs kernels/optim/ref.py over 10 steps for every
update kernel and dtype (cuda float32: optim.cu), and its buffer checks. CPU kernels
(kernels/optim/cpu.py): vs the reference and vs torch.optim, empty unused state, check_buffers' errors.
CUDA kernels (optim.cu on the emulator, step scalars from the device buffer hp as under graph replay):
vs ref.py in float64 and step by step vs torch.optim."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from primitive import fixture_settings
from fastnn.kernels.cuda_build import cu_file
from fastnn.kernels.optim import cpu, ref

# ==== primitives on every backend (the `backend` fixture), and the CPU kernels' own checks ====

STEPS = 10


def _hp_strategy(name):
    """Hyper-parameters for `name`, as the positional tail of the kernel call (after `step`)."""
    b = st.booleans()
    if name == "sgd":
        return st.tuples(st.sampled_from([0.1, 0.01]), st.sampled_from([0.0, 0.9]), st.sampled_from([0.0, 0.3]),
                         st.sampled_from([0.0, 0.01]), b, b).map(
            lambda t: t if not t[4] or (t[1] > 0 and t[2] == 0) else t[:4] + (False, t[5]))
    if name == "adagrad":
        return st.tuples(st.sampled_from([0.1, 0.01]), st.sampled_from([0.0, 0.05]), st.sampled_from([0.0, 0.01]),
                         st.sampled_from([1e-10, 1e-3]), b)
    if name == "rmsprop":
        return st.tuples(st.sampled_from([0.01, 0.001]), st.sampled_from([0.99, 0.3]), st.sampled_from([1e-8, 1e-3]),
                         st.sampled_from([0.0, 0.01]), st.sampled_from([0.0, 0.9]), b, b)
    if name == "adadelta":
        return st.tuples(st.sampled_from([1.0, 0.1]), st.sampled_from([0.9, 0.3]), st.sampled_from([1e-6, 1e-3]),
                         st.sampled_from([0.0, 0.01]), b)
    return st.tuples(st.sampled_from([1e-3, 0.01]), st.sampled_from([0.9, 0.3]), st.sampled_from([0.999, 0.9]),
                     st.sampled_from([1e-8, 1e-3]), st.sampled_from([0.0, 0.05]), b, b, b)


N_STATE = {"sgd": 1, "adagrad": 1, "rmsprop": 3, "adam": 3, "adadelta": 2}


def _init_state(name, n, dtype, hp):
    states = [np.zeros(n, dtype) for _ in range(N_STATE[name])]
    if name == "adagrad":
        states[0][:] = 0.1  # initial_accumulator_value
    return states


def _run(mod, name, param, states, grads, hp):
    fn = getattr(mod, name + "_step")
    for step, g in enumerate(grads, start=1):
        fn(param, *states, g, step, *hp)


def _tol(dtype):
    eps = np.finfo(dtype).eps
    # same op order as the reference (bit-identical except Adam's sqrt(v)*(1/sqrt(bc2)), <= 1 ulp per step)
    return 8 * STEPS * eps


def _device_run(backend, name, param, states, grads, hp):
    """STEPS updates through backend.optimizer_step on device copies; (param, states) back on the host."""
    from fastnn.backends import get_backend

    be = get_backend(backend)
    p, ss = be.asarray(param.copy()), [be.asarray(s.copy()) for s in states]
    for step, g in enumerate(grads, start=1):
        be.optimizer_step(name + "_step", p, *ss, be.asarray(g), step, *hp)
    return be.to_numpy(p), [be.to_numpy(s) for s in ss]


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adadelta"])
@fixture_settings(max_examples=10)
@given(data=st.data())
def test_optimizer_step_primitive_matches_ref(backend, name, data):
    """backend.optimizer_step (cpu: Numba; cuda: optim.cu for float32, ref.py on the device otherwise).
    optim.cu derives the step's scalars in float64 on the host and contracts to FMAs: a few ulps per
    step more than the CPU kernel's same-order arithmetic, so 32 eps per step (not 8)."""
    n = data.draw(st.sampled_from([0, 1, 7, 100]), label="n")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    hp = data.draw(_hp_strategy(name), label="hp")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    param = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(STEPS)]
    p_ref, s_ref = param.copy(), _init_state(name, n, dtype, hp)
    _run(ref, name, p_ref, s_ref, grads, hp)
    p_dev, s_dev = _device_run(backend, name, param, _init_state(name, n, dtype, hp), grads, hp)
    tol = 32 * STEPS * np.finfo(dtype).eps
    assert p_dev.dtype == dtype
    np.testing.assert_allclose(p_dev, p_ref, rtol=tol, atol=tol)
    for a, b in zip(s_dev, s_ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_optimizer_step_checks_buffers(backend):
    """Both backends check the buffers before a kernel runs (kernels/optim/checks.py): a short grad
    would otherwise be read out of bounds."""
    from fastnn.backends import get_backend

    be = get_backend(backend)
    p, m = be.asarray(np.zeros(4, np.float32)), be.asarray(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but param has shape \(4,\)"):
        be.optimizer_step("sgd_step", p, m, be.asarray(np.zeros(3, np.float32)), 1, 0.1, 0.9, 0.0, 0.0, False, False)
    with pytest.raises(TypeError, match="float64"):
        be.optimizer_step("sgd_step", p, m, be.asarray(np.zeros(4, np.float64)), 1, 0.1, 0.9, 0.0, 0.0, False, False)
    with pytest.raises(KeyError, match="unknown optimizer kernel 'nope_step'"):
        be.optimizer_step("nope_step", p, m, p, 1, 0.1)


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adadelta"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_cpu_matches_ref(name, data):
    n = data.draw(st.sampled_from([0, 1, 2, 7, 33, 100]), label="n")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    hp = data.draw(_hp_strategy(name), label="hp")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    param = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(STEPS)]
    p_ref, p_cpu = param.copy(), param.copy()
    s_ref, s_cpu = _init_state(name, n, dtype, hp), _init_state(name, n, dtype, hp)
    _run(ref, name, p_ref, s_ref, grads, hp)
    _run(cpu, name, p_cpu, s_cpu, grads, hp)
    tol = _tol(dtype)
    np.testing.assert_allclose(p_cpu, p_ref, rtol=tol, atol=tol)
    for a, b in zip(s_cpu, s_ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert not np.array_equal(p_cpu, param) or n == 0  # the update did something


def test_state_buffers_may_be_empty_when_unused():
    """momentum == 0 / not centered / not amsgrad: the unused state may be a size-0 array."""
    rng = np.random.default_rng(0)
    p, g, e = rng.standard_normal(5), rng.standard_normal(5), np.zeros(0)
    for mod in (ref, cpu):
        q = p.copy()
        mod.sgd_step(q, e, g, 1, 0.1, 0.0, 0.0, 0.0, False, False)
        np.testing.assert_allclose(q, p - 0.1 * g, rtol=1e-15)
        q, sq = p.copy(), np.zeros(5)
        mod.rmsprop_step(q, sq, e, e, g, 1, 0.01, 0.99, 1e-8, 0.0, 0.0, False, False)
        np.testing.assert_allclose(q, p - 0.01 * g / (np.sqrt(0.01 * g * g) + 1e-8), rtol=1e-12)
        q, m, v = p.copy(), np.zeros(5), np.zeros(5)
        mod.adam_step(q, m, v, e, g, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False)
        # first Adam step: m/bc1 = g, sqrt(v)/sqrt(bc2) = |g|  ->  p - lr * g / (|g| + eps)
        np.testing.assert_allclose(q, p - 1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_check_buffers_errors():
    from fastnn.kernels.optim.checks import check_buffers

    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        check_buffers("adam_step", p, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="float64"):
        check_buffers("adam_step", p, np.zeros(4, np.float64))
    with pytest.raises(ValueError, match="flat"):
        check_buffers("adam_step", p, np.zeros((2, 2), np.float32))
    check_buffers("adam_step", p, p.copy(), np.zeros(0, np.float32))  # empty unused state is fine


TORCH_CASES = [
    ("sgd", (0.05, 0.9, 0.25, 0.01, False, False)),
    ("sgd", (0.05, 0.8, 0.0, 0.02, True, True)),
    ("sgd", (0.1, 0.0, 0.0, 0.0, False, False)),
    ("adagrad", (0.05, 0.1, 0.01, 1e-6, False)),
    ("adagrad", (0.02, 0.0, 0.0, 1e-10, True)),
    ("rmsprop", (0.01, 0.9, 1e-6, 0.01, 0.8, True, False)),
    ("rmsprop", (0.01, 0.3, 1e-8, 0.0, 0.0, False, True)),
    ("adam", (0.01, 0.8, 0.99, 1e-6, 0.05, True, False, False)),
    ("adam", (0.01, 0.3, 0.9, 1e-7, 0.0, False, False, True)),
    ("adam", (0.02, 0.85, 0.995, 1e-6, 0.1, False, True, False)),  # AdamW
    ("adam", (0.02, 0.85, 0.995, 1e-6, 0.1, True, True, True)),    # AdamW + amsgrad + maximize
    ("adadelta", (1.0, 0.9, 1e-6, 0.0, False)),
    ("adadelta", (0.5, 0.7, 1e-4, 0.05, True)),
]


def _torch_opt(torch, name, p, hp):
    if name == "sgd":
        lr, mom, damp, wd, nest, mx = hp
        return torch.optim.SGD([p], lr=lr, momentum=mom, dampening=damp, weight_decay=wd, nesterov=nest,
                               maximize=mx, foreach=False)
    if name == "adagrad":
        lr, lrd, wd, eps, mx = hp
        return torch.optim.Adagrad([p], lr=lr, lr_decay=lrd, weight_decay=wd, eps=eps, maximize=mx,
                                   initial_accumulator_value=0.1, foreach=False)
    if name == "rmsprop":
        lr, alpha, eps, wd, mom, cen, mx = hp
        return torch.optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=mom,
                                   centered=cen, maximize=mx, foreach=False)
    if name == "adadelta":
        lr, rho, eps, wd, mx = hp
        return torch.optim.Adadelta([p], lr=lr, rho=rho, eps=eps, weight_decay=wd, maximize=mx, foreach=False)
    lr, b1, b2, eps, wd, ams, dec, mx = hp
    cls = torch.optim.AdamW if dec else torch.optim.Adam
    return cls([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=ams, maximize=mx, foreach=False)


@pytest.mark.torch
@pytest.mark.parametrize("name,hp", TORCH_CASES)
def test_cpu_matches_torch(name, hp):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    n = 257
    param = rng.standard_normal(n)
    grads = [rng.standard_normal(n) for _ in range(STEPS)]
    tp = torch.tensor(param.copy(), dtype=torch.float64, requires_grad=True)
    opt = _torch_opt(torch, name, tp, hp)
    for g in grads:
        tp.grad = torch.tensor(g)
        opt.step()
    ours = param.copy()
    _run(cpu, name, ours, _init_state(name, n, np.float64, hp), grads, hp)
    np.testing.assert_allclose(ours, tp.detach().numpy(), rtol=1e-6, atol=1e-12)


# ==== CUDA kernels (the .cu launched on the emulator directly) ====

EPS = np.finfo(np.float32).eps


i32, f32, f64 = np.int32, np.float32, np.float64


CONFIGS = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("adam", dict(lr=1e-2)),
    ("adam", dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True)),
    ("adamw", dict(lr=1e-2, weight_decay=0.1)),
    ("adamw", dict(lr=1e-2, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-6)),
    ("rmsprop", dict(lr=1e-2)),
    ("rmsprop", dict(lr=1e-2, centered=True, weight_decay=0.01)),
    ("rmsprop", dict(lr=1e-2, momentum=0.9, centered=True, maximize=True)),
    ("adadelta", dict(lr=1.0)),
    ("adadelta", dict(lr=0.5, rho=0.7, eps=1e-4, weight_decay=0.05, maximize=True)),
]


DEFAULTS = dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False, betas=(0.9, 0.999),
                eps=None, amsgrad=False, lr_decay=0.0, initial_accumulator_value=0.0, alpha=0.99, centered=False, rho=0.9)


DEFAULT_EPS = {"adam": 1e-8, "adamw": 1e-8, "adagrad": 1e-10, "rmsprop": 1e-8, "sgd": 0.0, "adadelta": 1e-6}


def _full(kind, cfg):
    c = {**DEFAULTS, **cfg}
    c["eps"] = DEFAULT_EPS[kind] if c["eps"] is None else c["eps"]
    return c


HP_SLOTS = {"sgd": ("momentum", "dampening", "weight_decay", "nesterov", "maximize"),
            "adagrad": ("lr_decay", "weight_decay", "eps", "maximize"),
            "rmsprop": ("alpha", "eps", "weight_decay", "momentum", "centered", "maximize"),
            "adam": ("beta1", "beta2", "eps", "weight_decay", "amsgrad", "decoupled", "maximize"),
            "adadelta": ("rho", "eps", "weight_decay", "maximize")}


class CudaOptimizer:
    """Drives optim.cu like the CUDA backend would: flat state buffers + the device scalar buffer hp."""

    def __init__(self, kind, cfg, n):
        self.kind, self.c, self.n = kind, _full(kind, cfg), n
        c = dict(self.c, beta1=self.c["betas"][0], beta2=self.c["betas"][1], decoupled=kind == "adamw")
        slots = HP_SLOTS["adam" if kind == "adamw" else kind]
        self.hp = np.zeros(12, f64)
        self.hp[1] = c["lr"]
        self.hp[4:4 + len(slots)] = [float(c[k]) for k in slots]
        z = lambda: np.zeros(n, f32)  # noqa: E731
        self.s = dict(buf=z(), m=z(), v=z(), vmax=z(), ga=z(),
                      sum=np.full(n, self.c["initial_accumulator_value"], f32))
        self.mod = cuda_emulator.load(cu_file("optim"))

    def _go(self, name, args, grid=3, block=64):
        self.mod.launch(name, grid=grid, block=block, args=args)

    def step(self, p, g):
        c, s, n, hp = self.c, self.s, i32(self.n), self.hp
        if self.kind == "sgd":
            self._go("optim_tick", (hp,), 1, 1)
            self._go("sgd_step", (p, s["buf"], g, hp, n))
        elif self.kind in ("adam", "adamw"):
            self._go("adam_tick", (hp,), 1, 1)
            self._go("adam_step", (p, s["m"], s["v"], s["vmax"] if c["amsgrad"] else None, g, hp, n))
        elif self.kind == "adagrad":
            self._go("adagrad_tick", (hp,), 1, 1)
            self._go("adagrad_step", (p, s["sum"], g, hp, n))
        elif self.kind == "adadelta":
            self._go("optim_tick", (hp,), 1, 1)
            self._go("adadelta_step", (p, s["v"], s["m"], g, hp, n))
        else:
            self._go("optim_tick", (hp,), 1, 1)
            self._go("rmsprop_step", (p, s["v"], s["ga"] if c["centered"] else None,
                                      s["buf"] if c["momentum"] > 0 else None, g, hp, n))

    def set_lr(self, lr):
        self.hp[1] = lr  # on a GPU: a 8-byte copy into the device buffer, no graph re-capture


class RefOptimizer:
    """kernels/optim/ref.py run on float64 copies of the buffers: the independent oracle."""

    def __init__(self, kind, cfg, n):
        self.ref = importlib.import_module("fastnn.kernels.optim.ref")
        self.kind, self.c, self.t, self.lr = kind, _full(kind, cfg), 0, cfg["lr"]
        z = lambda: np.zeros(n)  # noqa: E731
        self.buf, self.m, self.v, self.vmax, self.ga = z(), z(), z(), z(), z()
        self.sum = np.full(n, self.c["initial_accumulator_value"], f64)

    def set_lr(self, lr):
        self.lr = lr

    def step(self, p, g):
        c, r = self.c, self.ref
        self.t += 1
        common = dict(weight_decay=c["weight_decay"], maximize=c["maximize"])
        if self.kind == "sgd":
            r.sgd_step(p, self.buf, g, self.t, self.lr, momentum=c["momentum"], dampening=c["dampening"],
                       nesterov=c["nesterov"], **common)
        elif self.kind in ("adam", "adamw"):
            r.adam_step(p, self.m, self.v, self.vmax, g, self.t, self.lr, beta1=c["betas"][0], beta2=c["betas"][1],
                        eps=c["eps"], amsgrad=c["amsgrad"], decoupled=self.kind == "adamw", **common)
        elif self.kind == "adagrad":
            r.adagrad_step(p, self.sum, g, self.t, self.lr, lr_decay=c["lr_decay"], eps=c["eps"], **common)
        elif self.kind == "adadelta":
            r.adadelta_step(p, self.v, self.m, g, self.t, self.lr, rho=c["rho"], eps=c["eps"], **common)
        else:
            r.rmsprop_step(p, self.v, self.ga, self.buf, g, self.t, self.lr, alpha=c["alpha"], eps=c["eps"],
                           momentum=c["momentum"], centered=c["centered"], **common)


def _cu_run(kind, cfg, make_oracle, steps=5, n=300):
    """Yield (t, kernel params, oracle params, p0) after each step; the LR halves before step 4."""
    rng = np.random.default_rng(len(cfg) * 31 + len(kind))
    p0 = rng.standard_normal(n).astype(f32)
    grads = [rng.standard_normal(n).astype(f32) for _ in range(steps)]
    cu, oracle = CudaOptimizer(kind, cfg, n), make_oracle(p0)
    p = p0.copy()
    for t, g in enumerate(grads, 1):
        if t == 4:  # an LR scheduler between steps: only the device scalar changes
            cu.set_lr(cfg["lr"] / 2)
        cu.step(p, g)
        yield t, p.copy(), oracle(t, g), p0


def _bound(t, ref, p0, rtol):
    return rtol * t * (np.abs(ref) + np.abs(ref - p0)) + 1e-30


IDS = [f"{k}-{i}" for i, (k, _) in enumerate(CONFIGS)]


@needs_emulator
@pytest.mark.parametrize("kind,cfg", CONFIGS, ids=IDS)
def test_against_ref_float64(kind, cfg):
    def make_oracle(p0):
        opt, p = RefOptimizer(kind, cfg, p0.size), p0.astype(f64)

        def oracle(t, g):
            if t == 4:
                opt.set_lr(cfg["lr"] / 2)
            opt.step(p, g.astype(f64))  # in place
            return p.copy()
        return oracle

    for t, p, ref, p0 in _cu_run(kind, cfg, make_oracle):
        assert np.all(np.abs(p - ref) <= _bound(t, ref, p0, 32 * EPS)), f"step {t}"


@needs_emulator
@pytest.mark.torch
@pytest.mark.parametrize("kind,cfg", CONFIGS, ids=IDS)
def test_against_torch_optim(kind, cfg):
    torch = pytest.importorskip("torch")
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop, "adadelta": torch.optim.Adadelta}[kind]

    def make_oracle(p0):
        tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        opt = cls([tp], foreach=False, **cfg)

        def oracle(t, g):
            if t == 4:
                opt.param_groups[0]["lr"] = cfg["lr"] / 2
            tp.grad = torch.from_numpy(g.copy())
            opt.step()
            return tp.detach().numpy().astype(f64)
        return oracle

    for t, p, ref, p0 in _cu_run(kind, cfg, make_oracle):
        assert np.all(np.abs(p - ref) <= _bound(t, ref, p0, 8 * EPS)), f"step {t}"
