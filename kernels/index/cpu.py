"""Indexing along a dim on the CPU (Numba) over C-contiguous (A, N, B) views (see ref.py), and
index_add_rows (a 1-D index along the first axis: the backward of embedding and index_select).

Work is cut into tiles of one `a` and up to BT columns `b`; a tile owns out[a, :, b0:b1] for every n,
so scatter_add's tiles never write the same element (no races, no atomics, no per-thread partials) and
each tile reads/writes whole column runs. Indices outside [0, N) are skipped (gather writes 0) and
counted: the caller raises on a nonzero count (the ops check bounds before, with torch's wording).
float32/float64 values, int64 indices: two specializations per kernel.
"""
from numba import prange

from .._numba import jit, pjit

BT = 256  # columns per tile


@jit
def tile(t, B):
    # tile t of the (A, ceil(B/BT)) tiles of an (A, N, B) view: its a and its columns [b0, b1)
    nbt = (B + BT - 1) // BT
    a, b0 = t // nbt, (t % nbt) * BT
    return a, b0, min(b0 + BT, B)


@jit
def _gather_tile(out, x, index, a, b0, b1):
    # out[a, :, b0:b1] = x (A,N,B)[a, index[a, :, b0:b1], b0:b1]; returns the number of out-of-range indices
    N, K = x.shape[1], index.shape[1]
    bad = 0
    if b1 - b0 == 1:                  # one column (dim is the last): no inner loop (2.4x faster)
        for k in range(K):
            i = index[a, k, b0]
            ok = i >= 0 and i < N
            out[a, k, b0] = x[a, i, b0] if ok else 0
            bad += not ok
        return bad
    for k in range(K):
        for b in range(b0, b1):
            i = index[a, k, b]
            ok = i >= 0 and i < N
            out[a, k, b] = x[a, i, b] if ok else 0
            bad += not ok
    return bad


@jit
def _scatter_add_tile(out, index, src, a, b0, b1):
    # out (A,N,B)[a, index[a, :, b0:b1], b0:b1] += src[a, :, b0:b1]; returns the number of out-of-range indices
    N, K = out.shape[1], index.shape[1]
    bad = 0
    if b1 - b0 == 1:
        for k in range(K):
            i = index[a, k, b0]
            if i >= 0 and i < N:
                out[a, i, b0] += src[a, k, b0]
            else:
                bad += 1
        return bad
    for k in range(K):
        for b in range(b0, b1):
            i = index[a, k, b]
            if i >= 0 and i < N:
                out[a, i, b] += src[a, k, b]
            else:
                bad += 1
    return bad


@pjit
def gather(out, x, index):
    # out (A,K,B) = x (A,N,B)[a, index[a,k,b], b]; returns the number of out-of-range indices
    A, B = x.shape[0], x.shape[2]
    bad = 0
    for t in prange(A * ((B + BT - 1) // BT)):
        a, b0, b1 = tile(t, B)
        bad += _gather_tile(out, x, index, a, b0, b1)
    return bad


@pjit
def scatter_add(out, index, src):
    # out (A,N,B)[a, index[a,k,b], b] += src (A,K,B), in place; returns the number of out-of-range indices
    A, B = out.shape[0], out.shape[2]
    bad = 0
    for t in prange(A * ((B + BT - 1) // BT)):
        a, b0, b1 = tile(t, B)
        bad += _scatter_add_tile(out, index, src, a, b0, b1)
    return bad


@jit
def index_add_rows(out, index, src):
    # out (N,B)[index[k], :] += src (K,B), in place; negative indices count from the end; returns the
    # number of indices outside [-N, N). Serial: with B <= 256 (embedding widths) a column tile is the
    # whole row, so a parallel region had one task: (10000,128) <- (4096,128) took 13.3 ms in a prange
    # on 2 threads of the loaded host, 0.45 ms serially (np.add.at: 13-14 ms)
    N, B = out.shape
    bad = 0
    for k in range(index.shape[0]):
        i = index[k] + N if index[k] < 0 else index[k]
        if i >= 0 and i < N:
            for b in range(B):
                out[i, b] += src[k, b]
        else:
            bad += 1
    return bad
