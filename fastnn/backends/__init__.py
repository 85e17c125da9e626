"""Backend registry: `get_backend('cpu' | 'cuda')`. Adding a backend = one module + one line below."""
import importlib

from ..dtypes import device as _device

# name -> "module:factory". The factory is called once, on first use, and the backend cached.
_REGISTRY = {
    "cpu": "fastnn.backends.cpu:CPUBackend",
    "cuda": "fastnn.backends.cuda:CUDABackend",
}
_INSTANCES = {}


def register_backend(name, spec):
    """Register a backend factory, given as 'package.module:ClassName' or a callable."""
    _REGISTRY[name] = spec
    _INSTANCES.pop(name, None)


def get_backend(dev):
    """The backend for a device ('cpu', 'cuda', 'cuda:0', fastnn.device)."""
    name = _device(dev).type
    if name not in _INSTANCES:
        if name not in _REGISTRY:
            raise RuntimeError(f"unknown device type '{name}' (known: {', '.join(sorted(_REGISTRY))})")
        spec = _REGISTRY[name]
        if isinstance(spec, str):
            mod, cls = spec.split(":")
            spec = getattr(importlib.import_module(mod), cls)
        _INSTANCES[name] = spec()
    return _INSTANCES[name]


def backend_of_array(a):
    """The backend that owns a native array (NumPy -> cpu, anything else asks the registry)."""
    import numpy as np

    if type(a) is np.ndarray:
        return get_backend("cpu")
    for inst in list(_INSTANCES.values()):
        if inst.owns(a):
            return inst
    raise TypeError(f"no fastnn backend owns an array of type {type(a).__name__}")
