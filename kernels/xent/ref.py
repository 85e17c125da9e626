"""Cross-entropy NumPy references (outputs first), float64 internally; targets assumed in range."""
import numpy as np


def cross_entropy_forward(loss_rows, probs, logits, target):
    # loss_rows (M,) = logsumexp(logits) - logits[target]; probs (M,C) = softmax(logits (M,C))
    x = logits.astype(np.float64)
    m = np.max(x, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))
    probs[...] = np.exp(x - lse)
    loss_rows[...] = lse[:, 0] - x[np.arange(x.shape[0]), target]


def cross_entropy_backward(dlogits, dloss_rows, probs, target):
    # dlogits (M,C) = dloss_rows[:, None] * (probs - onehot(target))
    g = probs.astype(np.float64)
    g[np.arange(g.shape[0]), target] -= 1
    dlogits[...] = dloss_rows.astype(np.float64)[:, None] * g
