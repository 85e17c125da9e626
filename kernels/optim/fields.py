"""The optimizers' one table: each update kernel's hyper-parameters (names, torch defaults, order) and
the packed vectors built from it: the fused CPU kernel's `hp` and optim.cu's device buffer `hp`.

Order = the positional tail of kernels/optim/ref.py's update after `step`. Booleans are 0.0 / 1.0.
"""
import math

import numpy as np

# optimizer name -> the fused kernels' integer code (AdamW is Adam with decoupled=True)
OPT = {"sgd": 0, "adagrad": 1, "rmsprop": 2, "adam": 3, "adamw": 3}

HP_FIELDS = {
    "sgd": (("lr", 1e-3), ("momentum", 0.0), ("dampening", 0.0), ("weight_decay", 0.0),
            ("nesterov", False), ("maximize", False)),
    "adagrad": (("lr", 1e-2), ("lr_decay", 0.0), ("weight_decay", 0.0), ("eps", 1e-10), ("maximize", False)),
    "rmsprop": (("lr", 1e-2), ("alpha", 0.99), ("eps", 1e-8), ("weight_decay", 0.0), ("momentum", 0.0),
                ("centered", False), ("maximize", False)),
    "adam": (("lr", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8), ("weight_decay", 0.0),
             ("amsgrad", False), ("decoupled", False), ("maximize", False)),
}
HP_N = 12  # optim.cu's device hp: [t, lr, derived, derived] + at most 8 more fields (padded with zeros)


def pack_hparams(name, **kw):
    """(opt_code, hp float64 vector in HP_FIELDS order) for optimizer `name` ('sgd','adagrad','rmsprop',
    'adam','adamw'). Unknown keywords raise; 'betas' is accepted for adam/adamw; adamw defaults
    weight_decay=1e-2."""
    base = "adam" if name == "adamw" else name
    if base not in HP_FIELDS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPT)}")
    kw = dict(kw)
    if "betas" in kw:
        kw["beta1"], kw["beta2"] = kw.pop("betas")
    if name == "adamw":
        kw.setdefault("weight_decay", 1e-2)
        kw["decoupled"] = True
    names = [f for f, _ in HP_FIELDS[base]]
    unknown = set(kw) - set(names)
    if unknown:
        raise TypeError(f"{name}: unexpected hyper-parameters {sorted(unknown)}; expected {names}")
    return OPT[name], np.array([float(kw.get(f, d)) for f, d in HP_FIELDS[base]], np.float64)


def device_hp(name, step, packed, ticked=True):
    """optim.cu's hp (HP_N,) float64 from pack_hparams' vector: [step, lr, d2, d3, fields after lr...].
    With ticked=True the tick kernel increments step and computes d2, d3 on the device (graphs), so
    `step` is the count so far; with ticked=False `step` is the already-incremented count and d2, d3 are
    computed here (torch's formulas, in double) for a direct update launch."""
    hp = np.zeros(HP_N, np.float64)
    hp[0], hp[1] = float(step), packed[0]
    hp[4:4 + len(packed) - 1] = packed[1:]
    if not ticked:
        base = "adam" if name == "adamw" else name
        lr, t = packed[0], float(step)
        if base == "adam":
            hp[2] = lr / (1.0 - packed[1] ** t)
            hp[3] = math.sqrt(1.0 - packed[2] ** t)
        elif base == "adagrad":
            hp[2] = lr / (1.0 + (t - 1.0) * packed[1])
    return hp
