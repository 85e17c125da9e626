"""fastnn.distributed: torch.distributed's names over MPI (mpi4py, CPU tensors) and NCCL (cuda tensors)."""
from .collectives import all_gather, all_reduce, barrier, broadcast, reduce_scatter
from .group import (ReduceOp, destroy_process_group, get_backend, get_node_local_rank, get_rank,
                    get_world_size, init_process_group, is_available, is_initialized, is_mpi_available,
                    is_nccl_available)

__all__ = ["ReduceOp", "init_process_group", "destroy_process_group", "is_available", "is_initialized",
           "is_mpi_available", "is_nccl_available", "get_backend", "get_rank", "get_world_size",
           "get_node_local_rank", "all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier"]
