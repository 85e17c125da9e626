"""Batched GEMM on the CPU (Numba) for many small matrices: register tiles of explicit SIMD vectors,
tuned for tiny M, N, K (where BLAS call overhead dominates np.matmul). float32, float64, int64.

    bmm(out, a, b)     # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    bmm_nt(out, a, b)  # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    bmm_tn(out, a, b)  # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
All three run one tile loop (_mm) over element strides: a tile is R <= 6 rows x 8 columns of
four batch entries, held in 4R 8-lane vectors (kernels/simd.py's v8) while k runs (per k and
entry: one masked load of b's row k, R broadcast-FMAs of a), so 4R FMA chains are independent and
a lane mask covers any N (no scalar tail, nothing read or written outside the arrays). bmm_nt
gathers b's strided columns; bmm_tn reads a with its strides swapped. R is a compile-time
constant (see _ROWS). Plain Numba loops cannot do this: LLVM's loop vectorizer wants long inner
loops and Numba turns its SLP vectorizer off, so scalar loops ran one latency-bound FMA chain at a
time (~75 us for (256,5,6)@(256,6,7), now ~2 us; np.matmul ~7 us with OpenBLAS's AVX-512 kernels).
Serial: at these sizes a whole batch of 256 takes a few microseconds, less than a parallel launch.
"""
import numpy as np

from .._checks import KERNEL_REFUSALS
from .._numba import jit
from ..simd import v8

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64))
_W = 8  # lanes of a v8 vector, every dtype: ymm for float32, zmm (or two ymm) for 64-bit


# ---- kernels ------------------------------------------------------------------------------------
@jit
def _fmas(c, a, p, si, v, R):
    # c[t] + a.flat[p + t*si] * v for t < R; the six vectors c[R:] pass through
    return (v8.vfma(v8.vbroadcast(a, p), v, c[0]),
            v8.vfma(v8.vbroadcast(a, p + si), v, c[1]) if R > 1 else c[1],
            v8.vfma(v8.vbroadcast(a, p + 2 * si), v, c[2]) if R > 2 else c[2],
            v8.vfma(v8.vbroadcast(a, p + 3 * si), v, c[3]) if R > 3 else c[3],
            v8.vfma(v8.vbroadcast(a, p + 4 * si), v, c[4]) if R > 4 else c[4],
            v8.vfma(v8.vbroadcast(a, p + 5 * si), v, c[5]) if R > 5 else c[5])


@jit
def _row(b, p, s, n, gather):
    # lanes j < n = b.flat[p + j*s]: a masked gather (bmm_nt's columns of b), else one masked load
    # along a contiguous row (s == 1, or n <= 1). gather is a literal, so the branch folds away
    return v8.vgather(b, p, s, n) if gather else v8.vload(b, p, n)


@jit
def _stores(out, q, N, c, nl, R):
    # out.flat[q + t*N:][:nl] = c[t] for t < R
    for t in range(R):
        v8.vstore(out, q + t * N, c[t], nl)


@jit
def _mm(out, a, sa, b, sb, K, rows, gather):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N); a[n,i,k] = a.flat[n*sa[0] + i*sa[1] + k*sa[2]] and
    # b[n,k,j] = b.flat[n*sb[0] + k*sb[1] + j*sb[2]]. A tile: R = rows.ndim rows (the last group
    # ends at row M, redoing rows when R does not divide M) x 8 columns x four batch entries (a short
    # last group repeats entry B-1), held in 4R <= 24 vectors: 4R independent FMA chains. gather (a
    # literal): b's rows k are strided (bmm_nt), else contiguous.
    # (rows.ndim is typed as a literal; R + 0 is a plain int, so the helpers compile once per dtype,
    # not per R: LLVM inlines them into each _mm and folds R there)
    (B, M, N), R = out.shape, rows.ndim + 0
    for g in range(0, M, R):
        i0 = min(g, M - R)
        for n0 in range(0, B, 4):
            n1, n2, n3 = min(n0 + 1, B - 1), min(n0 + 2, B - 1), min(n0 + 3, B - 1)
            for j0 in range(0, N, _W):
                z, nl = v8.vzeros(out), N - j0
                c0 = c1 = c2 = c3 = (z, z, z, z, z, z)
                for k in range(K):
                    bk, ak = k * sb[1] + j0 * sb[2], i0 * sa[1] + k * sa[2]
                    c0 = _fmas(c0, a, n0 * sa[0] + ak, sa[1], _row(b, n0 * sb[0] + bk, sb[2], nl, gather), R)
                    c1 = _fmas(c1, a, n1 * sa[0] + ak, sa[1], _row(b, n1 * sb[0] + bk, sb[2], nl, gather), R)
                    c2 = _fmas(c2, a, n2 * sa[0] + ak, sa[1], _row(b, n2 * sb[0] + bk, sb[2], nl, gather), R)
                    c3 = _fmas(c3, a, n3 * sa[0] + ak, sa[1], _row(b, n3 * sb[0] + bk, sb[2], nl, gather), R)
                _stores(out, (n0 * M + i0) * N + j0, N, c0, nl, R)
                _stores(out, (n1 * M + i0) * N + j0, N, c1, nl, R)
                _stores(out, (n2 * M + i0) * N + j0, N, c2, nl, R)
                _stores(out, (n3 * M + i0) * N + j0, N, c3, nl, R)


