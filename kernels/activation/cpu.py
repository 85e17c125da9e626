"""Activations on the CPU (Numba): flat elementwise loops (any ndim via ravelled views). Backward
kernels take the forward's saved output: relu_backward(dx, dout, out).
Sigmoid is evaluated through exp(-|x|), so |x| ~ 1e4 never overflows.
"""
import math

from .._checks import check_like
from .._numba import jit


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


@jit
def _relu(out, x):
    # out (n,) = max(x, 0); NaN propagates
    for i in range(x.size):
        out[i] = 0 if x[i] < 0 else x[i]


@jit
def _relu_backward(dx, dout, out):
    # dx (n,) = dout * (out > 0)
    for i in range(dx.size):
        dx[i] = dout[i] if out[i] > 0 else 0


@jit
def _sigmoid(out, x):
    # out (n,) = sigmoid(x)
    for i in range(x.size):
        out[i] = _sigmoid1(x[i])


@jit
def _sigmoid_backward(dx, dout, out):
    # dx (n,) = dout * out * (1 - out)
    for i in range(dx.size):
        dx[i] = dout[i] * out[i] * (1 - out[i])


@jit
def _tanh(out, x):
    # out (n,) = tanh(x)
    for i in range(x.size):
        out[i] = math.tanh(x[i])


@jit
def _tanh_backward(dx, dout, out):
    # dx (n,) = dout * (1 - out^2)
    for i in range(dx.size):
        dx[i] = dout[i] * (1 - out[i] * out[i])


def relu(out, x):
    # out (...) = max(x, 0)
    _relu(*_check("relu", out, x))


def relu_backward(dx, dout, out):
    # dx (...) = dout * (out > 0)
    _relu_backward(*_check("relu_backward", dx, dout, out))


def sigmoid(out, x):
    # out (...) = 1 / (1 + exp(-x))
    _sigmoid(*_check("sigmoid", out, x))


def sigmoid_backward(dx, dout, out):
    # dx (...) = dout * out * (1 - out)
    _sigmoid_backward(*_check("sigmoid_backward", dx, dout, out))


def tanh(out, x):
    # out (...) = tanh(x)
    _tanh(*_check("tanh", out, x))


def tanh_backward(dx, dout, out):
    # dx (...) = dout * (1 - out^2)
    _tanh_backward(*_check("tanh_backward", dx, dout, out))

