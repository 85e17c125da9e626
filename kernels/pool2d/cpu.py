"""2-D pooling on the CPU (Numba), over the per-axis window tables of windows.py. Max pooling has serial
per-image kernels (max_image_*, also used by fused steps) and prange-over-images drivers; average
pooling runs `prange` over the N*C planes. Each image or plane belongs to one thread, so the max
backward's scatter and the average backward's overlapping windows never race. float32/float64; x, out, dout C-contiguous.
"""
import numpy as np
from numba import prange

from .._numba import jit, pjit


@jit
def max_image_forward(out, idx, x, hs, hn, ws, wn, dh, dw):
    # out, idx (C,OH,OW) = max of one image x (C,H,W) over each window, and its flat per-plane position;
    # torch's scan: from (-inf, first grid position), take v when v > max or v is NaN
    C, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    xf, of, jf = x.reshape(C, H * W), out.reshape(C, OH * OW), idx.reshape(C, OH * OW)
    for pl in range(C):
        for oh in range(OH):
            for ow in range(OW):
                best, at = -np.inf, hs[oh] * W + ws[ow]
                for a in range(hn[oh]):
                    row = (hs[oh] + a * dh) * W
                    for b in range(wn[ow]):
                        p = row + ws[ow] + b * dw
                        v = xf[pl, p]
                        if v > best or np.isnan(v):
                            best, at = v, p
                of[pl, oh * OW + ow] = best
                jf[pl, oh * OW + ow] = at


@jit
def max_image_backward(dx, dout, idx, hn, wn):
    # dx (C,H,W) = one image's dout (C,OH,OW) added at idx (flat per-plane positions); outputs whose
    # window lies wholly in the padding (hn[oh] or wn[ow] 0) add nothing; dx is overwritten
    C, H, W = dx.shape
    OH, OW = dout.shape[1], dout.shape[2]
    gf, df, jf = dx.reshape(C, H * W), dout.reshape(C, OH * OW), idx.reshape(C, OH * OW)
    gf[...] = 0
    for pl in range(C):
        for oh in range(OH):
            for ow in range(OW):
                if hn[oh] > 0 and wn[ow] > 0:
                    gf[pl, jf[pl, oh * OW + ow]] += df[pl, oh * OW + ow]


@pjit
def max_forward(out, idx, x, hs, hn, ws, wn, dh, dw):
    # out, idx (N,C,OH,OW) = max_image_forward per image; prange over images
    for n in prange(x.shape[0]):
        max_image_forward(out[n], idx[n], x[n], hs, hn, ws, wn, dh, dw)


@pjit
def max_backward(dx, dout, idx, hn, wn):
    # dx (N,C,H,W) = max_image_backward per image; dx is overwritten; prange over images
    for n in prange(dx.shape[0]):
        max_image_backward(dx[n], dout[n], idx[n], hn, wn)


@pjit
def avg_forward(out, x, hs, hn, ws, wn, div):
    # out (N,C,OH,OW) = sum of x (N,C,H,W) over each window / div (OH,OW)
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for pl in prange(N * C):
        n, c = pl // C, pl % C
        for oh in range(OH):
            for ow in range(OW):
                s = x.dtype.type(0)
                for a in range(hs[oh], hs[oh] + hn[oh]):
                    for b in range(ws[ow], ws[ow] + wn[ow]):
                        s += x[n, c, a, b]
                out[n, c, oh, ow] = s / div[oh, ow]


@pjit
def avg_backward(dx, dout, hs, hn, ws, wn, div):
    # dx (N,C,H,W) = each window's dout / div added to its inputs; dx is overwritten
    N, C, H, W = dx.shape
    OH, OW = dout.shape[2], dout.shape[3]
    for pl in prange(N * C):
        n, c = pl // C, pl % C
        dx[n, c, :, :] = 0
        for oh in range(OH):
            for ow in range(OW):
                g = dout[n, c, oh, ow] / div[oh, ow]
                for a in range(hs[oh], hs[oh] + hn[oh]):
                    for b in range(ws[ow], ws[ow] + wn[ow]):
                        dx[n, c, a, b] += g
