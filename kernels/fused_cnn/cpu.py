"""Numba fused CNN training: one compiled call per epoch (`train_epoch`), a step being an epoch of one
batch. Same math as fused_cnn/ref.py; the program, layouts and buffers are program.py's.

Threads (as kernels/fused_mlp/cpu.py): a batch is cut into S row shards (backends/cpu_fused_cnn.py picks
S from the thread count); each Numba thread runs its images' forward, the head and the backward on its
own buffers and writes a partial gradient grads[s] (every entry but the head's first weights), then
fused_mlp's `update` sums the partials and applies the optimizer slice by slice; the head's first
weight gradient and its input gradient are `w0_backward_`'s: the whole batch's, by column panels, between
the shards' forward + head and their backward.
Four fork/joins per step (one shard: none); no activations cross cores.
Where program.Program.lanes holds (LeNet-5), a shard's per-image ops run in the lane layout instead,
chunk by chunk of L images (kernels/fused_cnn/lanes.py: `lanes` is then the Workspace's lane buffers,
else None, and each compile holds one of the two paths); what follows describes the other path.
Per shard: gather its rows (fused_mlp.gather_, uint8 normalization fused), run the program op by op over
all the shard's images (`shard_forward`: a conv by conv2d/images.py over chunks of images where
images.use_images holds, its bias fused, else conv2d/cpu.py's serial batch dispatchers: F(4x4,3x3)'s
batch kernels where they run (both gradients in one call), per-image kernels elsewhere, the bias per image;
activations and dropout one pass over the shard's region; a max pool one call over the shard's B*C
planes: pool2d/max2x2.py's where program.py marks it POOL_2X2, its backward replaying the scan on the
saved input, else pool2d/cpu.py's with argmax indices), the head (fused_mlp.forward_backward over the
shard's (B, F) features, loss included, then dfeat = dZ_0 @ W_0: the head's input gradient), then
`shard_backward` op by op with two ping-pong gradient regions of the whole shard (conv weight and bias
gradients accumulate over its images).
Dropout masks hash (seed, step, layer, index in the whole batch) as the fused MLP's (fused_mlp.cpu.
dropout_uniform); a per-image op k uses layer program.DROPOUT_LAYER0 + k, the head its layer numbers.
The per-image ops' masks are filled for the shard's images first (dropout_masks_) and only read by
shard_forward/backward: no hash loop beside the conv and pool calls (see dropout_masks_).
Integer arguments at jitted call sites are int64 values (program rows, np.int64(...)), never literals.
"""
import numba
import numpy as np

from ..activation.cpu import act_backward_, act_forward_
from ..conv2d import images
from ..conv2d.cpu import (conv2d_images_backward, conv2d_images_forward, im2col_backward_input,
                          im2col_backward_weight, image_forward, use_direct_forward)
from ..conv2d.winograd4 import add_bias
from ..fpenv import ftz_enter, ftz_leave
from ..fused_mlp.cpu import dropout_uniform, forward_backward, gather_, jit, pjit, update
from ..gemm._store import pack_panel
from ..gemm.cpu import AXPY, AXPY_MR, KC, _span, gemm_serial
from ..pool2d import max2x2
from ..pool2d.cpu import max_image_backward, max_image_forward
from ..simd import lanes_of
from . import lanes as lane_ops
from .program import (F_BOFF, F_C, F_CODE, F_DH, F_DW, F_GROUPS, F_H, F_IDX, F_KH, F_KW, F_MASK, F_O, F_OH, F_OP,
                      F_OW, F_PH, F_PW, F_SH, F_SW, F_TAB, F_W, F_WOFF, OP, POOL_2X2)

CONV, ACT, MAXPOOL, DROPOUT = OP["conv"], OP["act"], OP["maxpool"], OP["dropout"]


@jit
def _region(buf, off, B, C, H, W):
    # (B,C,H,W) view of the first B images of the region at off in the flat buf
    return buf[off:off + B * C * H * W].reshape((B, C, H, W))


