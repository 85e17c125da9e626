"""Argument checks of the optimizer updates, run by both backends' `optimizer_step` before a kernel runs
(a Numba or CUDA update indexes its buffers unchecked: a short grad would be read out of bounds)."""
import numpy as np

from .table import UPDATES


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def check_buffers(name, param, grad, *state):
    """Raise ValueError/TypeError naming shapes and dtypes unless all buffers are flat, contiguous,
    float32/float64 and equally sized (state buffers may be empty when their feature is off). Works on
    any array module's arrays (NumPy, CuPy). The passing case is one cheap loop (it runs every step)."""
    dt, shape = param.dtype, param.shape
    ok = dt in _FLOATS and len(shape) == 1
    for k, a in enumerate((param, grad) + state):
        if not ok:
            break
        ok = a.dtype == dt and (a.shape == shape or (k > 1 and a.size == 0)) and a.flags.c_contiguous
    if not ok:
        _raise(name, param, grad, state)


def _raise(name, param, grad, state):
    """The error check_buffers found, naming the buffer, its shape and dtype."""
    if param.dtype not in _FLOATS:
        raise TypeError(f"{name}: expected float32 or float64 parameters, got {param.dtype}")
    for label, a in (("param", param), ("grad", grad)) + tuple((f"state[{i}]", s) for i, s in enumerate(state)):
        if a.ndim != 1 or not a.flags.c_contiguous:
            raise ValueError(f"{name}: {label} must be a flat contiguous 1-D buffer, got shape {a.shape}")
        if a.dtype != param.dtype:
            raise TypeError(f"{name}: {label} has dtype {a.dtype} but param has dtype {param.dtype}")
        if a.shape != param.shape and not (label.startswith("state") and a.size == 0):
            raise ValueError(f"{name}: {label} has shape {a.shape} but param has shape {param.shape}")


def check_update_args(name, args):
    """Check `optimizer_step(name, *args)`'s buffers: args = (param, *state (the table's `args` order),
    grad, step, scalars...). KeyError for a name that is not an update kernel of kernels/optim/table.py."""
    d = UPDATES.get(name)
    if d is None:
        raise KeyError(f"unknown optimizer kernel '{name}' (kernels/optim: {', '.join(sorted(UPDATES))})")
    k = 1 + len(d.args)
    if len(args) < k + 2:
        raise TypeError(f"optimizer_step('{name}') takes param, {', '.join(d.args)}, grad, step and the "
                        f"update's scalars; got {len(args)} arguments")
    check_buffers(name, args[0], args[k], *args[1:k])
