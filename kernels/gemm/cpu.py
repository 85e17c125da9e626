"""GEMM on the CPU (Numba): register tiles of explicit SIMD vectors (_micro.py).

Entry points (outputs first; `accumulate=True` adds into `out` instead of overwriting it):
    matmul(out, a, b)     # out (M,N) = a (M,K) @ b (K,N)          (dX = dY @ W for W (out,in))
    matmul_nt(out, a, b)  # out (M,N) = a (M,K) @ b (N,K).T        (Linear forward y = x @ W.T)
    matmul_tn(out, a, b)  # out (M,N) = a (K,M).T @ b (K,N)        (dW = dY.T @ X)
and `gemm(out, a, b, trans_a, trans_b, accumulate, nthreads)`, the same for jitted callers, and
`gemm_serial(...)` without nthreads, for jitted callers with threads of their own (the fused MLP).
Operands are C-contiguous; a transpose is a flag, never a copy:
  nn, tn: axpy tiles (MR rows x 2 vectors): each k adds A[i,k] * (a contiguous row of B) to MR*2
          accumulators; A[i,k] is read at a[i*K + k] (nn) or a[k*M + i] (tn). K is cut into
          blocks of KC; each (KC, 2W) column panel of B is first copied into one contiguous
          buffer (no L1 set aliasing or TLB misses whatever N is), reused by every row tile;
          a B of at most 2W columns is read in place (its rows are already one short panel).
  wide:   through gemm/matmul*, a chunk at least PACK_A_MIN_N columns wide also packs A: blocks of
          rows of A go into MR-row micro-panels, k-major (pack_a), and the axpy_MRp tiles read them
          with one pointer and constant offsets. The strided tiles keep MR row pointers live and
          spill them; the packed ones ran 1.2-1.7x faster at the MLP's dX/dW shapes when the host
          was loaded, about equal when it was quiet. gemm_serial (inside the fused MLP kernel)
          never packs A, so that path is not compiled into it (see _wide_block).
  nt:     from NT_PACK_MIN_M rows on, the same axpy tiles, with each panel of B = b.T gathered
          from b's rows (the pack costs K*N gathers, amortized over M rows). Fewer rows: dot tiles
          (MR x NR dot products, no packing): both a's and b's rows are contiguous in k, so each
          accumulator holds W partial sums along k, summed across lanes when the tile is done.
Edges (ragged M, N, K) are masked loads and stores, never reads past the data.
Threads: the output is cut into `nthreads` chunks along N (along M when N has too few tiles, or
when a wide GEMM has SPLIT_M_MIN_ROWS rows per thread: then each thread packs only its rows of A),
one prange iteration each; problems under PAR_MIN_FLOPS stay on the calling thread.
int64: a plain i-k-j loop (exact; overflow wraps like NumPy).
"""
import numba
import numpy as np
from numba import types
from numba.extending import overload

from .._checks import KERNEL_REFUSALS
from .._numba import jit, pjit
from ..simd import VEC_BYTES, lanes_of
from ._micro import axpy_4, axpy_4p, axpy_8, axpy_8p, dot_2x4, dot_4x4
from ._store import pack_a, pack_panel, pack_panel_t

KC = 512  # k-block of the axpy tiles: a packed (KC, 2W) B panel stays in L2 (measured 256-1024: 512 best)
NT_PACK_MIN_M = 128  # matmul_nt with at least this many rows packs B.T and runs the axpy tiles
PACK_A_MIN_N = 128  # a chunk at least this wide packs A too: the pack (M*K copies) is spread over N/2W panels
# (4 panels pay for it since nn packs transpose 8x8 blocks in registers: x @ W.T at batch 1024 +13-22%)
SPLIT_M_MIN_ROWS = 256  # wide packed GEMMs with this many rows per thread split M (B panels are packed twice)
MC_BYTES = 512 * 1024  # A is packed in blocks of rows of at most this size (kept in L2 across the panels)
PAR_MIN_FLOPS = 1 << 20  # below ~1 MFLOP a parallel region costs more than it saves
_WIDE = VEC_BYTES == 64  # AVX-512: 32 vector registers, bigger tiles
AXPY, AXPYP, AXPY_MR = (axpy_8, axpy_8p, 8) if _WIDE else (axpy_4, axpy_4p, 4)
DOT, DOT_MR, DOT_NR = (dot_4x4, 4, 4) if _WIDE else (dot_2x4, 2, 4)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_DTYPES = "float32, float64 and int64"


