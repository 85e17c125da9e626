"""Python-side helpers of the fused MLP path: integer codes, flat-parameter layout, hyper-parameter
packing and the `Workspace` (every working buffer, allocated once per (dims, batch size, dtype)).

Flat parameter layout (torch order): for each layer l, W_l (dims[l+1], dims[l]) row-major, then
b_l (dims[l+1],) when has_bias[l]. Gradient and optimizer-state buffers use the same layout.
"""
import numpy as np

from ..activation.codes import ACT  # noqa: F401  (the one table of activation codes)
from ..optim.fields import HP_FIELDS  # noqa: F401
from ..optim.table import BY_CODE, N_STATE, OPT, pack_hparams  # noqa: F401  (the optimizers' one table)

LOSS = {"cross_entropy": 0, "mse": 1}


def n_state(opt_code):
    """Rows of the (N_STATE, P) state array used by each optimizer (rows beyond it may stay zero)."""
    return len(BY_CODE[opt_code].args)


def param_layout(dims, has_bias):
    """(w_off, b_off, total): int64 offsets of W_l and b_l (-1 when absent) in the flat buffer."""
    dims = np.asarray(dims, np.int64)
    L = len(dims) - 1
    if L < 1 or len(has_bias) != L or (dims <= 0).any():
        raise ValueError(f"fused MLP: dims must list >= 2 positive sizes and has_bias one flag per layer; "
                         f"got dims={list(dims)}, has_bias={list(has_bias)}")
    w_off, b_off = np.empty(L, np.int64), np.full(L, -1, np.int64)
    o = 0
    for l in range(L):
        w_off[l] = o
        o += dims[l + 1] * dims[l]
        if has_bias[l]:
            b_off[l] = o
            o += dims[l + 1]
    return w_off, b_off, int(o)


class Workspace:
    """Every per-step buffer of the fused MLP for batches of up to `batch_size` rows cut into `shards`
    row shards (one per thread; fused_mlp/cpu.py), allocated once. Each buffer has a leading shard
    axis; a shard holds up to Bs = ceil(batch_size / shards) rows.

    xb (S, Bs, dims[0])   gathered input rows           yb_idx (S, Bs) int64 / yb_val (S, Bs, C) targets
    acts  (S, flat)       H_l (Bs, dims[l+1]) per layer: post-activation (logits for the last)
    drops (S, flat)       D_l (Bs, dims[l+1]) post-dropout, only for hidden layers with p > 0
    deltas (S, flat)      dZ_l (Bs, dims[l+1]) per layer
    tbuf  (S, flat)       two feature-major (max(dims), Bs) blocks: a layer's input A.T and its output Z.T
    act_off/drop_off/delta_off: int64 element offsets into a shard's row (drop_off = -1: no dropout)
    """

    def __init__(self, dims, batch_size, dtype=np.float32, drop_p=None, shards=1):
        dims = [int(d) for d in dims]
        L = len(dims) - 1
        drop_p = np.zeros(max(L - 1, 0)) if drop_p is None else np.asarray(drop_p, np.float64)
        B, S = int(batch_size), int(shards)
        if B < 1 or S < 1:
            raise ValueError(f"fused MLP: batch_size and shards must be >= 1, got {batch_size}, {shards}")
        Bs = -(-B // S)
        self.dims, self.batch_size, self.shards, self.dtype = dims, B, S, np.dtype(dtype)
        self.act_off = np.cumsum([0] + [Bs * d for d in dims[1:]]).astype(np.int64)
        self.delta_off = self.act_off.copy()
        drop_off, o = np.full(L, -1, np.int64), 0
        for l in range(L - 1):
            if drop_p[l] > 0:
                drop_off[l], o = o, o + Bs * dims[l + 1]
        self.drop_off = drop_off
        self.xb = np.zeros((S, Bs, dims[0]), dtype)
        self.yb_idx = np.zeros((S, Bs), np.int64)
        self.yb_val = np.zeros((S, Bs, dims[-1]), dtype)
        self.acts = np.zeros((S, int(self.act_off[-1])), dtype)
        self.deltas = np.zeros((S, int(self.delta_off[-1])), dtype)
        self.drops = np.zeros((S, o), dtype)
        self.tbuf = np.zeros((S, 2 * Bs * max(dims)), dtype)

    def fits(self, batch_size, shards):
        """True when batches of batch_size rows in `shards` shards fit these buffers."""
        return shards == self.shards and batch_size <= self.batch_size
