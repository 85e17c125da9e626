"""Plain NumPy reference of the fused CNN training step and epoch (oracle for fused_cnn/cpu.py), on whole
batches in NCHW: conv2d and max-pool through their families' ref.py, activations, dropout masks and the
optimizer update through fused_mlp/ref.py (the same hash, so the masks are identical to the kernel's).
Model: program.Program's per-image ops, Flatten, the Linear head with hidden activations and dropout,
cross-entropy over the batch mean. float32 or float64 (arithmetic in the parameters' dtype).
"""
import numpy as np

from ..conv2d import ref as conv_ref
from ..fused_mlp import ref as mlp_ref
from ..pool2d import ref as pool_ref
from .program import (F_BOFF, F_C, F_CODE, F_DH, F_DW, F_GROUPS, F_KH, F_KW, F_O, F_OH, F_OP, F_OW, F_PH,
                      F_PW, F_SH, F_SW, F_TAB, F_WOFF, OP)


def _conv_args(r):
    return (int(r[F_SH]), int(r[F_SW])), (int(r[F_PH]), int(r[F_PW])), (int(r[F_DH]), int(r[F_DW])), int(r[F_GROUPS])


def _conv_weight(params, r):
    O, Cg = int(r[F_O]), int(r[F_C] // r[F_GROUPS])
    return params[r[F_WOFF]:r[F_WOFF] + O * Cg * r[F_KH] * r[F_KW]].reshape(O, Cg, r[F_KH], r[F_KW])


def _pool_tables(tabs, r):
    t, OH, OW = int(r[F_TAB]), int(r[F_OH]), int(r[F_OW])
    return tabs[t:t + OH], tabs[t + OH:t + 2 * OH], tabs[t + 2 * OH:t + 2 * OH + OW], tabs[t + 2 * OH + OW:t + 2 * OH + 2 * OW]


def _mask(seed, step, layer, shape, p, dt):
    u = mlp_ref.dropout_uniform(seed, step, layer, np.arange(int(np.prod(shape)))).reshape(shape)
    return np.where(u >= p, dt.type(1.0 / (1.0 - p)), dt.type(0))


def forward_backward(grads, params, x, y, pr, act_codes, drop_p, seed, step):
    """grads (P,) = d(mean cross-entropy)/d(params) for images x (B, C, H, W) of program pr (Program);
    act_codes / drop_p: the head's hidden activations and dropout. Returns (mean loss, correct)."""
    dt = params.dtype
    a, saved = x.astype(dt), []
    for k, r in enumerate(pr.prog):
        op = r[F_OP]
        if op == OP["conv"]:
            out = conv_ref.conv2d_forward(a, _conv_weight(params, r), *_conv_args(r))
            if r[F_BOFF] >= 0:
                out = out + params[r[F_BOFF]:r[F_BOFF] + r[F_O]][None, :, None, None]
            saved.append(a)
        elif op == OP["act"]:
            out = mlp_ref._act(a, r[F_CODE])
            saved.append(out)
        elif op == OP["maxpool"]:
            hs, hn, ws, wn = _pool_tables(pr.tabs, r)
            out, idx = pool_ref.max_forward(a, hs, hn, ws, wn, int(r[F_DH]), int(r[F_DW]))
            saved.append((a.shape, idx))
        else:
            mask = _mask(seed, step, r[F_CODE], a.shape, pr.probs[k], dt)
            out = a * mask
            saved.append(mask)
        a = out
    B = a.shape[0]
    feat = a.reshape(B, -1)
    dims, L = pr.head_dims, len(pr.head_dims) - 1
    W = [params[pr.w_off[l]:pr.w_off[l] + dims[l + 1] * dims[l]].reshape(dims[l + 1], dims[l]) for l in range(L)]
    h, hsaved = feat, []
    for l in range(L):
        z = h @ W[l].T + (params[pr.b_off[l]:pr.b_off[l] + dims[l + 1]] if pr.b_off[l] >= 0 else 0)
        if l == L - 1:
            hsaved.append((h, None, None))
            h = z
            break
        act = mlp_ref._act(z, act_codes[l])
        mask = _mask(seed, step, l, act.shape, drop_p[l], dt) if drop_p[l] > 0 else None
        hsaved.append((h, act, mask))
        h = act if mask is None else act * mask
    loss, correct, dz = mlp_ref._loss_and_grad(h, y, 0)
    for l in range(L - 1, -1, -1):
        h_in = hsaved[l][0]
        grads[pr.w_off[l]:pr.w_off[l] + dims[l + 1] * dims[l]] = (dz.T @ h_in).ravel()
        if pr.b_off[l] >= 0:
            grads[pr.b_off[l]:pr.b_off[l] + dims[l + 1]] = dz.sum(axis=0)
        dh = dz @ W[l]
        if l > 0:
            _, act, mask = hsaved[l - 1]
            dz = (dh if mask is None else dh * mask) * mlp_ref._act_grad(act, act_codes[l - 1])
    d = dh.reshape(a.shape)
    for k in range(len(pr.prog) - 1, -1, -1):
        r, s = pr.prog[k], saved[k]
        op = r[F_OP]
        if op == OP["conv"]:
            w = _conv_weight(params, r)
            grads[r[F_WOFF]:r[F_WOFF] + w.size] = conv_ref.conv2d_backward_weight(d, s, w.shape, *_conv_args(r)).ravel()
            if r[F_BOFF] >= 0:
                grads[r[F_BOFF]:r[F_BOFF] + r[F_O]] = d.sum(axis=(0, 2, 3))
            d = conv_ref.conv2d_backward_input(d, w, s.shape, *_conv_args(r))
        elif op == OP["act"]:
            d = d * mlp_ref._act_grad(s, r[F_CODE])
        elif op == OP["maxpool"]:
            _, hn, _, wn = _pool_tables(pr.tabs, r)
            d = pool_ref.max_backward(d, s[1], s[0], hn, wn)
        else:
            d = d * s
    return loss, correct


def train_epoch(params, grads, state, X, Y, perm, batch_size, drop_last, scale, shift, hp, opt_code, step0,
                pr, act_codes, drop_p, seed):
    """Steps over batches perm[s:s+batch_size] of images X (N, C, H, W) * scale + shift; step0 = steps
    already taken. Returns (sample-weighted mean loss, accuracy, steps taken)."""
    N, tot_loss, tot_correct, seen, steps = len(perm), 0.0, 0, 0, 0
    dt = params.dtype
    for s in range(0, N, batch_size):
        idx = perm[s:s + batch_size]
        if len(idx) < batch_size and drop_last:
            break
        x = X[idx].astype(dt) * dt.type(scale) + dt.type(shift)
        steps += 1
        loss, correct = forward_backward(grads, params, x, Y[idx], pr, act_codes, drop_p, seed, step0 + steps)
        mlp_ref.optimizer_update(params, state, grads, hp, opt_code, step0 + steps)
        tot_loss += loss * len(idx)
        tot_correct += correct
        seen += len(idx)
    return (tot_loss / seen if seen else 0.0), (tot_correct / seen if seen else 0.0), steps
