"""A stand-in for cupy.cuda.nccl on the emulated cuda backend: the communicator reduces across ranks
through MPI on the device arrays' memory (addressed by pointer, as NCCL is). Not real NCCL."""
import ctypes

import numpy as np
from mpi4py import MPI

NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_INT64, NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = range(7)
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = range(4)
_DT = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32, NCCL_INT64: np.int64,
       NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}
_OP = {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX, NCCL_MIN: MPI.MIN}
calls = []     # (name, count) of every collective run, for the tests
captured = []  # (name, count) of every collective recorded into a CUDA graph capture


class _HostNode:
    """A graph node that runs a collective at each replay (the stand-in graph calls .launch on it)."""

    def __init__(self, run):
        self.run = run

    def launch(self, name, grid, block, args, shared_mem=0):
        self.run()


def _on_stream(name, count, run):
    """Run the collective now, or record it into the active capture (NCCL calls on a capturing stream
    become graph nodes on a real GPU)."""
    from cupy_standin._core import state

    def logged():
        calls.append((name, count))
        run()
    if state.capturing is not None:
        captured.append((name, count))
        state.capturing._captured.append((_HostNode(logged), name, (1, 1, 1), (1, 1, 1), (), 0))
    else:
        logged()


def get_unique_id():
    return tuple(np.random.default_rng().integers(0, 256, 128).tolist())


def _view(ptr, count, dtype):
    dt = np.dtype(_DT[dtype])
    buf = (ctypes.c_char * (count * dt.itemsize)).from_address(ptr)
    return np.frombuffer(buf, dtype=dt)


class NcclCommunicator:
    def __init__(self, ndev, commId, rank):
        self.uid = commId
        self.comm = MPI.COMM_WORLD.Split(0, rank)
        ids = self.comm.allgather(commId)
        assert all(i == commId for i in ids), "ranks were given different unique ids"
        assert self.comm.Get_size() == ndev and self.comm.Get_rank() == rank

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        send, recv = _view(sendbuf, count, datatype), _view(recvbuf, count, datatype)
        _on_stream("allReduce", count,
                   lambda: self.comm.Allreduce(MPI.IN_PLACE if sendbuf == recvbuf else send, recv, op=_OP[op]))

    def bcast(self, buff, count, datatype, root, stream):
        _on_stream("bcast", count, lambda: self.comm.Bcast(_view(buff, count, datatype), root=root))

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        calls.append(("allGather", count))
        self.comm.Allgather(_view(sendbuf, count, datatype),
                            _view(recvbuf, count * self.comm.Get_size(), datatype))

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):
        calls.append(("reduceScatter", recvcount))
        self.comm.Reduce_scatter_block(_view(sendbuf, recvcount * self.comm.Get_size(), datatype),
                                       _view(recvbuf, recvcount, datatype), op=_OP[op])
