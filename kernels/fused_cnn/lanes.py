"""The fused CNN step's per-image ops in the lane layout (Numba): a shard's images in chunks of L, each
chunk's tensors held as SIMD lanes (kernels/conv2d/lanes.py: (C, H + 2ph, W + 2pw, L), one value of L
images per vector) from the input to the features, for programs where every op has a lane kernel
(program.Program.lanes: convs of groups 1 outside Winograd's shapes, activations, 2x2 max pools; no
dropout). The chunk's input rows are transposed in once, its features out once (and d loss / d features
in once), and no op between them pads, masks or transposes: LeNet-5's convs run at 107-117 GFLOP/s
where conv2d/direct.py and conv2d/images.py ran at 47-61 (DESIGN.md, "The lane layout").

Buffers (program.Workspace): lacts (S, chunks * chunk_size) every chunk's saved regions (chunk c of a shard
at c * chunk_size), lgrad (S, 2, max region) ping-pong gradient regions of one chunk, lreg (K+1, 6) per
region its (C, H, W, ph, pw, offset in a chunk), ltab the convs' pos / tap / opos offsets
(conv2d/lanes.offsets) at ltab_off[k]. Region k is op k's input and region k+1 its output; an activation
in place shares its input's region (program.act_offsets' rule), and a region's border is the padding of
the conv that reads it (0 where no conv does).
"""
from ..activation.cpu import act_backward_, act_forward_
from ..conv2d import lanes as conv
from ..fused_mlp.cpu import jit
from ..pool2d import lanes as pool
from ..simd import lanes_of
from .program import F_BOFF, F_C, F_CODE, F_KH, F_KW, F_O, F_OP, F_WOFF, OP

CONV, ACT, MAXPOOL = OP["conv"], OP["act"], OP["maxpool"]


@jit
def region(buf, lreg, k, L):
    # region k's flat view in a chunk buffer buf (at its offset)
    C, H, W, ph, pw, off = lreg[k, 0], lreg[k, 1], lreg[k, 2], lreg[k, 3], lreg[k, 4], lreg[k, 5]
    return buf[off:off + conv.region_size(C, H, W, ph, pw, L)]


@jit
def gregion(buf, lreg, k, L):
    # region k's layout at the start of a gradient region buf
    return buf[:conv.region_size(lreg[k, 0], lreg[k, 1], lreg[k, 2], lreg[k, 3], lreg[k, 4], L)]


@jit
def chunk_size(lreg, L):
    # elements of one chunk's saved regions
    n = 0
    for k in range(lreg.shape[0]):
        n = max(n, lreg[k, 5] + conv.region_size(lreg[k, 0], lreg[k, 1], lreg[k, 2], lreg[k, 3], lreg[k, 4], L))
    return n


@jit
def _geometry(lreg, k):
    return lreg[k, 0], lreg[k, 1], lreg[k, 2], lreg[k, 3], lreg[k, 4]


@jit
def _conv_args(params, r, lreg, ltab, ltab_off, k, L):
    # op k's weights (O, CKK), bias, pos / tap / opos and the output region's channel plane
    O, OH, OW, oph, opw = _geometry(lreg, k + 1)
    CKK, P = r[F_C] * r[F_KH] * r[F_KW], OH * OW
    w2 = params[r[F_WOFF]:r[F_WOFF] + O * CKK].reshape((O, CKK))
    b = params[r[F_BOFF]:r[F_BOFF] + O] if r[F_BOFF] >= 0 else params[:0]
    t = ltab_off[k]
    return (w2, b, ltab[t:t + P], ltab[t + P:t + P + CKK], ltab[t + P + CKK:t + 2 * P + CKK],
            (OH + 2 * oph) * (OW + 2 * opw) * L)


@jit
def _act_rows(dst, src, saved, lreg, k, code, backward):
    # the activation of op k over the interiors: forward dst (region k+1) = act(src (region k)); backward
    # dst (region k) = src (region k+1) * act'(saved (region k+1)); row by row (the borders stay as they are)
    L = lanes_of(dst)
    C, H, W, ph, pw = _geometry(lreg, k)
    _, _, _, qh, qw = _geometry(lreg, k + 1)
    n = W * L
    for c in range(C):
        for h in range(H):
            a = ((c * (H + 2 * ph) + h + ph) * (W + 2 * pw) + pw) * L
            b = ((c * (H + 2 * qh) + h + qh) * (W + 2 * qw) + qw) * L
            if backward:
                act_backward_(dst[a:a + n], src[b:b + n], saved[b:b + n], code)
            else:
                act_forward_(dst[b:b + n], src[a:a + n], dst.dtype.type(0.0), code)


