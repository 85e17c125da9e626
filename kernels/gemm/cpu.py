"""GEMM on the CPU (Numba): B packed into NR-wide panels, A read in place, MRxNR register tiles.

Entry points (outputs first; `accumulate=True` adds into `out` instead of overwriting it):
    matmul(out, a, b)     # out (M,N) = a (M,K) @ b (K,N)          (dX = dY @ W for W (out,in))
    matmul_nt(out, a, b)  # out (M,N) = a (M,K) @ b (N,K).T        (Linear forward y = x @ W.T)
    matmul_tn(out, a, b)  # out (M,N) = a (K,M).T @ b (K,N)        (dW = dY.T @ X)
All jitted code sees C-contiguous arrays only (one specialization per dtype): b's transpose is a
flag read by the B packer; a's transpose (tn) is packed once into a C-contiguous copy, O(M*K).
Floats: for every k-block of KC, each thread packs the B panels of its output columns (npan, KC, NR),
then for every MR-row tile of A and every panel calls a generated micro-kernel (_micro.py: 6x16
float32, 6x8 float64: 12 ymm accumulators) and adds the tile into out. Threads: the output is cut
into numba.get_num_threads() chunks along N (along M when N has too few panels), one prange
iteration each; problems under PAR_MIN_FLOPS stay on the calling thread.
int64: a plain i-k-j loop (exact; overflow wraps like NumPy).
"""
import numba
import numpy as np

from numba.extending import overload

from .._numba import jit, pjit
from ._micro import micro_6x8, micro_6x16

KC = 512  # k-block: A row-tiles (MR,KC) stay in L1, one block's packed B panels (npan,KC,NR) in L2
PAR_MIN_FLOPS = 1 << 18  # below ~0.26 MFLOP a parallel region costs more than it saves
_TILE = {np.dtype(np.float32): (6, 16), np.dtype(np.float64): (6, 8)}  # (MR, NR) per dtype
_DTYPES = "float32, float64 and int64"


def _micro(ct, a, i0, mv, k0, bp, kc):
    """ct (MR,NR) = a[rows, k0:k0+kc] @ bp (kc,NR): the dtype's micro-kernel, picked while typing."""


@overload(_micro)
def _micro_typed(ct, a, i0, mv, k0, bp, kc):
    if ct.dtype == numba.float32:
        return lambda ct, a, i0, mv, k0, bp, kc: micro_6x16(ct, a, i0, mv, k0, bp, kc)
    return lambda ct, a, i0, mv, k0, bp, kc: micro_6x8(ct, a, i0, mv, k0, bp, kc)


@jit
def _pack_b(bpack, b, trans_b, j_lo, j_hi, k0, kc):
    # bpack[:, :kc] (npan,kc,NR) = B[k0:k0+kc, j_lo:j_hi] cut into NR-wide column panels, zero-padded;
    # B (K,N) = b, or b (N,K).T when trans_b
    npan, _, NR = bpack.shape
    for q in range(npan):
        j0 = j_lo + q * NR
        nv = min(NR, j_hi - j0)
        if trans_b:
            for p in range(kc):
                for j in range(nv):
                    bpack[q, p, j] = b[j0 + j, k0 + p]
        else:
            for p in range(kc):
                for j in range(nv):
                    bpack[q, p, j] = b[k0 + p, j0 + j]
        for p in range(kc):
            for j in range(nv, NR):
                bpack[q, p, j] = 0


@jit
def _store(out, ct, i0, mv, j0, nv, overwrite):
    # out[i0:i0+mv, j0:j0+nv] (=|+=) ct[:mv, :nv]
    if overwrite:
        for i in range(mv):
            for j in range(nv):
                out[i0 + i, j0 + j] = ct[i, j]
    else:
        for i in range(mv):
            for j in range(nv):
                out[i0 + i, j0 + j] += ct[i, j]


