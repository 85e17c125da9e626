"""Data-parallel fused MLP step (Numba): one rank's slice of a global batch -> one flat row ready for ONE
allreduce (the gradient, then the slice's loss sum and correct count); the update is cpu.update on the
reduced row, so clipping sees the global gradient.

Rank r of N takes rows [Btot*r//N, Btot*(r+1)//N) of each global batch perm[s:s+Btot] (the caller
slices them and passes row0 = Btot*r//N). Each rank normalizes by the global Btot and hashes dropout
masks by the row's index in the global batch (row0 + i), so the SUM over ranks is the one-process
gradient of that batch and N ranks draw the one-process masks. Inside a rank the slice is cut into S
row shards, one per thread, exactly like cpu.train_epoch; the partials are summed into grads[0].
Layout: grads (S, P + 2); grads[0, P] = summed loss of the slice's rows, grads[0, P+1] = its correct
count (exact in float32 up to 2^24 rows per step).
"""
import numba
import numpy as np

from ..fpenv import ftz_enter, ftz_leave
from ..optim.cpu import jit
from .cpu import PAR_MIN_PARAMS, slice_shard

pjit = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")


@pjit
def _slice_shards_par(loss_s, correct_s, rows, Btot, row0, params, grads, X, Y_idx, Y_val, scale, shift, step,
                      dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts, act_off,
                      drops, drop_off, deltas, delta_off, tbuf):
    # every shard of the slice on its own thread
    S = grads.shape[0]
    for s in numba.prange(S):
        old = ftz_enter()
        loss_s[s], correct_s[s] = slice_shard(np.int64(s), S, rows, Btot, row0, params, grads, X, Y_idx, Y_val,
                                               scale, shift, step, dims, w_off, b_off, act_codes, drop_p,
                                               loss_code, seed, xb, yb_idx, yb_val, acts, act_off, drops,
                                               drop_off, deltas, delta_off, tbuf)
        ftz_leave(old)


@jit
def _sum_chunk(grads, lo, hi):
    # grads[0, lo:hi] += grads[1:, lo:hi]
    g = grads[0]
    for s in range(1, grads.shape[0]):
        gs = grads[s]
        for i in range(lo, hi):
            g[i] += gs[i]


@pjit
def _sum_partials_par(grads, P, nchunks):
    # grads[0, :P] += grads[1:, :P], slice c of nchunks per thread (16-element boundaries)
    for c in numba.prange(nchunks):
        lo = (P * c // nchunks) // 16 * 16
        hi = P if c == nchunks - 1 else (P * (c + 1) // nchunks) // 16 * 16
        _sum_chunk(grads, lo, hi)


@jit
def slice_grad(grads, params, X, Y_idx, Y_val, rows, Btot, row0, scale, shift, step, dims, w_off, b_off,
               act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts, act_off, drops, drop_off, deltas,
               delta_off, tbuf):
    # grads (S, P+2): row 0 = d(mean loss of the global batch)/d params restricted to this rank's rows
    # X[rows] (global rows row0.., Btot in all), summed over the S shards, then [loss sum, correct]
    S, P = grads.shape[0], grads.shape[1] - 2
    if S == 1:
        loss, correct = slice_shard(np.int64(0), S, rows, Btot, row0, params, grads, X, Y_idx, Y_val, scale,
                                     shift, step, dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb,
                                     yb_idx, yb_val, acts, act_off, drops, drop_off, deltas, delta_off, tbuf)
    else:
        loss_s, correct_s = np.zeros(S), np.zeros(S, np.int64)
        _slice_shards_par(loss_s, correct_s, rows, Btot, row0, params, grads, X, Y_idx, Y_val, scale, shift, step,
                          dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts,
                          act_off, drops, drop_off, deltas, delta_off, tbuf)
        if P >= PAR_MIN_PARAMS:
            _sum_partials_par(grads, np.int64(P), np.int64(S))
        else:
            _sum_chunk(grads, np.int64(0), np.int64(P))
        loss, correct = loss_s.sum(), correct_s.sum()
    grads[0, P] = loss
    grads[0, P + 1] = correct
