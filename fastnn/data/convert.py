"""NumPy -> fastnn Tensor conversion through torch's containers (torch.utils.data.default_convert)."""
import collections.abc

import numpy as np


def _to_tensor(a):
    """The one NumPy -> fastnn boundary (memory-sharing fastnn.from_numpy, imported lazily)."""
    from fastnn import from_numpy
    return from_numpy(a)


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _convert(b):
    """Arrays -> Tensors through torch's containers: dicts and namedtuples keep their type, other
    tuples and lists become lists (torch's default_convert; strings and numbers stay)."""
    if isinstance(b, np.ndarray):
        return b if b.dtype.kind in "OSUV" else _to_tensor(np.ascontiguousarray(b))
    if isinstance(b, np.generic) and b.dtype.kind not in "OSUV":
        return _to_tensor(np.asarray(b))
    if isinstance(b, collections.abc.Mapping):
        return same_mapping(b, {k: _convert(v) for k, v in b.items()})
    if _is_namedtuple(b):
        return type(b)(*(_convert(x) for x in b))
    if isinstance(b, (tuple, list)):
        return [_convert(x) for x in b]
    return b


def same_mapping(like, d):
    """d as `like`'s mapping type when that type is built from a dict (torch's rule), else a dict."""
    try:
        return type(like)(d)
    except TypeError:
        return d
