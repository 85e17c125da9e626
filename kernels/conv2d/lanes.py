"""2-D convolution over a chunk of up to L images held as SIMD lanes (Numba, explicit SIMD from
kernels/simd.py): forward, input gradient, weight and bias gradients, any stride, zero padding and
dilation, groups 1. The fused CNN step runs small-plane networks (LeNet-5) in this layout from its
input to its features (kernels/fused_cnn/lanes.py): a LeNet conv2 image's 10-wide output rows fill 10 of
16 float32 lanes in conv2d/direct.py and its per-image GEMMs are 16 x 100 x 150 (conv2d/images.py); here
every vector holds one value of L images and every tile is whole, at 107-117 GFLOP/s (DESIGN.md).

Lane region: one chunk's (C, H, W) tensor stored (C, H + 2ph, W + 2pw, L) C-contiguous, flat: element
(c, h, w) of the chunk's image l at ((c*(H + 2ph) + h + ph)*(W + 2pw) + w + pw)*L + l. The border
(ph, pw) is the zero padding of the conv that reads the region: nothing but to_lanes writes it, so it
stays 0; lanes past the chunk's images hold zeros in the input and finite values after it (their
gradients stay 0: to_lanes zero-fills them in d loss / d features).

A conv is a GEMM over taps t = (c, i, j) and output positions p = (oh, ow):
    out[o, p] = bias[o] + sum_t w2[o, t] * x[pos[p] + tap[t]]      (pos, tap: offsets(), in elements)
forward: a register tile of RT output channels x 4 positions (4 vector loads and RT broadcasts feed
4*RT FMAs per tap); weight gradient: RT channels x 4 taps summed over the positions, lanes summed at the
end; input gradient: RT taps x 4 positions summed over the output channels, each sum added into its
input element (dx = the scatter of w2^T @ dout: no zero taps computed, unlike a full correlation of a
padded dout). RT = 4 with AVX-512's 32 vector registers, 2 with AVX2's 16; a tile past the end repeats
its last row or column (computed, never stored), except a last tile of 2 rows, which computes 2.
"""
import numpy as np
from numba import prange

from .._numba import jit, pjit
from ..simd import VEC_BYTES, lanes_of, v8, vadd, vbroadcast, vfma, vload, vsplat, vstore, vsum, vtranspose8, vzeros

RT = 4 if VEC_BYTES == 64 else 2   # tile rows (channels or taps); 4 columns


@jit
def region_size(C, H, W, ph, pw, L):
    # elements of a lane region of L lanes
    return C * (H + 2 * ph) * (W + 2 * pw) * L


@jit
def _row8(v, base, stride, k0, count, n):
    # the 8-lane vectors v8.vload(v, base + k*stride, n) for k = k0 .. k0+7; zeros for k >= count
    z = v8.vzeros(v)
    return (v8.vload(v, base + k0 * stride, n) if k0 < count else z,
            v8.vload(v, base + (k0 + 1) * stride, n) if k0 + 1 < count else z,
            v8.vload(v, base + (k0 + 2) * stride, n) if k0 + 2 < count else z,
            v8.vload(v, base + (k0 + 3) * stride, n) if k0 + 3 < count else z,
            v8.vload(v, base + (k0 + 4) * stride, n) if k0 + 4 < count else z,
            v8.vload(v, base + (k0 + 5) * stride, n) if k0 + 5 < count else z,
            v8.vload(v, base + (k0 + 6) * stride, n) if k0 + 6 < count else z,
            v8.vload(v, base + (k0 + 7) * stride, n) if k0 + 7 < count else z)


@jit
def _zero_border(xl, C, H, W, ph, pw):
    # the border of a lane region, zero-filled
    L, Hp, Wp = lanes_of(xl), H + 2 * ph, W + 2 * pw
    for c in range(C):
        top = c * Hp * Wp * L
        xl[top:top + ph * Wp * L] = 0
        xl[top + (ph + H) * Wp * L:top + Hp * Wp * L] = 0
        for h in range(ph, ph + H):
            row = top + h * Wp * L
            xl[row:row + pw * L] = 0
            xl[row + (pw + W) * L:row + Wp * L] = 0


