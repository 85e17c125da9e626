"""Loss functions as Functions with hand-derived backwards: MSE, L1, cross-entropy, NLL, BCE, BCE-with-logits.

Every loss takes `reduction` in 'mean' | 'sum' | 'none'. Input validation (label range, target
dtype, batch sizes) happens here in Python before any kernel runs. A NaN/inf in the input simply
propagates into the loss (as in torch); no warning is issued — check `loss.isnan()` yourself.
"""
from ..autograd import Function
from ._util import unbroadcast

REDUCTIONS = ("mean", "sum", "none")


def _shape_list(shape):
    return "[" + ", ".join(str(n) for n in shape) + "]"


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_float(x, what):
    if x.dtype.kind != "f":
        raise RuntimeError(f"{what}: expected a floating-point input, got {x.dtype}")


def _reduce(xp, loss, reduction, count=None):
    """loss reduced; mean divides by `count` (default: number of elements)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return xp.asarray(total, dtype=loss.dtype)
    n = loss.size if count is None else count
    return xp.asarray(total / n, dtype=loss.dtype)


def _dscale(dout, size, reduction):
    """d(reduced)/d(elementwise loss) times dout: broadcastable against the elementwise loss."""
    if reduction == "mean":
        return dout / size
    return dout


class MSELoss(Function):
    """loss = (x - y)^2; dx = 2 (x - y) * s, dy = -dx (s: the reduction's scale)."""

    def forward(self, x, y, reduction="mean"):
        diff = x - y
        self.save(diff, x.shape, y.shape, reduction)
        return _reduce(self.xp, diff * diff, reduction)

    def backward(self, dout, diff, x_shape, y_shape, reduction):
        g = 2 * diff * _dscale(dout, diff.size, reduction)
        dx = unbroadcast(self.xp, g, x_shape) if self.needs_input_grad[0] else None
        dy = unbroadcast(self.xp, -g, y_shape) if self.needs_input_grad[1] else None
        return dx, dy


class L1Loss(Function):
    """loss = |x - y|; dx = sign(x - y) * s, dy = -dx."""

    def forward(self, x, y, reduction="mean"):
        diff = x - y
        self.save(diff, x.shape, y.shape, reduction)
        return _reduce(self.xp, self.xp.abs(diff), reduction)

    def backward(self, dout, diff, x_shape, y_shape, reduction):
        g = self.xp.sign(diff) * _dscale(dout, diff.size, reduction)
        dx = unbroadcast(self.xp, g, x_shape) if self.needs_input_grad[0] else None
        dy = unbroadcast(self.xp, -g, y_shape) if self.needs_input_grad[1] else None
        return dx, dy


# ---- class-index losses ----------------------------------------------------------------------
def _class_rows(xp, x, target, what):
    """Validate (input, class-index target) and return (rows (M,C), targets (M,), out_shape, layout)."""
    _check_float(x, what)
    if x.ndim == 0:
        raise ValueError(f"{what}: input must have at least 1 dimension, got a 0-d tensor")
    if target.dtype.kind == "f":
        raise RuntimeError(f"expected scalar type Long but found {target.dtype} ({what} takes class-index "
                           f"targets of dtype int64; got a {target.dtype} target of shape {_shape_list(target.shape)})")
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"expected scalar type Long but found {target.dtype} ({what} target)")
    if x.ndim == 1:  # unbatched (C,) with a 0-d target
        if target.ndim != 0:
            raise ValueError(f"Expected input batch_size (1) to match target batch_size ({target.shape[0]}).")
        return x.reshape(1, -1), target.reshape(1), (), (1,)
    if target.ndim == 0 or target.shape[0] != x.shape[0]:
        tb = target.shape[0] if target.ndim else 1
        raise ValueError(f"Expected input batch_size ({x.shape[0]}) to match target batch_size ({tb}).")
    if tuple(target.shape) != (x.shape[0],) + tuple(x.shape[2:]):
        raise RuntimeError(f"{what}: expected target of shape {_shape_list((x.shape[0],) + tuple(x.shape[2:]))} "
                           f"for input of shape {_shape_list(x.shape)}, got {_shape_list(target.shape)}")
    moved = xp.moveaxis(x, 1, -1)
    return moved.reshape(-1, x.shape[1]), target.reshape(-1), tuple(target.shape), moved.shape


def _from_rows(xp, rows, x_shape, moved_shape):
    if len(x_shape) == 1:
        return rows.reshape(x_shape)
    return xp.moveaxis(rows.reshape(moved_shape), -1, 1)


def _check_targets(xp, t, C, ignore_index):
    """(valid mask, targets with ignored entries replaced by 0); IndexError for out-of-range labels."""
    valid = t != ignore_index
    t = t.astype("int64", copy=False)
    if t.size:
        bad = valid & ((t < 0) | (t >= C))
        if bool(bad.any()):
            raise IndexError(f"Target {int(t[bad][0])} is out of bounds.")
    return valid, xp.where(valid, t, 0)


