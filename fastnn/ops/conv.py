"""Convolution ops with hand-derived backwards: Conv2d (through the backend's conv2d primitives) and Pad
(F.pad's constant / reflect / replicate / circular modes)."""
from ..autograd import Function


def _dtype_name(dt):
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool",
            "uint8": "Byte", "float16": "Half"}.get(str(dt), str(dt))


class Conv2d(Function):
    """out = conv2d(x, w) (+ b over channels). x (N,C,H,W), w (O,C/groups,KH,KW), b (O,); zero padding
    (ph, pw) on both sides (other modes and asymmetric padding are an explicit Pad first).

    dx = conv2d_backward_input(dout, w), dw = conv2d_backward_weight(dout, x), db = dout summed over N, H, W.
    """

    def forward(self, x, w, *bias, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        if x.dtype.kind != "f" or x.dtype != w.dtype:
            raise RuntimeError(f"expected input ({_dtype_name(x.dtype)}) and weight ({_dtype_name(w.dtype)}) to "
                               "be floating point and of the same type" if x.dtype != w.dtype else
                               f"\"conv2d\" not implemented for '{_dtype_name(x.dtype)}'")
        cfg = (tuple(stride), tuple(padding), tuple(dilation), int(groups))
        out = self.backend.conv2d_biased(x, w, bias[0] if bias else None, *cfg)
        self.save(x, w, cfg, bool(bias))
        return out

    def backward(self, dout, x, w, cfg, has_bias):
        needs = tuple(self.needs_input_grad) + (False,) * (3 - len(self.needs_input_grad))
        dx, dw, db = self.backend.conv2d_backward(dout, x, w, *cfg, needs)
        return (dx, dw, db) if has_bias else (dx, dw)


def _source_index(xp, n, lo, hi, mode):
    """For each of the lo + n + hi padded positions along one axis, the source position in 0..n-1."""
    p = xp.arange(-lo, n + hi)
    if mode == "replicate":
        return xp.clip(p, 0, n - 1)
    if mode == "circular":
        return p % n
    period = 2 * (n - 1)                       # reflect: ... 2 1 | 0 1 2 ... n-1 | n-2 ...
    q = xp.abs(p) % period if period else xp.zeros_like(p)
    return xp.where(q >= n, period - q, q)


class Pad(Function):
    """F.pad over the trailing dims. pads: ((lo, hi) per padded axis, first axis first); constant mode
    fills `value` (negative pads crop); the others gather from a source index per axis, so backward
    scatters dout back through the same indices (repeated sources accumulate)."""

    def forward(self, x, pads=(), mode="constant", value=0.0):
        xp, first = self.xp, x.ndim - len(pads)
        self.save(x.shape, pads, mode, first)
        if mode == "constant":
            grow = [(0, 0)] * first + [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
            out = xp.pad(x, grow, mode="constant", constant_values=value)
            crop = [slice(None)] * first + [slice(max(-lo, 0), s - max(-hi, 0)) for (lo, hi), s in
                                            zip(pads, out.shape[first:])]
            return out[tuple(crop)]
        out = x
        for k, (lo, hi) in enumerate(pads):
            out = xp.take(out, _source_index(xp, x.shape[first + k], lo, hi, mode), axis=first + k)
        return out

    def backward(self, dout, x_shape, pads, mode, first):
        xp = self.xp
        if mode == "constant":
            dx = xp.zeros(x_shape, dout.dtype)
            src = [slice(None)] * first + [slice(max(lo, 0), max(lo, 0) + s - max(-lo, 0) - max(-hi, 0))
                                           for (lo, hi), s in zip(pads, x_shape[first:])]
            dst = [slice(None)] * first + [slice(max(-lo, 0), s - max(-hi, 0)) for (lo, hi), s in
                                           zip(pads, x_shape[first:])]
            dx[tuple(dst)] = dout[tuple(src)]
            return dx
        g = dout
        for k in reversed(range(len(pads))):
            axis, (lo, hi) = first + k, pads[k]
            idx = _source_index(xp, x_shape[axis], lo, hi, mode)
            moved = xp.moveaxis(g, axis, 0)
            acc = xp.zeros((x_shape[axis],) + moved.shape[1:], dout.dtype)
            self.backend.index_add(acc, idx, moved)
            g = xp.moveaxis(acc, 0, axis)
        return xp.ascontiguousarray(g)
