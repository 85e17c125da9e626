"""Batched GEMM on the CPU (Numba) for many small matrices: register tiles of explicit SIMD vectors,
tuned for tiny M, N, K (where BLAS call overhead dominates np.matmul). float32, float64, int64.

    bmm(out, a, b)     # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    bmm_nt(out, a, b)  # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    bmm_tn(out, a, b)  # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
Two tile loops, both over element strides taken from the shapes (the arrays are C-contiguous):
_mm: a tile is R <= 6 rows x 8 columns of four batch entries, held in 4R 8-lane vectors
(kernels/simd.py's v8) while k runs (per k and entry: one masked load of b's row k, R broadcast-FMAs
of a), so 4R FMA chains are independent and a lane mask covers any N (no scalar tail, nothing read
or written outside the arrays). bmm_nt gathers b's strided columns; bmm_tn reads a with its
strides swapped. It runs every dtype and variant, except:
_mm_kpairs: float32 bmm and bmm_nt on AVX-512 hosts, where 8 float32 columns fill half a register.
Its 16-lane vectors hold 8 columns at two consecutive k, so one FMA does two k steps (half of _mm's
FMAs): a 64-bit broadcast of a[n,i,k:k+2] times b's rows k and k+1 zipped (bmm_nt: one gather of
b's (k, k+1) pairs), the pairs summed before the store. Tiles of R rows x 8 columns of two batch
entries. K < 2 has no pair: it declines, and the entry point runs the call as bmm_tn on _mm.
R is a compile-time constant (see _ROWS). Plain Numba loops cannot do this: LLVM's loop vectorizer
wants long inner loops and Numba turns its SLP vectorizer off, so scalar loops ran one latency-bound
FMA chain at a time (~75 us for (256,5,6)@(256,6,7); _mm ~2.4 us, _mm_kpairs ~1.9 us; np.matmul
~7.5 us with OpenBLAS's AVX-512 kernels). Serial: at these sizes a whole batch of 256 takes a few
microseconds, less than a parallel launch.
"""
import numpy as np
from numba import types
from numba.extending import overload

from .._checks import KERNEL_REFUSALS
from .._numba import jit
from ..simd import lanes, v8, vbroadcast2, vfmask, vgather2, vpairsum, vzeros, vzip

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64))
_W = 8  # lanes of a v8 vector, every dtype: ymm for float32, zmm (or two ymm) for 64-bit
_KPAIRS = lanes(np.dtype(np.float32)) == 2 * _W  # AVX-512 host: float32 bmm and bmm_nt run _mm_kpairs
_ALL, _EVEN = np.int64(-1), np.int64(0x5555)  # vfmask lane masks: all; the first k of every pair


# ---- 8-lane tiles (_mm) ----------------------------------------------------------------------------
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
    return True


# ---- k-pair tiles (_mm_kpairs): float32 on AVX-512 hosts, a's k stride 1 (bmm, bmm_nt) ---------------
@jit
def _pfmas(c, a, p, si, v, bits, R):
    # c[t] + (a.flat[q], a.flat[q+1]) * v on the lanes set in bits, q = p + t*si, for t < R
    return (vfmask(vbroadcast2(a, p), v, c[0], bits),
            vfmask(vbroadcast2(a, p + si), v, c[1], bits) if R > 1 else c[1],
            vfmask(vbroadcast2(a, p + 2 * si), v, c[2], bits) if R > 2 else c[2],
            vfmask(vbroadcast2(a, p + 3 * si), v, c[3], bits) if R > 3 else c[3],
            vfmask(vbroadcast2(a, p + 4 * si), v, c[4], bits) if R > 4 else c[4],
            vfmask(vbroadcast2(a, p + 5 * si), v, c[5], bits) if R > 5 else c[5])


@jit
def _prows(b, p, sk, s, n, gather):
    # b's rows k (at p) and k+1 (at p + sk), lanes j < n, zipped into one pair vector; with gather
    # (bmm_nt, sk == 1) one gather of the pairs b.flat[p + j*s:][:2]. gather is a literal
    return vgather2(b, p, s, n) if gather else vzip(v8.vload(b, p, n), v8.vload(b, p + sk, n))


@jit
def _pstores(out, q, N, c, nl, R):
    # out.flat[q + t*N:][:nl] = the sums of c[t]'s lane pairs (its two k), t < R
    for t in range(R):
        v8.vstore(out, q + t * N, vpairsum(c[t]), nl)


