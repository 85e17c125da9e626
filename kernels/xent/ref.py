"""Cross-entropy NumPy references (outputs first), float64 internally; targets assumed in range.
`xp` is the array module (numpy or cupy): the CUDA backend runs this file for non-float32 dtypes."""
import numpy as np


def cross_entropy_forward(loss_rows, probs, logits, target, xp=np):
    # loss_rows (M,) = logsumexp(logits) - logits[target]; probs (M,C) = softmax(logits (M,C))
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = m + xp.log(xp.exp(x - m).sum(axis=1, keepdims=True))
    probs[...] = xp.exp(x - lse)
    loss_rows[...] = lse[:, 0] - x[xp.arange(x.shape[0]), target]


def cross_entropy_backward(dlogits, dloss_rows, probs, target, xp=np):
    # dlogits (M,C) = dloss_rows[:, None] * (probs - onehot(target))
    g = probs.astype(np.float64)
    g[xp.arange(g.shape[0]), target] -= 1
    dlogits[...] = dloss_rows.astype(np.float64)[:, None] * g
