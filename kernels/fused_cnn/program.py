"""The fused CNN's layer program and workspace: one int64 row per per-image op (the table FIELDS below is
the only description of a row), the flat parameter layout, and every working buffer.

A model is `ops` (per image, in order: conv, act, maxpool, dropout) then Flatten, then a fused-MLP head
(kernels/fused_mlp: Linear, act, [Dropout], ..., Linear) and cross-entropy. Ops are plain dicts built
by the engine (fastnn/fused_cnn.py):

    {"op": "conv", "C", "H", "W", "O", "KH", "KW", "stride", "padding", "dilation", "groups", "bias"}
    {"op": "act", "act": "relu" | "sigmoid" | "tanh"}
    {"op": "maxpool", "kernel", "stride", "padding", "dilation", "ceil_mode"}   (pairs (h, w))
    {"op": "dropout", "p"}

Flat parameters (torch order, model.parameters()): per conv W (O, C/groups, KH, KW) then b (O,), then
the head's W_l, b_l (fused_mlp/workspace.param_layout, shifted by the conv parameters' size).
"""
import functools

import numpy as np

from ..activation.codes import act_code
from ..fused_mlp.workspace import Workspace as MLPWorkspace
from ..fused_mlp.workspace import param_layout
from ..pool2d import max2x2
from ..pool2d.windows import check_windows, sliding

OP = {"conv": 0, "act": 1, "maxpool": 2, "dropout": 3}

# one program row: the op code, its input (C,H,W) and output (O,OH,OW) per image, conv geometry,
# conv parameter offsets (b_off -1: no bias), the act code, the dropout hash's layer id or the max
# pool's kernel family (POOL_2X2 or 0), and the offsets of its pool window tables (hs, hn, ws, wn at
# tab_off, +OH, +2OH, +2OH+OW), of its argmax indices in a shard's index buffer and of a dropout's mask
# in the mask buffer (per image O*OH*OW each)
FIELDS = ("op", "C", "H", "W", "O", "OH", "OW", "KH", "KW", "sh", "sw", "ph", "pw", "dh", "dw", "groups",
          "w_off", "b_off", "code", "tab_off", "idx_off", "mask_off")
(F_OP, F_C, F_H, F_W, F_O, F_OH, F_OW, F_KH, F_KW, F_SH, F_SW, F_PH, F_PW, F_DH, F_DW, F_GROUPS,
 F_WOFF, F_BOFF, F_CODE, F_TAB, F_IDX, F_MASK) = range(len(FIELDS))
POOL_2X2 = 1              # a maxpool row's code: pool2d/max2x2.py's kernels (0: pool2d/cpu.py's, with indices)
DROPOUT_LAYER0 = 1 << 20   # dropout hash layer id of op k: DROPOUT_LAYER0 + k (the head's layers are 0..)


def relu_after_pool(ops):
    """ops with every ReLU that a max pool follows moved after the pool: relu(max(window)) equals
    max(relu(window)) (ReLU is non-decreasing and exact), and its gradient reaches the same element (a
    window whose maximum is <= 0 gives 0 either way; a positive maximum is the same first maximum), so the
    step computes the same numbers with the ReLU's forward and backward on the pool's output, a quarter of
    the elements under a 2x2 pool (the examples Net: 8.6 -> 1.7 us per image, forward + backward). Dropout
    ops keep their positions (their hash layer ids are their indices)."""
    ops = list(ops)
    for k in range(len(ops) - 1):
        if ops[k]["op"] == "act" and ops[k]["act"] == "relu" and ops[k + 1]["op"] == "maxpool":
            ops[k], ops[k + 1] = ops[k + 1], ops[k]
    return ops


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


