"""Reductions on the CPU (Numba) over C-contiguous arrays.

Along a dim (the backends' *_lines entries) over (A, N, B) views reducing axis 1: sum/prod with a float64
accumulator (torch's CPU acc type for float), max/min with int64 indices (torch's rules: the first
extreme on ties, a NaN is the extreme: the first NaN and its index). B == 1 (the dim is last) runs row
loops over the (A, N) view; B > 1 keeps one accumulator row of B per `a` and streams x's rows into it.
Serial: one compare or add per element costs less than a parallel region's fork/join on the shared host.

Accuracy: every float sum accumulates in float64 (exact-ish for float32 inputs; for float64 inputs
the usual naive bound |err| <= n*eps*sum|x|). sum_all keeps 4 independent float64 partial sums so
the loop is not one long dependency chain. max/argmax follow NumPy: NaN wins, first maximum wins.
"""
import math

import numpy as np

from .._numba import jit, jit_reassoc

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_x(name, x, ndim):
    if not isinstance(x, np.ndarray) or (ndim and x.ndim != ndim):
        raise ValueError(f"{name}: expected a {ndim}-D array, got {getattr(x, 'shape', type(x))}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name}: expected float32 or float64, got {x.dtype}")
    if not x.flags.c_contiguous:
        raise ValueError(f"{name}: x must be C-contiguous (strides {x.strides})")


def _check_out(name, out, shape, dtype):
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
        raise ValueError(f"{name}: out must have shape {shape} and dtype {dtype}, got "
                         f"{getattr(out, 'shape', type(out))} {getattr(out, 'dtype', '')}")


@jit
def _sum_rows(out, acc, x, accumulate):
    # out (N,) (+)= x (M,N).sum(axis=0); acc (N,) float64 zeros, the per-column accumulator (passed in:
    # an np.zeros here compiles NumPy's allocation overloads into the eager path's cold start)
    M, N = x.shape
    for i in range(M):
        for j in range(N):
            acc[j] += x[i, j]
    for j in range(N):
        out[j] = out[j] + acc[j] if accumulate else acc[j]


@jit
def _sum_all(x):
    # sum of x (n,) in float64, 4 partial sums
    n = x.size
    s0 = s1 = s2 = s3 = 0.0
    n4 = n - n % 4
    for i in range(0, n4, 4):
        s0 += x[i]
        s1 += x[i + 1]
        s2 += x[i + 2]
        s3 += x[i + 3]
    for i in range(n4, n):
        s0 += x[i]
    return (s0 + s1) + (s2 + s3)


@jit
def _argmax_rows(idx, x):
    # idx (M,) = first argmax of each row of x (M,N); a NaN is the maximum (NumPy semantics)
    M, N = x.shape
    for i in range(M):
        best = 0
        for j in range(N):
            v = x[i, j]
            if math.isnan(v):
                best = j
                break
            if v > x[i, best]:
                best = j
        idx[i] = best


def sum_rows(out, x, accumulate=False):
    # out (N,) (+)= x (M,N).sum(axis=0)   (bias gradient)
    _check_x("sum_rows", x, 2)
    _check_out("sum_rows", out, (x.shape[1],), x.dtype)
    _sum_rows(out, np.zeros(x.shape[1], np.float64), x, bool(accumulate))


def sum_all(out, x):
    # out (1,) = x (...).sum()
    _check_x("sum_all", x, 0)
    _check_out("sum_all", out, (1,), x.dtype)
    out[0] = _sum_all(x.reshape(-1))


def argmax_rows(idx, x):
    # idx (M,) int64 = x (M,N).argmax(axis=1), N >= 1
    _check_x("argmax_rows", x, 2)
    _check_out("argmax_rows", idx, (x.shape[0],), np.dtype(np.int64))
    if x.shape[1] == 0 and x.shape[0] > 0:
        raise ValueError("argmax_rows: attempt to get argmax of an empty sequence (x has 0 columns)")
    _argmax_rows(idx, x)


