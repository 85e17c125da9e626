"""Helpers shared by the ops: torch-style type promotion, un-broadcasting, dim normalisation."""
import numpy as np


def _kind(dt):
    if dt == np.bool_:
        return 0
    if np.issubdtype(dt, np.integer):
        return 1
    return 2


def promote(a, b):
    """Result dtype of a binary op on two tensors' dtypes, with torch's rules (int + float32 -> float32)."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        return np.promote_types(a, b)
    return a if ka > kb else b


def scalar_dtype(tensor_dtype, scalar):
    """Result dtype of tensor (op) Python scalar: the scalar never widens within its kind."""
    if isinstance(scalar, bool):
        return tensor_dtype
    if isinstance(scalar, (int, np.integer)):
        return tensor_dtype if _kind(tensor_dtype) >= 1 else np.dtype(np.int64)
    if isinstance(scalar, (float, np.floating)):
        return tensor_dtype if _kind(tensor_dtype) == 2 else np.dtype(np.float32)
    raise TypeError(f"unsupported operand type {type(scalar).__name__}")


def unbroadcast(xp, g, shape):
    """Sum g over the axes that broadcasting added or stretched so it has `shape`."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def norm_dim(dim, ndim, name="dim"):
    """A non-negative dim, with torch's IndexError for out-of-range dims."""
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if dim < lo or dim > hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % max(ndim, 1)


def norm_dims(dim, ndim):
    """dim as a sorted tuple of non-negative axes (None -> all axes)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        return tuple(sorted({norm_dim(d, ndim) for d in dim}))
    return (norm_dim(dim, ndim),)


def prod(shape):
    """Number of elements of a shape (1 for ()); used instead of -1 in reshapes so size-0 works."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def ieee_quiet():
    """Context for float math that may overflow, divide by zero or make NaN: torch returns inf/NaN
    silently, NumPy would print a RuntimeWarning. Costs ~2 us, so only ops that can hit it use it."""
    return np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore")