@jit
def to_lanes(xl, x, ph, pw):
    # xl (region of x's (C,H,W) with border ph, pw) = x (nb,C,H,W), nb <= L images in lanes 0..nb-1; the
    # border and lanes nb..L-1 are zero-filled (the whole region is written). x C-contiguous. 8x8 blocks
    # (8 images x 8 columns) transposed in registers (simd.vtranspose8: the element-by-element loop below
    # took 2-3x as long at LeNet's conv2), element by element where L is not a multiple of 8
    nb, C, H, W = x.shape
    L, Hp, Wp = lanes_of(xl), H + 2 * ph, W + 2 * pw
    _zero_border(xl, C, H, W, ph, pw)
    if L % 8 == 0:
        xf, CHW = x.reshape(-1), C * H * W
        for l0 in range(0, L, 8):
            for c in range(C):
                for h in range(H):
                    src, dst = (c * H + h) * W, ((c * Hp + h + ph) * Wp + pw) * L + l0
                    for w0 in range(0, W, 8):
                        n = min(8, W - w0)
                        cols = vtranspose8(_row8(xf, src + w0, CHW, l0, nb, n))
                        for j in range(n):
                            v8.vstore(xl, dst + (w0 + j) * L, cols[j], 8)
        return
    for l in range(L):
        for c in range(C):
            for h in range(H):
                base = ((c * Hp + h + ph) * Wp + pw) * L + l
                for w in range(W):
                    xl[base + w * L] = x[l, c, h, w] if l < nb else 0


@jit
def from_lanes(x, xl, ph, pw):
    # x (nb,C,H,W) = lanes 0..nb-1 of the lane region xl (border ph, pw), the border left out; as to_lanes
    nb, C, H, W = x.shape
    L, Hp, Wp = lanes_of(xl), H + 2 * ph, W + 2 * pw
    if L % 8 == 0:
        xf, CHW = x.reshape(-1), C * H * W
        for l0 in range(0, nb, 8):
            for c in range(C):
                for h in range(H):
                    src, dst = ((c * Hp + h + ph) * Wp + pw) * L + l0, (c * H + h) * W
                    for w0 in range(0, W, 8):
                        n = min(8, W - w0)
                        cols = vtranspose8(_row8(xl, src + w0 * L, L, 0, n, 8))
                        for k in range(min(8, nb - l0)):
                            v8.vstore(xf, (l0 + k) * CHW + dst + w0, cols[k], n)
        return
    for l in range(nb):
        xi = x[l]
        for c in range(C):
            for h in range(H):
                base = ((c * Hp + h + ph) * Wp + pw) * L + l
                for w in range(W):
                    xi[c, h, w] = xl[base + w * L]


@jit
def offsets(pos, tap, opos, C, H, W, ph, pw, KH, KW, sh, sw, dh, dw, OH, OW, oph, opw, L):
    # pos (OH*OW,): offset of output p's window corner in the input region (border ph, pw); tap
    # (C*KH*KW,): offset of tap (c, i, j) from it; opos (OH*OW,): offset of output p in its channel's
    # plane of the output region (border oph, opw)
    Wp, OWp = W + 2 * pw, OW + 2 * opw
    for oh in range(OH):
        for ow in range(OW):
            pos[oh * OW + ow] = (oh * sh * Wp + ow * sw) * L
            opos[oh * OW + ow] = ((oh + oph) * OWp + ow + opw) * L
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                tap[(c * KH + i) * KW + j] = ((c * (H + 2 * ph) + i * dh) * Wp + j * dw) * L


@jit
def _four(idx, k0, n):
    # idx[k0], idx[k0+1], idx[k0+2], idx[k0+3], an index past n - 1 repeating idx[n - 1]
    return idx[k0], idx[min(k0 + 1, n - 1)], idx[min(k0 + 2, n - 1)], idx[min(k0 + 3, n - 1)]


@jit
def _loads(v, b, q):
    # the 4 vectors at v.flat[b[k] + q]
    L = lanes_of(v)
    return vload(v, b[0] + q, L), vload(v, b[1] + q, L), vload(v, b[2] + q, L), vload(v, b[3] + q, L)


@jit
def _fma4(s, x, a):
    # a[k] + s * x[k] for the 4 columns of a tile row
    return vfma(s, x[0], a[0]), vfma(s, x[1], a[1]), vfma(s, x[2], a[2]), vfma(s, x[3], a[3])


@jit
def _store4(v, b, q, a, n):
    # v.flat[b[k] + q] = a[k] for the first n columns
    L = lanes_of(v)
    for k in range(n):
        vstore(v, b[k] + q, a[k], L)


@jit
def _add4(v, b, q, a, n):
    # v.flat[b[k] + q] += a[k] for the first n columns, one after the other (entries may coincide)
    L = lanes_of(v)
    for k in range(n):
        vstore(v, b[k] + q, vadd(vload(v, b[k] + q, L), a[k]), L)


@jit
def _row_of(r, a0, a1, a2, a3):
    # tile row r (< RT) of the accumulators
    if r == 0:
        return a0
    if r == 1:
        return a1
    return a2 if r == 2 else a3


