"""Plain NumPy reference of the fused MLP training step and epoch (oracle for fused_mlp/cpu.py).

Model: Sequential(Linear, act, [Dropout], ..., Linear) + CrossEntropyLoss(mean) or MSELoss(mean),
parameters in one flat buffer (layout in workspace.py), any optimizer of kernels/optim/ref.py chosen
by code. Works in float32 and float64 (all arithmetic in the buffers' dtype).
Dropout masks come from the counter-based hash `dropout_uniform(seed, step, layer, index)` (splitmix64),
so the reference and the Numba kernel draw identical masks; they differ from the eager path's RNG.
"""
import numpy as np

from ..optim import ref as optim_ref
from ..optim import table
from .workspace import param_layout

_M1, _M2, _M3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def dropout_uniform(seed, step, layer, index):
    """u in [0,1) (float64 array) = top 24 bits of splitmix64(seed*M1 + step*M2 + layer*M3 + index) / 2^24."""
    with np.errstate(over="ignore"):
        z = (np.uint64(seed) * _M1 + np.uint64(step) * _M2 + np.uint64(layer) * _M3
             + np.asarray(index, np.uint64) + _M1)
        z = (z ^ (z >> np.uint64(30))) * _M2
        z = (z ^ (z >> np.uint64(27))) * _M3
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) * 2.0 ** -24


def _act(z, code):
    if code == 1:
        return np.maximum(z, 0)
    if code == 2:
        return 1 / (1 + np.exp(-z))
    if code == 3:
        return np.tanh(z)
    return z


def _act_grad(h, code):
    """d act / d z expressed through the saved output h."""
    if code == 1:
        return (h > 0).astype(h.dtype)
    if code == 2:
        return h * (1 - h)
    if code == 3:
        return 1 - h * h
    return np.ones_like(h)


def _loss_and_grad(logits, y, loss_code):
    """(mean loss, correct count, dlogits) for CrossEntropyLoss (y int64 (B,)) or MSELoss (y (B,C))."""
    B = logits.shape[0]
    if loss_code == 0:
        z = logits.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        loss = float((lse - z[np.arange(B), y]).mean())
        p = np.exp(z - lse[:, None])
        p[np.arange(B), y] -= 1
        correct = int((logits.argmax(axis=1) == y).sum())
        return loss, correct, (p / B).astype(logits.dtype)
    diff = logits.astype(np.float64) - y
    loss = float((diff * diff).mean())
    correct = int((logits.argmax(axis=1) == y.argmax(axis=1)).sum())
    return loss, correct, (2 * diff / diff.size).astype(logits.dtype)


def forward_backward(grads, params, x, y, dims, has_bias, act_codes, drop_p, loss_code, seed, step):
    """Fill grads (flat) with d(mean loss)/d(params) for batch x (B, dims[0]); returns (loss, correct)."""
    w_off, b_off, _ = param_layout(dims, has_bias)
    L, dt = len(dims) - 1, params.dtype
    W = [params[w_off[l]:w_off[l] + dims[l + 1] * dims[l]].reshape(dims[l + 1], dims[l]) for l in range(L)]
    a, saved = x.astype(dt), []
    for l in range(L):
        z = a @ W[l].T
        if b_off[l] >= 0:
            z = z + params[b_off[l]:b_off[l] + dims[l + 1]]
        if l == L - 1:
            saved.append((a, None, None))
            a = z
            break
        h = _act(z, act_codes[l])
        mask = None
        if drop_p[l] > 0:
            u = dropout_uniform(seed, step, l, np.arange(h.size)).reshape(h.shape)
            mask = np.where(u >= drop_p[l], dt.type(1.0 / (1.0 - drop_p[l])), dt.type(0))
        saved.append((a, h, mask))
        a = h if mask is None else h * mask
    loss, correct, dz = _loss_and_grad(a, y, loss_code)
    for l in range(L - 1, -1, -1):
        a_in = saved[l][0]
        grads[w_off[l]:w_off[l] + dims[l + 1] * dims[l]] = (dz.T @ a_in).ravel()
        if b_off[l] >= 0:
            grads[b_off[l]:b_off[l] + dims[l + 1]] = dz.sum(axis=0)
        if l > 0:
            _, h, mask = saved[l - 1]
            da = dz @ W[l]
            if mask is not None:
                da = da * mask
            dz = da * _act_grad(h, act_codes[l - 1])
    return loss, correct


def optimizer_update(params, state, grads, hp, opt_code, step):
    """One update of optim/ref.py's optimizer `opt_code` with hp (kernels/optim/table.py field order);
    state (N_STATE, P), row i = the table's args[i]."""
    d = table.BY_CODE[int(opt_code)]
    fn = getattr(optim_ref, d.update)
    fn(params, *state[:len(d.args)], grads, step, *table.unpack(d.name, hp))


def train_step(params, grads, state, x, y, hp, opt_code, step, dims, has_bias, act_codes, drop_p,
               loss_code, seed):
    """forward + backward + one optimizer update (step = already-incremented count); (loss, correct)."""
    loss, correct = forward_backward(grads, params, x, y, dims, has_bias, act_codes, drop_p, loss_code,
                                     seed, step)
    optimizer_update(params, state, grads, hp, opt_code, step)
    return loss, correct


def train_epoch(params, grads, state, X, Y, perm, batch_size, drop_last, scale, shift, hp, opt_code,
                step0, dims, has_bias, act_codes, drop_p, loss_code, seed):
    """Steps over batches perm[s:s+batch_size] of X*scale+shift; step0 = steps already taken; hp (H,)
    for every step, or (R, H): step k (0-based) uses row min(k, R-1). Returns (sample-weighted mean
    loss, accuracy, steps taken)."""
    N, tot_loss, tot_correct, seen, steps = len(perm), 0.0, 0, 0, 0
    table = np.atleast_2d(hp)
    for s in range(0, N, batch_size):
        idx = perm[s:s + batch_size]
        if len(idx) < batch_size and drop_last:
            break
        x = (X[idx].astype(params.dtype) * params.dtype.type(scale) + params.dtype.type(shift))
        steps += 1
        hp_k = table[min(steps, len(table)) - 1]
        loss, correct = train_step(params, grads, state, x, Y[idx], hp_k, opt_code, step0 + steps, dims,
                                   has_bias, act_codes, drop_p, loss_code, seed)
        tot_loss += loss * len(idx)
        tot_correct += correct
        seen += len(idx)
    return (tot_loss / seen if seen else 0.0), (tot_correct / seen if seen else 0.0), steps