@jit
def _span(n, unit, parts, t):
    # [lo, hi) of part t when n items are cut into `parts` runs of whole `unit`s
    units = (n + unit - 1) // unit
    return min(n, (units * t // parts) * unit), min(n, (units * (t + 1) // parts) * unit)


@jit
def _block_axpy(out, a, b, trans_a, trans_b, acc, M, N, K, i_lo, i_hi, j_lo, j_hi):
    # out[i_lo:i_hi, j_lo:j_hi] (=|+=) A @ B, A = a (M,K) or a (K,M).T, B = b (K,N) or b (N,K).T;
    # all 1-D flat. Each (kc, NR) column panel of B is packed once (rows copied, or b's rows gathered
    # as columns for trans_b) and reused by every row tile.
    NR = 2 * lanes_of(out)
    sai, sap = (1, M) if trans_a else (K, 1)
    in_place = N <= NR and not trans_b   # b is one narrow panel already: its rows are read in place
    # one packed (kc, NR) panel of B; none allocated for an in-place b (the Winograd kernels' per-position
    # GEMMs: 36 tiles x 32 x 64 took 1.78 us a call with the allocation, 1.55 without)
    bp = out[:0] if in_place else np.empty(min(K, KC) * NR, out.dtype)
    for k0 in range(0, K, KC):
        kc = min(KC, K - k0)
        acc_k = acc or k0 > 0
        for j0 in range(j_lo, j_hi, NR):
            nv = min(NR, j_hi - j0)
            if in_place:
                panel, po, ldp = b, k0 * N + j0, N
            else:
                if trans_b:
                    pack_panel_t(bp, b, j0 * K + k0, K, kc, nv)
                else:
                    pack_panel(bp, b, k0 * N + j0, N, kc, nv)
                panel, po, ldp = bp, 0, NR
            for i0 in range(i_lo, i_hi, AXPY_MR):
                AXPY(out, i0 * N + j0, N, a, i0 * sai + k0 * sap, sai, sap, panel, po, ldp,
                     kc, min(AXPY_MR, i_hi - i0), nv, acc_k)


@jit
def _block_axpy_packed(out, a, b, trans_a, trans_b, acc, M, N, K, i_lo, i_hi, j_lo, j_hi):
    # _block_axpy with A packed as well: per k-block, blocks of mc rows of A are copied into MR-row
    # micro-panels (k-major, pack_a), then every B panel of the chunk runs over the block's tiles
    NR = 2 * lanes_of(out)
    sai, sap = (1, M) if trans_a else (K, 1)
    kcm = min(K, KC)
    mc = min(max(AXPY_MR, MC_BYTES // (kcm * out.itemsize) // AXPY_MR * AXPY_MR),
             (i_hi - i_lo + AXPY_MR - 1) // AXPY_MR * AXPY_MR)
    bp = np.empty(kcm * NR, out.dtype)  # one packed (kc, NR) panel of B
    ap = np.empty(mc * kcm, out.dtype)  # one packed (mc, kc) block of A
    for k0 in range(0, K, KC):
        kc = min(KC, K - k0)
        acc_k = acc or k0 > 0
        for ib in range(i_lo, i_hi, mc):
            ie = min(i_hi, ib + mc)
            for i0 in range(ib, ie, AXPY_MR):
                pack_a(ap, (i0 - ib) * kc, a, i0 * sai + k0 * sap, sai, sap, kc, min(AXPY_MR, ie - i0), AXPY_MR)
            for j0 in range(j_lo, j_hi, NR):
                nv = min(NR, j_hi - j0)
                if trans_b:
                    pack_panel_t(bp, b, j0 * K + k0, K, kc, nv)
                else:
                    pack_panel(bp, b, k0 * N + j0, N, kc, nv)
                for i0 in range(ib, ie, AXPY_MR):
                    AXPYP(out, i0 * N + j0, N, ap, (i0 - ib) * kc, bp, np.int64(0), NR, kc,
                          min(AXPY_MR, ie - i0), nv, acc_k)


def _wide_block(pack, out, a, b, trans_a, trans_b, acc, M, N, K, i_lo, i_hi, j_lo, j_hi):
    """_block_axpy_packed if pack (a literal True), else _block_axpy; chosen while Numba types the call,
    so a caller passing False (gemm_serial, inside the fused MLP kernel) never compiles the packed path."""


@overload(_wide_block, prefer_literal=True)
def _wide_block_for(pack, out, a, b, trans_a, trans_b, acc, M, N, K, i_lo, i_hi, j_lo, j_hi):
    packed = isinstance(pack, types.BooleanLiteral) and pack.literal_value
    return (lambda pack, out, a, b, trans_a, trans_b, acc, M, N, K, i_lo, i_hi, j_lo, j_hi:
            (_block_axpy_packed if packed else _block_axpy)(out, a, b, trans_a, trans_b, acc, M, N, K,
                                                            i_lo, i_hi, j_lo, j_hi))


@jit
def _block_dot(out, a, b, acc, N, K, i_lo, i_hi, j_lo, j_hi):
    # out[i_lo:i_hi, j_lo:j_hi] (=|+=) a (M,K) @ b (N,K).T; all 1-D flat
    for i0 in range(i_lo, i_hi, DOT_MR):
        mv = min(DOT_MR, i_hi - i0)
        for j0 in range(j_lo, j_hi, DOT_NR):
            DOT(out, i0 * N + j0, N, a, i0 * K, K, b, j0 * K, K, K, mv, min(DOT_NR, j_hi - j0), acc)


@jit
def _dot_tiles(trans_b, M):
    # matmul_nt on dot tiles (no packing) for a few rows; else on packed axpy tiles, which run at
    # matmul's speed once the gathering pack is amortized over NT_PACK_MIN_M rows
    return trans_b and M < NT_PACK_MIN_M


@jit
def _chunk(out, a, b, trans_a, trans_b, acc, M, N, K, parts_m, parts_n, t, pack):
    # chunk t of a parts_m x parts_n grid over out (M,N), in whole tiles; with pack (a literal bool),
    # axpy chunks at least PACK_A_MIN_N wide pack A too (see _wide_block)
    dot = _dot_tiles(trans_b, M)
    MR, NR = (DOT_MR, DOT_NR) if dot else (AXPY_MR, 2 * lanes_of(out))
    i_lo, i_hi = _span(M, MR, parts_m, t // parts_n)
    j_lo, j_hi = _span(N, NR, parts_n, t % parts_n)
    if i_lo >= i_hi or j_lo >= j_hi:
        return
    if K == 0:
        if not acc:
            for i in range(i_lo, i_hi):
                out[i * N + j_lo:i * N + j_hi] = 0
    elif dot:
        _block_dot(out, a, b, acc, N, K, i_lo, i_hi, j_lo, j_hi)
    elif j_hi - j_lo >= PACK_A_MIN_N:
        _wide_block(pack, out, a, b, trans_a, trans_b, acc, M, N, K, i_lo, i_hi, j_lo, j_hi)
    else:
        _block_axpy(out, a, b, trans_a, trans_b, acc, M, N, K, i_lo, i_hi, j_lo, j_hi)


@pjit
def _chunks_parallel(out, a, b, trans_a, trans_b, acc, M, N, K, parts_m, parts_n):
    for t in numba.prange(parts_m * parts_n):
        _chunk(out, a, b, trans_a, trans_b, acc, M, N, K, parts_m, parts_n, np.int64(t), True)


@jit
def gemm_serial(out, a, b, trans_a, trans_b, accumulate):
    # out (M,N) (+)= op(a) (M,K) @ op(b) (K,N) on the calling thread (op, dtypes, layouts as gemm);
    # for jitted callers that do their own threading (the fused MLP's row shards): no parallel
    # region and no A packing are compiled into them (the packed path costs the fused kernel ~25%
    # more cold compile time, for a training step measured 0-15% faster)
    _serial(out, a, b, trans_a, trans_b, accumulate, False)


@jit
def gemm_narrow(out, a, b, trans_a, accumulate):
    # gemm_serial(out, a, b, trans_a, False, accumulate); where out (M,N) is one panel narrow (N <= 2W, K <=
    # KC: b's rows read in place) the axpy tiles are called straight, without gemm_serial's dispatch. For
    # the Winograd kernels' per-position GEMMs (36 per image and gradient): 36 tiles x 32 x 64 (the
    # examples Net's input gradient) 75 -> 68 us per 36 calls, 64 x 32 x 36 (its weight gradient) 58 -> 53
    M, N = out.shape
    K = a.shape[0] if trans_a else a.shape[1]
    if N > 2 * lanes_of(out) or M == 0 or N == 0 or K == 0 or K > KC:
        _serial(out, a, b, trans_a, False, accumulate, False)
        return
    sai, sap = (np.int64(1), np.int64(M)) if trans_a else (np.int64(K), np.int64(1))
    of, af, bf = out.reshape(-1), a.reshape(-1), b.reshape(-1)
    for i0 in range(0, M, AXPY_MR):
        AXPY(of, i0 * N, N, af, i0 * sai, sai, sap, bf, np.int64(0), N, K, min(AXPY_MR, M - i0), N, accumulate)


@jit
def _serial(out, a, b, trans_a, trans_b, accumulate, pack):
    # gemm_serial; pack (a literal bool): wide axpy chunks pack A (see _chunk)
    M, N = out.shape
    K = a.shape[0] if trans_a else a.shape[1]
    if M == 0 or N == 0:
        return
    _chunk(out.reshape(-1), a.reshape(-1), b.reshape(-1), trans_a, trans_b, accumulate, M, N, K,
           np.int64(1), np.int64(1), np.int64(0), pack)


@jit
def gemm(out, a, b, trans_a, trans_b, accumulate, nthreads):
    # out (M,N) (+)= op(a) (M,K) @ op(b) (K,N), op = transpose when the flag is set (not both);
    # float32/float64, C-contiguous 2-D arrays; nthreads > 1 splits big problems over Numba threads
    M, N = out.shape
    K = a.shape[0] if trans_a else a.shape[1]
    if nthreads <= 1 or 2 * M * N * K < PAR_MIN_FLOPS:
        _serial(out, a, b, trans_a, trans_b, accumulate, True)
        return
    dot = _dot_tiles(trans_b, M)
    NR = DOT_NR if dot else 2 * lanes_of(out)
    if not dot and N >= PACK_A_MIN_N and M >= SPLIT_M_MIN_ROWS * nthreads:
        parts_m, parts_n = nthreads, 1  # each thread packs only its own rows of A
    else:
        parts_n = min(nthreads, (N + NR - 1) // NR)
        parts_m = 1 if parts_n == nthreads else min(nthreads // parts_n, (M + 7) // 8)
    _chunks_parallel(out.reshape(-1), a.reshape(-1), b.reshape(-1), trans_a, trans_b, accumulate, M, N, K,
                     parts_m, parts_n)


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


def _check(name, out, a, b, A, B):
    """Clear errors for bad operands (a, b as given; A, B the logical (M,K), (K,N) operands)."""
    for x in (out, a, b):
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            raise ValueError(f"{name}: expected 2-D arrays, got shapes "
                             f"{[getattr(y, 'shape', type(y)) for y in (out, a, b)]}")
    if not (out.dtype == a.dtype == b.dtype) or (out.dtype not in _FLOATS and out.dtype != np.int64):
        raise TypeError(f"{name}: expected out, a, b of one dtype among {_DTYPES}, got "
                        f"{out.dtype}, {a.dtype}, {b.dtype}")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"{name}: mat1 and mat2 shapes cannot be multiplied "
                         f"({A.shape[0]}x{A.shape[1]} and {B.shape[0]}x{B.shape[1]})")
    if out.shape != (A.shape[0], B.shape[1]):
        raise ValueError(f"{name}: out has shape {out.shape}, expected {(A.shape[0], B.shape[1])}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{name}: out must be a writeable C-contiguous array")


@jit
def _gemm_checked(out, a, b, trans_a, trans_b, accumulate, nthreads):
    # gemm for the Python entry points; False (nothing written) unless the shapes fit and every array
    # is C-contiguous (wrong ranks, dtypes or a read-only out fail to type instead)
    (am, ak), (bk, bn) = (a.shape[::-1] if trans_a else a.shape), (b.shape[::-1] if trans_b else b.shape)
    if out.shape != (am, bn) or ak != bk:
        return False
    if not (out.flags.c_contiguous and a.flags.c_contiguous and b.flags.c_contiguous):
        return False
    gemm(out, a, b, trans_a, trans_b, accumulate, nthreads)
    return True


def _gemm(name, out, a, b, trans_a, trans_b, accumulate):
    """out (+)= op(a) @ op(b) for C-contiguous a, b; op transposes when the flag is set."""
    if getattr(out, "dtype", None) in _FLOATS:
        try:
            if _gemm_checked(out, a, b, trans_a, trans_b, accumulate, _num_threads()):
                return
        except KERNEL_REFUSALS:  # the kernel runs first, the checks only when it refuses (kernels/_checks.py)
            pass
    A = a.T if trans_a else a
    B = b.T if trans_b else b
    _check(name, out, a, b, A, B)
    if not (a.flags.c_contiguous and b.flags.c_contiguous):  # the contract; keeps types few
        raise ValueError(f"{name}: a and b must be C-contiguous (got strides {a.strides}, {b.strides})")
    if out.dtype in _FLOATS:
        raise RuntimeError(f"{name}: the kernel refused valid arguments")
    if A.size and B.size:
        _gemm_int(out, np.ascontiguousarray(A), np.ascontiguousarray(B), accumulate)
    elif not accumulate:
        out[...] = 0


def matmul(out, a, b, accumulate=False):
    # out (M,N) (+)= a (M,K) @ b (K,N)
    _gemm("matmul", out, a, b, False, False, accumulate)


def matmul_nt(out, a, b, accumulate=False):
    # out (M,N) (+)= a (M,K) @ b (N,K).T
    _gemm("matmul_nt", out, a, b, False, True, accumulate)


def matmul_tn(out, a, b, accumulate=False):
    # out (M,N) (+)= a (K,M).T @ b (K,N)
    _gemm("matmul_tn", out, a, b, True, False, accumulate)
