"""More losses with hand-derived backwards: smooth_l1 / huber, kl_div (batchmean, log_target),
cosine_embedding and margin_ranking. Reductions as in ops/loss.py ('batchmean' for kl_div only)."""
from ..autograd import Function
from ._util import unbroadcast
from .activation_extra import check_float
from .loss import _dscale, _reduce


class SmoothL1Loss(Function):
    """z = |x - y|. smooth_l1: 0.5 z^2 / beta if z < beta else z - 0.5 beta; huber: 0.5 z^2 if z < delta
    else delta (z - 0.5 delta) (= beta * smooth_l1 with beta = delta). d/dx: clip(x - y, -b, b) / b (smooth_l1)."""

    def forward(self, x, y, beta=1.0, huber=False, reduction="mean"):
        check_float(x, "huber_cpu" if huber else "smooth_l1_cpu")
        xp = self.xp
        d = x - y
        z = xp.abs(d)
        if beta == 0:
            loss = z
        elif huber:
            loss = xp.where(z < beta, 0.5 * z * z, beta * (z - 0.5 * beta))
        else:
            loss = xp.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)
        self.save(d, x.shape, y.shape, beta, huber, reduction)
        return _reduce(xp, loss.astype(x.dtype, copy=False), reduction)

    def backward(self, dout, d, x_shape, y_shape, beta, huber, reduction):
        xp = self.xp
        if beta == 0:
            g = xp.sign(d)
        else:
            g = xp.clip(d, -beta, beta)
            if not huber:
                g = g / beta
        g = (g * _dscale(dout, d.size, reduction)).astype(d.dtype, copy=False)
        dx = unbroadcast(xp, g, x_shape) if self.needs_input_grad[0] else None
        dy = unbroadcast(xp, -g, y_shape) if self.needs_input_grad[1] else None
        return dx, dy


class KLDivLoss(Function):
    """x: log-probabilities. loss = t (log t - x) (0 where t = 0), or exp(t) (t - x) with log_target.
    dx = -t (or -exp(t)); dt = log t + 1 - x (or exp(t) (t - x + 1)). 'batchmean' divides the sum by x.shape[0]."""

    def forward(self, x, t, reduction="mean", log_target=False):
        check_float(x, "kl_div")
        xp = self.xp
        if log_target:
            loss = xp.exp(t) * (t - x)
        else:
            safe = xp.where(t > 0, t, 1)
            loss = xp.where(t > 0, t * xp.log(safe), 0) - t * x
        loss = loss.astype(x.dtype, copy=False)
        self.save(x, t, loss.size, reduction, log_target)
        if reduction == "batchmean":
            n = x.shape[0] if x.ndim else 1
            return xp.asarray(loss.sum() / n, dtype=loss.dtype)
        return _reduce(xp, loss, reduction)

    def backward(self, dout, x, t, size, reduction, log_target):
        xp = self.xp
        scale = dout / (x.shape[0] if x.ndim else 1) if reduction == "batchmean" else _dscale(
            dout, size, reduction)
        et = xp.exp(t) if log_target else t
        dx = dt = None
        if self.needs_input_grad[0]:
            dx = unbroadcast(xp, (-et * scale).astype(x.dtype, copy=False) * xp.ones_like(x), x.shape)
        if self.needs_input_grad[1]:
            if log_target:
                g = et * (t - x + 1)
            else:
                g = xp.log(xp.where(t > 0, t, 1)) + 1 - x
            dt = unbroadcast(xp, (g * scale).astype(t.dtype, copy=False), t.shape)
        return dx, dt


class CosineEmbeddingLoss(Function):
    """cos = <a, b> / sqrt((|a|^2 + 1e-12)(|b|^2 + 1e-12)) along the last dim; loss = 1 - cos where y = 1,
    max(0, cos - margin) where y = -1, 0 otherwise. dcos/da = b / den - <a, b> a / (ma den)."""

    EPS = 1e-12

    def forward(self, a, b, y, margin=0.0, reduction="mean"):
        xp = self.xp
        dot = (a * b).sum(axis=-1)
        ma = (a * a).sum(axis=-1) + self.EPS
        mb = (b * b).sum(axis=-1) + self.EPS
        den = xp.sqrt(ma * mb)
        cos = dot / den
        neg = cos - margin
        loss = xp.where(y == 1, 1 - cos, 0) + xp.where((y == -1) & (neg >= 0), neg, 0)
        dl = xp.where(y == 1, -1.0, 0.0) + xp.where((y == -1) & (neg >= 0), 1.0, 0.0)
        self.save(a, b, dot, ma, mb, den, dl, reduction)
        return _reduce(xp, loss.astype(a.dtype, copy=False), reduction)

    def backward(self, dout, a, b, dot, ma, mb, den, dl, reduction):
        s = (dl * _dscale(dout, dl.size, reduction))[..., None]
        da = s * (b / den[..., None] - (dot / (ma * den))[..., None] * a) if self.needs_input_grad[0] else None
        db = s * (a / den[..., None] - (dot / (mb * den))[..., None] * b) if self.needs_input_grad[1] else None
        return (None if da is None else da.astype(a.dtype, copy=False),
                None if db is None else db.astype(b.dtype, copy=False), None)


class MarginRankingLoss(Function):
    """loss = max(0, -y (a - b) + margin); where the hinge is active (>= 0): da = -y, db = y, dy = -(a - b)."""

    def forward(self, a, b, y, margin=0.0, reduction="mean"):
        xp = self.xp
        diff = a - b
        h = -y * diff + margin
        active = h >= 0
        loss = xp.where(active, h, 0)
        self.save(a.shape, b.shape, y, diff, active, reduction)
        return _reduce(xp, loss.astype(diff.dtype, copy=False), reduction)

    def backward(self, dout, a_shape, b_shape, y, diff, active, reduction):
        xp = self.xp
        g = xp.where(active, _dscale(dout, active.size, reduction), 0).astype(diff.dtype, copy=False)
        da = unbroadcast(xp, -y * g, a_shape) if self.needs_input_grad[0] else None
        db = unbroadcast(xp, y * g, b_shape) if self.needs_input_grad[1] else None
        dy = unbroadcast(xp, -diff * g, y.shape) if self.needs_input_grad[2] else None
        return da, db, dy
