"""repr of a Tensor, shaped like torch's: tensor([[1., 2.]], dtype=..., requires_grad=True).

Number formatting follows torch's _Formatter (torch/_tensor_str.py, precision 4): one width for
every element; floats whose nonzero finite values are all integers print as "3.", others with four
decimals, and in scientific notation when the nonzero magnitudes span more than 1000x, exceed 1e8,
or (for non-integers) fall below 1e-4. Long tensors are summarized like torch's (threshold 1000,
3 edge items), and the format is chosen from the elements shown.
"""
import numpy as np

_THRESHOLD, _EDGE, _PRECISION, _LINEWIDTH = 1000, 3, 4, 80  # torch's print options


def _shown(a):
    # the elements a summarized print shows (torch picks the format from these only)
    if a.size <= _THRESHOLD or a.ndim == 0:
        return a.reshape(-1)
    parts = [a]
    for axis in range(a.ndim):
        parts = [np.take(p, idx, axis=axis) for p in parts
                 for idx in ([np.arange(min(_EDGE, p.shape[axis])),
                              np.arange(max(_EDGE, p.shape[axis] - _EDGE), p.shape[axis])]
                             if p.shape[axis] > 2 * _EDGE else [np.arange(p.shape[axis])])]
    return np.concatenate([p.reshape(-1) for p in parts])


def _float_formatter(shown):
    """(value -> string, width) by torch's rules for a float tensor showing `shown`."""
    vals = shown[np.isfinite(shown) & (shown != 0)].astype(np.float64)
    if vals.size == 0:
        mode, width = "int", 1
    else:
        mags = np.abs(vals)
        lo, hi = mags.min(), mags.max()
        integral = bool(np.all(vals == np.ceil(vals)))
        if hi / lo > 1000.0 or hi > 1.0e8 or (not integral and lo < 1.0e-4):
            mode = "sci"
        else:
            mode = "int" if integral else "fixed"
        width = max(len(_float_str(v, mode)) for v in vals)

    def fmt(v):
        s = _float_str(float(v), mode)
        return " " * (width - len(s)) + s
    return fmt, width


def _float_str(v, mode):
    if mode == "sci":
        return f"{v:.{_PRECISION}e}"
    if mode == "fixed":
        return f"{v:.{_PRECISION}f}"
    return f"{v:.0f}" + ("." if np.isfinite(v) else "")


def _formatter(shown):
    """(value -> string padded to the width, the width) for a tensor whose printed elements are `shown`;
    the width is torch's: from the nonzero finite values for floats (a -0.0000 may be wider)."""
    if shown.dtype.kind == "f":
        return _float_formatter(shown)
    width = max((len(str(v)) for v in shown.tolist()), default=1)
    return (lambda v: f"{v!s:>{width}}"), width


def _vector_str(a, indent, summarize, fmt, width):
    # torch's _vector_str: as many elements of `width` per line as fit in 80 columns after the indent
    per_line = max(1, (_LINEWIDTH - indent) // (width + 2))
    if summarize and a.shape[0] > 2 * _EDGE:
        data = [fmt(v) for v in a[:_EDGE].tolist()] + [" ..."] + [fmt(v) for v in a[-_EDGE:].tolist()]
    else:
        data = [fmt(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(a, indent, summarize, fmt, width):
    # torch's _tensor_str: nested brackets, one blank line per extra dimension between slices
    if a.ndim == 0:
        return fmt(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, summarize, fmt, width)
    rows = range(a.shape[0])
    if summarize and a.shape[0] > 2 * _EDGE:
        rows = list(range(_EDGE)) + [None] + list(range(a.shape[0] - _EDGE, a.shape[0]))
    slices = ["..." if i is None else _tensor_str(a[i], indent + 1, summarize, fmt, width) for i in rows]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _format_array(a, prefix):
    summarize = a.size > _THRESHOLD
    fmt, width = _formatter(_shown(a) if summarize else a.reshape(-1))
    return _tensor_str(a, len(prefix), summarize, fmt, width)


def tensor_repr(t):
    a = t.backend.to_numpy(t._data)
    prefix = "tensor("
    body = _format_array(a, prefix) if a.size else "[]"
    extras = []
    if a.size == 0 and a.ndim > 1:
        extras.append(f"size={tuple(a.shape)}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    # torch names every dtype but float32, int64 and bool; for an empty tensor every dtype but float32
    shown = a.dtype == np.float32 or (a.size and a.dtype in (np.int64, np.bool_))
    if not shown:
        extras.append(f"dtype={t.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return _add_suffixes(prefix + body, extras, len(prefix))


def _add_suffixes(text, suffixes, indent):
    # torch's _add_suffixes: ", dtype=..." on the last line while it fits in 80 columns, else on a new one
    parts, last = [text], len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last + len(suffix) + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last += len(suffix) + 2
    return "".join(parts) + ")"


_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, float("inf"), 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """torch.set_printoptions: precision, threshold, edgeitems, linewidth or a profile ('default', 'short', 'full')."""
    global _PRECISION, _THRESHOLD, _EDGE, _LINEWIDTH
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"invalid profile {profile!r} (expected 'default', 'short' or 'full')")
        _PRECISION, _THRESHOLD, _EDGE, _LINEWIDTH = _PROFILES[profile]
    if precision is not None:
        _PRECISION = int(precision)
    if threshold is not None:
        _THRESHOLD = threshold
    if edgeitems is not None:
        _EDGE = int(edgeitems)
    if linewidth is not None:
        _LINEWIDTH = int(linewidth)