def _mm_kpairs(out, a, sa, b, sb, K, rows, gather):
    # _mm (same arguments, same row groups) on pair vectors, 16 lanes = 8 columns at k and k+1; K >= 2
    # (False, nothing written, for K < 2). A tile: R rows x 8 columns x two batch entries (2R
    # accumulators; three or four entries spill and run slower); an odd K's first step (k = 0, 1)
    # keeps only its k = 0 lanes, the later ones are whole pairs. Column tiles are the outer loop:
    # ~10% faster for N <= 8 (fewer values live across the batch loop), ~20% slower for N > 8 than
    # tiles inside it (a is streamed once per column tile)
    (B, M, N), R = out.shape, rows.ndim + 0
    if K < 2:
        return False
    first = _ALL if K % 2 == 0 else _EVEN
    for j0 in range(0, N, _W):
        nl = N - j0
        for g in range(0, M, R):
            i0 = min(g, M - R)
            for n0 in range(0, B, 2):
                n1 = min(n0 + 1, B - 1)
                pa0, pa1 = n0 * sa[0] + i0 * sa[1], n1 * sa[0] + i0 * sa[1]
                pb0, pb1 = n0 * sb[0] + j0 * sb[2], n1 * sb[0] + j0 * sb[2]
                z = vzeros(out)
                c0 = c1 = (z, z, z, z, z, z)
                c0 = _pfmas(c0, a, pa0, sa[1], _prows(b, pb0, sb[1], sb[2], nl, gather), first, R)
                c1 = _pfmas(c1, a, pa1, sa[1], _prows(b, pb1, sb[1], sb[2], nl, gather), first, R)
                for k in range(2 - K % 2, K - 1, 2):
                    bk = k * sb[1]
                    c0 = _pfmas(c0, a, pa0 + k, sa[1], _prows(b, pb0 + bk, sb[1], sb[2], nl, gather), _ALL, R)
                    c1 = _pfmas(c1, a, pa1 + k, sa[1], _prows(b, pb1 + bk, sb[1], sb[2], nl, gather), _ALL, R)
                _pstores(out, (n0 * M + i0) * N + j0, N, c0, nl, R)
                _pstores(out, (n1 * M + i0) * N + j0, N, c1, nl, R)
    return True


def _tiles(out, a, sa, b, sb, K, rows, gather):
    """_mm, or _mm_kpairs for float32 on AVX-512 hosts; True, or False if the loop declines."""


@overload(_tiles, prefer_literal=True)
def _tiles_for(out, a, sa, b, sb, K, rows, gather):
    # picked while Numba types the call, per dtype; the loop's Python function is the implementation
    # (no extra call layer to compile). prefer_literal keeps gather a literal
    return _mm_kpairs if _KPAIRS and a.dtype == types.float32 else _mm.py_func


@jit
def _c_contiguous(out, a, b):
    # the API takes C-contiguous arrays only (the tile loops take flat offsets from the shapes); a
    # constant True for arrays typed C-contiguous
    return out.flags.c_contiguous and a.flags.c_contiguous and b.flags.c_contiguous


@jit
def _bmm_nn(out, a, b, rows):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N); False (nothing written) if the shapes do not fit or an
    # array is not C-contiguous. Element strides from the shapes (a C-contiguous array's strides may
    # be anything along length-1 axes, which no index moves along); the unit ones are literals
    (B, M, K), N = a.shape, b.shape[2]
    if (b.shape[:2] != (B, K) or out.shape != (B, M, N) or 0 < M < rows.ndim
            or not _c_contiguous(out, a, b)):
        return False
    return _tiles(out, a, (M * K, K, 1), b, (K * N, N, 1), K, rows, False)


@jit
def _bmm_nt(out, a, b, rows):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T; b's k and j strides swapped, its columns gathered
    (B, M, K), N = a.shape, b.shape[1]
    if (b.shape[0] != B or b.shape[2] != K or out.shape != (B, M, N) or 0 < M < rows.ndim
            or not _c_contiguous(out, a, b)):
        return False
    return _tiles(out, a, (M * K, K, 1), b, (N * K, 1, K), K, rows, True)


@jit
def _bmm_tn(out, a, b, rows):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N); a's k and i strides swapped (always _mm: k pairs need
    # a's k stride 1)
    (B, K, M), N = a.shape, b.shape[2]
    if (b.shape[:2] != (B, K) or out.shape != (B, M, N) or 0 < M < rows.ndim
            or not _c_contiguous(out, a, b)):
        return False
    _mm(out, a, (K * M, 1, M), b, (K * N, N, 1), K, rows, False)
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
        if not _short_k(name, out, a, b):
            raise RuntimeError(f"{name}: the kernel refused valid arguments")


def _short_k(name, out, a, b):
    # K < 2, which _mm_kpairs declines (no k pair): with at most one k, a (B,M,K) and (B,K,M) are the
    # same memory, as are b (B,N,K) and (B,K,N), so it runs as bmm_tn (always _mm); False for K >= 2
    B, M, K = a.shape
    if name == "bmm_tn" or K >= 2:
        return False
    N = out.shape[2]
    _run("bmm_tn", _bmm_tn, out, a.reshape(B, K, M), b.reshape(B, K, N), 2)
    return True


def bmm(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    _run("bmm", _bmm_nn, out, a, b, 1)


def bmm_nt(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    _run("bmm_nt", _bmm_nt, out, a, b, 1)


def bmm_tn(out, a, b):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
    _run("bmm_tn", _bmm_tn, out, a, b, 2)
