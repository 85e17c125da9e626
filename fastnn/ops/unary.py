"""Elementwise unary math (log1p, expm1, exp2, rsqrt, square, rounding, ...) and maximum/minimum, flip, roll, diag."""
import numpy as np

from ..autograd import Function
from ._util import ieee_quiet, unbroadcast

# name -> (forward(xp, x), backward(xp, dout, x, out)); a None backward means a zero gradient
_UNARY = {
    "log1p": (lambda xp, x: xp.log1p(x), lambda xp, g, x, o: g / (1 + x)),
    "expm1": (lambda xp, x: xp.expm1(x), lambda xp, g, x, o: g * (o + 1)),
    "exp2": (lambda xp, x: xp.exp2(x), lambda xp, g, x, o: g * o * np.log(2.0)),
    "rsqrt": (lambda xp, x: 1 / xp.sqrt(x), lambda xp, g, x, o: -0.5 * g * o * o * o),
    "square": (lambda xp, x: x * x, lambda xp, g, x, o: 2 * g * x),
    "sin": (lambda xp, x: xp.sin(x), lambda xp, g, x, o: g * xp.cos(x)),
    "cos": (lambda xp, x: xp.cos(x), lambda xp, g, x, o: -g * xp.sin(x)),
    "log2": (lambda xp, x: xp.log2(x), lambda xp, g, x, o: g / (x * np.log(2.0))),
    "log10": (lambda xp, x: xp.log10(x), lambda xp, g, x, o: g / (x * np.log(10.0))),
    "reciprocal": (lambda xp, x: 1 / x, lambda xp, g, x, o: -g * o * o),
    "round": (lambda xp, x: xp.round(x), None),
    "floor": (lambda xp, x: xp.floor(x), None),
    "ceil": (lambda xp, x: xp.ceil(x), None),
    "trunc": (lambda xp, x: xp.trunc(x), None),
    "sign": (lambda xp, x: xp.sign(x), None),
}


class Unary(Function):
    def forward(self, x, op):
        with ieee_quiet():
            out = _UNARY[op][0](self.xp, x)
        if out.dtype != x.dtype:
            out = out.astype(x.dtype)
        self.save(x, out, op)
        return out

    def backward(self, dout, x, out, op):
        bw = _UNARY[op][1]
        return self.xp.zeros_like(dout) if bw is None else bw(self.xp, dout, x, out)


class NanToNum(Function):
    def forward(self, x, nan=0.0, posinf=None, neginf=None):
        self.save(self.xp.isfinite(x))
        return self.xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, dout, finite):
        return dout * finite


class Maximum(Function):
    """maximum/minimum of two tensors; on ties the gradient is split evenly, as torch does."""

    def forward(self, a, b, minimum=False):
        xp = self.xp
        self.save(a, b, minimum)
        return xp.minimum(a, b) if minimum else xp.maximum(a, b)

    def backward(self, dout, a, b, minimum):
        wa = (a < b) if minimum else (a > b)
        w = wa + 0.5 * (a == b)
        return unbroadcast(self.xp, dout * w, a.shape), unbroadcast(self.xp, dout * (1 - w), b.shape)


class Flip(Function):
    def forward(self, x, dims):
        self.save(dims)
        return self.xp.flip(x, dims) if dims else x.copy()

    def backward(self, dout, dims):
        return self.xp.flip(dout, dims) if dims else dout


class Roll(Function):
    def forward(self, x, shifts, dims):
        self.save(shifts, dims)
        return self.xp.roll(x, shifts, dims)

    def backward(self, dout, shifts, dims):
        neg = tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts
        return self.xp.roll(dout, neg, dims)


class Diag(Function):
    """diag: vector -> matrix with it on the k-th diagonal, matrix -> its k-th diagonal."""

    def forward(self, x, diagonal=0):
        self.save(x.shape, diagonal)
        return self.xp.array(self.xp.diag(x, diagonal), copy=True)

    def backward(self, dout, shape, k):
        xp = self.xp
        if len(shape) == 1:
            return xp.array(xp.diag(dout, k), copy=True)
        dx = xp.zeros(shape, dtype=dout.dtype)
        n = dout.shape[0]
        rows = xp.arange(n) + max(-k, 0)
        cols = xp.arange(n) + max(k, 0)
        dx[rows, cols] = dout
        return dx


class Einsum(Function):
    """einsum over plain subscripts (no '...'); each operand's gradient is another einsum."""

    def forward(self, *ops, spec):
        ins, out = spec
        self.save(ops, ins, out)
        return self.xp.asarray(self.xp.einsum(",".join(ins) + "->" + out, *ops))

    def backward(self, dout, ops, ins, out):
        xp = self.xp
        grads = []
        for i, sub in enumerate(ins):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ins) if j != i]
            avail = set(out).union(*others) if others else set(out)
            target = "".join(dict.fromkeys(c for c in sub if c in avail))
            args = [dout] + [o for j, o in enumerate(ops) if j != i]
            g = xp.einsum(",".join([out] + others) + "->" + target, *args)
            grads.append(_expand_subs(xp, g, target, sub, ops[i].shape))
        return tuple(grads)


def _expand_subs(xp, g, have, want, shape):
    """Lay g (subscripts `have`, in want's order) out over `want` (a repeated letter is a diagonal)."""
    sizes = dict(zip(want, shape))
    full = "".join(dict.fromkeys(want))
    missing = tuple(k for k, c in enumerate(full) if c not in have)
    if missing:
        g = xp.expand_dims(g, missing)
    g = xp.broadcast_to(g, [sizes[c] for c in full])
    if want == full:
        return xp.ascontiguousarray(g)
    out = xp.zeros(shape, dtype=g.dtype)
    xp.einsum(want + "->" + full, out)[...] = g
    return out
