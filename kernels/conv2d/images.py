"""2-D convolution over a chunk of b images on the calling thread (Numba): the b images' im2col side by side
in one (Cg*KH*KW, b*OH*OW) matrix and ONE GEMM per group, where conv2d/cpu.py's per-image kernels run b
small GEMMs (LeNet's conv2: 16x100x150 per image at 25-30 GFLOP/s; the same GEMM over 32 images at
66-71). For layers whose per-image GEMM is small (`use_images`; thresholds measured, DESIGN.md
"Convolution and pooling"); serial, scratch passed in, called by the fused CNN's shards (kernels/
fused_cnn/cpu.py). The eager drivers (conv2d/cpu.py) stay per image: routing them here added ~11 s to
the first eager LeNet step's cold compile for no measurable step time (DESIGN.md).

Working set per call: `work_size` = (Cg*KH*KW + O/groups) * b * OH*OW elements: the im2col of the b
images plus one (O/groups, b*OH*OW) tile of the output or its gradient (the GEMM's side of the
(b, O, OH, OW) layout); callers take b = chunk_images(...) images at a time, so the im2col stays
within IMAGES_COL_MAX elements whenever use_images holds (it asks for b >= 2).
Layouts as conv2d/cpu.py: x (b,C,H,W), out/dout (b,O,OH,OW) C-contiguous, w2 (O, Cg*KH*KW); bias (O,).
An output of size 0 (a (0,)-shaped bias or gradient, a dx with 0 images) is not computed.
"""
from .._numba import jit
from ..gemm.cpu import gemm_serial
from ..simd import lanes_of, vadd, vload, vstore, vsum, vzeros
from .cpu import _col2im_add, _im2col

IMAGES_COL_MAX = 1 << 18  # elements of the b images' im2col: 1 MiB in float32 (L2 holds it with the tile)
IMAGES_MAX_OHW = 144      # multi-image when an image has at most this many output pixels (the per-image
                          # GEMMs' N; a clear win at 100, a tie at 256) and 2 images' im2col fit IMAGES_COL_MAX


@jit
def use_images(CKK, OHW):
    # True where the multi-image kernels beat conv2d/cpu.py's per-image ones (`bench/conv_images.py`)
    return OHW <= IMAGES_MAX_OHW and 2 * CKK * OHW <= IMAGES_COL_MAX


@jit
def chunk_images(CKK, OHW, B):
    # images per call (1..B): as many as keep their im2col within IMAGES_COL_MAX elements
    return max(1, min(B, IMAGES_COL_MAX // max(CKK * OHW, 1)))


@jit
def work_size(C, O, KH, KW, OH, OW, groups, b):
    # elements of `work` for b images: their im2col plus one output tile
    return ((C // groups) * KH * KW + O // groups) * b * OH * OW


@jit
def _bufs(work, CKK, Og, N):
    # the (CKK, N) im2col and the (Og, N) tile, carved out of one scratch array
    return work[:CKK * N].reshape((CKK, N)), work[CKK * N:(CKK + Og) * N].reshape((Og, N))


@jit
def _im2col_images(col, x, c0, Cg, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw):
    # col (Cg*KH*KW, b*OH*OW) = the im2col of channels c0..c0+Cg-1 of each image of x (b,C,H,W), side by side
    b, H, W = x.shape[0], x.shape[2], x.shape[3]
    for i in range(b):
        _im2col(col, i * OH * OW, x[i], c0, Cg, H, W, KH, KW, OW, 0, OH, sh, sw, ph, pw, dh, dw)


@jit
def _gather(tile, db, dout, o0):
    # tile (Og, b*P) = dout[:, o0:o0+Og] of dout (b,O,OH,OW) side by side; db (O,) += its sums unless size 0
    # (L lanes at a time: a serial float64 sum here cost 4 us per LeNet conv1 image)
    Og, b, P = tile.shape[0], dout.shape[0], dout.shape[2] * dout.shape[3]
    L, df, tf = lanes_of(tile), dout.reshape(-1), tile.reshape(-1)
    O = dout.shape[1]
    for o in range(Og):
        acc = vzeros(tile)
        for i in range(b):
            src, dst = (i * O + o0 + o) * P, (o * b + i) * P
            for q in range(0, P, L):
                v = vload(df, src + q, min(L, P - q))
                vstore(tf, dst + q, v, min(L, P - q))
                acc = vadd(acc, v)
        if db.size > 0:
            db[o0 + o] += vsum(acc)


@jit
def bias_backward(db, dout):
    # db (O,) += the sums of dout (b,O,OH,OW) over images and pixels, L lanes at a time (for callers that
    # run the per-image kernels; backward below sums while it gathers)
    b, O, P = dout.shape[0], dout.shape[1], dout.shape[2] * dout.shape[3]
    L, df = lanes_of(dout), dout.reshape(-1)
    for o in range(O):
        acc = vzeros(dout)
        for i in range(b):
            for q in range(0, P, L):
                acc = vadd(acc, vload(df, (i * O + o) * P + q, min(L, P - q)))
        db[o] += vsum(acc)


@jit
def forward(out, x, w2, bias, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # out (b,O,OH,OW) = conv2d(x (b,C,H,W), w2 (O, Cg*KH*KW)) + bias (O,) (size 0: none); work: work_size
    b, C = x.shape[0], x.shape[1]
    O, CKK = w2.shape
    OH, OW = out.shape[2], out.shape[3]
    P, Cg, Og = OH * OW, C // groups, O // groups
    col, tile = _bufs(work, CKK, Og, b * P)
    of = out.reshape((b, -1))
    for g in range(groups):
        _im2col_images(col, x, g * Cg, Cg, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw)
        gemm_serial(tile, w2[g * Og:(g + 1) * Og], col, False, False, False)
        for o in range(Og):
            bo = bias[g * Og + o] if bias.size > 0 else out.dtype.type(0)
            for i in range(b):
                for q in range(P):
                    of[i, (g * Og + o) * P + q] = tile[o, i * P + q] + bo


@jit
def backward(dx, dw2, db, dout, x, w2, KH, KW, sh, sw, ph, pw, dh, dw, groups, work):
    # from dout (b,O,OH,OW): dx (b,C,H,W) = the input gradient (overwritten), dw2 (O, Cg*KH*KW) += the
    # weight gradient, db (O,) += the bias gradient; x (b,C,H,W) the input, w2 the weights; one gather
    # of dout per group serves all three; an output of size 0 is skipped; work: work_size
    b, C = x.shape[0], x.shape[1]
    O, CKK = w2.shape
    OH, OW, H, W = dout.shape[2], dout.shape[3], x.shape[2], x.shape[3]
    P, Cg, Og = OH * OW, C // groups, O // groups
    col, tile = _bufs(work, CKK, Og, b * P)
    if dx.shape[0] > 0:
        dx[...] = 0
    for g in range(groups):
        _gather(tile, db, dout, g * Og)
        if dw2.size > 0:
            _im2col_images(col, x, g * Cg, Cg, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw)
            gemm_serial(dw2[g * Og:(g + 1) * Og], tile, col, False, True, True)     # dw += tile @ col.T
        if dx.shape[0] > 0:
            gemm_serial(col, w2[g * Og:(g + 1) * Og], tile, True, False, False)     # col = w.T @ tile
            for i in range(b):
                _col2im_add(dx[i], col, i * P, g * Cg, Cg, H, W, KH, KW, OW, 0, OH, sh, sw, ph, pw, dh, dw)
