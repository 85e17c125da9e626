"""The fused MLP training step on the GPU: one CUDA graph per step shape, replayed once per batch.

A step = [gather batch rows/labels through a device permutation at a device cursor] -> per layer
sgemm_nt_bias_act [-> dropout_hash] -> cross_entropy_fused (loss/correct accumulated on the device) -> per layer
sgemm_tn (dW) + sum_rows (db) + sgemm_nn [, dropout_hash] and act_backward (dx) -> optimizer tick + ONE update launch
over the flat buffers -> [advance the cursor]. Every launch is captured once into a graph; an epoch
is graph replays plus a single device->host read of (loss_sum, correct) at its end. Step-dependent
optimizer scalars live in the device buffer `hp` (optim.cu), so replays need no host update; the
dropout seed lives in the device buffer `dseed` (a new one per call changes no graph), and the masks
hash (seed, hp[0] + 1, layer, index in the batch) exactly as the cpu kernel and ref.py do.

spec: a FusedMLPSpec (backends/base.py): sizes, hidden activations, bias flags, loss 'cross_entropy'
with reduction 'mean' or 'sum', optimizer name + live param group, the flat float32 device buffers
params and state (missing state buffers are allocated: zeros, or the table's fill), the step count.
"""
from collections import OrderedDict

import numpy as np

from fastnn.kernels.activation.codes import ACT as _ACT_CODE, MODULES
from fastnn.kernels.optim import table
from fastnn.kernels.optim.table import HP_N, device_hp, pack_group

from .base import FusedMLPFeatures
from .cuda_launcher import grid1d as _grid1d, row_block as _row_block

_F32 = np.dtype(np.float32)
MAX_GRAPHS = 8  # captured step graphs kept (least recently used dropped): batch shapes x data sets
FEATURES = FusedMLPFeatures(activations=frozenset(MODULES.values()), losses=frozenset({"cross_entropy"}),
                            dtypes=frozenset({"float32"}), dropout=True, on_step=True, data_parallel=True)


