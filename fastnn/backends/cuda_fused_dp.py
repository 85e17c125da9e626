"""The cuda backend's fused MLP in data-parallel mode: the gradient's NCCL allreduce inside the captured step.

CUDAFusedMLP (cuda_fused.py) with three hooks filled in: `_rows` gives rank r of N its contiguous rows
[M*r//N, M*(r+1)//N) of each batch of M (gathered from the cursor + that offset; the loss is the mean
over the global M; dropout hashes the global row), `_reduce_grads` puts ONE allreduce (SUM) of the flat
gradient on the compute stream between backward and the optimizer, so it is captured into the step's
graph (real NCCL calls are capturable from NCCL 2.9; tests run a stand-in communicator on the emulated
backend that records the collective into the graph), and `_reduce_totals` sums the device
(loss_sum, correct) over ranks before the epoch's one host read. Rank 0's parameters and optimizer
state are broadcast at construction; each call takes rank 0's permutation and dropout seed.
"""

from ..distributed.group import ReduceOp
from .cpu_fused_dp import rank0_perm
from .cuda_fused import CUDAFusedMLP


class CUDAFusedMLPDataParallel(CUDAFusedMLP):
    """`epoch` trains on global batches of the resident X, Y (the same on every rank); `step(x, y)` on the
    global batch made of every rank's x, y in rank order."""

    def __init__(self, backend, spec):
        super().__init__(backend, spec)
        g = spec.process_group
        if g.nccl is None:
            raise ValueError("the cuda fused MLP trains data-parallel over NCCL: "
                             "init_process_group('nccl') first")
        self.nccl, self.comm, self.rank, self.world = g.nccl, g.comm, g.rank, g.size
        self._step_rows = None   # (rows, global rows, first row) of the current step() call
        with self.stream:
            self.nccl.broadcast(self.params, 0)
            for name in self._state_names():
                self.nccl.broadcast(self.state[name], 0)

    def _rows(self, M):
        if self._step_rows is not None:
            return self._step_rows
        lo, hi = M * self.rank // self.world, M * (self.rank + 1) // self.world
        return hi - lo, M, lo

    def _reduce_grads(self):
        self.nccl.all_reduce(self.grads, ReduceOp.SUM)

    def _reduce_totals(self):
        self.nccl.all_reduce(self.loss_sum, ReduceOp.SUM)
        self.nccl.all_reduce(self.correct, ReduceOp.SUM)

    def _common_seed(self):
        if any(self.drop):
            self.seed = int(self.comm.bcast(int(self.seed), root=0))

    def step(self, x, y):
        sizes = self.comm.allgather(int(x.shape[0]))
        self._common_seed()
        self._step_rows = (int(x.shape[0]), sum(sizes), sum(sizes[:self.rank]))
        try:
            return super().step(x, y)
        finally:
            self._step_rows = None

    def epoch(self, X, Y, batch_size, perm, drop_last=False, scale=1.0, shift=0.0, on_step=None):
        host = rank0_perm(self.comm, self.cp.asnumpy(perm) if self.be.owns(perm) else perm)
        self._common_seed()
        return super().epoch(X, Y, batch_size, host, drop_last, scale, shift, on_step)
