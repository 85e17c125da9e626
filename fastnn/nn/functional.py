"""fastnn.nn.functional (import as F): stateless layers, activations and losses with torch's signatures."""
import math
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
    The kernels (kernels/batchnorm) see (N, C, H, W, ...) as (N, C, H*W*...)."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise RuntimeError(f"batch_norm: {name} should contain {C} elements not {t.numel()}")
    if training:
        n = input.shape[0] * math.prod(input.shape[2:])
        if n == 1:  # values per channel, as torch counts them; an empty batch (n == 0) passes, like torch's
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


# ---- more activations (issue 13): ops/activation_extra.py ------------------------------------
def _pointwise(input, op, inplace=False, **params):
    from ..ops import activation_extra as ax

    out = ax.Pointwise.apply(input, op=op, **params)
    if inplace and not input.requires_grad:  # torch writes into input; with grad we return a new tensor
        input._data[...] = out._data
        return input
    return out


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _pointwise(input, "leaky_relu", inplace, negative_slope=negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return _pointwise(input, "elu", inplace, alpha=alpha, scale=1.0, input_scale=1.0)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _pointwise(input, "elu", inplace, alpha=alpha, scale=1.0, input_scale=1.0 / alpha)


def selu(input, inplace=False):
    from ..ops.activation_extra import SELU_ALPHA, SELU_SCALE

    return _pointwise(input, "elu", inplace, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _pointwise(input, "gelu", approximate=approximate)


def silu(input, inplace=False):
    return _pointwise(input, "silu", inplace)


def mish(input, inplace=False):
    return _pointwise(input, "mish", inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return _pointwise(input, "softplus", beta=beta, threshold=threshold)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _pointwise(input, "hardtanh", inplace, min_val=min_val, max_val=max_val)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _implicit_dim(input.ndim, "softmin")
    if dtype is not None:
        input = input.to(dtype)
    return act_ops.Softmax.apply(-input, dim=dim)


def prelu(input, weight):
    from ..ops.activation_extra import PReLU

    return PReLU.apply(input, weight)


# ---- normalisation, embedding, one_hot (issue 13): ops/norm.py, ops/embedding.py ----------------
def _shape_list(shape):
    return "[" + ", ".join(str(int(n)) for n in shape) + "]"


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Standardise over the last len(normalized_shape) dims, then weight * x + bias (elementwise)."""
    from ..ops.norm import LayerNorm

    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(n) for n in normalized_shape)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={_shape_list(shape)}, expected input with shape "
                           f"[*, {', '.join(str(n) for n in shape)}], but got input of size{_shape_list(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                               f"{_shape_list(t.shape)} and normalized_shape = {_shape_list(shape)}")
    if weight is None and bias is not None:
        weight = Tensor._wrap(input.backend.xp.ones(shape, input._data.dtype), input.backend)
    affine = [t for t in (weight, bias) if t is not None]
    return LayerNorm.apply(input, *affine, normalized_shape=shape, eps=eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Standardise each (sample, group of C/num_groups channels) of input (N, C, *), then per-channel affine."""
    from ..ops.norm import GroupNorm

    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    C = input.shape[1]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {_shape_list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {_shape_list(t.shape)} and input of shape "
                               f"{_shape_list(input.shape)}")
    if weight is None and bias is None:
        return GroupNorm.apply(input, num_groups=int(num_groups), eps=eps)
    xp, dt = input.backend.xp, input._data.dtype
    weight = weight if weight is not None else Tensor._wrap(xp.ones(C, dt), input.backend)
    bias = bias if bias is not None else Tensor._wrap(xp.zeros(C, dt), input.backend)
    return GroupNorm.apply(input, weight, bias, num_groups=int(num_groups), eps=eps)


def _padding_index(padding_idx, num_embeddings):
    if padding_idx is None:
        return None
    if padding_idx > 0 and padding_idx >= num_embeddings:
        raise AssertionError("Padding_idx must be within num_embeddings")
    if padding_idx < 0:
        if padding_idx < -num_embeddings:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx += num_embeddings
    return int(padding_idx)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """weight[input] (rows of a (num_embeddings, dim) table); padding_idx's row gets no gradient; max_norm
    renormalises the looked-up rows of weight in place first (as torch)."""
    from ..ops import embedding as emb

    if not isinstance(input, Tensor):
        input = Tensor(input)
    padding_idx = _padding_index(padding_idx, weight.shape[0])
    if max_norm is not None:
        emb.check_indices(input._data, weight.shape[0])
        emb.renorm_rows_(weight.backend.xp, weight._data, input._data, float(max_norm), float(norm_type))
    return emb.Embedding.apply(weight, input, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each class index."""
    a = tensor._data
    if a.dtype != "int64":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if a.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(a.max()) + 1
    if a.size and int(a.min()) < 0:
        raise RuntimeError("Class values must be non-negative.")
    if a.size and int(a.max()) >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    xp = tensor.backend.xp
    out = (a[..., None] == xp.arange(num_classes, dtype=a.dtype)).astype(a.dtype)
    return Tensor._wrap(out, tensor.backend)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    from ..ops._util import norm_dim
    from ..ops.norm import Normalize

    if input.dtype.is_floating_point is False:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{_torch_name(input)}")
    res = Normalize.apply(input, p=float(p), dim=norm_dim(dim, input.ndim), eps=eps)
    if out is not None:
        out._data[...] = res._data
        return out
    return res


def _torch_name(t):
    from ..ops.activation_extra import torch_type_name

    return torch_type_name(t._data.dtype)


# ---- more losses (issue 13): ops/loss_extra.py --------------------------------------------------
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    from ..ops.loss_extra import SmoothL1Loss

    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _warn_size(input, target)
    return SmoothL1Loss.apply(input, _tensor_or_none(target, input), beta=beta, reduction=reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    from ..ops.loss_extra import SmoothL1Loss

    L.check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _warn_size(input, target)
    if weight is not None:
        return _weighted(SmoothL1Loss.apply(input, target, beta=delta, huber=True, reduction="none"), weight, reduction)
    return SmoothL1Loss.apply(input, _tensor_or_none(target, input), beta=delta, huber=True, reduction=reduction)


def _weighted(loss, weight, reduction):
    loss = loss * weight
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise; 'batchmean' divides the sum by the batch size (the true KL)."""
    from ..ops.loss_extra import KLDivLoss

    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction != "batchmean":
        L.check_reduction(reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    return KLDivLoss.apply(input, _tensor_or_none(target, input), reduction=reduction, log_target=log_target)


def _broadcast_error(a, b):
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            d = max(len(a), len(b)) - i
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton "
                               f"dimension {d}")


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos - margin) where it is -1 (cos along the last dim)."""
    from ..ops.loss_extra import CosineEmbeddingLoss

    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    if target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if target.ndim == 1 and input1.ndim != 2 or target.ndim == 0 and input1.ndim != 1:
        raise RuntimeError(f"{target.ndim}D target tensor expects {target.ndim + 1}D input tensors, but found inputs "
                           f"with sizes {_shape_list(input1.shape)} and {_shape_list(input2.shape)}.")
    _broadcast_error(tuple(input1.shape), tuple(input2.shape))
    if tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(f"cosine_embedding_loss: input1 and input2 must have the same shape, got "
                           f"{_shape_list(input1.shape)} and {_shape_list(input2.shape)}")
    _broadcast_error(tuple(target.shape), tuple(input1.shape[:-1]))
    y = target.to(input1.dtype) if target.dtype != input1.dtype else target
    return CosineEmbeddingLoss.apply(input1, input2, y, margin=float(margin), reduction=reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin)."""
    from ..ops.loss_extra import MarginRankingLoss

    reduction = _legacy_reduction(size_average, reduce, reduction)
    L.check_reduction(reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError("margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape!r}, input2: {input2.shape!r}, target: {target.shape!r} ")
    _broadcast_error(tuple(input1.shape), tuple(input2.shape))
    _broadcast_error(tuple(input1.shape), tuple(target.shape))
    return MarginRankingLoss.apply(input1, input2, target, margin=float(margin), reduction=reduction)