@jit
def dropout_masks_(dmask, prog, probs, sizes, seed, step, row0, B):
    # dmask (Bs, mask_size), op-major (op k's masks at Bs * mask_off: (Bs, n) for its n = sizes[k]
    # inputs per image): for each dropout op k and image i < B (batch row row0 + i), 1/(1-p) where
    # dropout_uniform(seed, step, layer, row*n + j) >= p, else 0.
    # Kept out of the op loops: the hash loop there made LLVM compile the conv and pool calls around
    # it ~3x slower (DESIGN.md, fused CNN training).
    T = dmask.dtype.type
    Bs, mf = dmask.shape[0], dmask.reshape(-1)
    for k in range(prog.shape[0]):
        if prog[k, F_OP] != DROPOUT:
            continue
        n, p, off, layer = sizes[k], probs[k], Bs * prog[k, F_MASK], prog[k, F_CODE]
        scale, zero = T(1.0 / (1.0 - p)), T(0.0)
        for i in range(B):
            row = row0 + i
            m = mf[off + i * n:off + (i + 1) * n]   # a row view: mf[off + i*n + j] kept LLVM from vectorizing
            for j in range(n):                      # the hash (0.61 -> 0.27 ns an element)
                m[j] = scale if dropout_uniform(seed, step, layer, row * n + j) >= p else zero


@jit
def _conv_params(params, r, O, CKK):
    # op r's weights (O, CKK) and bias (O,) ((0,) without one) in the flat params (or their gradients)
    w2 = params[r[F_WOFF]:r[F_WOFF] + O * CKK].reshape((O, CKK))
    b = params[r[F_BOFF]:r[F_BOFF] + O] if r[F_BOFF] >= 0 else params[:0]
    return w2, b


