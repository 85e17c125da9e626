"""Softmax on the CPU (Numba): row-wise over the last axis of C-contiguous 2-D arrays.

Stable: each row is shifted by its max before exp, so logits of +-1e4 give no inf/nan. Row sums
accumulate in float64 (exact enough for float32 rows of any practical length). Empty rows and
zero-row arrays are no-ops. Backward kernels take the forward's saved output.
"""
import math


from .._checks import check_like
from .._numba import jit


def _check(name, *arrays):
    check_like(name, *arrays, ndim=2)


@jit
def _row_max(x, i):
    # max of row i of x (M,N), N >= 1
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        if x[i, j] > m:
            m = x[i, j]
    return m


@jit
def softmax_row(out, x, i):
    # out[i] (N,) = softmax(x[i]); returns (row max m, float64 sum s of exp(x - m)), N >= 1,
    # so log-sum-exp = m + log(s) (the fused cross-entropy uses both)
    m = _row_max(x, i)
    s = 0.0
    for j in range(x.shape[1]):  # out holds exp(x - m) until the row is scaled
        e = math.exp(x[i, j] - m)
        out[i, j] = e
        s += e
    r = 1.0 / s
    for j in range(x.shape[1]):
        out[i, j] *= r
    return m, s


@jit
def _softmax(out, x, log):
    # out (M,N) = softmax(x (M,N)) row-wise, or log_softmax when log
    M, N = x.shape
    for i in range(M if N > 0 else 0):
        if not log:
            softmax_row(out, x, i)
            continue
        m = _row_max(x, i)
        s = 0.0  # float64 accumulator
        for j in range(N):
            s += math.exp(x[i, j] - m)
        lse = m + math.log(s)
        for j in range(N):
            out[i, j] = x[i, j] - lse


@jit
def _softmax_backward(dx, dout, out):
    # dx (M,N) = out * (dout - sum_j dout*out)
    M, N = out.shape
    for i in range(M):
        s = 0.0
        for j in range(N):
            s += dout[i, j] * out[i, j]
        for j in range(N):
            dx[i, j] = out[i, j] * (dout[i, j] - s)


@jit
def _log_softmax_backward(dx, dout, out):
    # dx (M,N) = dout - exp(out) * sum_j dout
    M, N = out.shape
    for i in range(M):
        s = 0.0
        for j in range(N):
            s += dout[i, j]
        for j in range(N):
            dx[i, j] = dout[i, j] - math.exp(out[i, j]) * s


def softmax(out, x):
    # out (M,N) = exp(x - max) / sum(exp(x - max)) row-wise
    _check("softmax", out, x)
    _softmax(out, x, False)


def log_softmax(out, x):
    # out (M,N) = x - max - log(sum(exp(x - max))) row-wise
    _check("log_softmax", out, x)
    _softmax(out, x, True)


def softmax_backward(dx, dout, out):
    # dx (M,N) = out * (dout - sum(dout * out, row)); out = softmax(x) saved by the forward
    _check("softmax_backward", dx, dout, out)
    _softmax_backward(dx, dout, out)


def log_softmax_backward(dx, dout, out):
    # dx (M,N) = dout - exp(out) * sum(dout, row); out = log_softmax(x) saved by the forward
    _check("log_softmax_backward", dx, dout, out)
    _log_softmax_backward(dx, dout, out)
