"""Numba fused MLP training: one compiled call per epoch (`train_epoch`: batches gathered inside,
uint8 -> float normalization fused into the gather); a single step is an epoch of one batch.

Same math as fused_mlp/ref.py. Layout: flat params (workspace.param_layout), optimizer state (3, P),
per-shard gradients (S, P) and working buffers from workspace.Workspace (nothing is allocated per step).
Threads: a batch is cut into S row shards (S = the workspace's shard count, chosen by backends/cpu_fused.py
from the thread count and batch size). With S > 1 each Numba thread runs forward and backward of
its own rows on its own buffers with serial GEMMs, writing its partial gradient to grads[s]; then a
second parallel region sums the partials and applies the optimizer, each thread on its slice of P.
Two fork/joins per step, and no activations cross cores (three while clipping: max_norm > 0 adds a
pass that sums the partials and their squares before the scaled update; see `update`). With S == 1
everything runs on the calling thread, except the update, split over `nthreads` when nthreads > 1.
GEMMs are always serial here (gemm_serial): threads come from the shards, and no GEMM parallel region
is compiled in.
Each worker sets FTZ/DAZ for its share (kernels/fpenv.py; the calling thread's comes from the caller).
GEMMs: kernels/gemm's `gemm_serial` (SIMD register tiles), called from inside this compiled code. The
forward runs feature-major, zT (n,B) = W (n,k) @ aT (k,B), so that W's rows are broadcast and aT's
rows streamed (the tile shape that runs fastest; a first layer at least WIDE_INPUT wide instead runs
z = x @ W.T on dot tiles and transposes z, with no copy of a wide x); bias + activation then writes
H (B,n) for the backward and H.T (n,B), in place over zT, as the next layer's input. The backward is batch-major:
dW = dZ.T @ A and dA = dZ @ W. Buffers tbuf[s, 0] / tbuf[s, 1] (max(dims)*B each) alternate as aT and zT.
Elementwise work is fused: bias + activation in one pass over Z, dropout (counter-based splitmix64
hash of the row's index in the whole batch, identical to ref.dropout_uniform, so masks do not depend
on S) + activation backward + bias-gradient column sums in one pass, softmax-cross-entropy forward +
backward + argmax in one pass per row.
Compile time: integer arguments from jitted call sites are passed as np.int64(...), never as literals
or prange's uint64 index, so each helper compiles once per dtype (a literal 1 would compile a second
copy of the whole forward/backward chain: the cold start is mostly LLVM time). Likewise gemm_serial's
flags are np.bool_ values, not literals: literal True/False compiled its whole chain (gemm_serial ->
_serial -> _chunk -> tiles) once per flag combination; runtime flags compile it once (cold compile
~6% less CPU time, fused epochs measured unchanged).
Codes: act 0 none / 1 relu / 2 sigmoid / 3 tanh; loss 0 cross-entropy / 1 mse;
optimizer: the codes of kernels/optim/table.py (0 sgd / 1 adagrad / 2 rmsprop / 3 adam(w) / 4 adadelta), hp
in its field order, state row i = its args[i]; optimizer_update is the one switch on them.
"""
import math

import numba
import numpy as np

from ..activation.cpu import act_backward_, act_forward_
from ..optim.cpu import jit  # njit(cache, nogil, error_model="numpy"): vectorizable divisions

from ..fpenv import ftz_enter, ftz_leave
from ..gemm.cpu import NT_PACK_MIN_M, gemm_serial
from ..optim.cpu import adadelta_step, adagrad_step, adam_step, rmsprop_step, sgd_step
from ..simd import lanes_of, vgather, vstore

pjit = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
PAR_MIN_PARAMS = 32768  # a parallel region costs a few us: smaller updates stay on the calling thread
# inputs at least this wide (with fewer than gemm's NT_PACK_MIN_M rows) enter the first layer as x @ W.T on
# dot tiles instead of transposing x: shard rows 32, 128 outputs, 1-thread us per call, transposed / dot:
# k = 784 69 / 72, 1024 109 / 92, 4096 438 / 373, 9216 (the examples Net's head) 995 / 864
WIDE_INPUT = 1024

