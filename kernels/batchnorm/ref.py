"""Batch-norm NumPy references (outputs first), computed in float64: x (N,C,L), one channel per c.
`xp` is the array module (numpy or cupy): the CUDA backend runs this file for non-float32 dtypes.
An empty channel (N*L == 0) has mean 0 and var 0."""
import numpy as np


def batch_norm_forward(out, mean, invstd, var, x, weight, bias, running_mean, running_var, eps, training, xp=np):
    # out (N,C,L) = (x - mean[c]) * invstd[c] * weight[c] + bias[c], invstd = 1 / sqrt(var + eps);
    # training: mean, var (biased) over (N, L); else running_mean, running_var. mean, invstd, var (C,)
    x = x.astype(np.float64)
    M = max(x.shape[0] * x.shape[2], 1)
    if training:
        m = x.sum(axis=(0, 2)) / M
        v = ((x - m[None, :, None]) ** 2).sum(axis=(0, 2)) / M
    else:
        m, v = running_mean.astype(np.float64), running_var.astype(np.float64)
    r = 1.0 / xp.sqrt(v + eps)
    xhat = (x - m[None, :, None]) * r[None, :, None]
    out[...] = xhat * weight.astype(np.float64)[None, :, None] + bias.astype(np.float64)[None, :, None]
    mean[...], invstd[...], var[...] = m, r, v


def batch_norm_backward(dx, dweight, dbias, dout, x, weight, mean, invstd, training, xp=np):
    # with xhat = (x - mean) * invstd and g = dout * weight (per channel, sums over (N, L), M = N*L):
    # dbias = sum dout, dweight = sum dout * xhat,
    # dx = invstd * (g - sum(g) / M - xhat * sum(g * xhat) / M) when training, else invstd * g
    dout, x = dout.astype(np.float64), x.astype(np.float64)
    M = max(x.shape[0] * x.shape[2], 1)
    r = invstd.astype(np.float64)[None, :, None]
    xhat = (x - mean.astype(np.float64)[None, :, None]) * r
    g = dout * weight.astype(np.float64)[None, :, None]
    dbias[...] = dout.sum(axis=(0, 2))
    dweight[...] = (dout * xhat).sum(axis=(0, 2))
    if training:
        dx[...] = r * (g - g.sum(axis=(0, 2), keepdims=True) / M - xhat * (g * xhat).sum(axis=(0, 2), keepdims=True) / M)
    else:
        dx[...] = r * g
