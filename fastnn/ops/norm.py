"""Normalisation ops with hand-derived backwards: layer_norm (last k dims), group_norm (channel groups)
and normalize (x / max(||x||_p, eps) along a dim)."""
from ..autograd import Function
from ._util import prod
from .activation_extra import check_float


def _norm_rows(xp, rows, eps):
    """(xhat, invstd) for rows (M, n): each row standardised with its biased variance."""
    mean = rows.mean(axis=1, keepdims=True)
    var = rows.var(axis=1, keepdims=True)
    invstd = 1.0 / xp.sqrt(var + eps)
    return (rows - mean) * invstd, invstd


def _dnorm_rows(dxhat, xhat, invstd):
    """d rows from d xhat: invstd/n (n dxhat - sum dxhat - xhat sum(dxhat xhat)) per row."""
    n = xhat.shape[1]
    s1 = dxhat.sum(axis=1, keepdims=True)
    s2 = (dxhat * xhat).sum(axis=1, keepdims=True)
    return (invstd / n) * (n * dxhat - s1 - xhat * s2)


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b over the last len(normalized_shape) dims. Inputs x[, w[, b]]."""

    def forward(self, x, *affine, normalized_shape, eps=1e-5):
        check_float(x, "LayerNormKernelImpl")
        k = len(normalized_shape)
        lead = tuple(x.shape[:x.ndim - k])
        rows = x.reshape(prod(lead), prod(normalized_shape))
        xhat, invstd = _norm_rows(self.xp, rows, eps)
        xhat = xhat.reshape(x.shape).astype(x.dtype, copy=False)
        out = xhat
        if affine:
            out = out * affine[0]
            if len(affine) > 1:
                out = out + affine[1]
        self.save(xhat, invstd, affine[0] if affine else None, len(affine), k)
        return out.astype(x.dtype, copy=False)

    def backward(self, dout, xhat, invstd, w, n_affine, k):
        lead_axes = tuple(range(xhat.ndim - k))
        dxhat = dout if w is None else dout * w
        m = invstd.shape[0]
        per = xhat.size // m if m else 0
        dx = _dnorm_rows(dxhat.reshape(m, per), xhat.reshape(m, per), invstd).reshape(xhat.shape)
        grads = [dx.astype(xhat.dtype, copy=False)]
        if n_affine >= 1:
            grads.append((dout * xhat).sum(axis=lead_axes) if self.needs_input_grad[1] else None)
        if n_affine == 2:
            grads.append(dout.sum(axis=lead_axes) if self.needs_input_grad[2] else None)
        return tuple(grads) if len(grads) > 1 else grads[0]


class GroupNorm(Function):
    """x (N, C, *) split into G groups of C/G channels; each (sample, group) standardised, then per-channel
    affine y = xhat w[c] + b[c]. Inputs x[, w, b]."""

    def forward(self, x, *affine, num_groups, eps=1e-5):
        check_float(x, "GroupNormKernelImpl")
        N = x.shape[0]
        rows = x.reshape(N * num_groups, prod(x.shape[1:]) // num_groups)
        xhat, invstd = _norm_rows(self.xp, rows, eps)
        xhat = xhat.reshape(x.shape).astype(x.dtype, copy=False)
        cshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        out = xhat
        if affine:
            out = xhat * affine[0].reshape(cshape) + affine[1].reshape(cshape)
        self.save(xhat, invstd, affine[0] if affine else None, cshape)
        return out.astype(x.dtype, copy=False)

    def backward(self, dout, xhat, invstd, w, cshape):
        dxhat = dout if w is None else dout * w.reshape(cshape)
        m = invstd.shape[0]
        per = xhat.size // m if m else 0
        dx = _dnorm_rows(dxhat.reshape(m, per), xhat.reshape(m, per), invstd).reshape(xhat.shape)
        dx = dx.astype(xhat.dtype, copy=False)
        if w is None:
            return dx
        axes = (0,) + tuple(range(2, xhat.ndim))
        dw = (dout * xhat).sum(axis=axes) if self.needs_input_grad[1] else None
        db = dout.sum(axis=axes) if self.needs_input_grad[2] else None
        return dx, dw, db


class Normalize(Function):
    """y = x / d, d = max(||x||_p, eps) along dim. dx = g/d - [n > eps] x_p' sum(g x)/d^2, where
    x_p' = dn/dx = sign(x) |x|^(p-1) / n^(p-1)."""

    def forward(self, x, p=2.0, dim=1, eps=1e-12):
        xp = self.xp
        n = (xp.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        d = xp.maximum(n, eps)
        self.save(x, n, d, p, dim, eps)
        return (x / d).astype(x.dtype, copy=False)

    def backward(self, dout, x, n, d, p, dim, eps):
        xp = self.xp
        dx = dout / d
        s = (dout * x).sum(axis=dim, keepdims=True) / (d * d)
        active = n > eps
        safe_n = xp.where(active, n, 1.0)
        dn = xp.sign(x) * xp.abs(x) ** (p - 1) / safe_n ** (p - 1)
        dx = dx - xp.where(active, s, 0.0) * dn
        return dx.astype(x.dtype, copy=False)