@jit
def _span(n, unit, parts, t):
    # [lo, hi) of part t when n items are cut into `parts` runs of whole `unit`s
    units = (n + unit - 1) // unit
    return min(n, (units * t // parts) * unit), min(n, (units * (t + 1) // parts) * unit)


@jit
def _gemm_chunk(out, a, b, trans_b, accumulate, parts_m, parts_n, t, MR, NR):
    # chunk t of a parts_m x parts_n grid over out (M,N) (+)= a (M,K) @ B (K,N),
    # B = b or b.T (trans_b); this chunk packs the B panels it needs, then runs MRxNR tiles
    M, N = out.shape
    K = b.shape[1] if trans_b else b.shape[0]  # a may carry padding columns past K
    i_lo, i_hi = _span(M, MR, parts_m, t // parts_n)
    j_lo, j_hi = _span(N, NR, parts_n, t % parts_n)
    if i_lo >= i_hi or j_lo >= j_hi:
        return
    bpack = np.empty(((j_hi - j_lo + NR - 1) // NR, min(K, KC), NR), dtype=out.dtype)
    ct = np.empty((MR, NR), dtype=out.dtype)
    for k0 in range(0, K, KC):
        kc = min(KC, K - k0)
        _pack_b(bpack, b, trans_b, j_lo, j_hi, k0, kc)  # this k-block's panels stay in L2
        overwrite = k0 == 0 and not accumulate
        for i0 in range(i_lo, i_hi, MR):
            mv = min(MR, i_hi - i0)
            for j0 in range(j_lo, j_hi, NR):
                _micro(ct, a, i0, mv, k0, bpack[(j0 - j_lo) // NR], kc)
                _store(out, ct, i0, mv, j0, min(NR, j_hi - j0), overwrite)


@pjit
def _gemm_parallel(out, a, b, trans_b, accumulate, parts_m, parts_n, MR, NR):
    # out (M,N) (+)= a (M,K) @ B (K,N), one prange iteration per chunk
    for t in numba.prange(parts_m * parts_n):
        _gemm_chunk(out, a, b, trans_b, accumulate, parts_m, parts_n, t, MR, NR)


@numba.njit(nogil=True)  # not cached: Numba refuses to cache code reading the thread count
def _num_threads():
    # numba.get_num_threads() from jitted code: ~0.2 us instead of ~6 us through Python
    return numba.get_num_threads()


@jit
def _gemm_int(out, a, b, accumulate):
    # out (M,N) (+)= a (M,K) @ b (K,N), integers: i-k-j order (vectorizes over j)
    M, K = a.shape
    N = b.shape[1]
    for i in range(M):
        if not accumulate:
            for j in range(N):
                out[i, j] = 0
        for k in range(K):
            aik = a[i, k]
            for j in range(N):
                out[i, j] += aik * b[k, j]


_compiled = set()  # (driver name, dtype char) pairs already called (compiled or cache-loaded) here


def _call_slp(fn, key, *args):
    """Call a GEMM driver; its first call per type compiles with LLVM's SLP vectorizer switched on.

    Numba leaves SLP off by default (it miscompiled code on older LLVMs); the generated micro-
    kernels need it to turn scalar accumulators into ymm registers. It is enabled only while these
    drivers compile, and the results are tested against ref.py.
    """
    key = (fn.__name__, key)
    if key in _compiled:
        return fn(*args)
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        return fn(*args)
    finally:
        numba.config.SLP_VECTORIZE = old
        _compiled.add(key)


def _pack_rows(A):
    """C-contiguous copy of A (M,K); rows padded by 16 zeros when K*itemsize is a multiple of 4 KiB,
    where the micro-kernel's MR row streams would all map to the same L1 cache sets."""
    M, K = A.shape
    if (K * A.itemsize) % 4096:
        return np.ascontiguousarray(A)
    P = np.zeros((M, K + 16), dtype=A.dtype)
    P[:, :K] = A
    return P


def _check(name, out, a, b, A, B):
    """Clear errors for bad operands (a, b as given; A, B the logical (M,K), (K,N) operands)."""
    for x in (out, a, b):
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            raise ValueError(f"{name}: expected 2-D arrays, got shapes "
                             f"{[getattr(y, 'shape', type(y)) for y in (out, a, b)]}")
    if not (out.dtype == a.dtype == b.dtype) or (out.dtype not in _TILE and out.dtype != np.int64):
        raise TypeError(f"{name}: expected out, a, b of one dtype among {_DTYPES}, got "
                        f"{out.dtype}, {a.dtype}, {b.dtype}")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"{name}: mat1 and mat2 shapes cannot be multiplied "
                         f"({A.shape[0]}x{A.shape[1]} and {B.shape[0]}x{B.shape[1]})")
    if out.shape != (A.shape[0], B.shape[1]):
        raise ValueError(f"{name}: out has shape {out.shape}, expected {(A.shape[0], B.shape[1])}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{name}: out must be a writeable C-contiguous array")


def _gemm(name, out, a, b, trans_a, trans_b, accumulate):
    """out (+)= op(a) @ op(b) for C-contiguous a, b; op transposes when the flag is set."""
    A = a.T if trans_a else a
    B = b.T if trans_b else b
    _check(name, out, a, b, A, B)
    if not (a.flags.c_contiguous and b.flags.c_contiguous):  # the contract; keeps types few
        raise ValueError(f"{name}: a and b must be C-contiguous (got strides {a.strides}, {b.strides})")
    (M, K), N = A.shape, B.shape[1]
    if M == 0 or N == 0:
        return
    if K == 0 or out.dtype == np.int64:
        if K == 0 and not accumulate:
            out[...] = 0
        if K > 0:
            _gemm_int(out, np.ascontiguousarray(A), np.ascontiguousarray(B), accumulate)
        return
    if trans_a:  # pack A^T once (O(MK)) into C-contiguous rows for the micro-kernel
        A = _pack_rows(A)
    MR, NR = _TILE[out.dtype]
    key = out.dtype.char
    nt = _num_threads()
    if nt == 1 or 2 * M * N * K < PAR_MIN_FLOPS:
        return _call_slp(_gemm_chunk, key, out, A, b, trans_b, accumulate, 1, 1, 0, MR, NR)
    parts_n = min(nt, -(-N // NR))
    parts_m = 1 if parts_n == nt else min(nt // parts_n, -(-M // MR))
    _call_slp(_gemm_parallel, key, out, A, b, trans_b, accumulate, parts_m, parts_n, MR, NR)


def matmul(out, a, b, accumulate=False):
    # out (M,N) (+)= a (M,K) @ b (K,N)
    _gemm("matmul", out, a, b, False, False, accumulate)


def matmul_nt(out, a, b, accumulate=False):
    # out (M,N) (+)= a (M,K) @ b (N,K).T
    _gemm("matmul_nt", out, a, b, False, True, accumulate)


def matmul_tn(out, a, b, accumulate=False):
    # out (M,N) (+)= a (K,M).T @ b (K,N)
    _gemm("matmul_tn", out, a, b, True, False, accumulate)
