"""Layer ops with hand-derived backwards: inverted dropout and batch normalisation (kernels/batchnorm)."""
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
    """y = (x - mean) / sqrt(var + eps) * weight + bias over axis 1 of x (N,C,*) (any rank >= 2), by the backend's fused
    batch_norm kernels (kernels/batchnorm), which save mean and invstd for the backward.

    Training: batch statistics (biased var), and the running buffers (native arrays, updated in
    place) get mean and the unbiased var with factor `momentum` (an empty batch leaves them alone,
    like torch). Eval: the running statistics. Inputs: x, then weight and bias when affine.
    """

    def forward(self, x, *affine, running_mean=None, running_var=None, training=True, momentum=0.1, eps=1e-5):
        _check_float(x, "batch_norm")
        use_batch = training or running_mean is None
        w, b = affine if affine else (None, None)
        out, mean, invstd, var = self.backend.batch_norm(x, w, b, eps, *((None, None) if use_batch else
                                                                         (running_mean, running_var)))
        n = x.size // x.shape[1] if x.shape[1] else 0
        if training and running_mean is not None and n:
            m = momentum
            running_mean *= 1 - m
            running_mean += m * mean.astype(running_mean.dtype, copy=False)
            running_var *= 1 - m
            running_var += m * (var * (n / max(n - 1, 1))).astype(running_var.dtype, copy=False)
        self.save(x, w, mean, invstd, use_batch)
        return out

    def backward(self, dout, x, w, mean, invstd, use_batch):
        dx, dw, db = self.backend.batch_norm_backward(dout, x, w, mean, invstd, use_batch)
        if w is None:
            return dx
        return dx, dw if self.needs_input_grad[1] else None, db if self.needs_input_grad[2] else None
