"""`fastnn train --nproc N`: the mpiexec launch (cores divided between ranks) and the data-parallel
eager trainer (each rank takes rows r::N of every global batch; DDP averages the gradients). The
data-parallel fused trainer is train/fused.py's FusedTrainer over FusedMLP(data_parallel=True)."""
import os
import shutil
import sys

import numpy as np

from .loop import EagerTrainer

_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "WORLD_SIZE")
_THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def in_mpi_job():
    """True inside a job of more than one process started by an MPI launcher (or env:// WORLD_SIZE)."""
    return any(int(os.environ.get(v, "1") or 1) > 1 for v in _LAUNCHER_SIZE_VARS)


def launch_command(argv, nproc):
    """The mpiexec command line and environment that run `fastnn train argv` on nproc ranks."""
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if mpiexec is None:
        raise RuntimeError("--nproc needs mpiexec: pip install 'fastnn[dist]' (mpi4py + mpich)")
    per_rank = max(1, (os.cpu_count() or 1) // nproc)
    env = dict(os.environ, **{v: str(per_rank) for v in _THREAD_VARS})
    cmd = [mpiexec, "-n", str(nproc), sys.executable, "-m", "mpi4py", "-m", "fastnn", "train", *argv]
    return cmd, env


def launch(argv, nproc):
    """Run the job; its exit status (non-zero when any rank fails: python -m mpi4py aborts them all)."""
    import subprocess

    cmd, env = launch_command(argv, nproc)
    return subprocess.run(cmd, env=env).returncode


def setup(cfg):
    """Inside an MPI job: join the process group and keep ranks > 0 quiet (loop.choose_trainer then
    picks the data-parallel fused or eager trainer). Returns (rank, world size); (0, 1) outside a job."""
    if not in_mpi_job():
        return 0, 1
    from .. import distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if str(cfg.device).startswith("cuda") else "mpi")
    if dist.get_rank() > 0:
        cfg.quiet = True
    return dist.get_rank(), dist.get_world_size()


class DistributedEagerTrainer(EagerTrainer):
    """EagerTrainer on rows rank::world of every global batch, through DistributedDataParallel."""

    name = "eager"

    def __init__(self, base):
        from .. import distributed as dist
        from ..nn.parallel import DistributedDataParallel

        super().__init__(DistributedDataParallel(base.model), base.optimizer, base.scheduler,
                         base.scheduler is not None)
        self.rank, self.world, self.dist = dist.get_rank(), dist.get_world_size(), dist

    def evaluate(self, model, x, y, batch_size):
        return super().evaluate(model, x, y, batch_size) if self.rank == 0 else (float("nan"), float("nan"))

    def train_epoch(self, x, y, perm, batch_size, progress=None):
        """Each global batch perm[i:i+B] is split as [r::world]; returns the global mean training loss."""
        from ..tensor import Tensor

        be, opt, model = self.be, self.optimizer, self.model
        model.train()
        sums = np.zeros(2)  # loss * rows, rows
        for i in range(0, perm.shape[0], batch_size):
            idx = be.asarray(perm[i:i + batch_size][self.rank::self.world])
            xb, yb = Tensor._wrap(x[idx], be), Tensor._wrap(y[idx], be)
            loss = self.F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            self._clip()
            opt.step()
            if self.scheduler is not None:
                self.scheduler.step()
            sums += (float(loss._data) * idx.shape[0], idx.shape[0])
            if progress is not None:
                progress.update(1)
        total = Tensor._wrap(be.asarray(sums), be)
        self.dist.all_reduce(total)
        loss_sum, rows = be.to_numpy(total._data)
        return float(loss_sum / max(rows, 1))