class CUDAFusedMLP:
    """step(x, y) and epoch(X, Y, batch_size, perm, drop_last) as CUDA-graph replays."""

    def __init__(self, backend, spec):
        self.be, self.cp = backend, backend.cp
        xp = self.cp
        self.sizes = spec.sizes
        self.acts = spec.activations + ("none",)           # the output layer has no activation
        self.bias = spec.bias
        for a in spec.activations:
            if a not in FEATURES.activations:
                raise ValueError(f"fused_mlp: unsupported activation {a!r} (expected one of "
                                 f"{sorted(FEATURES.activations)})")
        self.drop = spec.dropout                            # per hidden layer; > 0: dropout_hash after the act
        if spec.loss not in FEATURES.losses:
            raise ValueError(f"the cuda fused MLP supports loss 'cross_entropy' only, got {spec.loss!r}")
        self.reduction = spec.reduction
        if self.reduction not in ("mean", "sum"):
            raise ValueError(f"fused_mlp: reduction must be 'mean' or 'sum', got {self.reduction!r}")
        self.opt = str(spec.optimizer).lower()
        if self.opt not in table.OPTIMIZERS:
            raise ValueError(f"fused_mlp: unsupported optimizer {self.opt!r} (expected one of "
                             f"{sorted(table.OPTIMIZERS)})")
        self.desc = table.get(self.opt)
        self.hparams = spec.hparams
        self.params = spec.params
        n = spec.n_params
        if not backend.owns(self.params) or self.params.dtype != _F32 or self.params.shape != (n,) \
                or not self.params.flags.c_contiguous:
            raise TypeError(f"fused_mlp: params must be a contiguous float32 cuda buffer of shape ({n},), got "
                            f"{type(self.params).__name__} {getattr(self.params, 'dtype', '')} "
                            f"{getattr(self.params, 'shape', '')}")
        self.grads = xp.zeros(n, dtype=_F32)
        self.state = spec.state
        self._init_state(n)
        self.steps, self.seed = int(spec.step), int(spec.seed)
        self.W, self.b = self._layer_views(self.params)
        self.dW, self.db = self._layer_views(self.grads)
        self.hp = xp.zeros(HP_N, dtype=np.float64)
        self._hp_host = None                                 # (steps, packed hyper-parameters) on the device
        self.clip_grad_norm = None                           # max norm, set by fastnn.fused.FusedMLP (None: off)
        self.clip = xp.zeros(3, dtype=np.float64)            # gather.cu's [max_norm, sumsq, coefficient]
        self._clip_host = 0.0
        self.acc = xp.zeros(2, dtype=np.int32)              # [loss_sum (float32 bits), correct]
        self.loss_sum, self.correct = self.acc[0:1].view(np.float32), self.acc[1:2]
        self.pos = xp.zeros(1, dtype=np.int32)              # the device batch cursor
        self.dseed = xp.zeros(1, dtype=np.uint64)           # the dropout seed the graphs read
        self._seed_host = None
        self.stream = self.cp.cuda.Stream(non_blocking=True)
        self._cap, self._bufs, self._graphs, self._data = 0, None, OrderedDict(), None

    # ---- setup ---------------------------------------------------------------------------------
    def _layer_views(self, flat):
        Ws, bs, off = [], [], 0
        for i, o, b in zip(self.sizes, self.sizes[1:], self.bias):
            Ws.append(flat[off:off + o * i].reshape(o, i))
            off += o * i
            bs.append(flat[off:off + o] if b else None)
            off += o if b else 0
        return Ws, bs

    def _state_names(self):
        return table.state_names(self.opt, self.hparams)

    def _init_state(self, n):
        for name in self._state_names():
            if self.state.get(name) is None:
                self.state[name] = self.cp.full(n, table.state_fill(self.opt, name, self.hparams), dtype=_F32)

    def _buffers(self, B):
        """Activations h[l] (B, d_l) (h[0] = the batch input), each layer's input a[l] (= h[l], or
        h[l] after dropout in its own buffer), gradients dz[l], labels, loss rows."""
        if self._bufs is None or self._cap < B:
            xp = self.cp
            self._cap = B
            h = [xp.zeros((B, d), _F32) for d in self.sizes]
            a = [h[0]] + [xp.zeros((B, d), _F32) if p > 0 else hl
                          for p, d, hl in zip(self.drop, self.sizes[1:], h[1:])]
            self._bufs = dict(h=h, a=a, dz=[xp.zeros((B, d), _F32) for d in self.sizes],
                              y=xp.zeros(B, np.int64), loss_rows=xp.zeros(B, _F32))
            self._graphs.clear()
        return self._bufs

    def _sync_hp(self):
        """Upload hp = [steps, lr, 0, 0, hyper-parameters...] when the host's step count or any
        hyper-parameter differs from what the device holds (the engine may set `.steps` after eager
        steps; a scheduler may change lr, betas or momentum). A host->device copy, not a sync; the
        tick kernel recomputes hp[2:4] every step."""
        _, packed = pack_group(self.opt, self.hparams)
        want = (self.steps, tuple(packed))
        if want != self._hp_host:
            self.hp[...] = self.cp.asarray(device_hp(self.opt, self.steps, packed))
            self._hp_host = want
        max_norm = float(self.clip_grad_norm or 0.0)
        if max_norm != self._clip_host:   # a runtime scalar: the captured graphs read it from clip[0]
            self.clip[0:1] = self.cp.asarray(np.array([max_norm]))
            self._clip_host = max_norm
        if any(self.drop) and self.seed != self._seed_host:
            self.dseed[...] = self.cp.asarray(np.array([self.seed], np.uint64))
            self._seed_host = self.seed

    # ---- the captured step -----------------------------------------------------------------------
    def _rows(self, M):
        """(rows this process computes, rows of the whole batch, index of its first row there) of a step
        over a batch of M rows: (M, M, 0); data-parallel ranks compute their slice (cuda_fused_dp.py)."""
        return M, M, 0

    def _reduce_grads(self):
        """Between backward and the update; data-parallel ranks sum the gradient here (captured)."""

    def _reduce_totals(self):
        """Before (loss_sum, correct) are read; data-parallel ranks sum them here."""

    def _enqueue_step(self, M, gather):
        """Launch one training step over the first M rows of the buffers (recorded when capturing).
        A data-parallel rank runs rows [row0, row0 + rows) of the batch of M (see _rows)."""
        be, h, y = self.be, self._bufs["h"], self._bufs["y"]
        M, Btot, row0 = self._rows(M)
        if gather is None:
            be.launch("epoch_reset", (1,), (1,), self.loss_sum, self.correct)
        elif M:
            X, Y, perm, scale, shift = gather
            N, D = X.shape[0], self.sizes[0]
            kind = ("u8" if X.dtype == np.uint8 else "f32") + ("_i64" if perm.dtype == np.int64 else "_i32")
            be.launch(f"gather_rows_{kind}", *_grid1d(M * D), h[0], X, perm, self.pos, row0, M, N, D, scale, shift)
            be.launch("gather_labels_" + kind[-3:], *_grid1d(M), y, Y, perm, self.pos, row0, M, N)
        self._enqueue_forward_backward(M, Btot, row0)
        self._reduce_grads()
        self._enqueue_optimizer()
        if gather is not None:
            be.launch("advance_cursor", (1,), (1,), self.pos, Btot, gather[0].shape[0])

    def _enqueue_forward_backward(self, M, Btot, row0):
        """Forward, loss (mean over Btot rows) and backward of M rows (the batch's rows row0..) into
        grads; M == 0 only zeroes grads (the GEMM over zero rows and the empty column sums)."""
        be, bufs, L = self.be, self._bufs, len(self.sizes) - 1
        h, a, dz, y = bufs["h"], bufs["a"], bufs["dz"], bufs["y"]
        for l in range(L if M else 0):
            i, o = self.sizes[l], self.sizes[l + 1]
            be.launch("sgemm_nt_bias_act", ((o + 63) // 64, (M + 63) // 64), (256,), h[l + 1], a[l], self.W[l],
                      self.b[l], M, o, i, _ACT_CODE[self.acts[l]])
            if l < L - 1 and self.drop[l] > 0:
                self._enqueue_dropout(a[l + 1], h[l + 1], l, M * o, row0 * o)
        C = self.sizes[-1]
        scale = 1.0 / Btot if self.reduction == "mean" else 1.0
        if M:
            be.launch("cross_entropy_fused", (min(M, 65535),), (_row_block(C),), bufs["loss_rows"], dz[L], h[L],
                      y, M, C, scale, self.loss_sum, self.correct)
        for l in reversed(range(L)):
            i, o = self.sizes[l], self.sizes[l + 1]
            be.launch("sgemm_tn", ((i + 63) // 64, (o + 63) // 64), (256,), self.dW[l], dz[l + 1], a[l],
                      o, i, M, 1.0, 0.0)
            if self.b[l] is not None:
                be.launch("sum_rows", ((o + 31) // 32,), (32, 8), self.db[l], dz[l + 1], M, o, 0)
            if l > 0 and M:
                be.launch("sgemm_nn", ((i + 63) // 64, (M + 63) // 64), (256,), dz[l], dz[l + 1], self.W[l],
                          M, i, o, 1.0, 0.0)
                if self.drop[l - 1] > 0:                         # d(dropped h) -> d(h): the same mask
                    self._enqueue_dropout(dz[l], dz[l], l - 1, M * i, row0 * i)
                act = self.acts[l - 1]
                if act != "none":
                    be.launch("act_backward", *_grid1d(M * i), dz[l], dz[l], h[l], M * i, _ACT_CODE[act])

    def _enqueue_dropout(self, out, x, layer, n, index0):
        """out = x * mask / (1 - p) of hidden layer `layer`: the mask hashes (seed, step, layer, index in
        the batch = index0 + i) like kernels/fused_mlp/ref.py; seed from dseed, step = hp[0] + 1 (before
        the tick)."""
        self.be.launch("dropout_hash", *_grid1d(n), out, x, 0, self.dseed, self.hp, 1, layer, n,
                       self.drop[layer], index0)

    def _enqueue_optimizer(self):
        """[global-norm clipping of the gradient], the tick and ONE update launch; every scalar is read
        from the device buffers hp and clip."""
        be, d, n = self.be, self.desc, self.params.size
        if self.clip_grad_norm:
            be.launch("grad_sumsq", *_grid1d(n), self.clip, self.grads, n)
            be.launch("clip_coef", (1,), (1,), self.clip)
            be.launch("grad_clip", *_grid1d(n), self.grads, self.clip, n)
        be.launch(d.tick, (1,), (1,), self.hp)
        be.launch(d.update, *_grid1d(n), self.params, *[self.state.get(a) for a in d.args], self.grads, self.hp, n)

    def _graph(self, key, M, gather):
        """The graph of one step shape, captured on first use. Only what is baked into the graph is in
        the key: the step kind and batch rows, the resident data, which optional state buffers the
        update reads (their pointers), and whether it clips; every scalar lives in hp and clip. At most
        MAX_GRAPHS are kept."""
        key += tuple(self._state_names()) + (bool(self.clip_grad_norm),)   # the clip value itself is in clip[0]
        key += self._rows(M)
        g = self._graphs.get(key)
        if g is not None:
            self._graphs.move_to_end(key)
            return g
        be = self.be
        self._init_state(self.params.size)   # e.g. momentum turned on later: allocate before capture
        self.stream.begin_capture()
        try:
            with be.capturing():
                self._enqueue_step(M, gather)
        finally:
            g = self.stream.end_capture()
        be.stats.graph_captures += 1
        self._graphs[key] = g
        while len(self._graphs) > MAX_GRAPHS:
            self._graphs.popitem(last=False)
        return g

    def _replay(self, g):
        self.be.stats.graph_launches += 1
        g.launch(self.stream)
        self.steps += 1
        self._hp_host = (self.steps, self._hp_host[1])

    # ---- public API ----------------------------------------------------------------------------
    def step(self, x, y):
        """One batch (x (B,d0) float32, y (B,) int64 device arrays): forward, loss, backward, update.
        Returns (loss, correct) as 0-d device arrays (no host sync)."""
        M = int(x.shape[0])
        self._check_batch(x, y)
        bufs = self._buffers(M)
        cur = self.cp.cuda.get_current_stream()
        self.stream.wait_event(cur.record())
        with self.stream:
            self._sync_hp()
            bufs["h"][0][:M] = x.astype(_F32, copy=False)
            bufs["y"][:M] = y.astype(np.int64, copy=False)
            self._replay(self._graph(("step", M), M, None))
            self._reduce_totals()
            loss = self.loss_sum[0] * np.float32(1.0 / self._rows(M)[1] if self.reduction == "mean" else 1.0)
            correct = self.correct[0].copy()
        cur.wait_event(self.stream.record())
        return loss, correct

    def epoch(self, X, Y, batch_size, perm, drop_last=False, scale=1.0, shift=0.0, on_step=None):
        """One pass over device-resident X (N,d0) uint8/float32 and Y (N,) int64 in the order `perm`
        (N,) (host or device, int64/int32); batch b = rows perm[b*B:(b+1)*B] normalized as
        X * scale + shift. `on_step()` (a per-step LR scheduler, say) runs on the host after each
        replay; changed hyper-parameters are copied into hp, no re-capture. Returns (mean loss,
        accuracy) as Python floats: one host sync."""
        xp, be = self.cp, self.be
        N, B = int(perm.shape[0]), int(batch_size)   # N: rows this call visits (perm may be a slice)
        self._check_data(X, Y, perm, B)
        nfull, rem = N // B, (0 if drop_last else N % B)
        if nfull + (rem > 0) == 0:
            return float("nan"), float("nan")
        self._buffers(B)
        cur = xp.cuda.get_current_stream()
        self.stream.wait_event(cur.record())
        with self.stream:
            perm_dev = self._resident(X, Y, perm)
            self._sync_hp()
            self.pos.fill(0)
            be.launch("epoch_reset", (1,), (1,), self.loss_sum, self.correct)
            gather = (X, Y, perm_dev, float(scale), float(shift))
            key = (id(X), id(Y), id(perm_dev), float(scale), float(shift))
            if nfull:
                g = self._graph(("epoch", B) + key, B, gather)
                for _ in range(nfull):
                    self._replay(g)
                    self._after_step(on_step)
            if rem:
                self._replay(self._graph(("epoch", rem) + key, rem, gather))
                self._after_step(on_step)
            self._reduce_totals()
            be.stats.host_syncs += 1
            acc = xp.asnumpy(self.acc)        # the epoch's one host synchronisation
        seen = nfull * B + rem
        loss_sum = float(acc[0:1].view(np.float32)[0])
        loss = loss_sum / seen if self.reduction == "mean" else loss_sum / (nfull + (rem > 0))
        return loss, float(acc[1]) / seen

    def _after_step(self, on_step):
        if on_step is not None:
            on_step()
            self._sync_hp()

    # ---- checks and resident data ----------------------------------------------------------------
    def _resident(self, X, Y, perm):
        """The permutation in a persistent device buffer (same pointer every epoch: graphs stay valid);
        X and Y are kept referenced so cached graphs never see a recycled pointer."""
        xp, N, n = self.cp, int(X.shape[0]), int(perm.shape[0])
        perm = perm if self.be.owns(perm) else xp.asarray(np.ascontiguousarray(perm, dtype=np.int64))
        if perm.dtype not in (np.int64, np.int32):
            perm = perm.astype(np.int64)
        if self._data is None or self._data[0] is not X or self._data[1] is not Y \
                or self._data[2].shape != (N,) or self._data[2].dtype != perm.dtype:
            self._graphs = OrderedDict((k, g) for k, g in self._graphs.items() if k[0] == "step")
            self._data = (X, Y, xp.empty(N, dtype=perm.dtype))
        self._data[2][:n] = perm
        return self._data[2]

    def _check_batch(self, x, y):
        d0 = self.sizes[0]
        if not (self.be.owns(x) and self.be.owns(y)) or x.ndim != 2 or x.shape[1] != d0 or y.shape != (x.shape[0],):
            raise ValueError(f"fused step expects cuda arrays x (B,{d0}) and y (B,), got x {type(x).__name__} "
                             f"{tuple(getattr(x, 'shape', ()))} {getattr(x, 'dtype', '')} and y "
                             f"{tuple(getattr(y, 'shape', ()))} {getattr(y, 'dtype', '')}")
        if x.shape[0] == 0:
            raise ValueError("fused step got an empty batch")

    def _check_data(self, X, Y, perm, B):
        d0 = self.sizes[0]
        if not (self.be.owns(X) and self.be.owns(Y)):
            raise TypeError(f"fused epoch needs device-resident data: X and Y must be cuda arrays, got "
                            f"{type(X).__name__} and {type(Y).__name__}")
        if X.ndim != 2 or X.shape[1] != d0 or X.dtype not in (np.uint8, np.float32) or not X.flags.c_contiguous:
            raise ValueError(f"fused epoch: X must be a contiguous (N,{d0}) uint8 or float32 array, got "
                             f"{tuple(X.shape)} {X.dtype}")
        if Y.shape != (X.shape[0],) or Y.dtype != np.int64 or not Y.flags.c_contiguous:
            raise ValueError(f"fused epoch: Y must be a contiguous ({X.shape[0]},) int64 array, got "
                             f"{tuple(Y.shape)} {Y.dtype}")
        if len(perm.shape) != 1 or perm.shape[0] > X.shape[0]:
            raise ValueError(f"fused epoch: perm must be 1-D with at most {X.shape[0]} row indices, "
                             f"got shape {tuple(perm.shape)}")
        if B < 1:
            raise ValueError(f"batch_size must be positive, got {B}")
