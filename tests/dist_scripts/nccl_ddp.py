"""Rank script: backend='nccl' on the emulated cuda backend with the stand-in communicator; collectives
on cuda tensors against the same collectives on CPU tensors over MPI, and one DDP step on cuda."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

import conftest_cuda  # noqa: E402
import cupy_standin  # noqa: E402
import nccl_standin  # noqa: E402

assert conftest_cuda.install_cuda_standin(), "emulated cuda backend unavailable"
cupy_standin.cuda.nccl = nccl_standin

import fastnn  # noqa: E402
import fastnn.distributed as dist  # noqa: E402
from fastnn import nn  # noqa: E402
from fastnn.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

dist.init_process_group("nccl")
rank, world = dist.get_rank(), dist.get_world_size()
out = {}
x = np.arange(6, dtype=np.float32) * (rank + 1)
t = fastnn.tensor(x, device="cuda")
dist.all_reduce(t, op=dist.ReduceOp.MAX)
out["max"] = t.cpu().tolist()
ts = [fastnn.zeros(6, device="cuda") for _ in range(world)]
dist.all_gather(ts, fastnn.tensor(x, device="cuda"))
out["gather"] = [u.cpu().tolist() for u in ts]
o = fastnn.zeros(6, device="cuda")
dist.reduce_scatter(o, [fastnn.tensor(x + r, device="cuda") for r in range(world)])
out["scatter"] = o.cpu().tolist()
try:
    dist.all_reduce(fastnn.ones(2))
    out["cpu_error"] = None
except RuntimeError as e:
    out["cpu_error"] = str(e)
fastnn.manual_seed(rank + 1)
net = DDP(nn.Linear(6, 3).to("cuda"))
xb = fastnn.tensor(np.random.default_rng(rank).standard_normal((4, 6)).astype(np.float32), device="cuda")
net(xb).sum().backward()
out["weight"] = net.module.weight.cpu().tolist()
out["grad"] = net.module.weight.grad.cpu().tolist()
out["calls"] = nccl_standin.calls
with open(sys.argv[1] + f".{rank}", "w") as f:
    json.dump(out, f)
dist.destroy_process_group()
