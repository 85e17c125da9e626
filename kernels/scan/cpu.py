"""Scans along a dim on the CPU (Numba) over C-contiguous (A, N, B) views, scanning axis 1 (see ref.py).

Tiles of one `a` and up to BT columns `b` (kernels/index's `tile`; B == 1: one row) each scan their own
columns, with a float64 running value per column (torch's CPU accumulation type for float).
float32/float64. Serial: a scan does one add per element, less than a parallel region's fork/join on
the shared 2-core host (cumsum of (1024, 1000) float32, alternating: serial 4.3 ms, prange on 2
threads 20 ms, np.cumsum 31 ms, load average ~10), and it compiles without a parfor.
cumprod_backward needs no division, so zeros are exact: with S[k] = dout[k] + x[k+1] * S[k+1] (a
reverse scan), dx[k] = out[k-1] * S[k] (out[-1] = 1).
"""
import numpy as np
from .._numba import jit
from ..index.cpu import BT, tile


@jit
def scan(out, x, prod):
    # out (A,N,B) = inclusive prefix sums (prod: products) of x (A,N,B) along axis 1
    A, N, B = x.shape
    if B == 1:                                   # rows: one scalar running value per row
        for a in range(A):
            acc = 1.0 if prod else 0.0
            if prod:
                for n in range(N):
                    acc *= x[a, n, 0]
                    out[a, n, 0] = acc
            else:
                for n in range(N):
                    acc += x[a, n, 0]
                    out[a, n, 0] = acc
        return
    for t in range(A * ((B + BT - 1) // BT)):
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


@jit
def cumprod_backward(dx, dout, x, out):
    # dx (A,N,B) of out = cumprod(x) along axis 1 for dout (A,N,B): dx[k] = out[k-1] * S[k],
    # S[k] = dout[k] + x[k+1] * S[k+1]
    A, N, B = x.shape
    if N == 0:
        return
    for t in range(A * ((B + BT - 1) // BT)):
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
