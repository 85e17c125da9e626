"""Shape and indexing ops: reshape, permute, expand, getitem, cat, stack — views forward, scatter back."""
import numpy as np

from ..autograd import Function
from ._util import unbroadcast


class Reshape(Function):
    def forward(self, x, shape):
        self.save(x.shape)
        return x.reshape(shape)

    def backward(self, dout, in_shape):
        return dout.reshape(in_shape)


class Permute(Function):
    def forward(self, x, dims):
        self.save(dims)
        return x.transpose(dims)

    def backward(self, dout, dims):
        return dout.transpose(np.argsort(dims))


class Expand(Function):
    def forward(self, x, shape):
        self.save(x.shape)
        return self.xp.broadcast_to(x, shape)

    def backward(self, dout, in_shape):
        return unbroadcast(self.xp, dout, in_shape)


def _is_basic(index):
    """True when indexing by `index` never repeats an element (ints, slices, Ellipsis, None, masks)."""
    items = index if isinstance(index, tuple) else (index,)
    for it in items:
        if it is None or it is Ellipsis or isinstance(it, (int, np.integer, slice)):
            continue
        if getattr(it, "dtype", None) is not None and it.dtype == np.bool_:
            continue
        return False
    return True


class GetItem(Function):
    def forward(self, x, index):
        self.save(x.shape, x.dtype, index)
        return x[index]

    def backward(self, dout, shape, dtype, index):
        dx = self.xp.zeros(shape, dtype=dout.dtype)
        if _is_basic(index):
            dx[index] = dout
        else:
            self.backend.index_add(dx, index, dout)
        return dx


class Cat(Function):
    def forward(self, *arrays, dim=0):
        self.save([a.shape[dim] for a in arrays], dim)
        return self.xp.concatenate(arrays, axis=dim)

    def backward(self, dout, sizes, dim):
        splits = np.cumsum(sizes)[:-1].tolist()
        return tuple(self.xp.split(dout, splits, axis=dim))


class Stack(Function):
    def forward(self, *arrays, dim=0):
        self.save(len(arrays), dim)
        return self.xp.stack(arrays, axis=dim)

    def backward(self, dout, n, dim):
        return tuple(self.xp.take(dout, i, axis=dim) for i in range(n))


class Copy(Function):
    """clone() and contiguous(): a fresh C-contiguous copy; the gradient passes straight through."""

    def forward(self, x):
        return self.xp.array(x, copy=True, order="C")

    def backward(self, dout):
        return dout


class Cast(Function):
    """to(dtype): the gradient is cast back to the input's dtype."""

    def forward(self, x, dtype):
        self.save(x.dtype)
        return x.astype(dtype)

    def backward(self, dout, in_dtype):
        return dout.astype(in_dtype)


class ToDevice(Function):
    """to(device): a host round trip (the only place two backends meet); backward moves dout back."""

    @classmethod
    def apply(cls, x, target):
        from ..autograd import is_grad_enabled
        from ..tensor import Tensor

        fn = cls(x.backend, (x,))
        out = Tensor._wrap(target.asarray(x.backend.to_numpy(x._data)), target)
        if is_grad_enabled() and x.requires_grad:
            fn.save(target)
            out.requires_grad, out.grad_fn = True, fn
        return out

    def backward(self, dout, target):
        return self.backend.asarray(target.to_numpy(dout))
