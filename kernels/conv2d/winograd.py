"""Winograd F(2x2, 3x3) 2-D convolution for one image (Numba, explicit SIMD from kernels/simd.py): 3x3
kernels at stride 1 and dilation 1, any zero padding, groups; forward, input gradient, weight gradient
(Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural Networks"). Every 2x2 block of outputs
is one tile, read from a 4x4 block of the zero-padded input (tiles overlap by 2 rows and 2 columns):

    Y = A^T [ (G g G^T) * (B^T d B) ] A,   * elementwise over the 16 positions t = 4a + b, so per t
    M[t] (Og, tiles) = U[t] (Og, Cg) @ V[t] (Cg, tiles)      (our GEMM, gemm_serial)
    B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]  G = [[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]]
    A^T = [[1,1,1,0],[0,1,-1,-1]]

16 products of (Cg x tiles) per tile where the direct algorithm does 36 (2.25x fewer multiplies).
The gradients are the exact adjoints: dM = A dY A^T, dV[t] = U[t]^T @ dM[t], dd = B dV B^T (scatter-
added into the overlapping input tiles, padding dropped); dU[t] = sum over tiles dM[t] @ V[t]^T,
dg = G^T dU G. A partial last tile (odd OH or OW) reads zeros and its outputs past the edge are never
stored; its gradient reads zeros there.

Vectors run along a row of tiles (tw): the padded input rows are copied de-interleaved by column
parity (simd.vunzip), XP[c, k, par, m] = xpad[c, row k, 2m + par], so the four columns 2tw..2tw+3 of
every tile of a row are the contiguous runs (even, m), (odd, m), (even, m+1), (odd, m+1); outputs and input
gradients are re-interleaved with simd.vzip. Tiles are taken in chunks of R tile rows (chunk_tile_rows)
so the scratch per call stays under WINO_MAX elements (at least one tile row); work_size gives it:
    U/dU (16, Og, Cg) | XP/dXP (Cg, 2R+2, 2, TW+1) | YP (Og, 2R, 2, TW) | V/dV (16, Cg, R*TW)
    | M/dM (16, Og, R*TW) | V^T (16, R*TW, Cg) (weight gradient) | 9 vectors of at most 16 lanes
Layouts as cpu.py: x (C,H,W), out/dout (O,OH,OW), w2 (O, Cg*9), C-contiguous; float32/float64;
integers int64. Serial: the caller parallelizes over images.
"""
import numpy as np

from .._numba import jit
from ..gemm._store import _rows8
from ..gemm.cpu import gemm_serial
from ..simd import (lanes_of, vadd, vfma, vgather, vload, vloadr, vsplat, vstore, vstorer, vtranspose8, vunzip,
                    vzeros, vzip)

WINO_MAX = 1 << 19  # scratch elements per call (2 MiB in float32; DESIGN.md: one chunk for the Net's conv2)
GRAD_TMP = 9 * 16   # 9 vectors of the weight-gradient transform, at most 16 lanes (float32, AVX-512)


