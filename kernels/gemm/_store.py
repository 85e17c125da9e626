"""Tile I/O for the GEMM register tiles (_micro.py): B-panel and A micro-panel packing, write-back, masked at edges."""
from .._numba import jit
from ..simd import lanes_of, v8, vadd, vgather, vload, vstore, vtranspose8


@jit
def put2(out, o, v0, v1, n0, n1, acc):
    # out[o : o+n0] (=|+=) v0[:n0]; out[o+W : o+W+n1] (=|+=) v1[:n1]  (out 1-D, W = lanes)
    W = lanes_of(out)
    if acc:
        v0 = vadd(v0, vload(out, o, n0))
        v1 = vadd(v1, vload(out, o + W, n1))
    vstore(out, o, v0, n0)
    vstore(out, o + W, v1, n1)


@jit
def put1(out, o, x, acc):
    # out[o] (=|+=) x  (out 1-D)
    if acc:
        out[o] += x
    else:
        out[o] = x


@jit
def pack_panel(bp, b, bo, ldb, kc, nv):
    # bp[p*2W : (p+1)*2W] = b[bo + p*ldb : ... + nv] zero-padded to 2W lanes, p < kc (bp (kc, 2W) flat):
    # one contiguous panel, so the tile's loads never alias in L1 or miss the TLB whatever ldb is
    W = lanes_of(bp)
    n0, n1 = min(nv, W), nv - W
    for p in range(kc):
        q, o = bo + p * ldb, p * 2 * W
        vstore(bp, o, vload(b, q, n0), W)
        vstore(bp, o + W, vload(b, q + W, n1), W)


@jit
def pack_panel_t(bp, b, bo, ldb, kc, nv):
    # bp[p*2W + j] = b[bo + j*ldb + p] for j < nv (zero-padded to 2W lanes), p < kc: the (kc, 2W) panel
    # of B = b.T for a row-major b (N,K) (matmul_nt), one strided column gather per vector
    W = lanes_of(bp)
    n0, n1 = min(nv, W), nv - W
    for p in range(kc):
        o = p * 2 * W
        vstore(bp, o, vgather(b, bo + p, ldb, n0), W)
        vstore(bp, o + W, vgather(b, bo + W * ldb + p, ldb, n1), W)


@jit
def pack_a(ap, po, a, ao, sai, sap, kc, mv, MR):
    # ap[po + p*MR + i] = a.flat[ao + i*sai + p*sap] for i < mv (rows mv..MR-1 zero), p < kc: one MR-row
    # micro-panel of A, k-major, for the packed axpy tiles. With MR == 8: tn (sai == 1) is one masked
    # 8-lane load per k; nn (sap == 1) loads 8 k of each of the 8 rows and transposes the 8x8 block in
    # registers (~0.1 ns per element, against 0.4 for gathers and 0.7 for scalar copies). Other MR
    # copy scalars along a's contiguous axis
    if MR == 8 and sai == 1:
        for p in range(kc):
            vstore(ap, po + p * 8, v8.vload(a, ao + p * sap, mv), 8)
    elif MR == 8:
        for p0 in range(0, kc, 8):
            cols = vtranspose8(_rows8(a, ao + p0, sai, mv, kc - p0))
            for j in range(min(8, kc - p0)):
                vstore(ap, po + (p0 + j) * 8, cols[j], 8)
    elif sai == 1:
        for p in range(kc):
            for i in range(MR):
                ap[po + p * MR + i] = a[ao + p * sap + i] if i < mv else 0
    else:
        for i in range(MR):
            r = ao + min(i, mv - 1) * sai
            for p in range(kc):
                ap[po + p * MR + i] = a[r + p * sap] if i < mv else 0


@jit
def _rows8(a, o, s, mv, n):
    # rows i < 8 of an 8x8 block: lanes j < n of a.flat[o + i*s + j] for rows i < mv, zeros below
    return (v8.vload(a, o, n),
            v8.vload(a, o + s, n if mv > 1 else 0), v8.vload(a, o + 2 * s, n if mv > 2 else 0),
            v8.vload(a, o + 3 * s, n if mv > 3 else 0), v8.vload(a, o + 4 * s, n if mv > 4 else 0),
            v8.vload(a, o + 5 * s, n if mv > 5 else 0), v8.vload(a, o + 6 * s, n if mv > 6 else 0),
            v8.vload(a, o + 7 * s, n if mv > 7 else 0))
