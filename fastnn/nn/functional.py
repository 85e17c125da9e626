"""fastnn.nn.functional (import as F): stateless layers, activations and losses with torch's signatures."""
import warnings

from ..ops import activation as act_ops, linalg, loss as L, nn as nn_ops
from ..tensor import Tensor
from .conv_functional import conv2d, pad  # noqa: F401  (convolution and padding)
from .pool_functional import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d  # noqa: F401


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _implicit_dim(ndim, name):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _tensor_or_none(t, like):
    if t is None or isinstance(t, Tensor):
        return t
    return Tensor(t, dtype=like.dtype, device=like.device)


# ---- activations ----------------------------------------------------------------------------
def relu(input, inplace=False):
    return act_ops.Activation.apply(input, act="relu")


def sigmoid(input):
    return act_ops.Activation.apply(input, act="sigmoid")


def tanh(input):
    return act_ops.Activation.apply(input, act="tanh")


def softmax(input, dim=None, dtype=None):
    if dim is None:
        dim = _implicit_dim(input.ndim, "softmax")
    if dtype is not None:
        input = input.to(dtype)
    return act_ops.Softmax.apply(input, dim=dim)


def log_softmax(input, dim=None, dtype=None):
    if dim is None:
        dim = _implicit_dim(input.ndim, "log_softmax")
    if dtype is not None:
        input = input.to(dtype)
    return act_ops.Softmax.apply(input, dim=dim, log=True)


# ---- layers ---------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """y = input @ weight.T + bias (weight (out, in), torch's layout)."""
    if bias is None:
        return linalg.Linear.apply(input, weight)
    return linalg.Linear.apply(input, weight, bias)


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p); identity if not training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    return nn_ops.Dropout.apply(input, p=p)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over dim 1 of (N, C, *); running buffers updated in place when training.
    (N, C, H, W, ...) runs as (N, C, H*W*...), a view."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
    if input.ndim > 3:
        shape = input.shape
        out = batch_norm(input.reshape(shape[0], shape[1], -1), running_mean, running_var, weight, bias, training,
                         momentum, eps)
        return out.reshape(shape)
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise RuntimeError(f"batch_norm: {name} should contain {C} elements not {t.numel()}")
    if training:
        n = input.numel() // C if C else 0
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"[{', '.join(str(s) for s in input.shape)}]")
    kw = dict(running_mean=None if running_mean is None else running_mean._data,
              running_var=None if running_var is None else running_var._data,
              training=training, momentum=momentum, eps=eps)
    if weight is None and bias is None:
        return nn_ops.BatchNorm.apply(input, **kw)
    if weight is None:
        weight = Tensor._wrap(input.backend.xp.ones(C, input._data.dtype), input.backend)
    if bias is None:
        bias = Tensor._wrap(input.backend.xp.zeros(C, input._data.dtype), input.backend)
    return nn_ops.BatchNorm.apply(input, weight, bias, **kw)


# ---- losses ---------------------------------------------------------------------------------
def _warn_size(input, target):
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"Using a target size ({list(target.shape)}) that is different to the input size "
                      f"({list(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    _warn_size(input, target)
    return L.MSELoss.apply(input, _tensor_or_none(target, input), reduction=reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    _warn_size(input, target)
    return L.L1Loss.apply(input, _tensor_or_none(target, input), reduction=reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax + NLL fused (stable). target: int64 class indices (N,), or float class probabilities (input's shape)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    w = None if weight is None else weight._data
    if target.is_floating_point() and tuple(target.shape) == tuple(input.shape) and input.ndim > 0:
        return L.SoftCrossEntropyLoss.apply(input, target.to(input.dtype), weight=w, reduction=reduction,
                                            label_smoothing=label_smoothing)
    return L.CrossEntropyLoss.apply(input, target, weight=w, ignore_index=ignore_index, reduction=reduction,
                                    label_smoothing=label_smoothing)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    w = None if weight is None else weight._data
    return L.NLLLoss.apply(input, target, weight=w, ignore_index=ignore_index, reduction=reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    w = None if weight is None else weight._data
    return L.BCELoss.apply(input, _tensor_or_none(target, input), weight=w, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    w = None if weight is None else weight._data
    pw = None if pos_weight is None else pos_weight._data
    return L.BCEWithLogitsLoss.apply(input, _tensor_or_none(target, input), weight=w, pos_weight=pw,
                                     reduction=reduction)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel dropout: zero whole (H, W) planes of (N, C, H, W) (or (C, H, W)) with probability p,
    scale the rest by 1/(1-p); identity if not training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release.", stacklevel=2)
    if not training or p == 0.0:
        return input
    return nn_ops.ChannelDropout.apply(input, p=p)
