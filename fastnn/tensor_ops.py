"""Tensor methods: arithmetic, math, activations, reductions, shapes and linear algebra (mixin)."""
import numpy as np

from .ops import activation as act_ops, elementwise as ew, linalg, reduce as red, shape as sh
from .ops._util import norm_dim, promote, scalar_dtype


def _operands(a, b):
    """Two tensors of one dtype (torch's promotion) from a tensor and a tensor-or-scalar."""
    T = type(a)
    if isinstance(b, T):
        dt = promote(a._data.dtype, b._data.dtype)
    elif isinstance(b, (bool, int, float, np.number)):
        dt = scalar_dtype(a._data.dtype, b)
        b = T._wrap(a.backend.xp.asarray(b, dtype=dt), a.backend)
    else:
        b = T(b, device=a.device)
        dt = promote(a._data.dtype, b._data.dtype)
    if a._data.dtype != dt:
        a = a.to(dt)
    if b._data.dtype != dt:
        b = b.to(dt)
    return a, b


def _true_div_operands(a, b):
    a, b = _operands(a, b)
    if a._data.dtype.kind != "f":
        a, b = a.to(np.float32), b.to(np.float32)
    return a, b


class TensorOps:
    # ---- arithmetic ----------------------------------------------------------------------------
    def add(self, other, alpha=1):
        return ew.Add.apply(*_operands(self, other if alpha == 1 else other * alpha))

    def sub(self, other, alpha=1):
        return ew.Sub.apply(*_operands(self, other if alpha == 1 else other * alpha))

    def mul(self, other):
        return ew.Mul.apply(*_operands(self, other))

    def div(self, other, rounding_mode=None):
        if rounding_mode is not None:
            from .functions import div

            return div(self, other, rounding_mode=rounding_mode)
        return ew.Div.apply(*_true_div_operands(self, other))

    def pow(self, exponent):
        a, b = _operands(self, exponent)
        return ew.Pow.apply(a, b)

    def remainder(self, other):
        """Python's modulus, as torch.remainder: the result takes the divisor's sign."""
        a, b = _operands(self, other)
        if a._data.dtype.kind in "biu":
            return type(self)._wrap(a.backend.xp.mod(a._data, b._data), a.backend)
        return a - (a / b).floor() * b

    def floor_divide(self, other):
        from .functions import div

        return div(self, other, rounding_mode="floor")

    def __rmod__(self, other):
        b, a = _operands(self, other)
        return a.remainder(b)

    def __rfloordiv__(self, other):
        b, a = _operands(self, other)
        return a.floor_divide(b)

    __add__ = __radd__ = add
    __mul__ = __rmul__ = mul
    __sub__ = sub
    __truediv__ = div
    __mod__ = remainder
    __floordiv__ = floor_divide
    __pow__ = pow
    __matmul__ = lambda self, other: self.matmul(other)  # noqa: E731

    def __rsub__(self, other):
        b, a = _operands(self, other)
        return ew.Sub.apply(a, b)

    def __rtruediv__(self, other):
        b, a = _true_div_operands(self, other)
        return ew.Div.apply(a, b)

    def __rpow__(self, other):
        b, a = _operands(self, other)
        return ew.Pow.apply(a, b)

    def __rmatmul__(self, other):
        return type(self)(other, device=self.device).matmul(self)

    def __neg__(self):
        return ew.Neg.apply(self)

    def __pos__(self):
        return self

    def abs(self):
        return ew.Abs.apply(self)

    __abs__ = abs

    # ---- comparisons (no gradient) ---------------------------------------------------------------
    def _compare(self, other, op):
        a, b = _operands(self, other)
        return type(self)._wrap(op(a._data, b._data), self.backend)

    def eq(self, other):
        return self._compare(other, lambda x, y: x == y)

    def ne(self, other):
        return self._compare(other, lambda x, y: x != y)

    def lt(self, other):
        return self._compare(other, lambda x, y: x < y)

    def le(self, other):
        return self._compare(other, lambda x, y: x <= y)

    def gt(self, other):
        return self._compare(other, lambda x, y: x > y)

    def ge(self, other):
        return self._compare(other, lambda x, y: x >= y)

    __eq__, __ne__, __lt__, __le__, __gt__, __ge__ = eq, ne, lt, le, gt, ge

    def equal(self, other):
        return tuple(self.shape) == tuple(other.shape) and bool((self._data == other._data).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        return bool(self.backend.xp.allclose(self._data, other._data, rtol=rtol, atol=atol))

    # ---- in-place (outside autograd, like torch under no_grad) --------------------------------
    def _check_inplace(self):
        from .autograd import is_grad_enabled

        if self.requires_grad and self.is_leaf and is_grad_enabled():
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")

    def _inplace(self, other, op):
        self._check_inplace()
        o = other._data if isinstance(other, TensorOps) else other
        op(self._data, o)
        return self

    def add_(self, other, alpha=1):
        return self._inplace(other if alpha == 1 else other * alpha, lambda a, b: a.__iadd__(b))

    def sub_(self, other, alpha=1):
        return self._inplace(other if alpha == 1 else other * alpha, lambda a, b: a.__isub__(b))

    def mul_(self, other):
        return self._inplace(other, lambda a, b: a.__imul__(b))

    def div_(self, other, rounding_mode=None):
        if rounding_mode is not None:
            from .tensor_methods import _inplace_of

            return _inplace_of("div")(self, other, rounding_mode=rounding_mode)
        return self._inplace(other, lambda a, b: a.__itruediv__(b))

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        return self._inplace(value, lambda a, v: a.fill(v))

    def copy_(self, src):
        src_arr = src.to(self.device)._data if isinstance(src, TensorOps) else src
        return self._inplace(src_arr, lambda a, s: a.__setitem__(Ellipsis, s))

    def normal_(self, mean=0.0, std=1.0):
        noise = self.backend.randn(self._data.shape, self._data.dtype)
        return self._inplace(noise * std + mean, lambda a, s: a.__setitem__(Ellipsis, s))

    def uniform_(self, a=0.0, b=1.0):
        u = self.backend.rand(self._data.shape, self._data.dtype)
        return self._inplace(u * (b - a) + a, lambda x, s: x.__setitem__(Ellipsis, s))

    def clamp_(self, min=None, max=None):
        return self._inplace(None, lambda a, _: self.backend.xp.clip(a, min, max, out=a))

    def resize_(self, *shape):
        """Reshape in place (same number of elements; torch's resize_ as the tutorials use it)."""
        shape = _shape_args(shape)
        if _prod(shape) != self.numel():
            raise RuntimeError(f"resize_: cannot resize a tensor of {self.numel()} elements to {list(shape)} "
                               "(fastnn only supports resizes that keep the number of elements)")
        self._check_inplace()
        self._data = self._data.reshape(shape)
        return self

    def __setitem__(self, index, value):
        from .autograd import is_grad_enabled

        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("item assignment into a tensor that requires grad is not supported "
                               "(wrap it in fastnn.no_grad())")
        v = value.to(self.device)._data if isinstance(value, TensorOps) else value
        self._data[_index(self, index)] = v

    # ---- math ------------------------------------------------------------------------------------
    def exp(self):
        return ew.Exp.apply(_floating(self))

    def log(self):
        return ew.Log.apply(_floating(self))

    def sqrt(self):
        return ew.Sqrt.apply(_floating(self))

    def clamp(self, min=None, max=None):
        return ew.Clamp.apply(self, min=min, max=max)

    clip = clamp

    # ---- activations ---------------------------------------------------------------------------
    def relu(self):
        return act_ops.Activation.apply(self, act="relu")

    def sigmoid(self):
        return act_ops.Activation.apply(self, act="sigmoid")

    def tanh(self):
        return act_ops.Activation.apply(self, act="tanh")

    def softmax(self, dim):
        return act_ops.Softmax.apply(self, dim=dim)

    def log_softmax(self, dim):
        return act_ops.Softmax.apply(self, dim=dim, log=True)

    # ---- reductions ----------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        x = self.to(np.int64) if self._data.dtype.kind in "bui" and self._data.dtype != np.int64 else self
        return red.Sum.apply(x, dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        return red.Mean.apply(self, dim=dim, keepdim=keepdim)

    def max(self, dim=None, keepdim=False):
        return _max(self, dim, keepdim, minimum=False)

    def min(self, dim=None, keepdim=False):
        return _max(self, dim, keepdim, minimum=True)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """(values, indices) of the k largest elements along dim, like torch.topk (always sorted)."""
        return _topk(self, int(k), dim, largest, name="topk")

    def argmax(self, dim=None, keepdim=False):
        return _argmax(self, dim, keepdim, minimum=False)

    def argmin(self, dim=None, keepdim=False):
        return _argmax(self, dim, keepdim, minimum=True)

    # ---- shapes --------------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = _shape_args(shape)
        try:
            return sh.Reshape.apply(self, shape=shape)
        except ValueError:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {self.numel()}") from None

    def view(self, *shape):
        if not self.is_contiguous():
            raise RuntimeError("view size is not compatible with input tensor's size and stride; use .reshape(...) instead.")
        return self.reshape(*shape)

    def view_as(self, other):
        return self.view(*other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = norm_dim(start_dim, self.ndim), norm_dim(end_dim, self.ndim)
        shape = self.shape
        return self.reshape(tuple(shape[:s]) + (-1 if self.numel() else _prod(shape[s:e + 1]),) + tuple(shape[e + 1:]))

    def permute(self, *dims):
        dims = tuple(norm_dim(d, self.ndim) for d in _shape_args(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise RuntimeError(f"permute(): dims {dims} are not a permutation of the {self.ndim} dimensions")
        return sh.Permute.apply(self, dims=dims)

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        d0, d1 = norm_dim(dim0, self.ndim), norm_dim(dim1, self.ndim)
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return sh.Permute.apply(self, dims=tuple(dims))

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        shape = self.shape
        if dim is None:
            return self.reshape(tuple(n for n in shape if n != 1))
        d = norm_dim(dim, self.ndim)
        if self.ndim == 0 or shape[d] != 1:
            return self
        return self.reshape(tuple(shape[:d]) + tuple(shape[d + 1:]))

    def unsqueeze(self, dim):
        d = norm_dim(dim, self.ndim + 1)
        shape = self.shape
        return self.reshape(tuple(shape[:d]) + (1,) + tuple(shape[d:]))

    def expand(self, *sizes):
        sizes = _shape_args(sizes)
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        return sh.Expand.apply(self, shape=shape)

    def __getitem__(self, index):
        return sh.GetItem.apply(self, index=_index(self, index))

    # ---- linear algebra ------------------------------------------------------------------------
    def matmul(self, other):
        return linalg.MatMul.apply(self, other)

    def mm(self, other):
        if self.ndim != 2 or other.ndim != 2:
            raise RuntimeError(f"mm: both arguments must be matrices (2-D), got {self.ndim}D and {other.ndim}D")
        return self.matmul(other)

    def bmm(self, other):
        if self.ndim != 3 or other.ndim != 3:
            raise RuntimeError(f"bmm: batch1 and batch2 must be 3D tensors, got {self.ndim}D and {other.ndim}D")
        if self.shape[0] != other.shape[0] or self.shape[2] != other.shape[1]:
            raise RuntimeError("Expected size for first two dimensions of batch2 tensor to be: "
                               f"[{self.shape[0]}, {self.shape[2]}] but got: [{other.shape[0]}, {other.shape[1]}].")
        return self.matmul(other)

    def dot(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        if self.shape[0] != other.shape[0]:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{self.shape[0]}] and src "
                               f"[{other.shape[0]}] to have the same number of elements, but got "
                               f"{self.shape[0]} and {other.shape[0]} elements respectively")
        return self.matmul(other)

    def outer(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"outer: expected 1D tensors, but got {self.ndim}D and {other.ndim}D tensors")
        return self.reshape(-1, 1) * other.reshape(1, -1)

    ger = outer


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _shape_args(args):
    """reshape(2, 3) and reshape((2, 3)) alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


def _floating(t):
    return t if t._data.dtype.kind == "f" else t.to(np.float32)


def _index(t, index):
    """Turn Tensor/list parts of an index into backend arrays (lists of ints index like torch)."""
    def conv(i):
        if isinstance(i, TensorOps):
            return i._data
        if isinstance(i, list):
            return t.backend.xp.asarray(i)
        return i

    return tuple(conv(i) for i in index) if isinstance(index, tuple) else conv(index)


class _MinMax(tuple):
    """(values, indices) like torch.return_types.max; `name` (max, min, sort, topk) is printed as torch's."""

    def __new__(cls, pair, name="max"):
        self = super().__new__(cls, pair)
        self.name = name
        return self

    def __repr__(self):
        return f"fastnn.return_types.{self.name}(\nvalues={self[0]!r},\nindices={self[1]!r})"

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _max(t, dim, keepdim, minimum):
    """(values, indices) through red.MaxDim when a gradient is wanted, else straight from the backend."""
    from .autograd import is_grad_enabled

    if dim is None:
        return red.MaxAll.apply(t, minimum=minimum)
    if is_grad_enabled() and t.requires_grad:
        values = red.MaxDim.apply(t, dim=dim, keepdim=keepdim, minimum=minimum)
        idx = values.grad_fn.indices
    else:
        values, idx = red.max_arrays(t.backend, t._data, dim, keepdim, minimum)
        values = type(t)._wrap(values, t.backend)
    return _MinMax((values, type(t)._wrap(idx, t.backend)), "min" if minimum else "max")


def _topk(t, k, dim, largest, name):
    """(values, indices) through red.TopK when a gradient is wanted, else straight from the backend;
    `name` ('topk' or 'sort') is the torch.return_types name it prints as."""
    from .autograd import is_grad_enabled

    if is_grad_enabled() and t.requires_grad:
        values = red.TopK.apply(t, k=k, dim=dim, largest=largest)
        return _MinMax((values, type(t)._wrap(values.grad_fn.indices, t.backend)), name)
    values, indices = red.topk_arrays(t.backend, t._data, k, dim, largest)
    return _MinMax((type(t)._wrap(values, t.backend), type(t)._wrap(indices, t.backend)), name)


def _argmax(t, dim, keepdim, minimum):
    _, idx = red.max_arrays(t.backend, t._data, dim, keepdim, minimum, "argmin" if minimum else "argmax")
    return type(t)._wrap(idx, t.backend)
