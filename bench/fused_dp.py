"""The data-parallel fused MLP's per-step cost (DESIGN.md, data-parallel training).

    python bench/fused_dp.py [--rounds 5]
        one process, alternating in one run: the compiled epoch (FusedMLP, one Numba call per epoch)
        against the data-parallel path on a world of 1 (one compiled step per batch + the mpi4py
        Allreduce, a no-op copy at one rank): the difference bounds what calling MPI_Allreduce from
        inside a compiled epoch could save.
    mpiexec -n 2 python -m mpi4py bench/fused_dp.py [--rounds 5]
        N ranks: the data-parallel epoch at the global batch, and the same number of Allreduces of the
        gradient row alone (the communication's share).
MNIST-shaped synthetic data (16384 rows, 784-128-64-10, Adam, global batch 64, float32); wall and
process CPU seconds per epoch, median and range over the rounds.
"""
import argparse
import os
import statistics
import time

import numpy as np

import fastnn
import fastnn.distributed as dist
from fastnn import nn, optim
from fastnn.fused import FusedMLP

N, B = 16384, 64


def make(dp):
    fastnn.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    return FusedMLP(net, nn.CrossEntropyLoss(), optim.Adam(net.parameters(), lr=1e-3), data_parallel=dp)


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def summary(name, xs):
    w, c = [x[0] for x in xs], [x[1] for x in xs]
    return (f"{name:34s} wall {statistics.median(w):.3f} s ({min(w):.3f}-{max(w):.3f})  "
            f"cpu {statistics.median(c):.3f} s ({min(c):.3f}-{max(c):.3f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    X = fastnn.tensor(rng.integers(0, 256, (N, 784), dtype=np.uint8))
    Y = fastnn.tensor(rng.integers(0, 10, N))
    perm = np.random.default_rng(1).permutation(N)
    kw = dict(batch_size=B, perm=perm, scale=1 / 127.5, shift=-1.0)
    runs = {"data-parallel epoch": make(True)}
    if world == 1:
        runs["compiled epoch (one Numba call)"] = make(False)
    for fm in runs.values():
        fm.epoch(X, Y, **kw)   # compile / warm up
    res = {k: [] for k in runs}
    comm = dist.group._group().comm
    if world > 1:
        from mpi4py import MPI

        P = sum(p.numel() for p in runs["data-parallel epoch"].model.parameters())
        row = np.zeros(P + 2, np.float32)
        res["Allreduce alone (same count)"] = []
    for _ in range(args.rounds):
        for k, fm in runs.items():
            comm.Barrier()
            res[k].append(timed(lambda: fm.epoch(X, Y, **kw)))
        if world > 1:
            comm.Barrier()
            res["Allreduce alone (same count)"].append(
                timed(lambda: [comm.Allreduce(MPI.IN_PLACE, row) for _ in range(N // B)]))
    if rank == 0:
        print(f"{world} rank(s) x {fastnn.get_num_threads()} thread(s), global batch {B}, {N // B} steps/epoch, "
              f"load average {os.getloadavg()[0]:.1f}")
        for k, xs in res.items():
            print(summary(k, xs))
    dist.destroy_process_group()


main()
