"""Batched GEMM on the CPU (Numba) for many small matrices: plain loops per batch entry, tuned for
tiny M, N, K (where BLAS call overhead dominates np.matmul). float32, float64, int64.

    bmm(out, a, b)     # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    bmm_nt(out, a, b)  # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    bmm_tn(out, a, b)  # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
Serial: at these sizes a whole batch of 256 takes a few microseconds, less than a parallel launch.
"""
import numpy as np

from .._numba import jit

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64))


@jit
def _bmm_nn(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N); i-k-j order, the j loop contiguous
    B, M, K = a.shape
    N = b.shape[2]
    for n in range(B):
        for i in range(M):
            for j in range(N):
                out[n, i, j] = 0
            for k in range(K):
                aik = a[n, i, k]
                for j in range(N):
                    out[n, i, j] += aik * b[n, k, j]


@jit
def _bmm_nt(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T; dot products over contiguous k
    B, M, K = a.shape
    N = b.shape[1]
    for n in range(B):
        for i in range(M):
            for j in range(N):
                s = out.dtype.type(0)
                for k in range(K):
                    s += a[n, i, k] * b[n, j, k]
                out[n, i, j] = s


@jit
def _bmm_tn(out, a, b):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N); k-i-j order, rank-1 updates
    B, K, M = a.shape
    N = b.shape[2]
    for n in range(B):
        for i in range(M):
            for j in range(N):
                out[n, i, j] = 0
        for k in range(K):
            for i in range(M):
                aki = a[n, k, i]
                for j in range(N):
                    out[n, i, j] += aki * b[n, k, j]


def _check(name, out, a, b, A_shape, B_shape):
    for x in (out, a, b):
        if not isinstance(x, np.ndarray) or x.ndim != 3:
            raise ValueError(f"{name}: expected 3-D arrays, got shapes "
                             f"{[getattr(y, 'shape', type(y)) for y in (out, a, b)]}")
        if not x.flags.c_contiguous:
            raise ValueError(f"{name}: arrays must be C-contiguous (strides {x.strides})")
    if not (out.dtype == a.dtype == b.dtype) or out.dtype not in _DTYPES:
        raise TypeError(f"{name}: expected out, a, b of one dtype among float32, float64 and int64, "
                        f"got {out.dtype}, {a.dtype}, {b.dtype}")
    (Ba, M, K), (Bb, K2, N) = A_shape, B_shape
    if Ba != Bb or K != K2:
        raise ValueError(f"{name}: batch shapes cannot be multiplied ({Ba}x{M}x{K} and {Bb}x{K2}x{N})")
    if out.shape != (Ba, M, N):
        raise ValueError(f"{name}: out has shape {out.shape}, expected {(Ba, M, N)}")


def bmm(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    _check("bmm", out, a, b, a.shape, b.shape)
    _bmm_nn(out, a, b)


def bmm_nt(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    _check("bmm_nt", out, a, b, a.shape, (b.shape[0], b.shape[2], b.shape[1]) if b.ndim == 3 else b.shape)
    _bmm_nt(out, a, b)


def bmm_tn(out, a, b):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
    _check("bmm_tn", out, a, b, (a.shape[0], a.shape[2], a.shape[1]) if a.ndim == 3 else a.shape, b.shape)
    _bmm_tn(out, a, b)
