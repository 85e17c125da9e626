"""More Tensor methods with torch's names (gather, scatter, cumsum, std/var, in-place math, casts, hooks, ...)."""
import numpy as np

from .ops import index as ix, unary as un
from .ops._util import norm_dim, norm_dims, prod as _prod


def _T():
    from .tensor import Tensor

    return Tensor


def _check_index(self, index, name, dim):
    if not isinstance(index, _T()):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._data.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"{'scatter' if name == 'scatter_add' else name}(): Expected dtype int32/int64 for index")
    if index.ndim != self.ndim and not (name == "index_select" and index.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {'input' if name == 'gather' else 'self'} tensor")
    n = self.shape[norm_dim(dim, self.ndim)] if self.ndim else 1
    if index.numel() and (int(index._data.min()) < 0 or int(index._data.max()) >= n):
        raise RuntimeError(f"index {int(index._data.max()) if int(index._data.max()) >= n else int(index._data.min())} "
                           f"is out of bounds for dimension {norm_dim(dim, max(self.ndim, 1))} with size {n}")
    return index.to(self.device).to(np.int64)


def _floating(t):
    return t if t._data.dtype.kind == "f" else t.to(np.float32)


def _unary(name):
    def method(self):
        return un.Unary.apply(_floating(self) if name not in ("sign", "round", "floor", "ceil", "trunc") else self, op=name)
    method.__name__ = name
    return method


def _inplace_of(name):
    def method(self, *args, **kwargs):
        from .autograd import no_grad

        self._check_inplace()
        with no_grad():
            out = getattr(self.detach(), name)(*args, **kwargs)
        self._data[...] = out._data
        return self
    method.__name__ = name + "_"
    return method


class TensorMethods:
    # ---- indexing --------------------------------------------------------------------------------
    def gather(self, dim, index):
        index = _check_index(self, index, "gather", dim)
        if self.ndim:
            for k, (a, b) in enumerate(zip(index.shape, self.shape)):
                if k != norm_dim(dim, self.ndim) and a > b:
                    raise RuntimeError(f"Size does not match at dimension {k} expected index {list(index.shape)} "
                                       f"to be smaller than self {list(self.shape)} apart from dimension {norm_dim(dim, self.ndim)}")
        return ix.Gather.apply(index, self, dim=dim)

    def _scatter_src(self, src):
        T = _T()
        if isinstance(src, T):
            return src.to(self.dtype)
        return T._wrap(self.backend.xp.full(self._data.shape or (1,), src, dtype=self._data.dtype), self.backend)

    def scatter(self, dim, index, src=None, value=None):
        if isinstance(index, _T()) and index.ndim == 0 and self.ndim == 1:
            index = index.reshape(1)   # torch treats a 0-d index as 1-d (one_hot via scatter_(0, tensor(y), 1))
        index = _check_index(self, index, "scatter", dim)
        src = self._scatter_src(value if src is None else src)
        if src.ndim != index.ndim and src.numel() != 1:
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
        if src.ndim != index.ndim:
            src = _T()._wrap(self.backend.xp.broadcast_to(src._data.reshape(()), index.shape), self.backend)
        return ix.Scatter.apply(index, self, src, dim=dim)

    def scatter_add(self, dim, index, src):
        index = _check_index(self, index, "scatter_add", dim)
        if not isinstance(src, _T()) or src.ndim != index.ndim:
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
        return ix.ScatterAdd.apply(index, self, src.to(self.dtype), dim=dim)

    def index_select(self, dim, index):
        if not isinstance(index, _T()) or index.ndim > 1:
            raise IndexError("index_select(): Index is supposed to be a vector")
        if index._data.dtype.kind not in "iu":
            raise RuntimeError("index_select(): Expected dtype int32/int64 for index")
        n = self.shape[norm_dim(dim, self.ndim)] if self.ndim else 1
        if index.numel() and (int(index._data.max()) >= n or int(index._data.min()) < -n):
            raise IndexError(f"index out of range in self")
        return ix.IndexSelect.apply(index.reshape(-1).to(self.device), self, dim=dim)

    def masked_fill(self, mask, value):
        from .functions import where

        if not isinstance(mask, _T()) or mask.dtype != np.bool_:
            raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype "
                               f"{getattr(mask, 'dtype', type(mask).__name__)}")
        if isinstance(value, _T()):
            if value.ndim:
                raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                                   f"with {value.ndim} dimension(s).")
            value = value.item()
        v = _T()._wrap(self.backend.xp.asarray(value, dtype=self._data.dtype), self.backend)
        return where(mask, v, self)

    def masked_select(self, mask):
        b = self.backend.xp.broadcast_shapes(tuple(self.shape), tuple(mask.shape))
        return self.expand(*b)[mask.expand(*b)._data] if tuple(self.shape) != b else self[mask._data]

    def narrow(self, dim, start, length):
        d = norm_dim(dim, self.ndim)
        n = self.shape[d]
        start = start + n if start < 0 else start
        if not 0 <= start <= n or length < 0 or start + length > n:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def split(self, split_size_or_sections, dim=0):
        d = norm_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size_or_sections, int):
            s = split_size_or_sections
            if s <= 0 and n:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
            sizes = [min(s, n - i) for i in range(0, n, s)] if n else [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                                   f"at dimension {dim}), but got split_sizes={sizes}")
        out, at = [], 0
        for s in sizes:
            out.append(self.narrow(d, at, s))
            at += s
        return tuple(out)

    def chunk(self, chunks, dim=0):
        if chunks <= 0:
            raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
        n = self.shape[norm_dim(dim, self.ndim)]
        return self.split(max(-(-n // chunks), 1), dim)

    # ---- sorting ---------------------------------------------------------------------------------
    def argsort(self, dim=-1, descending=False, stable=False):
        return self.sort(dim, descending, stable)[1]

    def sort(self, dim=-1, descending=False, stable=False):
        """Always stable (a valid order for stable=False too): NaN sorts as the largest value."""
        from .tensor_ops import _topk

        return _topk(self, self.shape[norm_dim(dim, self.ndim)] if self.ndim else 1, dim, descending, name="sort")

    # ---- scans and reductions --------------------------------------------------------------------
    def cumsum(self, dim, dtype=None):
        x = self.to(dtype) if dtype is not None else (self.to(np.int64) if self._data.dtype.kind in "bui" else self)
        return ix.Cumsum.apply(x, dim=dim)

    def cumprod(self, dim, dtype=None):
        x = self.to(dtype) if dtype is not None else (self.to(np.int64) if self._data.dtype.kind in "bui" else self)
        return ix.Cumprod.apply(x, dim=dim)

    def prod(self, dim=None, keepdim=False, dtype=None):
        x = self.to(dtype) if dtype is not None else (self.to(np.int64) if self._data.dtype.kind in "bui" else self)
        return ix.Prod.apply(x, dim=dim, keepdim=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"std and var only support floating point and complex dtypes")
        c = 1 if correction is None and unbiased is None else (int(unbiased) if correction is None else correction)
        axes = norm_dims(dim, self.ndim)
        n = _prod(self.shape[a] for a in axes)
        mu = self.mean(axes if axes else None, keepdim=True) if self.ndim else self
        dev = self - mu
        return (dev * dev).sum(axes if self.ndim else None, keepdim) / max(n - c, 0)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def logsumexp(self, dim, keepdim=False):
        x = _floating(self)
        axes = norm_dims(dim, x.ndim)
        m = x.detach().amax(axes, keepdim=True) if x.numel() else x.detach().sum(axes, keepdim=True)
        m = _T()._wrap(self.backend.xp.where(self.backend.xp.isfinite(m._data), m._data, 0), self.backend)
        out = (x - m).exp().sum(axes, keepdim=True).log() + m
        return out if keepdim else out.reshape(tuple(n for k, n in enumerate(x.shape) if k not in axes))

    def amax(self, dim=(), keepdim=False):
        """Max over dims (all for ()), through backend.max_dim (the reduced dims merged into one)."""
        from .ops.reduce import one_dim

        x, axes = self._data, norm_dims(dim if dim != () else None, self.ndim)
        if not self.ndim or not axes:
            return _T()._wrap(self.backend.xp.asarray(x.max(axis=axes, keepdims=keepdim)), self.backend)
        if dim == () and x.size == 0:
            raise RuntimeError("amax(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        for a in axes:
            if x.shape[a] == 0:
                raise IndexError(f"amax(): Expected reduction dim {a} to have non-zero size.")
        xm, d = one_dim(x, axes)
        out = self.backend.max_dim(xm, d)[0]
        if keepdim:
            out = out.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
        return _T()._wrap(out, self.backend)

    def norm(self, p="fro", dim=None, keepdim=False):
        x = _floating(self)
        if p in ("fro", 2, 2.0):
            return (x * x).sum(dim, keepdim).sqrt()
        if p in (float("inf"), "inf"):
            return x.abs().max() if dim is None else x.abs().max(dim, keepdim)[0]
        if p == 1:
            return x.abs().sum(dim, keepdim)
        return (x.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def any(self, dim=None, keepdim=False):
        a = self._data.astype(bool).any(axis=None if dim is None else norm_dims(dim, self.ndim), keepdims=keepdim)
        return _T()._wrap(self.backend.xp.asarray(a), self.backend)

    def all(self, dim=None, keepdim=False):
        a = self._data.astype(bool).all(axis=None if dim is None else norm_dims(dim, self.ndim), keepdims=keepdim)
        return _T()._wrap(self.backend.xp.asarray(a), self.backend)

    # ---- elementwise -----------------------------------------------------------------------------
    log1p, expm1, exp2, rsqrt, square = (_unary(n) for n in ("log1p", "expm1", "exp2", "rsqrt", "square"))
    sin, cos, log2, log10, reciprocal = (_unary(n) for n in ("sin", "cos", "log2", "log10", "reciprocal"))
    round, floor, ceil, trunc, sign = (_unary(n) for n in ("round", "floor", "ceil", "trunc", "sign"))
    __round__ = round

    def isnan(self):
        return _T()._wrap(self.backend.xp.isnan(self._data), self.backend)

    def isinf(self):
        return _T()._wrap(self.backend.xp.isinf(self._data), self.backend)

    def isfinite(self):
        return _T()._wrap(self.backend.xp.isfinite(self._data), self.backend)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return un.NanToNum.apply(self, nan=nan, posinf=posinf, neginf=neginf)

    def maximum(self, other):
        from .tensor_ops import _operands

        return un.Maximum.apply(*_operands(self, other))

    def minimum(self, other):
        from .tensor_ops import _operands

        return un.Maximum.apply(*_operands(self, other), minimum=True)

    def isclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
        xp = self.backend.xp
        return _T()._wrap(xp.isclose(self._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan), self.backend)

    # ---- layout ----------------------------------------------------------------------------------
    def flip(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return un.Flip.apply(self, dims=tuple(norm_dim(d, self.ndim) for d in dims))

    def roll(self, shifts, dims=None):
        if dims is None:
            return un.Roll.apply(self.reshape(-1), shifts=shifts, dims=None).reshape(self.shape)
        if isinstance(shifts, (list, tuple)):
            shifts, dims = tuple(shifts), tuple(norm_dim(d, self.ndim) for d in dims)
        else:
            dims = norm_dim(dims, self.ndim)
        return un.Roll.apply(self, shifts=shifts, dims=dims)

    def diag(self, diagonal=0):
        if self.ndim not in (1, 2):
            raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")
        return un.Diag.apply(self, diagonal=diagonal)

    def tril(self, diagonal=0):
        return self._tri(diagonal, lower=True)

    def triu(self, diagonal=0):
        return self._tri(diagonal, lower=False)

    def _tri(self, k, lower):
        from .functions import where

        if self.ndim < 2:
            raise RuntimeError(f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions")
        xp = self.backend.xp
        r, c = self.shape[-2:]
        keep = xp.tri(r, c, k, dtype=bool) if lower else ~xp.tri(r, c, k - 1, dtype=bool)
        zero = _T()._wrap(xp.zeros((), self._data.dtype), self.backend)
        return where(_T()._wrap(keep, self.backend), self, zero)

    def expand_as(self, other):
        return self.expand(*other.shape)

    def repeat(self, *sizes):
        sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
        lead = len(sizes) - self.ndim
        x = self.reshape((1,) * lead + tuple(self.shape))
        inter, target = [], []
        for n, r in zip(x.shape, sizes):
            inter += [1, n]
            target += [r, n]
        return x.reshape(inter).expand(*target).reshape(tuple(n * r for n, r in zip(x.shape, sizes)))

    def repeat_interleave(self, repeats, dim=None):
        T = _T()
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else norm_dim(dim, x.ndim)
        n = x.shape[d]
        reps = repeats._data if isinstance(repeats, T) else repeats
        idx = self.backend.xp.repeat(self.backend.xp.arange(n), reps)
        return x.index_select(d, T._wrap(idx.astype(np.int64), self.backend))

    def type_as(self, other):
        return self.to(other.dtype)

    def half(self):
        return self.to(np.float16)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return _T()(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import zeros

        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import ones

        return ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        from .creation import full

        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    # ---- autograd --------------------------------------------------------------------------------
    def register_hook(self, hook):
        """hook(grad) -> None or a replacement grad, run when this tensor's gradient is computed."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        hooks = self.__dict__.setdefault("_grad_hooks", [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        from .functions import unique

        return unique(self, sorted, return_inverse, return_counts, dim)

    # ---- in-place variants (outside autograd, like the existing add_/mul_) -------------------------
    exp_, log_, sqrt_, abs_, neg_ = (_inplace_of(n) for n in ("exp", "log", "sqrt", "abs", "__neg__"))
    sigmoid_, tanh_, relu_, pow_ = (_inplace_of(n) for n in ("sigmoid", "tanh", "relu", "pow"))
    floor_, ceil_, round_, trunc_, sign_ = (_inplace_of(n) for n in ("floor", "ceil", "round", "trunc", "sign"))
    log1p_, expm1_, square_, rsqrt_, reciprocal_ = (_inplace_of(n) for n in ("log1p", "expm1", "square", "rsqrt", "reciprocal"))
    masked_fill_, scatter_, scatter_add_, clip_ = (_inplace_of(n) for n in ("masked_fill", "scatter", "scatter_add", "clamp"))
    index_fill_ = None
    nan_to_num_, cumsum_, t_ = (_inplace_of(n) for n in ("nan_to_num", "cumsum", "t"))


del TensorMethods.index_fill_, TensorMethods.t_


class _RemovableHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
