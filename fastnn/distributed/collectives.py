"""Collectives on tensors: CPU buffers through mpi4py (in place, no Python-object copies), cuda through NCCL."""
import numpy as np

from .group import ReduceOp, _group


def _mpi_op(op):
    from mpi4py import MPI

    table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
             ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}
    if op not in table:
        raise ValueError(f"unknown ReduceOp {op!r}")
    return table[op]


def _check(tensor, what):
    from ..tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}(): argument 'tensor' must be Tensor, not {type(tensor).__name__}")
    if not tensor._data.flags.c_contiguous:
        raise ValueError("Tensors must be contiguous")
    return tensor._data


def _route(g, arr):
    """'mpi' for host arrays, 'nccl' for device arrays; a device the backend cannot take is torch's error."""
    on_cuda = not (type(arr) is np.ndarray)
    if on_cuda and g.nccl is None:
        raise RuntimeError("No backend type associated with device type cuda (init_process_group(backend="
                           "'nccl') for cuda tensors)")
    if not on_cuda and g.backend == "nccl":
        raise RuntimeError("No backend type associated with device type cpu")
    return "nccl" if on_cuda else "mpi"


def _average(arr, op, size):
    if op == ReduceOp.AVG:
        if arr.dtype.kind != "f":
            raise RuntimeError(f"ReduceOp.AVG needs a floating tensor, got {arr.dtype}")
        arr /= size


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `tensor` across ranks in place: every rank ends with the same result."""
    g, arr = _group(), _check(tensor, "all_reduce")
    if _route(g, arr) == "nccl":
        g.nccl.all_reduce(arr, op)
    else:
        from mpi4py import MPI
        g.comm.Allreduce(MPI.IN_PLACE, arr, op=_mpi_op(op))
    _average(arr, op, g.size)


def broadcast(tensor, src=0, group=None, async_op=False):
    """Copy rank `src`'s tensor into every rank's tensor (in place)."""
    g, arr = _group(), _check(tensor, "broadcast")
    if _route(g, arr) == "nccl":
        g.nccl.broadcast(arr, src)
    else:
        g.comm.Bcast(arr, root=src)


def _check_list(tensors, size, like, what):
    if len(tensors) != size:
        raise ValueError(f"{what}: the tensor list has {len(tensors)} tensors but the world size is {size}")
    for t in tensors:
        if tuple(t.shape) != like.shape or t._data.dtype != like.dtype:
            raise ValueError(f"{what}: every tensor must have shape {like.shape} and dtype {like.dtype}, "
                             f"got {tuple(t.shape)} {t._data.dtype}")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] receives rank r's tensor on every rank."""
    g, arr = _group(), _check(tensor, "all_gather")
    _check_list(tensor_list, g.size, arr, "all_gather")
    xp = tensor.backend.xp
    out = xp.empty((g.size,) + arr.shape, dtype=arr.dtype)
    if _route(g, arr) == "nccl":
        g.nccl.all_gather(arr, out)
    else:
        g.comm.Allgather(arr, out)
    for r, t in enumerate(tensor_list):
        t._data[...] = out[r]


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """output on rank r = the reduction over ranks of input_list[r]."""
    g, arr = _group(), _check(output, "reduce_scatter")
    _check_list(input_list, g.size, arr, "reduce_scatter")
    xp = output.backend.xp
    send = xp.stack([t._data for t in input_list])
    if _route(g, arr) == "nccl":
        g.nccl.reduce_scatter(send, arr, op)
    else:
        g.comm.Reduce_scatter_block(send, arr, op=_mpi_op(op))
    _average(arr, op, g.size)


def barrier(group=None, async_op=False, device_ids=None):
    g = _group()
    g.comm.Barrier()
    if g.nccl is not None:
        g.nccl.synchronize()
