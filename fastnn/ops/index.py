"""Indexing ops (gather, scatter, scatter_add, index_select), scans (cumsum, cumprod) and prod, each with its backward."""
from ..autograd import Function
from ._util import norm_dim


def _axis(x, dim):
    return norm_dim(dim, x.ndim) if x.ndim else 0


def _leading(x, index, d):
    """The view of x that index covers on every axis but d (torch allows index smaller than x)."""
    return x[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(index.shape))]


def _gather(backend, x, index, d):
    """backend.gather over the leading part of x that index covers."""
    return backend.gather(_leading(x, index, d), index, d)


class Gather(Function):
    """out[i][j] = x[i][index[i][j]] along dim (index is a constant, first input)."""

    def forward(self, index, x, dim):
        d = _axis(x, dim)
        self.save(index, x.shape, d)
        if x.ndim == 0:
            return x.reshape(index.shape)
        return _gather(self.backend, x, index, d)

    def backward(self, dout, index, shape, d):
        xp = self.xp
        dx = xp.zeros(shape, dtype=dout.dtype)
        if not len(shape):
            return None, dout.sum().reshape(())
        return None, self.backend.scatter_add(dx, index, dout, d)


class ScatterAdd(Function):
    """out = x with src[...] added at x[index[...]] along dim (repeated indices accumulate)."""

    def forward(self, index, x, src, dim):
        d = _axis(x, dim)
        self.save(index, d)
        out = self.xp.array(x, copy=True)
        if index.size:
            self.backend.scatter_add(out, index, src[tuple(slice(0, n) for n in index.shape)], d)
        return out

    def backward(self, dout, index, d):
        dsrc = None
        if self.needs_input_grad[2]:
            dsrc_part = _gather(self.backend, dout, index, d)
            src_shape = self.inputs[2].shape
            dsrc = self.xp.zeros(src_shape, dtype=dout.dtype)
            dsrc[tuple(slice(0, n) for n in index.shape)] = dsrc_part
        return None, dout, dsrc


class Scatter(Function):
    """out = x with src written at x[index[...]] along dim (the last write wins, as torch's CPU)."""

    def forward(self, index, x, src, dim):
        xp = self.xp
        d = _axis(x, dim)
        out = xp.array(x, copy=True)
        part = src[tuple(slice(0, n) for n in index.shape)]
        mask = xp.zeros(x.shape, dtype=bool)
        if index.size:                       # views: the writes land in out and mask
            xp.put_along_axis(_leading(out, index, d), index, part, axis=d)
            xp.put_along_axis(_leading(mask, index, d), index, True, axis=d)
        self.save(index, mask, d)
        return out

    def backward(self, dout, index, mask, d):
        xp = self.xp
        dx = xp.where(mask, xp.zeros((), dout.dtype), dout)
        dsrc = None
        if self.needs_input_grad[2]:
            dsrc = xp.zeros(self.inputs[2].shape, dtype=dout.dtype)
            dsrc[tuple(slice(0, n) for n in index.shape)] = _gather(self.backend, dout, index, d)
        return None, dx, dsrc


class IndexSelect(Function):
    """out = x.take(index, axis=dim); backward adds dout back at the selected rows."""

    def forward(self, index, x, dim):
        d = _axis(x, dim)
        self.save(index, x.shape, d)
        return self.xp.take(x, index, axis=d) if x.ndim else x[index].reshape(index.shape[:0] or ())

    def backward(self, dout, index, shape, d):
        xp = self.xp
        dx = xp.zeros(shape, dtype=dout.dtype)
        if not len(shape):
            return None, dout.sum().reshape(())
        dxm = xp.moveaxis(dx, d, 0)
        self.backend.index_add(dxm, index, xp.moveaxis(dout, d, 0))
        return None, dx


class Cumsum(Function):
    def forward(self, x, dim):
        d = _axis(x, dim)
        self.save(d)
        return self.backend.cumsum(x, d) if x.ndim else x.copy()

    def backward(self, dout, d):
        if dout.ndim == 0:
            return dout
        xp = self.xp
        return xp.flip(self.backend.cumsum(xp.flip(dout, d), d), d)


class Cumprod(Function):
    """Backward: dx_k = sum_{i>=k} dout_i * prod_{j<=i, j!=k} x_j, by a reverse scan that is exact with
    zeros (backend.cumprod_backward)."""

    def forward(self, x, dim):
        d = _axis(x, dim)
        out = self.backend.cumprod(x, d) if x.ndim else x.copy()
        self.save(x, out, d)
        return out

    def backward(self, dout, x, out, d):
        if x.ndim == 0:
            return dout
        return self.backend.cumprod_backward(dout, x, out, d)


class Prod(Function):
    """Product over one dim or all elements; backward exact with zeros (product of the others)."""

    def forward(self, x, dim=None, keepdim=False):
        xp = self.xp
        d = None if dim is None else _axis(x, dim)
        if x.ndim == 0:
            out = x.prod()
        elif d is None:
            out = self.backend.reduce_dim("prod", x.reshape(-1), 0)
        else:
            out = self.backend.reduce_dim("prod", x, d)
            out = xp.expand_dims(out, d) if keepdim else out
        self.save(x, d, keepdim)
        return xp.asarray(out)

    def backward(self, dout, x, d, keepdim):
        xp = self.xp
        if d is None or x.ndim == 0:
            flat = x.reshape(-1)
            return dout.reshape(()) * _prod_others(xp, flat[None, :]).reshape(x.shape) if flat.size else xp.zeros_like(x)
        g = dout if keepdim else xp.expand_dims(dout, d)
        xm = xp.moveaxis(x, d, -1)
        others = _prod_others(xp, xm.reshape(-1, xm.shape[-1])).reshape(xm.shape)
        return g * xp.moveaxis(others, -1, d)


def _prod_others(xp, rows):
    """For each row, the product of all entries but the k-th, via prefix and suffix products."""
    ones = xp.ones(rows.shape[:-1] + (1,), dtype=rows.dtype)
    pre = xp.concatenate([ones, xp.cumprod(rows, axis=-1)[:, :-1]], axis=-1)
    suf = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(rows, -1), axis=-1)[:, :-1]], axis=-1), -1)
    return pre * suf
