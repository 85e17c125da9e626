"""2-D pooling on the CPU (Numba), over the per-axis window tables of windows.py. Max pooling has serial
per-image kernels (max_image_*, also used by fused steps) and prange-over-images drivers; the forward
runs L = lanes_of(dtype) outputs of a row at a time with explicit SIMD (simd.vtake: torch's scan step)
when every window of a row has the same columns shifted by a constant stride (no width padding
clipped), else a scalar loop; average
pooling runs `prange` over the N*C planes. Each image or plane belongs to one thread, so the max
backward's scatter and the average backward's overlapping windows never race. float32/float64; x, out, dout C-contiguous.
"""
import numpy as np
from numba import prange

from .._numba import jit, pjit
from ..simd import lanes_of, vadd, vgather, vload, vsplat, vstore, vstorei, vtake, vunzip


@jit
def max_image_forward(out, idx, x, hs, hn, ws, wn, dh, dw):
    # out, idx (C,OH,OW) = max of one image x (C,H,W) over each window, and its flat per-plane position;
    # torch's scan: from (-inf, first grid position), take v when v > max or v is NaN
    sw = uniform_stride(ws, wn)
    if sw > 0 and (x.shape[1] * x.shape[2] <= POS_EXACT_F32 or x.itemsize == 8):
        max_image_forward_simd(out, idx, x, hs, hn, ws, wn[0], sw, dh, dw)
    else:
        max_image_forward_scalar(out, idx, x, hs, hn, ws, wn, dh, dw)


POS_EXACT_F32 = 1 << 24   # positions carried in float32 lanes are exact up to here (float64: 2^53)


@jit
def uniform_stride(ws, wn):
    # s > 0 when every window spans wn[0] columns from ws[0] + ow*s; 0 otherwise (clipped or uneven)
    OW = ws.size
    s = ws[1] - ws[0] if OW > 1 else 1
    if s < 1 or wn[0] < 1:
        return 0
    for ow in range(OW):
        if wn[ow] != wn[0] or ws[ow] != ws[0] + ow * s:
            return 0
    return s


@jit
def max_image_forward_simd(out, idx, x, hs, hn, ws, KW, sw, dh, dw):
    # max_image_forward for windows of KW columns at ws[0] + ow*sw: L outputs of a row per vector;
    # positions ride in float lanes (exact: the caller checks H*W against POS_EXACT_F32)
    C, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    xf, of, jf = x.reshape(-1), out.reshape(-1), idx.reshape(-1)
    L, f = lanes_of(out), out.dtype.type
    buf = np.empty(L, out.dtype)                      # lane * sw
    for q in range(L):
        buf[q] = q * sw
    lane_pos = vload(buf, 0, L)
    for pl in range(C):
        for oh in range(OH):
            for ow0 in range(0, OW, L):
                n = min(L, OW - ow0)
                first = hs[oh] * W + ws[0] + ow0 * sw
                best, at = vsplat(f(-np.inf)), vadd(vsplat(f(first)), lane_pos)
                for a in range(hn[oh]):
                    for b in range(KW):
                        p = first + a * dh * W + b * dw
                        if sw == 1:
                            v = vload(xf, pl * H * W + p, n)
                        elif sw == 2:   # the even ones of 2n - 1 elements: never read past the last
                            q = pl * H * W + p
                            v = vunzip(vload(xf, q, 2 * n - 1), vload(xf, q + L, 2 * n - 1 - L), 0)
                        else:
                            v = vgather(xf, pl * H * W + p, sw, n)
                        at = vtake(v, best, vadd(vsplat(f(p)), lane_pos), at)
                        best = vtake(v, best, v, best)
                o = (pl * OH + oh) * OW + ow0
                vstore(of, o, best, n)
                vstorei(jf, o, at, n)


@jit
def max_image_forward_scalar(out, idx, x, hs, hn, ws, wn, dh, dw):
    # max_image_forward, one window at a time (any tables)
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
