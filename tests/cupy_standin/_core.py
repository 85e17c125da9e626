"""The stand-in's device array type, counters, capture state, host<->device copies and RawModule."""
import functools

import numpy as np

from fastnn.backends.cuda_launcher import Counters


class StandinError(RuntimeError):
    """Something real CUDA/CuPy would reject (e.g. a host sync or non-kernel work during capture)."""


class Stats(Counters):
    """Counters: host-issued kernel launches, graph launches (and the kernels they ran), host syncs,
    host->device copies (the launcher's counter class: reset(), snapshot(), repr)."""

    __slots__ = ("launches", "graph_launches", "graph_kernel_launches", "syncs", "h2d")


stats = Stats()


class _State:
    current = None     # the current Stream (None: the null stream)
    capturing = None   # the Stream being captured, when a capture is active


state = _State()


def _check_not_capturing(what):
    if state.capturing is not None:
        raise StandinError(f"{what} during CUDA graph capture: only RawKernel launches can be captured "
                           "by the stand-in (and host syncs are illegal during capture on a real GPU)")


def _sync(what):
    _check_not_capturing(f"host sync ({what})")
    stats.syncs += 1


class ndarray(np.ndarray):
    """A 'device' array: a NumPy subclass whose math stays on the device and whose reads count syncs."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _check_not_capturing(f"ufunc {ufunc.__name__}.{method}")
        args = _to_base(inputs, f"cupy.{ufunc.__name__}")
        if out is not None:
            kwargs["out"] = _to_base(out, f"cupy.{ufunc.__name__}(out=)")
        return _to_device(getattr(ufunc, method)(*args, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        _check_not_capturing(f"numpy.{func.__name__}")
        name = f"cupy.{func.__name__}"
        return _to_device(func(*_to_base(args, name), **_to_base(kwargs, name)))

    def __getitem__(self, key):
        res = super().__getitem__(_to_base(key, "indexing", strict=False))
        return np.asarray(res).view(ndarray) if isinstance(res, np.generic) else res

    def __setitem__(self, key, value):
        _check_not_capturing("__setitem__")
        super().__setitem__(_to_base(key, "indexing", strict=False), _to_base(value, "__setitem__"))

    # ---- device -> host: each one is a host synchronisation ------------------------------------
    def get(self, stream=None, order="C", out=None):
        _sync("ndarray.get")
        host = np.array(self.view(np.ndarray), order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray) or isinstance(arr, ndarray):
            raise TypeError(f"ndarray.set expects a numpy.ndarray, got {type(arr).__name__}")
        stats.h2d += 1
        self.view(np.ndarray)[...] = arr

    def item(self, *args):
        _sync("ndarray.item")
        return self.view(np.ndarray).item(*args)

    def tolist(self):
        _sync("ndarray.tolist")
        return self.view(np.ndarray).tolist()

    def __float__(self):
        _sync("float()")
        return float(self.view(np.ndarray))

    def __int__(self):
        _sync("int()")
        return int(self.view(np.ndarray))

    def __index__(self):
        _sync("operator.index()")
        return self.view(np.ndarray).__index__()

    def __bool__(self):
        _sync("bool()")
        return bool(self.view(np.ndarray))

    def __repr__(self):
        _sync("repr")
        return "standin." + repr(self.view(np.ndarray))

    def __str__(self):
        _sync("str")
        return str(self.view(np.ndarray))


def _to_base(x, what, strict=True):
    """Device arrays -> base NumPy views (same memory); host arrays with ndim > 0 -> TypeError."""
    if isinstance(x, ndarray):
        return x.view(np.ndarray)
    if isinstance(x, np.ndarray):
        if strict and x.ndim > 0:
            raise TypeError(f"{what}: Unsupported type <class 'numpy.ndarray'> (a host array with shape "
                            f"{x.shape}, dtype {x.dtype}) mixed with device arrays")
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_to_base(v, what, strict) for v in x)
    if isinstance(x, dict):
        return {k: _to_base(v, what, strict) for k, v in x.items()}
    return x


def _to_device(res):
    """NumPy results -> device arrays (scalars become 0-d device arrays, as CuPy returns)."""
    if isinstance(res, ndarray):
        return res
    if isinstance(res, np.ndarray):
        return res.view(ndarray)
    if isinstance(res, np.generic):
        return np.asarray(res).view(ndarray)
    if isinstance(res, (list, tuple)) and any(isinstance(r, (np.ndarray, np.generic)) for r in res):
        return type(res)(_to_device(r) for r in res)
    return res


def device_function(fn):
    """Wrap a NumPy function as a CuPy one: device in, device out, host arrays refused."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _check_not_capturing(f"cupy.{fn.__name__}")
        name = f"cupy.{fn.__name__}"
        return _to_device(fn(*_to_base(args, name), **_to_base(kwargs, name)))
    return wrapper


