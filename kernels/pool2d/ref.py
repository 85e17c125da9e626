"""Plain NumPy reference pooling over per-axis window tables (windows.py), NCHW. Oracle for cpu.py and
pool2d.cu. Max: torch's scan (the first maximum in row-major window order wins; the last NaN wins); indices are flat
per-plane positions ih * W + iw (torch's return_indices). Average: sum / divisor[oh, ow].
`xp` is the array module (the CUDA backend runs this file for non-float32 dtypes).
"""
import numpy as np


def _positions(start, count, step, o):
    return start[o] + step * np.arange(count[o])


def max_forward(x, hs, hn, ws, wn, dh=1, dw=1, xp=np):
    # out, idx (N,C,OH,OW) = max of x (N,C,H,W) over each window, and where it was. torch's rule: start
    # at -inf and the window's first position, take v when v > max or v is NaN (so the last NaN wins);
    # a window with no position inside x (all padding) gives -inf at its first grid position
    N, C, H, W = x.shape
    OH, OW = hs.size, ws.size
    xf = x.reshape(N, C, H * W)
    out = xp.full((N, C, OH, OW), -np.inf, x.dtype)
    idx = xp.full((N, C, OH, OW), 0, np.int64)
    for oh in range(OH):
        for ow in range(OW):
            idx[:, :, oh, ow] = hs[oh] * W + ws[ow]
            flat = (_positions(hs, hn, dh, oh)[:, None] * W + _positions(ws, wn, dw, ow)[None, :]).reshape(-1)
            if flat.size == 0:
                continue
            vals = xf[:, :, xp.asarray(flat)]                   # (N, C, window) in row-major order
            nan = xp.isnan(vals)
            last_nan = flat.size - 1 - nan[:, :, ::-1].argmax(axis=2)
            k = xp.where(nan.any(axis=2), last_nan, vals.argmax(axis=2))
            best = xp.take_along_axis(vals, k[..., None], axis=2)[..., 0]
            take = ~(best == -np.inf)                           # an all -inf window keeps the first position
            out[:, :, oh, ow] = best
            idx[:, :, oh, ow] = xp.where(take, xp.asarray(flat)[k], hs[oh] * W + ws[ow])
    return out, idx


def max_backward(dout, idx, x_shape, hn, wn, xp=np):
    # dx (N,C,H,W): dout scattered to the argmax positions (repeats accumulate); outputs whose window
    # lies wholly in the padding (hn or wn 0: idx is only torch's placeholder) give nothing
    N, C, H, W = x_shape
    live = xp.asarray((hn[:, None] > 0) & (wn[None, :] > 0)).reshape(-1)
    live = xp.broadcast_to(live, (N * C, live.size))
    dx = xp.zeros((N * C, H * W), dout.dtype)
    rows = xp.broadcast_to(xp.arange(N * C)[:, None], live.shape)
    n = live.shape[1]                                 # (not -1 in reshape: N*C may be 0)
    xp.add.at(dx, (rows[live], idx.reshape(N * C, n)[live]), dout.reshape(N * C, n)[live])
    return dx.reshape(x_shape)


def avg_forward(x, hs, hn, ws, wn, div, xp=np):
    # out (N,C,OH,OW) = sum of x over each window / div (OH,OW)
    N, C, H, W = x.shape
    out = xp.empty((N, C, hs.size, ws.size), x.dtype)
    for oh in range(hs.size):
        for ow in range(ws.size):
            win = x[:, :, hs[oh]:hs[oh] + hn[oh], ws[ow]:ws[ow] + wn[ow]]
            out[:, :, oh, ow] = win.sum(axis=(2, 3)) / div[oh, ow]
    return out


def avg_backward(dout, x_shape, hs, hn, ws, wn, div, xp=np):
    # dx (N,C,H,W) = each window's dout / div spread over its inputs (overlaps accumulate)
    dx = xp.zeros(x_shape, dout.dtype)
    for oh in range(hs.size):
        for ow in range(ws.size):
            dx[:, :, hs[oh]:hs[oh] + hn[oh], ws[ow]:ws[ow] + wn[ow]] += (dout[:, :, oh, ow] / div[oh, ow])[..., None, None]
    return dx
