"""Batch normalisation on the CPU (Numba): x (N,C,L) C-contiguous, one channel per c (NCHW is (N,C,H*W),
(N,C) is (N,C,1): one layout, one specialization per dtype and driver).

Forward, training: per channel a two-pass over its N rows of L: sum -> mean, sum of squared deviations
-> biased var (well conditioned where one-pass sum-of-squares cancels), then normalise + affine in a
third pass; sums in float64. Working set: one channel's N*L values, read three times (forward) or
twice (backward, with dout); at (64,32,28,28) float32 that is 200 KB, L2-resident between passes.
Eval: the running statistics, no reduction. Backward: one reduction pass (sum dout, sum dout *
(x - mean)) and one pass writing dx, from the forward's saved mean and invstd.
Channels are independent, so the parallel drivers split channels over threads: every output element
and every per-channel result has one writer (no races, no partials). Inputs of at most SERIAL_MAX
elements run a serial driver: on the shared 2-core host a parallel region waited ~30 ms for its
second thread (measured at (64,64,196) and (64,32,784): 30 and 12-24 ms per call against 0.4 and
1.3 ms serial), so prange only pays where a serial pass takes tens of milliseconds. Rows shorter
than ROWS_L run the streaming *_rows variants (see there).
"""
import math

import numpy as np
from numba import prange

from .._checks import check_like
from .._numba import jit, jit_reassoc, pjit

SERIAL_MAX = 1 << 24   # elements of x up to which the serial drivers run
ROWS_L = 4             # rows shorter than this run the streaming (*_rows) serial variants


# The channel functions allow reassociation (not nnan/ninf/contract), so their float64 sums vectorize.
# The sums stay inline: helper calls per row were not inlined across the cached functions and cost
# 20x the loop at L = 1 (BatchNorm1d).
@jit_reassoc
def _forward_channel(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training, c):
    # channel c: out[:,c,:] (N,L) = (x - mean) * invstd * weight + bias; mean/invstd/var[c]
    N, _, L = x.shape
    M = max(N * L, 1)
    if training:
        s = 0.0
        for n in range(N):
            for l in range(L):
                s += x[n, c, l]
        m = s / M
        q = 0.0
        for n in range(N):
            for l in range(L):
                d = x[n, c, l] - m
                q += d * d
        v = q / M
    else:
        m = running_mean[c] * 1.0
        v = running_var[c] * 1.0
    r = 1.0 / math.sqrt(v + eps)
    scale = r * weight[c]
    b = bias[c] * 1.0
    for n in range(N):
        for l in range(L):
            out[n, c, l] = (x[n, c, l] - m) * scale + b
    mean[c] = m
    invstd[c] = r
    var[c] = v


# Backward, derived by hand. Per channel (sums over its M = N*L elements i), y = w * xhat + b,
# xhat = (x - mu) * r, r = (var + eps)^(-1/2), mu = sum x / M, var = sum (x - mu)^2 / M:
#   dbias = sum dy,  dweight = sum dy * xhat = r * S2  with S1 = sum dy, S2 = sum dy * (x - mu).
#   dxhat_i = w dy_i. Through xhat_i = (x_i - mu) r with mu and r functions of every x_j:
#     d mu / d x_i = 1/M;  d var / d x_i = 2 (x_i - mu) / M  (the sum of (x_j - mu) is 0, so mu's
#     own dependence drops out);  d r / d x_i = -r^3 (x_i - mu) / M.
#   dx_i = sum_j dxhat_j d xhat_j / d x_i
#        = sum_j dxhat_j [ r (delta_ij - 1/M) - (x_j - mu) r^3 (x_i - mu) / M ]
#        = r dxhat_i - r sum(dxhat) / M - r^3 (x_i - mu) sum(dxhat_j (x_j - mu)) / M
#        = w r (dy_i - S1 / M - (x_i - mu) * S2 r^2 / M).
#   Eval (running stats are constants): dx_i = w r dy_i, the same line with S1 = S2 = 0 in it.
@jit_reassoc
def _backward_channel(dx, dweight, dbias, dout, x, weight, mean, invstd, training, c):
    # channel c: dx[:,c,:] (N,L), dweight[c], dbias[c] from the saved mean[c], invstd[c]
    N, _, L = x.shape
    m = mean[c] * 1.0
    r = invstd[c] * 1.0
    s1 = 0.0
    s2 = 0.0
    for n in range(N):
        for l in range(L):
            g = dout[n, c, l] * 1.0
            s1 += g
            s2 += g * (x[n, c, l] - m)
    dbias[c] = s1
    dweight[c] = s2 * r
    k = weight[c] * r
    a = 0.0
    q = 0.0
    if training and N * L > 0:
        a = s1 / (N * L)
        q = s2 * r * r / (N * L)
    for n in range(N):
        for l in range(L):
            dx[n, c, l] = k * ((dout[n, c, l] - a) - (x[n, c, l] - m) * q)


