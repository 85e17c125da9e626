"""Layer ops with hand-derived backwards: inverted dropout and batch normalisation (2-D / 3-D input)."""
from ..autograd import Function


def _check_float(x, what):
    if x.dtype.kind != "f":
        raise TypeError(f"{what} is not implemented for dtype {x.dtype} (use a floating-point tensor)")


class Dropout(Function):
    """out = x * mask / (1 - p), mask ~ Bernoulli(1 - p); backward: dx = dout * mask / (1 - p)."""

    def forward(self, x, p=0.5):
        _check_float(x, "dropout")
        keep = self.backend.rand(x.shape, x.dtype) >= p
        scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
        m = keep.astype(x.dtype) * x.dtype.type(scale)
        self.save(m)
        return x * m

    def backward(self, dout, m):
        return dout * m


class ChannelDropout(Function):
    """Dropout2d: one Bernoulli(1 - p) draw per (n, c) plane of x (N, C, ...) (per c for (C, H, W)),
    kept planes scaled by 1/(1-p); backward: dx = dout * mask / (1 - p)."""

    def forward(self, x, p=0.5):
        _check_float(x, "dropout2d")
        planes = x.shape[:2] if x.ndim == 4 else x.shape[:1]
        keep = self.backend.rand(planes, x.dtype) >= p
        scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
        m = (keep.astype(x.dtype) * x.dtype.type(scale)).reshape(planes + (1,) * (x.ndim - len(planes)))
        self.save(m)
        return x * m

    def backward(self, dout, m):
        return dout * m


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over axis 1 of x (N,C) or (N,C,L).

    Training: batch statistics (biased var), and the running buffers (native arrays, updated in
    place) get mean and the unbiased var with factor `momentum`. Eval: the running statistics.
    Inputs: x, then weight and bias when affine.
    """

    def forward(self, x, *affine, running_mean=None, running_var=None, training=True, momentum=0.1, eps=1e-5):
        _check_float(x, "batch_norm")
        xp = self.xp
        axes = (0,) if x.ndim == 2 else (0, 2)
        bshape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        n = x.size // x.shape[1] if x.shape[1] else 0
        use_batch = training or running_mean is None
        if use_batch:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            if training and running_mean is not None:
                m = momentum
                running_mean *= 1 - m
                running_mean += m * mean.astype(running_mean.dtype, copy=False)
                running_var *= 1 - m
                running_var += m * (var * (n / (n - 1))).astype(running_var.dtype, copy=False)
        else:
            mean, var = running_mean.astype(x.dtype, copy=False), running_var.astype(x.dtype, copy=False)
        invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
        out = xhat
        if affine:
            w, b = affine
            out = xhat * w.reshape(bshape) + b.reshape(bshape)
            self.save(xhat, invstd, w, axes, bshape, use_batch)
        else:
            self.save(xhat, invstd, None, axes, bshape, use_batch)
        return out

    def backward(self, dout, xhat, invstd, w, axes, bshape, use_batch):
        dxhat = dout if w is None else dout * w.reshape(bshape)
        if use_batch:
            n = xhat.size // xhat.shape[1]
            s1 = dxhat.sum(axis=axes, keepdims=True)
            s2 = (dxhat * xhat).sum(axis=axes, keepdims=True)
            dx = (invstd.reshape(bshape) / n) * (n * dxhat - s1 - xhat * s2)
        else:
            dx = dxhat * invstd.reshape(bshape)
        if w is None:
            return dx
        dw = (dout * xhat).sum(axis=axes) if self.needs_input_grad[1] else None
        db = dout.sum(axis=axes) if self.needs_input_grad[2] else None
        return dx, dw, db
