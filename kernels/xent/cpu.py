"""Fused softmax cross-entropy on the CPU (Numba): one pass per row computes the stable
log-sum-exp, the softmax (saved for backward) and the row loss; backward is probs - onehot.

Targets are validated by the engine (0 <= t < C). The kernels stay memory-safe anyway: a row whose
target is out of range gets loss NaN and its gradient omits the one-hot term (no out-of-bounds access).
"""
import math

import numpy as np

from .._checks import FLOATS as _FLOATS
from .._numba import jit
from ..softmax.cpu import softmax_row


def _check(name, rows, mat, target, mat_name):
    M = mat.shape[0] if isinstance(mat, np.ndarray) and mat.ndim == 2 else None
    ok = (M is not None and isinstance(rows, np.ndarray) and rows.shape == (M,)
          and isinstance(target, np.ndarray) and target.shape == (M,))
    if not ok:
        raise ValueError(f"{name}: expected {mat_name} (M,C), rows (M,), target (M,); got "
                         f"{[getattr(a, 'shape', type(a)) for a in (mat, rows, target)]}")
    if mat.dtype not in _FLOATS or rows.dtype != mat.dtype or target.dtype != np.int64:
        raise TypeError(f"{name}: expected float32/float64 {mat_name} and rows of one dtype and "
                        f"int64 target, got {mat.dtype}, {rows.dtype}, {target.dtype}")
    for a in (rows, mat, target):
        if not a.flags.c_contiguous:
            raise ValueError(f"{name}: arrays must be C-contiguous (strides {a.strides})")


@jit
def _xent_forward(loss_rows, probs, logits, target):
    # loss_rows (M,) = logsumexp(logits[i]) - logits[i, target[i]]; probs (M,C) = softmax(logits)
    M, C = logits.shape
    for i in range(M):
        t = target[i]
        if C == 0 or t < 0 or t >= C:
            loss_rows[i] = np.nan
            for j in range(C):
                probs[i, j] = np.nan
            continue
        m, s = softmax_row(probs, logits, i)
        loss_rows[i] = (m + math.log(s)) - logits[i, t]


@jit
def _xent_backward(dlogits, dloss_rows, probs, target):
    # dlogits (M,C) = dloss_rows[:, None] * (probs - onehot(target))
    M, C = probs.shape
    for i in range(M):
        g = dloss_rows[i]
        for j in range(C):
            dlogits[i, j] = g * probs[i, j]
        t = target[i]
        if 0 <= t < C:
            dlogits[i, t] -= g


def cross_entropy_forward(loss_rows, probs, logits, target):
    # loss_rows (M,), probs (M,C) = fused softmax + NLL of logits (M,C) at int64 target (M,)
    _check("cross_entropy_forward", loss_rows, logits, target, "logits")
    if probs.shape != logits.shape or probs.dtype != logits.dtype or not probs.flags.c_contiguous:
        raise ValueError(f"cross_entropy_forward: probs must match logits {logits.shape} {logits.dtype}, "
                         f"got {probs.shape} {probs.dtype}")
    _xent_forward(loss_rows, probs, logits, target)


def cross_entropy_backward(dlogits, dloss_rows, probs, target):
    # dlogits (M,C) = dloss_rows[:, None] * (probs - onehot(target))
    _check("cross_entropy_backward", dloss_rows, probs, target, "probs")
    if dlogits.shape != probs.shape or dlogits.dtype != probs.dtype or not dlogits.flags.c_contiguous:
        raise ValueError(f"cross_entropy_backward: dlogits must match probs {probs.shape} {probs.dtype}, "
                         f"got {dlogits.shape} {dlogits.dtype}")
    _xent_backward(dlogits, dloss_rows, probs, target)
