"""Functional convolution and padding with torch's signatures and error wording: conv2d and pad
(re-exported by fastnn.nn.functional)."""
from ..ops import conv as conv_ops
from ..tensor import Tensor


def _pair(v, name="value"):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * 2
        if len(v) != 2:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of 2 values to match the "
                               f"convolution dimensions, but got {name}={list(v)}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _same_padding(dilation, kernel):
    """((top, bottom), (left, right)) that keep H, W at stride 1: torch puts the odd pixel at the end."""
    out = []
    for d, k in zip(dilation, kernel):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return tuple(out)


def _shape_list(t):
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _check_conv(input, weight, groups):
    if weight.ndim != 4:
        raise RuntimeError(f"weight should have at least three dimensions (got {_shape_list(weight)} for conv2d)"
                           if weight.ndim < 3 else f"Expected 4-dimensional weight for 4-dimensional input "
                           f"{_shape_list(input)}, but got {weight.ndim}-dimensional weight of size "
                           f"{_shape_list(weight)} instead")
    if input.ndim != 4:
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
                           f"{_shape_list(input)}")
    if groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    if weight.shape[0] % groups:
        raise RuntimeError("Given groups=%d, expected weight to be divisible by %d at dimension 0, but got weight "
                           "of size [%s] instead" % (groups, groups, _shape_list(weight)))  # torch's double brackets
    if input.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {_shape_list(weight)}, expected input"
                           f"{_shape_list(input)} to have {weight.shape[1] * groups} channels, but got "
                           f"{input.shape[1]} channels instead")
    if input.device != weight.device:
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                           f"{input.device} and {weight.device}!")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d: input (N,C,H,W) or (C,H,W); padding int, pair, 'same' or 'valid'."""
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    _check_conv(input, weight, int(groups))
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(stride) < 1:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilation) < 1:
        raise RuntimeError("dilation should be greater than zero")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
        if padding == "same" and stride != (1, 1):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pads = _same_padding(dilation, weight.shape[2:]) if padding == "same" else ((0, 0), (0, 0))
        if any(lo != hi for lo, hi in pads):
            input, pads = pad(input, (pads[1][0], pads[1][1], pads[0][0], pads[0][1])), ((0, 0), (0, 0))
        padding = (pads[0][0], pads[1][0])
    else:
        padding = _pair(padding, "padding")
        if min(padding) < 0:
            raise RuntimeError("negative padding is not supported")
    H, W = input.shape[2] + 2 * padding[0], input.shape[3] + 2 * padding[1]
    kh, kw = (dilation[0] * (weight.shape[2] - 1) + 1, dilation[1] * (weight.shape[3] - 1) + 1)
    if kh > H or kw > W:
        raise RuntimeError(f"Calculated padded input size per channel: ({H} x {W}). Kernel size: ({kh} x {kw}). "
                           "Kernel size can't be greater than actual input size")
    args = (input, weight) if bias is None else (input, weight, bias)
    out = conv_ops.Conv2d.apply(*args, stride=stride, padding=padding, dilation=dilation, groups=int(groups))
    return out.squeeze(0) if unbatched else out


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad: pad = (left, right, top, bottom, ...) from the last dim backwards."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pad(): argument 'input' must be Tensor, not {type(input).__name__}")
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pairs = [(int(pad[2 * k]), int(pad[2 * k + 1])) for k in range(len(pad) // 2)][::-1]  # first axis first
    if mode != "constant":
        if value not in (None, 0, 0.0):
            raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
        first = input.ndim - len(pairs)
        for k, (lo, hi) in enumerate(pairs):
            n = input.shape[first + k]
            if min(lo, hi) < 0:
                raise RuntimeError(f"negative padding is only supported in constant mode, got {tuple(pad)}")
            if mode == "reflect" and (lo >= n or hi >= n):
                raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input "
                                   f"dimension, but got: padding ({lo}, {hi}) at dimension {first + k} of input "
                                   f"{_shape_list(input)}")
            if mode == "circular" and (lo > n or hi > n):
                raise RuntimeError("Padding value causes wrapping around more than once.")
            if mode == "replicate" and n == 0 and (lo or hi):
                raise RuntimeError(f"Expected a non-empty dimension {first + k} to pad in replicate mode")
    return conv_ops.Pad.apply(input, pads=tuple(pairs), mode=mode, value=0.0 if value is None else float(value))
