"""Gradient clipping with torch.nn.utils.clip_grad's names, semantics and messages: the total norm is the
norm of the per-gradient norms, computed on the gradients' device without a host synchronisation
(except error_if_nonfinite's test, as in torch)."""
import math
import types
import warnings

import numpy as np


def _as_list(tensors):
    from ...tensor import Tensor

    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(xp, a, p):
    """torch.linalg.vector_norm(a, p) of a backend array, accumulated in float64, as a 0-d array of a's dtype."""
    v = xp.abs(a.reshape(-1)).astype(np.float64)
    if math.isinf(p):
        if v.size == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p} norm on an empty tensor because the "
                               "operation does not have an identity")
        r = v.max() if p > 0 else v.min()
    elif p == 0:
        r = (v != 0).sum().astype(np.float64)
    elif p == 1:
        r = v.sum()
    elif p == 2:
        r = xp.sqrt((v * v).sum())
    else:
        r = (v ** p).sum() ** (1.0 / p)
    return xp.asarray(r).astype(a.dtype)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the tensors' norms (as if they were concatenated into one vector), a 0-d tensor on the
    first tensor's device; `foreach` is accepted for torch compatibility (one implementation here)."""
    from ...creation import tensor
    from ...tensor import Tensor

    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return tensor(0.0)
    be = tensors[0].backend
    norms = []
    for t in tensors:
        n = _vector_norm(t.backend.xp, t._data, norm_type)
        norms.append(n if t.backend is be else be.asarray(t.backend.to_numpy(n)))
    total = _vector_norm(be.xp, be.xp.stack(norms), norm_type)
    if error_if_nonfinite and bool(be.xp.isnan(total) | be.xp.isinf(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor._wrap(total, be)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """grad *= min(max_norm / (total_norm + 1e-6), 1) for every parameter's gradient, in place; the
    coefficient is computed in total_norm's dtype on its device (no host synchronisation)."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    if len(grads) == 0:
        return
    be, total = total_norm.backend, total_norm._data
    T = total.dtype.type
    coef = be.xp.minimum(T(max_norm) / (total + T(1e-6)), T(1.0))
    for g in grads:
        c = coef if g.backend is be else g.backend.asarray(be.to_numpy(coef))
        g._data *= c.astype(g._data.dtype)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients of `parameters` (a tensor or an iterable of them) in place so that their total
    `norm_type`-norm is at most max_norm (torch.nn.utils.clip_grad_norm_); returns the total norm before
    clipping as a 0-d tensor. norm_type may be float('inf')."""
    from ...tensor import Tensor

    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and len(parameters) == 0:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of clip_grad_norm_ (torch warns the same way)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of `parameters` to [-clip_value, clip_value] in place (NaN stays NaN)."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad._data
            g[...] = p.grad.backend.xp.clip(g, -clip_value, clip_value)