def _row_weights(xp, valid, t, weight, dtype):
    w = valid.astype(dtype)
    if weight is not None:
        w = w * weight.astype(dtype, copy=False)[t]
    return w


class CrossEntropyLoss(Function):
    """Softmax + negative log-likelihood fused through the backend's stable `cross_entropy` kernel.

    Class-index targets (int64): loss_i = w[t_i] * (logsumexp(x_i) - x_i[t_i]); mean divides by sum of
    w[t_i] over non-ignored rows (torch). Backward: dx_i = s_i * (softmax(x_i) - onehot(t_i)).
    label_smoothing eps mixes in the uniform target: dx_i = s_i * (p_i - (1-eps) onehot - eps/C); with class
    weights the smoothing term is eps/C sum_c w_c (-log p_ic) over non-ignored rows, as torch.
    """

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        xp = self.xp
        rows, t, out_shape, moved_shape = _class_rows(xp, x, target, "cross_entropy")
        C = rows.shape[1]
        valid, t = _check_targets(xp, t, C, ignore_index)
        loss_rows, probs = self.backend.cross_entropy(rows, t)
        w = _row_weights(xp, valid, t, weight, rows.dtype)
        loss = loss_rows * w
        cw = None if weight is None else weight.astype(rows.dtype, copy=False)
        if label_smoothing:
            lse = loss_rows + rows[xp.arange(rows.shape[0]), t]
            if cw is None:
                smooth = (lse[:, None] - rows).sum(axis=1) * w  # -sum_c log p_c
            else:                                              # -sum_c w_c log p_c on non-ignored rows (torch)
                smooth = ((lse[:, None] - rows) * cw).sum(axis=1) * valid
            loss = (1 - label_smoothing) * loss + (label_smoothing / C) * smooth
        count = w.sum()
        self.save(probs, t, w, count, x.shape, moved_shape, reduction, label_smoothing, cw, valid)
        return _reduce(xp, loss.reshape(out_shape), reduction, count)

    def backward(self, dout, probs, t, w, count, x_shape, moved_shape, reduction, eps, cw, valid):
        """With class weights w_c and smoothing: dx_i = g_i ((1-eps) w_t (p_i - onehot) + eps/C (sum_c w_c p_i - w))."""
        xp = self.xp
        g = dout.reshape(-1) if reduction == "none" else _dscale(dout, count, reduction)
        s = (w * g).astype(probs.dtype, copy=False)
        if eps and cw is not None:
            d = self.backend.cross_entropy_backward((1 - eps) * s, probs, t)
            gs = (g * valid * (eps / probs.shape[1])).astype(probs.dtype, copy=False)
            d = d + gs[:, None] * (cw.sum() * probs - cw)
            return _from_rows(xp, d, x_shape, moved_shape), None
        d = self.backend.cross_entropy_backward(s, probs, t)
        if eps:
            C = probs.shape[1]
            oh = xp.zeros_like(probs)
            oh[xp.arange(probs.shape[0]), t] = 1
            d = d + s[:, None] * (eps * oh - eps / C)
        return _from_rows(xp, d, x_shape, moved_shape), None


class SoftCrossEntropyLoss(Function):
    """Cross-entropy with class-probability targets (float, input's shape): loss = -sum_c w_c t_c log p_c.

    dx = s * (p * sum_c w_c t_c - w * t); dt = -s * w * log p. Mean divides by numel / C.
    """

    def forward(self, x, target, weight=None, reduction="mean", label_smoothing=0.0):
        xp = self.xp
        _check_float(x, "cross_entropy")
        C = x.shape[1] if x.ndim > 1 else x.shape[0]
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / C
        moved = xp.moveaxis(x, 1, -1) if x.ndim > 1 else x
        rows = moved.reshape(-1, C)
        t_rows = (xp.moveaxis(target, 1, -1) if x.ndim > 1 else target).reshape(-1, C).astype(x.dtype, copy=False)
        logp = self.backend.softmax(rows, log=True)
        wt = t_rows if weight is None else t_rows * weight.astype(x.dtype, copy=False)
        loss = -(wt * logp).sum(axis=1)
        out_shape = (x.shape[0],) + tuple(x.shape[2:]) if x.ndim > 1 else ()
        count = rows.shape[0]  # torch: sum / (numel / C)
        self.save(logp, wt, count, x.shape, moved.shape, reduction, label_smoothing, weight)
        return _reduce(xp, loss.reshape(out_shape), reduction, count)

    def backward(self, dout, logp, wt, count, x_shape, moved_shape, reduction, eps, weight):
        xp = self.xp
        s = (dout.reshape(-1) if reduction == "none" else xp.broadcast_to(_dscale(dout, count, reduction),
                                                                             (logp.shape[0],)))[:, None]
        p = xp.exp(logp)
        dx = s * (p * wt.sum(axis=1, keepdims=True) - wt)
        dx = _from_rows(xp, dx, x_shape, moved_shape)
        dt = None
        if self.needs_input_grad[1]:
            w = 1.0 if weight is None else weight.astype(logp.dtype, copy=False)
            dt = _from_rows(xp, -s * w * logp * (1 - eps), x_shape, moved_shape)
        return dx, dt


