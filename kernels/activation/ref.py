"""Activation NumPy references (outputs first; same signatures as cpu.py); obviously correct, stable.
`xp` is the array module (numpy or cupy): the CUDA backend runs this file for non-float32 dtypes."""
import numpy as np


def _sigmoid(x, xp=np):
    e = xp.exp(-xp.abs(x))  # never overflows: exp of a non-positive number
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu(out, x, xp=np):
    # out (...) = max(x, 0)
    out[...] = xp.where(x < 0, 0, x)


def relu_backward(dx, dout, out, xp=np):
    # dx (...) = dout * (out > 0)
    dx[...] = xp.where(out > 0, dout, 0)


def sigmoid(out, x, xp=np):
    # out (...) = 1 / (1 + exp(-x))
    out[...] = _sigmoid(x, xp)


def sigmoid_backward(dx, dout, out, xp=np):
    # dx (...) = dout * out * (1 - out)
    dx[...] = dout * out * (1 - out)


def tanh(out, x, xp=np):
    # out (...) = tanh(x)
    out[...] = xp.tanh(x)


def tanh_backward(dx, dout, out, xp=np):
    # dx (...) = dout * (1 - out^2)
    dx[...] = dout * (1 - out * out)