class Program:
    """prog (K, len(FIELDS)) int64, tabs (pool window tables) int64, probs (K,) float64 dropout p,
    sizes (K+1,) per-image element counts (input, then each op's output), the head's dims / offsets,
    and P (total parameters). `input_shape` (C, H, W)."""

    def __init__(self, input_shape, ops, head_sizes, head_bias):
        C, H, W = (int(v) for v in input_shape)
        self.input_shape = (C, H, W)
        ops = relu_after_pool(ops)
        rows, tabs, probs, sizes, idx_n, mask_n, w = [], [], [], [C * H * W], 0, 0, 0
        for k, d in enumerate(ops):
            r = np.zeros(len(FIELDS), np.int64)
            r[F_OP], r[F_C], r[F_H], r[F_W], r[F_BOFF] = OP[d["op"]], C, H, W, -1
            O, OH, OW = C, H, W
            if d["op"] == "conv":
                if d["C"] != C or C % d["groups"] or d["O"] % d["groups"]:
                    raise ValueError(f"fused CNN: conv {k} takes {d['C']} channels (groups {d['groups']}), "
                                     f"the previous layer gives {C}")
                (sh, sw), (ph, pw), (dh, dw) = _pair(d["stride"]), _pair(d["padding"]), _pair(d["dilation"])
                O, KH, KW = int(d["O"]), int(d["KH"]), int(d["KW"])
                OH, OW = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
                r[F_KH:F_GROUPS + 1] = KH, KW, sh, sw, ph, pw, dh, dw, d["groups"]
                r[F_WOFF] = w
                w += O * (C // d["groups"]) * KH * KW
                if d["bias"]:
                    r[F_BOFF] = w
                    w += O
            elif d["op"] == "act":
                r[F_CODE] = act_code(d["act"])
            elif d["op"] == "maxpool":
                (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(d[n]) for n in ("kernel", "stride", "padding",
                                                                                 "dilation"))
                hs, hn, _, OH = sliding(H, kh, sh, ph, dh, d["ceil_mode"])
                ws, wn, _, OW = sliding(W, kw, sw, pw, dw, d["ceil_mode"])
                check_windows(np.concatenate([hn, wn]), "fused CNN max_pool2d")
                r[F_DH], r[F_DW], r[F_TAB], r[F_IDX] = dh, dw, sum(t.size for t in tabs), idx_n
                tabs += [hs, hn, ws, wn]
                if max2x2.usable(H, W, hs, hn, ws, wn, dh, dw):
                    r[F_CODE] = POOL_2X2   # pool2d/max2x2.py: no indices kept
                else:
                    idx_n += O * OH * OW
            elif d["op"] == "dropout":
                r[F_CODE], r[F_MASK] = DROPOUT_LAYER0 + k, mask_n
                mask_n += C * H * W
            if OH < 1 or OW < 1:
                raise ValueError(f"fused CNN: op {k} ({d['op']}) gives an empty {OH}x{OW} output from {H}x{W}")
            r[F_O], r[F_OH], r[F_OW] = O, OH, OW
            rows.append(r)
            probs.append(float(d.get("p", 0.0)) if d["op"] == "dropout" else 0.0)
            sizes.append(O * OH * OW)
            C, H, W = O, OH, OW
        if not rows:
            raise ValueError("fused CNN: the program needs at least one per-image op")
        self.prog = np.stack(rows)
        self.tabs = np.concatenate(tabs) if tabs else np.zeros(1, np.int64)
        self.probs = np.array(probs, np.float64)
        self.sizes = np.array(sizes, np.int64)
        self.idx_size = max(idx_n, 1)
        self.mask_size = max(mask_n, 1)
        self.conv_params = w
        self.head_dims = np.array(head_sizes, np.int64)
        if self.head_dims[0] != sizes[-1]:
            raise ValueError(f"fused CNN: the first Linear takes {self.head_dims[0]} features but the "
                             f"flattened conv output has {sizes[-1]}")
        self.w_off, self.b_off, Ph = param_layout(self.head_dims, list(head_bias))
        self.w_off += w
        self.b_off[self.b_off >= 0] += w
        self.P = w + Ph

    def act_offsets(self, Bs):
        """(K+1,) offsets of the input and of each op's output region (Bs, sizes[k]) in a shard's act
        buffer; an activation works in place (its output region is its input's) unless it follows
        another activation (whose backward needs its own output), everything else gets its own region;
        and the buffer's length."""
        off, o = np.zeros(len(self.sizes), np.int64), Bs * self.sizes[0]
        act = OP["act"]
        for k in range(len(self.prog)):
            if self.prog[k, F_OP] == act and (k == 0 or self.prog[k - 1, F_OP] != act):
                off[k + 1] = off[k]
            else:
                off[k + 1], o = o, o + Bs * self.sizes[k + 1]
        return off, int(o)

    @functools.cached_property
    def winograd(self):
        """Whether a conv of the program runs conv2d/cpu.py's Winograd kernels in the fused step (a shape
        use_winograd takes that is not run by conv2d/images.py); train_epoch's `wino` argument is None
        where none does, which keeps those kernels out of the step's compile (kernels/fused_cnn/cpu.py)."""
        from ..conv2d import images
        from ..conv2d.cpu import use_winograd

        for r in self.prog:
            if r[F_OP] == OP["conv"]:
                Cg, Og = r[F_C] // r[F_GROUPS], r[F_O] // r[F_GROUPS]
                if (not images.use_images(Cg * r[F_KH] * r[F_KW], r[F_OH] * r[F_OW])
                        and use_winograd(Cg, Og, r[F_KH], r[F_KW], r[F_SH], r[F_SW], r[F_DH], r[F_DW])):
                    return True
        return False

    @functools.cached_property
    def lanes(self):
        """Whether the step runs the per-image ops in the lane layout (kernels/fused_cnn/lanes.py): every op
        has a lane kernel (convs of groups 1 that conv2d/cpu.py would not run by Winograd, activations,
        POOL_2X2 max pools), no dropout, and at least one conv; train_epoch's `lanes` argument is None
        elsewhere, which keeps the lane kernels out of the step's compile (and the others out of its)."""
        from ..conv2d.cpu import use_winograd

        convs = 0
        for r in self.prog:
            if r[F_OP] == OP["conv"]:
                convs += 1
                if r[F_GROUPS] != 1 or use_winograd(r[F_C], r[F_O], r[F_KH], r[F_KW], r[F_SH], r[F_SW], r[F_DH],
                                                    r[F_DW]):
                    return False
            elif r[F_OP] == OP["dropout"] or (r[F_OP] == OP["maxpool"] and r[F_CODE] != POOL_2X2):
                return False
        return convs > 0

    def lane_layout(self, L):
        """(lreg, ltab, ltab_off) for L lanes (kernels/fused_cnn/lanes.py): lreg (K+1, 6) per region its
        (C, H, W, ph, pw, offset in a chunk buffer), a region's border the padding of the conv reading it
        (through activations in place: they share their input's region, as act_offsets); ltab the
        convs' pos, tap, opos (conv2d/lanes.offsets) at ltab_off[k]."""
        from ..conv2d.lanes import offsets, region_size

        K, act = len(self.prog), OP["act"]
        inplace = [self.prog[k, F_OP] == act and (k == 0 or self.prog[k - 1, F_OP] != act) for k in range(K)]
        geo = [tuple(int(v) for v in self.prog[k, [F_C, F_H, F_W]]) for k in range(K)]
        geo.append(tuple(int(v) for v in self.prog[K - 1, [F_O, F_OH, F_OW]]))
        pad = [(0, 0)] * (K + 1)
        for k in range(K - 1, -1, -1):
            if self.prog[k, F_OP] == OP["conv"]:
                pad[k] = (int(self.prog[k, F_PH]), int(self.prog[k, F_PW]))
            elif inplace[k]:
                pad[k] = pad[k + 1]
        lreg, o = np.zeros((K + 1, 6), np.int64), 0
        for k in range(K + 1):
            if k > 0 and inplace[k - 1]:
                lreg[k] = lreg[k - 1]
                continue
            lreg[k] = geo[k] + pad[k] + (o,)
            o += int(region_size(*geo[k], *pad[k], L))
        tabs, ltab_off, n = [], np.zeros(K, np.int64), 0
        for k in range(K):
            r = self.prog[k]
            if r[F_OP] != OP["conv"]:
                continue
            (C, H, W, ph, pw), (O, OH, OW, oph, opw) = lreg[k, :5], lreg[k + 1, :5]
            P, CKK = int(OH * OW), int(C * r[F_KH] * r[F_KW])
            t = np.zeros(2 * P + CKK, np.int64)
            offsets(t[:P], t[P:P + CKK], t[P + CKK:], C, H, W, ph, pw, r[F_KH], r[F_KW], r[F_SH], r[F_SW], r[F_DH],
                    r[F_DW], OH, OW, oph, opw, np.int64(L))
            ltab_off[k], n = n, n + t.size
            tabs.append(t)
        return lreg, np.concatenate(tabs), ltab_off

    def work_size(self, Bs):
        """Elements of one shard's conv scratch for Bs images: the largest of the program's convs' needs,
        conv2d/images.py's work_size for chunk_images images where the shard runs a conv through it
        (images.use_images), else conv2d/cpu.py's per-image work_size."""
        from ..conv2d import images
        from ..conv2d.cpu import work_size

        n = 1
        for r in self.prog:
            if r[F_OP] == OP["conv"]:
                geo = (r[F_C], r[F_O], r[F_KH], r[F_KW], r[F_OH], r[F_OW], r[F_GROUPS])
                CKK, OHW = (r[F_C] // r[F_GROUPS]) * r[F_KH] * r[F_KW], r[F_OH] * r[F_OW]
                if images.use_images(CKK, OHW):
                    n = max(n, int(images.work_size(*geo, images.chunk_images(CKK, OHW, Bs))))
                else:
                    n = max(n, int(work_size(*geo)))
        return n


class Workspace:
    """Every per-step buffer for batches of up to batch_size rows in `shards` shards (Bs = ceil(B/S)
    rows each), allocated once; leading axis = shard.

    acts  (S, sum)   the shard's input images and every op's output, op-major: region k is
                     (Bs, sizes[k]) at act_off[k] (the last region is the head's (Bs, F) input)
    idx   (S, Bs, idx_size) int64   max-pool argmax positions of the pools not POOL_2X2 (those keep
                                    none), op-major: op k's (Bs, O*OH*OW) at
                                    Bs * idx_off of the shard's flat block
    dmask (S, Bs, mask_size)        dropout masks (0 or 1/(1-p)), op-major as idx (at Bs * mask_off),
                                    filled before the ops run
    grad  (S, 2, Bs * max(sizes))   ping-pong gradient regions of the backward (the shard's images of
                                    one op's output or input each; region 0 starts as d loss / d features)
    work  (S, work_size)            conv scratch (Program.work_size: an im2col of a chunk of images)
    mlp   a fused_mlp Workspace for the head (its own acts, drops, deltas, transposes)
    Bound: per shard Bs * (sum of the non-activation regions + 2 * max(sizes) + mask_size) floats +
    Bs * idx_size int64 + work_size + the head's buffers, e.g. LeNet-5 at batch 64 on 2 threads:
    32 * (8.7k + 9.4k floats) + 0.28M (conv2's im2col of 17 images + tile) = ~3.6 MB
    float32 per shard; the examples Net: 32 * (87k + 74k floats) = ~21 MB (both models' pools are
    POOL_2X2: no indices).
    lanes None, or where program.lanes holds (kernels/fused_cnn/lanes.py) the tuple (lacts (S, chunks *
                     chunk) every chunk's saved lane regions, lgrad (S, 2, max region), lreg, ltab,
                     ltab_off: program.lane_layout), chunks = ceil(Bs / L): LeNet-5 at batch 64 on 2
                     threads, float32, 2 chunks of 142k floats + 2 x 75k = 1.7 MB more per shard (its
                     regions of acts other than the input and the features are then unused)
    """

    def __init__(self, program, batch_size, dtype=np.float32, head_dropout=None, shards=1):
        B, S = int(batch_size), int(shards)
        if B < 1 or S < 1:
            raise ValueError(f"fused CNN: batch_size and shards must be >= 1, got {batch_size}, {shards}")
        Bs = -(-B // S)
        self.batch_size, self.shards, self.dtype = B, S, np.dtype(dtype)
        self.act_off, n = program.act_offsets(Bs)
        self.acts = np.zeros((S, n), dtype)
        self.idx = np.zeros((S, Bs, program.idx_size), np.int64)
        self.dmask = np.zeros((S, Bs, program.mask_size), dtype)
        self.grad = np.zeros((S, 2, Bs * int(program.sizes.max())), dtype)
        self.work = np.zeros((S, program.work_size(Bs)), dtype)
        self.mlp = MLPWorkspace(program.head_dims, B, dtype, head_dropout, shards=S)
        self.lanes = None
        if program.lanes:                  # the lane layout's buffers (kernels/fused_cnn/lanes.py)
            from ..conv2d.lanes import region_size
            from ..simd import lanes
            from .lanes import chunk_size

            L = lanes(self.dtype)
            lreg, ltab, ltab_off = program.lane_layout(L)
            chunk = int(chunk_size(lreg, np.int64(L)))
            big = max(int(region_size(*r[:5], L)) for r in lreg)
            self.lanes = (np.zeros((S, -(-Bs // L) * chunk), dtype), np.zeros((S, 2, big), dtype), lreg, ltab,
                          ltab_off)

    def fits(self, batch_size, shards):
        return shards == self.shards and batch_size <= self.batch_size