@jit
def forward(ol, xl, w2, bias, pos, tap, opos, plane):
    # ol[o*plane + opos[p]] = bias[o] + sum_t w2[o, t] * xl[pos[p] + tap[t]] (L lanes) for the O x P
    # outputs; w2 (O, CKK), bias (O,) (size 0: none); tile RT channels x 4 positions
    O, CKK = w2.shape
    P, wf = pos.size, w2.reshape(-1)
    for o0 in range(0, O, RT):
        o1, o2, o3 = min(o0 + 1, O - 1), min(o0 + 2, O - 1), min(o0 + 3, O - 1)
        z = vzeros(ol)
        if bias.size > 0:
            z0, z1, z2, z3 = vsplat(bias[o0]), vsplat(bias[o1]), vsplat(bias[o2]), vsplat(bias[o3])
        else:
            z0 = z1 = z2 = z3 = z
        for p0 in range(0, P, 4):
            b = _four(pos, p0, P)
            a0, a1, a2, a3 = (z0, z0, z0, z0), (z1, z1, z1, z1), (z2, z2, z2, z2), (z3, z3, z3, z3)
            for t in range(CKK):
                x = _loads(xl, b, tap[t])
                a0 = _fma4(vbroadcast(wf, o0 * CKK + t), x, a0)
                a1 = _fma4(vbroadcast(wf, o1 * CKK + t), x, a1)
                if RT == 4 and o0 + 2 < O:      # (a last tile of 2 channels: 6 of LeNet's conv1)
                    a2 = _fma4(vbroadcast(wf, o2 * CKK + t), x, a2)
                    a3 = _fma4(vbroadcast(wf, o3 * CKK + t), x, a3)
            ob, n = _four(opos, p0, P), min(4, P - p0)
            for r in range(min(RT, O - o0)):
                _store4(ol, ob, (o0 + r) * plane, _row_of(r, a0, a1, a2, a3), n)


@jit
def backward_weight(dw2, db, dl, xl, pos, tap, opos, plane):
    # dw2 (O, CKK) += sum over positions p and lanes of dl[o*plane + opos[p]] * xl[pos[p] + tap[t]];
    # db (O,) += sum over p and lanes of dl[o*plane + opos[p]] (size 0: none); tile RT channels x 4 taps
    O, CKK = dw2.shape
    P, df = pos.size, dw2.reshape(-1)
    L = lanes_of(dl)
    for o0 in range(0, O, RT):
        d0, d1 = o0 * plane, min(o0 + 1, O - 1) * plane
        d2, d3 = min(o0 + 2, O - 1) * plane, min(o0 + 3, O - 1) * plane
        for t0 in range(0, CKK, 4):
            q = _four(tap, t0, CKK)
            z = vzeros(dl)
            a0 = a1 = a2 = a3 = (z, z, z, z)
            for p in range(P):
                b, ob = pos[p], opos[p]
                x = _loads(xl, q, b)
                a0 = _fma4(vload(dl, d0 + ob, L), x, a0)
                a1 = _fma4(vload(dl, d1 + ob, L), x, a1)
                if RT == 4 and o0 + 2 < O:
                    a2 = _fma4(vload(dl, d2 + ob, L), x, a2)
                    a3 = _fma4(vload(dl, d3 + ob, L), x, a3)
            for r in range(min(RT, O - o0)):
                a = _row_of(r, a0, a1, a2, a3)
                for k in range(min(4, CKK - t0)):
                    df[(o0 + r) * CKK + t0 + k] += vsum(a[k])
    for o in range(db.size):        # (dw2 may hold 0 rows where only the bias gradient is asked for)
        acc = vzeros(dl)
        for p in range(P):
            acc = vadd(acc, vload(dl, o * plane + opos[p], L))
        db[o] += vsum(acc)


@jit
def backward_input(dxl, dl, w2, pos, tap, opos, plane):
    # dxl (the input's lane region, zero-filled here) += the scatter of w2^T @ dl: for each tap t and
    # position p, dxl[pos[p] + tap[t]] += sum_o w2[o, t] * dl[o*plane + opos[p]]; its border receives the
    # padding's gradient (callers read the interior only); tile RT taps x 4 positions
    O, CKK = w2.shape
    P, wf = pos.size, w2.reshape(-1)
    dxl[:] = 0
    for t0 in range(0, CKK, RT):
        t1, t2, t3 = min(t0 + 1, CKK - 1), min(t0 + 2, CKK - 1), min(t0 + 3, CKK - 1)
        for p0 in range(0, P, 4):
            ob = _four(opos, p0, P)
            z = vzeros(dl)
            a0 = a1 = a2 = a3 = (z, z, z, z)
            for o in range(O):
                g = _loads(dl, ob, o * plane)
                a0 = _fma4(vbroadcast(wf, o * CKK + t0), g, a0)
                a1 = _fma4(vbroadcast(wf, o * CKK + t1), g, a1)
                if RT == 4 and t0 + 2 < CKK:
                    a2 = _fma4(vbroadcast(wf, o * CKK + t2), g, a2)
                    a3 = _fma4(vbroadcast(wf, o * CKK + t3), g, a3)
            b, n = _four(pos, p0, P), min(4, P - p0)
            for r in range(min(RT, CKK - t0)):
                _add4(dxl, b, tap[t0 + r], _row_of(r, a0, a1, a2, a3), n)