_M1, _M2, _M3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)


@jit
def dropout_uniform(seed, step, layer, index):
    # u in [0,1): splitmix64 of the counter (seed, step, layer, index), top 24 bits (same as ref)
    z = np.uint64(seed) * _M1 + np.uint64(step) * _M2 + np.uint64(layer) * _M3 + np.uint64(index) + _M1
    z = (z ^ (z >> _S30)) * _M2
    z = (z ^ (z >> _S27)) * _M3
    z = z ^ (z >> _S31)
    return np.float64(z >> _S40) * (1.0 / 16777216.0)


@jit
def _view2(buf, off, rows, cols):
    # (rows, cols) C-contiguous view of flat buf starting at off
    return buf[off:off + rows * cols].reshape((rows, cols))


@jit
def hidden_backward_(dz, grads, b_off, h, code, p, seed, step, layer, row0):
    # dz (B,n): in dD (grad of the post-dropout output), out dZ = dD * mask/(1-p) * act'(h)
    # grads[b_off:b_off+n] = column sums of dZ (bias gradient) unless b_off < 0; the rows are rows
    # row0.. of the whole batch (the dropout hash's index)
    B, n = dz.shape
    T = dz.dtype.type
    scale, zero = T(1.0 / (1.0 - p)), T(0.0)
    if b_off >= 0:
        grads[b_off:b_off + n] = zero
    for i in range(B):
        row, hr = dz[i], h[i]
        if p > 0:
            for j in range(n):
                keep = dropout_uniform(seed, step, layer, (row0 + i) * n + j) >= p
                row[j] = row[j] * (scale if keep else zero)
        if code != 0:
            act_backward_(row, row, hr, code)
        if b_off >= 0:
            for j in range(n):
                grads[b_off + j] += row[j]


@jit
def cross_entropy_(dz, logits, y, Btot):
    # dz (B,C) = (softmax(logits) - onehot(y)) / Btot (the whole batch's size); returns (summed loss
    # of the B rows, correct argmax count)
    B, C = logits.shape
    loss, correct = 0.0, 0
    for i in range(B):
        t = y[i]
        if t < 0 or t >= C:
            raise IndexError("cross_entropy: target class index out of range [0, C)")
        m, am = np.float64(logits[i, 0]), 0
        for j in range(1, C):
            if logits[i, j] > m:
                m, am = np.float64(logits[i, j]), j
        s = 0.0
        for j in range(C):
            s += math.exp(logits[i, j] - m)
        lse = math.log(s) + m
        loss += lse - logits[i, t]
        correct += am == t
        for j in range(C):
            pj = math.exp(logits[i, j] - lse)
            dz[i, j] = (pj - (1.0 if j == t else 0.0)) / Btot
    return loss, correct


@jit
def mse_(dz, out, target, Btot):
    # dz (B,C) = 2 (out - target) / (Btot*C); returns (summed per-row mean loss of the B rows, count of
    # argmax(out) == argmax(target))
    B, C = out.shape
    inv = 1.0 / (Btot * C)
    loss, correct = 0.0, 0
    for i in range(B):
        ao, at = 0, 0
        for j in range(C):
            diff = np.float64(out[i, j]) - np.float64(target[i, j])
            loss += diff * diff
            dz[i, j] = 2.0 * diff * inv
            if out[i, j] > out[i, ao]:
                ao = j
            if target[i, j] > target[i, at]:
                at = j
        correct += ao == at
    return loss / C, correct


