"""Numba fused CNN training: one compiled call per epoch (`train_epoch`), a step being an epoch of one
batch. Same math as fused_cnn/ref.py; the program, layouts and buffers are program.py's.

Threads (as kernels/fused_mlp/cpu.py): a batch is cut into S row shards (backends/cpu_fused_cnn.py picks
S from the thread count); each Numba thread runs its images' forward, the head and the backward on its
own buffers and writes a partial gradient grads[s] (every entry), then fused_mlp's `update` sums the
partials and applies the optimizer slice by slice. Two fork/joins per step; no activations cross cores.
Per shard: gather its rows (fused_mlp.gather_, uint8 normalization fused), run the program's per-image
ops image by image (conv2d/pool2d's serial per-image kernels; conv bias + activation as separate
in-place passes), the head (fused_mlp.forward_backward over the shard's (B, F) features, loss included,
then dfeat = dZ_0 @ W_0: the head's input gradient), then the program backwards image by image with two
ping-pong per-image gradient buffers (conv weight gradients accumulate over the shard's images).
Dropout masks hash (seed, step, layer, index in the whole batch) as the fused MLP's (fused_mlp.cpu.
dropout_uniform); a per-image op k uses layer program.DROPOUT_LAYER0 + k, the head its layer numbers.
The per-image ops' masks are filled for the shard's images first (dropout_masks_) and only read by
image_forward/backward: no hash loop beside the conv and pool calls (see dropout_masks_).
Integer arguments at jitted call sites are int64 values (program rows, np.int64(...)), never literals.
"""
import numba
import numpy as np

from ..conv2d.cpu import conv2d_image_backward_input, conv2d_image_backward_weight, conv2d_image_forward
from ..fpenv import ftz_enter, ftz_leave
from ..fused_mlp.cpu import dropout_uniform, forward_backward, gather_, jit, pjit, update
from ..gemm.cpu import gemm_serial
from ..pool2d.cpu import max_image_backward, max_image_forward
from .program import (F_BOFF, F_C, F_CODE, F_DH, F_DW, F_GROUPS, F_H, F_IDX, F_KH, F_KW, F_MASK, F_O, F_OH, F_OP,
                      F_OW, F_PH, F_PW, F_SH, F_SW, F_TAB, F_W, F_WOFF, OP)

CONV, ACT, MAXPOOL, DROPOUT = OP["conv"], OP["act"], OP["maxpool"], OP["dropout"]


@jit
def _image(buf, off, size, i, C, H, W):
    # (C,H,W) view of image i of the region (Bs, size) at off in the flat buf
    return buf[off + i * size:off + (i + 1) * size].reshape((C, H, W))


@jit
def act_forward_(x, code):
    # x (n,) = act(x) in place (code: kernels/activation/codes.py)
    T = x.dtype.type
    zero, one = T(0.0), T(1.0)
    for j in range(x.size):
        if code == 1:
            x[j] = max(x[j], zero)
        elif code == 2:
            x[j] = one / (one + np.exp(-x[j]))
        elif code == 3:
            x[j] = np.tanh(x[j])


@jit
def act_backward_(d, h, code):
    # d (n,) *= act'(x), from the activation's output h (n,) (relu: h > 0; sigmoid: h(1-h); tanh: 1-h^2)
    T = d.dtype.type
    zero, one = T(0.0), T(1.0)
    if code == 1:
        for j in range(d.size):
            d[j] = d[j] if h[j] > zero else zero
    elif code == 2:
        for j in range(d.size):
            d[j] = d[j] * (h[j] * (one - h[j]))
    elif code == 3:
        for j in range(d.size):
            d[j] = d[j] * (one - h[j] * h[j])


