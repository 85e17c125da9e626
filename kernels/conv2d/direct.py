"""Direct 2-D convolution forward for one image (Numba, explicit SIMD from kernels/simd.py), for few
input channels per group and width stride 1 (LeNet's and the examples Net's first layers), where
im2col + GEMM spends its time copying and the GEMM's M (output channels) is too small to tile well.

Register tile of 2*CT accumulator vectors of L = lanes_of(dtype) lanes (16 float32 / 8 float64 with
AVX-512): CT output channels x 2 output rows (CT = 8 with AVX-512, 4 with AVX2: DESIGN.md); the weights are
broadcast from w2, the image rows read with masked loads (simd.vloadr) whose lane range is the part
of the window inside the image, so padding costs nothing and no scratch is used. A channel tile
past the group's end repeats its last channel (computed, never stored). (A direct input gradient
(4 input channels x 2 rows) and weight gradient (4 output channels x 2 kernel columns, lane sums) lost
to im2col + GEMM with vectorized im2col/col2im at every measured shape but one tie and were removed:
DESIGN.md.)
Layouts as kernels/conv2d/cpu.py: x (C,H,W), out/dout (O,OH,OW), w2 (O, Cg*KH*KW), C-contiguous.
"""
from .._numba import jit
from ..simd import VEC_BYTES, lanes_of, vbroadcast, vfma, vloadr, vstore, vzeros

CT = 8 if VEC_BYTES == 64 else 4   # output channels per register tile: 2*CT accumulators + 3 temporaries
                                   # fit AVX-512's 32 vector registers at 8, AVX2's 16 at 4


@jit
def _cols(off, n, W):
    # lanes [lo, hi) of a row chunk of n lanes whose lane 0 reads column off of a row of width W
    return max(0, -off), min(n, W - off)


@jit
def _tile_rows(t0, end, stride):
    # offsets of rows t0 .. t0+7 (clamped to end-1) in units of stride
    last = end - 1
    return (t0 * stride, min(t0 + 1, last) * stride, min(t0 + 2, last) * stride, min(t0 + 3, last) * stride,
            min(t0 + 4, last) * stride, min(t0 + 5, last) * stride, min(t0 + 6, last) * stride,
            min(t0 + 7, last) * stride)


@jit
def _store(arr, base, plane, a, n, count):
    # arr.flat[base + t*plane : +n] = a[t] for t < count (a: a tuple of vectors)
    for t in range(min(count, len(a))):
        vstore(arr, base + t * plane, a[t], n)


@jit
def _fma2(w2, i, xv, xv2, a, b):
    # one weight w2.flat[i] (broadcast) into a channel's two row accumulators: (w*xv + a, w*xv2 + b)
    w = vbroadcast(w2, i)
    return vfma(w, xv, a), vfma(w, xv2, b)


@jit
def forward(out, x, w2, KH, KW, sh, ph, pw, dh, dw, groups):
    # out (O,OH,OW) = conv2d(x (C,H,W), w2 (O, Cg*KH*KW)), width stride 1, no bias. Tile: CT output
    # channels x 2 output rows (oh, oh2; oh2 repeats oh at an odd last row) x L columns, 2*CT
    # accumulators: per weight 2 masked row loads (empty mask for a row outside x) and CT broadcasts
    # feed 2*CT FMAs (CT = 4 or 8: the a4..7/b4..7 lines are pruned at compile time where CT = 4)
    C, H, W = x.shape
    O, CKK = w2.shape
    OH, OW = out.shape[1], out.shape[2]
    Cg, Og, L = C // groups, O // groups, lanes_of(out)
    for g in range(groups):
        for o0 in range(g * Og, (g + 1) * Og, CT):
            r = _tile_rows(o0, (g + 1) * Og, CKK)
            for oh in range(0, OH, 2):
                oh2 = min(oh + 1, OH - 1)
                for ow0 in range(0, OW, L):
                    n = min(L, OW - ow0)
                    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = vzeros(out)
                    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = vzeros(out)
                    for c in range(Cg):
                        for i in range(KH):
                            ih, ih2 = oh * sh - ph + i * dh, oh2 * sh - ph + i * dh
                            in1, in2 = 0 <= ih < H, 0 <= ih2 < H
                            if not (in1 or in2):
                                continue
                            xrow, xrow2 = ((g * Cg + c) * H + ih) * W, ((g * Cg + c) * H + ih2) * W
                            for j in range(KW):
                                off = ow0 - pw + j * dw
                                lo, hi = _cols(off, n, W)
                                if hi <= lo:
                                    continue
                                xv = vloadr(x, xrow + off, lo, hi if in1 else lo)
                                xv2 = vloadr(x, xrow2 + off, lo, hi if in2 else lo)
                                k = (c * KH + i) * KW + j
                                a0, b0 = _fma2(w2, r[0] + k, xv, xv2, a0, b0)
                                a1, b1 = _fma2(w2, r[1] + k, xv, xv2, a1, b1)
                                a2, b2 = _fma2(w2, r[2] + k, xv, xv2, a2, b2)
                                a3, b3 = _fma2(w2, r[3] + k, xv, xv2, a3, b3)
                                if CT == 8:
                                    a4, b4 = _fma2(w2, r[4] + k, xv, xv2, a4, b4)
                                    a5, b5 = _fma2(w2, r[5] + k, xv, xv2, a5, b5)
                                    a6, b6 = _fma2(w2, r[6] + k, xv, xv2, a6, b6)
                                    a7, b7 = _fma2(w2, r[7] + k, xv, xv2, a7, b7)
                    count = min(CT, (g + 1) * Og - o0)
                    _store(out, (o0 * OH + oh) * OW + ow0, OH * OW, (a0, a1, a2, a3, a4, a5, a6, a7), n, count)
                    if oh2 > oh:
                        _store(out, (o0 * OH + oh2) * OW + ow0, OH * OW, (b0, b1, b2, b3, b4, b5, b6, b7), n,
                               count)
