"""GEMM NumPy references (outputs first, same signatures as cpu.py); floats accumulate in float64."""
import numpy as np


def _mm(a, b):
    if a.dtype.kind == "f":
        return a.astype(np.float64) @ b.astype(np.float64)
    return a @ b


def _write(out, r, accumulate):
    if accumulate:
        out += r.astype(out.dtype)
    else:
        out[...] = r


def matmul(out, a, b, accumulate=False):
    # out (M,N) (+)= a (M,K) @ b (K,N)
    _write(out, _mm(a, b), accumulate)


def matmul_nt(out, a, b, accumulate=False):
    # out (M,N) (+)= a (M,K) @ b (N,K).T
    _write(out, _mm(a, b.T), accumulate)


def matmul_tn(out, a, b, accumulate=False):
    # out (M,N) (+)= a (K,M).T @ b (K,N)
    _write(out, _mm(a.T, b), accumulate)
