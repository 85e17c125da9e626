"""Winograd F(4x4, 3x3) 2-D convolution for one image (Numba, explicit SIMD from kernels/simd.py): 3x3
kernels at stride 1 and dilation 1, any zero padding, groups; forward, input gradient, weight gradient
(Lavin & Gray 2015, points 0, +-1, +-2, inf). Every 4x4 block of outputs is one tile, read from a 6x6
block of the zero-padded input (tiles overlap by 2 rows and 2 columns):

    Y = A^T [ (G g G^T) * (B^T d B) ] A,   * elementwise over the 36 positions t = 6a + b
    B^T = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]]
    G   = [[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]]
    A^T = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]]

36 products per 16 outputs where the direct algorithm does 144 (4x fewer; F(2x2,3x3): 2.25x). The
gradients are the exact adjoints: dM = A dY A^T, dV[t] = U[t]^T dM[t], dd = B dV B^T (scatter-added
into the overlapping input tiles, padding dropped); dU[t] = sum over tiles dM[t] V[t]^T, dg = G^T dU G.
A partial last tile reads zeros past the image and its outputs past OH, OW are never stored.

Layout: vectors run along the flattened tile index p = q*TW + tw of a chunk of Rc tile rows (the Net's
24x24 output has 6 tiles a row: a vector along one row would fill 6 of 16 lanes). The fill copies the
padded input rows once each, de-interleaved by column mod 4 (two levels of simd.vunzip), into planes
    XP[c, k, l, q*TW + tw] = xpad[c, 4q + k, 4tw + l]     (k < 4; l = 4, 5: the next tile's columns 0, 1)
so the 36 inputs of L consecutive tiles are 36 contiguous vector loads (rows k = 4, 5 of tile row q:
rows 0, 1 of tile row q + 1, TW elements on). Per position t the GEMM runs
with the tiles as ROWS, MT[t] (P, Og) = V[t]^T (P, Cg) @ U[t]^T (Cg, Og) (gemm_serial, V read
transposed): the tiles are few (36 for the Net's conv2 image), and as the GEMM's N (columns, panels of
2 vectors) 36 tiles ran at half speed (37 against 73 GFLOP/s, DESIGN.md). The products are transposed
back per position in 8x8 register blocks (winograd._transpose_positions) for the output transform,
which re-interleaves the 4 column phases (two levels of simd.vzip) and stores each tile row's segment
with masked stores. The input gradient runs the same way round (dV^T = dM^T U, transposed to dV), its
adjoint transform writes planes like XP and the store sums each pixel's tiles (the shifted planes l = 4,
5 folded onto the next tile's columns 0, 1, rows k = 4, 5 onto the next tile row's 0, 1). The weight
gradient is dU[t] += dM[t] (Og, P) @ V[t]^T (P, Cg) on V transposed (winograd.py's way).
Tiles are taken in chunks of R tile rows so the scratch per call stays under winograd.WINO_MAX elements
(at least one tile row); work_size gives it, consecutive pieces in this order:
    U (36, Og, Cg), or U^T (36, Cg, Og) in the forward | dU (36, Og, Cg) | XP/dXP (Cg, 36, (R+1)*TW)
    | YP (Og, 16, R*TW) | V/dV (36, Cg, R*TW) | T2: M^T, dV^T or V^T (36, R*TW, max(Cg, Og)) | M/dM (36, Og, R*TW) | TMP
with the 36 blocks of U, V, T2, M pos_stride elements apart (winograd.pos_stride).
The kernels take a batch of N images (forward_images, backward_images; forward, backward_input and
backward_weight are the batch of one that conv2d/cpu.py's per-image dispatchers call): per group the
weight transform runs once per call and the weight gradient's dU sums over the N images before one
transform back, and backward_images computes each chunk's dM once for both gradients (the examples
Net's 32->64 layer per image: the weight transform 11 us, dM 23 us, of 135 us forward / 130 us input
gradient / 127 us weight gradient). Where whole images fit one chunk, forward_images puts the tiles of
images_per_gemm images side by side as the GEMM's columns, M[t] = U[t] @ V[t] (nn, no transposes: enough
tiles to fill the GEMM's panels; V and M then hold that many images' tiles, WINO_BATCH elements); the
gradients stay per image (measured: DESIGN.md).
Layouts as cpu.py: x (N,C,H,W), out/dout (N,O,OH,OW), w2 (O, Cg*9), C-contiguous; float32/float64.
Serial: the caller parallelizes over images.
"""
import numpy as np

from .._numba import jit
from ..gemm.cpu import gemm_narrow, gemm_serial
from ..gemm._store import _rows8
from ..simd import (lanes_of, v8, vadd, vfma, vgather, vload, vloadr, vsplat, vstore, vstorer, vtranspose8, vunzip,
                    vzeros, vzip)
from .winograd import WINO_MAX, _load4, _pos, _store4, _transpose_positions, pos_stride