# ---- host <-> device --------------------------------------------------------------------------
def asarray(a, dtype=None, order=None):
    """A device array of `a` (a copy from host memory; no copy when already on the device)."""
    _check_not_capturing("cupy.asarray")
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    stats.h2d += 1
    return np.array(a, dtype=dtype, order=order or "K", copy=True).view(ndarray)


array = asarray


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        raise TypeError(f"cupy.ascontiguousarray: Unsupported type {type(a)}")
    return np.ascontiguousarray(a.view(np.ndarray), dtype=dtype).view(ndarray)


def asnumpy(a, stream=None, order="C", out=None):
    """A host copy of a device array (a host sync); host input is returned as NumPy."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def is_available():
    return True


def matmul(a, b, out=None):
    """cuBLAS stand-in: NumPy matmul of device arrays (a host-side op: refused during capture)."""
    _check_not_capturing("cupy.matmul (cuBLAS)")
    res = np.matmul(_to_base(a, "cupy.matmul"), _to_base(b, "cupy.matmul"))
    if out is not None:
        out[...] = res
        return out
    return _to_device(res)


# ---- kernels ----------------------------------------------------------------------------------
def _emulator():
    import cuda_emulator  # tests/ is on sys.path (pytest pythonpath)

    return cuda_emulator


def _kernel_arg(x, where):
    """What real CuPy passes for one kernel argument (function.pyx `_pointer`)."""
    if x is None or isinstance(x, np.generic):
        return x
    if isinstance(x, ndarray):
        return x.view(np.ndarray)
    if isinstance(x, np.ndarray):
        raise TypeError(f"{where}: Unsupported type <class 'numpy.ndarray'> (host array, shape {x.shape}, "
                        f"dtype {x.dtype}): kernel pointer arguments must be device arrays")
    if isinstance(x, bool):
        return np.bool_(x)
    if isinstance(x, int):
        return np.int64(x)   # CuPy passes Python ints as 64-bit: wrong for an `int` parameter
    if isinstance(x, float):
        return np.float64(x)  # ... and Python floats as double: wrong for a `float` parameter
    raise TypeError(f"{where}: Unsupported type {type(x)}")


class RawKernel:
    """One kernel of a RawModule: `k(grid, block, args, shared_mem=0, stream=None)`."""

    def __init__(self, module, name):
        self.module, self.name = module, name
        if name not in module._emu.kernels:
            raise KeyError(f"no kernel '{name}' in the module (kernels: {sorted(module._emu.kernels)})")

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        if not isinstance(grid, tuple) or not isinstance(block, tuple):
            raise TypeError(f"kernel '{self.name}': grid and block must be tuples (CuPy's Function.__call__ "
                            f"signature), got {type(grid).__name__} and {type(block).__name__}")
        grid = tuple(max(1, int(g)) for g in (grid + (1, 1))[:3])
        block = tuple(max(1, int(b)) for b in (block + (1, 1))[:3])
        args = tuple(_kernel_arg(a, f"kernel '{self.name}' argument {i}") for i, a in enumerate(args))
        launch = (self.module._emu, self.name, grid, block, args, int(shared_mem))
        stream = stream if stream is not None else state.current
        if state.capturing is not None:
            if stream is not state.capturing:
                raise StandinError(f"kernel '{self.name}' launched on another stream during a capture")
            state.capturing._captured.append(launch)
            return
        stats.launches += 1
        _run(launch)


def _run(launch):
    emu, name, grid, block, args, smem = launch
    emu.launch(name, grid, block, args, shared_mem=smem)


class RawModule:
    """`RawModule(code=..., options=...)`: compiled for the emulator on first use, like CuPy's lazy build."""

    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc", name_expressions=None, jitify=None,
                 **kwargs):
        if (code is None) == (path is None):
            raise TypeError("RawModule needs exactly one of code= and path=")
        if not isinstance(options, tuple):
            raise TypeError(f"RawModule options must be a tuple of str, got {type(options).__name__}")
        self.code, self.path, self.options = code, path, options
        self._emu_mod = None

    @property
    def _emu(self):
        if self._emu_mod is None:
            emu = _emulator()
            self._emu_mod = emu.load(self.code if self.code is not None else self.path)
        return self._emu_mod

    def get_function(self, name):
        return RawKernel(self, name)
