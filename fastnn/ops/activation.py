"""Activations and (log-)softmax: forward and backward through the backend's fused kernels."""
from ..autograd import Function
from ._util import norm_dim, prod


def _check_float(a, what):
    if a.dtype.kind != "f":
        raise TypeError(f"{what} is not implemented for dtype {a.dtype} (use a floating-point tensor)")


class Activation(Function):
    """relu / sigmoid / tanh: out = act(x); backward uses out only (dx = dout * act'(out))."""

    def forward(self, x, act):
        if x.dtype.kind != "f":
            if act != "relu":
                _check_float(x, act)
            return x * (x > 0)  # integer relu, like torch
        out = self.backend.activation(x, act)
        self.save(out, act)
        return out

    def backward(self, dout, out, act):
        return self.backend.activation_backward(dout, out, act)


def _to_rows(xp, x, dim):
    """x with `dim` moved last and flattened to 2-D rows; returns (rows, moved_shape)."""
    moved = xp.moveaxis(x, dim, -1)
    last = moved.shape[-1] if moved.ndim else 1
    return moved.reshape(prod(moved.shape[:-1]), last), moved.shape


def _from_rows(xp, rows, moved_shape, dim):
    return xp.moveaxis(rows.reshape(moved_shape), -1, dim)


class Softmax(Function):
    """softmax / log_softmax along `dim`, through the row-wise kernels on a 2-D view."""

    def forward(self, x, dim, log=False):
        _check_float(x, "log_softmax" if log else "softmax")
        dim = norm_dim(dim, x.ndim)
        rows, moved_shape = _to_rows(self.xp, x, dim)
        out_rows = self.backend.softmax(rows, log=log)
        self.save(out_rows, moved_shape, dim, log)
        return _from_rows(self.xp, out_rows, moved_shape, dim)

    def backward(self, dout, out_rows, moved_shape, dim, log):
        drows, _ = _to_rows(self.xp, dout, dim)
        dx_rows = self.backend.softmax_backward(drows, out_rows, log=log)
        return _from_rows(self.xp, dx_rows, moved_shape, dim)
