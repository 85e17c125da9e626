"""Rank script (mpiexec -n N python -m mpi4py ddp_train.py OPT OUT): DDP at per-rank batch B/N against
one process at batch B (the oracle, computed on rank 0 without any communication), float64."""
import json
import sys

import numpy as np

import fastnn
import fastnn.distributed as dist
import fastnn.nn.functional as F
from fastnn import nn, optim
from fastnn.nn.parallel import DistributedDataParallel as DDP

OPT, OUT = sys.argv[1], sys.argv[2]
SIZES = [12] * 20 + [7]  # 20 even global batches, then an uneven last one


def model(seed):
    fastnn.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double()


def optimizer(params):
    if OPT == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def shards(x, n):
    return np.array_split(x, n)


def train(net, batches, step_loss):
    opt = optimizer(net.parameters())
    for xb, yb in batches:
        opt.zero_grad()
        step_loss(net, xb, yb).backward()
        opt.step()
    return net


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((b, 6)), rng.integers(0, 4, b)) for b in SIZES]
    ddp = DDP(model(seed=rank + 1))  # every rank starts different: DDP must take rank 0's weights
    mine = [(shards(x, world)[rank], shards(y, world)[rank]) for x, y in data]
    train(ddp, mine, lambda m, x, y: F.cross_entropy(m(fastnn.tensor(x)), fastnn.tensor(y)))
    flat = np.concatenate([p.detach().numpy().ravel() for p in ddp.module.parameters()])
    gathered = np.empty((world, flat.size))
    from fastnn.distributed.group import _group
    _group().comm.Allgather(flat, gathered)
    if rank == 0:
        def oracle_loss(m, x, y):  # one process: the mean over the batch, or the mean of shard means
            if len({len(s) for s in shards(y, world)}) == 1:
                return F.cross_entropy(m(fastnn.tensor(x)), fastnn.tensor(y))
            losses = [F.cross_entropy(m(fastnn.tensor(xs)), fastnn.tensor(ys))
                      for xs, ys in zip(shards(x, world), shards(y, world))]
            return sum(losses[1:], losses[0]) / world
        ref = train(model(seed=1), data, oracle_loss)
        ref_flat = np.concatenate([p.detach().numpy().ravel() for p in ref.parameters()])
        res = {"max_abs_diff": float(np.abs(flat - ref_flat).max()),
               "bitwise_equal": all(g.tobytes() == flat.tobytes() for g in gathered),
               "keys": list(ddp.state_dict().keys()), "world": world}
        with open(OUT, "w") as f:
            json.dump(res, f)
    dist.destroy_process_group()


main()
