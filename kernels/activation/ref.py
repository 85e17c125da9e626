"""Activation NumPy references (outputs first; same signatures as cpu.py); obviously correct, stable."""
import numpy as np

from .codes import ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH  # noqa: F401  (the one table)


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # never overflows: exp of a non-positive number
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu(out, x):
    # out (...) = max(x, 0)
    out[...] = np.where(x < 0, 0, x)


def relu_backward(dx, dout, out):
    # dx (...) = dout * (out > 0)
    dx[...] = np.where(out > 0, dout, 0)


def sigmoid(out, x):
    # out (...) = 1 / (1 + exp(-x))
    out[...] = _sigmoid(x)


def sigmoid_backward(dx, dout, out):
    # dx (...) = dout * out * (1 - out)
    dx[...] = dout * out * (1 - out)


def tanh(out, x):
    # out (...) = tanh(x)
    out[...] = np.tanh(x)


def tanh_backward(dx, dout, out):
    # dx (...) = dout * (1 - out^2)
    dx[...] = dout * (1 - out * out)


def bias_act(out, x, b, act):
    # out (M,N) = act(x (M,N) + b (N,)); act 0 none, 1 relu, 2 sigmoid, 3 tanh
    pre = x + b
    fns = {ACT_NONE: lambda v: v, ACT_RELU: lambda v: np.where(v < 0, 0, v),
           ACT_SIGMOID: _sigmoid, ACT_TANH: np.tanh}
    out[...] = fns[act](pre)
