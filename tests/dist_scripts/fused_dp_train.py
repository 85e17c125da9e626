"""Rank script (mpiexec -n N python -m mpi4py fused_dp_train.py OPT MODE OUT [DEVICE]): FusedMLP(data_parallel=True)
against one process's FusedMLP at the global batch (the oracle, on rank 0 without communication).

One epoch of 247 rows at batch 12 (20 even global batches, then an uneven one of 7), one of 13 rows
(a last batch of 1 row: ranks without rows contribute a zero gradient), then two `step` calls whose
global batch of 10 rows is split unevenly over the ranks. MODE: plain | dropout (masks keyed by the
global row) | clip (clip_grad_norm on the global gradient) | threads (a wider MLP at batch 70, for 2
threads per rank). Every rank starts from other weights and passes another permutation: rank 0's
must win. Writes rank 0's comparison to OUT.
cpu: float64; DEVICE cuda (the emulated backend, nccl stand-in): float32.
"""
import json
import os
import sys

import numpy as np

OPT, MODE, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
DEVICE = sys.argv[4] if len(sys.argv) > 4 else "cpu"
if DEVICE == "cuda":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import conftest_cuda  # noqa: E402
    import cupy_standin  # noqa: E402
    import nccl_standin  # noqa: E402

    assert conftest_cuda.install_cuda_standin(), "emulated cuda backend unavailable"
    cupy_standin.cuda.nccl = nccl_standin

import fastnn  # noqa: E402
import fastnn.distributed as dist  # noqa: E402
from fastnn import nn, optim  # noqa: E402
from fastnn.fused import FusedMLP  # noqa: E402

N, STEP_ROWS = 247, 10
# threads: run with 2 Numba threads; per-rank slices of >= 32 rows (2 row shards) and P >= 32768 (the
# shards' partial gradients summed in parallel), i.e. dp.py's multi-thread branch
D, H, BATCH = (64, 512, 70) if MODE == "threads" else (6, 16, 12)


def model(seed):
    fastnn.manual_seed(seed)
    drop = [nn.Dropout(0.3)] if MODE == "dropout" else []
    net = nn.Sequential(nn.Linear(D, H), nn.Tanh(), *drop, nn.Linear(H, 4))
    return net.double() if DEVICE == "cpu" else net.to("cuda")


def fused(seed, data_parallel):
    net = model(seed)
    if OPT == "sgd":
        opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(net.parameters(), lr=0.01)
    fm = FusedMLP(net, nn.CrossEntropyLoss(), opt, data_parallel=data_parallel)
    fm.clip_grad_norm = 0.05 if MODE == "clip" else None
    return net, fm


def run(fm, X, Y, perm, step_batches):
    """The epochs, then one step per (x, y); returns [(loss, accuracy or correct), ...] and the row shards
    per rank of the first epoch (cpu data-parallel)."""
    be = "cpu" if DEVICE == "cpu" else "cuda"
    Xd, Yd = fastnn.tensor(X, device=be), fastnn.tensor(Y, device=be)
    res = [list(fm.epoch(Xd, Yd, BATCH, perm=perm))]
    flat = getattr(fm.impl, "_flat", None)
    shards = None if flat is None else int(flat.shape[0])
    res.append(list(fm.epoch(Xd, Yd, BATCH, perm=perm[:BATCH + 1])))   # a last batch of 1 row: empty ranks
    for x, y in step_batches:
        loss, correct = fm.step(fastnn.tensor(x, device=be), fastnn.tensor(y, device=be))
        res.append([float(loss.item()), int(correct.item())])
    return res, shards


def flat_params(net):
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in net.parameters()]).astype(np.float64)


def main():
    dist.init_process_group("nccl" if DEVICE == "cuda" else "mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    dt = np.float64 if DEVICE == "cpu" else np.float32
    X, Y = rng.standard_normal((N, D)).astype(dt), rng.integers(0, 4, N)
    steps = [(rng.standard_normal((STEP_ROWS, D)).astype(dt), rng.integers(0, 4, STEP_ROWS)) for _ in range(2)]
    perm0 = np.random.default_rng(1).permutation(N)
    mine = np.random.default_rng(1 + rank).permutation(N)   # rank 0's permutation must be used everywhere
    cuts = [0, 2, 3] if world == 3 else [0, 3]               # uneven local batches: 2/1/7 or 3/7 rows
    lo, hi = cuts[rank], (cuts + [STEP_ROWS])[rank + 1]
    net, fm = fused(seed=rank + 1, data_parallel=True)       # rank 0's weights must be broadcast
    got, shards = run(fm, X, Y, mine, [(x[lo:hi], y[lo:hi]) for x, y in steps])
    flat = flat_params(net)
    gathered = np.empty((world, flat.size))
    dist.group._group().comm.Allgather(flat, gathered)
    if rank == 0:
        ref_net, ref_fm = fused(seed=1, data_parallel=False)
        want, _ = run(ref_fm, X, Y, perm0, steps)
        res = {"world": world, "max_abs_diff": float(np.abs(flat - flat_params(ref_net)).max()),
               "param_scale": float(np.abs(flat).max()),
               "bitwise_equal": all(g.tobytes() == flat.tobytes() for g in gathered),
               "got": got, "want": want, "moved": float(np.abs(flat - flat_params(model(1))).max())}
        if DEVICE == "cpu":
            res["shards"], res["P"] = shards, int(fm.impl.params.size)
        if DEVICE == "cuda":
            res["calls"], res["captured"] = nccl_standin.calls, nccl_standin.captured
        with open(OUT, "w") as f:
            json.dump(res, f)
    dist.destroy_process_group()


main()
