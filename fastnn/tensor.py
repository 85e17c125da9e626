"""Tensor: a backend array plus autograd bookkeeping, with PyTorch's names and semantics."""
import numpy as np

from . import autograd
from .backends import backend_of_array, get_backend
from .dtypes import device as Device, dtype as DType, to_dtype
from .ops import shape as sh
from .ops._util import norm_dim
from .tensor_ops import TensorOps
from .tensor_methods import TensorMethods
from .tensor_methods_extra import TensorMethodsExtra


class Size(tuple):
    """The shape of a tensor: a tuple that prints like torch.Size."""

    __module__ = "fastnn"   # type(t.shape) prints <class 'fastnn.Size'>, as torch's <class 'torch.Size'>

    def __repr__(self):
        return f"fastnn.Size([{', '.join(str(n) for n in self)}])"

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n


def common_backend(tensors):
    """The one backend every tensor lives on; mixing devices is an error naming both."""
    be = tensors[0].backend
    for t in tensors[1:]:
        if t.backend is not be:
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two "
                               f"devices, {be.name} and {t.backend.name}!")
    return be


class Tensor(TensorOps, TensorMethods, TensorMethodsExtra):
    """An n-dimensional array on a device, recording the ops that made it when it requires grad."""

    __module__ = "fastnn"   # type(t) prints <class 'fastnn.Tensor'>, as torch's <class 'torch.Tensor'>

    __array_priority__ = 1000  # numpy scalars defer to Tensor's reflected operators

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        from .creation import _array_from_data

        be = get_backend(device or "cpu")
        self._data = _array_from_data(data, dtype, be)
        self.backend = be
        self.grad = None
        self.grad_fn = None
        self.retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, backend=None):
        t = cls.__new__(cls)
        t._data = array
        t.backend = backend or backend_of_array(array)
        t.grad = None
        t.grad_fn = None
        t.retains_grad = False
        t.requires_grad = False
        return t

    # ---- attributes ----------------------------------------------------------------------------
    @property
    def data(self):
        """A tensor sharing this one's storage, outside autograd (as torch's `.data`)."""
        return Tensor._wrap(self._data, self.backend)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data, self.backend = value._data, value.backend

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self._data.shape[norm_dim(dim, self.ndim)]

    @property
    def dtype(self):
        return to_dtype(self._data.dtype)

    @property
    def device(self):
        return Device(self.backend.name)

    @property
    def is_cuda(self):
        return self.backend.name == "cuda"

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def element_size(self):
        return self._data.itemsize

    def is_contiguous(self):
        return bool(self._data.flags.c_contiguous)

    # ---- conversion ----------------------------------------------------------------------------
    def numpy(self):
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.backend.to_numpy(self._data)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self.backend.to_numpy(self._data).reshape(()).item()

    def tolist(self):
        return self.backend.to_numpy(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        a = self.backend.to_numpy(self._data)
        return a if dtype is None else a.astype(dtype)

    def to(self, *args, **kwargs):
        """to(device), to(dtype), to(device, dtype), to(other_tensor); a copy only when something changes."""
        dev, dt = parse_to_args(args, kwargs)
        out = self
        if dt is not None and to_dtype(dt) != self.dtype:
            out = _cast(out, to_dtype(dt))
        if dev is not None and Device(dev).type != out.backend.name:
            out = _move(out, get_backend(dev))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else device)

    def type(self, dtype=None):
        """type() -> 'torch.FloatTensor'-style name; type(fastnn.FloatTensor | 'torch.FloatTensor' | dtype) casts."""
        from .dtypes import legacy_type_name, parse_type_name

        if dtype is None:
            return legacy_type_name(self.dtype, self.is_cuda)
        return self.to(parse_type_name(dtype)) if isinstance(dtype, str) else self.to(dtype)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)

    # ---- autograd ------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {self.dtype})")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=False):
        autograd.backward(self, gradient, retain_graph)

    def retain_grad(self):
        self.retains_grad = True

    def detach(self):
        return Tensor._wrap(self._data, self.backend)

    def detach_(self):
        self.grad_fn, self.requires_grad = None, False
        return self

    def clone(self):
        return sh.Copy.apply(self)

    def contiguous(self):
        return self if self.is_contiguous() else sh.Copy.apply(self)

    def __repr__(self):
        from .printing import tensor_repr

        return tensor_repr(self)

    def __hash__(self):
        return id(self)

    def __reduce__(self):
        """Pickle as (host array, device, requires_grad): fastnn.save / fastnn.load, copy.deepcopy."""
        from .serialization import _rebuild_tensor

        return _rebuild_tensor, (self.backend.to_numpy(self._data).copy(), str(self.device), self.requires_grad)


def _cast(t, dt):
    return sh.Cast.apply(t, dtype=dt.np)


def _move(t, backend):
    return sh.ToDevice.apply(t, backend)


def parse_to_args(args, kwargs):
    """(device or None, dtype or None) from torch's .to(...) call forms (Tensor.to and Module.to)."""
    dev, dt = kwargs.get("device"), kwargs.get("dtype")
    for a in args:
        if isinstance(a, Tensor):
            dev, dt = a.device, a.dtype
        elif isinstance(a, (str, Device)):
            dev = a
        else:
            dt = a
    return dev, dt


def zero_grads(params, set_to_none=True):
    """zero_grad() of Module and Optimizer: drop each .grad, or fill it with zeros in place."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad._data[...] = 0
