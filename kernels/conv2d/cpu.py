"""2-D convolution on the CPU (Numba), per image, by one of three algorithms chosen from the shape
(thresholds measured, DESIGN.md "Convolution and pooling"): Winograd F(4x4,3x3) or F(2x2,3x3)
(kernels/conv2d/winograd4.py, winograd.py) for 3x3 kernels at stride 1 and dilation 1 between wide
enough layers, direct SIMD kernels (kernels/conv2d/direct.py) for few input channels per group at
width stride 1, else im2col of a bounded chunk of output pixels then our GEMM (kernels/gemm
`gemm_serial`). The per-image kernels
(conv2d_image_*: serial, scratch passed in, sized by work_size) are the building blocks of both the
eager drivers below (`prange` over images: threads never share an output; one compiled driver per
algorithm family, picked in Python) and fused steps that shard a batch over threads.
Weight gradients accumulate in per-thread partials (T, O, Cg*KH*KW) summed at the end: a prange `+=`
on shared elements would race.

Working set per thread: one im2col chunk of whole output rows, at most COL_MAX elements (at least one
row: Cg*KH*KW*OW elements), plus one (O/groups, rows*OW) tile of the output or its gradient (none when
a chunk holds every row: the GEMM then reads and writes the image's own (O/groups, OH*OW) block);
Winograd's scratch is bounded by its own WINO_MAX (winograd.py), and work_size is the larger of the two.
Layouts: x (N,C,H,W), out/dout (N,O,OH,OW) C-contiguous; w2 = w.reshape(O, Cg*KH*KW); float32/float64.
Integers are int64 (np.int64 at the call site: one specialization per dtype).
"""
import numpy as np
from numba import prange

from .._numba import jit, pjit
from ..gemm.cpu import gemm_serial
from ..simd import lanes_of, vadd, vload, vloadr, vstore, vzeros
from . import direct, lanes, winograd, winograd4

COL_MAX = 1 << 18  # elements of one im2col chunk: 1 MiB in float32, fits L2 with its output tile
# the direct forward (width stride 1) where it beats im2col + GEMM in float32 GFLOP/s measured per path
# (`python bench/conv_kernels.py`, DESIGN.md "Convolution and pooling"): up to 8 input channels per
# group (16-32: im2col ties or wins). Both gradients are always im2col + GEMM (+ col2im): the direct
# weight gradient tied at LeNet's first layer and lost elsewhere, and cost cold-compile time
DIRECT_FORWARD_MAX_CG = 8
# Winograd F(2x2,3x3) for 3x3 kernels at stride 1, dilation 1 from these channel counts per group on
# (`python bench/conv_kernels.py`, DESIGN.md: it wins where its small GEMMs, K = Cg or Og, still run fast)
WINOGRAD_MIN_CG = 16
WINOGRAD_MIN_OG = 8
# within those shapes, Winograd F(4x4,3x3) (winograd4.py) instead: for every weight gradient, and from
# 32 input channels per group on for the input gradient, 32 each way for the forward. Its GEMMs take
# the tiles as rows and a channel count as columns (Og forward, Cg input gradient), which must fill a
# panel of two float32 vectors (32); at 16 input channels the forward's K is too short for its larger
# transforms (DESIGN.md, per-kernel table)
WINOGRAD4_MIN_N = 32
# the eager drivers' lane-layout family (use_lanes): at least this many taps (C/groups*KH*KW) per output
# (LeNet-5's 25 and 150 won or tied every kernel, the examples Net's conv1 (9 taps) lost each by 1.1-1.4x:
# its 32 x 676 outputs a tap are mostly transposing), at most this many output pixels per channel (the
# largest plane measured, 784 (28x28), won: bench/conv_lanes.py; larger planes make large per-thread regions)
LANES_MIN_TAPS = 25
LANES_MAX_OHW = 1024


@jit
def use_winograd(Cg, Og, KH, KW, sh, sw, dh, dw):
    # True where conv2d_image_* run the Winograd kernels (shape only: the same answer for all three)
    return (KH == 3 and KW == 3 and sh == 1 and sw == 1 and dh == 1 and dw == 1
            and Cg >= WINOGRAD_MIN_CG and Og >= WINOGRAD_MIN_OG)


