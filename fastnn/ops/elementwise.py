"""Elementwise arithmetic with broadcasting: forward and hand-derived backward for each op."""
from ..autograd import Function
from ._util import ieee_quiet, unbroadcast


class Add(Function):
    def forward(self, a, b):
        self.save(a.shape, b.shape)
        return a + b

    def backward(self, dout, a_shape, b_shape):
        return unbroadcast(self.xp, dout, a_shape), unbroadcast(self.xp, dout, b_shape)


class Sub(Function):
    def forward(self, a, b):
        self.save(a.shape, b.shape)
        return a - b

    def backward(self, dout, a_shape, b_shape):
        return unbroadcast(self.xp, dout, a_shape), unbroadcast(self.xp, -dout, b_shape)


class Mul(Function):
    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, dout, a, b):
        da = unbroadcast(self.xp, dout * b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(self.xp, dout * a, b.shape) if self.needs_input_grad[1] else None
        return da, db


class Div(Function):
    def forward(self, a, b):
        self.save(a, b)
        with ieee_quiet():
            return a / b

    def backward(self, dout, a, b):
        with ieee_quiet():   # b == 0 gives inf/NaN gradients silently, as torch's
            da = unbroadcast(self.xp, dout / b, a.shape) if self.needs_input_grad[0] else None
            db = unbroadcast(self.xp, -dout * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return da, db


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, dout):
        return -dout


class Pow(Function):
    """a ** b for two tensors (b may be a 0-d constant made from a Python scalar)."""

    def forward(self, a, b):
        with ieee_quiet():
            out = a ** b
        self.save(a, b, out)
        return out

    def backward(self, dout, a, b, out):
        xp = self.xp
        da = db = None
        if self.needs_input_grad[0]:
            da = unbroadcast(xp, dout * b * a ** (b - 1), a.shape)
        if self.needs_input_grad[1]:
            safe_log = xp.log(xp.where(a > 0, a, 1))
            db = unbroadcast(xp, dout * out * safe_log, b.shape)
        return da, db


class Exp(Function):
    def forward(self, a):
        with ieee_quiet():
            out = self.xp.exp(a)
        self.save(out)
        return out

    def backward(self, dout, out):
        return dout * out


class Log(Function):
    def forward(self, a):
        self.save(a)
        with ieee_quiet():
            return self.xp.log(a)

    def backward(self, dout, a):
        with ieee_quiet():
            return dout / a


class Sqrt(Function):
    def forward(self, a):
        with ieee_quiet():
            out = self.xp.sqrt(a)
        self.save(out)
        return out

    def backward(self, dout, out):
        with ieee_quiet():   # sqrt(0)'s gradient is inf (0/0 NaN under a zero dout), silently as torch's
            return dout / (2 * out)


class Abs(Function):
    def forward(self, a):
        self.save(a)
        return self.xp.abs(a)

    def backward(self, dout, a):
        return dout * self.xp.sign(a)


class Clamp(Function):
    def forward(self, a, min=None, max=None):
        out = self.xp.clip(a, min, max)
        self.save(a, min, max)
        return out

    def backward(self, dout, a, lo, hi):
        mask = self.xp.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        return dout * mask


class Where(Function):
    """where(cond, a, b); cond is a constant (first input, never differentiated)."""

    def forward(self, cond, a, b):
        self.save(cond, a.shape, b.shape)
        return self.xp.where(cond, a, b)

    def backward(self, dout, cond, a_shape, b_shape):
        zero = self.xp.zeros((), dout.dtype)
        return (None, unbroadcast(self.xp, self.xp.where(cond, dout, zero), a_shape),
                unbroadcast(self.xp, self.xp.where(cond, zero, dout), b_shape))
