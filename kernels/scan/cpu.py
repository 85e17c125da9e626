"""Scans along a dim on the CPU (Numba) over C-contiguous (A, N, B) views, scanning axis 1 (see ref.py).

Tiles of one `a` and up to BT columns `b` (kernels/index's `tile`): each tile scans its own columns, with a
float64 running value per column (torch's CPU accumulation type for float). float32/float64.
cumprod_backward needs no division, so zeros are exact: with S[k] = dout[k] + x[k+1] * S[k+1] (a
reverse scan), dx[k] = out[k-1] * S[k] (out[-1] = 1).
"""
import numpy as np
from numba import prange

from .._numba import pjit
from ..index.cpu import BT, tile


@pjit
def scan(out, x, prod):
    # out (A,N,B) = inclusive prefix sums (prod: products) of x (A,N,B) along axis 1
    A, N, B = x.shape
    for t in prange(A * ((B + BT - 1) // BT)):
        a, b0, b1 = tile(t, B)
        acc = np.full(b1 - b0, 1.0 if prod else 0.0)
        for n in range(N):
            if prod:
                for b in range(b0, b1):
                    acc[b - b0] *= x[a, n, b]
                    out[a, n, b] = acc[b - b0]
            else:
                for b in range(b0, b1):
                    acc[b - b0] += x[a, n, b]
                    out[a, n, b] = acc[b - b0]


def cumsum(out, x):
    # out (A,N,B) = inclusive prefix sums of x (A,N,B) along axis 1
    scan(out, x, False)


def cumprod(out, x):
    # out (A,N,B) = inclusive prefix products of x (A,N,B) along axis 1
    scan(out, x, True)


@pjit
def cumprod_backward(dx, dout, x, out):
    # dx (A,N,B) of out = cumprod(x) along axis 1 for dout (A,N,B): dx[k] = out[k-1] * S[k],
    # S[k] = dout[k] + x[k+1] * S[k+1]
    A, N, B = x.shape
    if N == 0:
        return
    for t in prange(A * ((B + BT - 1) // BT)):
        a, b0, b1 = tile(t, B)
        s = np.zeros(b1 - b0, np.float64)
        for b in range(b0, b1):
            s[b - b0] = dout[a, N - 1, b]
        for n in range(N - 2, -1, -1):
            for b in range(b0, b1):
                dx[a, n + 1, b] = s[b - b0] * out[a, n, b]        # dx[n+1] = out[n] * S[n+1]
                s[b - b0] = dout[a, n, b] + x[a, n + 1, b] * s[b - b0]
        for b in range(b0, b1):
            dx[a, 0, b] = s[b - b0]
