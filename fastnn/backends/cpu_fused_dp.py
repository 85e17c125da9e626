"""The cpu backend's fused MLP in data-parallel mode: one compiled step per batch around ONE MPI allreduce.

Per global batch perm[s:s+B] rank r of N runs kernels/fused_mlp/dp.py's `slice_grad` on its contiguous
rows [B*r//N, B*(r+1)//N) (normalized by the global B, dropout keyed by the row's global index),
which leaves [gradient | loss sum | correct count] in one flat row; mpi4py's Allreduce (in place,
SUM) makes it the one-process gradient of the batch on every rank; kernels/fused_mlp/cpu.py's `update`
then applies the optimizer (and clipping, on the global gradient) identically everywhere. At
construction rank 0's parameters and optimizer state are broadcast; every epoch call takes rank 0's
permutation and dropout seed, so the ranks cannot drift apart. Why a compiled step per batch and not
MPI_Allreduce called from inside the compiled epoch: DESIGN.md, data-parallel training.
"""
import numpy as np

from fastnn.kernels.fpenv import flush_denormals
from fastnn.kernels.fused_mlp.workspace import Workspace

from .cpu_fused import CPUFusedMLP, shards_for


def rank0_perm(comm, perm):
    """Rank 0's row order (host int64), whatever the other ranks passed (its length broadcast first)."""
    n = comm.bcast(int(np.size(perm)) if comm.Get_rank() == 0 else None, root=0)
    buf = np.array(perm, dtype=np.int64).reshape(-1) if comm.Get_rank() == 0 else np.empty(n, np.int64)
    comm.Bcast(buf, root=0)
    return buf


class CPUFusedMLPDataParallel(CPUFusedMLP):
    """CPUFusedMLP over spec.process_group (fastnn.distributed's group): `epoch(X, Y, batch_size, perm, ...)`
    trains on global batches of batch_size rows of the resident X, Y (the same on every rank); `step(x, y)`
    takes this rank's local batch, the global batch being every rank's rows in rank order."""

    def __init__(self, spec):
        super().__init__(spec)
        from mpi4py import MPI

        self.MPI, self.comm = MPI, spec.process_group.comm
        self.rank, self.world = self.comm.Get_rank(), self.comm.Get_size()
        self._flat = None   # (S, P + 2): per-shard gradients, row 0 the reduced [gradient | loss | correct]
        self.comm.Bcast(self.params, root=0)
        self.comm.Bcast(self.state, root=0)

    @property
    def grads(self):
        return self._flat[0, :self.params.size] if self._flat is not None else self._grads[0]

    def _prepare_slice(self, rows):
        """Thread count and buffers for slices of up to `rows` rows (shards as in CPUFusedMLP)."""
        import numba

        nt = numba.get_num_threads() if self.nthreads is None else max(1, int(self.nthreads))
        rows = max(1, rows)
        S = shards_for(rows, nt)
        if self.ws is None or not self.ws.fits(rows, S):
            cap = rows if self.ws is None else max(rows, self.ws.batch_size)
            self.ws = Workspace(self.dims, cap, self.dtype, self.drop_p if len(self.dims) > 2 else None, shards=S)
        if self._flat is None or self._flat.shape[0] != S:
            self._flat = np.zeros((S, self.params.size + 2), self.dtype)
        return nt

    def _common_seed(self):
        if self.drop_p.any():
            self.seed = int(self.comm.bcast(int(self.seed), root=0))

    def step(self, x, y):
        """One step on the global batch made of every rank's x (B_r, sizes[0]), y in rank order;
        returns (global mean loss, global correct count)."""
        x, y = np.asarray(x), np.asarray(y)
        self._check_inputs(x, "fused step")
        sizes = self.comm.allgather(int(x.shape[0]))
        Btot = sum(sizes)
        if Btot == 0:
            raise ValueError(f"fused step: the batch is empty on every rank (x has shape {x.shape} here)")
        y_idx, y_val = self._check_targets(y, x.shape[0], "fused step")
        self._common_seed()
        X = np.ascontiguousarray(x, self.dtype)
        batches = [(np.arange(x.shape[0], dtype=np.int64), Btot, sum(sizes[:self.rank]))]
        loss_sum, correct, seen = self._train(X, y_idx, y_val, batches, 1.0, 0.0, max(sizes), None)
        return loss_sum / seen, int(round(correct))

    def epoch(self, X, Y, batch_size, perm, drop_last=False, scale=1.0, shift=0.0, on_step=None):
        """One pass over rank 0's permutation perm of the resident X, Y in global batches of batch_size
        rows (this rank trains on its slice of each); returns the global (mean loss, accuracy)."""
        X, perm = self._epoch_inputs(X, rank0_perm(self.comm, perm), batch_size)
        y_idx, y_val = self._check_targets(np.asarray(Y), X.shape[0], "fused epoch")
        self._common_seed()
        B, N, r, W = int(batch_size), perm.shape[0], self.rank, self.world
        stop = N - (N % B if drop_last else 0)
        batches = []
        for s in range(0, stop, B):
            Bg = min(B, N - s)
            lo, hi = Bg * r // W, Bg * (r + 1) // W
            batches.append((perm[s + lo:s + hi], Bg, lo))
        if not batches:
            return float("nan"), float("nan")
        loss_sum, correct, seen = self._train(X, y_idx, y_val, batches, scale, shift, -(-B // W), on_step)
        return loss_sum / seen, correct / seen

    def _train(self, X, y_idx, y_val, batches, scale, shift, max_rows, on_step):
        """Per (rows, global batch size, row0): slice_grad, Allreduce, update. Returns global
        (loss sum, correct count, rows)."""
        from fastnn.kernels.fused_mlp import cpu, dp

        nt = self._prepare_slice(max_rows)
        ws, flat, P, MPI = self.ws, self._flat, self.params.size, self.MPI
        opt_code, hp = self.hp
        max_norm = float(self.clip_grad_norm or 0.0)
        sums, seen = np.zeros(2), 0
        with flush_denormals():
            for rows, Btot, row0 in batches:
                step = self.steps + 1
                dp.slice_grad(flat, self.params, X, y_idx, y_val, rows, Btot, row0, float(scale),
                              float(shift), step, self.dims, self.w_off, self.b_off, self.act_codes,
                              self.drop_p, self.loss_code, self.seed, ws.xb, ws.yb_idx, ws.yb_val, ws.acts,
                              ws.act_off, ws.drops, ws.drop_off, ws.deltas, ws.delta_off, ws.tbuf)
                self.comm.Allreduce(MPI.IN_PLACE, flat[0])
                cpu.update(self.params, self.state, flat[:1], hp, opt_code, step, nt, max_norm, np.int64(0),
                           np.int64(0))
                self.steps = step
                sums += flat[0, P:]
                seen += Btot
                if on_step is not None:
                    on_step()
                    opt_code, hp = self.hp
        return sums[0], sums[1], seen
