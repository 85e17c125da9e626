"""Rank script: rank 1 raises after init while the others wait in a collective; the job must end."""
import fastnn
import fastnn.distributed as dist

dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise RuntimeError("rank 1 fails on purpose")
dist.all_reduce(fastnn.ones(3))
dist.barrier()
