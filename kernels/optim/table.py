"""The optimizers' one table: a descriptor per optimizer (torch's hyper-parameters and state, the
kernels' names, the packed scalar order, the fused code) and the helpers every user derives from it:
fastnn/optim, fastnn/fused.py, the fused workspace, both backends and both fused paths.

Kernel conventions (kernels/optim/ref.py, cpu.py, optim.cu) the descriptors rely on:
  ref / cpu  <update>(param, *state in `args` order, grad, step, *fields)        (scalars: floats, bools)
  optim.cu   <update>(param, *state in `args` order, grad, hp, n) and <tick>(hp) before it; hp holds
             [t, lr, derived, derived, fields after lr...] (HP_N doubles; booleans as 0.0 / 1.0).
  fused      state (3, P): row i = args[i]; hp = pack_hparams' vector; dispatch on `code`
             (kernels/fused_mlp/cpu.py optimizer_update, the one switch on codes).
Adding an optimizer = one entry here + its kernels (ref.py, cpu.py, optim.cu, the fused switch) + its
fastnn/optim class (torch's signature and argument checks).
"""
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Const:
    """A packed field fixed by the optimizer rather than read from its param group (AdamW: decoupled)."""
    value: object


@dataclass(frozen=True)
class State:
    """One state buffer: torch's name; exists iff `when` (None: always; (torch key, test) with test one
    of '!= 0', '> 0', 'true'); filled with the group's `fill` hyper-parameter (None: zeros)."""
    name: str
    when: tuple = None
    fill: str = None


@dataclass(frozen=True)
class Descriptor:
    name: str          # lowercase name: fused spec, `fastnn train --optimizer`
    torch_name: str    # class name in torch.optim and fastnn.optim
    code: int          # the fused kernels' integer code (several optimizers may share one update)
    update: str        # update kernel in kernels/optim/ref.py, cpu.py and optim.cu
    tick: str          # optim.cu kernel run before the update: hp[0] += 1 and the derived hp[2:4]
    hparams: tuple     # ((torch keyword, default), ...) in torch's signature order
    fields: tuple      # ((field, source), ...): the update's scalars after `step`, in ref.py order;
    #                    source: torch keyword, (torch keyword, index) or Const
    state: tuple       # State(...) in torch's state-dict order
    args: tuple        # state names in the update's argument order = rows of the fused (3, P) state
    has_step: bool = True       # torch keeps state['step']
    eager_state: bool = False   # torch creates the state at construction (Adagrad)
    counts_step: tuple = None   # the step count advances iff this (like State.when); None: always