@jit
def optimizer_update(params, state, grads, hp, opt_code, step, lo, hi):
    # params[lo:hi], grads[lo:hi] (P,), state[:, lo:hi] (3,P): one update of optimizer opt_code
    # (hp in kernels/optim/table.py's field order, state row i = the table's args[i])
    p, g, s0, s1, s2 = params[lo:hi], grads[lo:hi], state[0, lo:hi], state[1, lo:hi], state[2, lo:hi]
    if opt_code == 0:
        sgd_step(p, s0, g, step, hp[0], hp[1], hp[2], hp[3], hp[4] != 0, hp[5] != 0)
    elif opt_code == 1:
        adagrad_step(p, s0, g, step, hp[0], hp[1], hp[2], hp[3], hp[4] != 0)
    elif opt_code == 2:
        rmsprop_step(p, s0, s1, s2, g, step, hp[0], hp[1], hp[2], hp[3], hp[4], hp[5] != 0, hp[6] != 0)
    elif opt_code == 3:
        adam_step(p, s0, s1, s2, g, step, hp[0], hp[1], hp[2], hp[3], hp[4], hp[5] != 0, hp[6] != 0, hp[7] != 0)
    else:
        adadelta_step(p, s0, s1, g, step, hp[0], hp[1], hp[2], hp[3], hp[4] != 0)


