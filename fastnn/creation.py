"""Tensor creation: tensor, from_numpy, zeros/ones/empty/full, rand/randn, arange, *_like, cat/stack."""
import numpy as np

from .backends import get_backend
from .dtypes import to_dtype
from .tensor import Tensor


def _default_dtype(a):
    """torch's defaults: Python floats -> float32, ints -> int64, bools -> bool."""
    if a.dtype == np.float64:
        return np.float32
    if a.dtype.kind in "iu" and a.dtype != np.uint8:
        return np.int64
    return a.dtype


def _array_from_data(data, dtype, backend):
    """A native array of `data` (nested lists, scalars, NumPy arrays, Tensors) on backend."""
    if isinstance(data, Tensor):
        a = data.backend.to_numpy(data._data)
        if dtype is None:
            dtype = a.dtype
    elif isinstance(data, np.ndarray):
        a = data
        dtype = dtype or a.dtype
    else:
        a = np.asarray(data)
        if a.dtype == object:
            raise TypeError(f"could not build a tensor from {type(data).__name__} with ragged or non-numeric items")
        if dtype is None:
            dtype = _default_dtype(a)
    npd = to_dtype(dtype).np
    return backend.asarray(np.array(a, dtype=npd, copy=True))


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of data (lists, scalars, NumPy arrays)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor):
        return data.to(device or data.device, dtype or data.dtype)
    if isinstance(data, np.ndarray) and (device is None or str(device) == "cpu") and dtype is None:
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a):
    """A cpu tensor sharing memory with the NumPy array a (writes show both ways)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    to_dtype(a.dtype)  # refuses unsupported dtypes with a clear TypeError
    return Tensor._wrap(a, get_backend("cpu"))


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    size = tuple(int(s) for s in size)
    if any(s < 0 for s in size):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(size)}")
    return size


def _make(fill, size, dtype, device, requires_grad, default=np.float32):
    be = get_backend(device or "cpu")
    npd = to_dtype(dtype).np if dtype is not None else np.dtype(default)
    t = Tensor._wrap(fill(be, _shape(size), npd), be)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda be, s, d: be.xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda be, s, d: be.xp.ones(s, d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda be, s, d: be.xp.empty(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    default = np.float32 if isinstance(fill_value, float) else (np.bool_ if isinstance(fill_value, bool) else np.int64)
    return _make(lambda be, s, d: be.xp.full(s, fill_value, d), (size,), dtype, device, requires_grad, default)


def _float_dtype(dtype, what):
    d = to_dtype(dtype) if dtype is not None else to_dtype(np.float32)
    if not d.is_floating_point:
        raise TypeError(f"{what}: expected a floating point dtype, got {d}")
    return d


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform [0, 1) samples from the global generator (seed it with manual_seed)."""
    d = _float_dtype(dtype, "rand")
    return _make(lambda be, s, npd: be.rand(s, npd), size, d, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the global generator (seed it with manual_seed)."""
    d = _float_dtype(dtype, "randn")
    return _make(lambda be, s, npd: be.randn(s, npd), size, d, device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    if high is None:
        low, high = 0, low
    be = get_backend(device or "cpu")
    npd = to_dtype(dtype).np if dtype is not None else np.int64
    host = get_backend("cpu").rng.integers(low, high, size=_shape((size,)))
    return Tensor._wrap(be.asarray(host.astype(npd)), be)


def randperm(n, device=None):
    be = get_backend(device or "cpu")
    return Tensor._wrap(be.asarray(get_backend("cpu").rng.permutation(n).astype(np.int64)), be)


def _like(fn, t, dtype, device, requires_grad):
    return fn(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _like(zeros, t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _like(ones, t, dtype, device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    return _like(empty, t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    return _like(rand, t, dtype, device, requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return _like(randn, t, dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    floats = any(isinstance(v, float) for v in (start, end, step))
    default = np.float32 if floats else np.int64
    be = get_backend(device or "cpu")
    npd = to_dtype(dtype).np if dtype is not None else np.dtype(default)
    t = Tensor._wrap(be.xp.arange(start, end, step).astype(npd), be)
    return t.requires_grad_(True) if requires_grad else t


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    be = get_backend(device or "cpu")
    npd = to_dtype(dtype).np if dtype is not None else np.float32
    return Tensor._wrap(be.xp.linspace(start, end, steps).astype(npd), be).requires_grad_(requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    be = get_backend(device or "cpu")
    npd = to_dtype(dtype).np if dtype is not None else np.float32
    return Tensor._wrap(be.xp.eye(n, m, dtype=npd), be).requires_grad_(requires_grad)
