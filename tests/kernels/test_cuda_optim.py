"""CUDA optimizer kernels (kernels/optim/optim.cu) on the CPU emulator, step by step against torch.optim
(when torch is installed) and against kernels/optim/ref.py run in float64.
Step-dependent scalars come from the device buffer hp (ticked on the device), as under CUDA-graph replay."""
import importlib

import numpy as np
import pytest

cuda_emulator = pytest.importorskip("cuda_emulator")
from fastnn.kernels.cuda_build import cu_file  # noqa: E402

pytestmark = pytest.mark.skipif(not cuda_emulator.available(), reason="CUDA emulator (g++ C++20) unusable here")
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


# optim.cu's device buffer hp, slot by slot as documented at the top of optim.cu:
# [t, lr, derived, derived, the optimizer's hyper-parameters after lr...]
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


def _run(kind, cfg, make_oracle, steps=5, n=300):
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


@pytest.mark.parametrize("kind,cfg", CONFIGS, ids=IDS)
def test_against_ref_float64(kind, cfg):
    pytest.importorskip("fastnn.kernels.optim.ref")

    def make_oracle(p0):
        opt, p = RefOptimizer(kind, cfg, p0.size), p0.astype(f64)

        def oracle(t, g):
            if t == 4:
                opt.set_lr(cfg["lr"] / 2)
            opt.step(p, g.astype(f64))  # in place
            return p.copy()
        return oracle

    for t, p, ref, p0 in _run(kind, cfg, make_oracle):
        assert np.all(np.abs(p - ref) <= _bound(t, ref, p0, 32 * EPS)), f"step {t}"


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

    for t, p, ref, p0 in _run(kind, cfg, make_oracle):
        assert np.all(np.abs(p - ref) <= _bound(t, ref, p0, 8 * EPS)), f"step {t}"
