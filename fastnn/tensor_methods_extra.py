"""Tensor methods torch programs use that compose existing ops (so their gradients are the composed
ops' hand-derived backwards): neg, clamp_min/max, lerp, addcmul/addcdiv, fmod/remainder (and %), frac,
floor division (//), index_fill; more in-place variants, including the shape-changing t_/transpose_/
squeeze_/unsqueeze_ (which rebind the tensor to a view, outside autograd)."""
from .ops._util import norm_dim
from .tensor_methods import _inplace_of


def _reshaped_inplace_of(name):
    """In-place variant of a view op: the tensor takes the view's shape (outside autograd)."""
    def method(self, *args, **kwargs):
        from .autograd import no_grad

        self._check_inplace()
        with no_grad():
            self._data = getattr(self.detach(), name)(*args, **kwargs)._data
        return self
    method.__name__ = name + "_"
    return method


class TensorMethodsExtra:
    def neg(self):
        return -self

    negative = neg

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def lerp(self, end, weight):
        """self + weight * (end - self)."""
        return self + (end - self) * weight

    def addcmul(self, tensor1, tensor2, value=1):
        return self + tensor1 * tensor2 * value

    def addcdiv(self, tensor1, tensor2, value=1):
        return self + tensor1 / tensor2 * value

    def fmod(self, other):
        """C's fmod: the remainder takes the dividend's sign (x - trunc(x / y) * y)."""
        from .functions import div

        return self - div(self, other, rounding_mode="trunc") * other

    def remainder(self, other):
        """Python's %: the remainder takes the divisor's sign (x - floor(x / y) * y)."""
        from .functions import div

        return self - div(self, other, rounding_mode="floor") * other

    def floor_divide(self, other):
        from .functions import div

        return div(self, other, rounding_mode="floor")

    __mod__, __floordiv__ = remainder, floor_divide

    def __rmod__(self, other):
        return self.new_tensor(other).remainder(self) if not isinstance(other, type(self)) else other.remainder(self)

    def frac(self):
        return self - self.trunc()

    def index_fill(self, dim, index, value):
        """Entries at `index` along `dim` set to value (a masked where: no gradient reaches them)."""
        from .functions import where

        d = norm_dim(dim, self.ndim) if self.ndim else 0
        xp = self.backend.xp
        mask = xp.zeros(self.shape[d] if self.ndim else 1, dtype=bool)
        mask[index._data if hasattr(index, "_data") else xp.asarray(index)] = True
        shape = [1] * self.ndim
        if self.ndim:
            shape[d] = -1
        cond = type(self)._wrap(mask.reshape(shape) if self.ndim else mask.reshape(()), self.backend)
        return where(cond, self.new_tensor(value) if not isinstance(value, type(self)) else value, self)

    def bernoulli_(self, p=0.5):
        self._check_inplace()
        self._data[...] = (self.backend.rand(self._data.shape, "float64") < p)
        return self

    def random_(self, from_=0, to=None):
        """Integers uniform in [from_, to) (to=None: [0, from_) when only one bound is given, as torch)."""
        self._check_inplace()
        low, high = (0, from_) if to is None else (from_, to)
        self._data[...] = self.backend.xp.floor(self.backend.rand(self._data.shape, "float64") * (high - low)) + low
        return self

    sin_, cos_, log2_, exp2_ = (_inplace_of(n) for n in ("sin", "cos", "log2", "exp2"))
    clamp_min_, clamp_max_, lerp_ = (_inplace_of(n) for n in ("clamp_min", "clamp_max", "lerp"))
    addcmul_, addcdiv_, fmod_, remainder_ = (_inplace_of(n) for n in ("addcmul", "addcdiv", "fmod", "remainder"))
    frac_, index_fill_, floor_divide_ = (_inplace_of(n) for n in ("frac", "index_fill", "floor_divide"))
    t_, transpose_, squeeze_, unsqueeze_ = (_reshaped_inplace_of(n) for n in ("t", "transpose", "squeeze",
                                                                             "unsqueeze"))
