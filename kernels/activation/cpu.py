"""Activations on the CPU (Numba): act_forward_ / act_backward_, flat elementwise loops per activation
code (codes.py), are the one CPU definition of each activation and its derivative; the eager kernels
(relu(out, x), relu_backward(dx, dout, out), ... on any ndim via ravelled views) and the fused MLP and
CNN steps call them. Backward kernels take the forward's saved output.
Sigmoid is evaluated through exp(-|x|), so |x| ~ 1e4 never overflows.
"""
import math

from .._checks import check_like
from .._numba import jit, jit_inline
from ..simd import lanes_of, vadd, vload, vsplat, vstore, vwhere, vzeros
from .codes import ACT_RELU, ACT_SIGMOID, ACT_TANH


def _check(name, *arrays):
    """Same shape, same float dtype, C-contiguous; returns flat views (the kernels are elementwise)."""
    check_like(name, *arrays)
    return [a.reshape(-1) for a in arrays]


@jit
def _sigmoid1(v):
    # 1 / (1 + exp(-v)) without overflow
    if v >= 0:
        return 1 / (1 + math.exp(-v))
    e = math.exp(v)
    return e / (1 + e)


@jit_inline
def act_forward_(out, x, b, code):
    # out (n,) = act(x + b) for an activation code (codes.py) and a scalar b (the fused MLP's bias; 0
    # elsewhere), in one pass; out may be x (in place). The one CPU definition of each activation: the
    # eager kernels below and the fused MLP and CNN steps call it. relu: NaN propagates; sigmoid
    # through exp(-|x|). Constants of x's dtype (an int literal would promote float32 lanes to float64)
    # b == 0 adds nothing (so -0.0 stays -0.0, as torch's relu and tanh keep it)
    zero, b = x.dtype.type(0), x.dtype.type(b)
    add = b != zero
    if code == ACT_RELU:   # explicit vectors: in place, LLVM's own loop took a scalar path (aliasing)
        L, z, bv = lanes_of(out), vzeros(out), vsplat(b)
        for i in range(0, x.size, L):
            n = min(L, x.size - i)
            v = vadd(vload(x, i, n), bv) if add else vload(x, i, n)
            vstore(out, i, vwhere(z, v, z, v), n)               # 0 where v < 0, else v (NaN, -0.0 kept)
    elif code == ACT_SIGMOID:
        for i in range(x.size):
            out[i] = _sigmoid1(x[i] + b if add else x[i])
    elif code == ACT_TANH:
        for i in range(x.size):
            out[i] = math.tanh(x[i] + b if add else x[i])
    else:
        for i in range(x.size):
            out[i] = x[i] + b if add else x[i]


@jit_inline
def act_backward_(dx, dout, h, code):
    # dx (n,) = dout * act'(x), from the activation's output h = act(x) (n,): relu dout where h > 0
    # else 0 (a select: inf and NaN gradients do not leak through zeros), sigmoid dout * h(1-h),
    # tanh dout * (1-h^2), none dout; dx may be dout (in place); constants of dx's dtype
    zero, one = dx.dtype.type(0), dx.dtype.type(1)
    if code == ACT_RELU:   # explicit vectors: in place, LLVM's own loop took a branch per element
        L, z = lanes_of(dx), vzeros(dx)
        for i in range(0, dx.size, L):
            n = min(L, dx.size - i)
            vstore(dx, i, vwhere(vload(h, i, n), z, vload(dout, i, n), z), n)
    elif code == ACT_SIGMOID:
        for i in range(dx.size):
            dx[i] = dout[i] * (h[i] * (one - h[i]))
    elif code == ACT_TANH:
        for i in range(dx.size):
            dx[i] = dout[i] * (one - h[i] * h[i])
    else:
        for i in range(dx.size):
            dx[i] = dout[i]


def relu(out, x):
    # out (...) = max(x, 0)
    o, xf = _check("relu", out, x)
    act_forward_(o, xf, o.dtype.type(0), ACT_RELU)


def relu_backward(dx, dout, out):
    # dx (...) = dout * (out > 0)
    act_backward_(*_check("relu_backward", dx, dout, out), ACT_RELU)


def sigmoid(out, x):
    # out (...) = 1 / (1 + exp(-x))
    o, xf = _check("sigmoid", out, x)
    act_forward_(o, xf, o.dtype.type(0), ACT_SIGMOID)


def sigmoid_backward(dx, dout, out):
    # dx (...) = dout * out * (1 - out)
    act_backward_(*_check("sigmoid_backward", dx, dout, out), ACT_SIGMOID)


def tanh(out, x):
    # out (...) = tanh(x)
    o, xf = _check("tanh", out, x)
    act_forward_(o, xf, o.dtype.type(0), ACT_TANH)


def tanh_backward(dx, dout, out):
    # dx (...) = dout * (1 - out^2)
    act_backward_(*_check("tanh_backward", dx, dout, out), ACT_TANH)