# Short rows (L < ROWS_L, BatchNorm1d's L = 1): per (n, c) loops of a few elements cost more than
# their arithmetic (a loop of L = 1 per element: ~6 ns per element at (64,128)). These variants stream
# x in memory order, channels innermost, into per-channel float64 accumulators: the same two-pass
# arithmetic, summed in another order. Serial (the accumulators are shared by every row). Measured
# per call (loaded host): (64,128,1) 5 us against 50-90 us for the channel loops; even at L = 4,
# behind from L = 8 (the channel loops stream longer rows).
@jit
def _forward_rows(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training):
    # out (N,C,L) as _forward_channel for every c, x streamed row by row
    N, C, L = x.shape
    M = max(N * L, 1)
    m, v, scale = np.zeros(C), np.zeros(C), np.empty(C)
    if training:
        for n in range(N):
            for l in range(L):
                for c in range(C):
                    m[c] += x[n, c, l]
        m /= M
        for n in range(N):
            for l in range(L):
                for c in range(C):
                    d = x[n, c, l] - m[c]
                    v[c] += d * d
        v /= M
    else:
        for c in range(C):
            m[c] = running_mean[c]
            v[c] = running_var[c]
    for c in range(C):
        r = 1.0 / math.sqrt(v[c] + eps)
        scale[c] = r * weight[c]
        mean[c] = m[c]
        invstd[c] = r
        var[c] = v[c]
    for n in range(N):
        for l in range(L):
            for c in range(C):
                out[n, c, l] = (x[n, c, l] - m[c]) * scale[c] + bias[c]


@jit
def _backward_rows(dx, dweight, dbias, dout, x, weight, mean, invstd, training):
    # dx (N,C,L), dweight, dbias (C,) as _backward_channel for every c, x and dout streamed row by row
    N, C, L = x.shape
    m, s1, s2 = mean.astype(np.float64), np.zeros(C), np.zeros(C)
    k, a, q = np.empty(C), np.zeros(C), np.zeros(C)
    for n in range(N):
        for l in range(L):
            for c in range(C):
                g = dout[n, c, l] * 1.0
                s1[c] += g
                s2[c] += g * (x[n, c, l] - m[c])
    for c in range(C):
        r = invstd[c] * 1.0
        dbias[c] = s1[c]
        dweight[c] = s2[c] * r
        k[c] = weight[c] * r
        if training and N * L > 0:
            a[c] = s1[c] / (N * L)
            q[c] = s2[c] * r * r / (N * L)
    for n in range(N):
        for l in range(L):
            for c in range(C):
                dx[n, c, l] = k[c] * ((dout[n, c, l] - a[c]) - (x[n, c, l] - m[c]) * q[c])


@pjit
def _forward_parallel(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training):
    for c in prange(x.shape[1]):
        _forward_channel(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training, c)


@jit
def _forward_serial(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training):
    for c in range(x.shape[1]):
        _forward_channel(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training, c)


@pjit
def _backward_parallel(dx, dweight, dbias, dout, x, weight, mean, invstd, training):
    for c in prange(x.shape[1]):
        _backward_channel(dx, dweight, dbias, dout, x, weight, mean, invstd, training, c)


@jit
def _backward_serial(dx, dweight, dbias, dout, x, weight, mean, invstd, training):
    for c in range(x.shape[1]):
        _backward_channel(dx, dweight, dbias, dout, x, weight, mean, invstd, training, c)


def batch_norm_forward(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training):
    # out (N,C,L) = (x - mean[c]) * invstd[c] * weight[c] + bias[c]; training: mean, biased var over
    # (N,L) written to mean, var (C,); eval: running_mean, running_var (C,) copied there. invstd (C,)
    check_like("batch_norm_forward", out, x, ndim=3)
    check_like("batch_norm_forward", mean, invstd, var, weight, bias, running_mean, running_var, ndim=1)
    if mean.dtype != x.dtype or mean.shape != (x.shape[1],):
        raise ValueError(f"batch_norm_forward: per-channel arrays must be ({x.shape[1]},) {x.dtype}, "
                         f"got {mean.shape} {mean.dtype}")
    kernel = _forward_parallel if x.size > SERIAL_MAX else _forward_rows if x.shape[2] < ROWS_L else _forward_serial
    kernel(out, mean, invstd, var, x, weight, bias, running_mean, running_var, float(eps), bool(training))


def batch_norm_backward(dx, dweight, dbias, dout, x, weight, mean, invstd, training):
    # dx (N,C,L), dweight, dbias (C,) of batch_norm_forward, from its saved mean and invstd (C,)
    check_like("batch_norm_backward", dx, dout, x, ndim=3)
    check_like("batch_norm_backward", dweight, dbias, weight, mean, invstd, ndim=1)
    if mean.dtype != x.dtype or mean.shape != (x.shape[1],):
        raise ValueError(f"batch_norm_backward: per-channel arrays must be ({x.shape[1]},) {x.dtype}, "
                         f"got {mean.shape} {mean.dtype}")
    kernel = (_backward_parallel if x.size > SERIAL_MAX else _backward_rows if x.shape[2] < ROWS_L
              else _backward_serial)
    kernel(dx, dweight, dbias, dout, x, weight, mean, invstd, bool(training))