# ---- conv2d/cpu.py's kernels, Winograd's left out of the compile where no conv takes it: `wino` is None
# when no conv of the program runs Winograd (program.Program.winograd), and Numba prunes a branch on an
# argument's None-ness at compile time, so LeNet-5's step never compiles Winograd's kernels. With
# Winograd: conv2d/cpu.py's serial batch dispatchers (F(4x4,3x3)'s batch kernels where they run)
@jit
def _images_forward(out, x, w2, bias, KH, KW, sh, sw, ph, pw, dh, dw, groups, work, wino):
    if wino is None:
        for i in range(x.shape[0]):
            image_forward(out[i], x[i], w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)
            add_bias(out[i], bias, 0, out.shape[1])
    else:
        conv2d_images_forward(out, x, w2, bias, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@jit
def _images_backward(dx, dw2, dout, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work, wino):
    if wino is None:
        for i in range(x.shape[0]):
            im2col_backward_weight(dw2, dout[i], x[i], KH, KW, sh, sw, ph, pw, dh, dw, groups, work)
            if dx.shape[0] > 0:
                im2col_backward_input(dx[i], dout[i], w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)
    else:
        conv2d_images_backward(dx, dw2, dout, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@jit
def conv_forward_(out, x, r, params, work, wino):
    # out (B,O,OH,OW) = conv op r of x (B,C,H,W) + bias: conv2d/images.py over chunks of images where
    # it wins (use_images, unless the direct kernel takes the layer: LeNet-5's conv2 7.6 against 9.1 us
    # per image since its 8-channel tile), else conv2d/cpu.py's per-image kernels (the bias added per
    # image); wino: see _images_forward
    B, C, O, OH, OW = x.shape[0], x.shape[1], out.shape[1], out.shape[2], out.shape[3]
    KH, KW, CKK = r[F_KH], r[F_KW], (C // r[F_GROUPS]) * r[F_KH] * r[F_KW]
    w2, bias = _conv_params(params, r, O, CKK)
    if images.use_images(CKK, OH * OW) and not use_direct_forward(C // r[F_GROUPS], r[F_SW]):
        b = images.chunk_images(CKK, OH * OW, B)
        for i0 in range(0, B, b):
            i1 = min(B, i0 + b)
            images.forward(out[i0:i1], x[i0:i1], w2, bias, KH, KW, r[F_SH], r[F_SW], r[F_PH], r[F_PW], r[F_DH],
                           r[F_DW], r[F_GROUPS], work)
        return
    _images_forward(out, x, w2, bias, KH, KW, r[F_SH], r[F_SW], r[F_PH], r[F_PW], r[F_DH], r[F_DW], r[F_GROUPS],
                    work, wino)


@jit
def conv_backward_(dx, grads, dout, x, r, params, work, wino):
    # conv op r's gradients from dout (B,O,OH,OW): weight and bias gradients added to grads (P,), dx
    # (B,C,H,W) = the input gradient unless dx holds 0 images (the first conv); as conv_forward_
    B, C, O, OH, OW = x.shape[0], x.shape[1], dout.shape[1], dout.shape[2], dout.shape[3]
    KH, KW, CKK = r[F_KH], r[F_KW], (C // r[F_GROUPS]) * r[F_KH] * r[F_KW]
    w2, _ = _conv_params(params, r, O, CKK)
    dw2, db = _conv_params(grads, r, O, CKK)
    if images.use_images(CKK, OH * OW):
        b = images.chunk_images(CKK, OH * OW, B)
        for i0 in range(0, B, b):
            i1 = min(B, i0 + b)
            images.backward(dx[i0:min(i1, dx.shape[0])], dw2, db, dout[i0:i1], x[i0:i1], w2, KH, KW, r[F_SH],
                            r[F_SW], r[F_PH], r[F_PW], r[F_DH], r[F_DW], r[F_GROUPS], work)
        return
    if db.size > 0:
        images.bias_backward(db, dout)
    _images_backward(dx, dw2, dout, x, w2, KH, KW, r[F_SH], r[F_SW], r[F_PH], r[F_PW], r[F_DH], r[F_DW],
                     r[F_GROUPS], work, wino)


@jit
def _pool_tabs(tabs, r):
    # op r's window tables hs, hn, ws, wn
    t, OH, OW = r[F_TAB], r[F_OH], r[F_OW]
    return (tabs[t:t + OH], tabs[t + OH:t + 2 * OH], tabs[t + 2 * OH:t + 2 * OH + OW],
            tabs[t + 2 * OH + OW:t + 2 * OH + 2 * OW])


@jit
def shard_forward(acts, act_off, sizes, idx, mask, prog, tabs, params, B, work, wino):
    # forward of a shard's first B images through every op of prog, op by op over all B images: op k
    # reads region k and writes region k+1 of acts (in place for activations); idx (Bs, idx_size) its
    # argmaxes and mask (Bs, mask_size) its dropout masks (dropout_masks_), both op-major
    Bs = idx.shape[0]
    for k in range(prog.shape[0]):
        r = prog[k]
        C, H, W, O, OH, OW = r[F_C], r[F_H], r[F_W], r[F_O], r[F_OH], r[F_OW]
        x, out = _region(acts, act_off[k], B, C, H, W), _region(acts, act_off[k + 1], B, O, OH, OW)
        op = r[F_OP]
        if op == CONV:
            conv_forward_(out, x, r, params, work, wino)
        elif op == ACT:   # in place, or on a copy after another activation (program.act_offsets)
            of = out.reshape(-1)
            act_forward_(of, x.reshape(-1), of.dtype.type(0.0), r[F_CODE])
        elif op == MAXPOOL and r[F_CODE] == POOL_2X2:   # the B images' planes as one stack of B*C planes
            max2x2.forward(out.reshape((B * O, OH, OW)), x.reshape((B * C, H, W)))
        elif op == MAXPOOL:
            hs, hn, ws, wn = _pool_tabs(tabs, r)
            ids = idx.reshape(-1)[Bs * r[F_IDX]:Bs * r[F_IDX] + B * O * OH * OW].reshape((B * O, OH, OW))
            max_image_forward(out.reshape((B * O, OH, OW)), ids, x.reshape((B * C, H, W)), hs, hn, ws, wn, r[F_DH],
                              r[F_DW])
        else:             # dropout: x * mask
            of, xf, m0 = out.reshape(-1), x.reshape(-1), Bs * r[F_MASK]
            mf = mask.reshape(-1)
            for j in range(of.size):
                of[j] = xf[j] * mf[m0 + j]


@jit
def _first_conv(prog):
    for k in range(prog.shape[0]):
        if prog[k, F_OP] == CONV:
            return k
    return prog.shape[0]


@jit
def shard_backward(grads, g, acts, act_off, sizes, idx, mask, prog, tabs, params, B, work, wino):
    # backward of a shard's first B images from g[0][:B*sizes[K]] (d loss / d their features) down to
    # the first conv, op by op over all B images: conv weight and bias gradients are added to grads
    # (P,); g (2, Bs*max(sizes)) ping-pong gradient regions
    cur = 0
    Bs, k0 = idx.shape[0], _first_conv(prog)
    for k in range(prog.shape[0] - 1, k0 - 1, -1):
        r = prog[k]
        C, H, W, O, OH, OW = r[F_C], r[F_H], r[F_W], r[F_O], r[F_OH], r[F_OW]
        n_out = B * O * OH * OW
        dout = g[cur][:n_out]
        din = g[1 - cur][:B * C * H * W].reshape((B, C, H, W))
        op = r[F_OP]
        if op == CONV:
            x = _region(acts, act_off[k], B, C, H, W)
            conv_backward_(din[:B if k > k0 else 0], grads, dout.reshape((B, O, OH, OW)), x, r, params, work,
                           wino)
            if k > k0:
                cur = 1 - cur
        elif op == ACT:   # in place, through the saved output (region k+1 == region k)
            act_backward_(dout, dout, acts[act_off[k + 1]:act_off[k + 1] + n_out], r[F_CODE])
        elif op == MAXPOOL and r[F_CODE] == POOL_2X2:   # the scan replayed on the saved input
            x = _region(acts, act_off[k], B, C, H, W)
            max2x2.backward(din.reshape((B * C, H, W)), dout.reshape((B * O, OH, OW)), x.reshape((B * C, H, W)))
            cur = 1 - cur
        elif op == MAXPOOL:
            _, hn, _, wn = _pool_tabs(tabs, r)
            ids = idx.reshape(-1)[Bs * r[F_IDX]:Bs * r[F_IDX] + n_out].reshape((B * O, OH, OW))
            max_image_backward(din.reshape((B * C, H, W)), dout.reshape((B * O, OH, OW)), ids, hn, wn)
            cur = 1 - cur
        else:             # dropout, in place: dout * mask
            mf, m0 = mask.reshape(-1), Bs * r[F_MASK]
            for j in range(n_out):
                dout[j] *= mf[m0 + j]


@jit
def _shard(s, S, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed, prog, tabs, probs, sizes,
           n_conv_params, dims, w_off, b_off, act_codes, drop_p, loss_code, acts, act_off, idx, dmask, g, work,
           yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off, mdeltas, mdelta_off, mtbuf, wino, lanes, part):
    # shard s of S of the batch X[rows]; returns (summed loss, correct count) of its rows. part 0: all of
    # it, writing every entry of grads[s]: gather, forward, head forward+loss+backward, the head's input
    # gradient dfeat, backward. With S > 1 the head's first layer backward is w0_backward_'s, over the
    # whole batch: part 1 runs up to the head's backward (its first weight gradient left out), part 2 the
    # backward from dfeat on
    Btot = rows.shape[0]
    lo, hi = Btot * s // S, Btot * (s + 1) // S
    if hi == lo:
        if part != 2:
            grads[s, :] = 0
        return 0.0, 0
    B = hi - lo
    K = prog.shape[0]
    a, gs = acts[s], grads[s]
    loss, correct = 0.0, 0
    if part != 2:
        gs[:n_conv_params] = 0
        n0, F = sizes[0], sizes[K]
        xb = a[act_off[0]:act_off[0] + B * n0].reshape((B, n0))
        gather_(xb, yb_idx[s], yb_val[s], X, Y_idx, Y_val, rows[lo:hi], scale, shift, loss_code)
        dropout_masks_(dmask[s], prog, probs, sizes, seed, step, lo, B)
        if lanes is None:
            shard_forward(a, act_off, sizes, idx[s], dmask[s], prog, tabs, params, B, work[s], wino)
        else:
            lane_ops.shard_forward(a, act_off, sizes, prog, params, B, lanes[0][s], lanes[2], lanes[3], lanes[4])
        feat = a[act_off[K]:act_off[K] + B * F].reshape((B, F))
        loss, correct = forward_backward(gs, params, feat, yb_idx[s][:B], yb_val[s][:B], Btot, lo, dims, w_off,
                                         b_off, act_codes, drop_p, loss_code, seed, step, macts[s], mact_off,
                                         mdrops[s], mdrop_off, mdeltas[s], mdelta_off, mtbuf[s], part == 0)
        if part == 1:
            return loss, correct
        n1 = dims[1]
        no = np.bool_(False)
        dz0 = mdeltas[s][mdelta_off[0]:mdelta_off[0] + B * n1].reshape((B, n1))
        dfeat = g[s, 0, :B * F].reshape((B, F))                   # the head's input gradient, dZ_0 @ W_0
        gemm_serial(dfeat, dz0, params[w_off[0]:w_off[0] + n1 * F].reshape((n1, F)), no, no, no)
    if lanes is None:
        shard_backward(gs, g[s], a, act_off, sizes, idx[s], dmask[s], prog, tabs, params, B, work[s], wino)
    else:
        F = sizes[K]
        lane_ops.shard_backward(gs, g[s, 0, :B * F].reshape((B, F)), prog, params, B, lanes[0][s], lanes[2],
                                lanes[3], lanes[4], lanes[1][s])
    return loss, correct


@jit
def _pack_rows(bp, NR, acts, off, Btot, S, F, k0, kc, j0, nv):
    # bp (kc, NR) = the packed column panel j0.. (nv columns) of rows k0..k0+kc of the batch's (Btot, F)
    # matrix held by the shards, rows Btot*s//S.. at off of acts[s]
    for s in range(S):
        s0 = Btot * s // S
        lo, hi = max(s0, k0), min(Btot * (s + 1) // S, k0 + kc)
        if hi > lo:
            pack_panel(bp[(lo - k0) * NR:], acts[s], off + (lo - s0) * F + j0, F, hi - lo, nv)


@pjit
def w0_backward_(grads, g, params, Btot, acts, act_off, K, F, mdeltas, dz_off, n1, w0_off, dzall):
    # the backward of the head's first Linear over the whole batch, columns split over the shards'
    # threads, from the shards' dZ_0 (B_s, n1) at dz_off of mdeltas[s] and features (B_s, F) at act_off[K]
    # of acts[s]:
    #   grads[0][w0_off:][:n1*F] (n1, F) = dZ_0^T (n1, Btot) @ feat (Btot, F)  (its weight gradient)
    #   g[s, 0][:B_s*F] (B_s, F) = dZ_0 (B_s, n1) @ W_0 (n1, F)             (dfeat, each shard's rows)
    # Each thread copies dZ_0 into its dzall[t] (Btot*n1) and packs one column panel (gemm's axpy tiles,
    # 2W columns) of the features (all Btot rows) and of W_0 at a time: the features and W_0 are read once
    # per step, and every panel serves the whole batch. Per shard, the weight gradient would be a full
    # (n1, F) partial each (4.7 MB per shard per step at the examples Net) and each 32-row dfeat would
    # re-pack W_0's panels: the tiles ran at 60-75 GFLOP/s where these run at 85-88 (DESIGN.md)
    S = acts.shape[0]
    NR = 2 * lanes_of(grads)
    for t in numba.prange(S):
        old = ftz_enter()
        dz, dw = dzall[t], grads[0]
        for s in range(S):
            lo, hi = Btot * s // S, Btot * (s + 1) // S
            dz[lo * n1:hi * n1] = mdeltas[s][dz_off:dz_off + (hi - lo) * n1]
        j_lo, j_hi = _span(F, NR, S, t)
        bp = np.empty(min(max(Btot, n1), KC) * NR, grads.dtype)
        for j0 in range(j_lo, j_hi, NR):
            nv = min(NR, j_hi - j0)
            for k0 in range(0, Btot, KC):       # dW_0[:, j0..] (+)= dZ_0[k0.., :]^T @ feat[k0.., j0..]
                kc = min(KC, Btot - k0)
                _pack_rows(bp, NR, acts, act_off[K], Btot, S, F, k0, kc, j0, nv)
                for i0 in range(0, n1, AXPY_MR):   # A[i, p] = dZ_0[k0 + p, i0 + i]
                    AXPY(dw, w0_off + i0 * F + j0, F, dz, k0 * n1 + i0, np.int64(1), n1, bp, np.int64(0), NR, kc,
                         min(AXPY_MR, n1 - i0), nv, k0 > 0)
            for k0 in range(0, n1, KC):         # dfeat[:, j0..] (+)= dZ_0[:, k0..] @ W_0[k0.., j0..]
                kc = min(KC, n1 - k0)
                pack_panel(bp, params, w0_off + k0 * F + j0, F, kc, nv)
                for s in range(S):
                    lo, hi = Btot * s // S, Btot * (s + 1) // S
                    for i0 in range(lo, hi, AXPY_MR):   # A[i, p] = dZ_0[i0 + i, k0 + p]
                        AXPY(g[s, 0], (i0 - lo) * F + j0, F, dz, i0 * n1 + k0, n1, np.int64(1), bp, np.int64(0),
                             NR, kc, min(AXPY_MR, hi - i0), nv, k0 > 0)
        ftz_leave(old)


@pjit
def _shards_par(loss_s, correct_s, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed, prog, tabs,
                probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p, loss_code, acts, act_off, idx,
                dmask, g, work, yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off, mdeltas, mdelta_off,
                mtbuf, wino, lanes, part):
    # every shard of the batch X[rows] on its own thread (_shard's part)
    S = grads.shape[0]
    for s in numba.prange(S):
        old = ftz_enter()
        loss_s[s], correct_s[s] = _shard(np.int64(s), S, rows, params, grads, X, Y_idx, Y_val, scale, shift,
                                         step, seed, prog, tabs, probs, sizes, n_conv_params, dims, w_off, b_off,
                                         act_codes, drop_p, loss_code, acts, act_off, idx, dmask, g, work,
                                         yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off, mdeltas, mdelta_off,
                                         mtbuf, wino, lanes, part)
        ftz_leave(old)


@jit
def train_epoch(params, grads, state, X, Y_idx, Y_val, perm, batch_size, drop_last, scale, shift, hp, opt_code,
                step0, seed, prog, tabs, probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p,
                loss_code, acts, act_off, idx, dmask, g, work, yb_idx, yb_val, macts, mact_off, mdrops,
                mdrop_off, mdeltas, mdelta_off, mtbuf, nthreads, max_norm, wino, lanes):
    # steps over batches perm[s:s+batch_size] of X (N, C*H*W) float or uint8 (x = X*scale + shift);
    # grads (S, P) and the per-shard buffers of a program.Workspace (m*: its head's fused_mlp Workspace);
    # hp (R, H): step k of this call updates with row min(k, R-1) (as fused_mlp's train_epoch);
    # max_norm > 0 clips each step's gradient (fused_mlp update); wino None where no conv of the program
    # runs Winograd (program.Program.winograd), else True; returns (mean loss, accuracy, steps)
    N, S, R = perm.shape[0], grads.shape[0], hp.shape[0]
    loss_s, correct_s = np.zeros(S), np.zeros(S, np.int64)
    dzall = np.empty((S, min(batch_size, N) * dims[1]), params.dtype)   # w0_backward_'s copies of dZ_0
    tot_loss, tot_correct, seen, steps = 0.0, 0, 0, 0
    for b0 in range(0, N, batch_size):
        B = min(batch_size, N - b0)
        if B < batch_size and drop_last:
            break
        rows = perm[b0:b0 + B]
        steps += 1
        step = step0 + steps
        w0_lo = w0_hi = np.int64(0)
        if S == 1:
            loss, correct = _shard(np.int64(0), S, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed,
                                   prog, tabs, probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p,
                                   loss_code, acts, act_off, idx, dmask, g, work, yb_idx, yb_val, macts,
                                   mact_off, mdrops, mdrop_off, mdeltas, mdelta_off, mtbuf, wino, lanes, np.int64(0))
        else:   # shards' part 1 (forward, head), w0_backward_ over the whole batch, shards' part 2 (backward)
            for part in range(1, 3):
                if part == 2:
                    loss, correct = loss_s.sum(), correct_s.sum()
                    F, n1 = sizes[prog.shape[0]], dims[1]
                    w0_backward_(grads, g, params, np.int64(B), acts, act_off, np.int64(prog.shape[0]), F, mdeltas,
                                 mdelta_off[0], n1, w_off[0], dzall)
                    w0_lo, w0_hi = w_off[0], w_off[0] + n1 * F
                _shards_par(loss_s, correct_s, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed, prog,
                            tabs, probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p, loss_code,
                            acts, act_off, idx, dmask, g, work, yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off,
                            mdeltas, mdelta_off, mtbuf, wino, lanes, np.int64(part))
        update(params, state, grads, hp[min(steps, R) - 1], opt_code, step, nthreads, max_norm, w0_lo, w0_hi)
        tot_loss += loss
        tot_correct += correct
        seen += B
    if seen == 0:
        return 0.0, 0.0, 0
    return tot_loss / seen, tot_correct / seen, steps
