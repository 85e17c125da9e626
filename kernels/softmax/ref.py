"""Softmax NumPy references over the last axis of 2-D arrays (outputs first), computed in float64.
`xp` is the array module (numpy or cupy): the CUDA backend runs this file for non-float32 dtypes."""
import numpy as np


def _logsumexp(x, xp=np):
    if x.shape[1] == 0:  # empty rows: nothing to normalize
        return xp.zeros((x.shape[0], 1))
    m = x.max(axis=1, keepdims=True)
    return m + xp.log(xp.exp(x - m).sum(axis=1, keepdims=True))


def softmax(out, x, xp=np):
    # out (M,N) = exp(x - logsumexp(x)) row-wise
    x = x.astype(np.float64)
    out[...] = xp.exp(x - _logsumexp(x, xp))


def log_softmax(out, x, xp=np):
    # out (M,N) = x - logsumexp(x) row-wise
    x = x.astype(np.float64)
    out[...] = x - _logsumexp(x, xp)


def softmax_backward(dx, dout, out, xp=np):
    # dx (M,N) = out * (dout - sum(dout * out, row))
    dout, out = dout.astype(np.float64), out.astype(np.float64)
    dx[...] = out * (dout - (dout * out).sum(axis=1, keepdims=True))


def log_softmax_backward(dx, dout, out, xp=np):
    # dx (M,N) = dout - exp(out) * sum(dout, row)
    dout, out = dout.astype(np.float64), out.astype(np.float64)
    dx[...] = dout - xp.exp(out) * dout.sum(axis=1, keepdims=True)