@jit
def _update_chunk(params, state, grads, hp, opt_code, step, c, nchunks, mode, coef, own_lo, own_hi):
    # slice c of nchunks of P (cut on 16-element = 64-byte boundaries). mode 0: grads[0] += grads[1:]
    # (the shards' partial gradients; not on [own_lo, own_hi), whole already), then one optimizer
    # update of the slice; mode 1: the sum only, returning the float64 sum of squares of the summed
    # slice (clip_grad_norm's first pass); mode 2: grads[0] *= coef unless coef >= 1 (NaN scales, as
    # eager clip_grad_norm_), then the update
    P = params.size
    lo = (P * c // nchunks) // 16 * 16
    hi = P if c == nchunks - 1 else (P * (c + 1) // nchunks) // 16 * 16
    g = grads[0]
    sumsq = 0.0
    if mode != 2:
        for s in range(1, grads.shape[0]):
            gs = grads[s]
            for i in range(lo, min(hi, own_lo)):
                g[i] += gs[i]
            for i in range(max(lo, own_hi), hi):
                g[i] += gs[i]
    if mode == 1:   # four accumulators: four independent add chains (a float sum does not vectorize)
        s0, s1, s2, s3 = 0.0, 0.0, 0.0, 0.0
        i = lo
        while i + 4 <= hi:
            v0, v1, v2, v3 = np.float64(g[i]), np.float64(g[i + 1]), np.float64(g[i + 2]), np.float64(g[i + 3])
            s0 += v0 * v0
            s1 += v1 * v1
            s2 += v2 * v2
            s3 += v3 * v3
            i += 4
        for j in range(i, hi):
            v = np.float64(g[j])
            s0 += v * v
        return (s0 + s1) + (s2 + s3)
    if mode == 2 and not coef >= 1.0:
        k = g.dtype.type(coef)
        for i in range(lo, hi):
            g[i] *= k
    optimizer_update(params, state, g, hp, opt_code, step, lo, hi)
    return sumsq


@pjit
def _update_par(params, state, grads, hp, opt_code, step, nchunks, mode, coef, sumsq, own_lo, own_hi):
    # _update_chunk over nchunks slices, one per thread; sumsq[c] = slice c's result
    for c in numba.prange(nchunks):
        old = ftz_enter()
        sumsq[c] = _update_chunk(params, state, grads, hp, opt_code, step, np.int64(c), nchunks, mode, coef, own_lo,
                                 own_hi)
        ftz_leave(old)


@jit
def _update_pass(params, state, grads, hp, opt_code, step, nchunks, mode, coef, sumsq, own_lo, own_hi):
    # one pass of _update_chunk over P: split over nchunks threads when nchunks > 1, else on this thread
    if nchunks > 1:
        _update_par(params, state, grads, hp, opt_code, step, nchunks, mode, coef, sumsq, own_lo, own_hi)
    else:
        sumsq[0] = _update_chunk(params, state, grads, hp, opt_code, step, np.int64(0), np.int64(1), mode, coef,
                                 own_lo, own_hi)


@jit
def update(params, state, grads, hp, opt_code, step, nthreads, max_norm, own_lo, own_hi):
    # params (P,), state (3,P) (+)= one optimizer step with the gradient sum(grads (S,P), axis 0),
    # which is left in grads[0], except on [own_lo, own_hi) where grads[0] already holds the whole
    # gradient (the partials there are not read); split over max(S, nthreads) threads when P is large
    # enough. With max_norm > 0 the summed gradient is first clipped to that global L2 norm, as
    # nn.utils.clip_grad_norm_ does: scaled by max_norm / (norm + 1e-6) when that is below 1
    nchunks = max(grads.shape[0], nthreads)
    if nchunks < 2 or params.size < PAR_MIN_PARAMS:
        nchunks = 1
    sumsq = np.zeros(nchunks)
    if max_norm > 0:
        _update_pass(params, state, grads, hp, opt_code, step, nchunks, np.int64(1), 1.0, sumsq, own_lo, own_hi)
        coef = max_norm / (math.sqrt(sumsq.sum()) + 1e-6)
        _update_pass(params, state, grads, hp, opt_code, step, nchunks, np.int64(2), coef, sumsq, own_lo, own_hi)
    else:
        _update_pass(params, state, grads, hp, opt_code, step, nchunks, np.int64(0), 1.0, sumsq, own_lo, own_hi)


@jit
def transpose_(outT, x):
    # outT (n,B) = x (B,n).T: columns of W rows of x gathered into one vector, stored along B; columns
    # in blocks of 8, so one block writes 8 rows of outT (8 L1 sets, even when B*itemsize is 4 KiB)
    B, n = x.shape
    W = lanes_of(x)
    xf, of = x.reshape(-1), outT.reshape(-1)
    for j0 in range(0, n, 8):
        for i0 in range(0, B, W):
            m = min(W, B - i0)
            for j in range(j0, min(j0 + 8, n)):
                vstore(of, j * B + i0, vgather(xf, i0 * n + j, n, m), m)


@jit
def bias_act_t_(h, zT, params, b_off, code, d, p, seed, step, layer, row0):
    # h (B,n) = act(zT.T + b) (b = params[b_off:b_off+n] unless b_off < 0); zT (n,B) is overwritten
    # with the next layer's input transposed: h.T, or with dropout (p > 0) d.T where
    # d (B,n) = h * keep / (1-p), keep = dropout_uniform(seed, step, layer, (row0+i)*n+j) >= p.
    # Bias + activation run along zT's contiguous rows (vectorized), then h = zT.T (transpose_);
    # dropout, when on, is one more pass over h and a transpose of d back into zT
    n, B = zT.shape
    T = zT.dtype.type
    zero, scale = T(0.0), T(1.0 / (1.0 - p))
    for j in range(n):
        row = zT[j]
        act_forward_(row, row, params[b_off + j] if b_off >= 0 else zero, code)
    transpose_(h, zT)
    if p > 0:
        for i in range(B):
            for j in range(n):
                keep = dropout_uniform(seed, step, layer, (row0 + i) * n + j) >= p
                d[i, j] = h[i, j] * (scale if keep else zero)
        transpose_(zT, d)


@jit
def _layer_input(l, x, dims, acts, act_off, drops, drop_off):
    # input of layer l for the current batch of B = x.shape[0] rows: x, or H_{l-1} / D_{l-1}
    B = x.shape[0]
    if l == 0:
        return x
    if drop_off[l - 1] >= 0:
        return _view2(drops, drop_off[l - 1], B, dims[l])
    return _view2(acts, act_off[l - 1], B, dims[l])


@jit
def forward_backward(grads, params, x, y_idx, y_val, Btot, row0, dims, w_off, b_off, act_codes, drop_p,
                     loss_code, seed, step, acts, act_off, drops, drop_off, deltas, delta_off, tbuf, w0_grad):
    # grads (P,) = d loss/d params of rows row0..row0+B-1 (x (B, dims[0])) of a batch of Btot rows,
    # loss = the batch's mean loss; returns (summed loss of the B rows, their correct count). w0_grad
    # False leaves the first layer's weight gradient to the caller (its region of grads is not written;
    # dZ_0 stays in deltas: the fused CNN sums it over the whole batch, kernels/fused_cnn/cpu.py)
    B, L = x.shape[0], dims.shape[0] - 1
    tsize = tbuf.shape[0] // 2
    no, yes = np.bool_(False), np.bool_(True)  # runtime flags: literal ones compiled the GEMM chain twice
    wide = dims[0] >= WIDE_INPUT and B < NT_PACK_MIN_M
    if not wide:
        transpose_(_view2(tbuf, np.int64(0), dims[0], B), x)
    for l in range(L):
        n, k = dims[l + 1], dims[l]
        aT = _view2(tbuf, (l % 2) * tsize, k, B)
        zT = _view2(tbuf, ((l + 1) % 2) * tsize, n, B)
        if l == 0 and wide:     # z = x @ W.T on gemm's dot tiles, then zT: no transposed copy of a wide x
            z = _view2(tbuf, np.int64(0), B, n)
            gemm_serial(z, x, _view2(params, w_off[0], n, k), no, yes, no)
            transpose_(zT, z)
        else:
            gemm_serial(zT, _view2(params, w_off[l], n, k), aT, no, no, no)  # zT = W @ aT
        hidden = l < L - 1
        p = drop_p[l] if hidden else 0.0
        d = _view2(drops, drop_off[l], B, n) if p > 0 else _view2(acts, act_off[l], B, n)
        bias_act_t_(_view2(acts, act_off[l], B, n), zT, params, b_off[l], act_codes[l] if hidden else 0,
                    d, p, seed, step, l, row0)
    C = dims[L]
    out, dz = _view2(acts, act_off[L - 1], B, C), _view2(deltas, delta_off[L - 1], B, C)
    if loss_code == 0:
        loss, correct = cross_entropy_(dz, out, y_idx, Btot)
    else:
        loss, correct = mse_(dz, out, y_val, Btot)
    if b_off[L - 1] >= 0:
        hidden_backward_(dz, grads, b_off[L - 1], out, np.int64(0), 0.0, seed, step, L - 1, row0)  # db only
    for l in range(L - 1, -1, -1):
        n, k = dims[l + 1], dims[l]
        dz = _view2(deltas, delta_off[l], B, n)
        a = _layer_input(l, x, dims, acts, act_off, drops, drop_off)
        dW = _view2(grads, w_off[l], n, k)
        if l > 0 or w0_grad:
            gemm_serial(dW, dz, a, yes, no, no)      # dW (n,k) = dz.T (n,B) @ a (B,k)
        if l > 0:
            da = _view2(deltas, delta_off[l - 1], B, k)
            gemm_serial(da, dz, _view2(params, w_off[l], n, k), no, no, no)  # da = dz @ W
            hidden_backward_(da, grads, b_off[l - 1], _view2(acts, act_off[l - 1], B, k), act_codes[l - 1],
                             drop_p[l - 1], seed, step, l - 1, row0)
    return loss, correct


@jit
def gather_(xb, yb_idx, yb_val, X, Y_idx, Y_val, rows, scale, shift, loss_code):
    # xb[i] = X[rows[i]] * scale + shift (in xb's dtype); targets likewise gathered
    T = xb.dtype.type
    sc, sh = T(scale), T(shift)
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(xb.shape[1]):
            xb[i, j] = T(X[r, j]) * sc + sh
        if loss_code == 0:
            yb_idx[i] = Y_idx[r]
        else:
            yb_val[i] = Y_val[r]


@jit
def _shard(s, S, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, dims, w_off, b_off, act_codes,
           drop_p, loss_code, seed, xb, yb_idx, yb_val, acts, act_off, drops, drop_off, deltas, delta_off,
           tbuf):
    # shard s of S of the batch X[rows]: gather its rows into xb[s], forward + backward into grads[s]
    # (every entry written); returns (summed loss, correct count) of its rows
    return slice_shard(s, S, rows, rows.shape[0], np.int64(0), params, grads, X, Y_idx, Y_val, scale, shift,
                       step, dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts,
                       act_off, drops, drop_off, deltas, delta_off, tbuf)


@jit
def slice_shard(s, S, rows, Btot, row0, params, grads, X, Y_idx, Y_val, scale, shift, step, dims, w_off,
                b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts, act_off, drops, drop_off,
                deltas, delta_off, tbuf):
    # shard s of S of the rows X[rows], which are rows row0.. of a batch of Btot rows (a data-parallel
    # rank's slice; the whole batch: Btot = len(rows), row0 = 0): gather, forward + backward into
    # grads[s] (every entry of [:P] written, the loss normalized by Btot); returns (summed loss, correct)
    n = rows.shape[0]
    lo, hi = n * s // S, n * (s + 1) // S
    if hi == lo:
        grads[s, :] = 0
        return 0.0, 0
    B = hi - lo
    gather_(xb[s], yb_idx[s], yb_val[s], X, Y_idx, Y_val, rows[lo:hi], scale, shift, loss_code)
    return forward_backward(grads[s], params, xb[s][:B], yb_idx[s][:B], yb_val[s][:B], Btot, row0 + lo, dims,
                            w_off, b_off, act_codes, drop_p, loss_code, seed, step, acts[s], act_off, drops[s],
                            drop_off, deltas[s], delta_off, tbuf[s], np.bool_(True))


@pjit
def _shards_par(loss_s, correct_s, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, dims, w_off,
                b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts, act_off, drops, drop_off,
                deltas, delta_off, tbuf):
    # every shard of the batch X[rows] on its own thread
    S = grads.shape[0]
    for s in numba.prange(S):
        old = ftz_enter()
        loss_s[s], correct_s[s] = _shard(np.int64(s), S, rows, params, grads, X, Y_idx, Y_val, scale, shift,
                                         step, dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb,
                                         yb_idx, yb_val, acts, act_off, drops, drop_off, deltas, delta_off, tbuf)
        ftz_leave(old)


@jit
def train_epoch(params, grads, state, X, Y_idx, Y_val, perm, batch_size, drop_last, scale, shift, hp,
                opt_code, step0, dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val,
                acts, act_off, drops, drop_off, deltas, delta_off, tbuf, nthreads, max_norm):
    # steps over batches perm[s:s+batch_size] of X (N, dims[0]) float or uint8 (normalized by
    # scale/shift in the gather); grads (S, P) and the per-shard buffers (S, ...) of a Workspace;
    # hp (R, H): step k of this call (0-based) updates with row min(k, R-1) (R = 1: constant; a
    # per-step LR schedule passes one row per step); max_norm > 0 clips each step's gradient to that
    # global L2 norm (update); returns (sample-mean loss, accuracy, steps taken)
    N, S, R = perm.shape[0], grads.shape[0], hp.shape[0]
    loss_s, correct_s = np.zeros(S), np.zeros(S, np.int64)
    tot_loss, tot_correct, seen, steps = 0.0, 0, 0, 0
    for s in range(0, N, batch_size):
        B = min(batch_size, N - s)
        if B < batch_size and drop_last:
            break
        rows = perm[s:s + B]
        steps += 1
        if S == 1:
            loss, correct = _shard(np.int64(0), S, rows, params, grads, X, Y_idx, Y_val, scale, shift,
                                   step0 + steps, dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb,
                                   yb_idx, yb_val, acts, act_off, drops, drop_off, deltas, delta_off, tbuf)
        else:
            _shards_par(loss_s, correct_s, rows, params, grads, X, Y_idx, Y_val, scale, shift, step0 + steps,
                        dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts,
                        act_off, drops, drop_off, deltas, delta_off, tbuf)
            loss, correct = loss_s.sum(), correct_s.sum()
        update(params, state, grads, hp[min(steps, R) - 1], opt_code, step0 + steps, nthreads, max_norm, np.int64(0),
               np.int64(0))
        tot_loss += loss
        tot_correct += correct
        seen += B
    if seen == 0:
        return 0.0, 0.0, 0
    return tot_loss / seen, tot_correct / seen, steps
