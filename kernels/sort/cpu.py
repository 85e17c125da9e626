"""Sorting rows on the CPU (Numba): stable sort and top-k of x (M, N) along the last axis, torch's order
(see ref.py). Rows are split into `chunks` runs of rows (prange), each with its own scratch buffers.

Each value becomes an unsigned 64-bit key whose integer order is the wanted order, the mapping sort.cu
uses: -0.0 -> +0.0, negatives with every bit flipped, positives with the sign bit set, NaN the largest
key; descending complements the key. No float compares remain (NaN needs no special case). Rows of at
most RUN entries are insertion-sorted; longer rows are LSD radix-sorted, 8 bits a pass, skipping a
pass whose digit is one value for the whole row (so float32 keys take at most 4 passes). Both sorts
are stable, so equal keys keep their index order. Top-k with k <= TOPK_INSERT keeps a sorted buffer
of k candidates (a candidate goes after equal keys); larger k sorts the row. float32/float64 (read
through uint32/uint64 views), int64 indices: two specializations per kernel.
"""
import numba
import numpy as np
from numba import prange

from .._numba import jit, pjit

RUN = 32           # rows up to this length are insertion-sorted
TOPK_INSERT = 32   # top-k with k at most this keeps a sorted candidate buffer instead of sorting
_DIGIT = np.uint64(255)
# per float dtype: (view dtype, sign bit, +inf bits, all ones), as uint64
_BITS = {np.dtype(np.float32): (np.uint32, np.uint64(1 << 31), np.uint64(0x7F800000), np.uint64(0xFFFFFFFF)),
         np.dtype(np.float64): (np.uint64, np.uint64(1 << 63), np.uint64(0x7FF0000000000000),
                                np.uint64(0xFFFFFFFFFFFFFFFF))}


@jit
def _key(bits, sign, inf, full, desc):
    # the ordered key of one float's bits (uint32/uint64); sign, inf, full: that float type's constants
    u = np.uint64(bits)
    mag = u & (sign - np.uint64(1))
    if mag > inf:
        k = full                       # NaN: the largest
    elif mag == 0:
        k = sign                       # +-0.0: where +0.0 goes
    elif u & sign:
        k = full ^ u                   # negative: flip every bit
    else:
        k = u | sign
    return full ^ k if desc else k


@jit
def _insertion_sort(key, idx, n):
    # key, idx (n,) stably sorted by key
    for i in range(1, n):
        kv, iv, j = key[i], idx[i], i
        while j > 0 and key[j - 1] > kv:
            key[j], idx[j] = key[j - 1], idx[j - 1]
            j -= 1
        key[j], idx[j] = kv, iv


@jit
def _radix_sort(key, idx, tkey, tidx, count, n, nbytes):
    # key, idx (n,) stably sorted by key, LSD 8 bits a pass; tkey, tidx (n,), count (256,) scratch.
    # (Digits are cast to int64 and swaps written out: uint64 subscripts and tuple swaps took this
    # function's compile from ~0.7 s to ~6 s.)
    for p in range(nbytes):
        sh = np.uint64(8 * p)
        count[:] = 0
        for j in range(n):
            count[np.int64((key[j] >> sh) & _DIGIT)] += 1
        if count[np.int64((key[0] >> sh) & _DIGIT)] == n:
            continue                                   # one digit for every key: nothing moves
        total = 0
        for d in range(256):
            c = count[d]
            count[d] = total
            total += c
        for j in range(n):
            d = np.int64((key[j] >> sh) & _DIGIT)
            o = count[d]
            tkey[o] = key[j]
            tidx[o] = idx[j]
            count[d] = o + 1
        for j in range(n):
            key[j] = tkey[j]
            idx[j] = tidx[j]


@jit
def _write_row(values, indices, x, r, idx):
    # values, indices (M,K) row r = x's row r at idx[:K], and idx[:K]
    for o in range(values.shape[1]):
        indices[r, o] = idx[o]
        values[r, o] = x[r, idx[o]]


@pjit
def sort_rows(values, indices, x, bits, sign, inf, full, descending, chunks):
    # values, indices (M,K) = the first K of each row of x (M,N) stably sorted (K = N: a full sort);
    # bits (M,N): x's bits as unsigned integers
    M, N = x.shape
    for ch in prange(chunks):
        key, tkey = np.empty(N, np.uint64), np.empty(N, np.uint64)
        idx, tidx, count = np.empty(N, np.int64), np.empty(N, np.int64), np.empty(256, np.int64)
        for r in range(ch * M // chunks, (ch + 1) * M // chunks):
            for j in range(N):
                key[j], idx[j] = _key(bits[r, j], sign, inf, full, descending), j
            if N <= RUN:
                _insertion_sort(key, idx, N)
            else:
                _radix_sort(key, idx, tkey, tidx, count, N, bits.itemsize)
            _write_row(values, indices, x, r, idx)


@pjit
def topk_rows(values, indices, x, bits, sign, inf, full, largest, chunks):
    # values, indices (M,K) = the K largest (smallest) of each row of x (M,N), sorted, ties by index;
    # for small K (a sorted buffer of K candidates per row); bits (M,N): x's bits as unsigned integers
    M, N = x.shape
    K = values.shape[1]
    if K == 0:
        return
    for ch in prange(chunks):
        key, idx = np.empty(K, np.uint64), np.empty(K, np.int64)
        for r in range(ch * M // chunks, (ch + 1) * M // chunks):
            m = 0
            for j in range(N):
                kv = _key(bits[r, j], sign, inf, full, largest)
                if m == K and kv >= key[K - 1]:
                    continue
                p = m if m < K else K - 1
                while p > 0 and key[p - 1] > kv:
                    key[p], idx[p] = key[p - 1], idx[p - 1]
                    p -= 1
                key[p], idx[p] = kv, j
                m = min(m + 1, K)
            _write_row(values, indices, x, r, idx)


def _args(x):
    view, sign, inf, full = _BITS[x.dtype]
    return x, x.view(view), sign, inf, full


def _chunks(M):
    return np.int64(max(1, min(M, 4 * numba.get_num_threads())))


def sort(values, indices, x, descending):
    # values, indices (M,K) = the first K of each row of x (M,N) in torch's stable order
    sort_rows(values, indices, *_args(x), bool(descending), _chunks(x.shape[0]))


def topk(values, indices, x, largest):
    # values, indices (M,K) = the K largest (smallest) of each row of x (M,N), sorted, ties by index
    if values.shape[1] <= TOPK_INSERT and values.shape[1] < x.shape[1]:
        topk_rows(values, indices, *_args(x), bool(largest), _chunks(x.shape[0]))
    else:
        sort(values, indices, x, largest)
