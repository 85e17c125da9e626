"""Softmax NumPy references over the last axis of 2-D arrays (outputs first), computed in float64."""
import numpy as np


def _logsumexp(x):
    if x.shape[1] == 0:  # empty rows: nothing to normalize
        return np.zeros((x.shape[0], 1))
    m = np.max(x, axis=1, keepdims=True)
    return m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))


def softmax(out, x):
    # out (M,N) = exp(x - logsumexp(x)) row-wise
    x = x.astype(np.float64)
    out[...] = np.exp(x - _logsumexp(x))


def log_softmax(out, x):
    # out (M,N) = x - logsumexp(x) row-wise
    x = x.astype(np.float64)
    out[...] = x - _logsumexp(x)


def softmax_backward(dx, dout, out):
    # dx (M,N) = out * (dout - sum(dout * out, row))
    dout, out = dout.astype(np.float64), out.astype(np.float64)
    dx[...] = out * (dout - np.sum(dout * out, axis=1, keepdims=True))


def log_softmax_backward(dx, dout, out):
    # dx (M,N) = dout - exp(out) * sum(dout, row)
    dout, out = dout.astype(np.float64), out.astype(np.float64)
    dx[...] = dout - np.exp(out) * np.sum(dout, axis=1, keepdims=True)