@jit
def dropout_masks_(dmask, prog, probs, sizes, seed, step, row0, B):
    # dmask (Bs, mask_size): for each dropout op k and image i < B (batch row row0 + i), the mask of its
    # n = sizes[k] inputs: 1/(1-p) where dropout_uniform(seed, step, layer, row*n + j) >= p, else 0.
    # Kept out of image_forward/backward: the hash loop there made LLVM compile the conv and pool
    # calls around it ~3x slower (DESIGN.md, fused CNN training).
    T = dmask.dtype.type
    for k in range(prog.shape[0]):
        if prog[k, F_OP] != DROPOUT:
            continue
        n, p, off, layer = sizes[k], probs[k], prog[k, F_MASK], prog[k, F_CODE]
        scale, zero = T(1.0 / (1.0 - p)), T(0.0)
        for i in range(B):
            row = row0 + i
            for j in range(n):
                dmask[i, off + j] = scale if dropout_uniform(seed, step, layer, row * n + j) >= p else zero


@jit
def image_forward(acts, act_off, sizes, idx, mask, prog, tabs, params, i, work):
    # forward of image i of a shard through every op of prog: op k reads region k and writes region
    # k+1 of acts (in place for activations); idx (idx_size,) its argmaxes; mask (mask_size,) its
    # dropout masks (dropout_masks_)
    for k in range(prog.shape[0]):
        r = prog[k]
        C, H, W, O, OH, OW = r[F_C], r[F_H], r[F_W], r[F_O], r[F_OH], r[F_OW]
        x = _image(acts, act_off[k], sizes[k], i, C, H, W)
        out = _image(acts, act_off[k + 1], sizes[k + 1], i, O, OH, OW)
        op = r[F_OP]
        if op == CONV:
            CKK = (C // r[F_GROUPS]) * r[F_KH] * r[F_KW]
            w2 = params[r[F_WOFF]:r[F_WOFF] + O * CKK].reshape((O, CKK))
            conv2d_image_forward(out, x, w2, r[F_KH], r[F_KW], r[F_SH], r[F_SW], r[F_PH], r[F_PW], r[F_DH],
                                 r[F_DW], r[F_GROUPS], work)
            if r[F_BOFF] >= 0:
                of = out.reshape(-1)
                for o in range(O):
                    bo = params[r[F_BOFF] + o]
                    for q in range(o * OH * OW, (o + 1) * OH * OW):
                        of[q] += bo
        elif op == ACT:   # in place, or on a copy after another activation (program.act_offsets)
            of = out.reshape(-1)
            if act_off[k + 1] != act_off[k]:
                of[:] = x.reshape(-1)
            act_forward_(of, r[F_CODE])
        elif op == MAXPOOL:
            t = r[F_TAB]
            max_image_forward(out, idx[r[F_IDX]:r[F_IDX] + O * OH * OW].reshape((O, OH, OW)), x,
                              tabs[t:t + OH], tabs[t + OH:t + 2 * OH], tabs[t + 2 * OH:t + 2 * OH + OW],
                              tabs[t + 2 * OH + OW:t + 2 * OH + 2 * OW], r[F_DH], r[F_DW])
        else:             # dropout: x * mask
            of, xf, m0 = out.reshape(-1), x.reshape(-1), r[F_MASK]
            for j in range(of.size):
                of[j] = xf[j] * mask[m0 + j]


@jit
def _first_conv(prog):
    for k in range(prog.shape[0]):
        if prog[k, F_OP] == CONV:
            return k
    return prog.shape[0]


@jit
def image_backward(grads, g, acts, act_off, sizes, idx, mask, prog, tabs, params, i, work):
    # backward of image i from g[0][:sizes[K]] (d loss / d its features) down to the first conv:
    # conv weight and bias gradients are added to grads (P,); g (2, max size) ping-pong scratch
    cur = 0
    k0 = _first_conv(prog)
    for k in range(prog.shape[0] - 1, k0 - 1, -1):
        r = prog[k]
        C, H, W, O, OH, OW = r[F_C], r[F_H], r[F_W], r[F_O], r[F_OH], r[F_OW]
        n_out = O * OH * OW
        dout = g[cur][:n_out]
        din = g[1 - cur][:C * H * W].reshape((C, H, W))
        op = r[F_OP]
        if op == CONV:
            CKK = (C // r[F_GROUPS]) * r[F_KH] * r[F_KW]
            dout3 = dout.reshape((O, OH, OW))
            if r[F_BOFF] >= 0:
                for o in range(O):
                    s = 0.0
                    for q in range(OH * OW):
                        s += dout[o * OH * OW + q]
                    grads[r[F_BOFF] + o] += s
            x = _image(acts, act_off[k], sizes[k], i, C, H, W)
            dw2 = grads[r[F_WOFF]:r[F_WOFF] + O * CKK].reshape((O, CKK))
            conv2d_image_backward_weight(dw2, dout3, x, r[F_KH], r[F_KW], r[F_SH], r[F_SW], r[F_PH], r[F_PW],
                                         r[F_DH], r[F_DW], r[F_GROUPS], work)
            if k > k0:
                w2 = params[r[F_WOFF]:r[F_WOFF] + O * CKK].reshape((O, CKK))
                conv2d_image_backward_input(din, dout3, w2, r[F_KH], r[F_KW], r[F_SH], r[F_SW], r[F_PH], r[F_PW],
                                            r[F_DH], r[F_DW], r[F_GROUPS], work)
                cur = 1 - cur
        elif op == ACT:   # in place, through the saved output (region k+1 == region k)
            h = acts[act_off[k + 1] + i * n_out:act_off[k + 1] + (i + 1) * n_out]
            act_backward_(dout, h, r[F_CODE])
        elif op == MAXPOOL:
            t = r[F_TAB]
            max_image_backward(din, dout.reshape((O, OH, OW)), idx[r[F_IDX]:r[F_IDX] + n_out].reshape((O, OH, OW)),
                               tabs[t + OH:t + 2 * OH], tabs[t + 2 * OH + OW:t + 2 * OH + 2 * OW])
            cur = 1 - cur
        else:             # dropout, in place: dout * mask
            m0 = r[F_MASK]
            for j in range(n_out):
                dout[j] *= mask[m0 + j]


@jit
def _shard(s, S, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed, prog, tabs, probs, sizes,
           n_conv_params, dims, w_off, b_off, act_codes, drop_p, loss_code, acts, act_off, idx, dmask, g, dfeat,
           work, yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off, mdeltas, mdelta_off, mtbuf):
    # shard s of S of the batch X[rows]: gather, per-image forward, head forward+loss+backward, per-image
    # backward, writing every entry of grads[s]; returns (summed loss, correct count) of its rows
    Btot = rows.shape[0]
    lo, hi = Btot * s // S, Btot * (s + 1) // S
    if hi == lo:
        grads[s, :] = 0
        return 0.0, 0
    B = hi - lo
    K = prog.shape[0]
    a, gs = acts[s], grads[s]
    gs[:n_conv_params] = 0
    n0, F = sizes[0], sizes[K]
    xb = a[act_off[0]:act_off[0] + B * n0].reshape((B, n0))
    gather_(xb, yb_idx[s], yb_val[s], X, Y_idx, Y_val, rows[lo:hi], scale, shift, loss_code)
    dropout_masks_(dmask[s], prog, probs, sizes, seed, step, lo, B)
    for i in range(B):
        image_forward(a, act_off, sizes, idx[s, i], dmask[s, i], prog, tabs, params, np.int64(i), work[s])
    feat = a[act_off[K]:act_off[K] + B * F].reshape((B, F))
    loss, correct = forward_backward(gs, params, feat, yb_idx[s][:B], yb_val[s][:B], Btot, lo, dims, w_off,
                                     b_off, act_codes, drop_p, loss_code, seed, step, macts[s], mact_off,
                                     mdrops[s], mdrop_off, mdeltas[s], mdelta_off, mtbuf[s])
    n1 = dims[1]
    no = np.bool_(False)
    dz0 = mdeltas[s][mdelta_off[0]:mdelta_off[0] + B * n1].reshape((B, n1))
    gemm_serial(dfeat[s][:B], dz0, params[w_off[0]:w_off[0] + n1 * F].reshape((n1, F)), no, no, no)
    for i in range(B):
        g[s, 0, :F] = dfeat[s, i]
        image_backward(gs, g[s], a, act_off, sizes, idx[s, i], dmask[s, i], prog, tabs, params, np.int64(i),
                       work[s])
    return loss, correct


@pjit
def _shards_par(loss_s, correct_s, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed, prog, tabs,
                probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p, loss_code, acts, act_off, idx,
                dmask, g, dfeat, work, yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off, mdeltas, mdelta_off,
                mtbuf):
    # every shard of the batch X[rows] on its own thread
    S = grads.shape[0]
    for s in numba.prange(S):
        old = ftz_enter()
        loss_s[s], correct_s[s] = _shard(np.int64(s), S, rows, params, grads, X, Y_idx, Y_val, scale, shift,
                                         step, seed, prog, tabs, probs, sizes, n_conv_params, dims, w_off, b_off,
                                         act_codes, drop_p, loss_code, acts, act_off, idx, dmask, g, dfeat, work,
                                         yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off, mdeltas, mdelta_off,
                                         mtbuf)
        ftz_leave(old)


@jit
def train_epoch(params, grads, state, X, Y_idx, Y_val, perm, batch_size, drop_last, scale, shift, hp, opt_code,
                step0, seed, prog, tabs, probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p,
                loss_code, acts, act_off, idx, dmask, g, dfeat, work, yb_idx, yb_val, macts, mact_off, mdrops,
                mdrop_off, mdeltas, mdelta_off, mtbuf, nthreads, max_norm):
    # steps over batches perm[s:s+batch_size] of X (N, C*H*W) float or uint8 (x = X*scale + shift);
    # grads (S, P) and the per-shard buffers of a program.Workspace (m*: its head's fused_mlp Workspace);
    # hp (R, H): step k of this call updates with row min(k, R-1) (as fused_mlp's train_epoch);
    # max_norm > 0 clips each step's gradient (fused_mlp update); returns (mean loss, accuracy, steps)
    N, S, R = perm.shape[0], grads.shape[0], hp.shape[0]
    loss_s, correct_s = np.zeros(S), np.zeros(S, np.int64)
    tot_loss, tot_correct, seen, steps = 0.0, 0, 0, 0
    for b0 in range(0, N, batch_size):
        B = min(batch_size, N - b0)
        if B < batch_size and drop_last:
            break
        rows = perm[b0:b0 + B]
        steps += 1
        step = step0 + steps
        if S == 1:
            loss, correct = _shard(np.int64(0), S, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed,
                                   prog, tabs, probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p,
                                   loss_code, acts, act_off, idx, dmask, g, dfeat, work, yb_idx, yb_val, macts,
                                   mact_off, mdrops, mdrop_off, mdeltas, mdelta_off, mtbuf)
        else:
            _shards_par(loss_s, correct_s, rows, params, grads, X, Y_idx, Y_val, scale, shift, step, seed, prog,
                        tabs, probs, sizes, n_conv_params, dims, w_off, b_off, act_codes, drop_p, loss_code, acts,
                        act_off, idx, dmask, g, dfeat, work, yb_idx, yb_val, macts, mact_off, mdrops, mdrop_off,
                        mdeltas, mdelta_off, mtbuf)
            loss, correct = loss_s.sum(), correct_s.sum()
        update(params, state, grads, hp[min(steps, R) - 1], opt_code, step, nthreads, max_norm)
        tot_loss += loss
        tot_correct += correct
        seen += B
    if seen == 0:
        return 0.0, 0.0, 0
    return tot_loss / seen, tot_correct / seen, steps
