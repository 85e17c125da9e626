"""Functional pooling with torch's signatures, output-size rules and error wording: max_pool2d,
avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d (re-exported by fastnn.nn.functional)."""
from ..kernels.pool2d import windows as win
from ..ops import pool as pool_ops
from ..tensor import Tensor
from ..ops.conv import _dtype_name
from .conv_functional import _shape_list


def _pair(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        if len(v) != 2:
            raise RuntimeError(f"max_pool2d: {name} must either be a single int, or a tuple of two ints")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _as4d(input, what):
    if not isinstance(input, Tensor):
        raise TypeError(f"{what}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{what}: Expected 3D or 4D (batch mode) tensor for input, but got: "
                           f"{_shape_list(input)}" if input.ndim else f"{what}: Expected 3D or 4D input")
    if not input.is_floating_point():
        raise RuntimeError(f"\"{what}\" not implemented for '{_dtype_name(input._data.dtype)}'")
    return (input.unsqueeze(0), True) if input.ndim == 3 else (input, False)


def _sliding_tables(input, what, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad=True):
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(k) <= 0:
        raise RuntimeError(f"{what}: kernel_size must be greater than zero, but got kH: {k[0]} kW: {k[1]}")
    if min(s) <= 0:
        raise RuntimeError(f"{what}: stride must be greater than zero, but got dH: {s[0]} dW: {s[1]}")
    if min(d) <= 0:
        raise RuntimeError(f"{what}: dilation must be greater than zero, but got dilationH: {d[0]} dilationW: {d[1]}")
    for pi, ki, di in zip(p, k, d):
        if pi < 0 or pi > (di * (ki - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={pi}, "
                               f"kernel_size={ki} and dilation={di}")
    H, W = input.shape[2:]
    rows = win.sliding(H, k[0], s[0], p[0], d[0], ceil_mode, count_include_pad)
    cols = win.sliding(W, k[1], s[1], p[1], d[1], ceil_mode, count_include_pad)
    if rows[3] < 1 or cols[3] < 1:
        raise RuntimeError(f"Given input size: ({input.shape[1]}x{H}x{W}). Calculated output size: "
                           f"({input.shape[1]}x{rows[3]}x{cols[3]}). Output size is too small")
    return rows, cols, d


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    x, unbatched = _as4d(input, "max_pool2d")
    rows, cols, d = _sliding_tables(x, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode)
    box = [] if return_indices else None       # no indices asked for: the backend may keep none
    out = pool_ops.MaxPool.apply(x, tables=(rows[0], rows[1], cols[0], cols[1]), dilation=d, box=box)
    if not return_indices:
        return out.squeeze(0) if unbatched else out
    idx = Tensor._wrap(box[0], out.backend)
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return out, idx


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    x, unbatched = _as4d(input, "avg_pool2d")
    if divisor_override is not None and int(divisor_override) == 0:
        raise RuntimeError("divisor must be not zero")
    rows, cols, _ = _sliding_tables(x, "avg_pool2d", kernel_size, stride, padding, 1, ceil_mode, count_include_pad)
    div = win.divisor_table(rows[2], cols[2], divisor_override)
    out = pool_ops.AvgPool.apply(x, tables=(rows[0], rows[1], cols[0], cols[1]), div=div)
    return out.squeeze(0) if unbatched else out


def _adaptive_tables(x, output_size, what):
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(size) != 2:
        raise ValueError(f"{what}: output_size must be 2")
    H, W = x.shape[2:]
    OH, OW = (H if size[0] is None else int(size[0])), (W if size[1] is None else int(size[1]))
    if OH < 0 or OW < 0:
        raise RuntimeError(f"{what}: elements of output_size must be greater than or equal to 0 but received "
                           f"{{{OH}, {OW}}}")
    if (H == 0 or W == 0) and x.numel() == 0 and (OH or OW):
        raise RuntimeError(f"{what}(): Expected input to have non-zero size for non-batch dimensions, but input "
                           f"has sizes {_shape_list(x)} with dimension {2 if H == 0 else 3} being empty")
    return win.adaptive(H, OH), win.adaptive(W, OW)


def adaptive_avg_pool2d(input, output_size):
    x, unbatched = _as4d(input, "adaptive_avg_pool2d")
    rows, cols = _adaptive_tables(x, output_size, "adaptive_avg_pool2d")
    out = pool_ops.AvgPool.apply(x, tables=(rows[0], rows[1], cols[0], cols[1]),
                                 div=win.divisor_table(rows[2], cols[2]))
    return out.squeeze(0) if unbatched else out


def adaptive_max_pool2d(input, output_size, return_indices=False):
    x, unbatched = _as4d(input, "adaptive_max_pool2d")
    rows, cols = _adaptive_tables(x, output_size, "adaptive_max_pool2d")
    box = []
    out = pool_ops.MaxPool.apply(x, tables=(rows[0], rows[1], cols[0], cols[1]), dilation=(1, 1), box=box)
    idx = Tensor._wrap(box[0], out.backend)
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out
