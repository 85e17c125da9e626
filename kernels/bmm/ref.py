"""Batched GEMM NumPy references (outputs first); floats accumulate in float64."""
import numpy as np


def _mm(a, b):
    if a.dtype.kind == "f":
        return np.matmul(a.astype(np.float64), b.astype(np.float64))
    return np.matmul(a, b)


def bmm(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    out[...] = _mm(a, b)


def bmm_nt(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    out[...] = _mm(a, np.swapaxes(b, 1, 2))


def bmm_tn(out, a, b):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
    out[...] = _mm(np.swapaxes(a, 1, 2), b)