def offsets_arrays(C, H, W, ph, pw, KH, KW, sh, sw, dh, dw, OH, OW, oph, opw, L):
    """pos, tap, opos as int64 arrays (plain Python, for tests and benchmarks)."""
    pos, tap, opos = np.empty(OH * OW, np.int64), np.empty(C * KH * KW, np.int64), np.empty(OH * OW, np.int64)
    offsets(pos, tap, opos, *(np.int64(v) for v in (C, H, W, ph, pw, KH, KW, sh, sw, dh, dw, OH, OW, oph, opw,
                                                       L)))
    return pos, tap, opos


# ---- eager drivers over a batch (conv2d/cpu.py's "lanes" family): thread t takes chunks t, t+T, ... of L
# images, transposes each into its own scratch, runs the kernel and transposes the result out; weight
# gradients accumulate in per-thread partials summed at the end (a prange += on shared elements races)
@jit
def _scratch(C, H, W, ph, pw, O, OH, OW, KH, KW, sh, sw, dh, dw, dtype_of):
    # one thread's input and output regions and its pos / tap / opos
    L = lanes_of(dtype_of)
    xl = np.empty(region_size(C, H, W, ph, pw, L), dtype_of.dtype)
    ol = np.empty(region_size(O, OH, OW, 0, 0, L), dtype_of.dtype)
    pos, tap, opos = np.empty(OH * OW, np.int64), np.empty(C * KH * KW, np.int64), np.empty(OH * OW, np.int64)
    offsets(pos, tap, opos, C, H, W, ph, pw, KH, KW, sh, sw, dh, dw, OH, OW, 0, 0, L)
    return xl, ol, pos, tap, opos


@pjit
def forward_images(out, x, w2, bias, KH, KW, sh, sw, ph, pw, dh, dw, T):
    # out (N,O,OH,OW) = conv2d(x (N,C,H,W), w2 (O, C*KH*KW)) + bias (O,) (size 0: none), on T threads
    N, C, H, W = x.shape
    O, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    L = lanes_of(out)
    for t in prange(T):
        xl, ol, pos, tap, opos = _scratch(C, H, W, ph, pw, O, OH, OW, KH, KW, sh, sw, dh, dw, out)
        for n0 in range(t * L, N, T * L):
            n1 = min(N, n0 + L)
            to_lanes(xl, x[n0:n1], ph, pw)
            forward(ol, xl, w2, bias, pos, tap, opos, OH * OW * L)
            from_lanes(out[n0:n1], ol, 0, 0)


@pjit
def backward_images(dx, dw2, db, partial, dout, x, w2, KH, KW, sh, sw, ph, pw, dh, dw):
    # from dout (N,O,OH,OW), each chunk's dout transposed once: dx (N,C,H,W) = the input gradient
    # (overwritten) unless dx holds 0 images; dw2 (O, C*KH*KW) = the weight gradient and db (O,) the bias
    # gradient unless of size 0; partial (T, dw2.size + db.size) zero-filled, one row per thread (summed
    # after the parallel region); x (N,C,H,W) the input (read only for dw2)
    N, C, H, W = x.shape
    O, OH, OW = dout.shape[1], dout.shape[2], dout.shape[3]
    L, T, nw = lanes_of(dout), partial.shape[0], dw2.size
    for t in prange(T):
        xl, dl, pos, tap, opos = _scratch(C, H, W, ph, pw, O, OH, OW, KH, KW, sh, sw, dh, dw, dout)
        pw2, pdb = partial[t, :nw].reshape(dw2.shape), partial[t, nw:nw + db.size]
        for n0 in range(t * L, N, T * L):
            n1 = min(N, n0 + L)
            to_lanes(dl, dout[n0:n1], 0, 0)
            if nw > 0 or db.size > 0:
                if nw > 0:
                    to_lanes(xl, x[n0:n1], ph, pw)
                backward_weight(pw2, pdb, dl, xl, pos, tap, opos, OH * OW * L)
            if dx.shape[0] > 0:
                backward_input(xl, dl, w2, pos, tap, opos, OH * OW * L)
                from_lanes(dx[n0:n1], xl, ph, pw)
    sum_rows(dw2.reshape(-1), partial, 0)
    sum_rows(db, partial, nw)


@jit
def sum_rows(out, partial, k0):
    # out (n,) = the sum over rows of partial[:, k0:k0+n], serially
    for k in range(out.size):
        s = partial[0, k0 + k]
        for t in range(1, partial.shape[0]):
            s += partial[t, k0 + k]
        out[k] = s
