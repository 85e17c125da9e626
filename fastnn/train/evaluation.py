"""Evaluation for `fastnn train`: a model's logits on device data, and their loss and accuracy."""
import numpy as np


def logits_numpy(model, x, batch_size=1000):
    """The model's logits for the device array x, as a float64 NumPy array (no graph recorded)."""
    from .. import no_grad
    from ..tensor import Tensor

    be = model_backend(model)
    outs = []
    model.eval()
    with no_grad():
        for i in range(0, x.shape[0], batch_size):
            out = model(Tensor._wrap(x[i:i + batch_size], be))
            outs.append(be.to_numpy(out._data).astype(np.float64))
    return np.concatenate(outs) if outs else np.zeros((0, 10))


def loss_and_accuracy(logits, y):
    """(mean cross-entropy, accuracy) of float64 logits (N,C) against int labels y (N,)."""
    if logits.shape[0] == 0:
        return float("nan"), float("nan")
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(y)), y].mean()
    return float(loss), float((logits.argmax(axis=1) == y).mean())


def evaluate(model, x, y_np, batch_size=1000):
    return loss_and_accuracy(logits_numpy(model, x, batch_size), y_np)


def model_backend(model):
    return next(iter(model.parameters())).backend
