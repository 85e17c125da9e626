"""Reductions: sum, mean, max/min (with and without dim), each with its backward."""
from ..autograd import Function
from ._util import norm_dim, norm_dims


def _expand_back(xp, g, shape, axes, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        g = xp.expand_dims(g, axes) if axes else g
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, x, dim=None, keepdim=False):
        axes = norm_dims(dim, x.ndim)
        self.save(x.shape, axes, keepdim)
        if x.ndim == 2 and axes == (0,) and x.dtype.kind == "f" and x.size:
            out = self.backend.sum_rows(x)  # the bias-gradient kernel
            return out.reshape(1, -1) if keepdim else out
        return x.sum(axis=axes, keepdims=keepdim)

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
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, dout, shape, axes, keepdim, count):
        return _expand_back(self.xp, dout / count, shape, axes, keepdim)


class MaxAll(Function):
    """max()/min() over every element; the gradient is shared evenly among ties (as torch does)."""

    def forward(self, x, minimum=False):
        if x.size == 0:
            raise RuntimeError("max(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        out = x.min() if minimum else x.max()
        self.save(x, out)
        return self.xp.asarray(out)

    def backward(self, dout, x, out):
        mask = x == out
        return mask * (dout / mask.sum())


class MaxDim(Function):
    """values of max/min along dim; indices are computed alongside (not differentiable)."""

    def forward(self, x, dim, keepdim=False, minimum=False):
        dim = norm_dim(dim, x.ndim)
        if x.ndim and x.shape[dim] == 0:
            raise IndexError(f"max(): Expected reduction dim {dim} to have non-zero size.")
        xp = self.xp
        idx = (xp.argmin if minimum else xp.argmax)(x, axis=dim if x.ndim else None)
        idx_k = xp.expand_dims(idx, dim) if x.ndim else idx
        values = xp.take_along_axis(x, idx_k, axis=dim) if x.ndim else x
        self.indices = idx_k if keepdim else idx
        self.save(x.shape, idx_k, dim, keepdim)
        return values if keepdim or not x.ndim else xp.squeeze(values, dim)

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
