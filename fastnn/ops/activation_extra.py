"""More activations (leaky_relu, elu/celu/selu, gelu exact|tanh, silu, mish, softplus, hardtanh, prelu) as
xp array math with hand-derived backwards; every derivative is written in terms of the saved input x."""
import math

import numpy as np

from ..autograd import Function
from ._util import unbroadcast

_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_K = math.sqrt(2.0 / math.pi)


def torch_type_name(dtype):
    """torch's scalar-type name of a NumPy dtype ('Long' for int64), as its kernel errors print it."""
    return _TORCH_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def check_float(x, kernel):
    """torch's NotImplementedError for a non-float input, naming its kernel: "silu_cpu" not implemented for 'Long'."""
    if x.dtype.kind != "f":
        raise NotImplementedError(f'"{kernel}" not implemented for \'{torch_type_name(x.dtype)}\'')


_np_erf = None


def erf(xp, x):
    """erf elementwise: a Numba ufunc over math.erf on the CPU, cupyx.scipy.special.erf on a GPU."""
    global _np_erf
    if xp is not np:
        if getattr(xp, "__name__", "") == "cupy":
            from cupyx.scipy.special import erf as cupy_erf

            return cupy_erf(x)
        return xp.asarray(erf(np, xp.asnumpy(x)))  # the CPU emulator of CUDA: on the host, back to the device
    if _np_erf is None:
        import numba

        @numba.vectorize(["float32(float32)", "float64(float64)"], cache=True)
        def _erf(v):
            return math.erf(v)

        _np_erf = _erf
    return _np_erf(x)


def sigmoid(xp, x):
    """Stable logistic: exp(-log(1 + exp(-x)))."""
    return xp.exp(-xp.logaddexp(0, -x))


# ---- forward / derivative pairs: f(xp, x, **p) -> y, df(xp, x, **p) -> dy/dx ----------------------
def _leaky(xp, x, negative_slope):
    return xp.where(x > 0, x, x * negative_slope)


def _dleaky(xp, x, negative_slope):
    return xp.where(x > 0, 1.0, negative_slope)


def _elu(xp, x, alpha, scale, input_scale):
    return xp.where(x > 0, x * scale, xp.expm1(xp.minimum(x, 0) * input_scale) * (alpha * scale))


def _delu(xp, x, alpha, scale, input_scale):
    return xp.where(x > 0, scale, xp.exp(xp.minimum(x, 0) * input_scale) * (alpha * scale * input_scale))


def _gelu(xp, x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_TANH_K * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + erf(xp, x * _SQRT_HALF))


def _dgelu(xp, x, approximate):
    if approximate == "tanh":
        t = xp.tanh(_TANH_K * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_K * (1 + 3 * 0.044715 * x * x)
    return 0.5 * (1 + erf(xp, x * _SQRT_HALF)) + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _silu(xp, x):
    return x * sigmoid(xp, x)


def _dsilu(xp, x):
    s = sigmoid(xp, x)
    return s * (1 + x * (1 - s))


def _mish(xp, x):
    return x * xp.tanh(xp.logaddexp(0, x))


def _dmish(xp, x):
    t = xp.tanh(xp.logaddexp(0, x))
    return t + x * sigmoid(xp, x) * (1 - t * t)


def _softplus(xp, x, beta, threshold):
    bx = x * beta
    return xp.where(bx > threshold, x, xp.logaddexp(0, bx) / beta)


def _dsoftplus(xp, x, beta, threshold):
    bx = x * beta
    return xp.where(bx > threshold, 1.0, sigmoid(xp, bx))


def _hardtanh(xp, x, min_val, max_val):
    return xp.minimum(xp.maximum(x, min_val), max_val)


def _dhardtanh(xp, x, min_val, max_val):
    return ((x > min_val) & (x < max_val)).astype(x.dtype)


POINTWISE = {
    "leaky_relu": (_leaky, _dleaky, "leaky_relu_cpu"),
    "elu": (_elu, _delu, "elu_cpu"),
    "gelu": (_gelu, _dgelu, "GeluKernelImpl"),
    "silu": (_silu, _dsilu, "silu_cpu"),
    "mish": (_mish, _dmish, "mish_cpu"),
    "softplus": (_softplus, _dsoftplus, "softplus_cpu"),
    "hardtanh": (_hardtanh, _dhardtanh, None),
}


class Pointwise(Function):
    """y = f(x) for one of POINTWISE's activations; dx = dout * f'(x) from the saved input."""

    def forward(self, x, op, **params):
        f, _, kernel = POINTWISE[op]
        if kernel is not None:
            check_float(x, kernel)
        elif x.dtype.kind != "f":  # hardtanh runs on integers in torch, with integer bounds
            return _hardtanh(self.xp, x, *(int(v) for v in params.values())).astype(x.dtype)
        self.save(x, op, params)
        return f(self.xp, x, **params).astype(x.dtype, copy=False)

    def backward(self, dout, x, op, params):
        return (dout * POINTWISE[op][1](self.xp, x, **params)).astype(x.dtype, copy=False)


def prelu_weight_shape(x_shape, n):
    """The broadcast shape of a PReLU weight of n values against input x_shape (channels on dim 1)."""
    channels = x_shape[1] if len(x_shape) >= 2 else 1
    if n != 1 and n != channels:
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {n} "
                           f"and channel size = {channels}.")
    if n == 1 or len(x_shape) < 2:
        return (1,) * len(x_shape) if len(x_shape) else ()
    return (1, n) + (1,) * (len(x_shape) - 2)


class PReLU(Function):
    """y = x if x > 0 else w x (w per channel, dim 1); dx = dout (1 or w), dw = sum of dout x over x <= 0."""

    def forward(self, x, w):
        check_float(x, "prelu_cpu")
        shape = prelu_weight_shape(tuple(x.shape), w.size)
        wb = w.reshape(shape) if shape else w.reshape(())
        self.save(x, wb, w.shape)
        return self.xp.where(x > 0, x, wb * x).astype(x.dtype, copy=False)

    def backward(self, dout, x, wb, w_shape):
        xp = self.xp
        pos = x > 0
        dx = xp.where(pos, dout, dout * wb) if self.needs_input_grad[0] else None
        dw = None
        if self.needs_input_grad[1]:
            dw = unbroadcast(xp, xp.where(pos, 0, dout * x), wb.shape).reshape(w_shape)
        return dx, dw