@jit
def forward(feat, x, prog, params, cb, lreg, ltab, ltab_off):
    # one chunk: cb (a chunk buffer) = the saved regions of the nb <= L images x (nb, C, H, W), feat (nb, F)
    # their features
    L, K = lanes_of(cb), prog.shape[0]
    conv.to_lanes(region(cb, lreg, 0, L), x, lreg[0, 3], lreg[0, 4])
    for k in range(K):
        r = prog[k]
        xin, out = region(cb, lreg, k, L), region(cb, lreg, k + 1, L)
        if r[F_OP] == CONV:
            w2, b, pos, tap, opos, plane = _conv_args(params, r, lreg, ltab, ltab_off, k, L)
            conv.forward(out, xin, w2, b, pos, tap, opos, plane)
        elif r[F_OP] == ACT:
            _act_rows(out, xin, out, lreg, k, r[F_CODE], False)
        else:
            C, H, W, ph, pw = _geometry(lreg, k)
            _, OH, OW, oph, opw = _geometry(lreg, k + 1)
            pool.forward(out, xin, C, H, W, ph, pw, OH, OW, oph, opw)
    conv.from_lanes(feat.reshape((x.shape[0], lreg[K, 0], lreg[K, 1], lreg[K, 2])), region(cb, lreg, K, L),
                    lreg[K, 3], lreg[K, 4])


@jit
def backward(grads, dfeat, prog, params, cb, lreg, ltab, ltab_off, lgrad, k0):
    # one chunk, from dfeat (nb, F) (d loss / d its features) down to op k0 (the first conv): conv weight and
    # bias gradients added to grads (P,); cb the chunk's saved regions, lgrad (2, max region) scratch
    L, K = lanes_of(cb), prog.shape[0]
    nb = dfeat.shape[0]
    conv.to_lanes(gregion(lgrad[0], lreg, K, L), dfeat.reshape((nb, lreg[K, 0], lreg[K, 1], lreg[K, 2])),
                  lreg[K, 3], lreg[K, 4])
    cur = 0
    for k in range(K - 1, k0 - 1, -1):
        r = prog[k]
        dout, din = gregion(lgrad[cur], lreg, k + 1, L), lgrad[1 - cur]
        if r[F_OP] == CONV:
            w2, b, pos, tap, opos, plane = _conv_args(params, r, lreg, ltab, ltab_off, k, L)
            dw2, db, _, _, _, _ = _conv_args(grads, r, lreg, ltab, ltab_off, k, L)
            conv.backward_weight(dw2, db, dout, region(cb, lreg, k, L), pos, tap, opos, plane)
            if k > k0:
                conv.backward_input(gregion(din, lreg, k, L), dout, w2, pos, tap, opos, plane)
        elif r[F_OP] == ACT:
            inplace = lreg[k, 5] == lreg[k + 1, 5]
            dst = dout if inplace else gregion(din, lreg, k, L)
            _act_rows(dst, dout, region(cb, lreg, k + 1, L), lreg, k, r[F_CODE], True)
            if inplace:
                continue
        else:
            C, H, W, ph, pw = _geometry(lreg, k)
            _, OH, OW, oph, opw = _geometry(lreg, k + 1)
            pool.backward(gregion(din, lreg, k, L), dout, region(cb, lreg, k, L), C, H, W, ph, pw, OH, OW, oph, opw)
        cur = 1 - cur


@jit
def shard_forward(acts, act_off, sizes, prog, params, B, lacts, lreg, ltab, ltab_off):
    # the shard's first B images (region 0 of acts) through every op, chunk by chunk; their features to
    # region K of acts (B, F); lacts the shard's chunk buffers
    L, K = lanes_of(lacts), prog.shape[0]
    n0, F, cs = sizes[0], sizes[K], chunk_size(lreg, L)
    C, H, W = lreg[0, 0], lreg[0, 1], lreg[0, 2]
    x = acts[act_off[0]:act_off[0] + B * n0].reshape((B, C, H, W))
    feat = acts[act_off[K]:act_off[K] + B * F].reshape((B, F))
    for i0 in range(0, B, L):
        i1 = min(B, i0 + L)
        forward(feat[i0:i1], x[i0:i1], prog, params, lacts[(i0 // L) * cs:(i0 // L + 1) * cs], lreg, ltab, ltab_off)


@jit
def shard_backward(grads, dfeat, prog, params, B, lacts, lreg, ltab, ltab_off, lgrad):
    # the shard's backward from dfeat (B, F), chunk by chunk, down to the first conv
    L, K = lanes_of(lacts), prog.shape[0]
    cs = chunk_size(lreg, L)
    k0 = 0
    while k0 < K and prog[k0, F_OP] != CONV:
        k0 += 1
    for i0 in range(0, B, L):
        i1 = min(B, i0 + L)
        backward(grads, dfeat[i0:i1], prog, params, lacts[(i0 // L) * cs:(i0 // L + 1) * cs], lreg, ltab, ltab_off,
                 lgrad, k0)