@jit
def use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, kind):
    # True where conv2d_image_* run F(4x4,3x3) rather than F(2x2,3x3): kind 0 forward, 1 input gradient,
    # 2 weight gradient
    if not use_winograd(Cg, Og, KH, KW, sh, sw, dh, dw):
        return False
    return kind == 2 or (Cg >= WINOGRAD4_MIN_N and (kind == 1 or Og >= WINOGRAD4_MIN_N))


@jit
def chunk_rows(CKK, OH, OW):
    # whole output rows per im2col chunk (at least one)
    return max(1, min(OH, COL_MAX // max(CKK * OW, 1)))


@jit
def _valid_cols(OW, W, sw, pw, off):
    # [lo, hi): the output columns ow whose input column ow*sw - pw + off lies in [0, W)
    lo = max(0, -((off - pw) // sw))                      # ceil((pw - off) / sw)
    hi = min(OW, (W - 1 + pw - off) // sw + 1) if W - 1 + pw - off >= 0 else 0
    return lo, max(lo, hi)


@jit
def _im2col(col, at, xn, c0, Cg, H, W, KH, KW, OW, r0, R, sh, sw, ph, pw, dh, dw):
    # col[:, at:at+R*OW] (col (Cg*KH*KW, >= at+R*OW)) = patches of xn[c0:c0+Cg] (C,H,W) at output rows
    # r0..r0+R-1; 0 outside xn (at > 0: one image's columns of a multi-image col, conv2d/images.py)
    if sw == 1:
        _move_rows(col, at, xn, c0, Cg, H, W, KH, KW, OW, r0, R, sh, ph, pw, dh, dw)
        return
    for c in range(Cg):
        for i in range(KH):
            for j in range(KW):
                r = (c * KH + i) * KW + j
                lo, hi = _valid_cols(OW, W, sw, pw, j * dw)
                for y in range(R):
                    ih = (r0 + y) * sh - ph + i * dh
                    base = at + y * OW
                    if ih < 0 or ih >= H:
                        col[r, base:base + OW] = 0
                        continue
                    col[r, base:base + lo] = 0
                    for ow in range(lo, hi):
                        col[r, base + ow] = xn[c0 + c, ih, ow * sw - pw + j * dw]
                    col[r, base + hi:base + OW] = 0


@jit
def _rows_inside(r0, R, sh, ph, i, dh, H):
    # [ylo, yhi): the output rows r0 + y, y < R, whose input row (r0 + y)*sh - ph + i*dh lies in [0, H)
    base = r0 * sh - ph + i * dh
    ylo = min(R, max(0, -(base // sh)))                  # ceil(-base / sh)
    yhi = min(R, (H - 1 - base) // sh + 1) if H - 1 - base >= 0 else 0
    return ylo, max(ylo, yhi)


@jit
def _move_rows(col, at, xn, c0, Cg, H, W, KH, KW, OW, r0, R, sh, ph, pw, dh, dw):
    # width stride 1: col[:, at:at+R*OW] = im2col of xn (_im2col): each col row segment is a contiguous
    # run of an input row, copied L lanes at a time, masked to the lanes inside the image (zeros
    # outside). The lane range depends only on the kernel column, so each case runs a tight loop over
    # the rows (2x the per-segment-masks loop at LeNet's conv2)
    L, cf, xf = lanes_of(col), col.reshape(-1), xn.reshape(-1)
    P = col.shape[1]
    for c in range(Cg):
        for i in range(KH):
            ylo, yhi = _rows_inside(r0, R, sh, ph, i, dh, H)
            x0 = ((c0 + c) * H + r0 * sh - ph + i * dh) * W      # input row of y = 0 (may lie outside xn)
            for j in range(KW):
                r = (c * KH + i) * KW + j
                for q0 in range(0, OW, L):
                    n, off, q = min(L, OW - q0), q0 - pw + j * dw, r * P + at + q0
                    lo = max(0, -off)
                    hi = max(lo, min(n, W - off))
                    for y in range(ylo):
                        vstore(cf, q + y * OW, vzeros(col), n)
                    for y in range(yhi, R):
                        vstore(cf, q + y * OW, vzeros(col), n)
                    if lo == 0 and hi == n:
                        for y in range(ylo, yhi):
                            vstore(cf, q + y * OW, vload(xf, x0 + y * sh * W + off, n), n)
                    else:
                        for y in range(ylo, yhi):
                            vstore(cf, q + y * OW, vloadr(xf, x0 + y * sh * W + off, lo, hi), n)


@jit
def _add_rows(xn, col, at, c0, Cg, H, W, KH, KW, OW, r0, R, sh, ph, pw, dh, dw):
    # width stride 1: xn[c0:c0+Cg] += the scatter of col[:, at:at+R*OW] (_col2im_add), gathered per input
    # row chunk of L lanes: the KW kernel columns' col segments, shifted into place by masked loads,
    # summed in a register, then one load + store of the input row (a += per kernel column stalled on
    # store forwarding between overlapping masked stores: 11.4 -> 4.3 us per LeNet conv2 image);
    # the same order of additions per input element (i, then j)
    L, cf, xf = lanes_of(col), col.reshape(-1), xn.reshape(-1)
    P = col.shape[1]
    for c in range(Cg):
        for i in range(KH):
            ylo, yhi = _rows_inside(r0, R, sh, ph, i, dh, H)
            x0 = ((c0 + c) * H + r0 * sh - ph + i * dh) * W
            r = (c * KH + i) * KW
            for y in range(ylo, yhi):
                xrow, q = x0 + y * sh * W, r * P + at + y * OW
                for xs in range(0, W, L):
                    n = min(L, W - xs)
                    acc = vload(xf, xrow + xs, n)
                    for j in range(KW):
                        ow0 = xs + pw - j * dw                       # output column of lane 0
                        lo, hi = max(0, -ow0), min(n, OW - ow0)
                        if hi > lo:
                            acc = vadd(acc, vloadr(cf, q + j * P + ow0, lo, hi))
                    vstore(xf, xrow + xs, acc, n)


@jit
def _col2im_add(dxn, col, at, c0, Cg, H, W, KH, KW, OW, r0, R, sh, sw, ph, pw, dh, dw):
    # dxn[c0:c0+Cg] (C,H,W) += the scatter of col[:, at:at+R*OW] back to the input pixels
    if sw == 1:
        _add_rows(dxn, col, at, c0, Cg, H, W, KH, KW, OW, r0, R, sh, ph, pw, dh, dw)
        return
    for c in range(Cg):
        for i in range(KH):
            for j in range(KW):
                r = (c * KH + i) * KW + j
                lo, hi = _valid_cols(OW, W, sw, pw, j * dw)
                for y in range(R):
                    ih = (r0 + y) * sh - ph + i * dh
                    if 0 <= ih < H:
                        base = at + y * OW
                        for ow in range(lo, hi):
                            dxn[c0 + c, ih, ow * sw - pw + j * dw] += col[r, base + ow]


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
def _tile(yn, tilebuf, g, Og, OHW, Pc):
    # the (Og, Pc) block of yn (O, OH*OW) for group g: yn itself when a chunk holds every row, else scratch
    if Pc == OHW:
        return yn[g * Og * OHW:(g + 1) * Og * OHW].reshape(Og, OHW)
    return tilebuf[:Og * Pc].reshape(Og, Pc)


@jit
def work_size(C, O, KH, KW, OH, OW, groups):
    # elements of the scratch `work` one per-image call needs: one im2col chunk plus one output tile, or
    # Winograd's scratch where it may run (stride and dilation are not known here: 3x3 is enough)
    Cg, Og = C // groups, O // groups
    CKK = Cg * KH * KW
    R = chunk_rows(CKK, OH, OW)
    n = (CKK + Og) * R * OW
    if use_winograd(Cg, Og, KH, KW, 1, 1, 1, 1):
        n = max(n, winograd.work_size(Cg, Og, OH, OW), winograd4.work_size(Cg, Og, OH, OW))
    return n


@jit
def _bufs(work, CKK, Og, R, OW):
    # the im2col chunk and the tile, carved out of one scratch array
    return work[:CKK * R * OW], work[CKK * R * OW:(CKK + Og) * R * OW]


@jit
def conv2d_image_forward(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # out (O,OH,OW) = conv2d(x (C,H,W), w2 (O, Cg*KH*KW)) for one image, no bias; work: work_size elements
    Cg, Og = x.shape[0] // groups, out.shape[0] // groups
    if use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, 0):
        winograd4.forward(out, x, w2, ph, pw, groups, work)
    elif use_winograd(Cg, Og, KH, KW, sh, sw, dh, dw):
        winograd.forward(out, x, w2, ph, pw, groups, work)
    else:
        image_forward(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@jit
def use_direct_forward(Cg, sw):
    # True where image_forward runs the direct kernel (direct.py) rather than im2col + GEMM
    return sw == 1 and Cg <= DIRECT_FORWARD_MAX_CG


@jit
def image_forward(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # conv2d_image_forward outside Winograd's shapes: direct or im2col + GEMM
    if use_direct_forward(x.shape[0] // groups, sw):
        direct.forward(out, x, w2, KH, KW, sh, ph, pw, dh, dw, groups)
    else:
        im2col_forward(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@jit
def conv2d_image_backward_input(dx, dout, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # dx (C,H,W) = conv2d's input gradient for one image's dout (O,OH,OW); dx is overwritten
    Cg, Og = dx.shape[0] // groups, dout.shape[0] // groups
    if use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, 1):
        winograd4.backward_input(dx, dout, w2, ph, pw, groups, work)
    elif use_winograd(Cg, Og, KH, KW, sh, sw, dh, dw):
        winograd.backward_input(dx, dout, w2, ph, pw, groups, work)
    else:
        im2col_backward_input(dx, dout, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@jit
def conv2d_image_backward_weight(dw2, dout, x, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # dw2 (O, Cg*KH*KW) += conv2d's weight gradient for one image: dout (O,OH,OW), x (C,H,W)
    Cg, Og = x.shape[0] // groups, dout.shape[0] // groups
    if use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, 2):
        winograd4.backward_weight(dw2, dout, x, ph, pw, groups, work)
    elif use_winograd(Cg, Og, KH, KW, sh, sw, dh, dw):
        winograd.backward_weight(dw2, dout, x, ph, pw, groups, work)
    else:
        im2col_backward_weight(dw2, dout, x, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@jit
def conv2d_images_forward(out, x, w2, bias, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # out (N,O,OH,OW) = conv2d(x (N,C,H,W), w2) + bias (O,) (size 0: none) for N images on the calling
    # thread: winograd4's batch kernel where it runs (its weight transform once for the N images), else
    # conv2d_image_forward per image and its bias; work: work_size elements (the fused CNN step's shards)
    Cg, Og = x.shape[1] // groups, out.shape[1] // groups
    if use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, 0):
        winograd4.forward_images(out, x, w2, bias, ph, pw, groups, work)
        return
    for n in range(x.shape[0]):
        conv2d_image_forward(out[n], x[n], w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)
        winograd4.add_bias(out[n], bias, 0, out.shape[1])


@jit
def conv2d_images_backward(dx, dw2, dout, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # from dout (N,O,OH,OW) of N images on the calling thread: dw2 (O, Cg*KH*KW) += the weight gradient,
    # dx (N,C,H,W) = the input gradient (overwritten) unless dx holds 0 images. winograd4's batch kernel
    # for the gradients it runs, both in one call where it runs both (one dM per tile for the two), else
    # conv2d_image_* per image; work as conv2d_images_forward
    Cg, Og = x.shape[1] // groups, dout.shape[1] // groups
    f4_dx = dx.shape[0] > 0 and use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, 1)
    if use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, 2):   # (every F(4x4,3x3) input gradient's shape)
        winograd4.backward_images(dx if f4_dx else dx[:0], dw2, dout, x, w2, ph, pw, groups, work)
    else:
        for n in range(x.shape[0]):
            conv2d_image_backward_weight(dw2, dout[n], x[n], KH, KW, sh, sw, ph, pw, dh, dw, groups, work)
    if dx.shape[0] > 0 and not f4_dx:
        for n in range(x.shape[0]):
            conv2d_image_backward_input(dx[n], dout[n], w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@jit
def im2col_forward(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # conv2d_image_forward by im2col chunks + GEMM
    C, H, W = x.shape
    O, CKK = w2.shape
    OH, OW = out.shape[1], out.shape[2]
    OHW, Cg, Og, R = OH * OW, C // groups, O // groups, chunk_rows(CKK, OH, OW)
    colbuf, tilebuf = _bufs(work, CKK, Og, R, OW)
    yn, wf = out.reshape(-1), w2.reshape(-1)
    no, yes = np.bool_(False), np.bool_(True)  # runtime GEMM flags: one gemm_serial compile (DESIGN.md)
    for g in range(groups):
        wg = wf[g * Og * CKK:(g + 1) * Og * CKK].reshape(Og, CKK)
        for r0 in range(0, OH, R):
            Pc = min(R, OH - r0) * OW
            col = colbuf[:CKK * Pc].reshape(CKK, Pc)
            _im2col(col, np.int64(0), x, g * Cg, Cg, H, W, KH, KW, OW, r0, Pc // OW, sh, sw, ph, pw, dh, dw)
            tile = _tile(yn, tilebuf, g, Og, OHW, Pc)
            gemm_serial(tile, wg, col, no, no, no)
            if Pc != OHW:
                _put_tile(yn, tile, g * Og, Og, OHW, r0 * OW, Pc)


@jit
def im2col_backward_input(dx, dout, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # conv2d_image_backward_input by GEMM into im2col chunks, scattered back (col2im)
    C, H, W = dx.shape
    O, CKK = w2.shape
    OH, OW = dout.shape[1], dout.shape[2]
    OHW, Cg, Og, R = OH * OW, C // groups, O // groups, chunk_rows(CKK, OH, OW)
    colbuf, tilebuf = _bufs(work, CKK, Og, R, OW)
    dx[...] = 0
    yn, wf = dout.reshape(-1), w2.reshape(-1)
    no, yes = np.bool_(False), np.bool_(True)  # runtime GEMM flags: one gemm_serial compile (DESIGN.md)
    for g in range(groups):
        wg = wf[g * Og * CKK:(g + 1) * Og * CKK].reshape(Og, CKK)
        for r0 in range(0, OH, R):
            Pc = min(R, OH - r0) * OW
            col = colbuf[:CKK * Pc].reshape(CKK, Pc)
            tile = _tile(yn, tilebuf, g, Og, OHW, Pc)
            if Pc != OHW:
                _get_tile(tile, yn, g * Og, Og, OHW, r0 * OW, Pc)
            gemm_serial(col, wg, tile, yes, no, no)                 # col = wg.T @ tile
            _col2im_add(dx, col, np.int64(0), g * Cg, Cg, H, W, KH, KW, OW, r0, Pc // OW, sh, sw, ph, pw, dh, dw)


@jit
def im2col_backward_weight(dw2, dout, x, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # conv2d_image_backward_weight by im2col chunks + GEMM
    C, H, W = x.shape
    O, CKK = dw2.shape
    OH, OW = dout.shape[1], dout.shape[2]
    OHW, Cg, Og, R = OH * OW, C // groups, O // groups, chunk_rows(CKK, OH, OW)
    colbuf, tilebuf = _bufs(work, CKK, Og, R, OW)
    yn, pf = dout.reshape(-1), dw2.reshape(-1)
    no, yes = np.bool_(False), np.bool_(True)  # runtime GEMM flags: one gemm_serial compile (DESIGN.md)
    for g in range(groups):
        pg = pf[g * Og * CKK:(g + 1) * Og * CKK].reshape(Og, CKK)
        for r0 in range(0, OH, R):
            Pc = min(R, OH - r0) * OW
            col = colbuf[:CKK * Pc].reshape(CKK, Pc)
            _im2col(col, np.int64(0), x, g * Cg, Cg, H, W, KH, KW, OW, r0, Pc // OW, sh, sw, ph, pw, dh, dw)
            tile = _tile(yn, tilebuf, g, Og, OHW, Pc)
            if Pc != OHW:
                _get_tile(tile, yn, g * Og, Og, OHW, r0 * OW, Pc)
            gemm_serial(pg, tile, col, no, yes, yes)           # pg += tile @ col.T


# ---- eager drivers over a batch: plain Python picks one compiled driver per algorithm family (per image:
# Winograd F(4x4,3x3) or F(2x2,3x3) where use_winograd4 / use_winograd hold, else direct / im2col),
# thread t taking images t, t+T, ... (F(4x4,3x3): one block of consecutive images for its batch kernels), so a model never compiles a family it does not use (Winograd's
# kernels cost +13 s of cold-start CPU time when the drivers called conv2d_image_*). The multi-image kernels (images.py) serve the fused CNN step only: in
# these drivers they added ~11 s to the first eager step's cold compile for no measurable step time
def use_lanes(Cg, groups, KH, KW, OH, OW):
    """True where the eager drivers run conv2d/lanes.py's kernels (chunks of L images as SIMD lanes, each
    transposed in and out per call): enough taps per output that the transposes are a small part
    (`python bench/conv_lanes.py`, DESIGN.md "The lane layout")."""
    return groups == 1 and Cg * KH * KW >= LANES_MIN_TAPS and OH * OW <= LANES_MAX_OHW


def _family(Cg, Og, KH, KW, sh, sw, dh, dw, kind, groups, OH, OW):
    """'winograd4', 'winograd', 'lanes' or 'image': the drivers' algorithm family for this layer and kernel
    (kind 0 forward, 1 input gradient, 2 weight gradient)."""
    if use_winograd4(Cg, Og, KH, KW, sh, sw, dh, dw, kind):
        return "winograd4"
    if use_winograd(Cg, Og, KH, KW, sh, sw, dh, dw):
        return "winograd"
    return "lanes" if use_lanes(Cg, groups, KH, KW, OH, OW) else "image"


def conv2d_forward(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # out (N,O,OH,OW) = conv2d(x (N,C,H,W), w2 (O, Cg*KH*KW)), no bias; work (T, work_size) scratch
    fam = _family(x.shape[1] // groups, out.shape[1] // groups, KH, KW, sh, sw, dh, dw, 0, groups, out.shape[2],
                  out.shape[3])
    if fam == "lanes":
        lanes.forward_images(out, x, w2, w2[0, :0], KH, KW, sh, sw, ph, pw, dh, dw, np.int64(work.shape[0]))
    elif fam == "winograd4":
        _winograd4_forward_images(out, x, w2, ph, pw, groups, work)
    elif fam == "winograd":
        _winograd_forward_images(out, x, w2, ph, pw, groups, work)
    else:
        _forward_images(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


def conv2d_backward_input(dx, dout, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # dx (N,C,H,W) = conv2d's input gradient for dout (N,O,OH,OW); dx is overwritten; work as conv2d_forward
    fam = _family(dx.shape[1] // groups, dout.shape[1] // groups, KH, KW, sh, sw, dh, dw, 1, groups, dout.shape[2],
                  dout.shape[3])
    if fam == "lanes":
        lanes.backward_images(dx, w2[:0], w2[0, :0], np.zeros((work.shape[0], 0), dx.dtype), dout, dx, w2, KH, KW,
                              sh, sw, ph, pw, dh, dw)
    elif fam == "winograd4":
        _winograd4_backward_input_images(dx, dout, w2, ph, pw, groups, work)
    elif fam == "winograd":
        _winograd_backward_input_images(dx, dout, w2, ph, pw, groups, work)
    else:
        _backward_input_images(dx, dout, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


def conv2d_backward_weight(dw2, partial, dout, x, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # dw2 (O, Cg*KH*KW) = conv2d's weight gradient for dout (N,O,OH,OW); partial (T, O*Cg*KH*KW)
    # zero-filled, one row per thread, summed serially after the parallel region; work as conv2d_forward
    fam = _family(x.shape[1] // groups, dout.shape[1] // groups, KH, KW, sh, sw, dh, dw, 2, groups, dout.shape[2],
                  dout.shape[3])
    if fam == "lanes":
        lanes.backward_images(x[:0], dw2, dw2[0, :0], partial, dout, x, dw2, KH, KW, sh, sw, ph, pw, dh, dw)
    elif fam == "winograd4":
        _winograd4_backward_weight_images(dw2, partial, dout, x, ph, pw, groups, work)
    elif fam == "winograd":
        _winograd_backward_weight_images(dw2, partial, dout, x, ph, pw, groups, work)
    else:
        _backward_weight_images(dw2, partial, dout, x, KH, KW, sh, sw, ph, pw, dh, dw, groups, work)


@pjit
def _forward_images(out, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    N, T = x.shape[0], work.shape[0]
    for t in prange(T):
        for n in range(t, N, T):
            image_forward(out[n], x[n], w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work[t])


@pjit
def _winograd_forward_images(out, x, w2, ph, pw, groups, work):
    N, T = x.shape[0], work.shape[0]
    for t in prange(T):
        for n in range(t, N, T):
            winograd.forward(out[n], x[n], w2, ph, pw, groups, work[t])


@pjit
def _backward_input_images(dx, dout, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    N, T = dx.shape[0], work.shape[0]
    for t in prange(T):
        for n in range(t, N, T):
            im2col_backward_input(dx[n], dout[n], w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work[t])


@pjit
def _winograd_backward_input_images(dx, dout, w2, ph, pw, groups, work):
    N, T = dx.shape[0], work.shape[0]
    for t in prange(T):
        for n in range(t, N, T):
            winograd.backward_input(dx[n], dout[n], w2, ph, pw, groups, work[t])


@pjit
def _backward_weight_images(dw2, partial, dout, x, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    N, O, T = x.shape[0], dw2.shape[0], partial.shape[0]
    for t in prange(T):
        pt = partial[t].reshape(O, -1)
        for n in range(t, N, T):
            im2col_backward_weight(pt, dout[n], x[n], KH, KW, sh, sw, ph, pw, dh, dw, groups, work[t])
    _sum_partials(dw2, partial)


@pjit
def _winograd_backward_weight_images(dw2, partial, dout, x, ph, pw, groups, work):
    N, O, T = x.shape[0], dw2.shape[0], partial.shape[0]
    for t in prange(T):
        pt = partial[t].reshape(O, -1)
        for n in range(t, N, T):
            winograd.backward_weight(pt, dout[n], x[n], ph, pw, groups, work[t])
    _sum_partials(dw2, partial)


@pjit
def _winograd4_forward_images(out, x, w2, ph, pw, groups, work):
    # thread t takes one contiguous block of the N images (winograd4's batch kernels: one weight
    # transform per thread and call)
    N, T = x.shape[0], work.shape[0]
    for t in prange(T):
        n0, n1 = N * t // T, N * (t + 1) // T
        winograd4.forward_images(out[n0:n1], x[n0:n1], w2, w2[0, :0], ph, pw, groups, work[t])


@pjit
def _winograd4_backward_input_images(dx, dout, w2, ph, pw, groups, work):
    N, T = dx.shape[0], work.shape[0]
    for t in prange(T):
        n0, n1 = N * t // T, N * (t + 1) // T
        winograd4.backward_images(dx[n0:n1], w2[:0], dout[n0:n1], dx[n0:n1], w2, ph, pw, groups, work[t])


@pjit
def _winograd4_backward_weight_images(dw2, partial, dout, x, ph, pw, groups, work):
    N, O, T = x.shape[0], dw2.shape[0], partial.shape[0]
    for t in prange(T):
        n0, n1 = N * t // T, N * (t + 1) // T
        winograd4.backward_images(x[n0:n0], partial[t].reshape(O, -1), dout[n0:n1], x[n0:n1], dw2, ph, pw, groups,
                                  work[t])
    _sum_partials(dw2, partial)


@jit
def _sum_partials(dw2, partial):
    # dw2 = the sum of the per-thread rows of partial (T, dw2.size), serially (lanes.sum_rows: one definition)
    lanes.sum_rows(dw2.reshape(-1), partial, 0)