def max_rows(out, x):
    # out (M,) = x (M,N).max(axis=1), N >= 1
    _check_out("max_rows", out, (x.shape[0],) if isinstance(x, np.ndarray) and x.ndim == 2 else None,
               getattr(x, "dtype", None))
    idx = np.empty(x.shape[0], dtype=np.int64)
    argmax_rows(idx, x)
    out[...] = x[np.arange(x.shape[0]), idx]


# ---- along a dim: (A, N, B) views reducing axis 1 ----------------------------------------------------
@jit_reassoc
def _reduce_rows(out, x, prod):
    # out (M,) = sum (prod: product) of each row of x (M,N), float64 accumulator (reassociation: SIMD)
    M, N = x.shape
    for i in range(M):
        acc = 1.0 if prod else 0.0
        if prod:
            for j in range(N):
                acc *= x[i, j]
        else:
            for j in range(N):
                acc += x[i, j]
        out[i] = acc


@jit
def _reduce_cols(out, x, prod):
    # out (A,B) = sum (prod: product) of x (A,N,B) along axis 1, a float64 accumulator per column; four
    # rows per pass over the accumulator (0.075 vs 0.084 ms one row at a time, (1024, 1000) float32)
    A, N, B = x.shape
    acc = np.empty(B, np.float64)
    for a in range(A):
        for b in range(B):
            acc[b] = 1.0 if prod else 0.0
        for n in range(0, N - 3, 4):
            r0, r1, r2, r3 = x[a, n], x[a, n + 1], x[a, n + 2], x[a, n + 3]
            if prod:
                for b in range(B):
                    acc[b] *= (np.float64(r0[b]) * r1[b]) * (np.float64(r2[b]) * r3[b])
            else:
                for b in range(B):
                    acc[b] += (np.float64(r0[b]) + r1[b]) + (np.float64(r2[b]) + r3[b])
        for n in range(N - N % 4, N):
            row = x[a, n]
            if prod:
                for b in range(B):
                    acc[b] *= row[b]
            else:
                for b in range(B):
                    acc[b] += row[b]
        for b in range(B):
            out[a, b] = acc[b]


@jit
def _extreme_rows(values, indices, x, minimum):
    # values (M,), indices (M,) int64 = max (minimum: min) of each row of x (M,N), N >= 1, torch's rules
    M, N = x.shape
    for i in range(M):
        best, bv = 0, x[i, 0]
        if bv == bv:                             # a NaN first entry wins at once
            for j in range(1, N):
                v = x[i, j]
                if v != v:
                    best, bv = j, v
                    break
                if (v < bv) if minimum else (v > bv):
                    best, bv = j, v
        values[i] = bv
        indices[i] = best


@jit
def _extreme_cols(values, indices, x, minimum):
    # values (A,B), indices (A,B) int64 = max (minimum: min) of x (A,N,B) along axis 1, N >= 1, torch's rules
    A, N, B = x.shape
    for a in range(A):
        val, idx, first = values[a], indices[a], x[a, 0]
        for b in range(B):                       # explicit loops: slice assignment costs ~1.5 s of compile
            val[b] = first[b]
            idx[b] = 0
        for n in range(1, N):
            row = x[a, n]
            for b in range(B):
                v, c = row[b], val[b]
                if c == c and (v != v or ((v < c) if minimum else (v > c))):
                    val[b] = v
                    idx[b] = n


def reduce_lines(out, x, prod):
    # out (A,B) = x (A,N,B).sum(axis=1) (prod: .prod(axis=1)), float64 accumulator
    A, N, B = x.shape
    if B == 1:
        _reduce_rows(out.reshape(A), x.reshape(A, N), prod)
    else:
        _reduce_cols(out, x, prod)


def extreme_lines(values, indices, x, minimum):
    # values, indices (A,B) = max (minimum: min) of x (A,N,B) along axis 1 and its first index, N >= 1
    A, N, B = x.shape
    if B == 1:
        _extreme_rows(values.reshape(A), indices.reshape(A), x.reshape(A, N), bool(minimum))
    else:
        _extreme_cols(values, indices, x, bool(minimum))
