"""2-D convolution on the CPU (Numba): im2col of a bounded chunk of output pixels, then our GEMM
(kernels/gemm `gemm_serial`), per image; `prange` over images (threads never share an output).
Weight gradients accumulate in per-thread partials (T, O, Cg*KH*KW) summed at the end: a prange `+=`
on shared elements would race.

Working set per thread: one im2col chunk of at most COL_MAX elements (P = COL_MAX // (Cg*KH*KW)
output pixels, at least 1) plus one (O/groups, P) tile of the output or its gradient.
Layouts: x (N,C,H,W), out/dout (N,O,OH,OW) C-contiguous; w2 = w.reshape(O, Cg*KH*KW); float32/float64.
Integers are int64 (np.int64 at the call site: one specialization per dtype).
"""
import numpy as np
from numba import prange

from .._numba import jit, pjit
from ..gemm.cpu import gemm_serial

COL_MAX = 1 << 18  # elements of one im2col chunk: 1 MiB in float32, fits L2 with its output tile


@jit
def chunk_pixels(CKK, OHW):
    # output pixels per im2col chunk
    return max(1, min(OHW, COL_MAX // max(CKK, 1)))


@jit
def _im2col(col, xn, c0, Cg, H, W, KH, KW, OW, p0, P, sh, sw, ph, pw, dh, dw):
    # col (Cg*KH*KW, P) = patches of xn[c0:c0+Cg] (C,H,W) at output pixels p0..p0+P-1; 0 outside xn
    for c in range(Cg):
        for i in range(KH):
            for j in range(KW):
                r = (c * KH + i) * KW + j
                for q in range(P):
                    oh = (p0 + q) // OW
                    ih = oh * sh - ph + i * dh
                    iw = (p0 + q - oh * OW) * sw - pw + j * dw
                    if 0 <= ih < H and 0 <= iw < W:
                        col[r, q] = xn[c0 + c, ih, iw]
                    else:
                        col[r, q] = 0


@jit
def _col2im_add(dxn, col, c0, Cg, H, W, KH, KW, OW, p0, P, sh, sw, ph, pw, dh, dw):
    # dxn[c0:c0+Cg] (C,H,W) += the scatter of col (Cg*KH*KW, P) back to the input pixels
    for c in range(Cg):
        for i in range(KH):
            for j in range(KW):
                r = (c * KH + i) * KW + j
                for q in range(P):
                    oh = (p0 + q) // OW
                    ih = oh * sh - ph + i * dh
                    iw = (p0 + q - oh * OW) * sw - pw + j * dw
                    if 0 <= ih < H and 0 <= iw < W:
                        dxn[c0 + c, ih, iw] += col[r, q]


@jit
def _get_tile(tile, yn, o0, Og, OHW, p0, P):
    # tile (Og, P) = yn[o0:o0+Og, p0:p0+P] of yn (O, OH*OW) flattened
    for o in range(Og):
        for q in range(P):
            tile[o, q] = yn[(o0 + o) * OHW + p0 + q]


@jit
def _put_tile(yn, tile, o0, Og, OHW, p0, P):
    # yn[o0:o0+Og, p0:p0+P] = tile (Og, P)
    for o in range(Og):
        for q in range(P):
            yn[(o0 + o) * OHW + p0 + q] = tile[o, q]


@jit
def _geometry(x_shape, w2_shape, y_shape, groups):
    # sizes every pass needs: x (N,C,H,W), w2 (O,CKK), y = out/dout (N,O,OH,OW)
    N, C, H, W = x_shape
    O, CKK = w2_shape
    OW, OHW = y_shape[3], y_shape[2] * y_shape[3]
    return N, C, H, W, O, CKK, OW, OHW, C // groups, O // groups, chunk_pixels(CKK, OHW)


@pjit
def conv2d_forward(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups):
    # out (N,O,OH,OW) = conv2d(x (N,C,H,W), w2 (O, Cg*KH*KW)), no bias
    N, C, H, W, O, CKK, OW, OHW, Cg, Og, P = _geometry(x.shape, w2.shape, out.shape, groups)
    wf = w2.reshape(-1)
    for n in prange(N):
        colbuf = np.empty(CKK * P, x.dtype)
        tilebuf = np.empty(Og * P, x.dtype)
        yn = out[n].reshape(-1)
        for g in range(groups):
            wg = wf[g * Og * CKK:(g + 1) * Og * CKK].reshape(Og, CKK)
            for p0 in range(0, OHW, P):
                Pc = min(P, OHW - p0)
                col = colbuf[:CKK * Pc].reshape(CKK, Pc)
                tile = tilebuf[:Og * Pc].reshape(Og, Pc)
                _im2col(col, x[n], g * Cg, Cg, H, W, KH, KW, OW, p0, Pc, sh, sw, ph, pw, dh, dw)
                gemm_serial(tile, wg, col, False, False, False)
                _put_tile(yn, tile, g * Og, Og, OHW, p0, Pc)


@pjit
def conv2d_backward_input(dx, dout, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups):
    # dx (N,C,H,W) = conv2d's input gradient for dout (N,O,OH,OW); dx is overwritten
    N, C, H, W, O, CKK, OW, OHW, Cg, Og, P = _geometry(dx.shape, w2.shape, dout.shape, groups)
    wf = w2.reshape(-1)
    for n in prange(N):
        colbuf = np.empty(CKK * P, dx.dtype)
        tilebuf = np.empty(Og * P, dx.dtype)
        dxn = dx[n]
        dxn[...] = 0
        yn = dout[n].reshape(-1)
        for g in range(groups):
            wg = wf[g * Og * CKK:(g + 1) * Og * CKK].reshape(Og, CKK)
            for p0 in range(0, OHW, P):
                Pc = min(P, OHW - p0)
                col = colbuf[:CKK * Pc].reshape(CKK, Pc)
                tile = tilebuf[:Og * Pc].reshape(Og, Pc)
                _get_tile(tile, yn, g * Og, Og, OHW, p0, Pc)
                gemm_serial(col, wg, tile, True, False, False)          # col = wg.T @ tile
                _col2im_add(dxn, col, g * Cg, Cg, H, W, KH, KW, OW, p0, Pc, sh, sw, ph, pw, dh, dw)


@pjit
def conv2d_backward_weight(dw2, partial, dout, x, KH, KW, sh, sw, ph, pw, dh, dw, groups):
    # dw2 (O, Cg*KH*KW) = conv2d's weight gradient for dout (N,O,OH,OW); partial (T, O*Cg*KH*KW)
    # zero-filled scratch, one row per thread (T = partial.shape[0])
    N, C, H, W, O, CKK, OW, OHW, Cg, Og, P = _geometry(x.shape, dw2.shape, dout.shape, groups)
    T = partial.shape[0]
    for t in prange(T):
        colbuf = np.empty(CKK * P, x.dtype)
        tilebuf = np.empty(Og * P, x.dtype)
        pt = partial[t]
        for n in range(t, N, T):
            yn = dout[n].reshape(-1)
            for g in range(groups):
                pg = pt[g * Og * CKK:(g + 1) * Og * CKK].reshape(Og, CKK)
                for p0 in range(0, OHW, P):
                    Pc = min(P, OHW - p0)
                    col = colbuf[:CKK * Pc].reshape(CKK, Pc)
                    tile = tilebuf[:Og * Pc].reshape(Og, Pc)
                    _im2col(col, x[n], g * Cg, Cg, H, W, KH, KW, OW, p0, Pc, sh, sw, ph, pw, dh, dw)
                    _get_tile(tile, yn, g * Og, Og, OHW, p0, Pc)
                    gemm_serial(pg, tile, col, False, True, True)      # pg += tile @ col.T
    df = dw2.reshape(-1)
    for k in prange(df.size):
        s = partial[0, k]
        for t in range(1, T):
            s += partial[t, k]
        df[k] = s