class NLLLoss(Function):
    """loss_i = -w[t_i] * x_i[t_i] for log-probabilities x; dx_i[t_i] = -s_i * w[t_i], 0 elsewhere."""

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean"):
        xp = self.xp
        rows, t, out_shape, moved_shape = _class_rows(xp, x, target, "nll_loss")
        valid, t = _check_targets(xp, t, rows.shape[1], ignore_index)
        w = _row_weights(xp, valid, t, weight, rows.dtype)
        loss = -rows[xp.arange(rows.shape[0]), t] * w
        count = w.sum()
        self.save(t, w, count, rows.shape, x.shape, moved_shape, reduction)
        return _reduce(xp, loss.reshape(out_shape), reduction, count)

    def backward(self, dout, t, w, count, rows_shape, x_shape, moved_shape, reduction):
        xp = self.xp
        s = w * (dout.reshape(-1) if reduction == "none" else _dscale(dout, count, reduction))
        d = xp.zeros(rows_shape, dtype=w.dtype)
        d[xp.arange(rows_shape[0]), t] = -s
        return _from_rows(xp, d, x_shape, moved_shape), None


# ---- binary losses ---------------------------------------------------------------------------
def _check_same_size(x, y):
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"Using a target size ({_shape_list(y.shape)}) that is different to the input size "
                         f"({_shape_list(x.shape)}) is deprecated. Please ensure they have the same size.")


class BCELoss(Function):
    """loss = -w (y max(log x, -100) + (1-y) max(log(1-x), -100)) for probabilities x in [0, 1].

    dx = s w (x - y) / max(x (1-x), 1e-12) (torch's formula); dy = s w (max(log(1-x),-100) - max(log x,-100)).
    """

    def forward(self, x, y, weight=None, reduction="mean"):
        xp = self.xp
        _check_float(x, "binary_cross_entropy")
        _check_same_size(x, y)
        if x.size and bool(((x < 0) | (x > 1)).any()):
            raise RuntimeError("all elements of input should be between 0 and 1")
        with _quiet(xp):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        loss = -(y * log_x + (1 - y) * log_1mx)
        if weight is not None:
            loss = loss * weight
        self.save(x, y, log_x, log_1mx, weight, reduction)
        return _reduce(xp, loss.astype(x.dtype, copy=False), reduction)

    def backward(self, dout, x, y, log_x, log_1mx, weight, reduction):
        xp = self.xp
        s = _dscale(dout, x.size, reduction)
        if weight is not None:
            s = s * weight
        dx = s * (x - y) / xp.maximum((1 - x) * x, 1e-12)
        dy = s * (log_1mx - log_x) if self.needs_input_grad[1] else None
        return dx.astype(x.dtype, copy=False), None if dy is None else unbroadcast(xp, dy, y.shape)


class BCEWithLogitsLoss(Function):
    """Stable sigmoid + BCE: loss = w ((1-y) x + l (log1p(exp(-|x|)) + max(-x, 0))), l = 1 + (pos_weight-1) y.

    dx = s w ((1-y) - l sigmoid(-x)); dy = s w (-x + (pos_weight-1) softplus(-x)).
    """

    def forward(self, x, y, weight=None, pos_weight=None, reduction="mean"):
        xp = self.xp
        _check_float(x, "binary_cross_entropy_with_logits")
        _check_same_size(x, y)
        softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
        lw = 1 if pos_weight is None else (pos_weight - 1) * y + 1
        loss = (1 - y) * x + lw * softplus_neg
        if weight is not None:
            loss = loss * weight
        self.save(x, y, softplus_neg, lw, weight, pos_weight, reduction)
        return _reduce(xp, loss.astype(x.dtype, copy=False), reduction)

    def backward(self, dout, x, y, softplus_neg, lw, weight, pos_weight, reduction):
        xp = self.xp
        s = _dscale(dout, x.size, reduction)
        if weight is not None:
            s = s * weight
        sig_neg = xp.exp(-xp.logaddexp(0, x))  # sigmoid(-x), stable
        dx = (s * ((1 - y) - lw * sig_neg)).astype(x.dtype, copy=False)
        dy = None
        if self.needs_input_grad[1]:
            dy = -x if pos_weight is None else -x + (pos_weight - 1) * softplus_neg
            dy = unbroadcast(xp, s * dy, y.shape)
        return dx, dy


class _quiet:
    """Silence divide-by-zero warnings of log(0) (the result is clamped to -100 anyway)."""

    def __init__(self, xp):
        self.xp = xp

    def __enter__(self):
        self.old = self.xp.seterr(divide="ignore") if hasattr(self.xp, "seterr") else None

    def __exit__(self, *exc):
        if self.old is not None:
            self.xp.seterr(**self.old)
