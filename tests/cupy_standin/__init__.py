"""cupy_standin: a fake `cupy` for tests, the narrow surface fastnn's cuda backend uses, on the CPU.

Device arrays are `ndarray`, a NumPy subclass (so xp-style array math just works and results stay
"on device"); RawModule kernels run on tests/cuda_emulator; `cuda.Stream` capture records kernel
launches into a `Graph` whose `launch()` replays them with the same pointers and scalars.
Differences from real CuPy that matter are made loud: host (NumPy) arrays mixed into device math or
passed to a kernel raise TypeError, Python int/float kernel arguments become int64/float64 exactly
as CuPy passes them (the emulator then rejects them for `int`/`float` parameters), and any non-kernel
work or host sync during a stream capture raises. `stats` counts kernel launches, graph launches and
host syncs (device->host reads: asnumpy, get, item, float(), int(), bool(), repr).

Not installed as sys.modules['cupy']: tests hand this module to `CUDABackend(cp=cupy_standin)`.
"""
import numpy as np

from . import _core
from ._core import (RawKernel, RawModule, StandinError, asarray, asnumpy, ascontiguousarray, is_available,
                    matmul, ndarray, stats)
from . import cuda, random  # noqa: E402

__version__ = "0.0-standin"
_WRAPPED = {}


def get_array_module(*args):
    return __import__(__name__) if any(isinstance(a, ndarray) for a in args) else np


def __getattr__(name):
    """Every other NumPy name: dtypes/constants/ufuncs as is, functions wrapped to return device arrays."""
    if name in _WRAPPED:
        return _WRAPPED[name]
    attr = getattr(np, name)
    if isinstance(attr, (type, np.ufunc)) or not callable(attr):
        return attr  # dtypes (cupy.float32 is numpy's), constants; ufuncs dispatch via __array_ufunc__
    _WRAPPED[name] = fn = _core.device_function(attr)
    return fn


__all__ = ["ndarray", "asarray", "asnumpy", "ascontiguousarray", "matmul", "RawModule", "RawKernel",
           "is_available", "stats", "cuda", "random", "StandinError"]
