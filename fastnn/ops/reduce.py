"""Reductions: sum, mean, max/min (with and without dim), each with its backward. Along a dim they run
the backend's reduce_dim / max_dim primitives (kernels/reduce); several dims are merged into one first."""
from ..autograd import Function
from ._util import norm_dim, norm_dims, prod


def _expand_back(xp, g, shape, axes, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        g = xp.expand_dims(g, axes) if axes else g
    return xp.broadcast_to(g, shape)


def one_dim(x, axes):
    """(x with the reduced axes (sorted, >= 1 of them) merged into one, that axis): consecutive axes merge
    by a reshape, other sets are moved last first (a copy)."""
    if len(axes) == 1:
        return x, axes[0]
    n = prod(x.shape[a] for a in axes)
    if axes == tuple(range(axes[0], axes[-1] + 1)):
        return x.reshape(x.shape[:axes[0]] + (n,) + x.shape[axes[-1] + 1:]), axes[0]
    keep = [i for i in range(x.ndim) if i not in axes]
    return x.transpose(keep + list(axes)).reshape(tuple(x.shape[i] for i in keep) + (n,)), len(keep)


def reduce_arrays(backend, x, op, axes, keepdim):
    """op ('sum' | 'prod') of x over axes (sorted, non-negative) through backend.reduce_dim."""
    if not x.ndim or not axes:  # 0-d, or torch's empty dim list: the array module's call
        return getattr(x, op)(axis=axes, keepdims=keepdim)
    xm, d = one_dim(x, axes)
    out = backend.reduce_dim(op, xm, d)
    return out.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape))) if keepdim else out


class Sum(Function):
    def forward(self, x, dim=None, keepdim=False):
        axes = norm_dims(dim, x.ndim)
        self.save(x.shape, axes, keepdim)
        if x.ndim == 2 and axes == (0,) and x.dtype.kind == "f" and x.size:
            out = self.backend.sum_rows(x)  # the bias-gradient kernel
            return out.reshape(1, -1) if keepdim else out
        return reduce_arrays(self.backend, x, "sum", axes, keepdim)

    def backward(self, dout, shape, axes, keepdim):
        return _expand_back(self.xp, dout, shape, axes, keepdim)


class Mean(Function):
    def forward(self, x, dim=None, keepdim=False):
        if x.dtype.kind != "f":
            raise TypeError(f"mean(): could not infer output dtype. Input dtype must be floating point, got {x.dtype}")
        axes = norm_dims(dim, x.ndim)
        count = 1
        for a in axes:
            count *= x.shape[a]
        self.save(x.shape, axes, keepdim, count)
        total = reduce_arrays(self.backend, x, "sum", axes, keepdim)
        return total / count if count else self.xp.full_like(total, float("nan"))

    def backward(self, dout, shape, axes, keepdim, count):
        return _expand_back(self.xp, dout / count, shape, axes, keepdim)


class MaxAll(Function):
    """max()/min() over every element; the gradient is shared evenly among ties (as torch does)."""

    def forward(self, x, minimum=False):
        if x.size == 0:
            raise RuntimeError(f"{'min' if minimum else 'max'}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        out = self.backend.max_dim(x.reshape(-1), 0, minimum)[0].reshape(())
        self.save(x, out)
        return out

    def backward(self, dout, x, out):
        mask = x == out
        return mask * (dout / mask.sum())


def max_arrays(backend, x, dim, keepdim=False, minimum=False, name=None):
    """(values, indices int64) of the max (minimum: min) of x along dim through backend.max_dim, by torch's
    rules (the first index on ties; a NaN is the extreme); dim=None: over the flattened x (keepdim keeps
    every dim, as size 1). `name` is the op the errors name (default 'max' / 'min')."""
    name = name or ("min" if minimum else "max")
    if dim is None:
        if x.size == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        values, idx = backend.max_dim(x.reshape(-1), 0, minimum)
        shape = (1,) * x.ndim if keepdim else ()
        return values.reshape(shape), idx.reshape(shape)
    d = norm_dim(dim, x.ndim)
    if not x.ndim:
        return x.copy(), backend.xp.zeros((), "int64")
    if x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    values, idx = backend.max_dim(x, d, minimum)
    if keepdim:
        values, idx = backend.xp.expand_dims(values, d), backend.xp.expand_dims(idx, d)
    return values, idx


class MaxDim(Function):
    """values of max/min along dim; the indices (self.indices) come alongside (not differentiable)."""

    def forward(self, x, dim, keepdim=False, minimum=False):
        values, self.indices = max_arrays(self.backend, x, dim, keepdim, minimum)
        dim = norm_dim(dim, x.ndim)
        idx_k = self.indices if keepdim or not x.ndim else self.xp.expand_dims(self.indices, dim)
        self.save(x.shape, idx_k, dim, keepdim)
        return values

    def backward(self, dout, shape, idx_k, dim, keepdim):
        xp = self.xp
        dx = xp.zeros(shape, dtype=dout.dtype)
        if not len(shape):
            return dout.reshape(shape)
        g = dout if keepdim else xp.expand_dims(dout, dim)
        xp.put_along_axis(dx, idx_k, g, axis=dim)
        return dx


def topk_arrays(backend, x, k, dim, largest):
    """(values, indices int64): the first k of x sorted along dim (largest: descending) in torch's stable
    order (backend.topk: NaN is the largest value, ties keep index order); a 0-d x is one element."""
    d = norm_dim(dim, x.ndim)
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range (k={k}, size={n})")
    if x.ndim == 0:
        values, idx = backend.topk(x.reshape(1), k, 0, largest)
        return (values.reshape(()), idx.reshape(())) if k == 1 else (values, idx)
    return backend.topk(x, k, d, largest)


class TopK(Function):
    """The k largest (or smallest) values along dim, sorted (sort is TopK with k = the dim's size); the
    gradient flows back to where they came from."""

    def forward(self, x, k, dim=-1, largest=True):
        values, self.indices = topk_arrays(self.backend, x, k, dim, largest)
        self.save(x.shape, self.indices, norm_dim(dim, x.ndim))
        return values

    def backward(self, dout, shape, idx, dim):
        xp = self.xp
        dx = xp.zeros(shape or (1,), dtype=dout.dtype)
        xp.put_along_axis(dx, idx.reshape(idx.shape or (1,)), dout.reshape(dout.shape or (1,)), axis=dim)
        return dx.reshape(shape)
