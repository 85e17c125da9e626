"""Sorting rows on the CPU (Numba): stable sort and top-k of x (M, N) along the last axis, torch's order
(see ref.py). Rows are split into `chunks` runs of rows (prange), each with its own scratch buffers.

Per row the NaNs are set aside first (in index order: they go last ascending, first descending), so
the sort itself compares plain numbers; descending sorts the negated keys ascending (exact, and -0.0
still ties with 0.0), and the values are read back from x. Sort: insertion-sorted runs of RUN, then
bottom-up merges taking the left element on ties (stable). Top-k with k <= TOPK_INSERT keeps a sorted
buffer of k candidates (a candidate goes after equal keys, so ties keep index order); larger k sorts the
row. float32/float64, int64 indices.
"""
import numba
import numpy as np
from numba import prange

from .._numba import jit, pjit

RUN = 32           # insertion-sorted run length before merging
TOPK_INSERT = 32   # top-k with k at most this keeps a sorted candidate buffer instead of sorting


@jit
def _merge_sort(key, idx, tkey, tidx, n):
    # key, idx (n,) sorted by key ascending, stably; tkey, tidx (n,) scratch; no NaN in key
    for s in range(0, n, RUN):
        for i in range(s + 1, min(s + RUN, n)):
            kv, iv, j = key[i], idx[i], i
            while j > s and key[j - 1] > kv:
                key[j], idx[j] = key[j - 1], idx[j - 1]
                j -= 1
            key[j], idx[j] = kv, iv
    width, in_scratch = RUN, False
    while width < n:
        sk, si, dk, di = (tkey, tidx, key, idx) if in_scratch else (key, idx, tkey, tidx)
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j, o = lo, mid, lo
            while i < mid and j < hi:
                if sk[j] < sk[i]:
                    dk[o], di[o] = sk[j], si[j]
                    j += 1
                else:
                    dk[o], di[o] = sk[i], si[i]
                    i += 1
                o += 1
            while i < mid:
                dk[o], di[o] = sk[i], si[i]
                i += 1
                o += 1
            while j < hi:
                dk[o], di[o] = sk[j], si[j]
                j += 1
                o += 1
        in_scratch = not in_scratch
        width *= 2
    if in_scratch:
        key[:n] = tkey[:n]
        idx[:n] = tidx[:n]


@jit
def _split_nans(key, idx, nans, x, r, negate):
    # key, idx = row r's non-NaN values (negated when asked) and their positions; nans = NaN positions.
    # Returns (number of non-NaN, number of NaN)
    m, c = 0, 0
    for j in range(x.shape[1]):
        v = x[r, j]
        if v != v:
            nans[c] = j
            c += 1
        else:
            key[m] = -v if negate else v
            idx[m] = j
            m += 1
    return m, c


@jit
def _write_row(values, indices, x, r, idx, m, nans, c, nan_first):
    # values, indices (M,K) row r = the first K of [nans[:c]] + idx[:m] (nan_first) or idx[:m] + nans[:c]
    K = values.shape[1]
    o = 0
    if nan_first:
        for q in range(min(c, K)):
            indices[r, o] = nans[q]
            o += 1
    for q in range(min(m, K - o)):
        indices[r, o] = idx[q]
        o += 1
    for q in range(min(c, K - o)):
        indices[r, o] = nans[q]
        o += 1
    for o in range(K):
        values[r, o] = x[r, indices[r, o]]


@pjit
def sort_rows(values, indices, x, descending, chunks):
    # values, indices (M,K) = the first K of each row of x (M,N) stably sorted (K = N: a full sort)
    M, N = x.shape
    for ch in prange(chunks):
        key, tkey = np.empty(N, x.dtype), np.empty(N, x.dtype)
        idx, tidx, nans = np.empty(N, np.int64), np.empty(N, np.int64), np.empty(N, np.int64)
        for r in range(ch * M // chunks, (ch + 1) * M // chunks):
            m, c = _split_nans(key, idx, nans, x, r, descending)
            _merge_sort(key, idx, tkey, tidx, m)
            _write_row(values, indices, x, r, idx, m, nans, c, descending)


@pjit
def topk_rows(values, indices, x, largest, chunks):
    # values, indices (M,K) = the K largest (smallest) of each row of x (M,N), sorted, ties by index;
    # meant for small K (a sorted buffer of K candidates per row)
    M, N = x.shape
    K = values.shape[1]
    if K == 0:
        return
    for ch in prange(chunks):
        key, idx, nans = np.empty(K, x.dtype), np.empty(K, np.int64), np.empty(K, np.int64)
        for r in range(ch * M // chunks, (ch + 1) * M // chunks):
            m, c = 0, 0
            for j in range(N):
                v = x[r, j]
                if v != v:
                    if c < K:
                        nans[c] = j
                        c += 1
                    continue
                kv = -v if largest else v
                if m == K and not kv < key[K - 1]:
                    continue
                p = m if m < K else K - 1
                while p > 0 and key[p - 1] > kv:
                    key[p], idx[p] = key[p - 1], idx[p - 1]
                    p -= 1
                key[p], idx[p] = kv, j
                m = min(m + 1, K)
            _write_row(values, indices, x, r, idx, m, nans, c, largest)


def _chunks(M):
    return np.int64(max(1, min(M, 4 * numba.get_num_threads())))


def sort(values, indices, x, descending):
    # values, indices (M,K) = the first K of each row of x (M,N) in torch's stable order
    sort_rows(values, indices, x, bool(descending), _chunks(x.shape[0]))


def topk(values, indices, x, largest):
    # values, indices (M,K) = the K largest (smallest) of each row of x (M,N), sorted, ties by index
    if values.shape[1] <= TOPK_INSERT and values.shape[1] < x.shape[1]:
        topk_rows(values, indices, x, bool(largest), _chunks(x.shape[0]))
    else:
        sort_rows(values, indices, x, bool(largest), _chunks(x.shape[0]))