NPOS = 36       # positions of a tile (6x6)
TMP = 36 * 16   # 36 vectors of at most 16 lanes: the transforms' middle stage
WINO_BATCH = 1 << 19  # elements of V and M holding several images' tiles for one GEMM per position
# the transforms' constants, by index into _consts
K_M1, K_2, K_M2, K_4, K_M4, K_M5, K_8, K_Q, K_6, K_M6, K_12, K_M12, K_24, K_Z = range(14)


# ---- geometry and scratch ------------------------------------------------------------------------
@jit
def chunk_tile_rows(Cg, Og, TH, TW):
    # tile rows per chunk: the chunk's scratch fits WINO_MAX (at least one row); chunks of equal size
    if TH <= 0:
        return 1
    per_row = (NPOS * (2 * Cg + max(Cg, Og) + Og) + 16 * Og) * TW
    rmax = max(1, min(TH, WINO_MAX // max(per_row, 1)))
    chunks = (TH + rmax - 1) // rmax
    return (TH + chunks - 1) // chunks


@jit
def images_per_gemm(Cg, Og, TH, TW):
    # images whose tiles share one GEMM per position in forward_images: as many whole
    # images (one chunk of tile rows each) as keep V and M within WINO_BATCH elements; 1 where an image
    # takes several chunks
    if TH <= 0 or TW <= 0 or chunk_tile_rows(Cg, Og, TH, TW) < TH:
        return 1
    return max(1, WINO_BATCH // (NPOS * (Cg + Og) * TH * TW))


@jit
def _v_tiles(Cg, Og, TH, TW, R):
    # tiles (columns) the V and M pieces hold: one chunk's, or images_per_gemm images'
    return max(R * TW, images_per_gemm(Cg, Og, TH, TW) * TH * TW)


@jit
def work_size(Cg, Og, OH, OW):
    # elements of scratch one call of forward_images / backward_images (and the per-image kernels) needs
    TH, TW = max(0, (OH + 3) // 4), max(0, (OW + 3) // 4)
    R = chunk_tile_rows(Cg, Og, TH, TW)
    P, PV = R * TW, _v_tiles(Cg, Og, TH, TW, R)
    return (2 * NPOS * pos_stride(Og * Cg) + NPOS * Cg * (P + TW) + 16 * Og * P + NPOS * pos_stride(Cg * PV)
            + NPOS * pos_stride(max(Cg, Og) * P) + NPOS * pos_stride(Og * PV) + TMP)


@jit
def _bufs(work, Cg, Og, R, TW, PV):
    # U, dU, XP, YP, V, T2, M, tmp: consecutive pieces of work (flat), in work_size's order; V and M for
    # PV tiles (_v_tiles)
    P = R * TW
    u = NPOS * pos_stride(Og * Cg)
    s0 = 2 * u
    s1 = s0 + NPOS * Cg * (P + TW)
    s2 = s1 + 16 * Og * P
    s3 = s2 + NPOS * pos_stride(Cg * PV)
    s4 = s3 + NPOS * pos_stride(max(Cg, Og) * P)
    s5 = s4 + NPOS * pos_stride(Og * PV)
    return (work[:u], work[u:s0], work[s0:s1], work[s1:s2], work[s2:s3], work[s3:s4], work[s4:s5],
            work[s5:s5 + TMP])


@jit
def _geometry(C, O, OH, OW, groups):
    # channels per group, tile rows and columns, tile rows per chunk, V's and M's tiles (_v_tiles)
    Cg, Og, TH, TW = C // groups, O // groups, (OH + 3) // 4, (OW + 3) // 4
    R = chunk_tile_rows(Cg, Og, max(TH, 0), max(TW, 0))
    return Cg, Og, TH, TW, R, _v_tiles(Cg, Og, max(TH, 0), max(TW, 0), R)


@jit
def _consts(arr):
    # the transforms' constants as vectors of arr's dtype, indexed by the K_* names
    f = arr.dtype.type
    return (vsplat(f(-1)), vsplat(f(2)), vsplat(f(-2)), vsplat(f(4)), vsplat(f(-4)), vsplat(f(-5)), vsplat(f(8)),
            vsplat(f(0.25)), vsplat(f(1 / 6)), vsplat(f(-1 / 6)), vsplat(f(1 / 12)), vsplat(f(-1 / 12)),
            vsplat(f(1 / 24)), vzeros(arr))


# ---- the 1-D transforms on vectors (lane-wise; each the exact adjoint of its partner) -------------
@jit
def _bt6(d0, d1, d2, d3, d4, d5, k):
    # B^T d: (4d0 - 5d2 + d4, (d4 - 4d2) + (d3 - 4d1), (d4 - 4d2) - (d3 - 4d1), (d4 - d2) + 2(d3 - d1),
    #         (d4 - d2) - 2(d3 - d1), 4d1 - 5d3 + d5)
    t1, t2 = vfma(d2, k[K_M4], d4), vfma(d1, k[K_M4], d3)
    t3, u = vfma(d2, k[K_M1], d4), vfma(d1, k[K_M1], d3)
    return (vfma(d0, k[K_4], vfma(d2, k[K_M5], d4)), vadd(t1, t2), vfma(t2, k[K_M1], t1),
            vfma(u, k[K_2], t3), vfma(u, k[K_M2], t3), vfma(d1, k[K_4], vfma(d3, k[K_M5], d5)))


@jit
def _b6(v0, v1, v2, v3, v4, v5, k):
    # B v, the adjoint of _bt6: (4v0, 4(v2 - v1 + v5) - 2(v3 - v4), -5v0 - 4(v1 + v2) - (v3 + v4),
    #                           2(v3 - v4) - 5v5 - (v2 - v1), v0 + (v1 + v2) + (v3 + v4), v5)
    a, c = vadd(v1, v2), vadd(v3, v4)
    b, e = vfma(v1, k[K_M1], v2), vfma(v4, k[K_M1], v3)
    z = k[K_Z]
    return (vfma(v0, k[K_4], z), vfma(vadd(b, v5), k[K_4], vfma(e, k[K_M2], z)),
            vfma(v0, k[K_M5], vfma(a, k[K_M4], vfma(c, k[K_M1], z))),
            vfma(e, k[K_2], vfma(v5, k[K_M5], vfma(b, k[K_M1], z))), vadd(vadd(v0, a), c), v5)


@jit
def _g6(g0, g1, g2, k):
    # G g: (g0/4, -(g0 + g1 + g2)/6, -(g0 - g1 + g2)/6, (g0/24 + g2/6) + g1/12, (g0/24 + g2/6) - g1/12, g2)
    z = k[K_Z]
    s = vadd(g0, g2)
    p = vfma(g0, k[K_24], vfma(g2, k[K_6], z))
    return (vfma(g0, k[K_Q], z), vfma(vadd(s, g1), k[K_M6], z), vfma(vfma(g1, k[K_M1], s), k[K_M6], z),
            vfma(g1, k[K_12], p), vfma(g1, k[K_M12], p), g2)


@jit
def _gt6(u0, u1, u2, u3, u4, u5, k):
    # G^T u, the adjoint of _g6: (u0/4 - (u1 + u2)/6 + (u3 + u4)/24, (u2 - u1)/6 + (u3 - u4)/12,
    #                             -(u1 + u2)/6 + (u3 + u4)/6 + u5)
    z = k[K_Z]
    a, b, c, e = vadd(u1, u2), vfma(u2, k[K_M1], u1), vadd(u3, u4), vfma(u4, k[K_M1], u3)
    return (vfma(u0, k[K_Q], vfma(a, k[K_M6], vfma(c, k[K_24], z))), vfma(b, k[K_M6], vfma(e, k[K_12], z)),
            vfma(a, k[K_M6], vfma(c, k[K_6], u5)))


@jit
def _at6(s0, s1, s2, s3, s4, s5, k):
    # A^T s: (s0 + (s1 + s2) + (s3 + s4), (s1 - s2) + 2(s3 - s4), (s1 + s2) + 4(s3 + s4),
    #         (s1 - s2 + s5) + 8(s3 - s4))
    a, b, c, e = vadd(s1, s2), vfma(s2, k[K_M1], s1), vadd(s3, s4), vfma(s4, k[K_M1], s3)
    return vadd(vadd(s0, a), c), vfma(e, k[K_2], b), vfma(c, k[K_4], a), vfma(e, k[K_8], vadd(b, s5))


@jit
def _a6(y0, y1, y2, y3, k):
    # A y, the adjoint of _at6: (y0, (y0 + y2) + (y1 + y3), (y0 + y2) - (y1 + y3), (y0 + 4y2) + 2(y1 + 4y3),
    #                            (y0 + 4y2) - 2(y1 + 4y3), y3)
    p, m = vadd(y0, y2), vadd(y1, y3)
    p4, m4 = vfma(y2, k[K_4], y0), vfma(y3, k[K_4], y1)
    return y0, vadd(p, m), vfma(m, k[K_M1], p), vfma(m4, k[K_2], p4), vfma(m4, k[K_M2], p4), y3


@jit
def _load6(arr, i, stride, n):
    # the vectors arr.flat[i + j*stride : +n], j < 6
    a0, a1, a2, a3 = _load4(arr, i, stride, n)
    return a0, a1, a2, a3, vload(arr, i + 4 * stride, n), vload(arr, i + 5 * stride, n)


@jit
def _store6(arr, i, stride, v, n):
    # arr.flat[i + j*stride : +n] = v[j] for the 6-tuple v
    _store4(arr, i, stride, v[0], v[1], v[2], v[3], n)
    vstore(arr, i + 4 * stride, v[4], n)
    vstore(arr, i + 5 * stride, v[5], n)


@jit
def _store3(arr, i, stride, v, n):
    # arr.flat[i + j*stride : +n] = v[j] for the 3-tuple v
    vstore(arr, i, v[0], n)
    vstore(arr, i + stride, v[1], n)
    vstore(arr, i + 2 * stride, v[2], n)


@jit
def _unzip4(a0, a1, a2, a3):
    # the 4 column phases of the run a0 a1 a2 a3 (4L elements): phase j = elements 4m + j, m < L
    e1, e2, o1, o2 = vunzip(a0, a1, 0), vunzip(a2, a3, 0), vunzip(a0, a1, 1), vunzip(a2, a3, 1)
    return vunzip(e1, e2, 0), vunzip(o1, o2, 0), vunzip(e1, e2, 1), vunzip(o1, o2, 1)


@jit
def _load_phases(xf, i, off, W):
    # the 4 column phases of the 4L elements xf.flat[i:], of which only columns off + j in [0, W) are read
    # (0 elsewhere: zero padding; i may lie before the array where off < 0)
    L = lanes_of(xf)
    return _unzip4(vloadr(xf, i, -off, W - off), vloadr(xf, i + L, -off - L, W - off - L),
                   vloadr(xf, i + 2 * L, -off - 2 * L, W - off - 2 * L),
                   vloadr(xf, i + 3 * L, -off - 3 * L, W - off - 3 * L))


@jit
def _zip4(p0, p1, p2, p3):
    # the run (4L lanes) whose element 4m + j is lane m of phase j (the inverse of _unzip4)
    return vzip(vzip(p0, p2), vzip(p1, p3))


# ---- weights: U = G g G^T, and dw2 += G^T dU G ------------------------------------------------------
@jit
def _weight_transform(U, wf, o0, Og, Cg, trans, k):
    # U (36, Og, Cg) flat = G g G^T of the 3x3 g = w2[o0 + o, 9c:9c+9] (wf = w2 flat); trans: U (36, Cg, Og)
    # instead (the forward's GEMM operand). Vectors along the contiguous axis, gathered from w2
    L = lanes_of(U)
    S = pos_stride(Og * Cg)
    n_out, n_in = (Cg, Og) if trans else (Og, Cg)
    for a in range(n_out):
        for i0 in range(0, n_in, L):
            n = min(L, n_in - i0)
            b, s = (((o0 + i0) * Cg + a) * 9, Cg * 9) if trans else (((o0 + a) * Cg + i0) * 9, 9)
            # the columns j of g through G: (G g)[r, j] = cj[r]
            c0 = _g6(vgather(wf, b, s, n), vgather(wf, b + 3, s, n), vgather(wf, b + 6, s, n), k)
            c1 = _g6(vgather(wf, b + 1, s, n), vgather(wf, b + 4, s, n), vgather(wf, b + 7, s, n), k)
            c2 = _g6(vgather(wf, b + 2, s, n), vgather(wf, b + 5, s, n), vgather(wf, b + 8, s, n), k)
            # the rows r through G: U[6r + t]
            i = a * n_in + i0
            _store6(U, i, S, _g6(c0[0], c1[0], c2[0], k), n)
            _store6(U, i + 6 * S, S, _g6(c0[1], c1[1], c2[1], k), n)
            _store6(U, i + 12 * S, S, _g6(c0[2], c1[2], c2[2], k), n)
            _store6(U, i + 18 * S, S, _g6(c0[3], c1[3], c2[3], k), n)
            _store6(U, i + 24 * S, S, _g6(c0[4], c1[4], c2[4], k), n)
            _store6(U, i + 30 * S, S, _g6(c0[5], c1[5], c2[5], k), n)


@jit
def _weight_grad_transform(dwf, dU, tmp, o0, Og, Cg, k):
    # dw2[o0 + o, 9c:9c+9] += G^T dU G for dU (36, Og, Cg) flat; dwf = dw2 flat
    L = lanes_of(dU)
    S = pos_stride(Og * Cg)
    for o in range(Og):
        for c0 in range(0, Cg, L):
            n, i = min(L, Cg - c0), o * Cg + c0
            for a in range(6):                         # row a through G^T (along b): tmp[3a + j]
                _store3(tmp, 3 * a * L, L, _gt6(*_load6(dU, i + 6 * a * S, S, n), k), L)
            for j in range(3):                         # column j through G^T (along a): tmp[18 + 3r + j]
                _store3(tmp, (18 + j) * L, 3 * L, _gt6(*_load6(tmp, j * L, 3 * L, L), k), L)
            b = ((o0 + o) * Cg + c0) * 9
            for h in range(0, n, 8):                   # channels c0 + h.. (8 at a time): values 0..7 by an
                cols = vtranspose8(_rows8(tmp, 18 * L + h, L, 8, 8))   # 8x8 transpose, value 8 alone
                for j in range(min(8, n - h)):
                    d = b + (h + j) * 9
                    vstore(dwf, d, v8.vadd(v8.vload(dwf, d, 8), cols[j]), 8)
                    dwf[d + 8] += tmp[26 * L + h + j]


# ---- input tiles: XP fill, V = B^T d B, and the adjoints ---------------------------------------------
@jit
def _fill_x(XP, xf, c0, Cg, H, W, r0, Rc, TW, P1, pw):
    # XP (Cg, 4, 6, P1) flat: XP[c, k, l, q*TW + tw] = x[c0 + c, r0 + 4q + k, 4tw + l - pw], 0 outside x, for
    # the chunk's padded rows 4q + k < 4Rc + 2 (rows 4, 5 of tile row q are rows 0, 1 of q + 1: read there,
    # P1 >= (Rc + 1) * TW); 4L columns of a row per step (masked loads: the padding), split by column mod 4
    # (_unzip4); phases 0, 1 of tile tw + 1 are also phases 4, 5 of tile tw
    L = lanes_of(XP)
    for c in range(Cg):
        for rr in range(4 * Rc + 2):
            r = r0 + rr
            base = ((c * 4 + rr % 4) * 6) * P1 + (rr // 4) * TW
            if r < 0 or r >= H:
                for l in range(6):
                    XP[base + l * P1:base + l * P1 + TW] = 0
                continue
            src = ((c0 + c) * H + r) * W
            for m0 in range(0, TW + 1, L):
                off = 4 * m0 - pw                              # x column of padded column 4*m0
                p0, p1, p2, p3 = _load_phases(xf, src + off, off, W)
                n, i = min(L, TW - m0), base + m0
                _store4(XP, i, P1, p0, p1, p2, p3, n)
                lo, hi = 1 if m0 == 0 else 0, min(L, TW + 1 - m0)
                vstorer(XP, i + 4 * P1 - 1, p0, lo, hi)
                vstorer(XP, i + 5 * P1 - 1, p1, lo, hi)


@jit
def _input_transform(V, XP, tmp, Cg, TW, P, P1, col0, PV, k):
    # V (36, Cg, PV) flat: V[6a + b, c, col0 + p] = (B^T d B)[a, b] for the 6x6 d of tile p < P in XP
    # (_fill_x's layout); col0 > 0: one image's tiles among several images' (forward_images)
    L = lanes_of(V)
    S = pos_stride(Cg * PV)
    for c in range(Cg):
        for p0 in range(0, P, L):
            n, dst = min(L, P - p0), c * PV + col0 + p0
            for l in range(6):                         # column l of d through B^T: tmp[6a + l]
                i = c * 24 * P1 + l * P1 + p0          # rows k < 4; rows 4, 5 one tile row on
                d0, d1, d2, d3 = _load4(XP, i, 6 * P1, n)
                d4, d5 = vload(XP, i + TW, n), vload(XP, i + 6 * P1 + TW, n)
                _store6(tmp, l * L, 6 * L, _bt6(d0, d1, d2, d3, d4, d5, k), L)
            for a in range(6):                         # row a through B^T (B on the right): V[6a + b]
                _store6(V, dst + 6 * a * S, S, _bt6(*_load6(tmp, 6 * a * L, L, L), k), n)


@jit
def _input_grad_transform(DXP, dV, tmp, Cg, P, k):
    # DXP (Cg, 36, P) flat: DXP[c, 6k + l, p] = (B dV B^T)[k, l] for the 6x6 dV[:, c, p] (the adjoint of
    # _input_transform; the overlapping tiles are summed by _store_dx)
    L = lanes_of(dV)
    S = pos_stride(Cg * P)
    for c in range(Cg):
        for p0 in range(0, P, L):
            n, dst, src = min(L, P - p0), c * NPOS * P + p0, c * P + p0
            for a in range(6):                         # row a of dV through B (along b): tmp[6a + l]
                _store6(tmp, 6 * a * L, L, _b6(*_load6(dV, src + 6 * a * S, S, n), k), L)
            for l in range(6):                         # column l through B (along a): DXP[6k + l]
                _store6(DXP, dst + l * P, 6 * P, _b6(*_load6(tmp, l * L, 6 * L, L), k), n)


@jit
def _row_planes(DXP, c, q, k, m0, TW, P):
    # the 4 column phases of tiles m0.. (L lanes) of tile row q, tile row k of the planes: phases 0, 1
    # plus the previous tile's phases 4, 5 (the columns two tiles share)
    L = lanes_of(DXP)
    i = (c * NPOS + 6 * k) * P + q * TW + m0
    n, lo, hi = min(L, TW - m0), 1 if m0 == 0 else 0, min(L, TW + 1 - m0)
    return (vadd(vload(DXP, i, n), vloadr(DXP, i + 4 * P - 1, lo, hi)),
            vadd(vload(DXP, i + P, n), vloadr(DXP, i + 5 * P - 1, lo, hi)),
            vload(DXP, i + 2 * P, n), vload(DXP, i + 3 * P, n))


@jit
def _store_dx(dxf, DXP, c0, Cg, H, W, th0, Rc, TW, P, ph, pw):
    # dx[c0 + c] rows of the chunk's padded rows 4*th0 + rr, rr < 4Rc + 2: each pixel the sum of the
    # tiles covering it (the adjoint of _fill_x: rows k = 4, 5 of tile row q are rows 0, 1 of q + 1),
    # re-interleaved (_zip4), padding dropped. Rows rr < 2 of a chunk after the first are added to what
    # the previous chunk stored there (its last tile row's rows 4, 5); every other row is overwritten
    L = lanes_of(DXP)
    for c in range(Cg):
        for rr in range(4 * Rc + 2):
            xr = 4 * th0 + rr - ph
            if xr < 0 or xr >= H:
                continue
            q, kk = rr // 4, rr % 4
            add = rr < 2 and th0 > 0
            dst = ((c0 + c) * H + xr) * W
            for m0 in range(0, TW + 1, L):
                z = vzeros(DXP)
                a0, a1, a2, a3 = z, z, z, z
                if q < Rc:
                    a0, a1, a2, a3 = _row_planes(DXP, c, q, kk, m0, TW, P)
                if kk < 2 and q > 0:
                    b0, b1, b2, b3 = _row_planes(DXP, c, q - 1, kk + 4, m0, TW, P)
                    a0, a1, a2, a3 = vadd(a0, b0), vadd(a1, b1), vadd(a2, b2), vadd(a3, b3)
                off = 4 * m0 - pw                                  # x column of padded column 4*m0
                if add:
                    b0, b1, b2, b3 = _load_phases(dxf, dst + off, off, W)
                    a0, a1, a2, a3 = vadd(a0, b0), vadd(a1, b1), vadd(a2, b2), vadd(a3, b3)
                vstorer(dxf, dst + off, _zip4(a0, a1, a2, a3), -off, W - off)


# ---- output tiles: Y = A^T M A, and the adjoint dM = A dY A^T -------------------------------------
@jit
def _output_transform(yf, M, tmp, YR, o0, Og, OH, OW, th0, Rc, TW, P, col0, PV, k):
    # y[o0 + o, 4(th0 + q) + i, 4tw + j] = (A^T M A)[i, j] of tile p = q*TW + tw < P, column col0 + p of M
    # (36, Og, PV) flat; rows
    # and columns past OH, OW are not stored. Per channel the rows i of all tiles go to YR (4, 4P) first
    # (re-interleaved: YR[i, 4p + j]), then each output row is one contiguous copy (masked stores of
    # the tile-row segments straight from the vectors cost 3x more: a vector spans ~3 tile rows)
    L = lanes_of(M)
    S = pos_stride(Og * PV)
    for o in range(Og):
        for p0 in range(0, P, L):
            n, src = min(L, P - p0), o * PV + col0 + p0
            for b in range(6):                         # column b through A^T: tmp[6i + b]
                y0, y1, y2, y3 = _at6(*_load6(M, src + b * S, 6 * S, n), k)
                _store4(tmp, b * L, 6 * L, y0, y1, y2, y3, L)
            for i in range(4):                         # row i through A^T: Y[i, j], lanes = tiles p0..
                vstore(YR, 4 * (i * P + p0), _zip4(*_at6(*_load6(tmp, 6 * i * L, L, L), k)), 4 * n)
        for q in range(Rc):
            for i in range(min(4, OH - 4 * (th0 + q))):
                src, dst = 4 * (i * P + q * TW), ((o0 + o) * OH + 4 * (th0 + q) + i) * OW
                for j0 in range(0, OW, L):
                    vstore(yf, dst + j0, vload(YR, src + j0, OW - j0), OW - j0)


@jit
def _fill_dy(YP, df, o0, Og, OH, OW, r0, Rc, TW, P):
    # YP (Og, 16, P) flat: YP[o, 4i + j, q*TW + tw] = dy[o0 + o, r0 + 4q + i, 4tw + j], 0 past OH, OW
    L = lanes_of(YP)
    for o in range(Og):
        for q in range(Rc):
            for i in range(4):
                r = r0 + 4 * q + i
                base = (o * 16 + 4 * i) * P + q * TW
                if r >= OH:
                    for j in range(4):
                        YP[base + j * P:base + j * P + TW] = 0
                    continue
                src = ((o0 + o) * OH + r) * OW
                for m0 in range(0, TW, L):
                    off = 4 * m0
                    p0, p1, p2, p3 = _load_phases(df, src + off, off, OW)
                    _store4(YP, base + m0, P, p0, p1, p2, p3, min(L, TW - m0))


@jit
def _output_grad_transform(dM, YP, tmp, Og, P, k):
    # dM (36, Og, P) flat: dM[6a + b, o, p] = (A dY A^T)[a, b] for the 4x4 dY = YP[o, :, p] (the adjoint
    # of _output_transform)
    L = lanes_of(dM)
    S = pos_stride(Og * P)
    for o in range(Og):
        for p0 in range(0, P, L):
            n, src, dst = min(L, P - p0), o * 16 * P + p0, o * P + p0
            for i in range(4):                         # row i of dY through A (along j): tmp[6i + b]
                _store6(tmp, 6 * i * L, L, _a6(*_load4(YP, src + 4 * i * P, P, n), k), L)
            for b in range(6):                         # column b through A (along i): dM[6a + b]
                _store6(dM, dst + b * S, 6 * S, _a6(*_load4(tmp, b * L, 6 * L, L), k), n)


# ---- the per-image kernels -------------------------------------------------------------------------
@jit
def _input_tiles(V, XP, tmp, xf, c0, Cg, H, W, th0, Rc, TW, ph, pw, col0, PV, k):
    # V[:, :, col0:col0 + Rc*TW] (V (36, Cg, PV)) = B^T d B of the chunk's tiles (tile rows th0.., input
    # channels c0..)
    P = Rc * TW
    _fill_x(XP, xf, c0, Cg, H, W, 4 * th0 - ph, Rc, TW, P + TW, pw)
    _input_transform(V, XP, tmp, Cg, TW, P, P + TW, col0, PV, k)


@jit
def _output_grad_tiles(dM, YP, tmp, df, o0, Og, OH, OW, th0, Rc, TW, k):
    # dM (36, Og, Rc*TW) = A dY A^T of the chunk's tiles (tile rows th0.., output channels o0..)
    _fill_dy(YP, df, o0, Og, OH, OW, 4 * th0, Rc, TW, Rc * TW)
    _output_grad_transform(dM, YP, tmp, Og, Rc * TW, k)


@jit
def forward_images(out, x, w2, bias, ph, pw, groups, work):
    # out (N,O,OH,OW) = conv2d(x (N,C,H,W), w2 (O, Cg*9)) + bias (O,) (size 0: none) for N images on the
    # calling thread, 3x3, stride 1, dilation 1, padding (ph, pw): each group's weights transformed once
    # for all N, the bias added to an image's channels while they are in cache; work: work_size(Cg, Og,
    # OH, OW) elements
    N, C, H, W = x.shape
    O, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    Cg, Og, TH, TW, R, PV = _geometry(C, O, OH, OW, groups)
    if TH <= 0 or TW <= 0:
        return
    U, _, XP, YR, V, MT, M, tmp = _bufs(work, Cg, Og, R, TW, PV)
    k = _consts(work)
    wf = w2.reshape(-1)
    nb = min(N, images_per_gemm(Cg, Og, TH, TW))
    for g in range(groups):
        _weight_transform(U, wf, g * Og, Og, Cg, nb == 1, k)         # U^T for the per-image GEMMs
        if nb > 1:
            for n0 in range(0, N, nb):
                _forward_several(out, x, bias, U, V, M, XP, YR, tmp, n0, min(nb, N - n0), g, Cg, Og, TH, TW, ph, pw,
                                 k)
        else:
            for n in range(N):
                _forward_chunks(out[n], x[n].reshape(-1), bias, U, V, MT, M, XP, YR, tmp, g, Cg, Og, H, W, TH, TW, R,
                                ph, pw, k)


@jit
def _forward_chunks(yn, xf, bias, UT, V, MT, M, XP, YR, tmp, g, Cg, Og, H, W, TH, TW, R, ph, pw, k):
    # group g of one image yn (O,OH,OW), chunk by chunk of R tile rows: MT[t] (P, Og) = V[t]^T @ U^T[t]
    # (the tiles as the GEMM's rows: few tiles), transposed to M; then the group's bias
    OH, OW, yf = yn.shape[1], yn.shape[2], yn.reshape(-1)
    no, yes = np.bool_(False), np.bool_(True)
    for th0 in range(0, TH, R):
        Rc = min(R, TH - th0)
        P = Rc * TW
        _input_tiles(V, XP, tmp, xf, g * Cg, Cg, H, W, th0, Rc, TW, ph, pw, 0, P, k)
        for t in range(NPOS):
            gemm_serial(_pos(MT, t, P, Og), _pos(V, t, Cg, P), _pos(UT, t, Cg, Og), yes, no, no)
        _transpose_positions(M, MT, NPOS, P, Og)
        _output_transform(yf, M, tmp, YR, g * Og, Og, OH, OW, th0, Rc, TW, P, 0, P, k)
    add_bias(yn, bias, g * Og, Og)


@jit
def _forward_several(out, x, bias, U, V, M, XP, YR, tmp, n0, m, g, Cg, Og, TH, TW, ph, pw, k):
    # group g of images n0..n0+m-1 (one chunk of tile rows each), their tiles side by side as the GEMM's
    # columns: M[t] (Og, m*TH*TW) = U[t] @ V[t], no transposes; then each image's bias
    H, W, OH, OW = x.shape[2], x.shape[3], out.shape[2], out.shape[3]
    Pi = TH * TW
    PT = m * Pi
    no = np.bool_(False)
    for i in range(m):
        _input_tiles(V, XP, tmp, x[n0 + i].reshape(-1), g * Cg, Cg, H, W, 0, TH, TW, ph, pw, i * Pi, PT, k)
    for t in range(NPOS):
        gemm_serial(_pos(M, t, Og, PT), _pos(U, t, Og, Cg), _pos(V, t, Cg, PT), no, no, no)
    for i in range(m):
        _output_transform(out[n0 + i].reshape(-1), M, tmp, YR, g * Og, Og, OH, OW, 0, TH, TW, Pi, i * Pi, PT, k)
        add_bias(out[n0 + i], bias, g * Og, Og)


@jit
def add_bias(yn, bias, o0, Og):
    # yn[o0 + o] (O,OH,OW) += bias[o0 + o], o < Og, L lanes at a time; nothing where bias has size 0 (also
    # conv2d/cpu.py's and the fused CNN step's per-image bias)
    if bias.size == 0:
        return
    L, P = lanes_of(yn), yn.shape[1] * yn.shape[2]
    yf = yn.reshape(-1)
    for o in range(o0, o0 + Og):
        b = vsplat(bias[o])
        for q in range(0, P, L):
            vstore(yf, o * P + q, vadd(vload(yf, o * P + q, min(L, P - q)), b), min(L, P - q))


@jit
def backward_images(dx, dw2, dout, x, w2, ph, pw, groups, work):
    # from dout (N,O,OH,OW) of N images on the calling thread: dx (N,C,H,W) = the input gradient
    # (overwritten) unless dx holds 0 images, dw2 (O, Cg*9) += the weight gradient unless it has size 0
    # (x (N,C,H,W) is read only for it). Per group: the weights transformed once (U) and the weight
    # gradient transformed back once (dU summed over the N images); per chunk of tile rows the output
    # gradient's tiles dM = A dY A^T once for both gradients
    N, O, OH, OW = dout.shape
    C = x.shape[1]
    Cg, Og, TH, TW, R, PV = _geometry(C, O, OH, OW, groups)
    want_dx, want_dw = dx.shape[0] > 0, dw2.size > 0
    if TH <= 0 or TW <= 0:
        if want_dx:
            dx[...] = 0
        return
    U, dU, XP, YP, V, T2, M, tmp = _bufs(work, Cg, Og, R, TW, PV)
    k = _consts(work)
    for g in range(groups):
        if want_dx:
            _weight_transform(U, w2.reshape(-1), g * Og, Og, Cg, np.bool_(False), k)
        if want_dw:
            dU[:] = 0
        for n in range(N):
            _backward_chunks(dx, dU, dout, x, U, V, T2, M, XP, YP, tmp, n, g, Cg, Og, TH, TW, R, ph, pw, want_dx,
                             want_dw, k)
        if want_dw:
            _weight_grad_transform(dw2.reshape(-1), dU, tmp, g * Og, Og, Cg, k)


@jit
def _backward_chunks(dx, dU, dout, x, U, V, T2, M, XP, YP, tmp, n, g, Cg, Og, TH, TW, R, ph, pw, want_dx, want_dw,
                     k):
    # group g of image n, chunk by chunk of R tile rows, the tiles as the GEMMs' rows (few tiles)
    H, W, OH, OW = x.shape[2], x.shape[3], dout.shape[2], dout.shape[3]
    no, yes = np.bool_(False), np.bool_(True)
    for th0 in range(0, TH, R):
        Rc = min(R, TH - th0)
        P = Rc * TW
        _output_grad_tiles(M, YP, tmp, dout[n].reshape(-1), g * Og, Og, OH, OW, th0, Rc, TW, k)
        if want_dx:                                      # dV^T[t] = dM[t].T @ U[t], dV, dd
            for t in range(NPOS):
                gemm_narrow(_pos(T2, t, P, Cg), _pos(M, t, Og, P), _pos(U, t, Og, Cg), yes, no)
            _transpose_positions(V, T2, NPOS, P, Cg)
            _input_grad_transform(XP, V, tmp, Cg, P, k)
            _store_dx(dx[n].reshape(-1), XP, g * Cg, Cg, H, W, th0, Rc, TW, P, ph, pw)
        if want_dw:                                      # V, V^T, dU[t] += dM[t] @ V^T[t]
            _input_tiles(V, XP, tmp, x[n].reshape(-1), g * Cg, Cg, H, W, th0, Rc, TW, ph, pw, 0, P, k)
            _transpose_positions(T2, V, NPOS, Cg, P)
            for t in range(NPOS):
                gemm_narrow(_pos(dU, t, Og, Cg), _pos(M, t, Og, P), _pos(T2, t, P, Cg), no, yes)


# ---- one image (conv2d/cpu.py's conv2d_image_* and the tests): the batch kernels over a batch of one --
@jit
def forward(out, x, w2, ph, pw, groups, work):
    # out (O,OH,OW) = conv2d(x (C,H,W), w2 (O, Cg*9)) for one image; work: work_size(Cg, Og, OH, OW) elements
    forward_images(out.reshape((1,) + out.shape), x.reshape((1,) + x.shape), w2, w2[0, :0], ph, pw, groups, work)


@jit
def backward_input(dx, dout, w2, ph, pw, groups, work):
    # dx (C,H,W) = the input gradient of forward for dout (O,OH,OW); dx is overwritten
    dx1 = dx.reshape((1,) + dx.shape)
    backward_images(dx1, w2[:0], dout.reshape((1,) + dout.shape), dx1, w2, ph, pw, groups, work)


@jit
def backward_weight(dw2, dout, x, ph, pw, groups, work):
    # dw2 (O, Cg*9) += the weight gradient of forward for one image: dout (O,OH,OW), x (C,H,W)
    x1 = x.reshape((1,) + x.shape)
    backward_images(x1[:0], dw2, dout.reshape((1,) + dout.shape), x1, dw2, ph, pw, groups, work)
