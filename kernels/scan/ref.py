"""Scan NumPy references (outputs first) over 3-D views (A, N, B), scanning axis 1. Accumulation is in
float64 for float inputs, as torch's CPU kernels do (acc_type<float> is double), then rounded once.
`xp` lets the CUDA backend run them on CuPy."""
import numpy as np


def _acc(x):
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def cumsum(out, x, xp=np):
    # out (A,N,B) = x (A,N,B) summed along axis 1 (inclusive)
    out[...] = xp.cumsum(_acc(x), axis=1)


def cumprod(out, x, xp=np):
    # out (A,N,B) = x (A,N,B) multiplied along axis 1 (inclusive)
    out[...] = xp.cumprod(_acc(x), axis=1)


def cumprod_backward(dx, dout, x, out, xp=np):
    # dx (A,N,B)[k] = sum_{i>=k} dout[i] * prod_{j<=i, j!=k} x[j]: the definition, O(N^2), exact with zeros
    # (out, the forward's output, is unused here; the kernels use it)
    xd, gd = _acc(x), _acc(dout)
    N = x.shape[1]
    res = xp.zeros(x.shape, dtype=xd.dtype)
    for k in range(N):
        others = xd.copy()
        others[:, k, :] = 1
        res[:, k, :] = (gd[:, k:, :] * xp.cumprod(others, axis=1)[:, k:, :]).sum(axis=1)
    dx[...] = res