# ---- geometry and scratch ------------------------------------------------------------------------
@jit
def chunk_tile_rows(Cg, Og, TH, TW):
    # tile rows per chunk: the chunk's scratch fits WINO_MAX (at least one row); chunks of equal size
    if TH <= 0:
        return 1
    per_row = 16 * (2 * Cg + Og) * TW + 4 * Cg * (TW + 1) + 4 * Og * TW
    rmax = max(1, min(TH, WINO_MAX // max(per_row, 1)))
    chunks = (TH + rmax - 1) // rmax
    return (TH + chunks - 1) // chunks


@jit
def pos_stride(n):
    # elements between the 16 positions' blocks of n elements: n rounded up to 32, plus 16, so that
    # consecutive blocks start an odd number of 64-byte lines apart (float32; 128 bytes in float64)
    # and the 16 vectors of one tile fall in different L1 sets (a 4 KiB-multiple stride, e.g. 64 x 144
    # float32, put them all in one set: the output transform ran 3.5x slower)
    return (n + 31) // 32 * 32 + 16


@jit
def work_size(Cg, Og, OH, OW):
    # elements of scratch one call of forward / backward_input / backward_weight needs
    TH, TW = max(0, (OH + 1) // 2), max(0, (OW + 1) // 2)
    R = chunk_tile_rows(Cg, Og, TH, TW)
    return (16 * pos_stride(Og * Cg) + Cg * (2 * R + 2) * 2 * (TW + 1) + Og * 4 * R * TW
            + 32 * pos_stride(Cg * R * TW) + 16 * pos_stride(Og * R * TW) + GRAD_TMP)


@jit
def _bufs(work, Cg, Og, R, TW):
    # U, XP, YP, V, M, VT, tmp: consecutive pieces of work (flat), in work_size's order
    s0 = 16 * pos_stride(Og * Cg)
    s1 = s0 + Cg * (2 * R + 2) * 2 * (TW + 1)
    s2 = s1 + Og * 4 * R * TW
    s3 = s2 + 16 * pos_stride(Cg * R * TW)
    s4 = s3 + 16 * pos_stride(Og * R * TW)
    s5 = s4 + 16 * pos_stride(Cg * R * TW)
    return work[:s0], work[s0:s1], work[s1:s2], work[s2:s3], work[s3:s4], work[s4:s5], work[s5:s5 + GRAD_TMP]


# ---- the 1-D transforms on vectors (lane-wise; a - b as vfma(b, -1, a): exact, one rounding) -----
@jit
def _bt(d0, d1, d2, d3, m1):
    # B^T d: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    return vfma(d2, m1, d0), vadd(d1, d2), vfma(d1, m1, d2), vfma(d3, m1, d1)


@jit
def _b(v0, v1, v2, v3, m1, z):
    # B v, the adjoint of _bt: (v0, v1 - v2 + v3, v1 + v2 - v0, -v3)
    return v0, vadd(vfma(v2, m1, v1), v3), vfma(v0, m1, vadd(v1, v2)), vfma(v3, m1, z)


@jit
def _at(s0, s1, s2, s3, m1):
    # A^T s: (s0 + s1 + s2, s1 - s2 - s3)
    return vadd(vadd(s0, s1), s2), vfma(vadd(s2, s3), m1, s1)


@jit
def _a(y0, y1, m1, z):
    # A y, the adjoint of _at: (y0, y0 + y1, y0 - y1, -y1)
    return y0, vadd(y0, y1), vfma(y1, m1, y0), vfma(y1, m1, z)


@jit
def _g(g0, g1, g2, m1, h, z):
    # G g: (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)
    s = vadd(g0, g2)
    return g0, vfma(vadd(s, g1), h, z), vfma(vfma(g1, m1, s), h, z), g2


@jit
def _gt(u0, u1, u2, u3, m1, h, z):
    # G^T u, the adjoint of _g: (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3)
    p = vfma(vadd(u1, u2), h, z)
    return vadd(u0, p), vfma(vfma(u2, m1, u1), h, z), vadd(p, u3)


@jit
def _store4(arr, i, stride, v0, v1, v2, v3, n):
    # arr.flat[i + k*stride : +n] = v_k for k < 4
    vstore(arr, i, v0, n)
    vstore(arr, i + stride, v1, n)
    vstore(arr, i + 2 * stride, v2, n)
    vstore(arr, i + 3 * stride, v3, n)


@jit
def _load4(arr, i, stride, n):
    # the vectors arr.flat[i + k*stride : +n], k < 4
    return vload(arr, i, n), vload(arr, i + stride, n), vload(arr, i + 2 * stride, n), vload(arr, i + 3 * stride, n)


# ---- weights: U = G g G^T, and dw2 += G^T dU G (vectors along the input channels) ----------------
@jit
def _weight_transform(U, wf, o0, Og, Cg):
    # U (16, Og, Cg) flat = G g G^T for the 3x3 g = w2[o0 + o, 9c:9c+9]; wf = w2 flat
    L, f = lanes_of(U), U.dtype.type
    m1, h, z = vsplat(f(-1)), vsplat(f(0.5)), vzeros(U)
    S = pos_stride(Og * Cg)
    for o in range(Og):
        for c0 in range(0, Cg, L):
            n, b = min(L, Cg - c0), ((o0 + o) * Cg + c0) * 9
            # columns j of g through G (rows a of G g)
            a0, a1, a2, a3 = _g(vgather(wf, b, 9, n), vgather(wf, b + 3, 9, n), vgather(wf, b + 6, 9, n), m1, h, z)
            b0, b1, b2, b3 = _g(vgather(wf, b + 1, 9, n), vgather(wf, b + 4, 9, n), vgather(wf, b + 7, 9, n), m1, h, z)
            c0_, c1, c2, c3 = _g(vgather(wf, b + 2, 9, n), vgather(wf, b + 5, 9, n), vgather(wf, b + 8, 9, n), m1, h, z)
            # rows of G g through G^T: U[4a + k]
            i = o * Cg + c0
            u0, u1, u2, u3 = _g(a0, b0, c0_, m1, h, z)
            _store4(U, i, S, u0, u1, u2, u3, n)
            u0, u1, u2, u3 = _g(a1, b1, c1, m1, h, z)
            _store4(U, i + 4 * S, S, u0, u1, u2, u3, n)
            u0, u1, u2, u3 = _g(a2, b2, c2, m1, h, z)
            _store4(U, i + 8 * S, S, u0, u1, u2, u3, n)
            u0, u1, u2, u3 = _g(a3, b3, c3, m1, h, z)
            _store4(U, i + 12 * S, S, u0, u1, u2, u3, n)


@jit
def _weight_grad_transform(dwf, dU, tmp, o0, Og, Cg):
    # dw2[o0 + o, 9c:9c+9] += G^T dU G for dU (16, Og, Cg) flat; dwf = dw2 flat; tmp: 9 vectors
    L, f = lanes_of(dU), dU.dtype.type
    m1, h, z = vsplat(f(-1)), vsplat(f(0.5)), vzeros(dU)
    S = pos_stride(Og * Cg)
    for o in range(Og):
        for c0 in range(0, Cg, L):
            n, i = min(L, Cg - c0), o * Cg + c0
            # rows a of dU through G along b: r[a][j]
            d0, d1, d2, d3 = _load4(dU, i, S, n)
            r00, r01, r02 = _gt(d0, d1, d2, d3, m1, h, z)
            d0, d1, d2, d3 = _load4(dU, i + 4 * S, S, n)
            r10, r11, r12 = _gt(d0, d1, d2, d3, m1, h, z)
            d0, d1, d2, d3 = _load4(dU, i + 8 * S, S, n)
            r20, r21, r22 = _gt(d0, d1, d2, d3, m1, h, z)
            d0, d1, d2, d3 = _load4(dU, i + 12 * S, S, n)
            r30, r31, r32 = _gt(d0, d1, d2, d3, m1, h, z)
            # columns j through G along a: dg[k][j] to tmp[(3k + j) * L]
            for j in range(3):
                col = (r00, r10, r20, r30) if j == 0 else ((r01, r11, r21, r31) if j == 1 else (r02, r12, r22, r32))
                e0, e1, e2 = _gt(col[0], col[1], col[2], col[3], m1, h, z)
                vstore(tmp, j * L, e0, n)
                vstore(tmp, (3 + j) * L, e1, n)
                vstore(tmp, (6 + j) * L, e2, n)
            b = ((o0 + o) * Cg + c0) * 9
            for q in range(n):                               # channel c0 + q's 9 values
                if L >= 9:                                   # one vector (float32 with AVX-512)
                    _add_row(dwf, b + q * 9, vgather(tmp, q, L, 9), 9)
                else:
                    for k in range(9):
                        dwf[b + q * 9 + k] += tmp[k * L + q]


# ---- input tiles: XP fill, V = B^T d B, and the adjoint dd = B dV B^T ------------------------------
@jit
def _fill_x(XP, xf, c0, Cg, H, W, r0, K2, rows, TW1, pw):
    # XP (Cg, K2, 2, TW1) flat, rows k < rows: XP[c, k, par, m] = x[c0 + c, r0 + k, 2m + par - pw], 0 outside x;
    # 2L columns of a row per step, masked to the image (vloadr) and split by parity (vunzip)
    L = lanes_of(XP)
    for c in range(Cg):
        for k in range(rows):
            r = r0 + k
            base = (c * K2 + k) * 2 * TW1
            if r < 0 or r >= H:
                XP[base:base + 2 * TW1] = 0
                continue
            src = ((c0 + c) * H + r) * W
            for m0 in range(0, TW1, L):
                n, off = min(L, TW1 - m0), 2 * m0 - pw               # x column of padded column 2*m0
                a = vloadr(xf, src + off, max(0, -off), min(L, W - off))
                b = vloadr(xf, src + off + L, max(0, -off - L), min(L, W - off - L))
                vstore(XP, base + m0, vunzip(a, b, 0), n)
                vstore(XP, base + TW1 + m0, vunzip(a, b, 1), n)


@jit
def _input_transform(V, XP, Cg, Rc, TW, K2, P):
    # V (16, Cg, P) flat: V[4a + b, c, q*TW + tw] = (B^T d B)[a, b], d = XP's 4x4 tile at rows 2q..2q+3,
    # padded columns 2tw..2tw+3 of channel c (q < Rc tile rows)
    L, f = lanes_of(V), V.dtype.type
    m1 = vsplat(f(-1))
    TW1 = TW + 1
    RS = 2 * TW1                                     # XP row stride
    S = pos_stride(Cg * P)                           # V position stride
    for c in range(Cg):
        for q in range(Rc):
            r = (c * K2 + 2 * q) * RS
            for m0 in range(0, TW, L):
                n = min(L, TW - m0)
                e, o = r + m0, r + TW1 + m0            # even / odd columns of the tile's first row
                # the four columns (even m, odd m, even m+1, odd m+1) through B^T along the rows
                a0, a1, a2, a3 = _bt(*_load4(XP, e, RS, n), m1)
                b0, b1, b2, b3 = _bt(*_load4(XP, o, RS, n), m1)
                c0, c1, c2, c3 = _bt(*_load4(XP, e + 1, RS, n), m1)
                d0, d1, d2, d3 = _bt(*_load4(XP, o + 1, RS, n), m1)
                i = c * P + q * TW + m0
                v0, v1, v2, v3 = _bt(a0, b0, c0, d0, m1)
                _store4(V, i, S, v0, v1, v2, v3, n)
                v0, v1, v2, v3 = _bt(a1, b1, c1, d1, m1)
                _store4(V, i + 4 * S, S, v0, v1, v2, v3, n)
                v0, v1, v2, v3 = _bt(a2, b2, c2, d2, m1)
                _store4(V, i + 8 * S, S, v0, v1, v2, v3, n)
                v0, v1, v2, v3 = _bt(a3, b3, c3, d3, m1)
                _store4(V, i + 12 * S, S, v0, v1, v2, v3, n)


@jit
def _add_row(arr, i, v, n):
    # arr.flat[i : i+n] += v
    vstore(arr, i, vadd(vload(arr, i, n), v), n)


@jit
def _input_grad_transform(DXP, dV, Cg, Rc, TW, K2, P):
    # DXP (Cg, K2, 2, TW+1) flat += B dV B^T of every tile (the adjoint of _input_transform); tiles overlap,
    # so the columns m+1 are added after the columns m (each pass a plain read-add-write of a run)
    L, f = lanes_of(dV), dV.dtype.type
    m1, z = vsplat(f(-1)), vzeros(dV)
    TW1 = TW + 1
    RS = 2 * TW1
    S = pos_stride(Cg * P)
    for c in range(Cg):
        for q in range(Rc):
            r = (c * K2 + 2 * q) * RS
            for m0 in range(0, TW, L):
                n, i = min(L, TW - m0), c * P + q * TW + m0
                # rows a of dV through B along b: column l of row a
                a0, a1, a2, a3 = _b(*_load4(dV, i, S, n), m1, z)
                b0, b1, b2, b3 = _b(*_load4(dV, i + 4 * S, S, n), m1, z)
                c0, c1, c2, c3 = _b(*_load4(dV, i + 8 * S, S, n), m1, z)
                d0, d1, d2, d3 = _b(*_load4(dV, i + 12 * S, S, n), m1, z)
                for l in range(4):
                    col = (a0, b0, c0, d0) if l == 0 else ((a1, b1, c1, d1) if l == 1 else
                                                          ((a2, b2, c2, d2) if l == 2 else (a3, b3, c3, d3)))
                    k0, k1, k2, k3 = _b(col[0], col[1], col[2], col[3], m1, z)
                    j = r + (l % 2) * TW1 + m0 + l // 2          # column l: parity l % 2, run start m + l // 2
                    _add_row(DXP, j, k0, n)
                    _add_row(DXP, j + RS, k1, n)
                    _add_row(DXP, j + 2 * RS, k2, n)
                    _add_row(DXP, j + 3 * RS, k3, n)


@jit
def _store_dx(dxf, DXP, c0, Cg, H, W, r0, K2, k_lo, k_hi, TW1, pw):
    # dx[c0 + c, r0 + k, :] = DXP rows k in [k_lo, k_hi), re-interleaved, padding dropped
    L = lanes_of(DXP)
    for c in range(Cg):
        for k in range(k_lo, k_hi):
            r = r0 + k
            if r < 0 or r >= H:
                continue
            e = (c * K2 + k) * 2 * TW1
            for m0 in range(0, TW1, L):
                n, x0 = min(L, TW1 - m0), 2 * m0 - pw               # padded column 2*m0 is x column x0
                row = vzip(vload(DXP, e + m0, n), vload(DXP, e + TW1 + m0, n))
                vstorer(dxf, ((c0 + c) * H + r) * W + x0, row, max(0, -x0), max(0, min(2 * n, W - x0)))


# ---- output tiles: Y = A^T M A, and the adjoint dM = A dY A^T -------------------------------------
@jit
def _output_transform(yf, M, o0, Og, OH, OW, th0, Rc, TW, P):
    # y[o0 + o, 2(th0 + q) + i, 2tw + j] = (A^T M A)[i, j] of tile (q, tw), M (16, Og, P) flat; rows and
    # columns past OH, OW are not stored
    L, f = lanes_of(M), M.dtype.type
    m1 = vsplat(f(-1))
    S = pos_stride(Og * P)
    for o in range(Og):
        for q in range(Rc):
            oh = 2 * (th0 + q)
            for m0 in range(0, TW, L):
                n, i = min(L, TW - m0), o * P + q * TW + m0
                # columns b of M through A^T along a
                a0, a1 = _at(*_load4(M, i, 4 * S, n), m1)
                b0, b1 = _at(*_load4(M, i + S, 4 * S, n), m1)
                c0, c1 = _at(*_load4(M, i + 2 * S, 4 * S, n), m1)
                d0, d1 = _at(*_load4(M, i + 3 * S, 4 * S, n), m1)
                nn, y = min(2 * n, OW - 2 * m0), ((o0 + o) * OH + oh) * OW + 2 * m0
                y0, y1 = _at(a0, b0, c0, d0, m1)
                vstore(yf, y, vzip(y0, y1), nn)
                if oh + 1 < OH:
                    y0, y1 = _at(a1, b1, c1, d1, m1)
                    vstore(yf, y + OW, vzip(y0, y1), nn)


@jit
def _fill_dy(YP, df, o0, Og, OH, OW, r0, K2, rows, TW):
    # YP (Og, K2, 2, TW) flat, rows k < rows: YP[o, k, par, m] = dy[o0 + o, r0 + k, 2m + par], 0 past OH, OW
    L = lanes_of(YP)
    for o in range(Og):
        for k in range(rows):
            r = r0 + k
            base = (o * K2 + k) * 2 * TW
            if r >= OH:
                YP[base:base + 2 * TW] = 0
                continue
            src = ((o0 + o) * OH + r) * OW
            for m0 in range(0, TW, L):
                n, off = min(L, TW - m0), 2 * m0
                a = vload(df, src + off, max(0, min(L, OW - off)))
                b = vload(df, src + off + L, max(0, min(L, OW - off - L)))
                vstore(YP, base + m0, vunzip(a, b, 0), n)
                vstore(YP, base + TW + m0, vunzip(a, b, 1), n)


@jit
def _output_grad_transform(dM, YP, Og, Rc, TW, K2, P):
    # dM (16, Og, P) flat: dM[4a + b, o, q*TW + tw] = (A dY A^T)[a, b], dY = YP's 2x2 tile (rows 2q, 2q+1,
    # columns 2tw, 2tw+1) of channel o (the adjoint of _output_transform)
    L, f = lanes_of(dM), dM.dtype.type
    m1, z = vsplat(f(-1)), vzeros(dM)
    RS = 2 * TW
    S = pos_stride(Og * P)
    for o in range(Og):
        for q in range(Rc):
            r = (o * K2 + 2 * q) * RS
            for m0 in range(0, TW, L):
                n = min(L, TW - m0)
                e0, o0 = vload(YP, r + m0, n), vload(YP, r + TW + m0, n)
                e1, o1 = vload(YP, r + RS + m0, n), vload(YP, r + RS + TW + m0, n)
                a0, a1, a2, a3 = _a(e0, e1, m1, z)     # even column through A along the rows
                b0, b1, b2, b3 = _a(o0, o1, m1, z)     # odd column
                i = o * P + q * TW + m0
                v0, v1, v2, v3 = _a(a0, b0, m1, z)
                _store4(dM, i, S, v0, v1, v2, v3, n)
                v0, v1, v2, v3 = _a(a1, b1, m1, z)
                _store4(dM, i + 4 * S, S, v0, v1, v2, v3, n)
                v0, v1, v2, v3 = _a(a2, b2, m1, z)
                _store4(dM, i + 8 * S, S, v0, v1, v2, v3, n)
                v0, v1, v2, v3 = _a(a3, b3, m1, z)
                _store4(dM, i + 12 * S, S, v0, v1, v2, v3, n)


@jit
def _transpose_positions(VT, V, npos, Cg, P):
    # VT (npos, P, Cg) = V (npos, Cg, P) transposed per position, 8x8 blocks in registers: the weight
    # gradient's GEMMs then run dM[t] @ VT[t] on the axpy tiles (nn) instead of dot tiles (nt: their lane
    # sums cost as much as the products at K = tiles ~ 100); winograd4.py transposes its GEMM outputs too
    S = pos_stride(Cg * P)
    for t in range(npos):
        for c0 in range(0, Cg, 8):
            mv = min(8, Cg - c0)
            for p0 in range(0, P, 8):
                n = min(8, P - p0)
                cols = vtranspose8(_rows8(V, t * S + c0 * P + p0, P, mv, n))
                for j in range(n):
                    vstore(VT, t * S + (p0 + j) * Cg + c0, cols[j], mv)


# ---- the per-image kernels -------------------------------------------------------------------------
@jit
def _pos(buf, t, rows, cols):
    # position t's (rows, cols) block of buf (16 blocks pos_stride(rows * cols) apart, flat)
    S = pos_stride(rows * cols)
    return buf[t * S:t * S + rows * cols].reshape(rows, cols)


@jit
def _geometry(C, O, OH, OW, groups):
    # channels per group, tile rows and columns, tile rows per chunk
    Cg, Og, TH, TW = C // groups, O // groups, (OH + 1) // 2, (OW + 1) // 2
    return Cg, Og, TH, TW, chunk_tile_rows(Cg, Og, max(TH, 0), max(TW, 0))


@jit
def _input_tiles(V, XP, xf, c0, Cg, H, W, th0, Rc, R, TW, ph, pw):
    # V (16, Cg, Rc*TW) = B^T d B of the chunk's tiles (tile rows th0.., input channels c0..)
    _fill_x(XP, xf, c0, Cg, H, W, 2 * th0 - ph, 2 * R + 2, 2 * Rc + 2, TW + 1, pw)
    _input_transform(V, XP, Cg, Rc, TW, 2 * R + 2, Rc * TW)


@jit
def _output_grad_tiles(dM, YP, df, o0, Og, OH, OW, th0, Rc, R, TW):
    # dM (16, Og, Rc*TW) = A dY A^T of the chunk's tiles (tile rows th0.., output channels o0..)
    _fill_dy(YP, df, o0, Og, OH, OW, 2 * th0, 2 * R, 2 * Rc, TW)
    _output_grad_transform(dM, YP, Og, Rc, TW, 2 * R, Rc * TW)


@jit
def forward(out, x, w2, ph, pw, groups, work):
    # out (O,OH,OW) = conv2d(x (C,H,W), w2 (O, Cg*9)) for one image, 3x3, stride 1, dilation 1, padding
    # (ph, pw); work: work_size(Cg, Og, OH, OW) elements
    C, H, W = x.shape
    O, OH, OW = out.shape
    Cg, Og, TH, TW, R = _geometry(C, O, OH, OW, groups)
    if TH <= 0 or TW <= 0:
        return
    U, XP, _, V, M, _, _ = _bufs(work, Cg, Og, R, TW)
    xf, yf, wf = x.reshape(-1), out.reshape(-1), w2.reshape(-1)
    no, yes = np.bool_(False), np.bool_(True)  # runtime GEMM flags: one gemm_serial for all uses
    for g in range(groups):
        _weight_transform(U, wf, g * Og, Og, Cg)
        for th0 in range(0, TH, R):
            Rc = min(R, TH - th0)
            P = Rc * TW
            _input_tiles(V, XP, xf, g * Cg, Cg, H, W, th0, Rc, R, TW, ph, pw)
            for t in range(16):
                gemm_serial(_pos(M, t, Og, P), _pos(U, t, Og, Cg), _pos(V, t, Cg, P), no, no, no)
            _output_transform(yf, M, g * Og, Og, OH, OW, th0, Rc, TW, P)


@jit
def backward_input(dx, dout, w2, ph, pw, groups, work):
    # dx (C,H,W) = the input gradient of forward for dout (O,OH,OW); dx is overwritten
    C, H, W = dx.shape
    O, OH, OW = dout.shape
    Cg, Og, TH, TW, R = _geometry(C, O, OH, OW, groups)
    if TH <= 0 or TW <= 0:
        dx[...] = 0
        return
    K2, TW1, RS = 2 * R + 2, TW + 1, 2 * (TW + 1)
    U, DXP, YP, dV, dM, _, _ = _bufs(work, Cg, Og, R, TW)
    dxf, df, wf = dx.reshape(-1), dout.reshape(-1), w2.reshape(-1)
    no, yes = np.bool_(False), np.bool_(True)  # runtime GEMM flags: one gemm_serial for all uses
    for g in range(groups):
        _weight_transform(U, wf, g * Og, Og, Cg)
        DXP[:] = 0
        for th0 in range(0, TH, R):
            Rc = min(R, TH - th0)
            P = Rc * TW
            _output_grad_tiles(dM, YP, df, g * Og, Og, OH, OW, th0, Rc, R, TW)
            for t in range(16):
                gemm_serial(_pos(dV, t, Cg, P), _pos(U, t, Og, Cg), _pos(dM, t, Og, P), yes, no, no)
            _input_grad_transform(DXP, dV, Cg, Rc, TW, K2, P)
            last = th0 + Rc == TH
            # padded rows 2*th0 + k, k < 2Rc, are final (the next chunk starts at k = 2Rc); the last
            # chunk's 2 extra rows too
            _store_dx(dxf, DXP, g * Cg, Cg, H, W, 2 * th0 - ph, K2, 0, 2 * Rc + 2 if last else 2 * Rc, TW1, pw)
            if not last:
                for c in range(Cg):                            # carry rows 2Rc, 2Rc + 1 to rows 0, 1
                    b = c * K2 * RS
                    DXP[b:b + 2 * RS] = DXP[b + 2 * Rc * RS:b + (2 * Rc + 2) * RS]
                    DXP[b + 2 * RS:b + K2 * RS] = 0


@jit
def backward_weight(dw2, dout, x, ph, pw, groups, work):
    # dw2 (O, Cg*9) += the weight gradient of forward for one image: dout (O,OH,OW), x (C,H,W)
    C, H, W = x.shape
    O, OH, OW = dout.shape
    Cg, Og, TH, TW, R = _geometry(C, O, OH, OW, groups)
    if TH <= 0 or TW <= 0:
        return
    dU, XP, YP, V, dM, VT, tmp = _bufs(work, Cg, Og, R, TW)
    xf, df, dwf = x.reshape(-1), dout.reshape(-1), dw2.reshape(-1)
    no, yes = np.bool_(False), np.bool_(True)  # runtime GEMM flags: one gemm_serial for all uses
    for g in range(groups):
        dU[:] = 0
        for th0 in range(0, TH, R):
            Rc = min(R, TH - th0)
            P = Rc * TW
            _input_tiles(V, XP, xf, g * Cg, Cg, H, W, th0, Rc, R, TW, ph, pw)
            _output_grad_tiles(dM, YP, df, g * Og, Og, OH, OW, th0, Rc, R, TW)
            _transpose_positions(VT, V, 16, Cg, P)
            for t in range(16):                                  # dU[t] += dM[t] @ V[t].T
                gemm_serial(_pos(dU, t, Og, Cg), _pos(dM, t, Og, P), _pos(VT, t, P, Cg), no, no, yes)
        _weight_grad_transform(dwf, dU, tmp, g * Og, Og, Cg)
