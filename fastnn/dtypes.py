"""fastnn dtypes (fastnn.float32, ...) and devices (fastnn.device): PyTorch's names over NumPy's types."""
import builtins
import numbers

import numpy as np


class dtype:
    """A tensor element type, printed like torch (`fastnn.float32`); wraps a NumPy dtype."""

    __module__ = "fastnn"   # <class 'fastnn.dtype'>, as torch's <class 'torch.dtype'>

    def __init__(self, name, np_dtype, is_floating_point):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = is_floating_point
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return f"fastnn.{self.name}"

    def __eq__(self, other):
        if isinstance(other, dtype):
            return self.np == other.np
        try:
            return self.np == np.dtype(other)
        except TypeError:
            return False

    def __hash__(self):
        return hash(self.np)


float16 = half = dtype("float16", np.float16, True)
float32 = float = dtype("float32", np.float32, True)
float64 = double = dtype("float64", np.float64, True)
uint8 = dtype("uint8", np.uint8, False)
int8 = dtype("int8", np.int8, False)
int16 = short = dtype("int16", np.int16, False)
int32 = int = dtype("int32", np.int32, False)
int64 = long = dtype("int64", np.int64, False)
bool_ = dtype("bool", np.bool_, False)


class LegacyTensorType(dtype):
    """torch's legacy type names (FloatTensor, ...): equal to their dtype, so `t.type(fastnn.FloatTensor)`
    casts as the tutorials write it, and callable as the legacy constructors: FloatTensor([1, 2]) makes
    a tensor of that data, FloatTensor(2, 3) an uninitialized one of that shape."""

    def __init__(self, legacy_name, base):
        super().__init__(base.name, base.np, base.is_floating_point)
        self.legacy_name = legacy_name

    def __call__(self, *args, device=None):
        from .creation import empty, tensor

        if len(args) == 1 and not isinstance(args[0], (numbers.Integral, tuple)):
            return tensor(args[0], dtype=self, device=device)
        return empty(*(args or (0,)), dtype=self, device=device)

    def __repr__(self):
        return f"<class 'fastnn.{self.legacy_name}'>"


FloatTensor, DoubleTensor, LongTensor, IntTensor, ByteTensor, BoolTensor = (
    LegacyTensorType(n, d) for n, d in (("FloatTensor", float32), ("DoubleTensor", float64), ("LongTensor", int64),
                                        ("IntTensor", int32), ("ByteTensor", uint8), ("BoolTensor", bool_)))

_ALL = (float16, float32, float64, uint8, int8, int16, int32, int64, bool_)
_BY_NP = {d.np: d for d in _ALL}


def to_dtype(spec):
    """Turn a fastnn dtype, NumPy dtype, Python type or name into a fastnn dtype (TypeError if unsupported)."""
    if isinstance(spec, dtype):
        return spec
    if spec is None:
        raise TypeError("dtype must not be None here")
    if spec is bool:
        return bool_
    try:
        npd = np.dtype(spec)
    except TypeError:
        raise TypeError(f"unsupported dtype {spec!r}") from None
    if npd not in _BY_NP:
        raise TypeError(f"unsupported dtype {npd} (fastnn supports {', '.join(d.name for d in _ALL)})")
    return _BY_NP[npd]


class device:
    """A device, like torch.device: `device('cpu')`, `device('cuda')`, `device('cuda', 0)`."""

    __module__ = "fastnn"   # <class 'fastnn.device'>, as torch's <class 'torch.device'>

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device must be a string or fastnn.device, not {type!r}")
        if ":" in type:
            type, idx = type.split(":", 1)
            index = builtins.int(idx)  # `int` is fastnn.int32 in this module
        self.type = type
        self.index = index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return False
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))


_LEGACY = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
           "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
           "bool": "BoolTensor"}


def legacy_type_name(dt, cuda=False):
    """'fastnn.FloatTensor' / 'fastnn.cuda.FloatTensor' for a dtype (torch's Tensor.type() under our name)."""
    return f"fastnn.{'cuda.' if cuda else ''}{_LEGACY[dt.name]}"


def parse_type_name(name):
    """The dtype of 'torch.FloatTensor', 'torch.cuda.LongTensor', 'fastnn.float32' or 'float32'."""
    base = name.split(".")[-1]
    for d in _ALL:
        if base in (_LEGACY[d.name], d.name):
            return d
    raise ValueError(f"invalid type: '{name}'")