@jit
def _c_contiguous(out, a, b):
    # the API takes C-contiguous arrays only (_mm reads a and b through their strides, but writes
    # out by flat offsets); a constant True for arrays typed C-contiguous
    return out.flags.c_contiguous and a.flags.c_contiguous and b.flags.c_contiguous


@jit
def _bmm_nn(out, a, b, rows):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N); False (nothing written) if the shapes do not fit or an
    # array is not C-contiguous
    (B, M, K), s = a.shape, a.itemsize
    if (b.shape[:2] != (B, K) or out.shape != (B, M, b.shape[2]) or 0 < M < rows.ndim
            or not _c_contiguous(out, a, b)):
        return False
    _mm(out, a, (a.strides[0] // s, a.strides[1] // s, a.strides[2] // s),
        b, (b.strides[0] // s, b.strides[1] // s, b.strides[2] // s), K, rows, False)
    return True


@jit
def _bmm_nt(out, a, b, rows):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T; b's k and j strides swapped, its columns gathered
    (B, M, K), s = a.shape, a.itemsize
    if (b.shape[0] != B or b.shape[2] != K or out.shape != (B, M, b.shape[1]) or 0 < M < rows.ndim
            or not _c_contiguous(out, a, b)):
        return False
    _mm(out, a, (a.strides[0] // s, a.strides[1] // s, a.strides[2] // s),
        b, (b.strides[0] // s, b.strides[2] // s, b.strides[1] // s), K, rows, True)
    return True


@jit
def _bmm_tn(out, a, b, rows):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N); a's k and i strides swapped
    (B, K, M), s = a.shape, a.itemsize
    if (b.shape[:2] != (B, K) or out.shape != (B, M, b.shape[2]) or 0 < M < rows.ndim
            or not _c_contiguous(out, a, b)):
        return False
    _mm(out, a, (a.strides[0] // s, a.strides[2] // s, a.strides[1] // s),
        b, (b.strides[0] // s, b.strides[1] // s, b.strides[2] // s), K, rows, False)
    return True


# Tile heights reach Numba as types: _ROWS[R] is an empty array with R dimensions, so each kernel
# is compiled once per R, on first use (an int would be a run-time value, and literal ints from
# Python take Numba's slow dispatch path). _ROWS_FOR[M]: R = M for M <= 6; larger M is cut into
# groups of at most 6 rows, as even as possible (M = 7: rows 0-3 and 3-6); M >= 64 uses R = 6.
_ROWS = [np.empty((0,) * r, np.int8) for r in range(7)]
_ROWS_FOR = [_ROWS[-(-M // -(-M // 6)) if M else 1] for M in range(64)]


def _check(name, out, a, b):
    # the clear error for arguments the kernels do not take (they return False or fail to type)
    for x in (out, a, b):
        if not isinstance(x, np.ndarray) or x.ndim != 3:
            raise ValueError(f"{name}: expected 3-D arrays, got shapes "
                             f"{[getattr(y, 'shape', type(y)) for y in (out, a, b)]}")
        if not x.flags.c_contiguous:
            raise ValueError(f"{name}: arrays must be C-contiguous (strides {x.strides})")
    if not (out.dtype == a.dtype == b.dtype) or out.dtype not in _DTYPES:
        raise TypeError(f"{name}: expected out, a, b of one dtype among float32, float64 and int64, "
                        f"got {out.dtype}, {a.dtype}, {b.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: out is read-only")
    (Ba, M, K), (Bb, K2, N) = a.shape, b.shape
    if name == "bmm_tn":
        M, K = K, M
    if name == "bmm_nt":
        K2, N = N, K2
    if Ba != Bb or K != K2:
        raise ValueError(f"{name}: batch shapes cannot be multiplied ({Ba}x{M}x{K} and {Bb}x{K2}x{N})")
    if out.shape != (Ba, M, N):
        raise ValueError(f"{name}: out has shape {out.shape}, expected {(Ba, M, N)}")


def _run(name, kernel, out, a, b, m_axis):
    try:
        M = a.shape[m_axis]
        ok = kernel(out, a, b, _ROWS_FOR[M] if M < 64 else _ROWS[6])
    except KERNEL_REFUSALS:  # the kernel runs first, the checks only when it refuses (kernels/_checks.py)
        ok = False
    if not ok:
        _check(name, out, a, b)
        raise RuntimeError(f"{name}: the kernel refused valid arguments")


def bmm(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    _run("bmm", _bmm_nn, out, a, b, 1)


def bmm_nt(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    _run("bmm_nt", _bmm_nt, out, a, b, 1)


def bmm_tn(out, a, b):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
    _run("bmm_tn", _bmm_tn, out, a, b, 2)