OPTIMIZERS = {d.name: d for d in (
    Descriptor(
        "sgd", "SGD", 0, "sgd_step", "optim_tick",
        hparams=(("lr", 1e-3), ("momentum", 0), ("dampening", 0), ("weight_decay", 0), ("nesterov", False),
                 ("maximize", False), ("foreach", None), ("differentiable", False), ("fused", None)),
        fields=(("lr", "lr"), ("momentum", "momentum"), ("dampening", "dampening"),
                ("weight_decay", "weight_decay"), ("nesterov", "nesterov"), ("maximize", "maximize")),
        state=(State("momentum_buffer", ("momentum", "!= 0")),), args=("momentum_buffer",),
        has_step=False, counts_step=("momentum", "!= 0")),
    Descriptor(
        "adagrad", "Adagrad", 1, "adagrad_step", "adagrad_tick",
        hparams=(("lr", 1e-2), ("lr_decay", 0), ("weight_decay", 0), ("initial_accumulator_value", 0),
                 ("eps", 1e-10), ("maximize", False)),
        fields=(("lr", "lr"), ("lr_decay", "lr_decay"), ("weight_decay", "weight_decay"), ("eps", "eps"),
                ("maximize", "maximize")),
        state=(State("sum", fill="initial_accumulator_value"),), args=("sum",), eager_state=True),
    Descriptor(
        "rmsprop", "RMSprop", 2, "rmsprop_step", "optim_tick",
        hparams=(("lr", 1e-2), ("alpha", 0.99), ("eps", 1e-8), ("weight_decay", 0), ("momentum", 0),
                 ("centered", False), ("maximize", False)),
        fields=(("lr", "lr"), ("alpha", "alpha"), ("eps", "eps"), ("weight_decay", "weight_decay"),
                ("momentum", "momentum"), ("centered", "centered"), ("maximize", "maximize")),
        state=(State("square_avg"), State("momentum_buffer", ("momentum", "> 0")),
               State("grad_avg", ("centered", "true"))),
        args=("square_avg", "grad_avg", "momentum_buffer")),
    Descriptor(
        "adam", "Adam", 3, "adam_step", "adam_tick",
        hparams=(("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 0), ("amsgrad", False),
                 ("maximize", False)),
        fields=(("lr", "lr"), ("beta1", ("betas", 0)), ("beta2", ("betas", 1)), ("eps", "eps"),
                ("weight_decay", "weight_decay"), ("amsgrad", "amsgrad"), ("decoupled", Const(False)),
                ("maximize", "maximize")),
        state=(State("exp_avg"), State("exp_avg_sq"), State("max_exp_avg_sq", ("amsgrad", "true"))),
        args=("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
    Descriptor(
        "adamw", "AdamW", 3, "adam_step", "adam_tick",
        hparams=(("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 1e-2),
                 ("amsgrad", False), ("maximize", False)),
        fields=(("lr", "lr"), ("beta1", ("betas", 0)), ("beta2", ("betas", 1)), ("eps", "eps"),
                ("weight_decay", "weight_decay"), ("amsgrad", "amsgrad"), ("decoupled", Const(True)),
                ("maximize", "maximize")),
        state=(State("exp_avg"), State("exp_avg_sq"), State("max_exp_avg_sq", ("amsgrad", "true"))),
        args=("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
    Descriptor(
        "adadelta", "Adadelta", 4, "adadelta_step", "optim_tick",
        hparams=(("lr", 1.0), ("rho", 0.9), ("eps", 1e-6), ("weight_decay", 0), ("foreach", None),
                 ("capturable", False), ("maximize", False), ("differentiable", False)),
        fields=(("lr", "lr"), ("rho", "rho"), ("eps", "eps"), ("weight_decay", "weight_decay"),
                ("maximize", "maximize")),
        state=(State("square_avg"), State("acc_delta")), args=("square_avg", "acc_delta")),
)}

HP_N = 12      # optim.cu's device hp: [t, lr, derived, derived] + the fields after lr (padded with zeros)
N_STATE = 3    # rows of the fused kernels' state array: the most state buffers of any update
BY_CODE = {}   # fused code -> the first descriptor with it (its update kernel and field layout)
for _d in OPTIMIZERS.values():
    BY_CODE.setdefault(_d.code, _d)
    assert 3 + len(_d.fields) <= HP_N and len(_d.args) <= N_STATE, _d.name
    assert {s.name for s in _d.state} == set(_d.args), _d.name
    assert BY_CODE[_d.code].update == _d.update and [f for f, _ in BY_CODE[_d.code].fields] == \
        [f for f, _ in _d.fields], _d.name
OPT = {name: d.code for name, d in OPTIMIZERS.items()}
UPDATES = {d.update: d for d in reversed(list(OPTIMIZERS.values()))}  # update kernel -> its first descriptor
_TESTS = {"!= 0": lambda v: v != 0, "> 0": lambda v: v > 0, "true": bool}


def get(name):
    """The descriptor of optimizer `name` ('sgd', 'adam', ... or a Descriptor); ValueError naming the
    choices otherwise."""
    if isinstance(name, Descriptor):
        return name
    d = OPTIMIZERS.get(name) or OPTIMIZERS.get(str(name).lower())
    if d is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    return d


def _is_bool_source(d, src):
    if isinstance(src, Const):
        return isinstance(src.value, bool)
    return isinstance(dict(d.hparams)[src[0] if isinstance(src, tuple) else src], bool)


# per optimizer, built once: torch's defaults, and each field as (const or None, torch key, index, is_bool)
_DEFAULTS = {n: dict(d.hparams) for n, d in OPTIMIZERS.items()}
_PLAN = {n: tuple((src if isinstance(src, Const) else None, src[0] if isinstance(src, tuple) else src,
                   src[1] if isinstance(src, tuple) else None, _is_bool_source(d, src)) for _, src in d.fields)
         for n, d in OPTIMIZERS.items()}
# per optimizer: each state buffer as (name, torch key of its condition or None, the condition's test)
_STATE_PLAN = {n: tuple((s.name, s.when[0] if s.when else None, _TESTS[s.when[1]] if s.when else None)
                        for s in d.state) for n, d in OPTIMIZERS.items()}


def _value(d, group, key):
    """group[key], or torch's default for it."""
    return group[key] if key in group else _DEFAULTS[d.name][key]


def holds(d, cond, group):
    """Whether the condition (torch key, test) holds for `group` (None: always)."""
    return cond is None or _TESTS[cond[1]](_value(d, group, cond[0]))


def state_names(name, group):
    """The state buffers `group`'s settings need, in torch's order."""
    d = get(name)
    defaults = _DEFAULTS[d.name]
    return [s for s, key, test in _STATE_PLAN[d.name]
            if key is None or test(group[key] if key in group else defaults[key])]


def state_fill(name, state, group):
    """The initial value of state buffer `state` (0.0 unless the descriptor names a fill)."""
    d = get(name)
    fill = {s.name: s.fill for s in d.state}[state]
    return 0.0 if fill is None else float(_value(d, group, fill))


def counts_step(name, group):
    """Whether a step of `group` advances the step count (SGD: only with momentum)."""
    d = get(name)
    return holds(d, d.counts_step, group)


def torch_keys(name):
    """The torch hyper-parameters the update reads, in field order (no duplicates)."""
    keys = []
    for _, src in get(name).fields:
        key = src[0] if isinstance(src, tuple) else src
        if not isinstance(src, Const) and key not in keys:
            keys.append(key)
    return tuple(keys)


def field_values(name, group, as_kernel_args=False):
    """The update's scalars after `step` from a torch param group (missing keys: torch's defaults),
    as floats; with as_kernel_args the boolean fields are bools (the ref.py / cpu.py call)."""
    d, out = get(name), []
    defaults = _DEFAULTS[d.name]
    for const, key, index, is_bool in _PLAN[d.name]:
        if const is not None:
            v = const.value
        else:
            v = group[key] if key in group else defaults[key]
            v = v if index is None else v[index]
        out.append(bool(v) if as_kernel_args and is_bool else float(v))
    return out


def pack_hparams(name, **kw):
    """(opt_code, hp float64 vector in field order) for optimizer `name`. Keywords are torch's names
    (betas, ...; ones the update does not read, such as initial_accumulator_value, are ignored) or
    field names (beta1, ...; those win); missing ones take torch's defaults; anything else raises."""
    d = get(name)
    fields = [f for f, _ in d.fields]
    unknown = set(kw) - set(fields) - {k for k, _ in d.hparams}
    if unknown:
        raise TypeError(f"{name}: unexpected hyper-parameters {sorted(unknown)}; expected {fields} "
                        f"or torch's {[k for k, _ in d.hparams]}")
    packed = field_values(name, kw)
    for i, f in enumerate(fields):
        if f in kw:
            packed[i] = float(kw[f])
    return d.code, np.array(packed, np.float64)


def unpack(name, packed):
    """The update's scalar arguments after `step` from a packed vector: floats, bools for boolean fields."""
    plan = _PLAN[get(name).name]
    return [bool(v) if step[3] else float(v) for step, v in zip(plan, packed)]


def pack_group(name, group):
    """pack_hparams from a whole torch param group (keys the update does not read are skipped)."""
    return get(name).code, np.array(field_values(name, group), np.float64)


# the tick kernels' formulas for a direct (non-graph) launch: (lr, fields after lr, t) -> (hp[2], hp[3])
def _adam_derived(lr, f, t):
    return lr / (1.0 - f[0] ** t), math.sqrt(1.0 - f[1] ** t)


def _adagrad_derived(lr, f, t):
    return lr / (1.0 + (t - 1.0) * f[0]), 0.0


_DERIVED = {"optim_tick": lambda lr, f, t: (0.0, 0.0), "adam_tick": _adam_derived, "adagrad_tick": _adagrad_derived}


def device_hp(name, step, packed, ticked=True):
    """optim.cu's hp (HP_N,) float64 from a packed vector: [step, lr, d2, d3, fields after lr...].
    With ticked=True the tick kernel increments step and computes d2, d3 on the device (graphs), so
    `step` is the count so far; with ticked=False `step` is the already-incremented count and d2, d3 are
    the tick's formulas computed here (in double) for a direct update launch."""
    hp = np.zeros(HP_N, np.float64)
    hp[0], hp[1] = float(step), packed[0]
    hp[4:4 + len(packed) - 1] = packed[1:]
    if not ticked:
        hp[2], hp[3] = _DERIVED[get(name).tick](float(packed[0]), packed[1:], float(step))
    return hp
